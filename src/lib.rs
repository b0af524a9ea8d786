//! gatebot: a GitHub App that puts human verification gates between a pull
//! request and production.
//!
//! The layers, bottom to top, each a folder; a layer uses only itself and
//! the layers below (`scripts/import-graph.py` checks it):
//!
//! * [`core`]: pure — signatures, events, commands, config, the gate machine;
//! * [`adapters`]: GitHub, the store, AWS, secrets, telemetry;
//! * [`app`]: the service that ties them together, and the reconciler;
//! * [`entry`]: the HTTP router, the Lambda handler, the CLI.

pub mod adapters;
pub mod app;
pub mod core;
pub mod entry;

// The paths of the flat layout, until the public surface is narrowed.
pub use crate::adapters::{aws, github, secrets, store, telemetry};
pub use crate::app::{panics, reconcile};
pub use crate::core::gate::commands;
pub use crate::core::{config, domain, events, gate, markdown, run_identity, signature};
pub use crate::entry::{cli, fuzzing, http, lambda, settings};
