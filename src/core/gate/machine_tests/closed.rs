//! Gate machine table tests: Closed and reopened.

use super::*;

#[test]
fn closing_detaches_the_running_deploy() {
    one(Case {
        name: "closing detaches the running deploy",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| p.closed(),
        expect: expect(Stage::Closed, true).then(|s| {
            assert!(!s.open);
            assert_eq!(s.deploy_to(&staging()), None);
            assert_eq!(s.detached[0].dispatch_id, "42-staging-aaaaaaa-1");
        }),
    });
}

#[test]
fn closing_twice() {
    one(Case {
        name: "closing twice",
        yaml: DEFAULTS,
        setup: Pr::close,
        fact: |p| p.closed(),
        expect: expect(Stage::Closed, false),
    });
}

#[test]
fn lgtm_on_a_closed_pr_is_refused() {
    one(Case {
        name: "/lgtm on a closed PR is refused",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            p.close();
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::Closed, false).refused("this pull request is closed"),
    });
}

#[test]
fn approve_on_a_closed_pr_is_refused() {
    one(Case {
        name: "/approve on a closed PR is refused",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            p.close();
        },
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::Closed, false).refused("closed"),
    });
}

#[test]
fn hold_on_a_closed_pr_is_refused() {
    one(Case {
        name: "/hold on a closed PR is refused",
        yaml: DEFAULTS,
        setup: Pr::close,
        fact: |p| p.command(REL, Command::Hold { reason: None }),
        expect: expect(Stage::Closed, false).refused("closed"),
    });
}

#[test]
fn rollback_on_a_closed_merged_pr_dispatches_that_is_when_it_is_needed() {
    one(Case {
        name: "/rollback on a closed (merged) PR dispatches: that is when it is needed",
        yaml: DEFAULTS,
        setup: Pr::close,
        fact: |p| p.rollback(REL, production()),
        expect: expect(Stage::Closed, true)
            .accepted()
            .reply("Rolling production back to ccccccc")
            .dispatch(rollback_deploy(
                production(),
                REL,
                "42-production-ccccccc-1",
            )),
    });
}

#[test]
fn rollback_on_a_closed_pr_still_honours_a_hold() {
    one(Case {
        name: "/rollback on a closed PR still honours a hold",
        yaml: DEFAULTS,
        setup: |p| {
            p.hold();
            p.close();
        },
        fact: |p| p.rollback(REL, production()),
        expect: expect(Stage::Closed, false).refused("held"),
    });
}

#[test]
fn help_on_a_closed_pr_is_answered() {
    one(Case {
        name: "/help on a closed PR is answered",
        yaml: DEFAULTS,
        setup: Pr::close,
        fact: |p| p.command(QA, Command::Help),
        expect: expect(Stage::Closed, false).accepted().reply(&help()),
    });
}

#[test]
fn gates_on_a_closed_pr_is_answered() {
    one(Case {
        name: "/gates on a closed PR is answered",
        yaml: DEFAULTS,
        setup: Pr::close,
        fact: |p| p.command(QA, Command::Gates),
        expect: expect(Stage::Closed, false).accepted().reply(TABLE_HEADER),
    });
}

#[test]
fn ci_green_on_a_closed_pr_with_lgtm_does_not_dispatch() {
    one(Case {
        name: "CI green on a closed PR with /lgtm does not dispatch",
        yaml: DEFAULTS,
        setup: |p| {
            p.lgtm();
            p.close();
        },
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::Closed, false),
    });
}

#[test]
fn reevaluate_on_a_closed_pr_does_not_dispatch() {
    one(Case {
        name: "Reevaluate on a closed PR does not dispatch",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
            let id = p.prod_id();
            p.finish(&id, false);
            p.close();
        },
        fact: |_| Fact::Reevaluate,
        expect: expect(Stage::Closed, false),
    });
}

#[test]
fn a_deploy_finishing_after_close_is_recorded_nothing_dispatched() {
    one(Case {
        name: "a deploy finishing after close is recorded, nothing dispatched",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            p.ok(REL, approve());
            p.close();
        },
        fact: |p| p.done(&p.detached_id(0), true),
        expect: expect(Stage::Closed, true)
            .records("42-staging-aaaaaaa-1")
            .then(|s| assert!(s.detached.is_empty())),
    });
}

#[test]
fn reopened_resets_every_gate() {
    one(Case {
        name: "Reopened resets every gate",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
            p.close();
        },
        fact: |_| observed(true, B, "main"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert!(s.open);
            assert_eq!(s.head_sha, sha(B));
            assert_eq!(s.ci, CiStatus::Pending);
            assert_eq!(
                (
                    &s.approvals_for(&staging()).first(),
                    &s.deploy_to(&staging()),
                    &s.verification_of(&staging())
                ),
                (&None, &None, &None)
            );
            assert!(s.approvals_for(&production()).is_empty());
        }),
    });
}

#[test]
fn reopened_on_the_same_head_still_resets() {
    one(Case {
        name: "Reopened on the same head still resets",
        yaml: DEFAULTS,
        setup: |p| {
            p.staged();
            p.close();
        },
        fact: |_| observed(true, A, "main"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert_eq!(
                (
                    &s.approvals_for(&staging()).first(),
                    &s.deploy_to(&staging())
                ),
                (&None, &None)
            );
        }),
    });
}

#[test]
fn after_reopening_the_gates_run_again() {
    one(Case {
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
        fact: |p| p.command(QA2, lgtm()),
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(stage_deploy(A, QA2, "42-staging-aaaaaaa-2")),
    });
}

#[test]
fn reopened_while_open_is_ignored() {
    one(Case {
        name: "Reopened while open is ignored",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |_| observed(true, A, "main"),
        expect: expect(Stage::Deploying(0), false),
    });
}
