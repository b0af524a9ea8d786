//! One repository's bad data never stops another's work: a panic is
//! contained to its delivery (answered 500) and to its PR in a reconcile
//! pass; and a config whose times would overflow is refused, not acted on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatebot::testing::domain::{DispatchId, Environment, PrKey, RepoName, Sha};
use gatebot::testing::gate::EnvRecord;
use gatebot::testing::store::sqlite::SqliteStore;
use gatebot::testing::store::{
    AuditEntry, Begin, DeployRecord, DispatchRecord, EnvWrite, GateRecord, Store, StoreError,
    TransitionSaved, TransitionWrite, Versioned,
};

use crate::harness::{DEFAULT_CONFIG, SHA1, SHA2, TestApp};

/// SQLite, except that reading PR #7's record panics once `poisoned` is
/// set: a record no code path foresaw, or a bug, for one PR.
struct PanicsOnSeven {
    inner: SqliteStore,
    poisoned: AtomicBool,
}

impl PanicsOnSeven {
    fn check(&self, pr: &PrKey) {
        if pr.number == 7 && self.poisoned.load(Ordering::SeqCst) {
            panic!("a bug reading {pr}");
        }
    }
}

#[async_trait]
impl Store for PanicsOnSeven {
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

#[tokio::test]
async fn a_panic_on_one_pr_stops_neither_its_neighbours_deliveries_nor_the_reconciler() {
    let store = Arc::new(PanicsOnSeven {
        inner: SqliteStore::in_memory().expect("sqlite"),
        poisoned: AtomicBool::new(false),
    });
    let app = TestApp::spawn_with_store(DEFAULT_CONFIG, store.clone()).await;
    app.open_pr().await;
    app.open_other_pr(7, SHA2).await;
    app.ci_green(SHA1).await;
    // #7 has a dispatch in flight. #42's staging dispatch, queued after it
    // (so that #42's is what staging is to run), fails before GitHub acts:
    // queued for the reconciler.
    app.ci_green(SHA2).await;
    app.comment_on(7, "quinn", "/lgtm").await;
    app.github.world().dispatch_outage = Some(false);
    app.comment("quinn", "/lgtm").await;
    store.poisoned.store(true, Ordering::SeqCst);

    // A delivery about #7 panics: answered 500, the process goes on.
    let mut p = app.comment_payload(9901, "quinn", "/gates");
    p["issue"]["number"] = serde_json::json!(7);
    let (code, body) = app.send_as("issue_comment", &app.delivery_id(), &p).await;
    assert_eq!(code, 500, "{body}");
    assert!(
        !body.to_string().contains("a bug reading"),
        "no internals in the answer: {body}"
    );
    // #42 is served as before.
    let (gates, status) = app.comment("quinn", "/gates").await;
    assert_eq!(status, "processed");
    assert_eq!(app.github.world().reactions_on(gates), vec!["+1"]);

    // The reconcile pass serves #42 whatever #7 does.
    let before = app.dispatch_count();
    let report = app.reconcile_settled().await;
    assert!(report.failures >= 1, "{report:?}");
    let w = app.github.world();
    assert_eq!(
        w.dispatches.len(),
        before + 1,
        "#42's queued dispatch went out"
    );
    assert_eq!(w.dispatches[before].input("pr"), "42");
}

#[tokio::test]
async fn a_soak_of_a_million_years_is_an_invalid_config_not_a_panic() {
    let config = "
required_checks: [build]
pipeline:
  - { environment: staging, workflow: cd-stage.yml, entry: { command: lgtm, role: qa } }
  - { environment: production, workflow: cd-prod.yml, entry: auto, soak: 100000000d }
";
    let app = TestApp::spawn_with_config(config).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (lgtm, status) = app.comment("quinn", "/lgtm").await;
    assert_eq!(status, "processed");
    assert_eq!(app.github.world().reactions_on(lgtm), vec!["-1"]);
    assert!(
        app.last_reply().contains("at most 90d"),
        "{}",
        app.last_reply()
    );
    assert_eq!(app.dispatch_count(), 0);
    let report = app.reconcile_settled().await;
    assert_eq!(report.failures, 0, "{report:?}");
}
