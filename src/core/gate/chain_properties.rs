//! Property tests of the gate machine over chains longer than the default:
//! dev (auto) → staging (`/lgtm`, verified) → production (two `/approve`s,
//! a soak), and dev → staging → prod-eu → prod-us with a shared word, two
//! quorums, a soak and a freeze per region. Arbitrary sequences of pushes,
//! closes, reopens, CI verdicts, every command of every stage by every
//! kind of actor (on time or late), run results (late and duplicated),
//! clock ticks and guided steps are applied one by one, and after every
//! step the invariants are checked against a [`Ledger`] kept from the
//! inputs alone:
//!
//! * a stage is dispatched only for the head, with CI green, no hold, on an
//!   open PR, when every earlier stage passed for that SHA in this head's
//!   life (deployed, and verified where it has a verification), its entry
//!   is met by distinct non-author role holders, its soak elapsed and its
//!   freeze allows it;
//! * no approval counts that was not given for that stage and head, by
//!   someone who did not push it (a push's sender is one of the head's
//!   authors; until gatebot knows who pushed a head, nothing counts);
//! * a stage rolled back since it passed has not passed;
//! * at most one deploy per environment in flight;
//! * applying any fact twice changes nothing; a finished deploy never
//!   changes.
//!
//! `properties.rs` covers the two-stage chain with a wider variety of facts
//! (forged runs, dispatch failures, config errors).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use super::ci::CiStatus;
use super::commands::Role;
use super::property_support::grant;
use super::property_support::{ALL_WHO, Who, accepted, sha, t0, transition_invariants};
use super::state::{Deploy, DeployKind, DeployStatus, GateState};
use super::{Action, Actor, Context, Fact, apply};
use crate::core::config::{self, Entry, RepoConfig, StageConfig};
use crate::core::domain::{DispatchId, Environment, Person, PrKey, RepoName};
use crate::core::gate::commands::Command;

const PLATFORM: &str = "
pipeline:
  - { environment: dev, workflow: cd-dev.yml, entry: auto }
  - environment: staging
    workflow: cd-stage.yml
    entry: { command: lgtm, role: qa }
    verify: { command: verify-stage, role: qa, workflow: smoke.yml }
  - environment: production
    workflow: cd-prod.yml
    entry: { command: approve, role: release, approvals: 2 }
    soak: 10m
";

const REGIONS: &str = r#"
pipeline:
  - { environment: dev, workflow: cd-dev.yml, entry: auto }
  - environment: staging
    workflow: cd-stage.yml
    entry: { command: lgtm, role: qa }
    verify: { command: verify-stage, role: qa }
  - environment: prod-eu
    workflow: cd-prod.yml
    entry: { command: approve, role: release, approvals: 2 }
    freeze: [{ from: "2026-06-01T12:30:00Z", to: "2026-06-01T13:00:00Z" }]
  - environment: prod-us
    workflow: cd-prod.yml
    entry: { command: approve, role: release }
    soak: 20m
    freeze: [{ from: "2026-06-01T14:00:00Z", to: "2026-06-01T14:30:00Z" }]
"#;

const CHAINS: [&str; 2] = [PLATFORM, REGIONS];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Entry,
    EntryCancel,
    Verify,
    VerifyCancel,
    Retry,
    Rollback,
    Hold,
    Unhold,
}

#[derive(Debug, Clone)]
enum Step {
    Tick(u32),
    Push,
    /// The `synchronize` delivery of the head, naming who pushed it.
    Pushed {
        by: Who,
    },
    Close,
    Reopen,
    Ci(CiStatus),
    Command {
        who: Who,
        kind: Kind,
        stage: u8,
        /// Seconds before now it was written; `None`: no time.
        written_ago: Option<u32>,
    },
    Complete {
        back: u8,
        success: bool,
    },
    Replay {
        back: u8,
    },
    Reevaluate,
    /// The next fact of the happy path from where the PR stands.
    Progress {
        pick: u8,
    },
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        2 => Just(Who::Qa),
        1 => Just(Who::Qa2),
        2 => Just(Who::Release),
        1 => Just(Who::Release2),
        1 => Just(Who::Team),
        1 => Just(Who::Author),
        1 => Just(Who::Outsider),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => Just(Kind::Entry),
        1 => Just(Kind::EntryCancel),
        3 => Just(Kind::Verify),
        1 => Just(Kind::VerifyCancel),
        2 => Just(Kind::Retry),
        1 => Just(Kind::Rollback),
        1 => Just(Kind::Hold),
        1 => Just(Kind::Unhold),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop_oneof![0u32..60, 0u32..1800].prop_map(Step::Tick),
        1 => Just(Step::Push),
        2 => who().prop_map(|by| Step::Pushed { by }),
        1 => Just(Step::Close),
        1 => Just(Step::Reopen),
        3 => prop_oneof![
            4 => Just(CiStatus::Green),
            1 => Just(CiStatus::Failed),
            1 => Just(CiStatus::Pending),
        ]
        .prop_map(Step::Ci),
        12 => (
            who(),
            kind(),
            any::<u8>(),
            prop_oneof![8 => (0u32..2).prop_map(Some), 1 => (0u32..3600).prop_map(Some), 1 => Just(None)],
        )
            .prop_map(|(who, kind, stage, written_ago)| Step::Command { who, kind, stage, written_ago }),
        6 => (any::<u8>(), prop::bool::weighted(0.8))
            .prop_map(|(back, success)| Step::Complete { back: back % 3, success }),
        2 => any::<u8>().prop_map(|back| Step::Replay { back }),
        1 => Just(Step::Reevaluate),
        14 => any::<u8>().prop_map(|pick| Step::Progress { pick }),
    ]
}

fn case() -> impl Strategy<Value = (usize, Vec<Step>)> {
    (0..CHAINS.len(), prop::collection::vec(step(), 1..120))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    InFlight,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone)]
struct Dispatched {
    deploy: Deploy,
    epoch: u32,
    run_id: u64,
    outcome: Outcome,
    completed_at: Option<DateTime<Utc>>,
    /// The stage's verification cancels in its epoch before it was made.
    cancels_before: u32,
}

/// What people with the right role gave, per stage and per head epoch,
/// from the inputs alone.
#[derive(Debug, Clone)]
struct Ledger {
    open: bool,
    head: u8,
    epoch: u32,
    epoch_start: DateTime<Utc>,
    held: bool,
    ci: CiStatus,
    /// Per stage: who gave its entry command for the head.
    givers: Vec<BTreeSet<&'static str>>,
    /// Who pushed the head, and whether gatebot can know all of them (the
    /// first head counts as the author's; any other needs its push).
    pushers: BTreeSet<&'static str>,
    /// The heads whose push was received (the first head counts as the
    /// author's).
    pushed_heads: BTreeSet<u8>,
    /// Per stage: when its verification (without a workflow) was first
    /// given for the head.
    verified_at: Vec<Option<DateTime<Utc>>>,
    verify_cancels: Vec<u32>,
    dispatches: Vec<Dispatched>,
}

impl Ledger {
    fn new(stages: usize) -> Self {
        Ledger {
            open: true,
            head: 0,
            epoch: 0,
            epoch_start: t0(),
            held: false,
            ci: CiStatus::Pending,
            givers: vec![BTreeSet::new(); stages],
            pushers: BTreeSet::new(),
            pushed_heads: BTreeSet::from([0]),
            verified_at: vec![None; stages],
            verify_cancels: vec![0; stages],
            dispatches: Vec::new(),
        }
    }

    fn new_epoch(&mut self, now: DateTime<Utc>) {
        self.epoch += 1;
        self.epoch_start = now;
        self.ci = CiStatus::Pending;
        self.givers.iter_mut().for_each(BTreeSet::clear);
        self.verified_at.iter_mut().for_each(|v| *v = None);
        self.verify_cancels.iter_mut().for_each(|c| *c = 0);
    }

    fn counts(&self, who: Who, role: &str, written: Option<DateTime<Utc>>) -> bool {
        who != Who::Author
            && self.pushed_heads.contains(&self.head)
            && !self.pushers.contains(who.login())
            && who.holds_named(role)
            && self.open
            && written.is_some_and(|w| w >= self.epoch_start)
    }

    /// This epoch's successful dispatches of `kind` to `stage` for the head.
    fn succeeded<'a>(
        &'a self,
        stage: &'a StageConfig,
        kind: DeployKind,
    ) -> impl Iterator<Item = &'a Dispatched> + 'a {
        self.dispatches.iter().filter(move |d| {
            d.epoch == self.epoch
                && d.deploy.environment == stage.environment
                && d.deploy.kind == kind
                && d.deploy.sha == sha(self.head)
                && d.outcome == Outcome::Succeeded
        })
    }

    /// Whether a rollback of `stage`'s environment was dispatched after
    /// `d` (which then no longer runs there).
    fn rolled_back_after(&self, stage: &StageConfig, d: &Dispatched) -> bool {
        let at = self
            .dispatches
            .iter()
            .position(|x| x.deploy.dispatch_id == d.deploy.dispatch_id);
        self.dispatches.iter().enumerate().any(|(j, x)| {
            x.deploy.kind == DeployKind::Rollback
                && x.deploy.environment == stage.environment
                && at.is_some_and(|at| j > at)
        })
    }

    /// When stage `i` passed for the head in this epoch, from what was given.
    fn passed(&self, chain: &[StageConfig], i: usize) -> Option<DateTime<Utc>> {
        let stage = &chain[i];
        let deployed = self
            .succeeded(stage, DeployKind::Promote)
            .filter(|d| !self.rolled_back_after(stage, d))
            .filter_map(|d| d.completed_at)
            .min()?;
        let Some(verify) = &stage.verify else {
            return Some(deployed);
        };
        let verified = if verify.workflow.is_some() {
            self.succeeded(stage, DeployKind::Verify)
                .filter(|d| d.cancels_before == self.verify_cancels[i])
                .filter_map(|d| d.completed_at)
                .max()?
        } else {
            self.verified_at[i]?
        };
        Some(deployed.max(verified))
    }

    fn before(&mut self, fact: &Fact, who: Option<Who>, chain: &[StageConfig], now: DateTime<Utc>) {
        match fact {
            Fact::Observed { open, head, .. } => {
                let head = (0..4u8).find(|i| sha(*i) == *head).unwrap_or(0);
                if (*open && !self.open) || head != self.head {
                    self.new_epoch(now);
                }
                self.open = *open;
                self.head = head;
            }
            Fact::Pushed { sha: s, by } => {
                let pushed = (0..4u8).find(|i| sha(*i) == *s).unwrap_or(0);
                self.pushed_heads.insert(pushed);
                if let Some(w) = ALL_WHO.iter().find(|w| w.login() == by.login) {
                    self.pushers.insert(w.login());
                    // An author of the PR from now on: whatever they gave
                    // no longer counts.
                    for g in &mut self.givers {
                        g.remove(w.login());
                    }
                }
            }
            Fact::Ci { sha: s, status } if *s == sha(self.head) && self.open => self.ci = *status,
            Fact::Command {
                command,
                written_at,
                ..
            } => {
                let Some(who) = who else { return };
                match command {
                    Command::Entry {
                        env, cancel: false, ..
                    } => {
                        if let Some(i) = chain.iter().position(|s| s.environment == *env)
                            && let Entry::Command(g) = &chain[i].entry
                            && self.counts(who, &g.role, *written_at)
                        {
                            self.givers[i].insert(who.login());
                        }
                    }
                    Command::Verify {
                        env, cancel: false, ..
                    } => {
                        if let Some(i) = chain.iter().position(|s| s.environment == *env)
                            && let Some(v) = &chain[i].verify
                            && v.workflow.is_none()
                            && self.counts(who, &v.role, *written_at)
                            && self
                                .succeeded(&chain[i], DeployKind::Promote)
                                .any(|d| !self.rolled_back_after(&chain[i], d))
                            && self.verified_at[i].is_none()
                        {
                            self.verified_at[i] = Some(now);
                        }
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
                    d.completed_at = Some(now);
                }
            }
            _ => {}
        }
    }

    /// Cancels the machine accepted take the ledger's record back too.
    fn after(&mut self, fact: &Fact, who: Option<Who>, accepted: bool, chain: &[StageConfig]) {
        let (Some(who), true, Fact::Command { command, .. }) = (who, accepted, fact) else {
            return;
        };
        match command {
            Command::Entry {
                env, cancel: true, ..
            } => {
                if let Some(i) = chain.iter().position(|s| s.environment == *env) {
                    self.givers[i].remove(who.login());
                }
            }
            Command::Verify {
                env, cancel: true, ..
            } => {
                if let Some(i) = chain.iter().position(|s| s.environment == *env) {
                    self.verified_at[i] = None;
                    self.verify_cancels[i] += 1;
                }
            }
            _ => {}
        }
    }

    fn dispatch_mut(&mut self, id: &DispatchId) -> Option<&mut Dispatched> {
        self.dispatches
            .iter_mut()
            .find(|d| d.deploy.dispatch_id == *id)
    }

    /// Why dispatching `d` now breaks a guarantee, if it does.
    fn violation(&self, d: &Deploy, fact: &Fact, who: Option<Who>, p: &Context) -> Option<String> {
        let chain = &p.config.pipeline.stages;
        let Some(i) = chain.iter().position(|s| s.environment == d.environment) else {
            return Some("a dispatch to an environment outside the chain".into());
        };
        let stage = &chain[i];
        if self.held {
            return Some("dispatched while held".into());
        }
        let frozen = stage.active_freeze(p.now).is_some();
        if d.kind == DeployKind::Rollback {
            let Fact::Command {
                command: command @ Command::Rollback(env),
                ..
            } = fact
            else {
                return Some("a rollback dispatched without a /rollback".into());
            };
            let may = command
                .required_role(&p.config.pipeline)
                .is_some_and(|role| who.is_some_and(|w| w.holds(&role)));
            if *env != d.environment || !may {
                return Some("a rollback by someone without the role".into());
            }
            if frozen {
                return Some(format!("{} rolled back during its freeze", d.environment));
            }
            return None;
        }
        if !self.open {
            return Some("dispatched on a closed PR".into());
        }
        if d.sha != sha(self.head) {
            return Some(format!(
                "dispatched {} which is not the head",
                d.sha.short()
            ));
        }
        if self.ci != CiStatus::Green {
            return Some(format!("dispatched with CI {:?}", self.ci));
        }
        if d.kind == DeployKind::Verify {
            return self
                .succeeded(stage, DeployKind::Promote)
                .next()
                .is_none()
                .then(|| format!("{} verified before it was deployed", d.environment));
        }
        for (j, earlier) in chain.iter().enumerate().take(i) {
            if self.passed(chain, j).is_none() {
                return Some(format!(
                    "{} dispatched before {} passed for this head",
                    d.environment, earlier.environment
                ));
            }
        }
        if let Entry::Command(g) = &stage.entry
            && self.givers[i].len() < g.approvals as usize
        {
            return Some(format!(
                "{} dispatched with {} of {} /{} given",
                d.environment,
                self.givers[i].len(),
                g.approvals,
                g.word
            ));
        }
        if let (Some(soak), Some(j)) = (stage.soak, i.checked_sub(1))
            && self.passed(chain, j).is_some_and(|at| p.now < at + soak)
        {
            return Some(format!(
                "{} dispatched before its soak ended",
                d.environment
            ));
        }
        if frozen {
            return Some(format!("{} dispatched during its freeze", d.environment));
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

/// The command `kind` for stage `i`, as the parser would resolve it, or
/// `None` where the chain has no such command.
fn command_for(kind: Kind, stage: &StageConfig) -> Option<Command> {
    let env = stage.environment.clone();
    let entry = |cancel| match &stage.entry {
        Entry::Command(g) => Some(Command::Entry {
            word: g.word.clone(),
            env: env.clone(),
            cancel,
        }),
        Entry::Auto => None,
    };
    let verify = |cancel| {
        stage.verify.as_ref().map(|v| Command::Verify {
            word: v.word.clone(),
            env: env.clone(),
            cancel,
        })
    };
    match kind {
        Kind::Entry => entry(false),
        Kind::EntryCancel => entry(true),
        Kind::Verify => verify(false),
        Kind::VerifyCancel => verify(true),
        Kind::Retry => Some(Command::Retry(env)),
        Kind::Rollback => Some(Command::Rollback(env)),
        Kind::Hold => Some(Command::Hold { reason: None }),
        Kind::Unhold => Some(Command::Unhold),
    }
}

/// The happy path's next step from `s`.
fn progress(s: &GateState, ledger: &Ledger, chain: &[StageConfig], pick: u8) -> Step {
    if ledger
        .dispatches
        .iter()
        .any(|d| d.outcome == Outcome::InFlight)
    {
        return Step::Complete {
            back: 0,
            success: !pick.is_multiple_of(6),
        };
    }
    if !s.open {
        return Step::Reopen;
    }
    if s.ci != CiStatus::Green {
        return Step::Ci(CiStatus::Green);
    }
    let release = [Who::Release, Who::Release2, Who::Team][usize::from(pick) % 3];
    let qa = [Who::Qa, Who::Qa2, Who::Team][usize::from(pick / 3) % 3];
    if s.hold.is_some() {
        return command(release, Kind::Unhold, 0);
    }
    for (i, stage) in chain.iter().enumerate() {
        if ledger.passed(chain, i).is_some() {
            continue;
        }
        let stage_no = u8::try_from(i).unwrap_or(0);
        let deploy = s.gates(&stage.environment).and_then(|g| g.deploy.as_ref());
        return match deploy.map(|d| d.status) {
            Some(DeployStatus::Failed) => command(release, Kind::Retry, stage_no),
            Some(DeployStatus::Succeeded) => command(qa, Kind::Verify, stage_no),
            Some(DeployStatus::Pending) => Step::Reevaluate,
            None => match &stage.entry {
                Entry::Command(g) if ledger.givers[i].len() < g.approvals as usize => {
                    let who = if g.role == "qa" { qa } else { release };
                    command(who, Kind::Entry, stage_no)
                }
                // Entry met: what is left is time (a soak, a freeze).
                _ => Step::Tick(600),
            },
        };
    }
    Step::Reevaluate
}

fn command(who: Who, kind: Kind, stage: u8) -> Step {
    Step::Command {
        who,
        kind,
        stage,
        written_ago: Some(0),
    }
}

#[derive(Debug, Default)]
struct Run {
    last_stage_dispatches: usize,
}

fn run_case(chain_no: usize, steps: &[Step]) -> Result<Run, String> {
    let cfg: RepoConfig = config::parse(CHAINS[chain_no]).map_err(|e| format!("config: {e}"))?;
    let chain = cfg.pipeline.stages.clone();
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
    let mut ledger = Ledger::new(chain.len());
    let mut history: Vec<(Fact, Option<Who>)> = Vec::new();
    let mut log: Vec<String> = Vec::new();
    let mut next_comment = 1000u64;
    let mut result = Run::default();

    for generated in steps {
        let step = match generated {
            Step::Progress { pick } => progress(&state, &ledger, &chain, *pick),
            other => other.clone(),
        };
        let head_fact = |open: bool, head: u8| Fact::Observed {
            open,
            head: sha(head),
            base_ref: "main".into(),
            author_id: Person::test(Who::Author.login()).id,
            default_branch: "main".into(),
        };
        let (fact, who) = match step {
            Step::Tick(secs) => {
                now += Duration::seconds(i64::from(secs));
                (Fact::Reevaluate, None)
            }
            Step::Push => (head_fact(ledger.open, ledger.head + 1), None),
            Step::Pushed { by } => (
                Fact::Pushed {
                    sha: sha(ledger.head),
                    by: Person::test(by.login()),
                },
                None,
            ),
            Step::Close => (head_fact(false, ledger.head), None),
            Step::Reopen => (head_fact(true, ledger.head), None),
            Step::Ci(status) => (
                Fact::Ci {
                    sha: sha(ledger.head),
                    status,
                },
                None,
            ),
            Step::Command {
                who,
                kind,
                stage,
                written_ago,
            } => {
                let stage = &chain[usize::from(stage) % chain.len()];
                let Some(command) = command_for(kind, stage) else {
                    continue;
                };
                next_comment += 1;
                let grant = grant(&command, &cfg.pipeline, |r| who.holds(r));
                (
                    Fact::Command {
                        comment_id: next_comment,
                        actor: Actor {
                            id: Person::test(who.login()).id,
                            login: who.login().into(),
                            grant,
                        },
                        command,
                        written_at: written_ago.map(|ago| now - Duration::seconds(i64::from(ago))),
                        rollback_target: Some(sha(3)),
                    },
                    Some(who),
                )
            }
            Step::Complete { back, success } => {
                let in_flight: Vec<&Dispatched> = ledger
                    .dispatches
                    .iter()
                    .filter(|d| d.outcome == Outcome::InFlight)
                    .collect();
                let Some(d) = in_flight
                    .len()
                    .checked_sub(1 + usize::from(back) % in_flight.len().max(1))
                    .and_then(|i| in_flight.get(i))
                else {
                    continue;
                };
                (
                    Fact::RunCompleted {
                        dispatch_id: d.deploy.dispatch_id.clone(),
                        run_id: d.run_id,
                        success,
                        url: None,
                        completed_at: Some(now),
                    },
                    None,
                )
            }
            Step::Replay { back } => {
                let Some(i) = history
                    .len()
                    .checked_sub(1 + usize::from(back) % history.len().max(1))
                else {
                    continue;
                };
                history[i].clone()
            }
            Step::Reevaluate | Step::Progress { .. } => (Fact::Reevaluate, None),
        };
        history.push((fact.clone(), who));
        let policy = Context {
            config: &cfg,
            now,
            clock_skew: Duration::zero(),
            holders: None,
        };
        ledger.before(&fact, who, &chain, now);
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
            let last = chain.last().map(|s| &s.environment);
            if Some(&deploy.environment) == last && deploy.kind == DeployKind::Promote {
                result.last_stage_dispatches += 1;
            }
            let i = chain
                .iter()
                .position(|s| s.environment == deploy.environment)
                .unwrap_or(0);
            if deploy.kind == DeployKind::Rollback {
                // What was verified there no longer runs.
                ledger.verified_at[i] = None;
                ledger.verify_cancels[i] += 1;
            }
            ledger.dispatches.push(Dispatched {
                deploy: deploy.clone(),
                epoch: ledger.epoch,
                run_id: 20_000 + ledger.dispatches.len() as u64,
                outcome: Outcome::InFlight,
                completed_at: None,
                cancels_before: ledger.verify_cancels[i],
            });
        }
        ledger.after(&fact, who, accepted(&t), &chain);

        for stage in &chain {
            if ledger.in_flight(&stage.environment) > 1 {
                return fail(format!("two {} deploys in flight", stage.environment), &log);
            }
        }
        let s = &t.state;
        let authors = s.authors();
        for (i, stage) in chain.iter().enumerate() {
            let counted = s
                .gates(&stage.environment)
                .map(|g| g.approvers(&s.head_sha, authors.as_ref(), None))
                .unwrap_or_default();
            if let Some(a) = counted
                .iter()
                .find(|a| !ledger.givers[i].contains(a.login.as_str()))
            {
                return fail(
                    format!(
                        "@{}'s approval counted for {} but not given",
                        a.login, stage.environment
                    ),
                    &log,
                );
            }
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
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn chain_invariants_hold_for_any_sequence_of_facts((chain, steps) in case()) {
        if let Err(e) = run_case(chain, &steps) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// The generator reaches the last stage often enough for the invariants
/// to say something about every stage.
#[test]
fn generated_chain_cases_reach_the_last_stage() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut reached = [0usize; 2];
    for _ in 0..400 {
        let (chain, steps) = strategy
            .new_tree(&mut runner)
            .expect("generate a case")
            .current();
        match run_case(chain, &steps) {
            Ok(run) if run.last_stage_dispatches > 0 => reached[chain] += 1,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!("cases that dispatched the last stage, per chain: {reached:?} (of about 200 each)");
    assert!(
        reached.iter().all(|n| *n >= 30),
        "too few cases reached the last stage: {reached:?}"
    );
}
