//! The pure core: no I/O, no clock but the one it is given. Signature
//! verification, event parsing into small typed structs, comment and
//! command parsing, the repository's config, and the gate machine
//! `(state, fact, context) -> (state, actions)`. Everything here is tested
//! with tables and properties, without a network.

pub mod config;
pub mod domain;
pub mod events;
pub mod gate;
pub mod markdown;
pub mod run_identity;
pub mod signature;
