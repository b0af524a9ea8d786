//! gatebot: a GitHub App that puts human verification gates between a pull
//! request and production.
//!
//! The pure core ([`signature`], [`events`], [`commands`], [`config`],
//! [`gate`]) is kept apart from the adapters around it ([`github`],
//! [`store`], [`http`], [`telemetry`]); [`app`] ties them together.

pub mod app;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod domain;
pub mod events;
pub mod fuzzing;
pub mod gate;
pub mod github;
pub mod http;
pub mod lambda;
pub mod markdown;
pub mod panics;
pub mod reconcile;
pub mod run_identity;
pub mod secrets;
pub mod settings;
pub mod signature;
pub mod store;
pub mod telemetry;
