//! The application service: turns a verified delivery into facts, runs the
//! pure gate machine, stores the new state together with its side effects
//! (one conditional write), then performs them.

pub(crate) mod check_run_memo;
mod ci_reads;
pub(crate) mod config_cache;
pub(crate) mod effects;
pub(crate) mod guard;
pub(crate) mod handlers;
mod merging;
pub(crate) mod panics;
pub(crate) mod permissions;
pub(crate) mod reconcile;
pub(crate) mod refusals;
pub(crate) mod runs;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::adapters::github::{GitHub, GitHubError, RepoRef};
use crate::adapters::store::{
    AuditEntry, DeployRecord, EnvWrite, GateRecord, PendingAction, Store, StoreError,
    TransitionWrite, Versioned,
};
use crate::core::config::RepoConfig;
use crate::core::domain::{PrKey, RepoName, UserId};
use crate::core::gate::{
    self, Action, Context, EnvChange, EnvRecord, Environments, Fact, GateState,
};
use check_run_memo::CheckRunMemo;
use config_cache::ConfigCache;
use refusals::Refusals;

/// How long delivery ids and semantic keys are remembered.
pub(crate) const DEDUPE_TTL: Duration = Duration::from_secs(3 * 24 * 3600);
/// How long a delivery being handled holds its keys. A copy arriving
/// meanwhile is answered "in progress" (a retryable 503); a process that
/// died holding them frees them when the lease runs out.
pub(crate) const DELIVERY_LEASE: Duration = Duration::from_secs(120);
/// The most time a webhook spends performing side effects; what is left is
/// finished by the reconciler. GitHub gives a delivery 10 seconds.
pub const EFFECTS_BUDGET: Duration = Duration::from_secs(5);
/// The most command lines gatebot acts on in one comment.
pub(crate) const MAX_COMMANDS_PER_COMMENT: usize = 5;
/// How long an effect is claimed by the process performing it.
pub(crate) const EFFECT_CLAIM_TTL: Duration = Duration::from_secs(300);
/// Attempts at a conditional write before giving up.
const WRITE_ATTEMPTS: u32 = 25;

/// A conditional write lost to another writer: count it and pause before
/// the caller retries from a fresh read.
async fn lost_race(attempt: u32) {
    metrics::counter!("gatebot_store_conflicts_total").increment(1);
    backoff(attempt).await;
}

fn too_many_writers() -> AppError {
    StoreError::Unavailable("too many concurrent writers for one PR".into()).into()
}

/// A short, growing, jittered pause after a lost race, so that writers
/// contending for one PR spread out instead of colliding again.
async fn backoff(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let cap_ms = 2u64 << attempt.min(5);
    let ms = u64::from(nanos) % cap_ms.max(1);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// An audit line about `pr`, stamped now.
pub(crate) fn audit_entry(
    pr: &PrKey,
    delivery: Option<&str>,
    actor: Option<&str>,
    kind: &str,
    detail: String,
) -> AuditEntry {
    AuditEntry {
        at: Utc::now(),
        repo: pr.repo.clone(),
        pr: Some(pr.number),
        delivery: delivery.map(str::to_string),
        actor: actor.map(str::to_string),
        actor_id: None,
        kind: kind.to_string(),
        detail,
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Processed,
    Ignored,
    Duplicate,
    /// Something the delivery names does not exist on GitHub (a deleted
    /// run, a PR gatebot cannot read): done, since redelivering it can
    /// never succeed.
    #[serde(rename = "not_found")]
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub status: Status,
    pub detail: String,
}

impl Outcome {
    pub fn processed(detail: impl Into<String>) -> Self {
        Outcome {
            status: Status::Processed,
            detail: detail.into(),
        }
    }
    pub fn ignored(detail: impl Into<String>) -> Self {
        Outcome {
            status: Status::Ignored,
            detail: detail.into(),
        }
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Outcome {
            status: Status::NotFound,
            detail: detail.into(),
        }
    }
    pub fn duplicate(detail: impl Into<String>) -> Self {
        Outcome {
            status: Status::Duplicate,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The delivery is well-signed but unusable (answered 400).
    #[error("bad delivery: {0}")]
    BadInput(String),
    /// Another attempt at the same delivery (or comment, or run event) is
    /// being handled right now (answered 503: GitHub records a failure, so
    /// the reconciler redelivers it if that attempt fails).
    #[error("this delivery is being handled by another attempt")]
    InProgress,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// A bug, contained to the work it happened in.
    #[error(transparent)]
    Panicked(#[from] crate::app::panics::Panicked),
    /// Work that can wait, left for later: the installation's GitHub rate
    /// limit is below the floor.
    #[error("deferred: {0}")]
    Deferred(&'static str),
}

/// The application: a store, a GitHub, and the config cache.
pub struct App {
    pub store: Arc<dyn Store>,
    pub github: Arc<dyn GitHub>,
    pub configs: ConfigCache,
    /// Check-run calls this process need not repeat.
    pub check_runs: CheckRunMemo,
    /// Users without write access refused lately (see [`refusals`]).
    pub refusals: Refusals,
    /// See [`gate::Context::clock_skew`].
    pub clock_skew: chrono::Duration,
    /// See [`EFFECTS_BUDGET`].
    pub effects_budget: Duration,
    /// See [`DELIVERY_LEASE`].
    pub delivery_lease: Duration,
    /// See [`EFFECT_CLAIM_TTL`].
    pub effect_claim_ttl: Duration,
    /// The app itself, once shared ([`App::share`]): work it starts for
    /// another PR (a wake) runs as a task of its own, not nested in the
    /// work that started it.
    me: std::sync::OnceLock<std::sync::Weak<App>>,
}

/// One delivery being handled (for audit and logs).
#[derive(Debug)]
pub struct Delivery {
    pub id: String,
    /// The dedupe key its work runs under, when there is one.
    guard: Option<Arc<Guard>>,
}

/// A begun dedupe key, and whether the work's last write marked it done.
#[derive(Debug)]
pub struct Guard {
    key: String,
    settled: AtomicBool,
}

impl Guard {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the work's last write marked the key done already.
    pub fn settled(&self) -> bool {
        self.settled.load(Ordering::Relaxed)
    }
}

/// A delivery whose work runs under a begun dedupe key: what
/// [`Delivery::guarded_by`] makes. Its work sees it as a [`Delivery`].
#[derive(Debug)]
pub struct Guarded {
    delivery: Delivery,
    guard: Arc<Guard>,
}

impl Guarded {
    pub fn guard(&self) -> &Guard {
        &self.guard
    }
}

impl std::ops::Deref for Guarded {
    type Target = Delivery;
    fn deref(&self) -> &Delivery {
        &self.delivery
    }
}

impl Delivery {
    pub fn new(id: impl Into<String>) -> Self {
        Delivery {
            id: id.into(),
            guard: None,
        }
    }

    /// This delivery, its work guarded by `key` (begun by the caller): an
    /// [`App::last_transition`] marks the key done in its own write.
    pub fn guarded_by(&self, key: String) -> Guarded {
        let guard = Arc::new(Guard {
            key,
            settled: AtomicBool::new(false),
        });
        Guarded {
            delivery: Delivery {
                id: self.id.clone(),
                guard: Some(guard.clone()),
            },
            guard,
        }
    }
}

impl App {
    pub fn new(store: Arc<dyn Store>, github: Arc<dyn GitHub>) -> Self {
        App {
            store,
            github,
            configs: ConfigCache::new(Duration::from_secs(60)),
            check_runs: CheckRunMemo::default(),
            refusals: Refusals::default(),
            clock_skew: gate::CLOCK_SKEW,
            effects_budget: EFFECTS_BUDGET,
            delivery_lease: DELIVERY_LEASE,
            effect_claim_ttl: EFFECT_CLAIM_TTL,
            me: std::sync::OnceLock::new(),
        }
    }

    /// The app, shared: what the server, the Lambda and the CLI run.
    pub fn share(self) -> Arc<App> {
        let app = Arc::new(self);
        let _ = app.me.set(Arc::downgrade(&app));
        app
    }

    /// The shared app, if [`App::share`] made it.
    pub(crate) fn shared(&self) -> Option<Arc<App>> {
        self.me.get().and_then(std::sync::Weak::upgrade)
    }

    /// The context the gates of `config` are judged under now.
    pub fn context<'c>(&self, config: &'c RepoConfig) -> Context<'c> {
        Context {
            config,
            now: Utc::now(),
            clock_skew: self.clock_skew,
            holders: None,
            environments: Environments::none(),
        }
    }

    /// What runs in each environment of `repo`, as stored now.
    pub async fn environments(&self, repo: &RepoName) -> Result<Environments, AppError> {
        Ok(Environments {
            records: self
                .store
                .load_environments(repo)
                .await?
                .into_iter()
                .map(|v| v.value)
                .collect(),
        })
    }

    pub async fn audit(
        &self,
        pr: &PrKey,
        delivery: Option<&str>,
        actor: Option<&str>,
        kind: &str,
        detail: String,
    ) {
        self.append_audit(audit_entry(pr, delivery, actor, kind, detail))
            .await;
    }

    /// Appends `entry` to the audit log; a failed write is logged.
    pub(crate) async fn append_audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, "audit write failed");
        }
    }

    /// The repo's config, or the reason it is unusable.
    pub async fn config(
        &self,
        repo: &RepoRef,
        default_branch: &str,
    ) -> Result<(RepoConfig, Option<String>), AppError> {
        Ok(
            match self
                .configs
                .get(self.github.as_ref(), repo, default_branch)
                .await?
            {
                Ok(c) => (c, None),
                Err(e) => (RepoConfig::default(), Some(e)),
            },
        )
    }

    /// Applies `facts` to the PR's record (created from `init` when it does
    /// not exist yet) in one conditional write, retried from a fresh read
    /// when it loses a race; then performs the side effects it queued.
    pub async fn transition(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        init: Option<&GateState>,
        facts: &[Fact],
        config: &RepoConfig,
        delivery: Option<&Delivery>,
    ) -> Result<Option<GateState>, AppError> {
        self.transition_step(repo, pr, init, facts, config, delivery, false, Start::Read)
            .await
    }

    /// [`App::transition`] as the last step of `delivery`'s guarded work
    /// that can fail: its write also marks the delivery's dedupe key done
    /// (see [`Delivery::guarded_by`]), which saves the key its own write.
    /// `read` is the record as the delivery already read it (`Some(None)`:
    /// there was none): the first attempt starts from it (its write is
    /// conditional on that version, so a record changed since is read
    /// again), which saves a read.
    #[allow(clippy::too_many_arguments)]
    pub async fn last_transition(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        init: Option<&GateState>,
        facts: &[Fact],
        config: &RepoConfig,
        delivery: &Delivery,
        read: Option<Option<Versioned<GateRecord>>>,
    ) -> Result<Option<GateState>, AppError> {
        let start = match read {
            Some(was) => Start::Known(was),
            None => Start::Read,
        };
        self.transition_step(repo, pr, init, facts, config, Some(delivery), true, start)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn transition_step(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        init: Option<&GateState>,
        facts: &[Fact],
        config: &RepoConfig,
        delivery: Option<&Delivery>,
        last: bool,
        mut start: Start,
    ) -> Result<Option<GateState>, AppError> {
        for attempt in 0..WRITE_ATTEMPTS {
            let (loaded, guessed) = match std::mem::replace(&mut start, Start::Read) {
                Start::Read => (self.store.load_gate(pr).await?, false),
                Start::Known(was) => (was, false),
                Start::Seen(v) => (Some(v), true),
            };
            let (mut record, version) = match loaded {
                Some(v) => (v.value, Some(v.version)),
                None => match init {
                    Some(state) => (GateRecord::new(state.clone()), None),
                    None => return Ok(None),
                },
            };
            // What runs where matters once the PR deployed somewhere, or
            // when the transition deploys: read then, and only then.
            let shows = facts.iter().any(
                |f| matches!(f, Fact::Command { command, .. } if command.spec().reads_environments),
            );
            let mut envs = if shows || reads_environments(&record.state, config) {
                Some(self.store.load_environments(&pr.repo).await?)
            } else {
                None
            };
            let applied = loop {
                let read = Environments {
                    records: envs.iter().flatten().map(|v| v.value.clone()).collect(),
                };
                let applied = apply_facts(&record.state, facts, &self.context(config), read);
                if envs.is_none() && !applied.env_changes.is_empty() {
                    envs = Some(self.store.load_environments(&pr.repo).await?);
                    continue;
                }
                break applied;
            };
            let env_writes = changed_environments(envs.as_deref().unwrap_or_default(), &applied);
            // What runs where once this transition is written, with the
            // version each record will have then (when it was read).
            let envs_after: Option<Vec<Versioned<EnvRecord>>> = envs.as_ref().map(|read| {
                applied
                    .environments
                    .records
                    .iter()
                    .filter_map(|after| {
                        let written = env_writes
                            .iter()
                            .find(|(w, _)| w.environment == after.environment);
                        let version = match written {
                            Some((_, expected)) => Some(expected.map_or(1, |v| v + 1)),
                            None => read
                                .iter()
                                .find(|v| v.value.environment == after.environment)
                                .map(|v| v.version),
                        }?;
                        Some(Versioned {
                            version,
                            value: after.clone(),
                        })
                    })
                    .collect()
            });
            let Applied {
                state,
                actions,
                notes,
                changed,
                ..
            } = applied;
            let changed = changed || version.is_none();
            record.state = state;
            let actions = gate::gather(actions);
            if !changed && actions.is_empty() {
                // A guess that needs no change proves nothing: read again.
                if guessed {
                    continue;
                }
                tracing::debug!(?notes, "no change");
                return Ok(Some(record.state));
            }
            // A deploy that succeeded goes into the history with the
            // transition itself, not as a side effect of its own.
            let mut deploys: Vec<DeployRecord> = Vec::new();
            let actions: Vec<Action> = actions
                .into_iter()
                .filter(|a| match a {
                    Action::RecordDeploy { deploy } => {
                        deploys.push(effects::deploy_record(pr, deploy));
                        false
                    }
                    _ => true,
                })
                .collect();
            let ids = record.enqueue(actions, delivery.map(|d| d.id.as_str()));
            let delivery_id = delivery.map(|d| d.id.as_str());
            let entries: Vec<AuditEntry> = notes
                .into_iter()
                .map(|(note, actor)| match actor {
                    Some((login, id)) => AuditEntry {
                        actor_id: Some(id),
                        ..audit_entry(pr, delivery_id, Some(&login), "gate", note)
                    },
                    None => audit_entry(pr, delivery_id, None, "gate", note),
                })
                .collect();
            let claims: Vec<String> = ids.iter().map(|id| effects::effect_key(pr, *id)).collect();
            let guard = delivery.and_then(|d| d.guard.as_deref().filter(|_| last));
            let now = Utc::now();
            let environments: Vec<EnvWrite<'_>> = env_writes
                .iter()
                .map(|(record, expected)| EnvWrite {
                    record,
                    expected: *expected,
                })
                .collect();
            let write = TransitionWrite {
                record: &record,
                expected: version,
                environments: &environments,
                audits: &entries,
                deploys: &deploys,
                claims: &claims,
                claim_lease: self.effect_claim_ttl,
                settles: guard.map(|g| g.key.as_str()),
                keep: DEDUPE_TTL,
                now,
            };
            match self.store.commit_transition(write).await {
                Ok(saved) => {
                    for entry in &entries {
                        tracing::info!(pr = %pr, "{}", entry.detail);
                    }
                    if let Some(g) = guard {
                        g.settled.store(saved.settled, Ordering::Relaxed);
                    }
                    let queued: Vec<PendingAction> = record
                        .pending
                        .iter()
                        .filter(|p| ids.contains(&p.id))
                        .cloned()
                        .collect();
                    let claims = effects::Claims::sort(&ids, saved.claims, pr);
                    let mut fresh = guard::Fresh::of(facts, config);
                    // The records as written: a dispatch judged on them
                    // is recorded only if they are still so.
                    fresh.committed = envs_after.map(|environments| guard::Committed {
                        version: saved.version,
                        state: record.state.clone(),
                        environments,
                    });
                    self.perform(repo, pr, &queued, claims, &fresh).await;
                    return Ok(Some(record.state));
                }
                Err(StoreError::Conflict) => lost_race(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_many_writers())
    }

    /// A conditional read-modify-write of a record's bookkeeping (not a
    /// gate fact): applies `f` until it wins a race.
    pub async fn update_record(
        &self,
        pr: &PrKey,
        f: impl Fn(&mut GateRecord) -> bool,
    ) -> Result<(), AppError> {
        // First from the record as the store last saw it, where it keeps
        // that: its write is conditional on that version, so only a
        // successful write trusts it (a guess that needs no change proves
        // nothing, and is read again).
        if let Some(v) = self.store.last_seen(pr) {
            let mut record = v.value;
            if f(&mut record) {
                match self.store.save_gate(&record, Some(v.version)).await {
                    Ok(_) => return Ok(()),
                    Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for attempt in 0..WRITE_ATTEMPTS {
            let Some(v) = self.store.load_gate(pr).await? else {
                return Ok(());
            };
            let mut record = v.value;
            if !f(&mut record) {
                return Ok(());
            }
            match self.store.save_gate(&record, Some(v.version)).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict) => lost_race(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_many_writers())
    }
}

/// Where a transition's first attempt starts; later attempts (after a
/// lost race) read the record.
pub(crate) enum Start {
    /// A fresh, strongly consistent read.
    Read,
    /// The record as the delivery read it a moment ago (`None`: there was
    /// none). Its write is conditional on that version.
    Known(Option<Versioned<GateRecord>>),
    /// The record as this process last saw it ([`Store::last_seen`]): only
    /// a write, conditional on its version, trusts it; when it calls for
    /// no change, the record is read and the facts applied again.
    Seen(Versioned<GateRecord>),
}

/// Whether what runs where can matter to `state`'s gates: the PR deployed
/// somewhere, or the chain has a locked stage (a hold or a queue may be
/// the PR's without a deploy).
pub(crate) fn reads_environments(state: &GateState, config: &RepoConfig) -> bool {
    state.deploys().next().is_some() || config.pipeline.stages.iter().any(|s| s.lock)
}

/// What a run of facts made of a PR's state.
struct Applied {
    state: GateState,
    actions: Vec<Action>,
    /// The audit note of each fact that changed something, with who gave
    /// it (login, id) when a person did.
    notes: Vec<(String, Option<(String, UserId)>)>,
    changed: bool,
    /// What runs where after the facts.
    environments: Environments,
    env_changes: Vec<EnvChange>,
}

/// Applies `facts` in order to `state` under `cx`, each seeing what runs
/// where after the ones before it (starting from `environments`).
fn apply_facts(
    state: &GateState,
    facts: &[Fact],
    cx: &Context<'_>,
    mut environments: Environments,
) -> Applied {
    let mut state = state.clone();
    let mut actions = Vec::new();
    let mut notes = Vec::new();
    let mut changed = false;
    let mut env_changes = Vec::new();
    for fact in facts {
        let t = gate::apply(
            &state,
            fact,
            &Context {
                environments: &environments,
                ..*cx
            },
        );
        for change in &t.env_changes {
            environments.apply(&state.pr.repo, change);
        }
        changed |= t.changed || !t.env_changes.is_empty();
        if t.changed || !t.actions.is_empty() {
            let actor = match fact {
                Fact::Command { actor, .. } => Some((actor.login.clone(), actor.id)),
                _ => None,
            };
            notes.push((t.note, actor));
        }
        env_changes.extend(t.env_changes);
        state = t.state;
        actions.extend(t.actions);
    }
    Applied {
        state,
        actions,
        notes,
        changed,
        environments,
        env_changes,
    }
}

/// The environment records `applied` changed, each with the version it
/// was read at (`None`: there was none).
fn changed_environments(
    read: &[Versioned<EnvRecord>],
    applied: &Applied,
) -> Vec<(EnvRecord, Option<u64>)> {
    applied
        .environments
        .records
        .iter()
        .filter_map(|after| {
            let before = read
                .iter()
                .find(|v| v.value.environment == after.environment);
            match before {
                Some(v) if v.value == *after => None,
                Some(v) => Some((after.clone(), Some(v.version))),
                None if *after == EnvRecord::new(after.repo.clone(), after.environment.clone()) => {
                    None
                }
                None => Some((after.clone(), None)),
            }
        })
        .collect()
}
