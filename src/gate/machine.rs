//! `apply(state, fact, policy) -> (state, actions)`: the whole promotion
//! logic, pure and deterministic. The caller persists the new state together
//! with the actions (as pending side effects) and then performs them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ci::CiStatus;
use super::state::{Approval, Deploy, DeployKind, DeployStatus, GateState, Hold, Verification};
use super::summary;
use crate::commands::{Command, HELP_TEXT};
use crate::config::RepoConfig;
use crate::domain::{DispatchId, Environment, Sha};

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
    },
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
    /// Lowercase login.
    pub login: String,
    /// Holds the role the command requires (see [`required_role`]).
    pub authorized: bool,
}

/// The role a command needs, resolved by the caller before `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Qa,
    Release,
    QaOrRelease,
    /// Read access to the repository.
    Read,
}

impl Role {
    pub fn describe(self) -> &'static str {
        match self {
            Role::Qa => "qa",
            Role::Release => "release",
            Role::QaOrRelease => "qa or release",
            Role::Read => "read",
        }
    }
}

/// The role each command requires; `None` for commands anyone may use or
/// whose permission is ownership (the cancel forms).
pub fn required_role(command: &Command) -> Option<Role> {
    match command {
        Command::Lgtm | Command::VerifyStage => Some(Role::Qa),
        Command::Approve => Some(Role::Release),
        Command::Rollback(Environment::Production) => Some(Role::Release),
        Command::Rollback(Environment::Staging) => Some(Role::Qa),
        Command::Hold { .. } | Command::Unhold => Some(Role::QaOrRelease),
        Command::Gates => Some(Role::Read),
        Command::LgtmCancel
        | Command::VerifyStageCancel
        | Command::ApproveCancel
        | Command::Help => None,
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
}

impl<'a> Policy<'a> {
    /// The policy gatebot runs with: [`CLOCK_SKEW`].
    pub fn new(config: &'a RepoConfig, now: DateTime<Utc>) -> Self {
        Policy {
            config,
            now,
            clock_skew: CLOCK_SKEW,
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
    NoPermission(&'static str),
    #[error("the author of a pull request cannot approve their own change")]
    AuthorCannotApprove,
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
    #[error("dispatches are held by @{by}{}; `/unhold` first", .reason.as_ref().map(|r| format!(" ({})", crate::markdown::code_span(r))).unwrap_or_default())]
    Held { by: String, reason: Option<String> },
    #[error("production is frozen until {until}{}", .reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Frozen {
        until: String,
        reason: Option<String>,
    },
    #[error("only @{0} can cancel it")]
    NotYours(String),
    #[error("there is nothing to cancel: {0}")]
    NothingToCancel(&'static str),
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
    #[error("staging is not deployed for {} yet", .0.short())]
    NotStagedYet(Sha),
    #[error("{} is no longer the head ({} is)", .sha.short(), .head.short())]
    NotHead { sha: Sha, head: Sha },
    #[error("CI is not green on {}", .0.short())]
    CiNotGreen(Sha),
    #[error("there is no /lgtm for {}", .0.short())]
    NoLgtm(Sha),
    #[error("staging is not deployed for {}", .0.short())]
    NotStaged(Sha),
    #[error("staging is not verified for {}", .0.short())]
    NotVerified(Sha),
    #[error("{have} of {need} approvals for {}", .sha.short())]
    Quorum { have: usize, need: usize, sha: Sha },
    #[error("a deploy to {0} is still running")]
    DeployRunning(Environment),
    #[error("dispatch {0} is no longer pending")]
    NotPending(DispatchId),
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
            } => self.observed(*open, head, base_ref),
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
                        format!("/{name} by @{} accepted", actor.login)
                    }
                    Err(refusal) => {
                        self.actions.push(Action::React {
                            comment_id: *comment_id,
                            reaction: Reaction::Refused,
                        });
                        self.actions.push(Action::Reply {
                            body: format!("@{} `/{name}` refused: {refusal}.", actor.login),
                        });
                        format!("/{name} by @{} refused: {refusal}", actor.login)
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
                        let body = format!(
                            "gatebot could not dispatch the {} {} of `{}`: {reason}",
                            d.environment,
                            kind_word(d.kind),
                            d.sha.short()
                        );
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
            self.reset_for_head(head.clone());
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
        // CI is tracked after staging too: a re-run that turns red stops
        // any further dispatch for this SHA until it is green again.
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

    /// A new head: every gate starts again. In-flight deploys of the old head
    /// may finish; their results go to the environment's history only.
    fn reset_for_head(&mut self, sha: Sha) {
        self.s.head_sha = sha;
        self.void_gates();
    }

    fn void_gates(&mut self) {
        self.s.head_seen_at = Some(self.policy.now);
        self.detach_in_flight();
        self.s.ci = CiStatus::Pending;
        self.s.lgtm = None;
        self.s.stage = None;
        self.s.verification = None;
        self.s.approvals.clear();
        self.s.prod = None;
    }

    fn detach_in_flight(&mut self) {
        let verify = self.s.verification.as_mut().and_then(|v| v.run.take());
        let in_flight: Vec<Deploy> = [self.s.stage.take(), self.s.prod.take(), verify]
            .into_iter()
            .flatten()
            .filter(|d| d.status == DeployStatus::Pending)
            .collect();
        self.s.detached.extend(in_flight);
    }

    fn freeze(&self) -> Option<Refusal> {
        frozen(self.policy)
    }

    fn held(&self) -> Option<Refusal> {
        held(&self.s)
    }

    /// Dispatches whatever the recorded facts now allow; returns a note.
    fn advance(&mut self, requested_by: Option<&str>) -> String {
        let head = self.s.head_sha.clone();
        if self.s.stage.is_none() {
            let Some(lgtm) = self.s.lgtm.clone().filter(|l| l.sha == head) else {
                return String::new();
            };
            if blocker(
                &self.s,
                Environment::Staging,
                DeployKind::Promote,
                &head,
                self.policy,
            )
            .is_some()
            {
                return String::new();
            }
            let by = requested_by.unwrap_or(&lgtm.login).to_string();
            let d = self.dispatch(Environment::Staging, DeployKind::Promote, head, &by);
            self.s.stage = Some(d);
            return "; stage deploy dispatched".into();
        }
        if self.s.prod.is_some() {
            return String::new();
        }
        match blocker(
            &self.s,
            Environment::Production,
            DeployKind::Promote,
            &head,
            self.policy,
        ) {
            None => {}
            // A freeze is checked last: every other gate is passed.
            Some(Refusal::Frozen { .. }) => {
                return "; production dispatch waits for the freeze to end".into();
            }
            Some(_) => return String::new(),
        }
        let by = match requested_by {
            Some(by) => by.to_string(),
            None => self
                .s
                .approvals
                .iter()
                .rev()
                .find(|a| a.sha == head && a.login != self.s.author)
                .map(|a| a.login.clone())
                .unwrap_or_default(),
        };
        let d = self.dispatch(Environment::Production, DeployKind::Promote, head, &by);
        self.s.prod = Some(d);
        "; production deploy dispatched".into()
    }

    /// Takes back a dispatch the gates no longer allow. It was never sent
    /// (or its deployment is being rejected), so nothing of it remains but
    /// the record; the gate dispatches anew once allowed.
    fn cancel_dispatch(&mut self, id: &DispatchId, reason: &str) -> String {
        let Some(d) = self.s.deploy_mut(id) else {
            return format!("cancel of unknown dispatch {id} ignored");
        };
        if d.status != DeployStatus::Pending {
            return format!("cancel of finished dispatch {id} ignored");
        }
        let d = d.clone();
        if self.s.stage.as_ref().is_some_and(|x| x.dispatch_id == *id) {
            self.s.stage = None;
        } else if self.s.prod.as_ref().is_some_and(|x| x.dispatch_id == *id) {
            self.s.prod = None;
        } else if self
            .s
            .verification
            .as_ref()
            .and_then(|v| v.run.as_ref())
            .is_some_and(|x| x.dispatch_id == *id)
        {
            // The verification rested on that run: it must be given again.
            self.s.verification = None;
        } else {
            self.s.detached.retain(|x| x.dispatch_id != *id);
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

    fn dispatch(&mut self, env: Environment, kind: DeployKind, sha: Sha, by: &str) -> Deploy {
        let config = self.policy.config;
        let dispatch_id = self.s.next_dispatch_id(env, kind, &sha);
        let deploy = Deploy {
            dispatch_id,
            environment: env,
            kind,
            sha,
            requested_by: by.to_string(),
            at: self.policy.now,
            run_id: None,
            status: DeployStatus::Pending,
            finished_at: None,
            run_url: None,
        };
        let workflow = match kind {
            DeployKind::Verify => config
                .workflows
                .verify
                .clone()
                .unwrap_or_else(|| config.workflow(env).to_string()),
            _ => config.workflow(env).to_string(),
        };
        let git_ref = config
            .workflows
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

    fn approval(&self, login: &str) -> Approval {
        Approval {
            login: login.to_string(),
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
        let role = required_role(command);
        if let Some(role) = role
            && !actor.authorized
        {
            return Err(Refusal::NoPermission(role.describe()));
        }
        match command {
            Command::Help => return Ok(Some(HELP_TEXT.to_string())),
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
        if matches!(
            command,
            Command::Lgtm | Command::Approve | Command::VerifyStage
        ) && written_at.is_none_or(|w| w < self.s.gates_since() + self.policy.clock_skew)
        {
            return Err(Refusal::Stale(self.s.head_sha.clone()));
        }
        let login = actor.login.as_str();
        let is_author = login == self.s.author;
        match command {
            Command::Lgtm => {
                if is_author {
                    return Err(Refusal::AuthorCannotApprove);
                }
                retry_if_failed(&mut self.s.stage, Environment::Staging)?;
                if self.s.lgtm.is_none() {
                    self.s.lgtm = Some(self.approval(login));
                }
                self.advance(Some(login));
                Ok(self
                    .held_note()
                    .or_else(|| self.busy_note(Environment::Staging)))
            }
            Command::LgtmCancel => {
                let Some(lgtm) = &self.s.lgtm else {
                    return Err(Refusal::NothingToCancel("no /lgtm on this SHA"));
                };
                if lgtm.login != login {
                    return Err(Refusal::NotYours(lgtm.login.clone()));
                }
                retry_if_failed(&mut self.s.stage, Environment::Staging)?;
                self.s.lgtm = None;
                Ok(None)
            }
            Command::VerifyStage => self.verify_stage(login),
            Command::VerifyStageCancel => {
                let Some(v) = &self.s.verification else {
                    return Err(Refusal::NothingToCancel("staging is not verified"));
                };
                if v.login != login {
                    return Err(Refusal::NotYours(v.login.clone()));
                }
                if self.s.prod.is_some() {
                    return Err(Refusal::WrongStage(Wrong::AlreadyDispatched(
                        Environment::Production,
                    )));
                }
                if v.run
                    .as_ref()
                    .is_some_and(|r| r.status == DeployStatus::Pending)
                {
                    let run = self.s.verification.take().and_then(|v| v.run);
                    self.s.detached.extend(run);
                } else {
                    self.s.verification = None;
                }
                Ok(None)
            }
            Command::Approve => {
                if is_author {
                    return Err(Refusal::AuthorCannotApprove);
                }
                retry_if_failed(&mut self.s.prod, Environment::Production)?;
                if !self.s.approvers().contains(&login) {
                    let approval = self.approval(login);
                    self.s.approvals.push(approval);
                }
                self.advance(Some(login));
                let mut reply = self
                    .held_note()
                    .or_else(|| self.busy_note(Environment::Production));
                if reply.is_none() && self.s.prod.is_none() {
                    reply = self
                        .freeze()
                        .map(|f| format!("Approval recorded, but {f}."));
                }
                Ok(reply)
            }
            Command::ApproveCancel => {
                let head = self.s.head_sha.clone();
                let Some(pos) = self
                    .s
                    .approvals
                    .iter()
                    .position(|a| a.login == login && a.sha == head)
                else {
                    return Err(Refusal::NothingToCancel("you have not approved this SHA"));
                };
                if self.s.prod.is_some() {
                    return Err(Refusal::WrongStage(Wrong::AlreadyDispatched(
                        Environment::Production,
                    )));
                }
                self.s.approvals.remove(pos);
                Ok(None)
            }
            Command::Rollback(env) => self.rollback(*env, login, rollback_target),
            Command::Hold { reason } => {
                self.s.hold = Some(Hold {
                    login: login.to_string(),
                    reason: reason.clone(),
                    at: self.policy.now,
                });
                Ok(None)
            }
            Command::Unhold => {
                if self.s.hold.take().is_none() {
                    return Err(Refusal::NothingToCancel("this pull request is not held"));
                }
                self.advance(Some(login));
                Ok(None)
            }
            Command::Help | Command::Gates => Ok(None),
        }
    }

    fn held_note(&self) -> Option<String> {
        self.held()
            .map(|h| format!("Recorded, but {h} to let gatebot dispatch."))
    }

    /// When the head's deploy to `env` waits only for another deploy still
    /// running there, says so.
    fn busy_note(&self, env: Environment) -> Option<String> {
        let undispatched = match env {
            Environment::Staging => self.s.stage.is_none(),
            Environment::Production => self.s.prod.is_none(),
        };
        if !undispatched {
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

    fn verify_stage(&mut self, login: &str) -> Result<Option<String>, Refusal> {
        if login == self.s.author {
            return Err(Refusal::AuthorCannotApprove);
        }
        let staged = self
            .s
            .stage
            .as_ref()
            .is_some_and(|d| d.status == DeployStatus::Succeeded);
        if !staged {
            return Err(Refusal::WrongStage(Wrong::NotStagedYet(
                self.s.head_sha.clone(),
            )));
        }
        if self.s.prod.is_some() {
            return Err(Refusal::WrongStage(Wrong::AlreadyDispatched(
                Environment::Production,
            )));
        }
        if let Some(v) = &self.s.verification
            && v.run
                .as_ref()
                .is_none_or(|r| r.status != DeployStatus::Failed)
        {
            // Already verified or verifying: nothing more to do.
            return Ok(None);
        }
        let head = self.s.head_sha.clone();
        let run = if self.policy.config.workflows.verify.is_some() {
            if let Some(b) = blocker(
                &self.s,
                Environment::Staging,
                DeployKind::Verify,
                &head,
                self.policy,
            ) {
                return Err(b);
            }
            Some(self.dispatch(
                Environment::Staging,
                DeployKind::Verify,
                head.clone(),
                login,
            ))
        } else {
            None
        };
        self.s.verification = Some(Verification {
            login: login.to_string(),
            sha: head,
            at: self.policy.now,
            run,
        });
        self.advance(Some(login));
        Ok(self
            .held_note()
            .or_else(|| self.busy_note(Environment::Production)))
    }

    fn rollback(
        &mut self,
        env: Environment,
        login: &str,
        target: Option<&Sha>,
    ) -> Result<Option<String>, Refusal> {
        let head = self.s.head_sha.clone();
        if let Some(b) = blocker(&self.s, env, DeployKind::Rollback, &head, self.policy) {
            return Err(b);
        }
        let Some(target) = target else {
            return Err(Refusal::NoRollbackTarget(env));
        };
        if self.s.deploys().any(|d| d.occupies(env)) {
            return Err(Refusal::WrongStage(Wrong::DeployRunning(env)));
        }
        let d = self.dispatch(env, DeployKind::Rollback, target.clone(), login);
        self.s.detached.push(d);
        Ok(Some(format!(
            "Rolling {env} back to {} (dispatch `{}`).",
            target.short(),
            self.s
                .detached
                .last()
                .map(|d| d.dispatch_id.as_str())
                .unwrap_or_default()
        )))
    }
}

fn frozen(policy: &Policy<'_>) -> Option<Refusal> {
    policy
        .config
        .active_freeze(policy.now)
        .map(|w| Refusal::Frozen {
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
pub fn blocker(
    s: &GateState,
    env: Environment,
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
    let freeze = || match env {
        Environment::Production => frozen(policy),
        Environment::Staging => None,
    };
    if kind == DeployKind::Rollback {
        return freeze();
    }
    if !s.open {
        return Some(Refusal::Closed);
    }
    let wrong = |why: Wrong| Some(Refusal::WrongStage(why));
    if *sha != s.head_sha {
        return wrong(Wrong::NotHead {
            sha: sha.clone(),
            head: s.head_sha.clone(),
        });
    }
    if s.ci != CiStatus::Green {
        return wrong(Wrong::CiNotGreen(sha.clone()));
    }
    let staged = s
        .stage
        .as_ref()
        .is_some_and(|d| d.sha == *sha && d.status == DeployStatus::Succeeded);
    match (env, kind) {
        (Environment::Staging, DeployKind::Promote) => {
            if s.lgtm.as_ref().is_none_or(|l| l.sha != *sha) {
                return wrong(Wrong::NoLgtm(sha.clone()));
            }
        }
        (Environment::Staging, _) => {
            if !staged {
                return wrong(Wrong::NotStaged(sha.clone()));
            }
        }
        (Environment::Production, _) => {
            if !staged {
                return wrong(Wrong::NotStaged(sha.clone()));
            }
            if !s
                .verification
                .as_ref()
                .is_some_and(|v| v.sha == *sha && v.passed())
            {
                return wrong(Wrong::NotVerified(sha.clone()));
            }
            let need = policy.config.approvals.prod as usize;
            let have = s.approvers().len();
            if have < need {
                return wrong(Wrong::Quorum {
                    have,
                    need,
                    sha: sha.clone(),
                });
            }
        }
    }
    // One deploy to an environment at a time: a promotion waits for a
    // rollback, or for the deploy of an earlier head, still running there
    // (whichever finished last would decide what the environment runs).
    if kind == DeployKind::Promote && running_elsewhere(s, env) {
        return wrong(Wrong::DeployRunning(env));
    }
    // Last, so that a freeze alone means every other gate is passed.
    freeze()
}

/// A deploy to `env` in flight that is not the head's own gate: a rollback
/// or the promotion of an earlier head (verify runs deploy nothing).
fn running_elsewhere(s: &GateState, env: Environment) -> bool {
    s.detached.iter().any(|d| d.occupies(env))
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
    let (env, kind, sha) = (d.environment, d.kind, d.sha.clone());
    blocker(s, env, kind, &sha, policy)
}

/// A command that would (re)start a deploy: refused while `deploy` is
/// running or done; a failed one is cleared so it can be dispatched again.
fn retry_if_failed(deploy: &mut Option<Deploy>, env: Environment) -> Result<(), Refusal> {
    match deploy.as_ref().map(|d| d.status) {
        Some(DeployStatus::Pending) | Some(DeployStatus::Succeeded) => {
            Err(Refusal::WrongStage(Wrong::AlreadyDispatched(env)))
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
