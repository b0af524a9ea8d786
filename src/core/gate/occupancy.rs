//! What runs where: one record per repository and environment, shared by
//! every pull request of the repository, beside the PR records. It lists
//! the deploys gatebot dispatched there, oldest first: the last one is
//! what runs there (or is being deployed). A deploy of PR B displaces PR
//! A's deploy from the moment B's dispatch is queued; a verify run deploys
//! nothing, and a dispatch GitHub never acted on (refused, or cancelled
//! before it was sent) is taken back out.
//!
//! On a stage with `lock: true` the record also holds the environment's
//! [`EnvLock`] (the PR holding it, from its deploy's dispatch or its
//! `/lock`) and the [`Queued`] PRs waiting for it, in the order their
//! gates were met.
//!
//! The machine reads these records through [`super::Context`] and says
//! how they change as [`EnvChange`]s; the shell writes the changes in the
//! same conditional write as the PR's record.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::state::{Deploy, DeployKind, DeployStatus};
use crate::core::domain::{DispatchId, Environment, RepoName, Sha, UserId};

/// How many deploys an environment's record keeps (older ones are
/// dropped, and [`EnvRecord::dropped_before`] remembers that they were).
pub(crate) const KEPT_DEPLOYS: usize = 16;

/// One deploy gatebot dispatched to an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupant {
    pub pr: u64,
    pub sha: Sha,
    pub dispatch_id: DispatchId,
    pub kind: DeployKind,
    pub status: DeployStatus,
    /// When it was dispatched: from then on it displaces what ran there.
    pub since: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub run_url: Option<String>,
}

/// The PR holding a locked environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvLock {
    pub pr: u64,
    /// The head it holds it for: a push ends the hold.
    pub sha: Sha,
    /// Its deploy's dispatch, or its `/lock`: the timeout counts from it.
    pub since: DateTime<Utc>,
    /// Taken by `/lock` (not by a deploy): who, and why.
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub by_id: Option<UserId>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl EnvLock {
    /// Whether it still holds at `now`, lasting at most `timeout`.
    pub fn live(&self, now: DateTime<Utc>, timeout: Duration) -> bool {
        self.since
            .checked_add_signed(timeout)
            .is_none_or(|end| now < end)
    }

    /// Whether it was taken by `/lock` rather than by a deploy.
    pub fn manual(&self) -> bool {
        self.by_id.is_some()
    }
}

/// A PR waiting for a locked environment, its gates met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub pr: u64,
    pub sha: Sha,
    /// When its gates were met: the queue's order.
    pub since: DateTime<Utc>,
}

/// What gatebot knows of one environment of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvRecord {
    pub repo: RepoName,
    pub environment: Environment,
    /// The deploys dispatched there, oldest first, at most
    /// [`KEPT_DEPLOYS`].
    #[serde(default)]
    pub deploys: Vec<Occupant>,
    /// When deploys were dropped to keep the list short: the `since` of
    /// the oldest one kept. A deploy older than that which is not listed
    /// was displaced at a time no longer known.
    #[serde(default)]
    pub dropped_before: Option<DateTime<Utc>>,
    /// Who holds it, on a stage with `lock: true` (a hold past its
    /// timeout no longer holds, whether or not it was taken off yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<EnvLock>,
    /// Who waits for it, first come first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue: Vec<Queued>,
}

impl EnvRecord {
    pub fn new(repo: RepoName, environment: Environment) -> Self {
        EnvRecord {
            repo,
            environment,
            deploys: Vec::new(),
            dropped_before: None,
            lock: None,
            queue: Vec::new(),
        }
    }

    /// The hold that still holds at `now` under `timeout`.
    pub fn live_lock(&self, now: DateTime<Utc>, timeout: Duration) -> Option<&EnvLock> {
        self.lock.as_ref().filter(|l| l.live(now, timeout))
    }

    /// Where `pr` is in the queue, from 1.
    pub fn position(&self, pr: u64) -> Option<usize> {
        self.queue.iter().position(|q| q.pr == pr).map(|i| i + 1)
    }

    /// What runs there now (or is being deployed).
    pub fn current(&self) -> Option<&Occupant> {
        self.deploys.last()
    }

    /// When `deploy` stopped being what runs there, if it did: when the
    /// first deploy dispatched after it was dispatched. A deploy the
    /// record does not list, older than what it dropped, was displaced at
    /// a time no longer known: as of its own dispatch (the earliest it can
    /// have been). A deploy made before the record existed is displaced by
    /// the first one listed after it.
    pub fn displaced_at(&self, deploy: &Deploy) -> Option<DateTime<Utc>> {
        if let Some(at) = self
            .deploys
            .iter()
            .position(|o| o.dispatch_id == deploy.dispatch_id)
        {
            return self.deploys.get(at + 1).map(|next| next.since);
        }
        if self.dropped_before.is_some_and(|t| deploy.at < t) {
            return Some(deploy.at);
        }
        self.deploys
            .iter()
            .find(|o| o.since > deploy.at)
            .map(|o| o.since)
    }

    /// The deploy listed right after `deploy`: the one that displaced it.
    pub fn displaced_by(&self, deploy: &Deploy) -> Option<&Occupant> {
        match self
            .deploys
            .iter()
            .position(|o| o.dispatch_id == deploy.dispatch_id)
        {
            Some(at) => self.deploys.get(at + 1),
            None => self
                .deploys
                .iter()
                .find(|o| o.since > deploy.at)
                .or(self.current()),
        }
    }

    /// Applies one change; returns whether the record changed.
    pub fn apply(&mut self, change: &EnvChange) -> bool {
        match change {
            EnvChange::Occupy { occupant: o, .. } => {
                if self.deploys.iter().any(|d| d.dispatch_id == o.dispatch_id) {
                    return false;
                }
                self.deploys.push(o.clone());
                if self.deploys.len() > KEPT_DEPLOYS {
                    let drop = self.deploys.len() - KEPT_DEPLOYS;
                    self.deploys.drain(..drop);
                    self.dropped_before = self.deploys.first().map(|o| o.since);
                }
                true
            }
            EnvChange::Lock { lock, .. } => {
                if self.lock.as_ref() == Some(lock) {
                    return false;
                }
                self.lock = Some(lock.clone());
                true
            }
            EnvChange::Unlock { pr, .. } => match (&self.lock, pr) {
                (Some(l), Some(pr)) if l.pr != *pr => false,
                (None, _) => false,
                _ => {
                    self.lock = None;
                    true
                }
            },
            EnvChange::Enqueue { entry, .. } => {
                if self.queue.iter().any(|q| q.pr == entry.pr) {
                    return false;
                }
                self.queue.push(entry.clone());
                true
            }
            EnvChange::Dequeue { pr, .. } => {
                let before = self.queue.len();
                self.queue.retain(|q| q.pr != *pr);
                self.queue.len() != before
            }
            EnvChange::Withdraw { dispatch_id, .. } => {
                let before = self.deploys.len();
                self.deploys.retain(|d| d.dispatch_id != *dispatch_id);
                self.deploys.len() != before
            }
            EnvChange::Progress {
                dispatch_id,
                status,
                finished_at,
                run_url,
                ..
            } => {
                let Some(d) = self
                    .deploys
                    .iter_mut()
                    .find(|d| d.dispatch_id == *dispatch_id)
                else {
                    return false;
                };
                // A finished deploy never changes.
                if d.status != DeployStatus::Pending {
                    return false;
                }
                let new_url = run_url.clone().or_else(|| d.run_url.clone());
                if d.status == *status && d.finished_at == *finished_at && d.run_url == new_url {
                    return false;
                }
                d.status = *status;
                d.finished_at = *finished_at;
                d.run_url = new_url;
                true
            }
        }
    }
}

/// How a transition changes what runs where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvChange {
    /// A deploy was queued there: from now on it is what runs there.
    Occupy {
        environment: Environment,
        occupant: Occupant,
    },
    /// A dispatch GitHub never acted on: it displaces nothing.
    Withdraw {
        environment: Environment,
        dispatch_id: DispatchId,
    },
    /// A deploy's run started or finished.
    Progress {
        environment: Environment,
        dispatch_id: DispatchId,
        status: DeployStatus,
        finished_at: Option<DateTime<Utc>>,
        run_url: Option<String>,
    },
    /// A PR holds the environment from now on.
    Lock {
        environment: Environment,
        lock: EnvLock,
    },
    /// The hold ends: `pr`'s only, or anyone's (`None`).
    Unlock {
        environment: Environment,
        pr: Option<u64>,
    },
    /// A PR whose gates are met waits for the environment.
    Enqueue {
        environment: Environment,
        entry: Queued,
    },
    /// A PR waits no longer (dispatched, or its gates no longer hold).
    Dequeue { environment: Environment, pr: u64 },
}

impl EnvChange {
    pub fn environment(&self) -> &Environment {
        match self {
            EnvChange::Occupy { environment, .. }
            | EnvChange::Withdraw { environment, .. }
            | EnvChange::Progress { environment, .. }
            | EnvChange::Lock { environment, .. }
            | EnvChange::Unlock { environment, .. }
            | EnvChange::Enqueue { environment, .. }
            | EnvChange::Dequeue { environment, .. } => environment,
        }
    }
}

impl Occupant {
    /// In words, for replies: "#43 (abc1234)".
    pub fn describe(&self) -> String {
        format!("#{} ({})", self.pr, self.sha.short())
    }

    /// The occupant a deploy of PR `pr` is, when it is queued.
    pub fn of(pr: u64, deploy: &Deploy) -> Occupant {
        Occupant {
            pr,
            sha: deploy.sha.clone(),
            dispatch_id: deploy.dispatch_id.clone(),
            kind: deploy.kind,
            status: deploy.status,
            since: deploy.at,
            finished_at: deploy.finished_at,
            run_url: deploy.run_url.clone(),
        }
    }
}

/// The environment records of a repository, as read for one transition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environments {
    pub records: Vec<EnvRecord>,
}

/// No record of any environment: every environment is free.
static NO_RECORDS: Environments = Environments {
    records: Vec::new(),
};

impl Environments {
    /// No record of any environment: every environment is free.
    pub fn none() -> &'static Environments {
        &NO_RECORDS
    }

    pub fn get(&self, env: &Environment) -> Option<&EnvRecord> {
        self.records.iter().find(|r| r.environment == *env)
    }

    /// Applies `change` to its environment's record in `repo` (made when
    /// there is none yet); returns whether it changed.
    pub fn apply(&mut self, repo: &RepoName, change: &EnvChange) -> bool {
        let env = change.environment();
        let at = match self.records.iter().position(|r| r.environment == *env) {
            Some(at) => at,
            None => {
                self.records.push(EnvRecord::new(repo.clone(), env.clone()));
                self.records.len() - 1
            }
        };
        self.records[at].apply(change)
    }

    /// When `deploy` stopped being what runs in its environment, if it
    /// did (a verify run occupies nothing and is never displaced).
    pub fn displaced_at(&self, deploy: &Deploy) -> Option<DateTime<Utc>> {
        if deploy.kind == DeployKind::Verify {
            return None;
        }
        self.get(&deploy.environment)?.displaced_at(deploy)
    }
}
