//! The recorded facts about one pull request's head SHA, from which where
//! it stands in the chain is derived. This is what the store persists (as
//! JSON, with a version number for conditional writes).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ci::CiStatus;
use crate::core::config::{Entry, Pipeline, StageConfig};
use crate::core::domain::{DispatchId, Environment, Person, PrKey, Sha, UserId};

/// A stage's entry command (`/lgtm`, `/approve`, …), bound to the SHA it
/// was given for, and to the person who gave it by their user id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Their login when they gave it: for display only.
    pub login: String,
    /// Who gave it. `None` only in an approval upgraded from a record
    /// written before gatebot kept ids: it counts for nothing.
    #[serde(default)]
    pub id: Option<UserId>,
    pub sha: Sha,
    pub at: DateTime<Utc>,
}

impl Approval {
    /// Whether `person` gave it.
    pub fn given_by(&self, person: UserId) -> bool {
        self.id == Some(person)
    }
}

/// The most SHAs [`GateState::pushed_heads`] remembers; older ones count as
/// heads whose push gatebot has not seen (fail closed).
pub(crate) const MAX_PUSHED_HEADS: usize = 32;

/// Who wrote a head: the PR's author and everyone who pushed to the PR.
/// They count for none of its gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authors(Vec<UserId>);

impl Authors {
    pub fn contains(&self, id: UserId) -> bool {
        self.0.contains(&id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployKind {
    /// The gated promotion of the head SHA.
    Promote,
    /// The verify workflow a stage's verification runs.
    Verify,
    /// A redeploy of the previously deployed SHA.
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    /// Dispatched (or about to be); waiting for its `workflow_run`.
    Pending,
    Succeeded,
    Failed,
}

/// One workflow dispatch gatebot made, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deploy {
    pub dispatch_id: DispatchId,
    pub environment: Environment,
    pub kind: DeployKind,
    pub sha: Sha,
    pub requested_by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub run_id: Option<u64>,
    pub status: DeployStatus,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub run_url: Option<String>,
    /// The deploy that replaced what this one put in its environment (a
    /// rollback there): what this one deployed no longer runs, so no gate
    /// may rest on it.
    #[serde(default)]
    pub displaced_by: Option<DispatchId>,
}

impl Deploy {
    /// Whether it was dispatched before `other` (both by the PR whose
    /// dispatch counter numbered them; `false` when either id is not of
    /// today's shape).
    pub fn dispatched_before(&self, other: Option<&Deploy>) -> bool {
        let seq = |d: &Deploy| d.dispatch_id.parts().map(|p| p.seq);
        match (seq(self), other.and_then(seq)) {
            (Some(mine), Some(theirs)) => mine < theirs,
            _ => false,
        }
    }

    /// Whether it is a deploy to `env` still in flight (a verify run
    /// deploys nothing).
    pub fn occupies(&self, env: &Environment) -> bool {
        self.environment == *env
            && self.kind != DeployKind::Verify
            && self.status == DeployStatus::Pending
    }

    /// Whether it succeeded and what it deployed still runs (as far as
    /// gatebot dispatched anything since).
    pub fn holds(&self) -> bool {
        self.status == DeployStatus::Succeeded && self.displaced_by.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Their login when they gave it: for display only.
    pub login: String,
    /// Who gave it (`None` only when upgraded from a record written
    /// before gatebot kept ids).
    #[serde(default)]
    pub id: Option<UserId>,
    pub sha: Sha,
    pub at: DateTime<Utc>,
    /// The verify workflow run, when one is configured.
    #[serde(default)]
    pub run: Option<Deploy>,
}

impl Verification {
    pub fn passed(&self) -> bool {
        match &self.run {
            None => true,
            Some(run) => run.status == DeployStatus::Succeeded,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub login: String,
    #[serde(default)]
    pub id: Option<UserId>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// One stage's gates for the head SHA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageGates {
    pub environment: Environment,
    /// The entry commands given, each bound to its SHA (the head's only,
    /// since a new head clears them).
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// The head's promotion to this stage.
    #[serde(default)]
    pub deploy: Option<Deploy>,
    #[serde(default)]
    pub verification: Option<Verification>,
}

impl StageGates {
    pub fn new(environment: Environment) -> Self {
        StageGates {
            environment,
            approvals: Vec::new(),
            deploy: None,
            verification: None,
        }
    }

    /// The entry commands given for `sha` that count: one per person (by
    /// user id, the first they gave), none by an author of the head, none
    /// without an id, and, when `holders` is given, only those of people
    /// in it (who hold the stage's role now). No author known, nothing
    /// counts.
    pub fn approvers<'a>(
        &'a self,
        sha: &Sha,
        authors: Option<&Authors>,
        holders: Option<&[UserId]>,
    ) -> Vec<&'a Approval> {
        let Some(authors) = authors else {
            return Vec::new();
        };
        let mut counted: Vec<&Approval> = Vec::new();
        for a in &self.approvals {
            let Some(id) = a.id else { continue };
            let holds = holders.is_none_or(|h| h.contains(&id));
            if a.sha == *sha
                && !authors.contains(id)
                && holds
                && !counted.iter().any(|c| c.id == Some(id))
            {
                counted.push(a);
            }
        }
        counted
    }

    /// Whether the deploy of `sha` succeeded, and still runs.
    pub fn deployed(&self, sha: &Sha) -> bool {
        self.deploy
            .as_ref()
            .is_some_and(|d| d.sha == *sha && d.holds())
    }

    /// When the stage passed for `sha` under `config`: its deploy
    /// succeeded and, when it has a verification, that passed too.
    pub fn passed_at(&self, sha: &Sha, config: &StageConfig) -> Option<DateTime<Utc>> {
        let d = self.deploy.as_ref().filter(|_| self.deployed(sha))?;
        let deployed_at = d.finished_at.unwrap_or(d.at);
        if config.verify.is_none() {
            return Some(deployed_at);
        }
        let v = self
            .verification
            .as_ref()
            .filter(|v| v.sha == *sha && v.passed())?;
        let verified_at = v.run.as_ref().and_then(|r| r.finished_at).unwrap_or(v.at);
        Some(deployed_at.max(verified_at))
    }

    fn deploys(&self) -> impl Iterator<Item = &Deploy> {
        let verify = self.verification.as_ref().and_then(|v| v.run.as_ref());
        self.deploy.iter().chain(verify)
    }

    fn deploys_mut(&mut self) -> impl Iterator<Item = &mut Deploy> {
        let verify = self.verification.as_mut().and_then(|v| v.run.as_mut());
        self.deploy.iter_mut().chain(verify)
    }
}

/// gatebot's check run for a head SHA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRunRef {
    pub sha: Sha,
    pub id: u64,
}

/// Everything gatebot knows about one pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateState {
    pub pr: PrKey,
    pub installation_id: Option<u64>,
    /// Lowercase login of the PR author, for display.
    pub author: String,
    /// The PR author's user id (`pull_request.user.id`). `None` only in a
    /// record upgraded from before gatebot kept ids, until GitHub's view of
    /// the PR is next read: meanwhile no gate command counts.
    #[serde(default)]
    pub author_id: Option<UserId>,
    /// The head the record was created with, which counts as pushed by the
    /// author (gatebot saw no push of it).
    #[serde(default)]
    pub first_head: Option<Sha>,
    /// Everyone who pushed to the PR (the `sender` of each `synchronize`),
    /// once each: whoever pushed a head is an author of it, and of every
    /// head after it, which carries their commits.
    #[serde(default)]
    pub pushers: Vec<Person>,
    /// The heads gatebot received the push of (the newest
    /// [`MAX_PUSHED_HEADS`]): a head GitHub reports that is not among them
    /// (nor the first head) has authors gatebot does not know yet.
    #[serde(default)]
    pub pushed_heads: Vec<Sha>,
    pub head_sha: Sha,
    /// When gatebot learned of `head_sha` (or last voided its gates: a
    /// reopen, a new base). A gate command written before this was written
    /// about something else and is refused as stale. `None` in records
    /// written before gatebot kept it: [`GateState::gates_since`] then
    /// falls back to `updated_at`, which is never earlier.
    #[serde(default)]
    pub head_seen_at: Option<DateTime<Utc>>,
    /// The base branch the gates were passed against, as GitHub last said.
    #[serde(default)]
    pub base_ref: Option<String>,
    /// The repository's default branch, as GitHub last said (every read
    /// of the PR refreshes it): where the config is read from, and the
    /// branch dispatches run from when the config names none.
    pub default_branch: String,
    pub open: bool,
    pub ci: CiStatus,
    /// The head's gates, one entry per stage that has any (in the order
    /// they were first given, found by environment: a stage the config no
    /// longer has is ignored, one it gained starts empty).
    #[serde(default)]
    pub stages: Vec<StageGates>,
    #[serde(default)]
    pub hold: Option<Hold>,
    /// Dispatches not tied to the head's gates: rollbacks, and deploys of
    /// an older head still running when a new one was pushed.
    #[serde(default)]
    pub detached: Vec<Deploy>,
    /// Counts every dispatch for this PR; part of each `dispatch_id`.
    #[serde(default)]
    pub dispatch_seq: u32,
    /// Why the repository's config could not be used, if it could not.
    #[serde(default)]
    pub config_error: Option<String>,
    /// A stage waits only for time to pass (a soak, a freeze ending): set
    /// by the machine, read by the store to have the reconciler look again.
    #[serde(default)]
    pub awaits_time: bool,
    /// How many commits of the base branch a head lacked when last read
    /// (`up_to_date` stages): a head known to lack some is not dispatched
    /// there. Every dispatch reads it again, fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind_base: Option<BehindBase>,
    /// The head whose merge gatebot queued (`merge:`): at most once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_queued: Option<Sha>,
    pub updated_at: DateTime<Utc>,
}

/// What GitHub's compare API said of a head against its base branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BehindBase {
    pub sha: Sha,
    /// Commits of the base branch the head does not contain.
    pub by: u64,
}

/// Where a PR stands, derived from its facts under the chain; the stage
/// numbers are positions in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Closed,
    ConfigError,
    /// The PR's base is not a branch gatebot gates (`branches:`).
    NotGated,
    WaitingForCi,
    CiFailed,
    /// The stage's entry gate (a quorum, or a soak) is not met yet.
    WaitingForEntry(usize),
    Deploying(usize),
    DeployFailed(usize),
    /// The stage's deploy no longer runs there: a rollback, or another
    /// PR's deploy, displaced it before the stage passed (or before the
    /// next stage's soak ended): `/retry` deploys the head again.
    Displaced(usize),
    WaitingForVerification(usize),
    Verifying(usize),
    VerificationFailed(usize),
    /// Every stage passed.
    Deployed,
}

impl Stage {
    /// In words, for the check run's title and `/gates`.
    pub fn describe(self, chain: &Pipeline) -> String {
        let env = |i: usize| {
            chain
                .stages
                .get(i)
                .map(|s| s.environment.to_string())
                .unwrap_or_else(|| format!("stage {i}"))
        };
        let word = |word: &str, i: usize| match chain.stages.get(i) {
            Some(stage) => chain.typed(word, &stage.environment),
            None => format!("/{word}"),
        };
        match self {
            Stage::Closed => "closed".into(),
            Stage::ConfigError => "invalid configuration".into(),
            Stage::NotGated => "not gated: its base is not a gated branch".into(),
            Stage::WaitingForCi => "waiting for CI".into(),
            Stage::CiFailed => "CI failed".into(),
            Stage::WaitingForEntry(i) => match chain.stages.get(i).map(|s| &s.entry) {
                Some(Entry::Command(g)) if g.role == "qa" => {
                    format!("waiting for QA review ({})", word(&g.word, i))
                }
                Some(Entry::Command(g)) => {
                    format!("waiting for {} approval ({})", env(i), word(&g.word, i))
                }
                _ => format!("waiting to deploy to {}", env(i)),
            },
            Stage::Deploying(i) => format!("deploying to {}", env(i)),
            Stage::DeployFailed(i) => format!("{} deploy failed", env(i)),
            Stage::Displaced(i) => format!(
                "{} no longer runs this head; `/retry {}` deploys it again",
                env(i),
                env(i)
            ),
            Stage::WaitingForVerification(i) => {
                match chain.stages.get(i).and_then(|s| s.verify.as_ref()) {
                    Some(v) => {
                        format!("waiting for {} verification ({})", env(i), word(&v.word, i))
                    }
                    None => format!("waiting for {} verification", env(i)),
                }
            }
            Stage::Verifying(i) => format!("verifying {}", env(i)),
            Stage::VerificationFailed(i) => format!("{} verification failed", env(i)),
            Stage::Deployed => match chain.last() {
                Some(s) => format!("deployed to {}", s.environment),
                None => "deployed".into(),
            },
        }
    }

    /// Whether it is a failure someone must act on (the check run fails).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Stage::DeployFailed(_) | Stage::VerificationFailed(_) | Stage::ConfigError
        )
    }
}

impl GateState {
    /// A fresh record for a PR by `author` whose head is `head_sha` (which
    /// counts as the author's push).
    pub fn new(
        pr: PrKey,
        author: &Person,
        head_sha: Sha,
        default_branch: &str,
        installation_id: Option<u64>,
        now: DateTime<Utc>,
    ) -> Self {
        GateState {
            pr,
            installation_id,
            author: author.login.to_ascii_lowercase(),
            author_id: Some(author.id),
            first_head: Some(head_sha.clone()),
            pushers: Vec::new(),
            pushed_heads: Vec::new(),
            head_sha,
            head_seen_at: Some(now),
            base_ref: None,
            default_branch: default_branch.to_string(),
            open: true,
            ci: CiStatus::Pending,
            stages: Vec::new(),
            hold: None,
            detached: Vec::new(),
            dispatch_seq: 0,
            config_error: None,
            awaits_time: false,
            behind_base: None,
            merge_queued: None,
            updated_at: now,
        }
    }

    /// Since when gate commands count for the current head.
    pub fn gates_since(&self) -> DateTime<Utc> {
        self.head_seen_at.unwrap_or(self.updated_at)
    }

    /// The authors of the head: the PR's author and everyone who pushed
    /// to it. `None` while gatebot does not know them all (the author's id
    /// not read yet, or a head GitHub reported before its `synchronize`
    /// delivery said who pushed it): then no gate command counts.
    pub fn authors(&self) -> Option<Authors> {
        let author = self.author_id?;
        let known = self.first_head.as_ref() == Some(&self.head_sha)
            || self.pushed_heads.contains(&self.head_sha);
        known.then(|| {
            let mut ids = vec![author];
            ids.extend(self.pushers.iter().map(|p| p.id));
            Authors(ids)
        })
    }

    /// Records that `by` pushed `sha` to the PR; whether anything changed.
    pub fn record_push(&mut self, sha: &Sha, by: &Person) -> bool {
        let mut changed = false;
        if !self.pushers.iter().any(|p| p.id == by.id) {
            self.pushers.push(by.clone());
            changed = true;
        }
        if !self.pushed_heads.contains(sha) {
            self.pushed_heads.push(sha.clone());
            if self.pushed_heads.len() > MAX_PUSHED_HEADS {
                self.pushed_heads.remove(0);
            }
            changed = true;
        }
        changed
    }

    /// The gates of the stage deploying to `env`, if any were given.
    pub fn gates(&self, env: &Environment) -> Option<&StageGates> {
        self.stages.iter().find(|g| g.environment == *env)
    }

    /// The deploy to `env` gatebot tracks for the PR, if any.
    pub fn deploy_to(&self, env: &Environment) -> Option<&Deploy> {
        self.gates(env).and_then(|g| g.deploy.as_ref())
    }

    /// The verification of the stage deploying to `env`, if one was given.
    pub fn verification_of(&self, env: &Environment) -> Option<&Verification> {
        self.gates(env).and_then(|g| g.verification.as_ref())
    }

    /// Every entry command recorded for the stage deploying to `env`.
    pub fn approvals_for(&self, env: &Environment) -> &[Approval] {
        self.gates(env)
            .map(|g| g.approvals.as_slice())
            .unwrap_or_default()
    }

    /// The entry commands for `env` that count for the head: one per
    /// person, none by an author (see [`StageGates::approvers`]).
    pub fn approvers_of(&self, env: &Environment) -> Vec<&Approval> {
        let authors = self.authors();
        self.gates(env)
            .map(|g| g.approvers(&self.head_sha, authors.as_ref(), None))
            .unwrap_or_default()
    }

    /// The gates of the stage deploying to `env`, started if none were.
    pub fn gates_mut(&mut self, env: &Environment) -> &mut StageGates {
        let at = match self.stages.iter().position(|g| g.environment == *env) {
            Some(at) => at,
            None => {
                self.stages.push(StageGates::new(env.clone()));
                self.stages.len() - 1
            }
        };
        &mut self.stages[at]
    }

    /// The branch the PR merges into: its base, or the default branch
    /// while the base is not known. An `up_to_date` stage compares the
    /// head with this branch's head.
    pub fn base_branch(&self) -> &str {
        self.base_ref.as_deref().unwrap_or(&self.default_branch)
    }

    /// Whether `chain` gates the PR's base (an unknown base is not).
    pub fn base_gated(&self, chain: &Pipeline) -> bool {
        self.base_ref
            .as_deref()
            .is_some_and(|b| chain.gates_base(b, &self.default_branch))
    }

    /// Whether the reconciler should look at this PR: a dispatch is in
    /// flight (its `workflow_run` may never arrive), or a stage waits for
    /// time alone ([`GateState::awaits_time`]).
    pub fn needs_watch(&self) -> bool {
        self.awaits_time || self.deploys().any(|d| d.status == DeployStatus::Pending)
    }

    /// Every dispatch this record still tracks: each stage's deploy and
    /// verify run, then the detached ones.
    pub fn deploys(&self) -> impl Iterator<Item = &Deploy> {
        self.stages
            .iter()
            .flat_map(StageGates::deploys)
            .chain(self.detached.iter())
    }

    /// A dispatch this record still tracks, by id.
    pub fn deploy(&self, dispatch_id: &DispatchId) -> Option<&Deploy> {
        self.deploys().find(|d| d.dispatch_id == *dispatch_id)
    }

    /// Every dispatch this record still tracks, by id.
    pub fn deploy_mut(&mut self, dispatch_id: &DispatchId) -> Option<&mut Deploy> {
        self.stages
            .iter_mut()
            .flat_map(StageGates::deploys_mut)
            .chain(self.detached.iter_mut())
            .find(|d| d.dispatch_id == *dispatch_id)
    }

    /// The dispatch id for the next dispatch: `<pr>-<env>-<sha7>-<seq>`
    /// (`verify` in place of the environment for verify runs).
    pub fn next_dispatch_id(
        &mut self,
        env: &Environment,
        kind: DeployKind,
        sha: &Sha,
    ) -> DispatchId {
        self.dispatch_seq += 1;
        let label = match kind {
            DeployKind::Verify => "verify",
            _ => env.as_str(),
        };
        DispatchId::new(self.pr.number, label, sha, self.dispatch_seq)
    }
}
