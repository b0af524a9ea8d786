//! Persistence: the `Store` trait and its records. Implementations (SQLite
//! here; DynamoDB fits the same shape: one item per record, a version
//! attribute for conditional writes, a TTL attribute on dedupe keys) must
//! pass the shared contract suite in `tests/store_contract.rs`.

pub mod dynamo;
pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Environment, PrKey, RepoName, Sha};
use crate::gate::{Action, Deploy, GateState};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed since it was read: re-read and retry.
    #[error("version conflict: the record changed since it was read")]
    Conflict,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// A side effect recorded with the state change that caused it; removed
/// once performed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAction {
    pub id: u64,
    pub action: Action,
    #[serde(default)]
    pub attempts: u32,
    /// When the last failed attempt was made.
    #[serde(default)]
    pub last_attempt: Option<DateTime<Utc>>,
    /// Delivery that caused it (for log correlation).
    #[serde(default)]
    pub delivery: Option<String>,
}

/// The gate state of a PR plus its outbox of pending side effects,
/// written together in one conditional write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRecord {
    pub state: GateState,
    #[serde(default)]
    pub pending: Vec<PendingAction>,
    #[serde(default)]
    pub next_action_id: u64,
}

impl GateRecord {
    pub fn new(state: GateState) -> Self {
        GateRecord {
            state,
            pending: Vec::new(),
            next_action_id: 1,
        }
    }

    /// Queues actions; returns their ids.
    pub fn enqueue(&mut self, actions: Vec<Action>, delivery: Option<&str>) -> Vec<u64> {
        actions
            .into_iter()
            .map(|action| {
                let id = self.next_action_id.max(1);
                self.next_action_id = id + 1;
                self.pending.push(PendingAction {
                    id,
                    action,
                    attempts: 0,
                    last_attempt: None,
                    delivery: delivery.map(str::to_string),
                });
                id
            })
            .collect()
    }
}

/// A record read with the version a conditional write must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
}

/// Where a dispatch gatebot made stands, found by id or by run id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchRecord {
    pub repo: RepoName,
    pub pr: u64,
    pub workflow: String,
    pub deploy: Deploy,
    /// The run GitHub started for it, once known.
    pub run_id: Option<u64>,
    /// Whether the dispatch call itself went through.
    pub sent: bool,
}

/// One successful deploy of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    pub repo: RepoName,
    pub environment: Environment,
    pub sha: Sha,
    pub pr: u64,
    pub dispatch_id: String,
    pub run_id: Option<u64>,
    pub at: DateTime<Utc>,
    pub rollback: bool,
}

/// One line of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub repo: RepoName,
    pub pr: Option<u64>,
    pub delivery: Option<String>,
    pub actor: Option<String>,
    /// What kind of thing happened: `command`, `dispatch`, `check_run`, …
    pub kind: String,
    pub detail: String,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Claims a dedupe key (a delivery id or a semantic key) for `ttl`.
    /// `true` the first time; `false` while an earlier claim is unexpired.
    /// Atomic: of concurrent claims exactly one wins.
    async fn claim(&self, key: &str, ttl: Duration, now: DateTime<Utc>)
    -> Result<bool, StoreError>;

    /// Gives up a claim (the work it guarded changed nothing and may be retried).
    async fn release(&self, key: &str) -> Result<(), StoreError>;

    async fn load_gate(&self, pr: &PrKey) -> Result<Option<Versioned<GateRecord>>, StoreError>;

    /// Writes `record` if the stored version is `expected` (`None`: the
    /// record must not exist yet). Returns the new version, or
    /// [`StoreError::Conflict`].
    async fn save_gate(
        &self,
        record: &GateRecord,
        expected: Option<u64>,
    ) -> Result<u64, StoreError>;

    /// PRs whose outbox still holds actions (for the reconciler).
    async fn gates_with_pending(&self) -> Result<Vec<PrKey>, StoreError>;

    /// PRs whose state [`GateState::needs_watch`] (for the reconciler).
    async fn gates_to_watch(&self) -> Result<Vec<PrKey>, StoreError>;

    /// Open PRs of `repo` whose head is `sha`.
    async fn prs_with_head(&self, repo: &RepoName, sha: &Sha) -> Result<Vec<u64>, StoreError>;

    /// Inserts or replaces the record of a dispatch.
    async fn put_dispatch(&self, record: &DispatchRecord) -> Result<(), StoreError>;
    async fn dispatch_by_id(
        &self,
        repo: &RepoName,
        dispatch_id: &str,
    ) -> Result<Option<DispatchRecord>, StoreError>;
    async fn dispatch_by_run(
        &self,
        repo: &RepoName,
        run_id: u64,
    ) -> Result<Option<DispatchRecord>, StoreError>;

    /// Appends to an environment's deploy history (idempotent per dispatch id).
    async fn record_deploy(&self, record: &DeployRecord) -> Result<(), StoreError>;
    /// Newest first.
    async fn deploy_history(
        &self,
        repo: &RepoName,
        env: Environment,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, StoreError>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Oldest first; the newest `limit` entries.
    async fn audit(
        &self,
        repo: &RepoName,
        pr: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

/// The SHA to roll `env` back to: the newest deploy in `history` (newest
/// first) whose SHA differs from the one deployed now.
pub fn rollback_target(history: &[DeployRecord]) -> Option<Sha> {
    let current = &history.first()?.sha;
    history
        .iter()
        .map(|d| &d.sha)
        .find(|s| *s != current)
        .cloned()
}
