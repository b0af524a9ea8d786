//! The adapters: I/O behind narrow traits. GitHub (octocrab, or the
//! dry-run stand-in), the store (SQLite and DynamoDB, one contract), the
//! AWS SDK's client, the secrets' sources and telemetry.

pub mod aws;
pub mod github;
pub mod secrets;
pub mod store;
pub mod telemetry;
