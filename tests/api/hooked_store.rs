//! A store for tests that need it to misbehave at one precise moment:
//! SQLite behind every call, with hooks a test sets ([`HookedStore`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatebot::testing::domain::{DispatchId, Environment, PrKey, RepoName, Sha};
use gatebot::testing::gate::EnvRecord;
use gatebot::testing::store::sqlite::SqliteStore;
use gatebot::testing::store::{
    AuditEntry, Begin, DeployRecord, DispatchRecord, EnvWrite, GateRecord, JudgedOn, Store,
    StoreError, TransitionSaved, TransitionWrite, Versioned,
};

/// SQLite, with two things it does that no store should, set by a test:
/// reading one PR's record panics (a record no code path foresaw, or a
/// bug, for one PR), and one change is made to a PR's record right before
/// a dispatch judged on it is recorded (as a delivery handled at that very
/// moment would make it).
pub struct HookedStore {
    pub inner: SqliteStore,
    /// The PR whose record panics when read (0: none).
    pub panics_on: AtomicU64,
    /// The change made once, right before the next
    /// [`Store::create_dispatch_if`].
    pub before_dispatch: Mutex<Option<RecordChange>>,
    /// While set, done-markers and the outbox's clean-up fail, as if the
    /// process died once its side effects were performed.
    pub lose_bookkeeping: AtomicBool,
}

/// A change to a PR's record.
pub type RecordChange = Box<dyn FnOnce(&mut GateRecord) + Send>;

impl HookedStore {
    pub fn new() -> HookedStore {
        HookedStore {
            inner: SqliteStore::in_memory().expect("sqlite"),
            panics_on: AtomicU64::new(0),
            before_dispatch: Mutex::new(None),
            lose_bookkeeping: AtomicBool::new(false),
        }
    }

    fn bookkeeping(&self) -> Result<(), StoreError> {
        if self.lose_bookkeeping.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the process died".into()));
        }
        Ok(())
    }

    fn check(&self, pr: &PrKey) {
        if pr.number == self.panics_on.load(Ordering::SeqCst) {
            panic!("a bug reading {pr}");
        }
    }
}

#[async_trait]
impl Store for HookedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn begin(
        &self,
        key: &str,
        lease: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Begin, StoreError> {
        self.inner.begin(key, lease, now).await
    }
    async fn begin_many(
        &self,
        keys: &[String],
        lease: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Begin>, StoreError> {
        self.inner.begin_many(keys, lease, now).await
    }
    async fn finish(
        &self,
        key: &str,
        keep: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.finish(key, keep, now).await
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.inner.release(key).await
    }
    async fn load_gate(&self, pr: &PrKey) -> Result<Option<Versioned<GateRecord>>, StoreError> {
        self.check(pr);
        self.inner.load_gate(pr).await
    }
    async fn save_gate(
        &self,
        record: &GateRecord,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.bookkeeping()?;
        self.inner.save_gate(record, expected).await
    }
    async fn save_gate_and_environments(
        &self,
        record: &GateRecord,
        expected: Option<u64>,
        environments: &[EnvWrite<'_>],
    ) -> Result<u64, StoreError> {
        self.inner
            .save_gate_and_environments(record, expected, environments)
            .await
    }
    async fn load_environments(
        &self,
        repo: &RepoName,
    ) -> Result<Vec<Versioned<EnvRecord>>, StoreError> {
        self.inner.load_environments(repo).await
    }
    async fn gates_with_pending(&self) -> Result<Vec<PrKey>, StoreError> {
        self.inner.gates_with_pending().await
    }
    async fn gates_to_watch(&self) -> Result<Vec<PrKey>, StoreError> {
        self.inner.gates_to_watch().await
    }
    async fn prs_with_head(&self, repo: &RepoName, sha: &Sha) -> Result<Vec<u64>, StoreError> {
        self.inner.prs_with_head(repo, sha).await
    }
    async fn create_dispatch(&self, record: &DispatchRecord) -> Result<DispatchRecord, StoreError> {
        self.inner.create_dispatch(record).await
    }
    async fn create_dispatch_if(
        &self,
        record: &DispatchRecord,
        on: JudgedOn<'_>,
    ) -> Result<bool, StoreError> {
        let change = self
            .before_dispatch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(change) = change {
            let mut read = self.inner.load_gate(on.pr).await?.expect("a record");
            change(&mut read.value);
            self.inner
                .save_gate(&read.value, Some(read.version))
                .await?;
        }
        self.inner.create_dispatch_if(record, on).await
    }
    async fn mark_dispatch_sent(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
    ) -> Result<(), StoreError> {
        self.inner.mark_dispatch_sent(repo, dispatch_id).await
    }
    async fn link_dispatch_run(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
        run_id: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.inner
            .link_dispatch_run(repo, dispatch_id, run_id)
            .await
    }
    async fn dispatch_by_id(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
    ) -> Result<Option<DispatchRecord>, StoreError> {
        self.inner.dispatch_by_id(repo, dispatch_id).await
    }
    async fn dispatch_by_run(
        &self,
        repo: &RepoName,
        run_id: u64,
    ) -> Result<Option<DispatchRecord>, StoreError> {
        self.inner.dispatch_by_run(repo, run_id).await
    }
    async fn record_deploy(&self, record: &DeployRecord) -> Result<(), StoreError> {
        self.inner.record_deploy(record).await
    }
    async fn deploy_history(
        &self,
        repo: &RepoName,
        env: &Environment,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, StoreError> {
        self.inner.deploy_history(repo, env, limit).await
    }
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.inner.append_audit(entry).await
    }
    async fn append_audits(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        self.inner.append_audits(entries).await
    }
    async fn finish_with_audit(
        &self,
        key: &str,
        keep: std::time::Duration,
        now: DateTime<Utc>,
        entries: &[AuditEntry],
    ) -> Result<(), StoreError> {
        self.bookkeeping()?;
        self.inner.finish_with_audit(key, keep, now, entries).await
    }
    async fn commit_transition(
        &self,
        t: TransitionWrite<'_>,
    ) -> Result<TransitionSaved, StoreError> {
        self.inner.commit_transition(t).await
    }
    async fn audit(
        &self,
        repo: &RepoName,
        pr: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit(repo, pr, limit).await
    }
}
