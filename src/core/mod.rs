//! The pure core: no I/O, no clock but the one it is given. Signature
//! verification, event parsing into small typed structs, comment and
//! command parsing, the repository's config, and the gate machine
//! `(state, fact, context) -> (state, actions)`. Everything here is tested
//! with tables and properties, without a network.

pub(crate) mod config;
pub(crate) mod domain;
pub(crate) mod events;
pub(crate) mod gate;
pub(crate) mod markdown;
pub(crate) mod run_identity;
pub(crate) mod signature;
