//! Tests for the pure gate state machine, [`crate::core::gate::apply`].
//!
//! Every state is built the way production builds it: by applying facts to a
//! fresh [`GateState::new`] under a fixed clock and a config parsed from YAML
//! with [`config::parse`]. Most tests are [`Case`]s, each a `#[test]` of its
//! own (run by [`one`]) in a file per topic: a setup made of
//! facts, one more fact, and one assertion set on the resulting
//! [`Transition`] — the derived [`Stage`], whether the state changed, the
//! exact dispatches (workflow, ref, environment, kind, SHA, requester and
//! `dispatch_id` = `<pr>-<env|verify>-<sha7>-<seq>`), the reaction, the reply
//! and the deploys recorded to history.
//!
//! Setup steps assert that each of their facts was accepted, so a broken
//! setup fails loudly instead of testing the wrong state.

use chrono::{DateTime, Duration, Utc};

use super::ci::CiStatus;
use super::state::{DeployKind, DeployStatus, GateState, Stage};
use crate::core::config::{self, RepoConfig};
use crate::core::domain::{DispatchId, Environment, Person, PrKey, RepoName, Sha};
use crate::core::gate::commands::Role;
use crate::core::gate::commands::{Command, help_text};
use crate::core::gate::{Action, Actor, Context, Environments, Fact, Grant, Transition, apply};

// The default chain's environments and commands, as the parser resolves
// them (`/lgtm` is staging's entry command, `/approve` production's).

fn staging() -> Environment {
    Environment::staging()
}

fn production() -> Environment {
    Environment::production()
}

fn entry(word: &str, env: Environment, cancel: bool) -> Command {
    Command::Entry {
        word: word.into(),
        env,
        cancel,
    }
}

fn lgtm() -> Command {
    entry("lgtm", staging(), false)
}

fn lgtm_cancel() -> Command {
    entry("lgtm", staging(), true)
}

fn approve() -> Command {
    entry("approve", production(), false)
}

fn approve_cancel() -> Command {
    entry("approve", production(), true)
}

fn verify_stage() -> Command {
    Command::Verify {
        word: "verify-stage".into(),
        env: staging(),
        cancel: false,
    }
}

fn verify_stage_cancel() -> Command {
    Command::Verify {
        word: "verify-stage".into(),
        env: staging(),
        cancel: true,
    }
}

/// The `/help` reply of the default chain.
fn help() -> String {
    help_text(&RepoConfig::default().pipeline)
}

/// The logins of `approvals`, in order.
fn logins(approvals: Vec<&super::state::Approval>) -> Vec<&str> {
    approvals.iter().map(|a| a.login.as_str()).collect()
}

const PR: u64 = 42;
/// The PR author (created with a capital letter: the state lowercases it).
const AUTHOR: &str = "alice";
const QA: &str = "bob";
const QA2: &str = "dave";
const REL: &str = "carol";
const REL2: &str = "erin";

/// The initial head, a later push, and a previously deployed SHA.
const A: char = 'a';
const B: char = 'b';
const OLD: char = 'c';

const DEFAULTS: &str = "";
const VERIFY: &str = "workflows: {verify: smoke.yml}";
const QUORUM2: &str = "approvals: {prod: 2}";
const CUSTOM: &str = "workflows: {stage: deploy-stage.yaml, prod: ship.yml, ref: release/2026}";
/// A freeze window around [`t0`].
const FROZEN: &str = r#"freeze: [{from: "2026-05-31T00:00:00Z", to: "2026-06-02T00:00:00Z", reason: "launch week"}]"#;

const TABLE_HEADER: &str = "| gate | state | who / when |";

fn sha(c: char) -> Sha {
    Sha::parse(&c.to_string().repeat(40)).unwrap()
}

fn short(c: char) -> String {
    c.to_string().repeat(7)
}

/// The fixed clock every test starts at.
fn t0() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

/// The end of the [`FROZEN`] window (exclusive).
fn freeze_end() -> DateTime<Utc> {
    "2026-06-02T00:00:00Z".parse().unwrap()
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// One pull request: its config, the clock and the current state.
struct Pr {
    cfg: RepoConfig,
    now: DateTime<Utc>,
    /// [`Context::clock_skew`]: none unless a test sets it.
    skew: Duration,
    s: GateState,
    next_comment: u64,
    /// What runs in each environment, as this PR's facts (and whatever a
    /// test copies in from another PR) left it.
    envs: Environments,
}

impl Pr {
    fn new(yaml: &str) -> Pr {
        let cfg = config::parse(yaml).expect("test config parses");
        let pr = PrKey {
            repo: RepoName::parse("acme/widgets").unwrap(),
            number: PR,
        };
        let mut s = GateState::new(pr, &Person::test("Alice"), sha(A), "main", Some(7), t0());
        // As gatebot creates records: with the base GitHub reported.
        s.base_ref = Some("main".into());
        Pr {
            cfg,
            now: t0(),
            skew: Duration::zero(),
            s,
            next_comment: 1000,
            envs: Environments::default(),
        }
    }

    /// Another PR of the same repository, `number`, opened at `head`, with
    /// the same config and clock.
    fn other(yaml: &str, number: u64, head: char) -> Pr {
        let mut p = Pr::new(yaml);
        let key = PrKey {
            repo: p.s.pr.repo.clone(),
            number,
        };
        p.s = GateState::new(
            key,
            &Person::test("Alice"),
            sha(head),
            "main",
            Some(7),
            t0(),
        );
        p.s.base_ref = Some("main".into());
        p
    }

    fn apply(&mut self, fact: &Fact) -> Transition {
        let cx = Context {
            config: &self.cfg,
            now: self.now,
            clock_skew: self.skew,
            holders: None,
            environments: &self.envs,
        };
        let t = apply(&self.s, fact, &cx);
        self.s = t.state.clone();
        for change in &t.env_changes {
            self.envs.apply(&self.s.pr.repo, change);
        }
        t
    }

    fn head(&self) -> Sha {
        self.s.head_sha.clone()
    }

    /// Where the PR stands in its chain.
    fn stage(&self) -> Stage {
        self.s.stage_in(&self.cfg.pipeline, &self.envs)
    }

    /// When a command written now says it was written.
    fn written(&self) -> Option<DateTime<Utc>> {
        Some(self.now)
    }

    /// A command by an authorized `login`, written now.
    fn command(&mut self, login: &str, command: Command) -> Fact {
        let at = self.written();
        self.command_with(login, true, command, at, None)
    }

    fn command_with(
        &mut self,
        login: &str,
        authorized: bool,
        command: Command,
        written_at: Option<DateTime<Utc>>,
        rollback_target: Option<Sha>,
    ) -> Fact {
        self.next_comment += 1;
        Fact::Command {
            comment_id: self.next_comment,
            actor: Actor {
                id: Person::test(login).id,
                login: login.to_string(),
                grant: match command.required_role(&self.cfg.pipeline) {
                    Some(role) if !authorized => Grant::Lacks(role),
                    _ => Grant::Holds,
                },
            },
            command,
            written_at,
            rollback_target,
        }
    }

    /// `/rollback <env>` by an authorized `login`, with [`OLD`] as target.
    fn rollback(&mut self, login: &str, env: Environment) -> Fact {
        let at = self.written();
        self.command_with(login, true, Command::Rollback(env), at, Some(sha(OLD)))
    }

    fn ci(&self, status: CiStatus) -> Fact {
        Fact::Ci {
            sha: self.head(),
            status,
        }
    }

    /// The completion of dispatch `id` (with its linked run, or run 7000).
    fn done(&self, id: &DispatchId, success: bool) -> Fact {
        let mut s = self.s.clone();
        let run_id = s.deploy_mut(id).and_then(|d| d.run_id).unwrap_or(7000);
        Fact::RunCompleted {
            dispatch_id: id.clone(),
            run_id,
            success,
            url: Some(format!(
                "https://github.com/acme/widgets/actions/runs/{run_id}"
            )),
            completed_at: None,
        }
    }

    fn stage_id(&self) -> DispatchId {
        self.s
            .deploy_to(&staging())
            .expect("a stage deploy")
            .dispatch_id
            .clone()
    }

    fn prod_id(&self) -> DispatchId {
        self.s
            .deploy_to(&production())
            .expect("a prod deploy")
            .dispatch_id
            .clone()
    }

    fn verify_id(&self) -> DispatchId {
        let v = self.s.verification_of(&staging()).expect("a verification");
        v.run.as_ref().expect("a verify run").dispatch_id.clone()
    }

    fn detached_id(&self, i: usize) -> DispatchId {
        self.s.detached[i].dispatch_id.clone()
    }

    // --- setup steps: each asserts that its fact took effect ---

    /// Applies `fact`, which must change the state.
    fn step(&mut self, fact: Fact) {
        let t = self.apply(&fact);
        assert!(t.changed, "setup fact {fact:?} changed nothing: {}", t.note);
    }

    /// Runs a command that must be accepted (it may change nothing).
    fn ok(&mut self, login: &str, command: Command) {
        let fact = self.command(login, command);
        let t = self.apply(&fact);
        assert_eq!(reactions(&t), ["+1"], "setup {fact:?}: {}", t.note);
    }

    fn green(&mut self) {
        let f = self.ci(CiStatus::Green);
        self.step(f);
    }

    fn lgtm(&mut self) {
        self.ok(QA, lgtm());
    }

    /// CI green and `/lgtm` by [`QA`]: the stage deploy is pending.
    fn staging(&mut self) {
        self.green();
        self.lgtm();
        assert_eq!(self.stage(), Stage::Deploying(0));
    }

    fn finish(&mut self, id: &DispatchId, success: bool) {
        let f = self.done(id, success);
        self.step(f);
    }

    /// The stage deploy succeeded.
    fn staged(&mut self) {
        self.staging();
        let id = self.stage_id();
        self.finish(&id, true);
        assert_eq!(self.stage(), Stage::WaitingForVerification(0));
    }

    /// Staging verified by [`QA`] (and the verify run passed, if configured).
    fn verified(&mut self) {
        self.staged();
        self.ok(QA, verify_stage());
        let runs_workflow = self.cfg.pipeline.stages[0]
            .verify
            .as_ref()
            .is_some_and(|v| v.workflow.is_some());
        if runs_workflow {
            let id = self.verify_id();
            self.finish(&id, true);
        }
        assert_eq!(self.stage(), Stage::WaitingForEntry(1));
    }

    /// [`Pr::verified`] with no clock-skew margin for its own commands
    /// (written the instant the head was learned), whatever the PR's margin.
    fn verified_ignoring_skew(&mut self) {
        let skew = self.skew;
        self.skew = Duration::zero();
        self.verified();
        self.skew = skew;
    }

    /// Verified and approved by [`REL`]: with a quorum of one, prod is pending.
    fn approved(&mut self) {
        self.verified();
        self.ok(REL, approve());
    }

    /// The prod deploy succeeded.
    fn deployed(&mut self) {
        self.approved();
        let id = self.prod_id();
        self.finish(&id, true);
        assert_eq!(self.stage(), Stage::Deployed);
    }

    fn hold(&mut self) {
        self.ok(
            REL,
            Command::Hold {
                reason: Some("incident 12".into()),
            },
        );
    }

    /// The author pushes `c`: GitHub's view of the PR, then the push.
    fn push(&mut self, c: char) {
        self.push_by(c, AUTHOR);
    }

    /// `login` pushes `c` onto the PR's branch.
    fn push_by(&mut self, c: char, login: &str) {
        let f = observed(true, c, "main");
        self.step(f);
        self.step(pushed(c, login));
    }

    /// GitHub now says the PR is closed (at its head).
    fn closed(&self) -> Fact {
        Fact::Observed {
            open: false,
            head: self.head(),
            base_ref: "main".into(),
            author_id: Person::test(AUTHOR).id,
            default_branch: "main".into(),
        }
    }

    fn close(&mut self) {
        let f = self.closed();
        self.step(f);
    }
}

// --- reading a transition ---

fn reactions(t: &Transition) -> Vec<&'static str> {
    t.actions
        .iter()
        .filter_map(|a| match a {
            Action::React { reaction, .. } => Some(reaction.content()),
            _ => None,
        })
        .collect()
}

fn replies(t: &Transition) -> Vec<&str> {
    t.actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply { body } => Some(body.as_str()),
            _ => None,
        })
        .collect()
}

fn recorded(t: &Transition) -> Vec<&str> {
    t.actions
        .iter()
        .filter_map(|a| match a {
            Action::RecordDeploy { deploy } => Some(deploy.dispatch_id.as_str()),
            _ => None,
        })
        .collect()
}

/// A dispatch as the caller would perform it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dispatched {
    workflow: String,
    git_ref: String,
    environment: Environment,
    kind: DeployKind,
    sha: Sha,
    requested_by: String,
    dispatch_id: String,
}

fn dispatches(t: &Transition) -> Vec<Dispatched> {
    t.actions
        .iter()
        .filter_map(|a| match a {
            Action::Dispatch {
                workflow,
                git_ref,
                deploy,
            } => Some(Dispatched {
                workflow: workflow.clone(),
                git_ref: git_ref.clone(),
                environment: deploy.environment.clone(),
                kind: deploy.kind,
                sha: deploy.sha.clone(),
                requested_by: deploy.requested_by.clone(),
                dispatch_id: deploy.dispatch_id.to_string(),
            }),
            _ => None,
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn dispatched(
    workflow: &str,
    git_ref: &str,
    environment: Environment,
    kind: DeployKind,
    c: char,
    by: &str,
    id: &str,
) -> Dispatched {
    Dispatched {
        workflow: workflow.into(),
        git_ref: git_ref.into(),
        environment,
        kind,
        sha: sha(c),
        requested_by: by.into(),
        dispatch_id: id.into(),
    }
}

/// The default stage deploy of `c`.
fn stage_deploy(c: char, by: &str, id: &str) -> Dispatched {
    dispatched(
        "cd-stage.yml",
        "main",
        staging(),
        DeployKind::Promote,
        c,
        by,
        id,
    )
}

/// The default prod deploy of `c`.
fn prod_deploy(c: char, by: &str, id: &str) -> Dispatched {
    let env = production();
    dispatched("cd-prod.yml", "main", env, DeployKind::Promote, c, by, id)
}

/// The `smoke.yml` verify run of [`A`] on staging.
fn verify_run(by: &str, id: &str) -> Dispatched {
    dispatched(
        "smoke.yml",
        "main",
        staging(),
        DeployKind::Verify,
        A,
        by,
        id,
    )
}

/// A rollback of `env` to [`OLD`].
fn rollback_deploy(env: Environment, by: &str, id: &str) -> Dispatched {
    let workflow = if env.is("staging") {
        "cd-stage.yml"
    } else {
        "cd-prod.yml"
    };
    dispatched(workflow, "main", env, DeployKind::Rollback, OLD, by, id)
}

// --- the table ---

/// What one transition must look like.
struct Expect {
    stage: Stage,
    changed: bool,
    dispatches: Vec<Dispatched>,
    /// `+1`, `-1` or `confused`; `None` for facts that are not comments.
    reaction: Option<&'static str>,
    /// A substring of the one reply; `None`: no reply at all.
    reply: Option<String>,
    /// Dispatch ids of the `RecordDeploy` actions.
    records: Vec<String>,
    /// Further assertions on the new state.
    then: Option<fn(&GateState)>,
}

fn expect(stage: Stage, changed: bool) -> Expect {
    Expect {
        stage,
        changed,
        dispatches: Vec::new(),
        reaction: None,
        reply: None,
        records: Vec::new(),
        then: None,
    }
}

impl Expect {
    fn dispatch(mut self, d: Dispatched) -> Self {
        self.dispatches.push(d);
        self
    }
    fn accepted(mut self) -> Self {
        self.reaction = Some("+1");
        self
    }
    /// Refused with a reply containing `reason`.
    fn refused(mut self, reason: &str) -> Self {
        self.reaction = Some("-1");
        self.reply = Some(reason.into());
        self
    }
    fn reply(mut self, text: &str) -> Self {
        self.reply = Some(text.into());
        self
    }
    fn react(mut self, reaction: &'static str) -> Self {
        self.reaction = Some(reaction);
        self
    }
    fn records(mut self, id: &str) -> Self {
        self.records.push(id.into());
        self
    }
    fn then(mut self, f: fn(&GateState)) -> Self {
        self.then = Some(f);
        self
    }
}

struct Case {
    name: &'static str,
    yaml: &'static str,
    setup: fn(&mut Pr),
    fact: fn(&mut Pr) -> Fact,
    expect: Expect,
}

/// What GitHub says the PR is: `open`, at head `c`, on `base`.
fn observed(open: bool, c: char, base: &str) -> Fact {
    Fact::Observed {
        open,
        head: sha(c),
        base_ref: base.into(),
        author_id: Person::test(AUTHOR).id,
        default_branch: "main".into(),
    }
}

/// `login` pushed `c` (a `synchronize` delivery's sender).
fn pushed(c: char, login: &str) -> Fact {
    Fact::Pushed {
        sha: sha(c),
        by: Person::test(login),
    }
}

fn none(_: &mut Pr) {}

/// Runs one table case: each is a `#[test]` of its own.
fn one(case: Case) {
    run(vec![case]);
}

fn check(name: &str, pr: &Pr, t: &Transition, e: &Expect) {
    assert_eq!(
        t.state.stage(&pr.cfg.pipeline),
        e.stage,
        "{name}: stage ({})",
        t.note
    );
    assert_eq!(t.changed, e.changed, "{name}: changed ({})", t.note);
    assert_eq!(
        dispatches(t),
        e.dispatches,
        "{name}: dispatches ({})",
        t.note
    );
    for a in &t.actions {
        if let Action::Dispatch { deploy, .. } = a {
            assert_eq!(deploy.status, DeployStatus::Pending, "{name}");
            assert_eq!(deploy.run_id, None, "{name}");
            assert_eq!(deploy.at, pr.now, "{name}: dispatched at the context's now");
        }
    }
    assert_eq!(
        reactions(t),
        e.reaction.into_iter().collect::<Vec<_>>(),
        "{name}: reactions ({})",
        t.note
    );
    let got = replies(t);
    match &e.reply {
        None => assert!(got.is_empty(), "{name}: unexpected replies {got:?}"),
        Some(want) => {
            assert_eq!(got.len(), 1, "{name}: replies {got:?}");
            assert!(
                got[0].contains(want.as_str()),
                "{name}: reply {:?} lacks {want:?}",
                got[0]
            );
        }
    }
    assert_eq!(recorded(t), e.records, "{name}: RecordDeploy ({})", t.note);
    let syncs = t
        .actions
        .iter()
        .filter(|a| **a == Action::SyncCheckRun)
        .count();
    assert_eq!(
        syncs,
        usize::from(t.changed),
        "{name}: one SyncCheckRun iff changed"
    );
    if t.changed {
        assert_eq!(t.state.updated_at, pr.now, "{name}: updated_at");
    }
    if let Some(f) = e.then {
        f(&t.state);
    }
}

fn run(cases: Vec<Case>) {
    for c in cases {
        let mut pr = Pr::new(c.yaml);
        (c.setup)(&mut pr);
        let before = pr.s.clone();
        let fact = (c.fact)(&mut pr);
        let t = pr.apply(&fact);
        if !t.changed {
            assert_eq!(t.state, before, "{}: unchanged means equal", c.name);
        }
        check(c.name, &pr, &t, &c.expect);
    }
}

mod answers;
mod approve;
mod cancel;
mod chains;
mod ci;
mod closed;
mod config_error;
mod duplicates;
mod freeze;
mod gated_bases;
mod hold;
mod lgtm;
mod locks;
mod merge;
mod new_head;
mod observed_pr;
mod people;
mod promotion;
mod queued_dispatches;
mod roles;
mod rollback;
mod shared;
mod stage_runs;
mod stale_head;
mod verify_stage;
