//! Tests for the pure gate state machine, [`super::machine::apply`].
//!
//! Every state is built the way production builds it: by applying facts to a
//! fresh [`GateState::new`] under a fixed clock and a config parsed from YAML
//! with [`config::parse`]. Most tests are tables of [`Case`]s: a setup made of
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
use super::machine::{Action, Actor, Fact, Policy, Role, Transition, apply, required_role};
use super::state::{DeployKind, DeployStatus, GateState, Stage};
use crate::commands::{Command, HELP_TEXT};
use crate::config::{self, RepoConfig};
use crate::domain::{DispatchId, Environment, PrKey, RepoName, Sha};

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
    /// [`Policy::clock_skew`]: none unless a test sets it.
    skew: Duration,
    s: GateState,
    next_comment: u64,
}

impl Pr {
    fn new(yaml: &str) -> Pr {
        let cfg = config::parse(yaml).expect("test config parses");
        let pr = PrKey {
            repo: RepoName::parse("acme/widgets").unwrap(),
            number: PR,
        };
        let mut s = GateState::new(pr, "Alice", sha(A), "main", Some(7), t0());
        // As gatebot creates records: with the base GitHub reported.
        s.base_ref = Some("main".into());
        Pr {
            cfg,
            now: t0(),
            skew: Duration::zero(),
            s,
            next_comment: 1000,
        }
    }

    fn apply(&mut self, fact: &Fact) -> Transition {
        let policy = Policy {
            config: &self.cfg,
            now: self.now,
            clock_skew: self.skew,
        };
        let t = apply(&self.s, fact, &policy);
        self.s = t.state.clone();
        t
    }

    fn head(&self) -> Sha {
        self.s.head_sha.clone()
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
                login: login.to_string(),
                authorized,
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
            .stage
            .as_ref()
            .expect("a stage deploy")
            .dispatch_id
            .clone()
    }

    fn prod_id(&self) -> DispatchId {
        self.s
            .prod
            .as_ref()
            .expect("a prod deploy")
            .dispatch_id
            .clone()
    }

    fn verify_id(&self) -> DispatchId {
        let v = self.s.verification.as_ref().expect("a verification");
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
        self.ok(QA, Command::Lgtm);
    }

    /// CI green and `/lgtm` by [`QA`]: the stage deploy is pending.
    fn staging(&mut self) {
        self.green();
        self.lgtm();
        assert_eq!(self.s.stage(), Stage::StageDeploying);
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
        assert_eq!(self.s.stage(), Stage::WaitingForVerification);
    }

    /// Staging verified by [`QA`] (and the verify run passed, if configured).
    fn verified(&mut self) {
        self.staged();
        self.ok(QA, Command::VerifyStage);
        if self.cfg.workflows.verify.is_some() {
            let id = self.verify_id();
            self.finish(&id, true);
        }
        assert_eq!(self.s.stage(), Stage::WaitingForApproval);
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
        self.ok(REL, Command::Approve);
    }

    /// The prod deploy succeeded.
    fn deployed(&mut self) {
        self.approved();
        let id = self.prod_id();
        self.finish(&id, true);
        assert_eq!(self.s.stage(), Stage::Deployed);
    }

    fn hold(&mut self) {
        self.ok(
            REL,
            Command::Hold {
                reason: Some("incident 12".into()),
            },
        );
    }

    fn push(&mut self, c: char) {
        let f = observed(true, c, "main");
        self.step(f);
    }

    /// GitHub now says the PR is closed (at its head).
    fn closed(&self) -> Fact {
        Fact::Observed {
            open: false,
            head: self.head(),
            base_ref: "main".into(),
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
                environment: deploy.environment,
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
        Environment::Staging,
        DeployKind::Promote,
        c,
        by,
        id,
    )
}

/// The default prod deploy of `c`.
fn prod_deploy(c: char, by: &str, id: &str) -> Dispatched {
    let env = Environment::Production;
    dispatched("cd-prod.yml", "main", env, DeployKind::Promote, c, by, id)
}

/// The `smoke.yml` verify run of [`A`] on staging.
fn verify_run(by: &str, id: &str) -> Dispatched {
    dispatched(
        "smoke.yml",
        "main",
        Environment::Staging,
        DeployKind::Verify,
        A,
        by,
        id,
    )
}

/// A rollback of `env` to [`OLD`].
fn rollback_deploy(env: Environment, by: &str, id: &str) -> Dispatched {
    let workflow = match env {
        Environment::Staging => "cd-stage.yml",
        Environment::Production => "cd-prod.yml",
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

fn none(_: &mut Pr) {}

fn check(name: &str, pr: &Pr, t: &Transition, e: &Expect) {
    assert_eq!(t.state.stage(), e.stage, "{name}: stage ({})", t.note);
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
            assert_eq!(deploy.at, pr.now, "{name}: dispatched at the policy's now");
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

// ---------------------------------------------------------------------------
// CI
// ---------------------------------------------------------------------------

#[test]
fn fresh_state_waits_for_ci() {
    let pr = Pr::new(DEFAULTS);
    assert_eq!(pr.s.stage(), Stage::WaitingForCi);
    assert_eq!(pr.s.author, AUTHOR);
    assert_eq!(pr.s.ci, CiStatus::Pending);
    assert_eq!(pr.s.dispatch_seq, 0);
}

#[test]
fn ci() {
    run(vec![
        Case {
            name: "green on head: waiting for CI -> waiting for QA",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::WaitingForQa, true).then(|s| assert_eq!(s.ci, CiStatus::Green)),
        },
        Case {
            name: "CI for another SHA is ignored",
            yaml: DEFAULTS,
            setup: none,
            fact: |_| Fact::Ci {
                sha: sha(B),
                status: CiStatus::Green,
            },
            expect: expect(Stage::WaitingForCi, false),
        },
        Case {
            name: "CI failed",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| p.ci(CiStatus::Failed),
            expect: expect(Stage::CiFailed, true),
        },
        Case {
            name: "green after a failed run",
            yaml: DEFAULTS,
            setup: |p| {
                let f = p.ci(CiStatus::Failed);
                p.step(f);
            },
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::WaitingForQa, true),
        },
        Case {
            name: "CI turning red while staging deploys is recorded; the deploy runs on",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| p.ci(CiStatus::Failed),
            expect: expect(Stage::StageDeploying, true)
                .then(|s| assert_eq!(s.ci, CiStatus::Failed)),
        },
        Case {
            name: "CI re-running after the stage deploy is recorded",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| p.ci(CiStatus::Pending),
            expect: expect(Stage::WaitingForVerification, true)
                .then(|s| assert_eq!(s.ci, CiStatus::Pending)),
        },
        Case {
            name: "CI red after the stage deploy failed: a retried /lgtm dispatches nothing",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let id = p.stage_id();
                p.finish(&id, false);
                let red = p.ci(CiStatus::Failed);
                p.step(red);
            },
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::CiFailed, true)
                .accepted()
                .then(|s| assert_eq!(s.stage, None)),
        },
        Case {
            name: "CI green again after that: staging is dispatched anew",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let id = p.stage_id();
                p.finish(&id, false);
                let red = p.ci(CiStatus::Failed);
                p.step(red);
                p.lgtm();
            },
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::StageDeploying, true).dispatch(stage_deploy(
                A,
                QA,
                "42-staging-aaaaaaa-2",
            )),
        },
        Case {
            name: "CI red after verification: /approve is recorded, production is not dispatched",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                let red = p.ci(CiStatus::Failed);
                p.step(red);
            },
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::CiFailed, true)
                .accepted()
                .then(|s| assert_eq!(s.prod, None)),
        },
    ]);
}

// ---------------------------------------------------------------------------
// /lgtm and the stage dispatch
// ---------------------------------------------------------------------------

#[test]
fn lgtm() {
    let stage1 = "42-staging-aaaaaaa-1";
    run(vec![
        Case {
            name: "/lgtm before CI green is recorded, no dispatch",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::WaitingForCi, true).accepted().then(|s| {
                let l = s.lgtm.as_ref().expect("lgtm recorded");
                assert_eq!((l.login.as_str(), &l.sha), (QA, &sha(A)));
                assert_eq!(s.stage, None);
            }),
        },
        Case {
            name: "CI green after /lgtm dispatches stage as the lgtm login",
            yaml: DEFAULTS,
            setup: |p| p.lgtm(),
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::StageDeploying, true)
                .dispatch(stage_deploy(A, QA, stage1))
                .then(|s| {
                    let d = s.stage.as_ref().expect("stage deploy stored");
                    assert_eq!(d.dispatch_id, "42-staging-aaaaaaa-1");
                    assert_eq!(d.status, DeployStatus::Pending);
                    assert_eq!(s.dispatch_seq, 1);
                }),
        },
        Case {
            name: "/lgtm after CI green dispatches at once",
            yaml: DEFAULTS,
            setup: Pr::green,
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::StageDeploying, true)
                .accepted()
                .dispatch(stage_deploy(A, QA, stage1)),
        },
        Case {
            name: "custom workflow names and ref",
            yaml: CUSTOM,
            setup: Pr::green,
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::StageDeploying, true)
                .accepted()
                .dispatch(dispatched(
                    "deploy-stage.yaml",
                    "release/2026",
                    Environment::Staging,
                    DeployKind::Promote,
                    A,
                    QA,
                    stage1,
                )),
        },
        Case {
            name: "duplicate CI green does not dispatch twice",
            yaml: DEFAULTS,
            setup: |p| {
                p.lgtm();
                p.green();
            },
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::StageDeploying, false),
        },
        Case {
            name: "second /lgtm after the dispatch is refused: wrong stage",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| p.command(QA2, Command::Lgtm),
            expect: expect(Stage::StageDeploying, false).refused(
                "@dave `/lgtm` refused: wrong stage: staging is already dispatched for this SHA",
            ),
        },
        Case {
            name: "/lgtm after the stage deploy succeeded is refused",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| p.command(QA2, Command::Lgtm),
            expect: expect(Stage::WaitingForVerification, false).refused("wrong stage"),
        },
        Case {
            name: "second /lgtm before CI keeps the first",
            yaml: DEFAULTS,
            setup: |p| p.lgtm(),
            fact: |p| p.command(QA2, Command::Lgtm),
            expect: expect(Stage::WaitingForCi, false)
                .accepted()
                .then(|s| assert_eq!(s.lgtm.as_ref().unwrap().login, QA)),
        },
        Case {
            name: "/lgtm while CI failed is recorded, no dispatch",
            yaml: DEFAULTS,
            setup: |p| {
                let f = p.ci(CiStatus::Failed);
                p.step(f);
            },
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::CiFailed, true).accepted(),
        },
        Case {
            name: "the author's /lgtm is refused",
            yaml: DEFAULTS,
            setup: Pr::green,
            fact: |p| p.command(AUTHOR, Command::Lgtm),
            expect: expect(Stage::WaitingForQa, false).refused("cannot approve their own"),
        },
        Case {
            name: "/lgtm without the qa role is refused",
            yaml: DEFAULTS,
            setup: Pr::green,
            fact: |p| {
                let at = p.written();
                p.command_with(QA, false, Command::Lgtm, at, None)
            },
            expect: expect(Stage::WaitingForQa, false).refused("you need the qa role"),
        },
        Case {
            name: "/lgtm after a failed stage deploy dispatches again",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let id = p.stage_id();
                p.finish(&id, false);
            },
            fact: |p| p.command(QA2, Command::Lgtm),
            expect: expect(Stage::StageDeploying, true)
                .accepted()
                .dispatch(stage_deploy(A, QA2, "42-staging-aaaaaaa-2")),
        },
    ]);
}

// ---------------------------------------------------------------------------
// Stage runs
// ---------------------------------------------------------------------------

#[test]
fn stage_runs() {
    let stage1 = "42-staging-aaaaaaa-1";
    run(vec![
        Case {
            name: "stage run succeeded: waiting for verification, recorded",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| p.done(&p.stage_id(), true),
            expect: expect(Stage::WaitingForVerification, true)
                .records(stage1)
                .then(|s| {
                    let d = s.stage.as_ref().unwrap();
                    assert_eq!(d.status, DeployStatus::Succeeded);
                    assert_eq!(d.run_id, Some(7000));
                    assert_eq!(d.finished_at, Some(t0()));
                    assert_eq!(
                        d.run_url.as_deref(),
                        Some("https://github.com/acme/widgets/actions/runs/7000")
                    );
                }),
        },
        Case {
            name: "stage run failed",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| p.done(&p.stage_id(), false),
            expect: expect(Stage::StageFailed, true),
        },
        Case {
            name: "repeated completion of the same run is ignored",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| p.done(&p.stage_id(), true),
            expect: expect(Stage::WaitingForVerification, false),
        },
        Case {
            name: "a late failure after success is ignored",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| p.done(&p.stage_id(), false),
            expect: expect(Stage::WaitingForVerification, false),
        },
        Case {
            name: "a late success after failure is ignored",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let id = p.stage_id();
                p.finish(&id, false);
            },
            fact: |p| p.done(&p.stage_id(), true),
            expect: expect(Stage::StageFailed, false),
        },
        Case {
            name: "unknown dispatch id is ignored",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |_| Fact::RunCompleted {
                dispatch_id: "42-staging-aaaaaaa-99".into(),
                run_id: 7000,
                success: true,
                url: None,
                completed_at: None,
            },
            expect: expect(Stage::StageDeploying, false),
        },
        Case {
            name: "run id other than the linked run is ignored",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let dispatch_id = p.stage_id();
                p.step(Fact::RunLinked {
                    dispatch_id,
                    run_id: 555,
                    url: None,
                });
            },
            fact: |p| Fact::RunCompleted {
                dispatch_id: p.stage_id(),
                run_id: 556,
                success: true,
                url: None,
                completed_at: None,
            },
            expect: expect(Stage::StageDeploying, false),
        },
        Case {
            name: "RunLinked links the run",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| Fact::RunLinked {
                dispatch_id: p.stage_id(),
                run_id: 555,
                url: Some("https://example.test/runs/555".into()),
            },
            expect: expect(Stage::StageDeploying, true).then(|s| {
                let d = s.stage.as_ref().unwrap();
                assert_eq!(d.run_id, Some(555));
                assert_eq!(d.run_url.as_deref(), Some("https://example.test/runs/555"));
                assert_eq!(d.status, DeployStatus::Pending);
            }),
        },
        Case {
            name: "a second RunLinked is ignored",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let dispatch_id = p.stage_id();
                p.step(Fact::RunLinked {
                    dispatch_id,
                    run_id: 555,
                    url: None,
                });
            },
            fact: |p| Fact::RunLinked {
                dispatch_id: p.stage_id(),
                run_id: 556,
                url: None,
            },
            expect: expect(Stage::StageDeploying, false),
        },
        Case {
            name: "RunLinked then RunCompleted of the linked run",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let dispatch_id = p.stage_id();
                p.step(Fact::RunLinked {
                    dispatch_id,
                    run_id: 555,
                    url: None,
                });
            },
            fact: |p| Fact::RunCompleted {
                dispatch_id: p.stage_id(),
                run_id: 555,
                success: true,
                url: None,
                completed_at: None,
            },
            expect: expect(Stage::WaitingForVerification, true)
                .records(stage1)
                .then(|s| assert_eq!(s.stage.as_ref().unwrap().run_id, Some(555))),
        },
        Case {
            name: "RunLinked after completion is ignored",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| Fact::RunLinked {
                dispatch_id: p.stage_id(),
                run_id: 9,
                url: None,
            },
            expect: expect(Stage::WaitingForVerification, false),
        },
        Case {
            name: "dispatch refused: stage failed, with a reply",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| Fact::DispatchFailed {
                dispatch_id: p.stage_id(),
                reason: "workflow not found".into(),
            },
            expect: expect(Stage::StageFailed, true).reply(
                "gatebot could not dispatch the staging deploy of `aaaaaaa`: workflow not found",
            ),
        },
        Case {
            name: "dispatch failure after the run was linked is ignored",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let dispatch_id = p.stage_id();
                p.step(Fact::RunLinked {
                    dispatch_id,
                    run_id: 555,
                    url: None,
                });
            },
            fact: |p| Fact::DispatchFailed {
                dispatch_id: p.stage_id(),
                reason: "timeout".into(),
            },
            expect: expect(Stage::StageDeploying, false),
        },
    ]);
}

// ---------------------------------------------------------------------------
// /verify-stage
// ---------------------------------------------------------------------------

#[test]
fn verify_stage() {
    run(vec![
        // Found by the property tests: the author holding the qa role.
        Case {
            name: "the author cannot verify their own change",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| p.command(AUTHOR, Command::VerifyStage),
            expect: expect(Stage::WaitingForVerification, false)
                .refused("cannot approve their own change"),
        },
        Case {
            name: "without a verify workflow: verified at once",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| p.command(QA, Command::VerifyStage),
            expect: expect(Stage::WaitingForApproval, true)
                .accepted()
                .then(|s| {
                    let v = s.verification.as_ref().unwrap();
                    assert_eq!((v.login.as_str(), &v.sha), (QA, &sha(A)));
                    assert_eq!(v.run, None);
                }),
        },
        Case {
            name: "before the stage deploy finished: wrong stage",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| p.command(QA, Command::VerifyStage),
            expect: expect(Stage::StageDeploying, false)
                .refused("wrong stage: staging is not deployed for aaaaaaa yet"),
        },
        Case {
            name: "before any stage deploy: wrong stage",
            yaml: DEFAULTS,
            setup: Pr::green,
            fact: |p| p.command(QA, Command::VerifyStage),
            expect: expect(Stage::WaitingForQa, false).refused("wrong stage"),
        },
        Case {
            name: "after the stage deploy failed: wrong stage",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let id = p.stage_id();
                p.finish(&id, false);
            },
            fact: |p| p.command(QA, Command::VerifyStage),
            expect: expect(Stage::StageFailed, false).refused("wrong stage"),
        },
        Case {
            name: "without the qa role: refused",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| {
                let at = p.written();
                p.command_with(QA, false, Command::VerifyStage, at, None)
            },
            expect: expect(Stage::WaitingForVerification, false).refused("qa role"),
        },
        Case {
            name: "again when verified: accepted, nothing new",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |p| p.command(QA2, Command::VerifyStage),
            expect: expect(Stage::WaitingForApproval, false).accepted(),
        },
        Case {
            name: "with a verify workflow: dispatches it",
            yaml: VERIFY,
            setup: Pr::staged,
            fact: |p| p.command(QA, Command::VerifyStage),
            expect: expect(Stage::Verifying, true)
                .accepted()
                .dispatch(verify_run(QA, "42-verify-aaaaaaa-2"))
                .then(|s| {
                    let v = s.verification.as_ref().unwrap();
                    assert!(!v.passed());
                    assert_eq!(v.run.as_ref().unwrap().dispatch_id, "42-verify-aaaaaaa-2");
                }),
        },
        Case {
            name: "verify run succeeded: waiting for approval, not recorded",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
            },
            fact: |p| p.done(&p.verify_id(), true),
            expect: expect(Stage::WaitingForApproval, true),
        },
        Case {
            name: "verify run failed",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
            },
            fact: |p| p.done(&p.verify_id(), false),
            expect: expect(Stage::VerificationFailed, true),
        },
        Case {
            name: "again while verifying: accepted, no second run",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
            },
            fact: |p| p.command(QA2, Command::VerifyStage),
            expect: expect(Stage::Verifying, false).accepted(),
        },
        Case {
            name: "again after the verify run failed: dispatched again",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
                let id = p.verify_id();
                p.finish(&id, false);
            },
            fact: |p| p.command(QA2, Command::VerifyStage),
            expect: expect(Stage::Verifying, true)
                .accepted()
                .dispatch(verify_run(QA2, "42-verify-aaaaaaa-3"))
                .then(|s| assert_eq!(s.verification.as_ref().unwrap().login, QA2)),
        },
        Case {
            name: "verify dispatch refused: verification failed",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
            },
            fact: |p| Fact::DispatchFailed {
                dispatch_id: p.verify_id(),
                reason: "no such workflow".into(),
            },
            expect: expect(Stage::VerificationFailed, true)
                .reply("could not dispatch the staging verification of `aaaaaaa`"),
        },
        Case {
            name: "with a verify workflow while held: refused",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.hold();
            },
            fact: |p| p.command(QA, Command::VerifyStage),
            expect: expect(Stage::WaitingForVerification, false)
                .refused("dispatches are held by @carol (`incident 12`)"),
        },
        Case {
            name: "verify run passing with the approval in dispatches prod",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(REL, Command::Approve);
                p.ok(QA, Command::VerifyStage);
            },
            fact: |p| p.done(&p.verify_id(), true),
            expect: expect(Stage::ProdDeploying, true).dispatch(prod_deploy(
                A,
                REL,
                "42-production-aaaaaaa-3",
            )),
        },
    ]);
}

// ---------------------------------------------------------------------------
// /approve and the prod dispatch
// ---------------------------------------------------------------------------

#[test]
fn approve() {
    let prod2 = "42-production-aaaaaaa-2";
    run(vec![
        Case {
            name: "quorum 1: dispatches prod",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::ProdDeploying, true)
                .accepted()
                .dispatch(prod_deploy(A, REL, prod2))
                .then(|s| {
                    assert_eq!(s.prod.as_ref().unwrap().dispatch_id, "42-production-aaaaaaa-2");
                    assert_eq!(s.approvers(), [REL]);
                }),
        },
        Case {
            name: "custom prod workflow and ref",
            yaml: CUSTOM,
            setup: Pr::verified,
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::ProdDeploying, true).accepted().dispatch(dispatched(
                "ship.yml",
                "release/2026",
                Environment::Production,
                DeployKind::Promote,
                A,
                REL,
                prod2,
            )),
        },
        Case {
            name: "quorum 2: the first approval does not dispatch",
            yaml: QUORUM2,
            setup: Pr::verified,
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::WaitingForApproval, true)
                .accepted()
                .then(|s| assert_eq!(s.approvers(), [REL])),
        },
        Case {
            name: "quorum 2: the same user again does not dispatch",
            yaml: QUORUM2,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
            },
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::WaitingForApproval, false)
                .accepted()
                .then(|s| assert_eq!(s.approvals.len(), 1)),
        },
        Case {
            name: "quorum 2: a second distinct approver dispatches",
            yaml: QUORUM2,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
                p.ok(REL, Command::Approve);
            },
            fact: |p| p.command(REL2, Command::Approve),
            expect: expect(Stage::ProdDeploying, true)
                .accepted()
                .dispatch(prod_deploy(A, REL2, prod2))
                .then(|s| assert_eq!(s.approvers(), [REL, REL2])),
        },
        Case {
            name: "quorum 2: a third approval after the dispatch is refused",
            yaml: QUORUM2,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
                p.ok(REL2, Command::Approve);
            },
            fact: |p| p.command("frank", Command::Approve),
            expect: expect(Stage::ProdDeploying, false)
                .refused("wrong stage: production is already dispatched for this SHA"),
        },
        Case {
            name: "the author's /approve is refused",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |p| p.command(AUTHOR, Command::Approve),
            expect: expect(Stage::WaitingForApproval, false).refused(
                "@alice `/approve` refused: the author of a pull request cannot approve their own change",
            ),
        },
        Case {
            name: "/approve without the release role is refused",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |p| {
                let at = p.written();
                p.command_with(QA, false, Command::Approve, at, None)
            },
            expect: expect(Stage::WaitingForApproval, false)
                .refused("you need the release role for this command"),
        },
        Case {
            name: "/approve before verification is recorded, no dispatch",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::WaitingForVerification, true)
                .accepted()
                .then(|s| assert_eq!(s.approvers(), [REL])),
        },
        Case {
            name: "/approve before CI is recorded, no dispatch",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::WaitingForCi, true)
                .accepted()
                .then(|s| assert_eq!(s.approvers(), [REL])),
        },
        Case {
            // requested_by is the login whose command caused the dispatch.
            name: "/verify-stage after /approve dispatches prod as the verifier",
            yaml: DEFAULTS,
            setup: |p| {
                p.staged();
                p.ok(REL, Command::Approve);
            },
            fact: |p| p.command(QA, Command::VerifyStage),
            expect: expect(Stage::ProdDeploying, true)
                .accepted()
                .dispatch(prod_deploy(A, QA, prod2)),
        },
        Case {
            name: "prod run succeeded: deployed, recorded",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |p| p.done(&p.prod_id(), true),
            expect: expect(Stage::Deployed, true).records(prod2),
        },
        Case {
            name: "prod run failed",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |p| p.done(&p.prod_id(), false),
            expect: expect(Stage::ProdFailed, true),
        },
        Case {
            name: "/approve after the prod deploy failed dispatches again",
            yaml: DEFAULTS,
            setup: |p| {
                p.approved();
                let id = p.prod_id();
                p.finish(&id, false);
            },
            fact: |p| p.command(REL2, Command::Approve),
            expect: expect(Stage::ProdDeploying, true)
                .accepted()
                .dispatch(prod_deploy(A, REL2, "42-production-aaaaaaa-3")),
        },
        Case {
            name: "/approve after deployed is refused",
            yaml: DEFAULTS,
            setup: Pr::deployed,
            fact: |p| p.command(REL2, Command::Approve),
            expect: expect(Stage::Deployed, false).refused("wrong stage"),
        },
        Case {
            name: "/verify-stage after the prod dispatch is refused",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |p| p.command(QA2, Command::VerifyStage),
            expect: expect(Stage::ProdDeploying, false)
                .refused("production is already dispatched"),
        },
    ]);
}

// ---------------------------------------------------------------------------
// Cancel forms
// ---------------------------------------------------------------------------

#[test]
fn cancel() {
    run(vec![
        Case {
            name: "/lgtm cancel by its giver before the dispatch clears it",
            yaml: DEFAULTS,
            setup: |p| p.lgtm(),
            fact: |p| p.command(QA, Command::LgtmCancel),
            expect: expect(Stage::WaitingForCi, true)
                .accepted()
                .then(|s| assert_eq!(s.lgtm, None)),
        },
        Case {
            name: "CI green after /lgtm cancel does not dispatch",
            yaml: DEFAULTS,
            setup: |p| {
                p.lgtm();
                p.ok(QA, Command::LgtmCancel);
            },
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::WaitingForQa, true),
        },
        Case {
            name: "/lgtm cancel by someone else is refused",
            yaml: DEFAULTS,
            setup: |p| p.lgtm(),
            fact: |p| p.command(QA2, Command::LgtmCancel),
            expect: expect(Stage::WaitingForCi, false).refused("only @bob can cancel it"),
        },
        Case {
            name: "/lgtm cancel after the dispatch is refused",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| p.command(QA, Command::LgtmCancel),
            expect: expect(Stage::StageDeploying, false)
                .refused("wrong stage: staging is already dispatched"),
        },
        Case {
            name: "/lgtm cancel after a failed stage deploy withdraws it",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let id = p.stage_id();
                p.finish(&id, false);
            },
            fact: |p| p.command(QA, Command::LgtmCancel),
            expect: expect(Stage::WaitingForQa, true).accepted().then(|s| {
                assert_eq!(s.lgtm, None);
                assert_eq!(s.stage, None);
            }),
        },
        Case {
            name: "/lgtm cancel with no /lgtm",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| p.command(QA, Command::LgtmCancel),
            expect: expect(Stage::WaitingForCi, false)
                .refused("there is nothing to cancel: no /lgtm on this SHA"),
        },
        Case {
            name: "/approve cancel removes one's own approval",
            yaml: QUORUM2,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
            },
            fact: |p| p.command(REL, Command::ApproveCancel),
            expect: expect(Stage::WaitingForApproval, true)
                .accepted()
                .then(|s| assert!(s.approvals.is_empty())),
        },
        Case {
            name: "/verify-stage after /approve cancel does not dispatch prod",
            yaml: DEFAULTS,
            setup: |p| {
                p.staged();
                p.ok(REL, Command::Approve);
                p.ok(REL, Command::ApproveCancel);
            },
            fact: |p| p.command(QA, Command::VerifyStage),
            expect: expect(Stage::WaitingForApproval, true).accepted(),
        },
        Case {
            name: "/approve cancel keeps the other approvals",
            yaml: "approvals: {prod: 3}",
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
                p.ok(REL2, Command::Approve);
            },
            fact: |p| p.command(REL, Command::ApproveCancel),
            expect: expect(Stage::WaitingForApproval, true)
                .accepted()
                .then(|s| assert_eq!(s.approvers(), [REL2])),
        },
        Case {
            name: "/approve cancel without an approval",
            yaml: QUORUM2,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
            },
            fact: |p| p.command(REL2, Command::ApproveCancel),
            expect: expect(Stage::WaitingForApproval, false)
                .refused("nothing to cancel: you have not approved this SHA"),
        },
        Case {
            name: "/approve cancel after the prod dispatch is refused",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |p| p.command(REL, Command::ApproveCancel),
            expect: expect(Stage::ProdDeploying, false).refused("production is already dispatched"),
        },
        Case {
            name: "/verify-stage cancel withdraws the verification",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |p| p.command(QA, Command::VerifyStageCancel),
            expect: expect(Stage::WaitingForVerification, true)
                .accepted()
                .then(|s| assert_eq!(s.verification, None)),
        },
        Case {
            name: "/approve after /verify-stage cancel does not dispatch",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                p.ok(QA, Command::VerifyStageCancel);
            },
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::WaitingForVerification, true).accepted(),
        },
        Case {
            name: "/verify-stage cancel by someone else is refused",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |p| p.command(QA2, Command::VerifyStageCancel),
            expect: expect(Stage::WaitingForApproval, false).refused("only @bob can cancel it"),
        },
        Case {
            name: "/verify-stage cancel with nothing verified",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| p.command(QA, Command::VerifyStageCancel),
            expect: expect(Stage::WaitingForVerification, false)
                .refused("nothing to cancel: staging is not verified"),
        },
        Case {
            name: "/verify-stage cancel while the verify run is running detaches it",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
            },
            fact: |p| p.command(QA, Command::VerifyStageCancel),
            expect: expect(Stage::WaitingForVerification, true)
                .accepted()
                .then(|s| {
                    assert_eq!(s.verification, None);
                    let ids: Vec<_> = s.detached.iter().map(|d| d.dispatch_id.as_str()).collect();
                    assert_eq!(ids, ["42-verify-aaaaaaa-2"]);
                }),
        },
        Case {
            name: "/verify-stage cancel after the prod dispatch is refused",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |p| p.command(QA, Command::VerifyStageCancel),
            expect: expect(Stage::ProdDeploying, false).refused("production is already dispatched"),
        },
        Case {
            name: "a cancelled verify run completing later changes no gate",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
                p.ok(QA, Command::VerifyStageCancel);
                p.ok(REL, Command::Approve);
            },
            fact: |p| p.done(&p.detached_id(0), true),
            expect: expect(Stage::WaitingForVerification, true).then(|s| {
                assert!(s.detached.is_empty());
                assert_eq!(s.prod, None);
            }),
        },
    ]);
}

// ---------------------------------------------------------------------------
// /hold and /unhold
// ---------------------------------------------------------------------------

#[test]
fn hold() {
    run(vec![
        Case {
            name: "/hold records who and why",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| {
                p.command(
                    REL,
                    Command::Hold {
                        reason: Some("incident 12".into()),
                    },
                )
            },
            expect: expect(Stage::WaitingForCi, true).accepted().then(|s| {
                let h = s.hold.as_ref().unwrap();
                assert_eq!(h.login, REL);
                assert_eq!(h.reason.as_deref(), Some("incident 12"));
            }),
        },
        Case {
            name: "/hold without the role is refused",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| {
                let at = p.written();
                p.command_with(QA, false, Command::Hold { reason: None }, at, None)
            },
            expect: expect(Stage::WaitingForCi, false).refused("qa or release role"),
        },
        Case {
            name: "CI green with a recorded /lgtm while held: no dispatch",
            yaml: DEFAULTS,
            setup: |p| {
                p.lgtm();
                p.hold();
            },
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::WaitingForQa, true).then(|s| assert_eq!(s.stage, None)),
        },
        Case {
            name: "/lgtm while held: recorded, the reply says it is held",
            yaml: DEFAULTS,
            setup: |p| {
                p.green();
                p.hold();
            },
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::WaitingForQa, true)
                .accepted()
                .reply("Recorded, but dispatches are held by @carol (`incident 12`)"),
        },
        Case {
            // requested_by is the login whose command caused the dispatch.
            name: "/unhold dispatches what the gates allow, as the unholder",
            yaml: DEFAULTS,
            setup: |p| {
                p.lgtm();
                p.hold();
                p.green();
            },
            fact: |p| p.command(REL, Command::Unhold),
            expect: expect(Stage::StageDeploying, true)
                .accepted()
                .dispatch(stage_deploy(A, REL, "42-staging-aaaaaaa-1"))
                .then(|s| assert_eq!(s.hold, None)),
        },
        Case {
            name: "/approve while held with every gate passed: no dispatch",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                p.hold();
            },
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::WaitingForApproval, true)
                .accepted()
                .reply("held by @carol"),
        },
        Case {
            name: "/unhold then dispatches prod",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                p.hold();
                p.ok(REL2, Command::Approve);
            },
            fact: |p| p.command(QA, Command::Unhold),
            expect: expect(Stage::ProdDeploying, true)
                .accepted()
                .dispatch(prod_deploy(A, QA, "42-production-aaaaaaa-2")),
        },
        Case {
            name: "/unhold when not held is refused",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| p.command(REL, Command::Unhold),
            expect: expect(Stage::WaitingForCi, false)
                .refused("nothing to cancel: this pull request is not held"),
        },
        Case {
            name: "/rollback while held is refused",
            yaml: DEFAULTS,
            setup: Pr::hold,
            fact: |p| p.rollback(REL, Environment::Production),
            expect: expect(Stage::WaitingForCi, false)
                .refused("dispatches are held by @carol (`incident 12`); `/unhold` first"),
        },
        Case {
            name: "a stage run completing while held does not dispatch prod",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                p.hold();
                p.ok(REL, Command::Approve);
            },
            fact: |p| p.done(&p.stage_id(), true),
            expect: expect(Stage::WaitingForVerification, true).records("42-staging-aaaaaaa-1"),
        },
    ]);
}

// ---------------------------------------------------------------------------
// Freeze windows
// ---------------------------------------------------------------------------

#[test]
fn freeze() {
    run(vec![
        Case {
            name: "/approve during a freeze: accepted, no dispatch, reply says frozen",
            yaml: FROZEN,
            setup: Pr::verified,
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::WaitingForApproval, true).accepted().reply(
                "Approval recorded, but production is frozen until 2026-06-02T00:00:00+00:00 (launch week)",
            ),
        },
        Case {
            name: "Reevaluate during the freeze does nothing",
            yaml: FROZEN,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
            },
            fact: |_| Fact::Reevaluate,
            expect: expect(Stage::WaitingForApproval, false),
        },
        Case {
            name: "Reevaluate after the freeze dispatches prod as the approver",
            yaml: FROZEN,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
                p.now = freeze_end() + Duration::hours(1);
            },
            fact: |_| Fact::Reevaluate,
            expect: expect(Stage::ProdDeploying, true)
                .dispatch(prod_deploy(A, REL, "42-production-aaaaaaa-2")),
        },
        Case {
            name: "the window's end is exclusive",
            yaml: FROZEN,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
                p.now = freeze_end();
            },
            fact: |_| Fact::Reevaluate,
            expect: expect(Stage::ProdDeploying, true)
                .dispatch(prod_deploy(A, REL, "42-production-aaaaaaa-2")),
        },
        Case {
            name: "the freeze does not stop the stage deploy",
            yaml: FROZEN,
            setup: Pr::green,
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::StageDeploying, true)
                .accepted()
                .dispatch(stage_deploy(A, QA, "42-staging-aaaaaaa-1")),
        },
        Case {
            name: "/rollback prod during the freeze is refused",
            yaml: FROZEN,
            setup: none,
            fact: |p| p.rollback(REL, Environment::Production),
            expect: expect(Stage::WaitingForCi, false)
                .refused("production is frozen until 2026-06-02T00:00:00+00:00 (launch week)"),
        },
        Case {
            name: "/rollback stage during the freeze is allowed",
            yaml: FROZEN,
            setup: none,
            fact: |p| p.rollback(QA, Environment::Staging),
            expect: expect(Stage::WaitingForCi, true)
                .accepted()
                .reply("Rolling staging back to ccccccc (dispatch `42-staging-ccccccc-1`)")
                .dispatch(rollback_deploy(Environment::Staging, QA, "42-staging-ccccccc-1")),
        },
    ]);
}

// ---------------------------------------------------------------------------
// /rollback
// ---------------------------------------------------------------------------

#[test]
fn rollback() {
    let rb1 = "42-production-ccccccc-1";
    run(vec![
        // Found by the property tests: two deploys to one environment.
        Case {
            name: "a staging rollback still running holds back the /lgtm's deploy",
            yaml: DEFAULTS,
            setup: |p| {
                p.green();
                let f = p.rollback(QA, Environment::Staging);
                p.step(f);
            },
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::WaitingForQa, true)
                .accepted()
                .reply("Recorded, but a deploy to staging is still running"),
        },
        Case {
            name: "the held-back staging deploy goes once the rollback finished",
            yaml: DEFAULTS,
            setup: |p| {
                p.green();
                let f = p.rollback(QA, Environment::Staging);
                p.step(f);
                p.lgtm();
            },
            fact: |p| {
                let id = p.detached_id(0);
                p.done(&id, true)
            },
            expect: expect(Stage::StageDeploying, true)
                .records("42-staging-ccccccc-1")
                .dispatch(stage_deploy(A, QA, "42-staging-aaaaaaa-2")),
        },
        Case {
            name: "a production rollback still running holds back the approved deploy",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                let f = p.rollback(REL, Environment::Production);
                p.step(f);
            },
            fact: |p| p.command(REL2, Command::Approve),
            expect: expect(Stage::WaitingForApproval, true)
                .accepted()
                .reply("Recorded, but a deploy to production is still running"),
        },
        Case {
            name: "a run linked after its dispatch failed changes nothing",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                let id = p.stage_id();
                p.step(Fact::DispatchFailed {
                    dispatch_id: id,
                    reason: "404".into(),
                });
            },
            fact: |p| Fact::RunLinked {
                dispatch_id: p.stage_id(),
                run_id: 10_000,
                url: None,
            },
            expect: expect(Stage::StageFailed, false),
        },
        Case {
            name: "/rollback prod with a target dispatches it, detached",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| p.rollback(REL, Environment::Production),
            expect: expect(Stage::WaitingForCi, true)
                .accepted()
                .reply("Rolling production back to ccccccc (dispatch `42-production-ccccccc-1`).")
                .dispatch(rollback_deploy(Environment::Production, REL, rb1))
                .then(|s| {
                    assert_eq!(s.detached.len(), 1);
                    let d = &s.detached[0];
                    assert_eq!(d.dispatch_id, "42-production-ccccccc-1");
                    assert_eq!(d.kind, DeployKind::Rollback);
                    assert_eq!(d.sha, sha(OLD));
                    assert_eq!((&s.stage, &s.prod), (&None, &None));
                }),
        },
        Case {
            name: "/rollback after deployed",
            yaml: DEFAULTS,
            setup: Pr::deployed,
            fact: |p| p.rollback(REL, Environment::Production),
            expect: expect(Stage::Deployed, true)
                .accepted()
                .reply("Rolling production")
                .dispatch(rollback_deploy(
                    Environment::Production,
                    REL,
                    "42-production-ccccccc-3",
                )),
        },
        Case {
            name: "/rollback without a target is refused",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| {
                let at = p.written();
                p.command_with(
                    REL,
                    true,
                    Command::Rollback(Environment::Production),
                    at,
                    None,
                )
            },
            expect: expect(Stage::WaitingForCi, false)
                .refused("no earlier production deploy in gatebot's history to roll back to"),
        },
        Case {
            name: "/rollback stage while the stage deploy is running is refused",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| p.rollback(QA, Environment::Staging),
            expect: expect(Stage::StageDeploying, false)
                .refused("wrong stage: a deploy to staging is still running"),
        },
        Case {
            name: "/rollback prod while the prod deploy is running is refused",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |p| p.rollback(REL, Environment::Production),
            expect: expect(Stage::ProdDeploying, false)
                .refused("a deploy to production is still running"),
        },
        Case {
            name: "/rollback prod while a rollback is running is refused",
            yaml: DEFAULTS,
            setup: |p| {
                let f = p.rollback(REL, Environment::Production);
                p.step(f);
            },
            fact: |p| p.rollback(REL2, Environment::Production),
            expect: expect(Stage::WaitingForCi, false)
                .refused("a deploy to production is still running"),
        },
        Case {
            name: "/rollback stage while prod is deploying is allowed",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |p| p.rollback(QA, Environment::Staging),
            expect: expect(Stage::ProdDeploying, true)
                .accepted()
                .reply("Rolling staging back")
                .dispatch(rollback_deploy(
                    Environment::Staging,
                    QA,
                    "42-staging-ccccccc-3",
                )),
        },
        Case {
            name: "/rollback stage while verifying is allowed",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
            },
            fact: |p| p.rollback(QA, Environment::Staging),
            expect: expect(Stage::Verifying, true)
                .accepted()
                .reply("Rolling staging back")
                .dispatch(rollback_deploy(
                    Environment::Staging,
                    QA,
                    "42-staging-ccccccc-3",
                )),
        },
        Case {
            name: "/rollback prod without the release role is refused",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| {
                let at = p.written();
                let target = Some(sha(OLD));
                let c = Command::Rollback(Environment::Production);
                p.command_with(QA, false, c, at, target)
            },
            expect: expect(Stage::WaitingForCi, false).refused("release role"),
        },
        Case {
            name: "/rollback stage without the qa role is refused",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| {
                let at = p.written();
                let target = Some(sha(OLD));
                let c = Command::Rollback(Environment::Staging);
                p.command_with(REL, false, c, at, target)
            },
            expect: expect(Stage::WaitingForCi, false).refused("you need the qa role"),
        },
        Case {
            name: "the rollback run succeeded: recorded and no longer tracked",
            yaml: DEFAULTS,
            setup: |p| {
                let f = p.rollback(REL, Environment::Production);
                p.step(f);
            },
            fact: |p| p.done(&p.detached_id(0), true),
            expect: expect(Stage::WaitingForCi, true)
                .records(rb1)
                .then(|s| assert!(s.detached.is_empty())),
        },
        Case {
            name: "the rollback run failed: not recorded, no longer tracked",
            yaml: DEFAULTS,
            setup: |p| {
                let f = p.rollback(REL, Environment::Production);
                p.step(f);
            },
            fact: |p| p.done(&p.detached_id(0), false),
            expect: expect(Stage::WaitingForCi, true).then(|s| assert!(s.detached.is_empty())),
        },
        Case {
            name: "the rollback dispatch refused: a reply, no longer tracked",
            yaml: DEFAULTS,
            setup: |p| {
                let f = p.rollback(REL, Environment::Production);
                p.step(f);
            },
            fact: |p| Fact::DispatchFailed {
                dispatch_id: p.detached_id(0),
                reason: "missing permission".into(),
            },
            expect: expect(Stage::WaitingForCi, true)
                .reply(
                    "could not dispatch the production rollback of `ccccccc`: missing permission",
                )
                .then(|s| assert!(s.detached.is_empty())),
        },
        Case {
            name: "a rollback finishing does not touch the gates",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                let f = p.rollback(REL, Environment::Production);
                p.step(f);
            },
            fact: |p| p.done(&p.detached_id(0), true),
            expect: expect(Stage::WaitingForApproval, true)
                .records("42-production-ccccccc-2")
                .then(|s| assert_eq!(s.prod, None)),
        },
    ]);
}

// ---------------------------------------------------------------------------
// A new head
// ---------------------------------------------------------------------------

#[test]
fn new_head() {
    run(vec![
        Case {
            name: "a push after /lgtm voids it and resets CI",
            yaml: DEFAULTS,
            setup: |p| {
                p.green();
                p.hold();
                p.lgtm();
            },
            fact: |_| observed(true, B, "main"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert_eq!(s.head_sha, sha(B));
                assert_eq!(s.lgtm, None);
                assert_eq!(s.ci, CiStatus::Pending);
                assert!(s.hold.is_some(), "a hold is about the PR, not the SHA");
            }),
        },
        Case {
            name: "a push while staging is deploying detaches the deploy",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |_| observed(true, B, "main"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert_eq!((&s.stage, &s.lgtm), (&None, &None));
                let ids: Vec<_> = s.detached.iter().map(|d| d.dispatch_id.as_str()).collect();
                assert_eq!(ids, ["42-staging-aaaaaaa-1"]);
            }),
        },
        Case {
            name: "a push after /approve voids every gate, detaches prod",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |_| observed(true, B, "main"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert_eq!(s.head_sha, sha(B));
                assert_eq!(s.ci, CiStatus::Pending);
                assert_eq!(s.lgtm, None);
                assert_eq!(s.stage, None);
                assert_eq!(s.verification, None);
                assert!(s.approvals.is_empty());
                assert_eq!(s.prod, None);
                let ids: Vec<_> = s.detached.iter().map(|d| d.dispatch_id.as_str()).collect();
                assert_eq!(ids, ["42-production-aaaaaaa-2"], "only the pending deploy");
            }),
        },
        Case {
            name: "a push before quorum voids the approvals",
            yaml: QUORUM2,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
            },
            fact: |_| observed(true, B, "main"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert!(s.approvals.is_empty());
                assert_eq!(s.verification, None);
                assert!(s.detached.is_empty());
            }),
        },
        Case {
            name: "a push while verifying detaches the verify run",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
            },
            fact: |_| observed(true, B, "main"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert_eq!(s.verification, None);
                let ids: Vec<_> = s.detached.iter().map(|d| d.dispatch_id.as_str()).collect();
                assert_eq!(ids, ["42-verify-aaaaaaa-2"]);
            }),
        },
        Case {
            name: "the old head's verify run finishing is not recorded",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
                p.push(B);
            },
            fact: |p| p.done(&p.detached_id(0), true),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert!(s.detached.is_empty());
                assert_eq!(s.verification, None);
            }),
        },
        Case {
            name: "the same SHA again changes nothing",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |_| observed(true, A, "main"),
            expect: expect(Stage::ProdDeploying, false),
        },
        Case {
            name: "CI for the old head after the push is ignored",
            yaml: DEFAULTS,
            setup: |p| {
                p.lgtm();
                p.push(B);
            },
            fact: |_| Fact::Ci {
                sha: sha(A),
                status: CiStatus::Green,
            },
            expect: expect(Stage::WaitingForCi, false),
        },
        Case {
            name: "CI green on the new head does not use the old /lgtm",
            yaml: DEFAULTS,
            setup: |p| {
                p.lgtm();
                p.push(B);
            },
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::WaitingForQa, true),
        },
        Case {
            name: "the new head's staging deploy waits for the old head's, still running",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                p.push(B);
                p.green();
            },
            fact: |p| p.command(QA2, Command::Lgtm),
            expect: expect(Stage::WaitingForQa, true)
                .accepted()
                .reply("a deploy to staging is still running: gatebot dispatches `bbbbbbb` to staging when it finishes"),
        },
        Case {
            name: "the new head's stage deploy gets a new id once the old one finished",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                p.push(B);
                p.green();
                p.ok(QA2, Command::Lgtm);
            },
            fact: |p| {
                let id = p.detached_id(0);
                p.done(&id, false)
            },
            expect: expect(Stage::StageDeploying, true)
                .dispatch(stage_deploy(B, QA2, "42-staging-bbbbbbb-2")),
        },
        Case {
            name: "the old head's stage deploy finishing records history only",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                p.push(B);
                p.green();
            },
            fact: |p| p.done(&p.detached_id(0), true),
            expect: expect(Stage::WaitingForQa, true)
                .records("42-staging-aaaaaaa-1")
                .then(|s| {
                    assert_eq!(s.stage, None);
                    assert!(s.detached.is_empty());
                    assert_eq!(s.head_sha, sha(B));
                }),
        },
        Case {
            name: "the old head's prod deploy finishing leaves the new gates alone",
            yaml: DEFAULTS,
            setup: |p| {
                p.approved();
                p.push(B);
                p.green();
                p.lgtm();
            },
            fact: |p| p.done(&p.detached_id(0), true),
            expect: expect(Stage::StageDeploying, true)
                .records("42-production-aaaaaaa-2")
                .then(|s| {
                    assert_eq!(s.prod, None);
                    let d = s.stage.as_ref().unwrap();
                    assert_eq!((&d.sha, d.status), (&sha(B), DeployStatus::Pending));
                    assert!(s.detached.is_empty());
                }),
        },
        Case {
            name: "the old head's prod deploy failing is dropped quietly",
            yaml: DEFAULTS,
            setup: |p| {
                p.approved();
                p.push(B);
            },
            fact: |p| p.done(&p.detached_id(0), false),
            expect: expect(Stage::WaitingForCi, true).then(|s| assert!(s.detached.is_empty())),
        },
        Case {
            name: "a new base branch voids the gates",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |_| observed(true, A, "release"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert_eq!(s.head_sha, sha(A));
                assert_eq!((&s.lgtm, &s.stage, &s.verification), (&None, &None, &None));
            }),
        },
    ]);
}

// ---------------------------------------------------------------------------
// Commands that saw another head
// ---------------------------------------------------------------------------

#[test]
fn stale_head() {
    /// Ten minutes after [`t0`]: when the push in these cases lands.
    fn later(p: &mut Pr) {
        p.now += Duration::minutes(10);
    }
    run(vec![
        Case {
            name: "/approve written before gatebot learned of a push is refused; nothing moves",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                later(p);
                p.push(B);
                p.green();
            },
            fact: |p| {
                let at = Some(p.now - Duration::minutes(5));
                p.command_with(REL, true, Command::Approve, at, None)
            },
            expect: expect(Stage::WaitingForQa, false)
                .refused("stale SHA: this comment was written before gatebot saw the current head bbbbbbb")
                .then(|s| {
                    assert_eq!(s.head_sha, sha(B));
                    assert!(s.approvals.is_empty());
                }),
        },
        Case {
            name: "/lgtm written before the push is refused",
            yaml: DEFAULTS,
            setup: |p| {
                later(p);
                p.push(B);
                p.green();
            },
            fact: |p| {
                let at = Some(p.now - Duration::seconds(1));
                p.command_with(QA, true, Command::Lgtm, at, None)
            },
            expect: expect(Stage::WaitingForQa, false)
                .refused("stale SHA")
                .then(|s| assert_eq!(s.lgtm, None)),
        },
        Case {
            name: "/lgtm written after the push counts",
            yaml: DEFAULTS,
            setup: |p| {
                later(p);
                p.push(B);
                p.green();
            },
            fact: |p| {
                let at = Some(p.now + Duration::seconds(1));
                p.command_with(QA, true, Command::Lgtm, at, None)
            },
            expect: expect(Stage::StageDeploying, true)
                .accepted()
                .dispatch(stage_deploy(B, QA, "42-staging-bbbbbbb-1")),
        },
        Case {
            name: "/verify-stage written before the reopen is refused",
            yaml: DEFAULTS,
            setup: |p| {
                p.staged();
                p.close();
                later(p);
                p.step(Fact::Observed {
                    open: true,
                    head: sha(A),
                    base_ref: "main".into(),
                });
            },
            fact: |p| {
                let at = Some(p.now - Duration::minutes(1));
                p.command_with(QA, true, Command::VerifyStage, at, None)
            },
            expect: expect(Stage::WaitingForCi, false).refused("stale SHA"),
        },
        Case {
            name: "a gate command without a time is refused as stale",
            yaml: DEFAULTS,
            setup: Pr::green,
            fact: |p| p.command_with(QA, true, Command::Lgtm, None, None),
            expect: expect(Stage::WaitingForQa, false).refused("stale SHA"),
        },
        Case {
            name: "/rollback is about an environment, not the head: a late one still counts",
            yaml: DEFAULTS,
            setup: |p| {
                later(p);
                p.push(B);
            },
            fact: |p| {
                let at = Some(p.now - Duration::minutes(5));
                let c = Command::Rollback(Environment::Production);
                p.command_with(REL, true, c, at, Some(sha(OLD)))
            },
            expect: expect(Stage::WaitingForCi, true)
                .accepted()
                .reply("Rolling production back to ccccccc")
                .dispatch(rollback_deploy(
                    Environment::Production,
                    REL,
                    "42-production-ccccccc-1",
                )),
        },
        Case {
            name: "/hold written before the push still applies",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                later(p);
                p.push(B);
            },
            fact: |p| {
                let at = Some(p.now - Duration::minutes(5));
                p.command_with(REL, true, Command::Hold { reason: None }, at, None)
            },
            expect: expect(Stage::WaitingForCi, true)
                .accepted()
                .then(|s| assert_eq!(s.hold.as_ref().unwrap().login, REL)),
        },
    ]);
}

/// gatebot's and GitHub's clocks may disagree by [`Policy::clock_skew`]:
/// a gate command counts only when written at least that long after
/// gatebot learned of the head, since within the margin the order of the
/// two cannot be told.
#[test]
fn clock_skew_margin() {
    let approve_at = |offset: Duration| {
        let mut pr = Pr::new(DEFAULTS);
        pr.skew = super::machine::CLOCK_SKEW;
        pr.now += Duration::minutes(1);
        pr.verified_ignoring_skew();
        let at = Some(pr.s.gates_since() + offset);
        let f = pr.command_with(REL, true, Command::Approve, at, None);
        pr.apply(&f)
    };
    let t = approve_at(Duration::seconds(1));
    assert_eq!(reactions(&t), ["-1"], "{}", t.note);
    assert!(replies(&t)[0].contains("stale SHA"));
    let t = approve_at(Duration::seconds(2));
    assert_eq!(reactions(&t), ["+1"], "{}", t.note);
    assert_eq!(dispatches(&t).len(), 1, "production dispatched");
}

// ---------------------------------------------------------------------------
// Closed and reopened
// ---------------------------------------------------------------------------

#[test]
fn closed() {
    run(vec![
        Case {
            name: "closing detaches the running deploy",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |p| p.closed(),
            expect: expect(Stage::Closed, true).then(|s| {
                assert!(!s.open);
                assert_eq!(s.stage, None);
                assert_eq!(s.detached[0].dispatch_id, "42-staging-aaaaaaa-1");
            }),
        },
        Case {
            name: "closing twice",
            yaml: DEFAULTS,
            setup: Pr::close,
            fact: |p| p.closed(),
            expect: expect(Stage::Closed, false),
        },
        Case {
            name: "/lgtm on a closed PR is refused",
            yaml: DEFAULTS,
            setup: |p| {
                p.green();
                p.close();
            },
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::Closed, false).refused("this pull request is closed"),
        },
        Case {
            name: "/approve on a closed PR is refused",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                p.close();
            },
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::Closed, false).refused("closed"),
        },
        Case {
            name: "/hold on a closed PR is refused",
            yaml: DEFAULTS,
            setup: Pr::close,
            fact: |p| p.command(REL, Command::Hold { reason: None }),
            expect: expect(Stage::Closed, false).refused("closed"),
        },
        Case {
            name: "/rollback on a closed (merged) PR dispatches: that is when it is needed",
            yaml: DEFAULTS,
            setup: Pr::close,
            fact: |p| p.rollback(REL, Environment::Production),
            expect: expect(Stage::Closed, true)
                .accepted()
                .reply("Rolling production back to ccccccc")
                .dispatch(rollback_deploy(
                    Environment::Production,
                    REL,
                    "42-production-ccccccc-1",
                )),
        },
        Case {
            name: "/rollback on a closed PR still honours a hold",
            yaml: DEFAULTS,
            setup: |p| {
                p.hold();
                p.close();
            },
            fact: |p| p.rollback(REL, Environment::Production),
            expect: expect(Stage::Closed, false).refused("held"),
        },
        Case {
            name: "/help on a closed PR is answered",
            yaml: DEFAULTS,
            setup: Pr::close,
            fact: |p| p.command(QA, Command::Help),
            expect: expect(Stage::Closed, false).accepted().reply(HELP_TEXT),
        },
        Case {
            name: "/gates on a closed PR is answered",
            yaml: DEFAULTS,
            setup: Pr::close,
            fact: |p| p.command(QA, Command::Gates),
            expect: expect(Stage::Closed, false).accepted().reply(TABLE_HEADER),
        },
        Case {
            name: "CI green on a closed PR with /lgtm does not dispatch",
            yaml: DEFAULTS,
            setup: |p| {
                p.lgtm();
                p.close();
            },
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::Closed, false),
        },
        Case {
            name: "Reevaluate on a closed PR does not dispatch",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
                let id = p.prod_id();
                p.finish(&id, false);
                p.close();
            },
            fact: |_| Fact::Reevaluate,
            expect: expect(Stage::Closed, false),
        },
        Case {
            name: "a deploy finishing after close is recorded, nothing dispatched",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                p.ok(REL, Command::Approve);
                p.close();
            },
            fact: |p| p.done(&p.detached_id(0), true),
            expect: expect(Stage::Closed, true)
                .records("42-staging-aaaaaaa-1")
                .then(|s| assert!(s.detached.is_empty())),
        },
        Case {
            name: "Reopened resets every gate",
            yaml: QUORUM2,
            setup: |p| {
                p.verified();
                p.ok(REL, Command::Approve);
                p.close();
            },
            fact: |_| observed(true, B, "main"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert!(s.open);
                assert_eq!(s.head_sha, sha(B));
                assert_eq!(s.ci, CiStatus::Pending);
                assert_eq!((&s.lgtm, &s.stage, &s.verification), (&None, &None, &None));
                assert!(s.approvals.is_empty());
            }),
        },
        Case {
            name: "Reopened on the same head still resets",
            yaml: DEFAULTS,
            setup: |p| {
                p.staged();
                p.close();
            },
            fact: |_| observed(true, A, "main"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert_eq!((&s.lgtm, &s.stage), (&None, &None));
            }),
        },
        Case {
            name: "after reopening, the gates run again",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                p.close();
                p.step(observed(true, A, "main"));
                p.green();
                let old = p.detached_id(0);
                p.finish(&old, true);
            },
            fact: |p| p.command(QA2, Command::Lgtm),
            expect: expect(Stage::StageDeploying, true)
                .accepted()
                .dispatch(stage_deploy(A, QA2, "42-staging-aaaaaaa-2")),
        },
        Case {
            name: "Reopened while open is ignored",
            yaml: DEFAULTS,
            setup: Pr::staging,
            fact: |_| observed(true, A, "main"),
            expect: expect(Stage::StageDeploying, false),
        },
    ]);
}

// ---------------------------------------------------------------------------
// Invalid configuration
// ---------------------------------------------------------------------------

#[test]
fn config_error() {
    run(vec![
        Case {
            name: "an invalid config stops the gates",
            yaml: DEFAULTS,
            setup: Pr::green,
            fact: |_| bad_config(),
            expect: expect(Stage::ConfigError, true).then(|s| {
                assert_eq!(s.config_error.as_deref(), Some("approvals.prod must be between 1 and 20, not 0"));
            }),
        },
        Case {
            name: "the same error again",
            yaml: DEFAULTS,
            setup: |p| p.step(bad_config()),
            fact: |_| bad_config(),
            expect: expect(Stage::ConfigError, false),
        },
        Case {
            name: "/lgtm is refused, naming the config",
            yaml: DEFAULTS,
            setup: |p| {
                p.green();
                p.step(bad_config());
            },
            fact: |p| p.command(QA, Command::Lgtm),
            expect: expect(Stage::ConfigError, false).refused(
                "the repository's .github/gatebot.yml is invalid: approvals.prod must be between 1 and 20, not 0",
            ),
        },
        Case {
            name: "/approve is refused, naming the config",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                p.step(bad_config());
            },
            fact: |p| p.command(REL, Command::Approve),
            expect: expect(Stage::ConfigError, false).refused(".github/gatebot.yml is invalid"),
        },
        Case {
            name: "/verify-stage is refused, naming the config",
            yaml: DEFAULTS,
            setup: |p| {
                p.staged();
                p.step(bad_config());
            },
            fact: |p| p.command(QA, Command::VerifyStage),
            expect: expect(Stage::ConfigError, false).refused(".github/gatebot.yml is invalid"),
        },
        Case {
            name: "/rollback is refused, naming the config",
            yaml: DEFAULTS,
            setup: |p| p.step(bad_config()),
            fact: |p| p.rollback(REL, Environment::Production),
            expect: expect(Stage::ConfigError, false).refused(".github/gatebot.yml is invalid"),
        },
        Case {
            name: "/hold is still accepted",
            yaml: DEFAULTS,
            setup: |p| p.step(bad_config()),
            fact: |p| p.command(REL, Command::Hold { reason: None }),
            expect: expect(Stage::ConfigError, true).accepted(),
        },
        Case {
            name: "CI green with /lgtm does not dispatch",
            yaml: DEFAULTS,
            setup: |p| {
                p.lgtm();
                p.step(bad_config());
            },
            fact: |p| p.ci(CiStatus::Green),
            expect: expect(Stage::ConfigError, true)
                .then(|s| assert_eq!((s.ci, &s.stage), (CiStatus::Green, &None))),
        },
        Case {
            name: "a valid config again resumes and dispatches",
            yaml: DEFAULTS,
            setup: |p| {
                p.lgtm();
                p.step(bad_config());
                p.green();
            },
            fact: |_| Fact::Config { error: None },
            expect: expect(Stage::StageDeploying, true)
                .dispatch(stage_deploy(A, QA, "42-staging-aaaaaaa-1"))
                .then(|s| assert_eq!(s.config_error, None)),
        },
        Case {
            name: "a valid config again with nothing to dispatch",
            yaml: DEFAULTS,
            setup: |p| {
                p.green();
                p.step(bad_config());
            },
            fact: |_| Fact::Config { error: None },
            expect: expect(Stage::WaitingForQa, true),
        },
        Case {
            name: "a valid config when it was valid changes nothing",
            yaml: DEFAULTS,
            setup: Pr::green,
            fact: |_| Fact::Config { error: None },
            expect: expect(Stage::WaitingForQa, false),
        },
    ]);
}

fn bad_config() -> Fact {
    Fact::Config {
        error: Some("approvals.prod must be between 1 and 20, not 0".into()),
    }
}

// ---------------------------------------------------------------------------
// Answers that change nothing
// ---------------------------------------------------------------------------

#[test]
fn answers() {
    run(vec![
        Case {
            name: "not understood: confused and a reply",
            yaml: DEFAULTS,
            setup: none,
            fact: |_| Fact::NotUnderstood {
                comment_id: 77,
                login: QA.into(),
                message: "`/rollback dev`: unknown environment".into(),
            },
            expect: expect(Stage::WaitingForCi, false)
                .react("confused")
                .reply("@bob gatebot did not understand `/rollback dev`: unknown environment"),
        },
        Case {
            name: "/help: +1 and the help text",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| p.command("zed", Command::Help),
            expect: expect(Stage::WaitingForCi, false)
                .accepted()
                .reply(HELP_TEXT),
        },
        Case {
            name: "/gates: +1 and the summary table",
            yaml: DEFAULTS,
            setup: |p| p.staging(),
            fact: |p| p.command("zed", Command::Gates),
            expect: expect(Stage::StageDeploying, false)
                .accepted()
                .reply("| QA review | ✅ /lgtm | @bob"),
        },
        Case {
            name: "/gates without read access is refused",
            yaml: DEFAULTS,
            setup: none,
            fact: |p| {
                let at = p.written();
                p.command_with("zed", false, Command::Gates, at, None)
            },
            expect: expect(Stage::WaitingForCi, false).refused("read role"),
        },
    ]);
}

#[test]
fn help_and_gates_replies_are_exact() {
    let mut pr = Pr::new(DEFAULTS);
    pr.staging();
    let f = pr.command("zed", Command::Help);
    let t = pr.apply(&f);
    assert_eq!(replies(&t), [HELP_TEXT]);

    let f = pr.command("zed", Command::Gates);
    let t = pr.apply(&f);
    let policy = Policy {
        config: &pr.cfg,
        now: pr.now,
        clock_skew: pr.skew,
    };
    let table = super::summary::render(&pr.s, &policy).text;
    assert_eq!(replies(&t), [table.as_str()]);
    assert!(table.contains(TABLE_HEADER));
    assert!(table.contains("| CI | ✅ green | |"));
    assert!(table.contains("42-staging-aaaaaaa-1"));
}

#[test]
fn opened_syncs_the_check_run() {
    let mut pr = Pr::new(DEFAULTS);
    let t = pr.apply(&Fact::Opened);
    assert!(!t.changed);
    assert_eq!(t.actions, [Action::SyncCheckRun]);
    assert_eq!(t.state.stage(), Stage::WaitingForCi);
}

// ---------------------------------------------------------------------------
// Duplicates and out-of-order facts
// ---------------------------------------------------------------------------

/// A fixed fact, so that a row can apply the very same fact twice.
fn lgtm_fact() -> Fact {
    Fact::Command {
        comment_id: 5,
        actor: Actor {
            login: QA.into(),
            authorized: true,
        },
        command: Command::Lgtm,
        written_at: Some(t0()),
        rollback_target: None,
    }
}

fn approve_fact() -> Fact {
    Fact::Command {
        comment_id: 6,
        actor: Actor {
            login: REL.into(),
            authorized: true,
        },
        command: Command::Approve,
        written_at: Some(t0()),
        rollback_target: None,
    }
}

#[test]
fn duplicates() {
    run(vec![
        Case {
            name: "the same /lgtm twice before CI",
            yaml: DEFAULTS,
            setup: |p| p.step(lgtm_fact()),
            fact: |_| lgtm_fact(),
            expect: expect(Stage::WaitingForCi, false).accepted(),
        },
        Case {
            name: "the same /lgtm twice after CI green dispatches once",
            yaml: DEFAULTS,
            setup: |p| {
                p.green();
                p.step(lgtm_fact());
            },
            fact: |_| lgtm_fact(),
            expect: expect(Stage::StageDeploying, false).refused("wrong stage"),
        },
        Case {
            name: "the same /approve twice dispatches once",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                p.step(approve_fact());
            },
            fact: |_| approve_fact(),
            expect: expect(Stage::ProdDeploying, false).refused("wrong stage"),
        },
        Case {
            name: "the same /approve twice under quorum 2",
            yaml: QUORUM2,
            setup: |p| {
                p.verified();
                p.step(approve_fact());
            },
            fact: |_| approve_fact(),
            expect: expect(Stage::WaitingForApproval, false).accepted(),
        },
        Case {
            name: "the same stage completion twice records once",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| p.done(&p.stage_id(), true),
            expect: expect(Stage::WaitingForVerification, false),
        },
        Case {
            name: "the same prod completion twice records once",
            yaml: DEFAULTS,
            setup: Pr::deployed,
            fact: |p| p.done(&p.prod_id(), true),
            expect: expect(Stage::Deployed, false),
        },
        Case {
            name: "a stage completion after prod is deployed",
            yaml: DEFAULTS,
            setup: Pr::deployed,
            fact: |p| p.done(&p.stage_id(), false),
            expect: expect(Stage::Deployed, false),
        },
        Case {
            name: "the same /hold twice",
            yaml: DEFAULTS,
            setup: Pr::hold,
            fact: |p| {
                p.command(
                    REL,
                    Command::Hold {
                        reason: Some("incident 12".into()),
                    },
                )
            },
            expect: expect(Stage::WaitingForCi, false).accepted(),
        },
        Case {
            name: "Reevaluate with nothing to do",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |_| Fact::Reevaluate,
            expect: expect(Stage::WaitingForApproval, false),
        },
    ]);
}

/// Applies `facts` in order and counts the dispatches they cause.
fn dispatch_count(pr: &mut Pr, facts: &[Fact]) -> usize {
    facts.iter().map(|f| dispatches(&pr.apply(f)).len()).sum()
}

#[test]
fn stage_is_dispatched_exactly_once_whatever_the_order() {
    let green = Fact::Ci {
        sha: sha(A),
        status: CiStatus::Green,
    };
    let orders: [Vec<Fact>; 3] = [
        vec![lgtm_fact(), green.clone(), green.clone(), lgtm_fact()],
        vec![green.clone(), lgtm_fact(), lgtm_fact(), green.clone()],
        vec![lgtm_fact(), lgtm_fact(), green.clone(), Fact::Reevaluate],
    ];
    for (i, facts) in orders.iter().enumerate() {
        let mut pr = Pr::new(DEFAULTS);
        assert_eq!(dispatch_count(&mut pr, facts), 1, "order {i}");
        assert_eq!(pr.s.stage(), Stage::StageDeploying, "order {i}");
        assert_eq!(pr.s.dispatch_seq, 1, "order {i}");
    }
}

#[test]
fn prod_is_dispatched_exactly_once_under_quorum_two() {
    let mut pr = Pr::new(QUORUM2);
    pr.verified();
    let a1 = pr.command(REL, Command::Approve);
    let a1_again = pr.command(REL, Command::Approve);
    let a2 = pr.command(REL2, Command::Approve);
    let a3 = pr.command("frank", Command::Approve);
    let facts = [a1, a1_again, a2.clone(), a2, a3, Fact::Reevaluate];
    assert_eq!(dispatch_count(&mut pr, &facts), 1);
    assert_eq!(pr.s.stage(), Stage::ProdDeploying);
    assert_eq!(pr.s.prod.as_ref().unwrap().requested_by, REL2);
}

// ---------------------------------------------------------------------------
// A whole promotion
// ---------------------------------------------------------------------------

#[test]
fn happy_path_with_a_verify_workflow() {
    let mut pr = Pr::new(VERIFY);
    let mut ids = Vec::new();
    let mut walk = |pr: &mut Pr, fact: Fact, want: Stage| {
        let t = pr.apply(&fact);
        assert!(t.changed, "{fact:?}");
        assert_eq!(t.state.stage(), want, "{fact:?}");
        ids.extend(dispatches(&t).into_iter().map(|d| d.dispatch_id));
    };
    let f = pr.command(QA, Command::Lgtm);
    walk(&mut pr, f, Stage::WaitingForCi);
    let f = pr.ci(CiStatus::Green);
    walk(&mut pr, f, Stage::StageDeploying);
    let f = pr.done(&pr.stage_id(), true);
    walk(&mut pr, f, Stage::WaitingForVerification);
    let f = pr.command(REL, Command::Approve);
    walk(&mut pr, f, Stage::WaitingForVerification);
    let f = pr.command(QA2, Command::VerifyStage);
    walk(&mut pr, f, Stage::Verifying);
    let f = pr.done(&pr.verify_id(), true);
    walk(&mut pr, f, Stage::ProdDeploying);
    let f = pr.done(&pr.prod_id(), true);
    walk(&mut pr, f, Stage::Deployed);
    assert_eq!(
        ids,
        [
            "42-staging-aaaaaaa-1",
            "42-verify-aaaaaaa-2",
            "42-production-aaaaaaa-3"
        ]
    );
    assert_eq!(format!("{PR}-staging-{}-1", short(A)), ids[0]);
}

// ---------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------

#[test]
fn required_roles() {
    let table = [
        (Command::Lgtm, Some(Role::Qa)),
        (Command::LgtmCancel, None),
        (Command::VerifyStage, Some(Role::Qa)),
        (Command::VerifyStageCancel, None),
        (Command::Approve, Some(Role::Release)),
        (Command::ApproveCancel, None),
        (
            Command::Rollback(Environment::Production),
            Some(Role::Release),
        ),
        (Command::Rollback(Environment::Staging), Some(Role::Qa)),
        (Command::Hold { reason: None }, Some(Role::QaOrRelease)),
        (
            Command::Hold {
                reason: Some("x".into()),
            },
            Some(Role::QaOrRelease),
        ),
        (Command::Unhold, Some(Role::QaOrRelease)),
        (Command::Gates, Some(Role::Read)),
        (Command::Help, None),
    ];
    for (command, role) in &table {
        assert_eq!(required_role(command), *role, "{command:?}");
    }
    let described = [
        (Role::Qa, "qa"),
        (Role::Release, "release"),
        (Role::QaOrRelease, "qa or release"),
        (Role::Read, "read"),
    ];
    for (role, text) in described {
        assert_eq!(role.describe(), text);
    }
}

#[test]
fn cancel_forms_need_no_role() {
    // Ownership is the permission: an actor without the role may withdraw
    // what they gave.
    let mut pr = Pr::new(DEFAULTS);
    pr.lgtm();
    let at = pr.written();
    let f = pr.command_with(QA, false, Command::LgtmCancel, at, None);
    let t = pr.apply(&f);
    assert_eq!(reactions(&t), ["+1"], "{}", t.note);
    assert_eq!(t.state.lgtm, None);
}

// ---------------------------------------------------------------------------
// What GitHub says the PR is, read with each delivery
// ---------------------------------------------------------------------------

fn observed(open: bool, c: char, base: &str) -> Fact {
    Fact::Observed {
        open,
        head: sha(c),
        base_ref: base.into(),
    }
}

#[test]
fn observed_pr() {
    run(vec![
        Case {
            name: "as recorded: nothing changes",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |_| observed(true, A, "main"),
            expect: expect(Stage::WaitingForApproval, false),
        },
        Case {
            name: "recorded closed but open on GitHub (a late `closed`): gates start again",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                p.close();
                p.now += Duration::minutes(1);
            },
            fact: |_| observed(true, A, "main"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert!(s.open);
                assert_eq!((&s.lgtm, &s.stage, &s.verification), (&None, &None, &None));
                assert_eq!(s.head_seen_at, Some(t0() + Duration::minutes(1)));
            }),
        },
        Case {
            name: "recorded open but closed on GitHub: gates stop, deploys in flight detach",
            yaml: DEFAULTS,
            setup: Pr::approved,
            fact: |_| observed(false, A, "main"),
            expect: expect(Stage::Closed, true).then(|s| {
                assert!(!s.open);
                assert_eq!(s.prod, None);
                assert_eq!(s.detached.len(), 1);
            }),
        },
        Case {
            name: "a head GitHub has that gatebot missed: approvals void",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |_| observed(true, B, "main"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert_eq!(s.head_sha, sha(B));
                assert_eq!(s.verification, None);
            }),
        },
        Case {
            name: "a new base: approvals void",
            yaml: DEFAULTS,
            setup: Pr::verified,
            fact: |_| observed(true, A, "release"),
            expect: expect(Stage::WaitingForCi, true).then(|s| {
                assert_eq!(s.base_ref.as_deref(), Some("release"));
                assert_eq!(s.lgtm, None);
            }),
        },
        Case {
            name: "the first base seen is only recorded (records from before gatebot kept it)",
            yaml: DEFAULTS,
            setup: |p| {
                p.verified();
                p.s.base_ref = None;
            },
            fact: |_| observed(true, A, "main"),
            expect: expect(Stage::WaitingForApproval, true)
                .then(|s| assert_eq!(s.base_ref.as_deref(), Some("main"))),
        },
    ]);
}

// ---------------------------------------------------------------------------
// Queued dispatches the gates no longer allow
// ---------------------------------------------------------------------------

fn cancel_fact(id: DispatchId) -> Fact {
    Fact::DispatchCancelled {
        dispatch_id: id,
        reason: "dispatches are held".into(),
    }
}

#[test]
fn cancelled_dispatches() {
    run(vec![
        Case {
            name: "a cancelled stage dispatch is forgotten, with a reply",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                p.hold();
            },
            fact: |p| cancel_fact(p.stage_id()),
            expect: expect(Stage::WaitingForQa, true)
                .reply("gatebot cancelled the staging deploy of `aaaaaaa` (`42-staging-aaaaaaa-1`): dispatches are held")
                .then(|s| {
                    assert_eq!(s.stage, None);
                    assert!(s.lgtm.is_some(), "the /lgtm stands");
                }),
        },
        Case {
            name: "after /unhold, staging is dispatched anew",
            yaml: DEFAULTS,
            setup: |p| {
                p.staging();
                p.hold();
                let id = p.stage_id();
                p.step(cancel_fact(id));
            },
            fact: |p| p.command(REL, Command::Unhold),
            expect: expect(Stage::StageDeploying, true)
                .accepted()
                .dispatch(stage_deploy(A, REL, "42-staging-aaaaaaa-2")),
        },
        Case {
            name: "a cancelled prod dispatch keeps the approvals",
            yaml: DEFAULTS,
            setup: |p| {
                p.approved();
                p.hold();
            },
            fact: |p| cancel_fact(p.prod_id()),
            expect: expect(Stage::WaitingForApproval, true)
                .reply("cancelled the production deploy")
                .then(|s| {
                assert_eq!(s.prod, None);
                assert_eq!(s.approvers(), vec![REL]);
            }),
        },
        Case {
            name: "a cancelled verify run takes its verification with it",
            yaml: VERIFY,
            setup: |p| {
                p.staged();
                p.ok(QA, Command::VerifyStage);
            },
            fact: |p| cancel_fact(p.verify_id()),
            expect: expect(Stage::WaitingForVerification, true)
                .reply("cancelled the staging verification")
                .then(|s| assert_eq!(s.verification, None)),
        },
        Case {
            name: "a cancelled rollback leaves the detached list",
            yaml: DEFAULTS,
            setup: |p| {
                let f = p.rollback(REL, Environment::Production);
                p.step(f);
            },
            fact: |p| cancel_fact(p.detached_id(0)),
            expect: expect(Stage::WaitingForCi, true)
                .reply("cancelled the production rollback")
                .then(|s| assert!(s.detached.is_empty())),
        },
        Case {
            name: "a finished dispatch cannot be cancelled",
            yaml: DEFAULTS,
            setup: Pr::staged,
            fact: |p| cancel_fact(p.stage_id()),
            expect: expect(Stage::WaitingForVerification, false),
        },
    ]);
}

/// The one rule that decides first dispatches, retries, the reconciler and
/// the deployment protection rule.
#[test]
fn dispatch_blocker_follows_the_gates() {
    use super::machine::dispatch_blocker;
    let blocked = |pr: &Pr, id: &DispatchId| {
        let policy = Policy {
            config: &pr.cfg,
            now: pr.now,
            clock_skew: pr.skew,
        };
        dispatch_blocker(&pr.s, id, &policy).map(|r| r.to_string())
    };

    let mut pr = Pr::new(DEFAULTS);
    pr.approved();
    let id = pr.prod_id();
    assert_eq!(blocked(&pr, &id), None, "a full gate pass");
    pr.hold();
    assert!(blocked(&pr, &id).unwrap().contains("held"));

    let mut pr = Pr::new(FROZEN);
    pr.verified();
    pr.now = freeze_end();
    pr.ok(REL, Command::Approve);
    let id = pr.prod_id();
    pr.now = t0();
    assert!(
        blocked(&pr, &id).unwrap().contains("frozen"),
        "a freeze began"
    );

    let mut pr = Pr::new(DEFAULTS);
    pr.approved();
    let id = pr.prod_id();
    let red = pr.ci(CiStatus::Failed);
    pr.step(red);
    assert!(blocked(&pr, &id).unwrap().contains("CI is not green"));

    let mut pr = Pr::new(DEFAULTS);
    pr.approved();
    let id = pr.prod_id();
    pr.s.approvals.clear();
    assert!(blocked(&pr, &id).unwrap().contains("0 of 1 approvals"));

    let mut pr = Pr::new(DEFAULTS);
    pr.staging();
    let id = pr.stage_id();
    pr.push(B);
    assert!(
        blocked(&pr, &id)
            .unwrap()
            .contains("aaaaaaa is no longer the head (bbbbbbb is)"),
        "a push detaches it: a promotion of the old head is never sent"
    );

    let mut pr = Pr::new(DEFAULTS);
    pr.staging();
    let id = pr.stage_id();
    pr.s.open = false;
    assert!(blocked(&pr, &id).unwrap().contains("closed"));

    let mut pr = Pr::new(DEFAULTS);
    pr.close();
    let f = pr.rollback(REL, Environment::Production);
    pr.step(f);
    let id = pr.detached_id(0);
    assert_eq!(blocked(&pr, &id), None, "a rollback on a closed PR");
    pr.s.config_error = Some("unknown key".into());
    assert!(blocked(&pr, &id).unwrap().contains("invalid"));
}

#[test]
fn one_delivery_gets_one_reply_and_each_reaction_once() {
    use super::machine::{Reaction, gather};
    let react = |r| Action::React {
        comment_id: 9,
        reaction: r,
    };
    let reply = |b: &str| Action::Reply { body: b.into() };
    let got = gather(vec![
        react(Reaction::Accepted),
        reply("one"),
        Action::SyncCheckRun,
        react(Reaction::Accepted),
        react(Reaction::Refused),
        reply("two"),
        Action::SyncCheckRun,
        reply("three"),
    ]);
    assert_eq!(
        got,
        vec![
            react(Reaction::Accepted),
            reply("one\n\ntwo\n\nthree"),
            Action::SyncCheckRun,
            react(Reaction::Refused),
        ]
    );
}

#[test]
fn too_many_commands_is_answered_once() {
    let mut pr = Pr::new(DEFAULTS);
    let t = pr.apply(&Fact::TooManyCommands {
        login: QA.into(),
        acted_on: 5,
        skipped: 2495,
    });
    assert!(!t.changed);
    assert_eq!(replies(&t).len(), 1);
    assert!(replies(&t)[0].contains("at most 5 command lines"));
    assert!(replies(&t)[0].contains("the 2495 after them"));
}
