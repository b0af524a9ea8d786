//! Gate machine table tests: /lgtm and the stage dispatch.

use super::*;

/// A dispatch id these cases expect.
const STAGE1: &str = "42-staging-aaaaaaa-1";

#[test]
fn lgtm_before_ci_green_is_recorded_no_dispatch() {
    one(Case {
        name: "/lgtm before CI green is recorded, no dispatch",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::WaitingForCi, true).accepted().then(|s| {
            let l = s.approvals_for(&staging()).first().expect("lgtm recorded");
            assert_eq!((l.login.as_str(), &l.sha), (QA, &sha(A)));
            assert_eq!(s.deploy_to(&staging()), None);
        }),
    });
}

#[test]
fn ci_green_after_lgtm_dispatches_stage_as_the_lgtm_login() {
    one(Case {
        name: "CI green after /lgtm dispatches stage as the lgtm login",
        yaml: DEFAULTS,
        setup: |p| p.lgtm(),
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::Deploying(0), true)
            .dispatch(stage_deploy(A, QA, STAGE1))
            .then(|s| {
                let d = s.deploy_to(&staging()).expect("stage deploy stored");
                assert_eq!(d.dispatch_id, "42-staging-aaaaaaa-1");
                assert_eq!(d.status, DeployStatus::Pending);
                assert_eq!(s.dispatch_seq, 1);
            }),
    });
}

#[test]
fn lgtm_after_ci_green_dispatches_at_once() {
    one(Case {
        name: "/lgtm after CI green dispatches at once",
        yaml: DEFAULTS,
        setup: Pr::green,
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(stage_deploy(A, QA, STAGE1)),
    });
}

#[test]
fn custom_workflow_names_and_ref() {
    one(Case {
        name: "custom workflow names and ref",
        yaml: CUSTOM,
        setup: Pr::green,
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(dispatched(
                "deploy-stage.yaml",
                "release/2026",
                staging(),
                DeployKind::Promote,
                A,
                QA,
                STAGE1,
            )),
    });
}

#[test]
fn duplicate_ci_green_does_not_dispatch_twice() {
    one(Case {
        name: "duplicate CI green does not dispatch twice",
        yaml: DEFAULTS,
        setup: |p| {
            p.lgtm();
            p.green();
        },
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::Deploying(0), false),
    });
}

#[test]
fn second_lgtm_after_the_dispatch_is_refused_already_dispatched() {
    one(Case {
        name: "second /lgtm after the dispatch is refused: already dispatched",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| p.command(QA2, lgtm()),
        expect: expect(Stage::Deploying(0), false)
            .refused("@dave `/lgtm` refused: staging is already dispatched for this SHA"),
    });
}

#[test]
fn lgtm_after_the_stage_deploy_succeeded_is_refused() {
    one(Case {
        name: "/lgtm after the stage deploy succeeded is refused",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| p.command(QA2, lgtm()),
        expect: expect(Stage::WaitingForVerification(0), false)
            .refused("staging is already dispatched for this SHA"),
    });
}

#[test]
fn second_lgtm_before_ci_is_recorded_after_the_first() {
    one(Case {
        name: "second /lgtm before CI is recorded after the first",
        yaml: DEFAULTS,
        setup: |p| p.lgtm(),
        fact: |p| p.command(QA2, lgtm()),
        expect: expect(Stage::WaitingForCi, true).accepted().then(|s| {
            let givers: Vec<&str> = s
                .gates(&staging())
                .map(|g| g.approvals.iter().map(|a| a.login.as_str()).collect())
                .unwrap_or_default();
            assert_eq!(givers, [QA, QA2]);
        }),
    });
}

#[test]
fn the_first_lgtm_asks_for_staging_when_two_were_given() {
    let mut pr = Pr::new(DEFAULTS);
    pr.lgtm();
    pr.ok(QA2, lgtm());
    pr.green();
    assert_eq!(
        pr.s.deploy_to(&staging()).map(|d| d.requested_by.as_str()),
        Some(QA)
    );
}

#[test]
fn lgtm_while_ci_failed_is_recorded_no_dispatch() {
    one(Case {
        name: "/lgtm while CI failed is recorded, no dispatch",
        yaml: DEFAULTS,
        setup: |p| {
            let f = p.ci(CiStatus::Failed);
            p.step(f);
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::CiFailed, true).accepted(),
    });
}

#[test]
fn the_authors_lgtm_is_refused() {
    one(Case {
        name: "the author's /lgtm is refused",
        yaml: DEFAULTS,
        setup: Pr::green,
        fact: |p| p.command(AUTHOR, lgtm()),
        expect: expect(Stage::WaitingForEntry(0), false).refused("an author of this head"),
    });
}

#[test]
fn lgtm_without_the_qa_role_is_refused() {
    one(Case {
        name: "/lgtm without the qa role is refused",
        yaml: DEFAULTS,
        setup: Pr::green,
        fact: |p| {
            let at = p.written();
            p.command_with(QA, false, lgtm(), at, None)
        },
        expect: expect(Stage::WaitingForEntry(0), false).refused("you need the qa role"),
    });
}

#[test]
fn lgtm_after_a_failed_stage_deploy_dispatches_again() {
    one(Case {
        name: "/lgtm after a failed stage deploy dispatches again",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            let id = p.stage_id();
            p.finish(&id, false);
        },
        fact: |p| p.command(QA2, lgtm()),
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(stage_deploy(A, QA2, "42-staging-aaaaaaa-2")),
    });
}
