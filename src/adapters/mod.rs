//! The adapters: I/O behind narrow traits. GitHub (octocrab, or the
//! dry-run stand-in), the store (SQLite and DynamoDB, one contract), the
//! AWS SDK's client, the secrets' sources and telemetry.

pub(crate) mod aws;
pub(crate) mod github;
pub(crate) mod secrets;
pub(crate) mod store;
pub(crate) mod telemetry;
