//! Gate machine table tests: CI.

use super::*;

#[test]
fn fresh_state_waits_for_ci() {
    let pr = Pr::new(DEFAULTS);
    assert_eq!(pr.stage(), Stage::WaitingForCi);
    assert_eq!(pr.s.author, AUTHOR);
    assert_eq!(pr.s.ci, CiStatus::Pending);
    assert_eq!(pr.s.dispatch_seq, 0);
}

#[test]
fn green_on_head_waiting_for_ci_waiting_for_qa() {
    one(Case {
        name: "green on head: waiting for CI -> waiting for QA",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::WaitingForEntry(0), true).then(|s| assert_eq!(s.ci, CiStatus::Green)),
    });
}

#[test]
fn ci_for_another_sha_is_ignored() {
    one(Case {
        name: "CI for another SHA is ignored",
        yaml: DEFAULTS,
        setup: none,
        fact: |_| Fact::Ci {
            sha: sha(B),
            status: CiStatus::Green,
        },
        expect: expect(Stage::WaitingForCi, false),
    });
}

#[test]
fn ci_failed() {
    one(Case {
        name: "CI failed",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| p.ci(CiStatus::Failed),
        expect: expect(Stage::CiFailed, true),
    });
}

#[test]
fn green_after_a_failed_run() {
    one(Case {
        name: "green after a failed run",
        yaml: DEFAULTS,
        setup: |p| {
            let f = p.ci(CiStatus::Failed);
            p.step(f);
        },
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::WaitingForEntry(0), true),
    });
}

#[test]
fn ci_turning_red_while_staging_deploys_is_recorded_the_deploy_runs_on() {
    one(Case {
        name: "CI turning red while staging deploys is recorded; the deploy runs on",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| p.ci(CiStatus::Failed),
        expect: expect(Stage::Deploying(0), true).then(|s| assert_eq!(s.ci, CiStatus::Failed)),
    });
}

#[test]
fn ci_re_running_after_the_stage_deploy_is_recorded() {
    one(Case {
        name: "CI re-running after the stage deploy is recorded",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| p.ci(CiStatus::Pending),
        expect: expect(Stage::WaitingForVerification(0), true)
            .then(|s| assert_eq!(s.ci, CiStatus::Pending)),
    });
}

#[test]
fn ci_red_after_the_stage_deploy_failed_a_retried_lgtm_dispatches_nothing() {
    one(Case {
        name: "CI red after the stage deploy failed: a retried /lgtm dispatches nothing",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            let id = p.stage_id();
            p.finish(&id, false);
            let red = p.ci(CiStatus::Failed);
            p.step(red);
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::CiFailed, true)
            .accepted()
            .then(|s| assert_eq!(s.deploy_to(&staging()), None)),
    });
}

#[test]
fn ci_green_again_after_that_staging_is_dispatched_anew() {
    one(Case {
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
        expect: expect(Stage::Deploying(0), true).dispatch(stage_deploy(
            A,
            QA,
            "42-staging-aaaaaaa-2",
        )),
    });
}

#[test]
fn ci_red_after_verification_approve_is_recorded_production_is_not_dispatched() {
    one(Case {
        name: "CI red after verification: /approve is recorded, production is not dispatched",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            let red = p.ci(CiStatus::Failed);
            p.step(red);
        },
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::CiFailed, true)
            .accepted()
            .then(|s| assert_eq!(s.deploy_to(&production()), None)),
    });
}
