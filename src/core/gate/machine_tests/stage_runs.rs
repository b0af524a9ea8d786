//! Gate machine table tests: Stage runs.

use super::*;

/// A dispatch id these cases expect.
const STAGE1: &str = "42-staging-aaaaaaa-1";

#[test]
fn stage_run_succeeded_waiting_for_verification_recorded() {
    one(Case {
        name: "stage run succeeded: waiting for verification, recorded",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| p.done(&p.stage_id(), true),
        expect: expect(Stage::WaitingForVerification(0), true)
            .records(STAGE1)
            .then(|s| {
                let d = s.deploy_to(&staging()).unwrap();
                assert_eq!(d.status, DeployStatus::Succeeded);
                assert_eq!(d.run_id, Some(7000));
                assert_eq!(d.finished_at, Some(t0()));
                assert_eq!(
                    d.run_url.as_deref(),
                    Some("https://github.com/acme/widgets/actions/runs/7000")
                );
            }),
    });
}

#[test]
fn stage_run_failed() {
    one(Case {
        name: "stage run failed",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| p.done(&p.stage_id(), false),
        expect: expect(Stage::DeployFailed(0), true),
    });
}

#[test]
fn repeated_completion_of_the_same_run_is_ignored() {
    one(Case {
        name: "repeated completion of the same run is ignored",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| p.done(&p.stage_id(), true),
        expect: expect(Stage::WaitingForVerification(0), false),
    });
}

#[test]
fn a_late_failure_after_success_is_ignored() {
    one(Case {
        name: "a late failure after success is ignored",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| p.done(&p.stage_id(), false),
        expect: expect(Stage::WaitingForVerification(0), false),
    });
}

#[test]
fn a_late_success_after_failure_is_ignored() {
    one(Case {
        name: "a late success after failure is ignored",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            let id = p.stage_id();
            p.finish(&id, false);
        },
        fact: |p| p.done(&p.stage_id(), true),
        expect: expect(Stage::DeployFailed(0), false),
    });
}

#[test]
fn unknown_dispatch_id_is_ignored() {
    one(Case {
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
        expect: expect(Stage::Deploying(0), false),
    });
}

#[test]
fn run_id_other_than_the_linked_run_is_ignored() {
    one(Case {
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
        expect: expect(Stage::Deploying(0), false),
    });
}

#[test]
fn runlinked_links_the_run() {
    one(Case {
        name: "RunLinked links the run",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| Fact::RunLinked {
            dispatch_id: p.stage_id(),
            run_id: 555,
            url: Some("https://example.test/runs/555".into()),
        },
        expect: expect(Stage::Deploying(0), true).then(|s| {
            let d = s.deploy_to(&staging()).unwrap();
            assert_eq!(d.run_id, Some(555));
            assert_eq!(d.run_url.as_deref(), Some("https://example.test/runs/555"));
            assert_eq!(d.status, DeployStatus::Pending);
        }),
    });
}

#[test]
fn a_second_runlinked_is_ignored() {
    one(Case {
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
        expect: expect(Stage::Deploying(0), false),
    });
}

#[test]
fn runlinked_then_runcompleted_of_the_linked_run() {
    one(Case {
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
        expect: expect(Stage::WaitingForVerification(0), true)
            .records(STAGE1)
            .then(|s| assert_eq!(s.deploy_to(&staging()).unwrap().run_id, Some(555))),
    });
}

#[test]
fn runlinked_after_completion_is_ignored() {
    one(Case {
        name: "RunLinked after completion is ignored",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| Fact::RunLinked {
            dispatch_id: p.stage_id(),
            run_id: 9,
            url: None,
        },
        expect: expect(Stage::WaitingForVerification(0), false),
    });
}

#[test]
fn dispatch_refused_stage_failed_with_a_reply() {
    one(Case {
        name: "dispatch refused: stage failed, with a reply",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| Fact::DispatchFailed {
            dispatch_id: p.stage_id(),
            reason: "workflow not found".into(),
        },
        expect: expect(Stage::DeployFailed(0), true).reply(
            "gatebot could not dispatch the staging deploy of `aaaaaaa`: workflow not found",
        ),
    });
}

#[test]
fn dispatch_failure_after_the_run_was_linked_is_ignored() {
    one(Case {
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
        expect: expect(Stage::Deploying(0), false),
    });
}
