//! Persistence: the `Store` trait and its records. Two implementations,
//! [`sqlite::SqliteStore`] (local) and [`dynamo::DynamoStore`] (Lambda),
//! both pass the shared contract suite in `tests/store_contract.rs`.

pub(crate) mod dynamo;
mod last_seen;
mod layout_v1;
mod layout_v2;
pub(crate) mod sqlite;
mod sqlite_checkpoint;
pub(crate) mod write_units;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::domain::{DispatchId, Environment, PrKey, RepoName, Sha};
use crate::core::gate::state::CheckRunRef;
use crate::core::gate::{Action, EnvRecord, GateState};
/// The record of a dispatch, which the store keeps (defined with the
/// rules that judge its runs).
pub use crate::core::run_identity::DispatchRecord;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed since it was read: re-read and retry.
    #[error("version conflict: the record changed since it was read")]
    Conflict,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record written by a newer gatebot: read in part and written back,
    /// it would lose what this version does not know, so it is not read.
    #[error(
        "a gate record of layout {found} was written by a newer gatebot (this one reads up to {known}): upgrade gatebot"
    )]
    NewerSchema { found: u64, known: u32 },
}

/// What [`Store::begin`] found for a dedupe key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// Nobody had it: the caller now holds it (until its lease runs out).
    Fresh,
    /// Another attempt holds it and has not finished: answer "try again".
    InProgress,
    /// The work it guards was done: a duplicate.
    Done,
}

/// The keys gatebot deduplicates on, built in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DedupeKey<'a> {
    /// `X-GitHub-Delivery`.
    Delivery(&'a str),
    /// A comment's commands are acted on once, whatever the delivery id.
    Comment { repo: &'a RepoName, comment_id: u64 },
    /// One phase (started or completed) of one attempt of a workflow run.
    Run {
        repo: &'a RepoName,
        run_id: u64,
        attempt: u64,
        completed: bool,
    },
    /// A pending side effect being performed.
    Effect { pr: &'a PrKey, action_id: u64 },
}

impl std::fmt::Display for DedupeKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DedupeKey::Delivery(id) => write!(f, "delivery:{id}"),
            DedupeKey::Comment { repo, comment_id } => write!(f, "comment:{repo}:{comment_id}"),
            DedupeKey::Run {
                repo,
                run_id,
                attempt,
                completed,
            } => {
                let phase = if *completed { "completed" } else { "started" };
                write!(f, "run:{repo}:{run_id}:{attempt}:{phase}")
            }
            DedupeKey::Effect { pr, action_id } => {
                write!(f, "effect:{}:{}:{action_id}", pr.repo, pr.number)
            }
        }
    }
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
    /// When it was queued (`None` in records from before gatebot kept it).
    #[serde(default)]
    pub queued_at: Option<DateTime<Utc>>,
}

/// The layout of [`GateRecord`] this version writes. Records without a
/// `schema` field were written before it was kept: layout 1. A change to
/// the record's layout bumps it and adds its upgrade to
/// [`GateRecord::decode`], tested on the stored JSON of every earlier
/// layout (`tests/fixtures/records/`).
///
/// * 1: the two-stage gates as fixed fields (`lgtm`, `stage`,
///   `verification`, `approvals`, `prod`);
/// * 2: `stages`, one entry per stage of the chain with gates given; the
///   check run's id moves from the state to the record;
/// * 3: people are user ids: approvals, verifications and holds carry the
///   giver's `id`; the state holds the author's `author_id`, the head's
///   `pushers`, the `pushed_heads` and the `first_head`; a deploy may be
///   `displaced_by` a
///   rollback. Layout-2 facts that named a login alone are upgraded as
///   `layout_v2` says (fail closed: never a guessed id).
pub const GATE_RECORD_SCHEMA: u32 = 3;

fn first_layout() -> u32 {
    1
}

/// The gate state of a PR plus its outbox of pending side effects,
/// written together in one conditional write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRecord {
    /// The layout it was written in; see [`GATE_RECORD_SCHEMA`].
    #[serde(default = "first_layout")]
    pub schema: u32,
    pub state: GateState,
    #[serde(default)]
    pub pending: Vec<PendingAction>,
    #[serde(default)]
    pub next_action_id: u64,
    /// gatebot's check run on the head, once made: GitHub bookkeeping of
    /// the effects, kept beside the gates rather than in them.
    #[serde(default)]
    pub check_run: Option<CheckRunRef>,
}

impl GateRecord {
    pub fn new(state: GateState) -> Self {
        GateRecord {
            schema: GATE_RECORD_SCHEMA,
            state,
            pending: Vec::new(),
            next_action_id: 1,
            check_run: None,
        }
    }

    /// Reads a stored record of any layout this version knows, upgraded to
    /// [`GATE_RECORD_SCHEMA`]. One from a newer gatebot is refused
    /// ([`StoreError::NewerSchema`]), never read in part.
    pub fn decode(text: &str) -> Result<GateRecord, StoreError> {
        /// Only the layout: serde skips the rest without building it.
        #[derive(Deserialize)]
        struct Layout {
            #[serde(default = "first_layout_u64")]
            schema: u64,
        }
        fn first_layout_u64() -> u64 {
            u64::from(first_layout())
        }
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
        let found = serde_json::from_str::<Layout>(text)
            .map_err(corrupt)?
            .schema;
        if found > u64::from(GATE_RECORD_SCHEMA) {
            return Err(StoreError::NewerSchema {
                found,
                known: GATE_RECORD_SCHEMA,
            });
        }
        // Each later layout adds its upgrade here, in order. A record of
        // the current layout is read straight into the struct.
        let mut record = if found < 2 {
            let v1: layout_v1::RecordV1 = serde_json::from_str(text).map_err(corrupt)?;
            layout_v1::upgrade(v1)
        } else {
            serde_json::from_str::<GateRecord>(text).map_err(corrupt)?
        };
        if found < 3 {
            record = layout_v2::upgrade(record);
        }
        record.schema = GATE_RECORD_SCHEMA;
        Ok(record)
    }

    /// Queues actions; returns the ids of those queued.
    ///
    /// The outbox is bounded, so the record stays far below DynamoDB's
    /// 400 KB item limit however long GitHub is unreachable: only the
    /// newest check-run update and one before it (which may be in flight)
    /// are kept, and past [`MAX_PENDING`] actions the oldest reactions and
    /// replies are dropped. Dispatches and history records are never
    /// dropped; the gate machine keeps at most a few of them in flight.
    pub fn enqueue(&mut self, actions: Vec<Action>, delivery: Option<&str>) -> Vec<u64> {
        let mut ids = Vec::with_capacity(actions.len());
        for action in actions {
            if action == Action::SyncCheckRun {
                let older: Vec<u64> = self
                    .pending
                    .iter()
                    .filter(|p| p.action == Action::SyncCheckRun)
                    .map(|p| p.id)
                    .collect();
                // Keep the newest older one: it may be in flight with an
                // older view, which the new one then corrects.
                if let Some((_, drop)) = older.split_last() {
                    self.pending.retain(|p| !drop.contains(&p.id));
                }
            }
            let id = self.next_action_id.max(1);
            self.next_action_id = id + 1;
            self.pending.push(PendingAction {
                id,
                action,
                attempts: 0,
                last_attempt: None,
                delivery: delivery.map(str::to_string),
                queued_at: Some(Utc::now()),
            });
            ids.push(id);
        }
        let mut dropped = 0u64;
        while self.pending.len() > MAX_PENDING {
            let Some(i) = self
                .pending
                .iter()
                .position(|p| matches!(p.action, Action::React { .. } | Action::Reply { .. }))
            else {
                break;
            };
            self.pending.remove(i);
            dropped += 1;
        }
        if dropped > 0 {
            metrics::counter!("gatebot_outbox_dropped_total").increment(dropped);
            tracing::warn!(pr = %self.state.pr, dropped, "outbox full: oldest replies and reactions dropped");
        }
        ids.retain(|id| self.pending.iter().any(|p| p.id == *id));
        ids
    }
}

/// The most side effects one PR's outbox holds (see [`GateRecord::enqueue`]).
pub const MAX_PENDING: usize = 24;

/// A record read with the version a conditional write must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
}

/// One successful deploy of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    pub repo: RepoName,
    pub environment: Environment,
    pub sha: Sha,
    pub pr: u64,
    pub dispatch_id: DispatchId,
    pub run_id: Option<u64>,
    /// When the run completed (GitHub's `updated_at` of the completed run).
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
    /// The login of who acted, for display.
    pub actor: Option<String>,
    /// Who acted: their user id (absent in lines written before gatebot
    /// kept it, and in lines no person caused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<crate::core::domain::UserId>,
    /// What kind of thing happened: `command`, `dispatch`, `check_run`, …
    pub kind: String,
    pub detail: String,
}

/// An environment's record to write with a transition, if its stored
/// version is still `expected` (`None`: no record may exist yet).
#[derive(Debug, Clone, Copy)]
pub struct EnvWrite<'a> {
    pub record: &'a EnvRecord,
    pub expected: Option<u64>,
}

/// Everything one gate transition writes: the record (if its stored
/// version is still `expected`) and the environment records it changed
/// (each if its version is still the one read), all or nothing; then the
/// transition's audit lines, the claims of the side effects it queued,
/// and, when the transition is the last step of work a dedupe key guards,
/// that key marked done.
#[derive(Debug, Clone, Copy)]
pub struct TransitionWrite<'a> {
    pub record: &'a GateRecord,
    /// `None`: the record must not exist yet.
    pub expected: Option<u64>,
    /// Environment records changed by the transition: written with the
    /// record, atomically, or neither is.
    pub environments: &'a [EnvWrite<'a>],
    pub audits: &'a [AuditEntry],
    /// Deploys the transition saw succeed: their lines of the deploy
    /// history (idempotent per dispatch id, as [`Store::record_deploy`]).
    pub deploys: &'a [DeployRecord],
    /// Effect keys of the actions just queued (their ids are new, so no
    /// one else can hold them yet), begun for `claim_lease`.
    pub claims: &'a [String],
    pub claim_lease: Duration,
    /// A begun dedupe key to mark done, remembered for `keep`.
    pub settles: Option<&'a str>,
    pub keep: Duration,
    pub now: DateTime<Utc>,
}

/// What [`Store::commit_transition`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionSaved {
    /// The record's new version.
    pub version: u64,
    /// What [`Store::begin`] gave for each claim, in order. A claim the
    /// store could not take is [`Begin::InProgress`]: not this caller's to
    /// perform (the reconciler takes it up once nobody holds it).
    pub claims: Vec<Begin>,
    /// Whether [`TransitionWrite::settles`] was marked done.
    pub settled: bool,
}

/// What a dispatch was judged on, which [`Store::create_dispatch_if`]
/// checks as it records it: the PR's record at `gate_version`, and each
/// environment of the chain at the version given (`None`: no record).
#[derive(Debug, Clone, Copy)]
pub struct JudgedOn<'a> {
    pub pr: &'a PrKey,
    pub gate_version: u64,
    pub environments: &'a [(Environment, Option<u64>)],
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Starts the work a dedupe key guards (a delivery, a comment, a run
    /// event): [`Begin::Fresh`] and held for `lease` when nobody holds it,
    /// [`Begin::InProgress`] while an unfinished holder's lease runs, and
    /// [`Begin::Done`] once [`Store::finish`] recorded it. Atomic.
    async fn begin(
        &self,
        key: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Begin, StoreError>;

    /// [`Store::begin`] of each of `keys`, in as few requests as the store
    /// allows; each answer is what `begin` of that key alone would give.
    /// Not atomic across keys.
    async fn begin_many(
        &self,
        keys: &[String],
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Begin>, StoreError>;

    /// Records the work of `key` as done, remembered for `keep`.
    async fn finish(&self, key: &str, keep: Duration, now: DateTime<Utc>)
    -> Result<(), StoreError>;

    /// Gives up a begun key (the work it guarded changed nothing and may
    /// be retried).
    async fn release(&self, key: &str) -> Result<(), StoreError>;

    async fn load_gate(&self, pr: &PrKey) -> Result<Option<Versioned<GateRecord>>, StoreError>;

    /// The record as this process last read or wrote it, if the store
    /// keeps that (DynamoDB does, where a read costs a request): a first
    /// guess for a conditional write of bookkeeping, never an answer to a
    /// read. A write from a stale guess fails its condition
    /// ([`StoreError::Conflict`]); then the record is read.
    fn last_seen(&self, _pr: &PrKey) -> Option<Versioned<GateRecord>> {
        None
    }

    /// Writes `record` if the stored version is `expected` (`None`: the
    /// record must not exist yet). Returns the new version, or
    /// [`StoreError::Conflict`].
    async fn save_gate(
        &self,
        record: &GateRecord,
        expected: Option<u64>,
    ) -> Result<u64, StoreError>;

    /// [`Store::save_gate`] of `record` together with `environments`,
    /// each conditional on its version: all are written, or none
    /// ([`StoreError::Conflict`] when any version moved).
    async fn save_gate_and_environments(
        &self,
        record: &GateRecord,
        expected: Option<u64>,
        environments: &[EnvWrite<'_>],
    ) -> Result<u64, StoreError>;

    /// Every environment record of `repo`, read strongly consistent, in
    /// no particular order. An environment without a record is free.
    async fn load_environments(
        &self,
        repo: &RepoName,
    ) -> Result<Vec<Versioned<EnvRecord>>, StoreError>;

    /// PRs whose outbox still holds actions (for the reconciler).
    async fn gates_with_pending(&self) -> Result<Vec<PrKey>, StoreError>;

    /// PRs whose state [`GateState::needs_watch`] (for the reconciler).
    async fn gates_to_watch(&self) -> Result<Vec<PrKey>, StoreError>;

    /// Open PRs of `repo` whose head is `sha`.
    async fn prs_with_head(&self, repo: &RepoName, sha: &Sha) -> Result<Vec<u64>, StoreError>;

    /// Records a dispatch about to be made, unless it is recorded already;
    /// returns the stored record either way.
    async fn create_dispatch(&self, record: &DispatchRecord) -> Result<DispatchRecord, StoreError>;
    /// Records a new dispatch only if the records it was judged on are as
    /// they were then, atomically: `true` when recorded; `false`, with
    /// nothing written, when any of them changed or the dispatch is
    /// recorded already (it is then judged again on fresh reads).
    async fn create_dispatch_if(
        &self,
        record: &DispatchRecord,
        on: JudgedOn<'_>,
    ) -> Result<bool, StoreError>;
    /// Marks a recorded dispatch as sent (the call went through).
    async fn mark_dispatch_sent(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
    ) -> Result<(), StoreError>;
    /// Links `run_id` to a recorded dispatch (and marks it sent) unless
    /// another run is linked already. Returns the run linked after the
    /// call (`run_id`, or the one that was there first), `None` when no
    /// such dispatch is recorded. Atomic: of two runs, one wins for good.
    async fn link_dispatch_run(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
        run_id: u64,
    ) -> Result<Option<u64>, StoreError>;
    async fn dispatch_by_id(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
    ) -> Result<Option<DispatchRecord>, StoreError>;
    async fn dispatch_by_run(
        &self,
        repo: &RepoName,
        run_id: u64,
    ) -> Result<Option<DispatchRecord>, StoreError>;

    /// Appends to an environment's deploy history (idempotent per dispatch id).
    async fn record_deploy(&self, record: &DeployRecord) -> Result<(), StoreError>;
    /// Newest first by [`DeployRecord::at`] (when the run completed, by
    /// GitHub's clock), whatever order they were recorded in.
    async fn deploy_history(
        &self,
        repo: &RepoName,
        env: &Environment,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, StoreError>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Appends several audit lines, in as few requests as the store allows
    /// (not atomic: a line written twice after a failure is harmless).
    async fn append_audits(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;
    /// [`Store::finish`] of `key` and [`Store::append_audits`] of `entries`
    /// in as few requests as the store allows. Not atomic, like the two
    /// calls it replaces: each part may be written without the other.
    async fn finish_with_audit(
        &self,
        key: &str,
        keep: Duration,
        now: DateTime<Utc>,
        entries: &[AuditEntry],
    ) -> Result<(), StoreError>;
    /// Writes a transition (see [`TransitionWrite`]). The record is
    /// written only if its version is `expected`, else
    /// [`StoreError::Conflict`] and nothing at all is written. Once the
    /// record is written, the rest follows: in the same transaction where
    /// the store can (SQLite always; DynamoDB when the transition is 100
    /// items at most, two per audit line and per deploy line, and no claim is
    /// held), else in
    /// the requests right after
    /// ([`commit_in_steps`]), where a failure is logged, not returned (an
    /// audit line missed, a claim left to the reconciler, a key settled by
    /// its caller).
    async fn commit_transition(
        &self,
        t: TransitionWrite<'_>,
    ) -> Result<TransitionSaved, StoreError> {
        commit_in_steps(self, t).await
    }

    /// [`Store::finish_with_audit`] of the keys of one or more side
    /// effects, and, where the store can do it in the same transaction,
    /// the removal of the actions `done` from `pr`'s outbox. Returns
    /// whether they were removed (if not, the caller removes them).
    async fn finish_effect(
        &self,
        keys: &[String],
        keep: Duration,
        now: DateTime<Utc>,
        entries: &[AuditEntry],
        _pr: &PrKey,
        _done: &[u64],
    ) -> Result<bool, StoreError> {
        for (i, key) in keys.iter().enumerate() {
            let lines = if i == 0 { entries } else { &[] };
            self.finish_with_audit(key, keep, now, lines).await?;
        }
        Ok(false)
    }

    /// Oldest first; the newest `limit` entries.
    async fn audit(
        &self,
        repo: &RepoName,
        pr: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

/// [`Store::commit_transition`] as one request per part: the record with
/// its environment records, then the audit lines, the claims and the
/// settled key. A failure after the record is written is logged and
/// reported in what is returned.
pub(crate) async fn commit_in_steps<S: Store + ?Sized>(
    store: &S,
    t: TransitionWrite<'_>,
) -> Result<TransitionSaved, StoreError> {
    let version = if t.environments.is_empty() {
        store.save_gate(t.record, t.expected).await?
    } else {
        store
            .save_gate_and_environments(t.record, t.expected, t.environments)
            .await?
    };
    if let Err(e) = store.append_audits(t.audits).await {
        tracing::error!(error = %e, "audit write failed");
    }
    for deploy in t.deploys {
        if let Err(e) = store.record_deploy(deploy).await {
            tracing::error!(error = %e, dispatch = %deploy.dispatch_id, "deploy history write failed");
        }
    }
    let claims = match store.begin_many(t.claims, t.claim_lease, t.now).await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::error!(error = %e, "cannot claim effects; left to the reconciler");
            vec![Begin::InProgress; t.claims.len()]
        }
    };
    let settled = match t.settles {
        Some(key) => match store.finish(key, t.keep, t.now).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(key, error = %e, "cannot settle dedupe key");
                false
            }
        },
        None => false,
    };
    Ok(TransitionSaved {
        version,
        claims,
        settled,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::gate::Reaction;

    fn record() -> GateRecord {
        GateRecord::new(GateState::new(
            PrKey {
                repo: RepoName::parse("acme/widgets").unwrap(),
                number: 42,
            },
            &crate::core::domain::Person::test("alice"),
            Sha::parse(&"a".repeat(40)).unwrap(),
            "main",
            Some(1),
            Utc::now(),
        ))
    }

    #[test]
    fn check_run_updates_do_not_pile_up() {
        let mut r = record();
        for _ in 0..10 {
            r.enqueue(vec![Action::SyncCheckRun], None);
        }
        let ids: Vec<u64> = r.pending.iter().map(|p| p.id).collect();
        assert_eq!(ids, vec![9, 10], "the newest and the one before it");
    }

    #[test]
    fn the_outbox_is_bounded_but_never_drops_a_dispatch() {
        let mut r = record();
        let state = r.state.clone();
        let deploy = crate::core::gate::Deploy {
            dispatch_id: "42-staging-aaaaaaa-1".into(),
            environment: crate::core::domain::Environment::staging(),
            kind: crate::core::gate::DeployKind::Promote,
            sha: state.head_sha.clone(),
            requested_by: "quinn".into(),
            at: Utc::now(),
            run_id: None,
            status: crate::core::gate::DeployStatus::Pending,
            finished_at: None,
            run_url: None,
            displaced_by: None,
        };
        r.enqueue(
            vec![Action::Dispatch {
                workflow: "cd-stage.yml".into(),
                git_ref: "main".into(),
                deploy,
            }],
            None,
        );
        for i in 0..1000 {
            let queued = r.enqueue(
                vec![
                    Action::React {
                        comment_id: i,
                        reaction: Reaction::Accepted,
                    },
                    Action::Reply {
                        body: "x".repeat(2000),
                    },
                ],
                Some("d"),
            );
            assert_eq!(queued.len(), 2, "the newest are kept");
        }
        assert_eq!(r.pending.len(), MAX_PENDING);
        assert!(matches!(r.pending[0].action, Action::Dispatch { .. }));
        let bytes = serde_json::to_vec(&r).unwrap().len();
        assert!(bytes < 200_000, "{bytes} bytes: far below 400 KB");
    }
}
