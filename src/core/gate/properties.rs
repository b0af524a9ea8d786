//! Property tests of the gate machine: arbitrary sequences of facts —
//! pushes, closes, reopens, new bases, CI verdicts for any SHA, every
//! command by every kind of actor (the author, QA, release, a team member
//! holding both roles, a reader, an outsider), written on time, late or with
//! no time, run links and results (late, duplicated, older attempts, for
//! other dispatches, forged run ids), refused and cancelled dispatches,
//! config errors, holds, freezes, pushes by anyone (whose pusher is then an
//! author of the head), PRs into an ungated base, rollbacks that displace
//! the PR's own deploy, replays of any earlier fact — applied
//! one by one to [`apply`], with the invariants checked after every step.
//!
//! The invariants are checked against a [`Ledger`]: an account of what was
//! *given* (which facts a person with the right role gave for which head,
//! which runs succeeded) kept from the inputs alone, independent of the
//! machine's own bookkeeping. Where the ledger needs to know whether the
//! machine accepted something (a cancel), it can only make the check
//! stricter, never hide a violation.
//!
//! Shrunk failures become table tests in `machine_tests/`.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use super::ci::CiStatus;
use super::commands::Role;
use super::property_support::grant;
use super::property_support::{ALL_WHO, Who, accepted, sha, t0, transition_invariants};
use super::state::{Deploy, DeployKind, DeployStatus, GateState, StageGates};
use super::two_stage::*;
use super::{Action, Actor, Context, Fact, Grant, apply};
use crate::core::config::{self, RepoConfig};
use crate::core::domain::{DispatchId, Environment, Person, PrKey, RepoName, Sha};
use crate::core::gate::commands::Command;

/// The configs a case runs under.
const CONFIGS: [&str; 4] = [
    "",
    "workflows: {verify: smoke.yml}\napprovals: {prod: 2}",
    "approvals: {prod: 2}\nfreeze: [{from: \"2026-06-01T12:30:00Z\", to: \"2026-06-01T14:00:00Z\"}]",
    "workflows: {verify: smoke.yml}\napprovals: {prod: 3}",
];

/// The SHA a rollback goes back to: deployed before the PR.
fn old_sha() -> Sha {
    Sha::parse(&"e".repeat(40)).expect("fixed sha")
}

/// Which SHA a step is about.
#[derive(Debug, Clone, Copy)]
enum ShaSel {
    Head,
    Any(u8),
}

/// One generated step. Indices into the dispatches made so far are taken
/// modulo their number (counted from the latest), so every step applies.
#[derive(Debug, Clone)]
enum Step {
    Tick(u32),
    Observe {
        open: bool,
        head: ShaSel,
        base: u8,
    },
    /// The `synchronize` delivery of a SHA, naming who pushed it.
    Pushed {
        sha: ShaSel,
        by: Who,
    },
    Ci {
        sha: ShaSel,
        status: CiStatus,
    },
    Command {
        who: Who,
        command: Command,
        /// Seconds before now the comment says it was written; `None`: no time.
        written_ago: Option<u32>,
        rollback_target: bool,
    },
    Link {
        back: u8,
    },
    Complete {
        back: u8,
        success: bool,
    },
    ForgedComplete {
        back: u8,
        success: bool,
    },
    UnknownRun {
        success: bool,
    },
    DispatchFailed {
        back: u8,
    },
    DispatchCancelled {
        back: u8,
    },
    Config {
        broken: bool,
    },
    Reevaluate,
    Replay {
        back: u8,
    },
    /// The next fact of the happy path from where the PR stands (green CI,
    /// `/lgtm`, a run succeeding, `/verify-stage`, `/approve`), by one of
    /// the people holding the role: random facts alone rarely get far.
    Progress {
        pick: u8,
    },
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        2 => Just(Who::Qa),
        1 => Just(Who::Qa2),
        2 => Just(Who::Release),
        2 => Just(Who::Release2),
        1 => Just(Who::Team),
        1 => Just(Who::Author),
        1 => Just(Who::Reader),
        1 => Just(Who::Outsider),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => Just(lgtm()),
        1 => Just(lgtm_cancel()),
        4 => Just(verify_stage()),
        1 => Just(verify_stage_cancel()),
        6 => Just(approve()),
        1 => Just(approve_cancel()),
        1 => Just(Command::Rollback(production())),
        1 => Just(Command::Rollback(staging())),
        1 => Just(Command::Retry(staging())),
        1 => Just(Command::Retry(production())),
        1 => prop::option::of("[a-z ]{0,8}").prop_map(|reason| Command::Hold { reason }),
        1 => Just(Command::Unhold),
        1 => Just(Command::Gates),
        1 => Just(Command::Help),
    ]
}

fn sha_sel() -> impl Strategy<Value = ShaSel> {
    prop_oneof![4 => Just(ShaSel::Head), 1 => (0u8..4).prop_map(ShaSel::Any)]
}

fn step() -> impl Strategy<Value = Step> {
    let ci = prop_oneof![
        4 => Just(CiStatus::Green),
        1 => Just(CiStatus::Failed),
        1 => Just(CiStatus::Pending),
    ];
    prop_oneof![
        3 => prop_oneof![0u32..30, 0u32..7200].prop_map(Step::Tick),
        2 => (prop::bool::weighted(0.9), sha_sel(), prop::bool::weighted(0.1))
            .prop_map(|(open, head, rebase)| Step::Observe { open, head, base: u8::from(rebase) }),
        3 => (sha_sel(), ci).prop_map(|(sha, status)| Step::Ci { sha, status }),
        2 => (sha_sel(), who()).prop_map(|(sha, by)| Step::Pushed { sha, by }),
        14 => (
            who(),
            command(),
            prop_oneof![8 => (0u32..3).prop_map(Some), 1 => (0u32..3600).prop_map(Some), 1 => Just(None)],
            prop::bool::weighted(0.8),
        )
            .prop_map(|(who, command, written_ago, rollback_target)| Step::Command {
                who,
                command,
                written_ago,
                rollback_target,
            }),
        2 => any::<u8>().prop_map(|back| Step::Link { back: back % 3 }),
        6 => (any::<u8>(), prop::bool::weighted(0.8))
            .prop_map(|(back, success)| Step::Complete { back: back % 3, success }),
        1 => (any::<u8>(), any::<bool>())
            .prop_map(|(back, success)| Step::ForgedComplete { back: back % 3, success }),
        1 => any::<bool>().prop_map(|success| Step::UnknownRun { success }),
        1 => any::<u8>().prop_map(|back| Step::DispatchFailed { back: back % 3 }),
        1 => any::<u8>().prop_map(|back| Step::DispatchCancelled { back: back % 3 }),
        1 => prop::bool::weighted(0.3).prop_map(|broken| Step::Config { broken }),
        1 => Just(Step::Reevaluate),
        2 => any::<u8>().prop_map(|back| Step::Replay { back }),
        10 => any::<u8>().prop_map(|pick| Step::Progress { pick }),
    ]
}

/// A case: the config, the clock-skew margin and the steps.
fn case() -> impl Strategy<Value = (usize, bool, Vec<Step>)> {
    (
        0..CONFIGS.len(),
        any::<bool>(),
        prop::collection::vec(step(), 1..80),
    )
}

/// What became of a dispatch, as the world saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    InFlight,
    Succeeded,
    Failed,
    /// Never sent (cancelled, or refused by GitHub).
    NotSent,
}

#[derive(Debug, Clone)]
struct Dispatched {
    deploy: Deploy,
    epoch: u32,
    run_id: u64,
    linked: bool,
    outcome: Outcome,
    /// The verification cancels of its epoch before it was dispatched.
    verify_cancels_before: u32,
}

/// What people with the right role gave, per head epoch (a new head, a
/// reopen and a new base each start one), from the inputs alone.
#[derive(Debug, Clone)]
struct Ledger {
    open: bool,
    head: Sha,
    base: u8,
    epoch: u32,
    epoch_start: DateTime<Utc>,
    config_error: bool,
    held: bool,
    ci: CiStatus,
    lgtm: BTreeSet<&'static str>,
    approvers: BTreeSet<&'static str>,
    /// Who pushed the head, and whether all of them are known (the first
    /// head counts as the author's; any other needs its push).
    pushers: BTreeSet<&'static str>,
    /// The heads whose push was received (the first head counts as the
    /// author's).
    pushed_heads: BTreeSet<Sha>,
    /// The staging deploy (its index in `dispatches`) a `/verify-stage`
    /// verified, if one did.
    verified_by_command: Option<usize>,
    verify_cancels: u32,
    dispatches: Vec<Dispatched>,
}

impl Ledger {
    fn new() -> Self {
        Ledger {
            open: true,
            head: sha(0),
            base: 0,
            epoch: 0,
            epoch_start: t0(),
            config_error: false,
            held: false,
            ci: CiStatus::Pending,
            lgtm: BTreeSet::new(),
            approvers: BTreeSet::new(),
            pushers: BTreeSet::new(),
            pushed_heads: BTreeSet::from([sha(0)]),
            verified_by_command: None,
            verify_cancels: 0,
            dispatches: Vec::new(),
        }
    }

    fn new_epoch(&mut self, now: DateTime<Utc>) {
        self.epoch += 1;
        self.epoch_start = now;
        self.ci = CiStatus::Pending;
        self.lgtm.clear();
        self.approvers.clear();
        self.verified_by_command = None;
        self.verify_cancels = 0;
    }

    /// A gate command counts when a non-author holding the role wrote it
    /// after the head became the head, on an open PR with a usable config.
    fn counts(&self, who: Who, role: &Role, written: Option<DateTime<Utc>>, p: &Context) -> bool {
        who.holds(role)
            && who != Who::Author
            && self.pushed_heads.contains(&self.head)
            && !self.pushers.contains(who.login())
            && self.base == 0
            && self.open
            && !self.config_error
            && written.is_some_and(|w| w >= self.epoch_start + p.clock_skew)
    }

    fn staged(&self) -> bool {
        self.staging_deploy().is_some()
    }

    /// The staging deploy of the head in this epoch that succeeded and
    /// still runs there (its index in `dispatches`).
    fn staging_deploy(&self) -> Option<usize> {
        self.dispatches.iter().enumerate().position(|(i, d)| {
            d.epoch == self.epoch
                && d.deploy.environment == staging()
                && d.deploy.kind == DeployKind::Promote
                && d.deploy.sha == self.head
                && d.outcome == Outcome::Succeeded
                && !self.rolled_back_after(i)
        })
    }

    /// Whether staging was rolled back after dispatch `i` (a rollback
    /// GitHub never ran displaced nothing).
    fn rolled_back_after(&self, i: usize) -> bool {
        self.dispatches.iter().skip(i + 1).any(|x| {
            x.deploy.kind == DeployKind::Rollback
                && x.deploy.environment == staging()
                && x.outcome != Outcome::NotSent
        })
    }

    fn verified(&self, config: &RepoConfig) -> bool {
        let runs_workflow = config.pipeline.stages[0]
            .verify
            .as_ref()
            .is_some_and(|v| v.workflow.is_some());
        let Some(deployed) = self.staging_deploy() else {
            return false;
        };
        if !runs_workflow {
            return self.verified_by_command == Some(deployed);
        }
        // A verify run of the deploy that still runs there.
        self.dispatches.iter().enumerate().any(|(j, d)| {
            j > deployed
                && d.epoch == self.epoch
                && d.deploy.kind == DeployKind::Verify
                && d.deploy.sha == self.head
                && d.outcome == Outcome::Succeeded
                && d.verify_cancels_before == self.verify_cancels
        })
    }

    /// Facts that bear on what may be dispatched, before the machine runs.
    fn before(&mut self, fact: &Fact, who: Option<Who>, p: &Context) {
        match fact {
            Fact::Observed {
                open,
                head,
                base_ref,
                ..
            } => {
                let base = u8::from(base_ref != "main");
                if (*open && !self.open) || *head != self.head || base != self.base {
                    self.new_epoch(p.now);
                }
                self.open = *open;
                self.head = head.clone();
                self.base = base;
            }
            Fact::Ci { sha, status } if *sha == self.head => self.ci = *status,
            Fact::Pushed { sha, by } => {
                self.pushed_heads.insert(sha.clone());
                if let Some(w) = ALL_WHO.iter().find(|w| w.login() == by.login) {
                    self.pushers.insert(w.login());
                    // An author of the PR from now on: what they gave no
                    // longer counts.
                    self.lgtm.remove(w.login());
                    self.approvers.remove(w.login());
                }
            }
            Fact::Config { error } => self.config_error = error.is_some(),
            Fact::Command {
                command,
                written_at,
                ..
            } => {
                let Some(who) = who else { return };
                let qa = Role::Named("qa".into());
                let release = Role::Named("release".into());
                match command {
                    c if *c == lgtm() && self.counts(who, &qa, *written_at, p) => {
                        self.lgtm.insert(who.login());
                    }
                    c if *c == approve() && self.counts(who, &release, *written_at, p) => {
                        self.approvers.insert(who.login());
                    }
                    c if *c == verify_stage()
                        && self.counts(who, &qa, *written_at, p)
                        && self.staged() =>
                    {
                        self.verified_by_command = self.staging_deploy();
                    }
                    Command::Hold { .. } if who.holds(&Role::AnyGate) && self.open => {
                        self.held = true;
                    }
                    Command::Unhold if who.holds(&Role::AnyGate) && self.open => {
                        self.held = false;
                    }
                    _ => {}
                }
            }
            Fact::RunCompleted {
                dispatch_id,
                run_id,
                success,
                ..
            } => {
                if let Some(d) = self.dispatch_mut(dispatch_id)
                    && d.run_id == *run_id
                    && d.outcome == Outcome::InFlight
                {
                    d.outcome = if *success {
                        Outcome::Succeeded
                    } else {
                        Outcome::Failed
                    };
                }
            }
            Fact::RunLinked {
                dispatch_id,
                run_id,
                ..
            } => {
                if let Some(d) = self.dispatch_mut(dispatch_id)
                    && d.run_id == *run_id
                {
                    d.linked = true;
                }
            }
            Fact::DispatchFailed { dispatch_id, .. }
            | Fact::DispatchCancelled { dispatch_id, .. } => {
                if let Some(d) = self.dispatch_mut(dispatch_id)
                    && d.outcome == Outcome::InFlight
                {
                    d.outcome = Outcome::NotSent;
                }
            }
            _ => {}
        }
    }

    /// Cancels the machine accepted take the ledger's record back too.
    fn after(&mut self, fact: &Fact, who: Option<Who>, accepted: bool) {
        let (Some(who), true) = (who, accepted) else {
            return;
        };
        if let Fact::Command { command, .. } = fact {
            if *command == lgtm_cancel() {
                self.lgtm.remove(who.login());
            } else if *command == approve_cancel() {
                self.approvers.remove(who.login());
            } else if *command == verify_stage_cancel() {
                self.verified_by_command = None;
                self.verify_cancels += 1;
            }
        }
    }

    fn dispatch_mut(&mut self, id: &DispatchId) -> Option<&mut Dispatched> {
        self.dispatches
            .iter_mut()
            .find(|d| d.deploy.dispatch_id == *id)
    }

    /// Why dispatching `d` now breaks a guarantee, if it does.
    fn violation(&self, d: &Deploy, fact: &Fact, who: Option<Who>, p: &Context) -> Option<String> {
        if self.config_error {
            return Some("dispatched with an unusable config".into());
        }
        if self.held {
            return Some("dispatched while held".into());
        }
        let frozen = p.config.pipeline.stages[1].active_freeze(p.now).is_some();
        if d.kind == DeployKind::Rollback {
            let Fact::Command {
                command: Command::Rollback(env),
                ..
            } = fact
            else {
                return Some("a rollback dispatched without a /rollback".into());
            };
            let may = Command::Rollback(env.clone())
                .required_role(&p.config.pipeline)
                .is_some_and(|role| who.is_some_and(|w| w.holds(&role)));
            if *env != d.environment || !may {
                return Some("a rollback by someone without the role".into());
            }
            if frozen && d.environment == production() {
                return Some("production rolled back during a freeze".into());
            }
            return None;
        }
        if !self.open {
            return Some("dispatched on a closed PR".into());
        }
        if self.base != 0 {
            return Some("dispatched for a PR into an ungated base".into());
        }
        if d.sha != self.head {
            return Some(format!(
                "dispatched {} which is not the head",
                d.sha.short()
            ));
        }
        if self.ci != CiStatus::Green {
            return Some(format!("dispatched with CI {:?}", self.ci));
        }
        let is_staging = d.environment == staging();
        match (is_staging, d.kind) {
            (true, DeployKind::Promote) => {
                if self.lgtm.is_empty() {
                    return Some("staging without a /lgtm for this head".into());
                }
            }
            (_, DeployKind::Verify) => {
                if !self.staged() {
                    return Some("verification without a staging deploy of this head".into());
                }
            }
            (false, _) => {
                if !self.staged() {
                    return Some("production without a staging deploy of this head".into());
                }
                if !self.verified(p.config) {
                    return Some("production without a verification of this head".into());
                }
                let need = p.config.pipeline.stages[1].quorum();
                if self.approvers.len() < need {
                    return Some(format!(
                        "production with {} of {need} approvals for this head",
                        self.approvers.len()
                    ));
                }
                if frozen {
                    return Some("production during a freeze".into());
                }
            }
            (true, DeployKind::Rollback) => unreachable!("handled above"),
        }
        None
    }

    fn in_flight(&self, env: &Environment) -> usize {
        self.dispatches
            .iter()
            .filter(|d| {
                d.deploy.environment == *env
                    && d.deploy.kind != DeployKind::Verify
                    && d.outcome == Outcome::InFlight
            })
            .count()
    }
}

/// Every deploy the state tracks.
fn tracked(s: &GateState) -> Vec<&Deploy> {
    s.deploys().collect()
}

/// The happy path's next fact from `s`, if there is one.
fn progress(
    s: &GateState,
    ledger: &Ledger,
    pick: u8,
    now: DateTime<Utc>,
    next_comment: &mut u64,
) -> Option<(Fact, Option<Who>)> {
    let pending = tracked(s)
        .into_iter()
        .find(|d| d.status == DeployStatus::Pending)
        .and_then(|d| {
            ledger
                .dispatches
                .iter()
                .find(|x| x.deploy.dispatch_id == d.dispatch_id && x.outcome == Outcome::InFlight)
        });
    if let Some(d) = pending {
        return Some((
            Fact::RunCompleted {
                dispatch_id: d.deploy.dispatch_id.clone(),
                run_id: d.run_id,
                success: !pick.is_multiple_of(8),
                url: None,
                completed_at: Some(now),
            },
            None,
        ));
    }
    if !s.open {
        return Some((
            Fact::Observed {
                open: true,
                head: s.head_sha.clone(),
                base_ref: s.base_ref.clone().unwrap_or_else(|| "main".into()),
                author_id: Person::test(Who::Author.login()).id,
                default_branch: "main".into(),
            },
            None,
        ));
    }
    if s.config_error.is_some() {
        return Some((Fact::Config { error: None }, None));
    }
    if s.ci != CiStatus::Green {
        return Some((
            Fact::Ci {
                sha: s.head_sha.clone(),
                status: CiStatus::Green,
            },
            None,
        ));
    }
    let qa = [Who::Qa, Who::Qa2, Who::Team][usize::from(pick) % 3];
    let release = [Who::Release, Who::Release2, Who::Team][usize::from(pick / 3) % 3];
    let staged = s
        .stage_deploy()
        .is_some_and(|d| d.status == DeployStatus::Succeeded);
    let (who, command) = if s.hold.is_some() {
        (release, Command::Unhold)
    } else if !staged {
        (qa, lgtm())
    } else if s.verification().is_none_or(|v| !v.passed()) {
        (qa, verify_stage())
    } else {
        (release, approve())
    };
    *next_comment += 1;
    Some((
        Fact::Command {
            comment_id: *next_comment,
            actor: Actor {
                id: Person::test(who.login()).id,
                login: who.login().into(),
                grant: Grant::Holds,
            },
            command,
            // Written a little after the head, as people do.
            written_at: Some(now.max(s.gates_since() + Duration::seconds(3))),
            rollback_target: None,
        },
        Some(who),
    ))
}

/// The result of one case.
#[derive(Debug, Default)]
struct Run {
    production_dispatches: usize,
}

/// Runs one case; `Err` names the broken invariant with the history so far.
fn run_case(config: usize, skew: bool, steps: &[Step]) -> Result<Run, String> {
    let cfg = config::parse(CONFIGS[config]).map_err(|e| format!("config: {e}"))?;
    let pr = PrKey {
        repo: RepoName::parse("acme/widgets").map_err(|e| e.to_string())?,
        number: 42,
    };
    let mut state = GateState::new(
        pr,
        &Person::test(Who::Author.login()),
        sha(0),
        "main",
        Some(7),
        t0(),
    );
    state.base_ref = Some("main".into());
    let mut now = t0();
    let mut ledger = Ledger::new();
    let mut history: Vec<(Fact, Option<Who>)> = Vec::new();
    let mut log: Vec<String> = Vec::new();
    let mut next_comment = 1000u64;
    let mut result = Run::default();

    for step in steps {
        let policy = Context {
            config: &cfg,
            now,
            clock_skew: if skew {
                Duration::seconds(2)
            } else {
                Duration::zero()
            },
            holders: None,
        };
        let pick = |back: u8| -> Option<&Dispatched> {
            let n = ledger.dispatches.len();
            (n > 0).then(|| &ledger.dispatches[n - 1 - usize::from(back) % n])
        };
        let resolve = |s: ShaSel| match s {
            ShaSel::Head => ledger.head.clone(),
            ShaSel::Any(i) => sha(i),
        };
        let (fact, who) = match step {
            Step::Tick(secs) => {
                now += Duration::seconds(i64::from(*secs));
                continue;
            }
            Step::Observe { open, head, base } => (
                Fact::Observed {
                    open: *open,
                    head: resolve(*head),
                    base_ref: if *base == 0 { "main" } else { "develop" }.into(),
                    author_id: Person::test(Who::Author.login()).id,
                    default_branch: "main".into(),
                },
                None,
            ),
            Step::Pushed { sha, by } => (
                Fact::Pushed {
                    sha: resolve(*sha),
                    by: Person::test(by.login()),
                },
                None,
            ),
            Step::Ci { sha, status } => (
                Fact::Ci {
                    sha: resolve(*sha),
                    status: *status,
                },
                None,
            ),
            Step::Command {
                who,
                command,
                written_ago,
                rollback_target,
            } => {
                next_comment += 1;
                let grant = grant(command, &cfg.pipeline, |r| who.holds(r));
                (
                    Fact::Command {
                        comment_id: next_comment,
                        actor: Actor {
                            id: Person::test(who.login()).id,
                            login: who.login().into(),
                            grant,
                        },
                        command: command.clone(),
                        written_at: written_ago.map(|ago| now - Duration::seconds(i64::from(ago))),
                        rollback_target: rollback_target.then(old_sha),
                    },
                    Some(*who),
                )
            }
            Step::Link { back } => {
                let Some(d) = pick(*back) else { continue };
                (
                    Fact::RunLinked {
                        dispatch_id: d.deploy.dispatch_id.clone(),
                        run_id: d.run_id,
                        url: None,
                    },
                    None,
                )
            }
            Step::Complete { back, success } => {
                let Some(d) = pick(*back).filter(|d| d.outcome != Outcome::NotSent) else {
                    continue;
                };
                (
                    Fact::RunCompleted {
                        dispatch_id: d.deploy.dispatch_id.clone(),
                        run_id: d.run_id,
                        success: *success,
                        url: None,
                        completed_at: Some(now),
                    },
                    None,
                )
            }
            Step::ForgedComplete { back, success } => {
                // Another run claiming a dispatch whose run is known.
                let Some(d) = pick(*back).filter(|d| d.linked) else {
                    continue;
                };
                (
                    Fact::RunCompleted {
                        dispatch_id: d.deploy.dispatch_id.clone(),
                        run_id: d.run_id + 500_000,
                        success: *success,
                        url: None,
                        completed_at: Some(now),
                    },
                    None,
                )
            }
            Step::UnknownRun { success } => (
                Fact::RunCompleted {
                    dispatch_id: "42-production-aaaaaaa-99".into(),
                    run_id: 77,
                    success: *success,
                    url: None,
                    completed_at: Some(now),
                },
                None,
            ),
            Step::DispatchFailed { back } => {
                let Some(d) = pick(*back).filter(|d| !d.linked && d.outcome == Outcome::InFlight)
                else {
                    continue;
                };
                (
                    Fact::DispatchFailed {
                        dispatch_id: d.deploy.dispatch_id.clone(),
                        reason: "404".into(),
                    },
                    None,
                )
            }
            Step::DispatchCancelled { back } => {
                let Some(d) = pick(*back).filter(|d| !d.linked && d.outcome == Outcome::InFlight)
                else {
                    continue;
                };
                (
                    Fact::DispatchCancelled {
                        dispatch_id: d.deploy.dispatch_id.clone(),
                        reason: "held".into(),
                    },
                    None,
                )
            }
            Step::Config { broken } => (
                Fact::Config {
                    error: broken.then(|| "bad yaml".to_string()),
                },
                None,
            ),
            Step::Reevaluate => (Fact::Reevaluate, None),
            Step::Progress { pick } => {
                let Some((fact, who)) = progress(&state, &ledger, *pick, now, &mut next_comment)
                else {
                    continue;
                };
                (fact, who)
            }
            Step::Replay { back } => {
                if history.is_empty() {
                    continue;
                }
                let i = history.len() - 1 - usize::from(*back) % history.len();
                history[i].clone()
            }
        };
        history.push((fact.clone(), who));

        ledger.before(&fact, who, &policy);
        let before = state.clone();
        let t = apply(&state, &fact, &policy);
        log.push(format!(
            "{now} {fact:?} -> {:?} ({})",
            t.state.stage(&cfg.pipeline),
            t.note
        ));
        let fail = |why: String, log: &[String]| {
            Err(format!(
                "invariant broken: {why}\nhistory:\n  {}",
                log.join("\n  ")
            ))
        };

        // Every dispatch is allowed by what people gave for that head.
        for a in &t.actions {
            let Action::Dispatch { deploy, .. } = a else {
                continue;
            };
            if let Some(why) = ledger.violation(deploy, &fact, who, &policy) {
                return fail(
                    format!("{} {:?}: {why}", deploy.dispatch_id, deploy.kind),
                    &log,
                );
            }
            if deploy.environment == production() && deploy.kind == DeployKind::Promote {
                result.production_dispatches += 1;
            }
            let run_id = 10_000 + ledger.dispatches.len() as u64;
            ledger.dispatches.push(Dispatched {
                deploy: deploy.clone(),
                epoch: ledger.epoch,
                run_id,
                linked: false,
                outcome: Outcome::InFlight,
                verify_cancels_before: ledger.verify_cancels,
            });
            if !tracked(&t.state).contains(&deploy) {
                return fail(format!("{} is not tracked", deploy.dispatch_id), &log);
            }
        }
        ledger.after(&fact, who, accepted(&t));

        // At most one deploy in flight per environment.
        for env in [staging(), production()] {
            if ledger.in_flight(&env) > 1 {
                return fail(format!("two {env} deploys in flight"), &log);
            }
        }

        // No approval ever counted for another SHA, nor one given before
        // the head became the head.
        let s = &t.state;
        let gates_shas = s.stages.iter().flat_map(|g: &StageGates| {
            g.approvals
                .iter()
                .map(|a| &a.sha)
                .chain(g.verification.iter().map(|v| &v.sha))
                .chain(g.deploy.iter().map(|d| &d.sha))
        });
        if let Some(other) = gates_shas.into_iter().find(|x| **x != s.head_sha) {
            return fail(
                format!(
                    "a gate for {} kept on head {}",
                    other.short(),
                    s.head_sha.short()
                ),
                &log,
            );
        }
        let authors = s.authors();
        let counted = |env: Environment| {
            s.gates(&env)
                .map(|g| g.approvers(&s.head_sha, authors.as_ref(), None))
                .unwrap_or_default()
        };
        let given = [
            (counted(production()), &ledger.approvers),
            (counted(staging()), &ledger.lgtm),
        ];
        for (counted, given) in &given {
            if let Some(a) = counted.iter().find(|a| !given.contains(a.login.as_str())) {
                return fail(
                    format!(
                        "@{}'s approval counted but not given for this head",
                        a.login
                    ),
                    &log,
                );
            }
        }

        // A run result for anything not pending changes nothing.
        if let Fact::RunCompleted { dispatch_id, .. } | Fact::RunLinked { dispatch_id, .. } = &fact
            && before
                .deploy(dispatch_id)
                .is_none_or(|d| d.status != DeployStatus::Pending)
            && t.changed
        {
            return fail(
                format!("a late result for {dispatch_id} changed the state"),
                &log,
            );
        }

        if let Err(why) = transition_invariants(&before, &fact, &t, &policy) {
            return fail(why, &log);
        }
        state = t.state;
    }
    Ok(result)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn gate_invariants_hold_for_any_sequence_of_facts((config, skew, steps) in case()) {
        if let Err(e) = run_case(config, skew, &steps) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// The generator reaches production often enough for the invariants to
/// say something: a property that never sees a production dispatch would
/// pass vacuously.
#[test]
fn generated_cases_reach_production() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut reached = 0;
    for _ in 0..500 {
        let (config, skew, steps) = strategy
            .new_tree(&mut runner)
            .expect("generate a case")
            .current();
        match run_case(config, skew, &steps) {
            Ok(run) if run.production_dispatches > 0 => reached += 1,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!("{reached} of 500 generated cases dispatched production");
    assert!(
        reached >= 100,
        "only {reached} of 500 generated cases dispatched production"
    );
}
