//! `apply(state, fact, policy) -> (state, actions)`: the whole promotion
//! logic, pure and deterministic. The caller persists the new state together
//! with the actions (as pending side effects) and then performs them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ci::CiStatus;
use super::state::{
    Approval, Deploy, DeployKind, DeployStatus, GateState, Hold, Stage, StageState, Verification,
};
use super::summary;
use crate::core::commands::{Command, help_text};
use crate::core::config::{Entry, Pipeline, RepoConfig, StageConfig};
use crate::core::domain::{DispatchId, Environment, Person, Sha, UserId};

/// Something that happened, as far as the gates are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// The PR was opened or first seen; the record was just created.
    Opened,
    /// What GitHub says about the PR now, read while handling a delivery
    /// (never inferred from the order deliveries arrive in): a stored
    /// state that disagrees is brought in line — closed, reopened (gates
    /// start again), a new head or a new base (approvals void).
    Observed {
        open: bool,
        head: Sha,
        base_ref: String,
        /// The PR author's user id.
        author_id: UserId,
        /// The repository's default branch now (`base.repo.default_branch`).
        default_branch: String,
    },
    /// `by` pushed `sha` to the PR's branch (a `synchronize` delivery's
    /// `sender`): one of that head's authors.
    Pushed { sha: Sha, by: Person },
    /// CI's verdict on `sha`, read from GitHub's check runs.
    Ci { sha: Sha, status: CiStatus },
    /// The repository configuration was (re)read; `error` when unusable.
    Config { error: Option<String> },
    /// A command from a PR comment. `authorized` says whether the actor
    /// holds the role the command needs (resolved from the API).
    Command {
        comment_id: u64,
        actor: Actor,
        command: Command,
        /// `comment.created_at`: a gate command written before gatebot
        /// learned of the head was about another commit. `None` (GitHub
        /// sent no time) counts as stale.
        written_at: Option<DateTime<Utc>>,
        /// For `/rollback`: the previously deployed SHA from the history.
        rollback_target: Option<Sha>,
    },
    /// GitHub told us which run a dispatch started.
    RunLinked {
        dispatch_id: DispatchId,
        run_id: u64,
        url: Option<String>,
    },
    /// A dispatched run completed.
    RunCompleted {
        dispatch_id: DispatchId,
        run_id: u64,
        success: bool,
        url: Option<String>,
        /// When the run completed, by GitHub's clock (the run's
        /// `updated_at`); orders the deploy history.
        completed_at: Option<DateTime<Utc>>,
    },
    /// The dispatch call was refused outright (workflow missing, no
    /// permission): the deploy failed without a run.
    DispatchFailed {
        dispatch_id: DispatchId,
        reason: String,
    },
    /// A queued dispatch that the gates no longer allow (a hold, a
    /// freeze, a push, a close, CI turning red…): it is not sent, or its
    /// deployment is not approved. The gate dispatches anew once allowed.
    DispatchCancelled {
        dispatch_id: DispatchId,
        reason: String,
    },
    /// Right before a dispatch, these people, whose entry commands for the
    /// stage deploying to `environment` count toward it, were found not
    /// to hold the stage's role any more: their commands no longer count,
    /// and are dropped (so that the gate does not dispatch on them again).
    RolesLost {
        environment: Environment,
        givers: Vec<UserId>,
    },
    /// A comment line started with a gatebot command but did not parse.
    NotUnderstood {
        comment_id: u64,
        login: String,
        message: String,
    },
    /// A comment held more command lines than gatebot acts on.
    TooManyCommands {
        login: String,
        acted_on: usize,
        skipped: usize,
    },
    /// Nothing new: look again (a freeze may have ended).
    Reevaluate,
}

/// Who issued a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who they are (`comment.user.id`).
    pub id: UserId,
    /// Lowercase login, for display.
    pub login: String,
    /// Holds the role the command requires (see [`required_role`]).
    pub authorized: bool,
}

/// The role a command needs, resolved by the caller before `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A role of the config's `roles:` (`qa`, `release` or one declared).
    Named(String),
    /// Any role that opens a gate of the chain (who may `/hold`).
    AnyGate,
    /// Read access to the repository.
    Read,
}

impl Role {
    /// In words, for a refusal: `qa`, `qa or release`, `read`.
    pub fn describe(&self, chain: &Pipeline) -> String {
        match self {
            Role::Named(name) => name.clone(),
            Role::AnyGate => chain.gate_roles().join(" or "),
            Role::Read => "read".into(),
        }
    }
}

/// The role each command requires in `chain`; `None` for commands anyone
/// may use or whose permission is ownership (the cancel forms).
pub fn required_role(command: &Command, chain: &Pipeline) -> Option<Role> {
    let stage = |env: &Environment| chain.find(env).map(|(_, s)| s);
    match command {
        Command::Entry { cancel: true, .. } | Command::Verify { cancel: true, .. } => None,
        Command::Help => None,
        Command::Entry { env, .. } => Some(Role::Named(match stage(env).map(|s| &s.entry) {
            Some(Entry::Command(g)) => g.role.clone(),
            // Not a gate of this chain: only release may act on it.
            _ => "release".into(),
        })),
        Command::Verify { env, .. } => Some(Role::Named(
            stage(env)
                .and_then(|s| s.verify.as_ref())
                .map(|v| v.role.clone())
                .unwrap_or_else(|| "release".into()),
        )),
        Command::Rollback(env) | Command::Retry(env) => Some(Role::Named(
            stage(env)
                .map(|s| s.rollback_role().to_string())
                .unwrap_or_else(|| "release".into()),
        )),
        Command::Hold { .. } | Command::Unhold => Some(Role::AnyGate),
        Command::Gates => Some(Role::Read),
    }
}

/// The repository's policy at the moment of the fact.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub config: &'a RepoConfig,
    pub now: DateTime<Utc>,
    /// How far GitHub's clock (`comment.created_at`) and gatebot's may
    /// disagree. A gate command must be written at least this long after
    /// gatebot learned of the head: within the margin gatebot cannot tell
    /// which came first, and it does not guess in the command's favour.
    pub clock_skew: chrono::Duration,
    /// Who, of the people whose entry commands a dispatch rests on, holds
    /// the stage's role *now*, resolved from GitHub right before the
    /// dispatch is sent (or its deployment approved). `None` where nothing
    /// was resolved: each command then counts with the role it was given
    /// with.
    pub holders: Option<&'a [UserId]>,
}

impl<'a> Policy<'a> {
    /// The policy gatebot runs with: [`CLOCK_SKEW`].
    pub fn new(config: &'a RepoConfig, now: DateTime<Utc>) -> Self {
        Policy {
            config,
            now,
            clock_skew: CLOCK_SKEW,
            holders: None,
        }
    }
}

/// The default [`Policy::clock_skew`]: GitHub's and gatebot's clocks are
/// NTP-synchronised, well within this.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reaction {
    #[serde(rename = "+1")]
    Accepted,
    #[serde(rename = "-1")]
    Refused,
    #[serde(rename = "confused")]
    Confused,
}

impl Reaction {
    pub fn content(self) -> &'static str {
        match self {
            Reaction::Accepted => "+1",
            Reaction::Refused => "-1",
            Reaction::Confused => "confused",
        }
    }
}

/// A side effect to perform after the new state is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// `workflow_dispatch` of `workflow` on `git_ref` for `deploy`.
    Dispatch {
        workflow: String,
        git_ref: String,
        deploy: Deploy,
    },
    /// Create or update the `gatebot` check run from the current state.
    SyncCheckRun,
    React {
        comment_id: u64,
        reaction: Reaction,
    },
    Reply {
        body: String,
    },
    /// Append a successful deploy to the environment's history.
    RecordDeploy {
        deploy: Deploy,
    },
}

/// Why a command was refused; the reply quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("you need the {0} role for this command")]
    NoPermission(String),
    #[error(
        "an author of this head (whoever opened the pull request or pushed to it) cannot give its gates"
    )]
    AuthorCannotApprove,
    #[error(
        "gatebot has not yet heard who pushed {} (GitHub's push event for it has not arrived); try again in a minute, or push again",
        .0.short()
    )]
    PusherUnknown(Sha),
    #[error(
        "gatebot does not gate pull requests into `{0}`; only those into the default branch or the config's `branches:`"
    )]
    NotGated(String),
    #[error("this pull request is closed")]
    Closed,
    #[error(
        "stale SHA: this comment was written before gatebot saw the current head {} (a push, a reopen or a new base since); review {} and comment again",
        .0.short(),
        .0.short()
    )]
    Stale(Sha),
    #[error("wrong stage: {0}")]
    WrongStage(Wrong),
    #[error("dispatches are held by @{by}{}; `/unhold` first", .reason.as_ref().map(|r| format!(" ({})", crate::core::markdown::code_span(r))).unwrap_or_default())]
    Held { by: String, reason: Option<String> },
    #[error("{env} is frozen until {until}{}", .reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Frozen {
        env: Environment,
        until: String,
        reason: Option<String>,
    },
    #[error("only @{0} can cancel it")]
    NotYours(String),
    #[error("there is nothing to cancel: {0}")]
    NothingToCancel(String),
    #[error("no earlier {0} deploy in gatebot's history to roll back to")]
    NoRollbackTarget(Environment),
    #[error("the repository's .github/gatebot.yml is invalid: {0}")]
    Config(String),
}

/// Why a command or a dispatch comes at the wrong point of the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Wrong {
    #[error("{0} is already dispatched for this SHA")]
    AlreadyDispatched(Environment),
    #[error("{env} is not deployed for {} yet", .sha.short())]
    NotDeployedYet { env: Environment, sha: Sha },
    #[error("{} is no longer the head ({} is)", .sha.short(), .head.short())]
    NotHead { sha: Sha, head: Sha },
    #[error("CI is not green on {}", .0.short())]
    CiNotGreen(Sha),
    #[error("{}", quorum_text(.word, *.have, *.need, .sha))]
    Quorum {
        word: String,
        have: usize,
        need: usize,
        sha: Sha,
    },
    #[error("{env} is not deployed for {}", .sha.short())]
    NotDeployed { env: Environment, sha: Sha },
    #[error("{env} is not verified for {}", .sha.short())]
    NotVerified { env: Environment, sha: Sha },
    #[error("{env} may be deployed from {} (its soak after {previous})", .until.to_rfc3339())]
    Soaking {
        env: Environment,
        previous: Environment,
        until: DateTime<Utc>,
    },
    #[error("a deploy to {0} is still running")]
    DeployRunning(Environment),
    #[error("dispatch {0} is no longer pending")]
    NotPending(DispatchId),
    #[error("{0} is not a stage of this repository's chain")]
    NotInChain(Environment),
    #[error("no {env} deploy of {} failed", .sha.short())]
    NothingFailed { env: Environment, sha: Sha },
    #[error("{env} has no /{word} gate")]
    NoGate { env: Environment, word: String },
}

fn quorum_text(word: &str, have: usize, need: usize, sha: &Sha) -> String {
    if need == 1 {
        format!("there is no /{word} for {}", sha.short())
    } else {
        format!("{have} of {need} /{word} for {}", sha.short())
    }
}

/// The result of applying a fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: GateState,
    pub actions: Vec<Action>,
    /// Whether the state differs from the input.
    pub changed: bool,
    /// One line for the audit log.
    pub note: String,
}

/// The side effects of one delivery, as few as they can be: at most one
/// reply (every answer gathered into it, in order), each reaction once,
/// one check-run update. Dispatches and history records are kept as they are.
pub fn gather(actions: Vec<Action>) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::with_capacity(actions.len());
    let mut reply_at: Option<usize> = None;
    for a in actions {
        match a {
            Action::Reply { body } => match reply_at {
                Some(i) => {
                    if let Action::Reply { body: gathered } = &mut out[i] {
                        gathered.push_str("\n\n");
                        gathered.push_str(&body);
                    }
                }
                None => {
                    reply_at = Some(out.len());
                    out.push(Action::Reply { body });
                }
            },
            Action::SyncCheckRun | Action::React { .. } if out.contains(&a) => {}
            a => out.push(a),
        }
    }
    out
}

/// Applies `fact` to `state` under `policy`.
pub fn apply(state: &GateState, fact: &Fact, policy: &Policy<'_>) -> Transition {
    let mut m = Machine {
        s: state.clone(),
        actions: Vec::new(),
        policy,
    };
    let note = m.fact(fact);
    m.s.awaits_time = m.awaits_time();
    let changed = m.s != *state;
    if changed {
        m.s.updated_at = policy.now;
        if !m.actions.contains(&Action::SyncCheckRun) {
            m.actions.push(Action::SyncCheckRun);
        }
    }
    Transition {
        state: m.s,
        actions: m.actions,
        changed,
        note,
    }
}

struct Machine<'p, 'c> {
    s: GateState,
    actions: Vec<Action>,
    policy: &'p Policy<'c>,
}

impl Machine<'_, '_> {
    fn fact(&mut self, fact: &Fact) -> String {
        match fact {
            Fact::Opened => {
                self.actions.push(Action::SyncCheckRun);
                format!("opened at {}", self.s.head_sha.short())
            }
            Fact::Observed {
                open,
                head,
                base_ref,
                author_id,
                default_branch,
            } => {
                self.s.author_id = Some(*author_id);
                if self.s.default_branch != *default_branch {
                    self.s.default_branch = default_branch.clone();
                }
                self.observed(*open, head, base_ref)
            }
            Fact::Pushed { sha, by } => {
                // A late push of an older head still makes its pusher an
                // author: their commits are in every head after it.
                if !self.s.record_push(sha, by) {
                    return "push already known".into();
                }
                format!(
                    "{} pushed by @{} (id {}): an author of this pull request",
                    sha.short(),
                    by.login,
                    by.id
                )
            }
            Fact::Ci { sha, status } => self.ci(sha, *status),
            Fact::Config { error } => {
                if self.s.config_error == *error {
                    return "config unchanged".into();
                }
                self.s.config_error = error.clone();
                match error {
                    Some(e) => format!("config invalid: {e}"),
                    None => {
                        let dispatched = self.advance(None);
                        format!("config valid again{dispatched}")
                    }
                }
            }
            Fact::Command {
                comment_id,
                actor,
                command,
                written_at,
                rollback_target,
            } => {
                let result = self.command(actor, command, *written_at, rollback_target.as_ref());
                let name = command.name();
                match result {
                    Ok(reply) => {
                        self.actions.push(Action::React {
                            comment_id: *comment_id,
                            reaction: Reaction::Accepted,
                        });
                        if let Some(body) = reply {
                            self.actions.push(Action::Reply { body });
                        }
                        format!("/{name} by @{} (id {}) accepted", actor.login, actor.id)
                    }
                    Err(refusal) => {
                        self.actions.push(Action::React {
                            comment_id: *comment_id,
                            reaction: Reaction::Refused,
                        });
                        self.actions.push(Action::Reply {
                            body: format!("@{} `/{name}` refused: {refusal}.", actor.login),
                        });
                        format!(
                            "/{name} by @{} (id {}) refused: {refusal}",
                            actor.login, actor.id
                        )
                    }
                }
            }
            Fact::RunLinked {
                dispatch_id,
                run_id,
                url,
            } => match self.s.deploy_mut(dispatch_id) {
                // A finished dispatch keeps what it finished with.
                Some(d) if d.run_id.is_none() && d.status == DeployStatus::Pending => {
                    d.run_id = Some(*run_id);
                    d.run_url = url.clone().or(d.run_url.take());
                    format!("dispatch {dispatch_id} is run {run_id}")
                }
                _ => "run already linked or unknown".into(),
            },
            Fact::RunCompleted {
                dispatch_id,
                run_id,
                success,
                url,
                completed_at,
            } => self.run_completed(
                dispatch_id,
                *run_id,
                *success,
                url.as_deref(),
                *completed_at,
            ),
            Fact::DispatchCancelled {
                dispatch_id,
                reason,
            } => self.cancel_dispatch(dispatch_id, reason),
            Fact::TooManyCommands {
                login,
                acted_on,
                skipped,
            } => {
                self.actions.push(Action::Reply {
                    body: format!(
                        "@{login} gatebot acts on at most {acted_on} command lines per comment; the {skipped} after them were not read. Put each command you mean in a comment of its own."
                    ),
                });
                format!("{skipped} command lines by @{login} not read")
            }
            Fact::DispatchFailed {
                dispatch_id,
                reason,
            } => {
                let now = self.policy.now;
                match self.s.deploy_mut(dispatch_id) {
                    Some(d) if d.status == DeployStatus::Pending && d.run_id.is_none() => {
                        d.status = DeployStatus::Failed;
                        d.finished_at = Some(now);
                        // Refused before GitHub acted: it displaced nothing.
                        let id = dispatch_id.clone();
                        let body = format!(
                            "gatebot could not dispatch the {} {} of `{}`: {reason}",
                            d.environment,
                            kind_word(d.kind),
                            d.sha.short()
                        );
                        for g in &mut self.s.stages {
                            if let Some(own) = g.deploy.as_mut()
                                && own.displaced_by.as_ref() == Some(&id)
                            {
                                own.displaced_by = None;
                            }
                        }
                        self.s
                            .detached
                            .retain(|d| d.status == DeployStatus::Pending);
                        self.actions.push(Action::Reply { body });
                        format!("dispatch {dispatch_id} failed: {reason}")
                    }
                    _ => format!("dispatch failure for {dispatch_id} ignored"),
                }
            }
            Fact::NotUnderstood {
                comment_id,
                login,
                message,
            } => {
                self.actions.push(Action::React {
                    comment_id: *comment_id,
                    reaction: Reaction::Confused,
                });
                self.actions.push(Action::Reply {
                    body: format!(
                        "@{login} gatebot did not understand {message}. `/help` lists the commands."
                    ),
                });
                format!("command by @{login} not understood: {message}")
            }
            Fact::Reevaluate => {
                let dispatched = self.advance(None);
                format!("re-evaluated{dispatched}")
            }
            Fact::RolesLost {
                environment,
                givers,
            } => {
                let Some(gates) = self
                    .s
                    .stages
                    .iter_mut()
                    .find(|g| g.environment == *environment)
                else {
                    return "roles lost on a stage without gates: nothing to drop".into();
                };
                let mut dropped: Vec<String> = Vec::new();
                gates.approvals.retain(|a| {
                    let lost = a.id.is_some_and(|id| givers.contains(&id));
                    if lost {
                        dropped.push(format!(
                            "@{} (id {})",
                            a.login,
                            a.id.map(|i| i.0).unwrap_or(0)
                        ));
                    }
                    !lost
                });
                if dropped.is_empty() {
                    "roles lost by no one who gave a gate".into()
                } else {
                    format!(
                        "{environment} entry of {} no longer counts: the role is no longer theirs",
                        dropped.join(", ")
                    )
                }
            }
        }
    }

    /// Brings the record in line with what GitHub says now.
    fn observed(&mut self, open: bool, head: &Sha, base_ref: &str) -> String {
        let mut notes = Vec::new();
        if open && !self.s.open {
            self.s.open = true;
            self.s.head_sha = head.clone();
            self.void_gates();
            notes.push(format!("open at {}: gates start again", head.short()));
        } else if !open && self.s.open {
            self.s.open = false;
            self.detach_in_flight();
            notes.push("closed: gates stopped".to_string());
        }
        if *head != self.s.head_sha {
            self.s.head_sha = head.clone();
            self.void_gates();
            notes.push(format!("new head {}: approvals void", head.short()));
        }
        match self.s.base_ref.as_deref() {
            Some(old) if old != base_ref => {
                self.void_gates();
                notes.push(format!("base branch now {base_ref}: approvals void"));
                self.s.base_ref = Some(base_ref.to_string());
            }
            Some(_) => {}
            None => self.s.base_ref = Some(base_ref.to_string()),
        }
        if notes.is_empty() {
            "as GitHub reports".into()
        } else {
            notes.join("; ")
        }
    }

    fn ci(&mut self, sha: &Sha, status: CiStatus) -> String {
        if *sha != self.s.head_sha {
            return format!("CI for old SHA {} ignored", sha.short());
        }
        if !self.s.open {
            return "CI on a closed PR ignored".into();
        }
        // CI is tracked after the first deploy too: a re-run that turns
        // red stops any further dispatch for this SHA until it is green.
        if self.s.ci == status {
            return "CI unchanged".into();
        }
        self.s.ci = status;
        let dispatched = self.advance(None);
        format!("CI {status:?} on {}{dispatched}", sha.short())
    }

    fn run_completed(
        &mut self,
        id: &DispatchId,
        run_id: u64,
        success: bool,
        url: Option<&str>,
        completed_at: Option<DateTime<Utc>>,
    ) -> String {
        let now = completed_at.unwrap_or(self.policy.now);
        let Some(d) = self.s.deploy_mut(id) else {
            return format!("run {run_id} for unknown dispatch {id} ignored");
        };
        if d.status != DeployStatus::Pending {
            return format!("run {run_id} for finished dispatch {id} ignored");
        }
        if d.run_id.is_some_and(|known| known != run_id) {
            return format!("run {run_id} does not belong to dispatch {id}");
        }
        d.run_id = Some(run_id);
        d.status = if success {
            DeployStatus::Succeeded
        } else {
            DeployStatus::Failed
        };
        d.finished_at = Some(now);
        if let Some(u) = url {
            d.run_url = Some(u.to_string());
        }
        let deploy = d.clone();
        if success && deploy.kind != DeployKind::Verify {
            self.actions.push(Action::RecordDeploy {
                deploy: deploy.clone(),
            });
        }
        self.s
            .detached
            .retain(|d| d.status == DeployStatus::Pending);
        let verdict = if success { "succeeded" } else { "failed" };
        let dispatched = self.advance(None);
        format!(
            "{} {} of {} {verdict} (run {run_id}){dispatched}",
            deploy.environment,
            kind_word(deploy.kind),
            deploy.sha.short()
        )
    }

    /// A new head, a reopen or a new base: every gate starts again.
    /// In-flight deploys may finish; their results go to the environment's
    /// history only.
    fn void_gates(&mut self) {
        self.s.head_seen_at = Some(self.policy.now);
        self.detach_in_flight();
        self.s.ci = CiStatus::Pending;
        self.s.stages.clear();
    }

    /// Moves every dispatch still running off the head's gates.
    fn detach_in_flight(&mut self) {
        let mut in_flight = Vec::new();
        for gates in &mut self.s.stages {
            let verify = gates.verification.as_mut().and_then(|v| v.run.take());
            in_flight.extend(
                [gates.deploy.take(), verify]
                    .into_iter()
                    .flatten()
                    .filter(|d| d.status == DeployStatus::Pending),
            );
        }
        self.s.detached.extend(in_flight);
    }

    /// Whether the next stage may be waiting for time alone: its entry is
    /// met and it has a soak or freeze windows. Decided without the clock,
    /// so that a fact applied again, later, changes nothing; the
    /// reconciler's look at a stage that is not waiting after all is a
    /// no-op.
    fn awaits_time(&self) -> bool {
        let chain = self.chain();
        let Stage::WaitingForEntry(i) = self.s.stage(chain) else {
            return false;
        };
        let Some(stage) = chain.stages.get(i) else {
            return false;
        };
        let timed = stage.soak.is_some() || !stage.freeze.is_empty();
        let authors = self.s.authors();
        let entered = self
            .s
            .gates(&stage.environment)
            .map(|g| g.approvers(&self.s.head_sha, authors.as_ref(), None).len())
            .unwrap_or(0)
            >= stage.quorum();
        timed && entered
    }

    fn chain(&self) -> &Pipeline {
        &self.policy.config.pipeline
    }

    /// Dispatches the next stage the recorded facts now allow, if any;
    /// returns a note. Stages go one at a time: the next one only once
    /// this one passed.
    fn advance(&mut self, requested_by: Option<&str>) -> String {
        let head = self.s.head_sha.clone();
        let policy = self.policy;
        for (i, stage) in policy.config.pipeline.stages.iter().enumerate() {
            let gates = self.s.gates(&stage.environment);
            if gates.is_some_and(|g| g.passed_at(&head, stage).is_some()) {
                continue;
            }
            if gates.is_some_and(|g| g.deploy.is_some()) {
                // Deploying, failed, or waiting for its verification.
                return String::new();
            }
            match blocker(
                &self.s,
                &stage.environment,
                DeployKind::Promote,
                &head,
                policy,
            ) {
                None => {}
                // A freeze is checked last: every other gate is passed.
                Some(Refusal::Frozen { .. }) => {
                    return format!(
                        "; {} dispatch waits for the freeze to end",
                        stage.environment
                    );
                }
                Some(_) => return String::new(),
            }
            let by = match requested_by {
                Some(by) => by.to_string(),
                None => self.requester(i, &head),
            };
            let d = self.dispatch(stage, DeployKind::Promote, head, &by);
            self.s.gates_mut(&stage.environment).deploy = Some(d);
            return format!("; {} deploy dispatched", stage.environment);
        }
        String::new()
    }

    /// Who asked for stage `i` when no command did: the entry giver who
    /// completed its quorum, else whoever asked for the stage before, else
    /// the PR's author (an `auto` first stage goes on their push).
    fn requester(&self, i: usize, head: &Sha) -> String {
        let chain = self.chain();
        let authors = self.s.authors();
        let own = chain.stages.get(i).and_then(|stage| {
            let given = self.s.gates(&stage.environment)?;
            let counted = given.approvers(head, authors.as_ref(), None);
            counted
                .get(stage.quorum().saturating_sub(1))
                .or(counted.last())
                .map(|a| a.login.clone())
        });
        let before = || {
            i.checked_sub(1)
                .and_then(|j| chain.stages.get(j))
                .and_then(|p| self.s.gates(&p.environment))
                .and_then(|g| g.deploy.as_ref())
                .map(|d| d.requested_by.clone())
        };
        own.or_else(before).unwrap_or_else(|| self.s.author.clone())
    }

    /// Takes back a dispatch the gates no longer allow. It was never sent
    /// (or its deployment is being rejected), so nothing of it remains but
    /// the record; the gate dispatches anew once allowed.
    fn cancel_dispatch(&mut self, id: &DispatchId, reason: &str) -> String {
        let Some(d) = self.s.deploy(id) else {
            return format!("cancel of unknown dispatch {id} ignored");
        };
        if d.status != DeployStatus::Pending {
            return format!("cancel of finished dispatch {id} ignored");
        }
        let d = d.clone();
        let is = |x: &Option<Deploy>| x.as_ref().is_some_and(|x| x.dispatch_id == *id);
        let mut found = false;
        for gates in &mut self.s.stages {
            if is(&gates.deploy) {
                gates.deploy = None;
                found = true;
            } else if gates.verification.as_ref().is_some_and(|v| is(&v.run)) {
                // The verification rested on that run: it must be given again.
                gates.verification = None;
                found = true;
            }
        }
        if !found {
            self.s.detached.retain(|x| x.dispatch_id != *id);
        }
        // Never sent: it displaced nothing.
        for g in &mut self.s.stages {
            if let Some(own) = g.deploy.as_mut()
                && own.displaced_by.as_ref() == Some(id)
            {
                own.displaced_by = None;
            }
        }
        self.actions.push(Action::Reply {
            body: format!(
                "gatebot cancelled the {} {} of `{}` (`{id}`): {reason}.",
                d.environment,
                kind_word(d.kind),
                d.sha.short()
            ),
        });
        format!("dispatch {id} cancelled: {reason}")
    }

    fn dispatch(&mut self, stage: &StageConfig, kind: DeployKind, sha: Sha, by: &str) -> Deploy {
        let dispatch_id = self.s.next_dispatch_id(&stage.environment, kind, &sha);
        let deploy = Deploy {
            dispatch_id,
            environment: stage.environment.clone(),
            kind,
            sha,
            requested_by: by.to_string(),
            at: self.policy.now,
            run_id: None,
            status: DeployStatus::Pending,
            finished_at: None,
            run_url: None,
            displaced_by: None,
        };
        let workflow = match kind {
            DeployKind::Verify => stage
                .verify
                .as_ref()
                .and_then(|v| v.workflow.clone())
                .unwrap_or_else(|| stage.workflow.clone()),
            _ => stage.workflow.clone(),
        };
        let git_ref = self
            .policy
            .config
            .git_ref
            .clone()
            .unwrap_or_else(|| self.s.default_branch.clone());
        self.actions.push(Action::Dispatch {
            workflow,
            git_ref,
            deploy: deploy.clone(),
        });
        deploy
    }

    fn approval(&self, by: &Person) -> Approval {
        Approval {
            login: by.login.clone(),
            id: Some(by.id),
            sha: self.s.head_sha.clone(),
            at: self.policy.now,
        }
    }

    /// Runs one command; `Ok(Some(text))` when the answer needs a reply.
    fn command(
        &mut self,
        actor: &Actor,
        command: &Command,
        written_at: Option<DateTime<Utc>>,
        rollback_target: Option<&Sha>,
    ) -> Result<Option<String>, Refusal> {
        // An unusable config is the first thing to fix: say so before
        // anything that depends on it (roles come from it).
        if let Some(error) = &self.s.config_error
            && !matches!(
                command,
                Command::Hold { .. } | Command::Unhold | Command::Gates | Command::Help
            )
        {
            return Err(Refusal::Config(error.clone()));
        }
        let chain = &self.policy.config.pipeline;
        if let Some(role) = required_role(command, chain)
            && !actor.authorized
        {
            return Err(Refusal::NoPermission(role.describe(chain)));
        }
        match command {
            Command::Help => return Ok(Some(help_text(chain))),
            Command::Gates => return Ok(Some(summary::render(&self.s, self.policy).text)),
            _ => {}
        }
        // A rollback is not about the PR's head but about an environment:
        // it is what people need after a merge, so it works on closed PRs.
        if !self.s.open && !matches!(command, Command::Rollback(_)) {
            return Err(Refusal::Closed);
        }
        // A gate command binds to the head the person saw. One written
        // before gatebot learned of the head (a late or redelivered
        // comment, a push in between) was about another commit.
        if command.gives_gate()
            && written_at.is_none_or(|w| {
                // Past the clock's range: stale, never early.
                self.s
                    .gates_since()
                    .checked_add_signed(self.policy.clock_skew)
                    .is_none_or(|since| w < since)
            })
        {
            return Err(Refusal::Stale(self.s.head_sha.clone()));
        }
        if command.gives_gate() {
            // Only a PR into a gated base has gates to give.
            if !self.s.base_gated(chain) {
                let base = self.s.base_ref.clone().unwrap_or_default();
                return Err(Refusal::NotGated(base));
            }
            // No one who wrote the head gives its gates: its opener, and
            // whoever pushed it, by user id (a renamed account is the
            // same person).
            let Some(authors) = self.s.authors() else {
                return Err(Refusal::PusherUnknown(self.s.head_sha.clone()));
            };
            if authors.contains(actor.id) {
                return Err(Refusal::AuthorCannotApprove);
            }
        }
        let by = Person {
            id: actor.id,
            login: actor.login.clone(),
        };
        let login = &by;
        let policy = self.policy;
        let stage_of = |env: &Environment| {
            policy
                .config
                .pipeline
                .find(env)
                .ok_or_else(|| Refusal::WrongStage(Wrong::NotInChain(env.clone())))
        };
        match command {
            Command::Entry { word, env, cancel } => {
                let (_, stage) = stage_of(env)?;
                // The parser only makes a stage's own word; a fact that
                // says otherwise opens no gate.
                if !matches!(&stage.entry, Entry::Command(g) if g.word == *word) {
                    return Err(no_gate(env, word));
                }
                if *cancel {
                    self.cancel_entry(stage, word, login)
                } else {
                    self.give_entry(stage, login)
                }
            }
            Command::Verify { word, env, cancel } => {
                let (i, stage) = stage_of(env)?;
                if stage.verify.as_ref().is_none_or(|v| v.word != *word) {
                    return Err(no_gate(env, word));
                }
                if *cancel {
                    self.cancel_verification(i, env, login)
                } else {
                    self.give_verification(i, stage, login)
                }
            }
            Command::Rollback(env) => self.rollback(env, login, rollback_target),
            Command::Retry(env) => {
                let (_, stage) = stage_of(env)?;
                self.retry(stage, login)
            }
            Command::Hold { reason } => {
                self.s.hold = Some(Hold {
                    login: by.login.clone(),
                    id: Some(by.id),
                    reason: reason.clone(),
                    at: self.policy.now,
                });
                Ok(None)
            }
            Command::Unhold => {
                if self.s.hold.take().is_none() {
                    return Err(Refusal::NothingToCancel(
                        "this pull request is not held".into(),
                    ));
                }
                self.advance(Some(&by.login));
                Ok(None)
            }
            Command::Help | Command::Gates => Ok(None),
        }
    }

    /// A stage's entry command (`/lgtm`, `/approve`, …): one more of its
    /// quorum; a failed deploy of the stage is tried again.
    fn give_entry(&mut self, stage: &StageConfig, by: &Person) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        let approval = self.approval(by);
        let gates = self.s.gates_mut(env);
        retry_if_failed(&mut gates.deploy, env)?;
        let given = gates
            .approvals
            .iter()
            .any(|a| a.sha == approval.sha && a.given_by(by.id));
        if !given {
            gates.approvals.push(approval);
        }
        self.advance(Some(&by.login));
        let undispatched = self.s.gates(env).is_none_or(|g| g.deploy.is_none());
        let mut reply = self.held_note().or_else(|| self.busy_note(env));
        if reply.is_none() && undispatched {
            reply = frozen(stage, self.policy.now).map(|f| format!("Approval recorded, but {f}."));
        }
        Ok(reply)
    }

    fn cancel_entry(
        &mut self,
        stage: &StageConfig,
        word: &str,
        by: &Person,
    ) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        let head = self.s.head_sha.clone();
        let given = self
            .s
            .gates(env)
            .map(|g| g.approvals.as_slice())
            .unwrap_or_default();
        if !given.iter().any(|a| a.given_by(by.id) && a.sha == head) {
            let other = given.iter().find(|a| a.sha == head);
            return Err(match other {
                None => Refusal::NothingToCancel(format!("no /{word} on this SHA")),
                Some(a) if stage.quorum() == 1 => Refusal::NotYours(a.login.clone()),
                Some(_) => {
                    Refusal::NothingToCancel(format!("you have not given /{word} for this SHA"))
                }
            });
        }
        let gates = self.s.gates_mut(env);
        retry_if_failed(&mut gates.deploy, env)?;
        let Some(pos) = gates
            .approvals
            .iter()
            .position(|a| a.given_by(by.id) && a.sha == head)
        else {
            return Ok(None);
        };
        gates.approvals.remove(pos);
        Ok(None)
    }

    /// The stage after `i`, when its deploy is already made: a
    /// verification of `i` can then no longer change.
    fn next_dispatched(&self, i: usize) -> Option<Environment> {
        let next = self.chain().stages.get(i + 1)?;
        self.s
            .gates(&next.environment)
            .and_then(|g| g.deploy.as_ref())
            .map(|_| next.environment.clone())
    }

    fn held_note(&self) -> Option<String> {
        held(&self.s).map(|h| format!("Recorded, but {h} to let gatebot dispatch."))
    }

    /// When the head's deploy to `env` waits only for another deploy still
    /// running there, says so.
    fn busy_note(&self, env: &Environment) -> Option<String> {
        if self.s.gates(env).is_some_and(|g| g.deploy.is_some()) {
            return None;
        }
        match blocker(
            &self.s,
            env,
            DeployKind::Promote,
            &self.s.head_sha,
            self.policy,
        ) {
            Some(Refusal::WrongStage(running @ Wrong::DeployRunning(_))) => Some(format!(
                "Recorded, but {running}: gatebot dispatches `{}` to {env} when it finishes.",
                self.s.head_sha.short()
            )),
            _ => None,
        }
    }

    fn give_verification(
        &mut self,
        i: usize,
        stage: &StageConfig,
        by: &Person,
    ) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        let head = self.s.head_sha.clone();
        if !self.s.gates(env).is_some_and(|g| g.deployed(&head)) {
            return Err(Refusal::WrongStage(Wrong::NotDeployedYet {
                env: env.clone(),
                sha: head,
            }));
        }
        if let Some(next) = self.next_dispatched(i) {
            return Err(Refusal::WrongStage(Wrong::AlreadyDispatched(next)));
        }
        if let Some(v) = self.s.gates(env).and_then(|g| g.verification.as_ref())
            && v.run
                .as_ref()
                .is_none_or(|r| r.status != DeployStatus::Failed)
        {
            // Already verified or verifying: nothing more to do.
            return Ok(None);
        }
        let runs_workflow = stage.verify.as_ref().is_some_and(|v| v.workflow.is_some());
        let run = if runs_workflow {
            if let Some(b) = blocker(&self.s, env, DeployKind::Verify, &head, self.policy) {
                return Err(b);
            }
            Some(self.dispatch(stage, DeployKind::Verify, head.clone(), &by.login))
        } else {
            None
        };
        self.s.gates_mut(env).verification = Some(Verification {
            login: by.login.clone(),
            id: Some(by.id),
            sha: head,
            at: self.policy.now,
            run,
        });
        self.advance(Some(&by.login));
        let next = self
            .chain()
            .stages
            .get(i + 1)
            .map(|s| s.environment.clone());
        Ok(self
            .held_note()
            .or_else(|| next.and_then(|n| self.busy_note(&n))))
    }

    fn cancel_verification(
        &mut self,
        i: usize,
        env: &Environment,
        by: &Person,
    ) -> Result<Option<String>, Refusal> {
        let Some(v) = self.s.gates(env).and_then(|g| g.verification.as_ref()) else {
            return Err(Refusal::NothingToCancel(format!("{env} is not verified")));
        };
        if v.id != Some(by.id) {
            return Err(Refusal::NotYours(v.login.clone()));
        }
        if let Some(next) = self.next_dispatched(i) {
            return Err(Refusal::WrongStage(Wrong::AlreadyDispatched(next)));
        }
        let gates = self.s.gates_mut(env);
        let run = gates.verification.take().and_then(|v| v.run);
        // A verify run still going is kept track of, detached.
        self.s
            .detached
            .extend(run.filter(|r| r.status == DeployStatus::Pending));
        Ok(None)
    }

    /// `/retry <env>`: the stage's failed deploy of the head is dispatched
    /// again, once every gate allows it (an `auto` stage has no command to
    /// give again; any stage may be retried this way).
    fn retry(&mut self, stage: &StageConfig, by: &Person) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        let head = self.s.head_sha.clone();
        let deploy = self.s.gates(env).and_then(|g| g.deploy.as_ref());
        // Failed, or rolled back since it succeeded.
        let displaced = deploy.is_some_and(|d| d.displaced_by.is_some());
        let redo = deploy.is_some_and(|d| d.status == DeployStatus::Failed) || displaced;
        if !redo {
            return Err(Refusal::WrongStage(Wrong::NothingFailed {
                env: env.clone(),
                sha: head,
            }));
        }
        let gates = self.s.gates_mut(env);
        let (deploy, verification) = (gates.deploy.take(), gates.verification.take());
        if let Some(b) = blocker(&self.s, env, DeployKind::Promote, &head, self.policy) {
            let gates = self.s.gates_mut(env);
            gates.deploy = deploy;
            gates.verification = verification;
            return Err(b);
        }
        // What was verified was rolled back: the new deploy is verified
        // anew (a failed deploy had nothing verified). A verify run still
        // going is kept track of, detached.
        if displaced {
            let run = verification.and_then(|v| v.run);
            self.s
                .detached
                .extend(run.filter(|r| r.status == DeployStatus::Pending));
        } else {
            self.s.gates_mut(env).verification = verification;
        }
        self.advance(Some(&by.login));
        Ok(None)
    }

    fn rollback(
        &mut self,
        env: &Environment,
        by: &Person,
        target: Option<&Sha>,
    ) -> Result<Option<String>, Refusal> {
        let head = self.s.head_sha.clone();
        if let Some(b) = blocker(&self.s, env, DeployKind::Rollback, &head, self.policy) {
            return Err(b);
        }
        let Some(target) = target else {
            return Err(Refusal::NoRollbackTarget(env.clone()));
        };
        if self.s.deploys().any(|d| d.occupies(env)) {
            return Err(Refusal::WrongStage(Wrong::DeployRunning(env.clone())));
        }
        let Some((_, stage)) = self.policy.config.pipeline.find(env) else {
            return Err(Refusal::WrongStage(Wrong::NotInChain(env.clone())));
        };
        let d = self.dispatch(stage, DeployKind::Rollback, target.clone(), &by.login);
        let mut reply = format!(
            "Rolling {env} back to {} (dispatch `{}`).",
            target.short(),
            d.dispatch_id
        );
        // What this PR deployed there no longer runs: no gate may rest on
        // it (a later stage's promotion waits for `/retry {env}`).
        if let Some(own) = self.s.gates_mut(env).deploy.as_mut()
            && own.status == DeployStatus::Succeeded
            && own.displaced_by.is_none()
        {
            own.displaced_by = Some(d.dispatch_id.clone());
            reply.push_str(&format!(
                " This pull request's {env} deploy of `{}` no longer counts; `/retry {env}` deploys it again.",
                own.sha.short()
            ));
        }
        self.s.detached.push(d);
        Ok(Some(reply))
    }
}

fn no_gate(env: &Environment, word: &str) -> Refusal {
    Refusal::WrongStage(Wrong::NoGate {
        env: env.clone(),
        word: word.to_string(),
    })
}

fn frozen(stage: &StageConfig, now: DateTime<Utc>) -> Option<Refusal> {
    stage.active_freeze(now).map(|w| Refusal::Frozen {
        env: stage.environment.clone(),
        until: w.to.to_rfc3339(),
        reason: w.reason.clone(),
    })
}

fn held(s: &GateState) -> Option<Refusal> {
    s.hold.as_ref().map(|h| Refusal::Held {
        by: h.login.clone(),
        reason: h.reason.clone(),
    })
}

/// Why a `kind` deploy of `sha` to `env` may not be dispatched now, or
/// `None` when every gate allows it. This one function decides the first
/// dispatch, every retry and reconciler attempt of a queued one, and the
/// deployment protection rule's answer, so they can never disagree.
///
/// A promotion to a stage needs every earlier stage passed for the same
/// SHA (deployed, and verified where the stage has a verification), the
/// stage's entry gate, its soak, no freeze, no hold and no other deploy
/// running there.
pub fn blocker(
    s: &GateState,
    env: &Environment,
    kind: DeployKind,
    sha: &Sha,
    policy: &Policy<'_>,
) -> Option<Refusal> {
    if let Some(e) = &s.config_error {
        return Some(Refusal::Config(e.clone()));
    }
    if let Some(h) = held(s) {
        return Some(h);
    }
    let wrong = |why: Wrong| Some(Refusal::WrongStage(why));
    let chain = &policy.config.pipeline;
    let Some((i, stage)) = chain.find(env) else {
        return wrong(Wrong::NotInChain(env.clone()));
    };
    let freeze = || frozen(stage, policy.now);
    if kind == DeployKind::Rollback {
        return freeze();
    }
    if !s.open {
        return Some(Refusal::Closed);
    }
    if !s.base_gated(chain) {
        return Some(Refusal::NotGated(s.base_ref.clone().unwrap_or_default()));
    }
    if *sha != s.head_sha {
        return wrong(Wrong::NotHead {
            sha: sha.clone(),
            head: s.head_sha.clone(),
        });
    }
    if s.ci != CiStatus::Green {
        return wrong(Wrong::CiNotGreen(sha.clone()));
    }
    let empty = StageState::new(env.clone());
    let gates_of = |c: &StageConfig| s.gates(&c.environment).unwrap_or(&empty);
    match kind {
        DeployKind::Promote => {
            let mut previous_passed = None;
            for earlier in chain.stages.iter().take(i) {
                let g = gates_of(earlier);
                let Some(at) = g.passed_at(sha, earlier) else {
                    let env = earlier.environment.clone();
                    return wrong(if g.deployed(sha) {
                        Wrong::NotVerified {
                            env,
                            sha: sha.clone(),
                        }
                    } else {
                        Wrong::NotDeployed {
                            env,
                            sha: sha.clone(),
                        }
                    });
                };
                previous_passed = Some((earlier, at));
            }
            if let Entry::Command(gate) = &stage.entry {
                let need = gate.approvals as usize;
                let authors = s.authors();
                let have = gates_of(stage)
                    .approvers(sha, authors.as_ref(), policy.holders)
                    .len();
                if have < need {
                    return wrong(Wrong::Quorum {
                        word: gate.word.clone(),
                        have,
                        need,
                        sha: sha.clone(),
                    });
                }
            }
            if let (Some(_), Some((previous, at))) = (stage.soak, previous_passed)
                && policy.now < stage.soak_end(at)
            {
                return wrong(Wrong::Soaking {
                    env: env.clone(),
                    previous: previous.environment.clone(),
                    until: stage.soak_end(at),
                });
            }
            // One deploy to an environment at a time: a promotion waits for
            // a rollback, or for the deploy of an earlier head, still
            // running there (whichever finished last would decide what the
            // environment runs).
            if s.detached.iter().any(|d| d.occupies(env)) {
                return wrong(Wrong::DeployRunning(env.clone()));
            }
        }
        DeployKind::Verify => {
            if !gates_of(stage).deployed(sha) {
                return wrong(Wrong::NotDeployed {
                    env: env.clone(),
                    sha: sha.clone(),
                });
            }
        }
        DeployKind::Rollback => {}
    }
    // Last, so that a freeze alone means every other gate is passed.
    freeze()
}

/// Why the queued dispatch `dispatch_id` may no longer go ahead, or `None`.
pub fn dispatch_blocker(
    s: &GateState,
    dispatch_id: &DispatchId,
    policy: &Policy<'_>,
) -> Option<Refusal> {
    let Some(d) = s.deploy(dispatch_id) else {
        return Some(Refusal::WrongStage(Wrong::NotPending(dispatch_id.clone())));
    };
    if d.status != DeployStatus::Pending {
        return Some(Refusal::WrongStage(Wrong::NotPending(dispatch_id.clone())));
    }
    blocker(s, &d.environment, d.kind, &d.sha, policy)
}

/// A command that would (re)start a deploy: refused while `deploy` is
/// running or done; a failed one is cleared so it can be dispatched again.
fn retry_if_failed(deploy: &mut Option<Deploy>, env: &Environment) -> Result<(), Refusal> {
    match deploy.as_ref().map(|d| d.status) {
        Some(DeployStatus::Pending) | Some(DeployStatus::Succeeded) => {
            Err(Refusal::WrongStage(Wrong::AlreadyDispatched(env.clone())))
        }
        Some(DeployStatus::Failed) => {
            *deploy = None;
            Ok(())
        }
        None => Ok(()),
    }
}

fn kind_word(kind: DeployKind) -> &'static str {
    match kind {
        DeployKind::Promote => "deploy",
        DeployKind::Verify => "verification",
        DeployKind::Rollback => "rollback",
    }
}
