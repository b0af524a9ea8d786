//! Gate machine table tests: /verify-stage.

use super::*;

// Found by the property tests: the author holding the qa role.
#[test]
fn the_author_cannot_verify_their_own_change() {
    one(Case {
        name: "the author cannot verify their own change",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| p.command(AUTHOR, verify_stage()),
        expect: expect(Stage::WaitingForVerification(0), false).refused("an author of this head"),
    });
}

#[test]
fn without_a_verify_workflow_verified_at_once() {
    one(Case {
        name: "without a verify workflow: verified at once",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::WaitingForEntry(1), true)
            .accepted()
            .then(|s| {
                let v = s.verification_of(&staging()).unwrap();
                assert_eq!((v.login.as_str(), &v.sha), (QA, &sha(A)));
                assert_eq!(v.run, None);
            }),
    });
}

#[test]
fn before_the_stage_deploy_finished_not_deployed() {
    one(Case {
        name: "before the stage deploy finished: not deployed yet",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::Deploying(0), false)
            .refused("staging is not deployed for aaaaaaa yet"),
    });
}

#[test]
fn before_any_stage_deploy_not_deployed() {
    one(Case {
        name: "before any stage deploy: not deployed yet",
        yaml: DEFAULTS,
        setup: Pr::green,
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::WaitingForEntry(0), false)
            .refused("staging is not deployed for aaaaaaa yet"),
    });
}

#[test]
fn after_the_stage_deploy_failed_not_deployed() {
    one(Case {
        name: "after the stage deploy failed: not deployed yet",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            let id = p.stage_id();
            p.finish(&id, false);
        },
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::DeployFailed(0), false)
            .refused("staging is not deployed for aaaaaaa yet"),
    });
}

#[test]
fn without_the_qa_role_refused() {
    one(Case {
        name: "without the qa role: refused",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| {
            let at = p.written();
            p.command_with(QA, false, verify_stage(), at, None)
        },
        expect: expect(Stage::WaitingForVerification(0), false).refused("qa role"),
    });
}

#[test]
fn again_when_verified_accepted_nothing_new() {
    one(Case {
        name: "again when verified: accepted, nothing new",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |p| p.command(QA2, verify_stage()),
        expect: expect(Stage::WaitingForEntry(1), false).accepted(),
    });
}

#[test]
fn with_a_verify_workflow_dispatches_it() {
    one(Case {
        name: "with a verify workflow: dispatches it",
        yaml: VERIFY,
        setup: Pr::staged,
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::Verifying(0), true)
            .accepted()
            .dispatch(verify_run(QA, "42-verify-aaaaaaa-2"))
            .then(|s| {
                let v = s.verification_of(&staging()).unwrap();
                assert!(!v.passed());
                assert_eq!(v.run.as_ref().unwrap().dispatch_id, "42-verify-aaaaaaa-2");
            }),
    });
}

#[test]
fn verify_run_succeeded_waiting_for_approval_not_recorded() {
    one(Case {
        name: "verify run succeeded: waiting for approval, not recorded",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
        },
        fact: |p| p.done(&p.verify_id(), true),
        expect: expect(Stage::WaitingForEntry(1), true),
    });
}

#[test]
fn verify_run_failed() {
    one(Case {
        name: "verify run failed",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
        },
        fact: |p| p.done(&p.verify_id(), false),
        expect: expect(Stage::VerificationFailed(0), true),
    });
}

#[test]
fn again_while_verifying_accepted_no_second_run() {
    one(Case {
        name: "again while verifying: accepted, no second run",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
        },
        fact: |p| p.command(QA2, verify_stage()),
        expect: expect(Stage::Verifying(0), false).accepted(),
    });
}

#[test]
fn again_after_the_verify_run_failed_dispatched_again() {
    one(Case {
        name: "again after the verify run failed: dispatched again",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
            let id = p.verify_id();
            p.finish(&id, false);
        },
        fact: |p| p.command(QA2, verify_stage()),
        expect: expect(Stage::Verifying(0), true)
            .accepted()
            .dispatch(verify_run(QA2, "42-verify-aaaaaaa-3"))
            .then(|s| assert_eq!(s.verification_of(&staging()).unwrap().login, QA2)),
    });
}

#[test]
fn verify_dispatch_refused_verification_failed() {
    one(Case {
        name: "verify dispatch refused: verification failed",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
        },
        fact: |p| Fact::DispatchFailed {
            dispatch_id: p.verify_id(),
            reason: "no such workflow".into(),
        },
        expect: expect(Stage::VerificationFailed(0), true)
            .reply("could not dispatch the staging verification of `aaaaaaa`"),
    });
}

#[test]
fn with_a_verify_workflow_while_held_refused() {
    one(Case {
        name: "with a verify workflow while held: refused",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.hold();
        },
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::WaitingForVerification(0), false)
            .refused("dispatches are held by @carol (`incident 12`)"),
    });
}

#[test]
fn verify_run_passing_with_the_approval_in_dispatches_prod() {
    one(Case {
        name: "verify run passing with the approval in dispatches prod",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(REL, approve());
            p.ok(QA, verify_stage());
        },
        fact: |p| p.done(&p.verify_id(), true),
        expect: expect(Stage::Deploying(1), true).dispatch(prod_deploy(
            A,
            REL,
            "42-production-aaaaaaa-3",
        )),
    });
}
