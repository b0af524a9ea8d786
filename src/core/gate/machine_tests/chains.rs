//! Gate machine tests: chains other than the two-stage default — the
//! platform's dev → staging → production, and dev → staging → prod-eu →
//! prod-us with a shared `/approve`, quorums and a soak. Every rule of the
//! two-stage chain holds per stage; these show the ones a longer chain
//! adds: auto entry, stage order, soak, per-stage freeze, `/retry`, and
//! rollback of any stage.

use super::*;
use crate::core::gate::dispatch_blocker;

/// The platform's chain: dev on green CI, staging on `/lgtm` once dev
/// passed, production on two `/approve`s once staging is verified, 30
/// minutes after it passed.
const PLATFORM: &str = include_str!("../../../../tests/fixtures/chains/platform.yml");

/// Two production regions that share `/approve`: prod-eu needs two,
/// prod-us one and an hour after prod-eu passed; prod-us has its own
/// freeze around [`t0`].
const REGIONS: &str = include_str!("../../../../tests/fixtures/chains/regions.yml");

fn env(name: &str) -> Environment {
    Environment::new(name)
}

fn approve_in(name: &str) -> Command {
    entry("approve", env(name), false)
}

/// The promotion of [`A`] to `name` by `workflow`.
fn promote(workflow: &str, name: &str, by: &str, id: &str) -> Dispatched {
    dispatched(workflow, "main", env(name), DeployKind::Promote, A, by, id)
}

impl Pr {
    /// The head's deploy to `name`, which must exist.
    fn deploy_id(&self, name: &str) -> DispatchId {
        self.s
            .gates(&env(name))
            .and_then(|g| g.deploy.as_ref())
            .map(|d| d.dispatch_id.clone())
            .expect("a deploy to that stage")
    }

    /// The deploy to `name` finished.
    fn passed(&mut self, name: &str) {
        let id = self.deploy_id(name);
        self.finish(&id, true);
    }

    fn dispatches_now(&mut self, fact: Fact) -> Vec<Dispatched> {
        let t = self.apply(&fact);
        dispatches(&t)
    }

    fn blocked(&self, id: &DispatchId) -> Option<String> {
        let cx = Context {
            config: &self.cfg,
            now: self.now,
            clock_skew: self.skew,
            holders: None,
            environments: &self.envs,
        };
        dispatch_blocker(&self.s, id, &cx).map(|r| r.to_string())
    }
}

#[test]
fn green_ci_deploys_the_auto_first_stage_for_the_author() {
    one(Case {
        name: "green CI deploys dev",
        yaml: PLATFORM,
        setup: none,
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::Deploying(0), true).dispatch(promote(
            "cd-dev.yml",
            "dev",
            AUTHOR,
            "42-dev-aaaaaaa-1",
        )),
    });
}

#[test]
fn an_early_lgtm_is_recorded_and_acts_when_dev_passes() {
    let mut pr = Pr::new(PLATFORM);
    pr.green();
    let t = {
        let f = pr.command(QA, lgtm());
        pr.apply(&f)
    };
    assert_eq!(reactions(&t), ["+1"]);
    assert!(dispatches(&t).is_empty(), "staging waits for dev");
    assert_eq!(pr.stage(), Stage::Deploying(0));
    let id = pr.deploy_id("dev");
    let f = pr.done(&id, true);
    assert_eq!(
        pr.dispatches_now(f),
        [promote(
            "cd-stage.yml",
            "staging",
            QA,
            "42-staging-aaaaaaa-2"
        )]
    );
}

#[test]
fn the_platform_chain_from_green_ci_to_production() {
    let mut pr = Pr::new(PLATFORM);
    pr.green();
    pr.passed("dev");
    assert_eq!(pr.stage(), Stage::WaitingForEntry(1));
    pr.lgtm();
    pr.passed("staging");
    assert_eq!(pr.stage(), Stage::WaitingForVerification(1));
    pr.ok(QA, verify_stage());
    assert_eq!(pr.stage(), Stage::WaitingForEntry(2));
    pr.ok(REL, approve());
    pr.ok(REL2, approve());
    // Two approvals, but production soaks 30 minutes after staging passed.
    assert_eq!(pr.stage(), Stage::WaitingForEntry(2));
    assert!(
        pr.s.needs_watch(),
        "the reconciler looks again after the soak"
    );
    pr.now = t0() + Duration::minutes(29);
    assert!(pr.dispatches_now(Fact::Reevaluate).is_empty());
    pr.now = t0() + Duration::minutes(30);
    assert_eq!(
        pr.dispatches_now(Fact::Reevaluate),
        [dispatched(
            "cd-prod.yml",
            "main",
            production(),
            DeployKind::Promote,
            A,
            REL2,
            "42-production-aaaaaaa-3"
        )]
    );
    pr.passed("production");
    assert_eq!(pr.stage(), Stage::Deployed);
    assert!(!pr.s.needs_watch());
}

#[test]
fn production_needs_every_earlier_stage_for_the_same_sha() {
    let mut pr = Pr::new(PLATFORM);
    pr.green();
    pr.passed("dev");
    pr.lgtm();
    pr.passed("staging");
    pr.ok(QA, verify_stage());
    pr.ok(REL, approve());
    pr.ok(REL2, approve());
    pr.now = t0() + Duration::hours(1);
    pr.step(Fact::Reevaluate);
    let prod = pr.deploy_id("production");
    assert_eq!(pr.blocked(&prod), None);
    // Had dev's deploy been of another SHA, or failed, production may not go.
    let mut other = pr.s.clone();
    if let Some(d) = other.gates_mut(&env("dev")).deploy.as_mut() {
        d.sha = sha(B);
    }
    let cx = Context::new(&pr.cfg, pr.now);
    assert_eq!(
        dispatch_blocker(&other, &prod, &cx).map(|r| r.to_string()),
        Some(format!("dev is not deployed for {}", short(A)))
    );
    let mut unverified = pr.s.clone();
    unverified.gates_mut(&staging()).verification = None;
    assert_eq!(
        dispatch_blocker(&unverified, &prod, &cx).map(|r| r.to_string()),
        Some(format!("staging is not verified for {}", short(A)))
    );
}

#[test]
fn a_push_voids_every_stage() {
    let mut pr = Pr::new(PLATFORM);
    pr.green();
    pr.passed("dev");
    pr.lgtm();
    pr.passed("staging");
    pr.push(B);
    assert!(pr.s.stages.is_empty(), "{:?}", pr.s.stages);
    assert_eq!(pr.stage(), Stage::WaitingForCi);
    let green = pr.ci(CiStatus::Green);
    assert_eq!(
        pr.dispatches_now(green),
        [dispatched(
            "cd-dev.yml",
            "main",
            env("dev"),
            DeployKind::Promote,
            B,
            AUTHOR,
            "42-dev-bbbbbbb-3"
        )]
    );
}

#[test]
fn a_failed_middle_stage_is_retried_by_its_command() {
    let mut pr = Pr::new(PLATFORM);
    pr.green();
    pr.passed("dev");
    pr.lgtm();
    let id = pr.deploy_id("staging");
    pr.finish(&id, false);
    assert_eq!(pr.stage(), Stage::DeployFailed(1));
    let f = pr.command(QA2, lgtm());
    assert_eq!(
        pr.dispatches_now(f),
        [promote(
            "cd-stage.yml",
            "staging",
            QA2,
            "42-staging-aaaaaaa-3"
        )]
    );
    pr.passed("staging");
    assert_eq!(pr.stage(), Stage::WaitingForVerification(1));
}

#[test]
fn a_failed_auto_stage_is_retried_with_retry() {
    let mut pr = Pr::new(PLATFORM);
    pr.green();
    let id = pr.deploy_id("dev");
    pr.finish(&id, false);
    assert_eq!(pr.stage(), Stage::DeployFailed(0));
    let f = pr.command(REL, Command::Retry(env("dev")));
    assert_eq!(
        pr.dispatches_now(f),
        [promote("cd-dev.yml", "dev", REL, "42-dev-aaaaaaa-2")]
    );
    assert_eq!(pr.stage(), Stage::Deploying(0));
}

#[test]
fn retry_needs_a_failed_deploy() {
    one(Case {
        name: "/retry of a stage that did not fail",
        yaml: PLATFORM,
        setup: |p| p.green(),
        fact: |p| p.command(REL, Command::Retry(env("dev"))),
        expect: expect(Stage::Deploying(0), false).refused("no dev deploy of aaaaaaa failed"),
    });
}

#[test]
fn retry_needs_every_gate() {
    one(Case {
        name: "/retry while CI is red",
        yaml: PLATFORM,
        setup: |p| {
            p.green();
            let id = p.deploy_id("dev");
            p.finish(&id, false);
            let red = p.ci(CiStatus::Failed);
            p.step(red);
        },
        fact: |p| p.command(REL, Command::Retry(env("dev"))),
        expect: expect(Stage::CiFailed, false).refused("CI is not green on aaaaaaa"),
    });
}

#[test]
fn rollback_works_on_every_stage_with_its_own_workflow() {
    for (name, workflow, who, id) in [
        ("dev", "cd-dev.yml", REL, "42-dev-ccccccc-2"),
        ("staging", "cd-stage.yml", QA, "42-staging-ccccccc-2"),
        ("production", "cd-prod.yml", REL, "42-production-ccccccc-2"),
    ] {
        let mut pr = Pr::new(PLATFORM);
        pr.green();
        pr.passed("dev");
        let f = pr.rollback(who, env(name));
        let t = pr.apply(&f);
        assert_eq!(reactions(&t), ["+1"], "{name}: {}", t.note);
        assert_eq!(
            dispatches(&t),
            [dispatched(
                workflow,
                "main",
                env(name),
                DeployKind::Rollback,
                OLD,
                who,
                id
            )],
            "{name}"
        );
    }
}

#[test]
fn rollback_roles_follow_each_stages_entry() {
    let chain = config::parse(PLATFORM).expect("parses").pipeline;
    let role = |name: &str| Command::Rollback(env(name)).required_role(&chain);
    assert_eq!(role("dev"), Some(Role::Named("release".into())), "auto");
    assert_eq!(role("staging"), Some(Role::Named("qa".into())));
    assert_eq!(role("production"), Some(Role::Named("release".into())));
    assert_eq!(
        Command::Retry(env("staging")).required_role(&chain),
        Some(Role::Named("qa".into()))
    );
}

/// Up to prod-eu's deploy in the four-stage chain.
fn to_prod_eu(pr: &mut Pr) {
    pr.green();
    pr.passed("dev");
    pr.lgtm();
    pr.passed("staging");
    pr.ok(REL, approve_in("prod-eu"));
    assert_eq!(pr.stage(), Stage::WaitingForEntry(2), "one of two");
    pr.ok(REL2, approve_in("prod-eu"));
    assert_eq!(pr.stage(), Stage::Deploying(2));
}

#[test]
fn two_regions_each_with_its_quorum_and_soak() {
    let mut pr = Pr::new(REGIONS);
    to_prod_eu(&mut pr);
    // prod-us's approval given early is recorded…
    let f = pr.command(REL, approve_in("prod-us"));
    assert!(pr.dispatches_now(f).is_empty());
    // …and prod-us waits an hour after prod-eu passed (12:30).
    pr.now = t0() + Duration::minutes(30);
    pr.passed("prod-eu");
    assert_eq!(pr.stage(), Stage::WaitingForEntry(3));
    assert!(pr.s.needs_watch());
    let soaked = t0() + Duration::minutes(90);
    pr.now = soaked - Duration::seconds(1);
    assert!(pr.dispatches_now(Fact::Reevaluate).is_empty());
    pr.now = soaked;
    assert!(
        pr.dispatches_now(Fact::Reevaluate).is_empty(),
        "13:30 is inside prod-us's freeze"
    );
    pr.now = "2026-06-01T14:00:00Z".parse().expect("time");
    assert_eq!(
        pr.dispatches_now(Fact::Reevaluate),
        [promote(
            "cd-prod-us.yml",
            "prod-us",
            REL,
            "42-prod-us-aaaaaaa-4"
        )]
    );
    pr.passed("prod-us");
    assert_eq!(pr.stage(), Stage::Deployed);
}

#[test]
fn a_freeze_of_one_region_leaves_the_other_free() {
    let mut pr = Pr::new(REGIONS);
    pr.now = "2026-06-01T13:45:00Z".parse().expect("time");
    to_prod_eu(&mut pr);
    let f = pr.command(REL, approve_in("prod-us"));
    let t = pr.apply(&f);
    assert_eq!(reactions(&t), ["+1"]);
    assert!(
        replies(&t)
            .concat()
            .contains("prod-us is frozen until 2026-06-01T14:00:00+00:00"),
        "{:?}",
        replies(&t)
    );
    pr.passed("prod-eu");
    let rollback = pr.rollback(REL, env("prod-us"));
    let t = pr.apply(&rollback);
    assert_eq!(reactions(&t), ["-1"], "no prod-us change in its freeze");
    let rollback = pr.rollback(REL, env("prod-eu"));
    let t = pr.apply(&rollback);
    assert_eq!(reactions(&t), ["+1"], "{}", t.note);
}

#[test]
fn an_approval_counts_only_for_the_stage_it_names() {
    let mut pr = Pr::new(REGIONS);
    pr.green();
    pr.passed("dev");
    pr.lgtm();
    pr.passed("staging");
    pr.ok(REL, approve_in("prod-us"));
    pr.ok(REL2, approve_in("prod-us"));
    assert_eq!(pr.stage(), Stage::WaitingForEntry(2), "prod-eu has none");
    let given = |p: &Pr, name: &str| {
        p.s.gates(&env(name))
            .map(|g| {
                g.approvers(&p.s.head_sha, p.s.authors().as_ref(), None)
                    .len()
            })
            .unwrap_or(0)
    };
    assert_eq!((given(&pr, "prod-eu"), given(&pr, "prod-us")), (0, 2));
}

#[test]
fn the_summary_shows_the_whole_chain() {
    let mut pr = Pr::new(PLATFORM);
    pr.green();
    pr.passed("dev");
    let f = pr.command("zed", Command::Gates);
    let t = pr.apply(&f);
    let reply = replies(&t).concat();
    for row in [
        "**waiting for QA review (/lgtm)**",
        "| dev entry | automatic | |",
        "| dev deploy | ✅ deployed",
        "| staging /lgtm (qa) | ⏳ 0/1 |",
        "| staging verified (/verify-stage) | — | |",
        "| production /approve (release) | ⏳ 0/2 |",
        "| production deploy | — | |",
    ] {
        assert!(reply.contains(row), "{row}\n{reply}");
    }
}

#[test]
fn a_word_opens_only_its_own_stages_gate() {
    one(Case {
        name: "/approve for staging opens nothing",
        yaml: PLATFORM,
        setup: |p| {
            p.green();
            p.passed("dev");
        },
        fact: |p| p.command(REL, entry("approve", staging(), false)),
        expect: expect(Stage::WaitingForEntry(1), false).refused("staging has no /approve gate"),
    });
}

#[test]
fn a_stage_without_a_verification_cannot_be_verified() {
    one(Case {
        name: "a verification of a stage without one",
        yaml: PLATFORM,
        setup: |p| p.green(),
        fact: |p| {
            let verify = Command::Verify {
                word: "verify-stage".into(),
                env: env("dev"),
                cancel: false,
            };
            p.command(QA, verify)
        },
        expect: expect(Stage::Deploying(0), false).refused("dev has no /verify-stage gate"),
    });
}
