//! Gate machine table tests: Freeze windows.

use super::*;

#[test]
fn approve_during_a_freeze_accepted_no_dispatch_reply_says_frozen() {
    one(Case {
        name: "/approve during a freeze: accepted, no dispatch, reply says frozen",
        yaml: FROZEN,
        setup: Pr::verified,
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::WaitingForEntry(1), true).accepted().reply(
            "Approval recorded, but production is frozen until 2026-06-02T00:00:00+00:00 (launch week)",
        ),
    });
}

#[test]
fn reevaluate_during_the_freeze_does_nothing() {
    one(Case {
        name: "Reevaluate during the freeze does nothing",
        yaml: FROZEN,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
        },
        fact: |_| Fact::Reevaluate,
        expect: expect(Stage::WaitingForEntry(1), false),
    });
}

#[test]
fn reevaluate_after_the_freeze_dispatches_prod_as_the_approver() {
    one(Case {
        name: "Reevaluate after the freeze dispatches prod as the approver",
        yaml: FROZEN,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
            p.now = freeze_end() + Duration::hours(1);
        },
        fact: |_| Fact::Reevaluate,
        expect: expect(Stage::Deploying(1), true).dispatch(prod_deploy(
            A,
            REL,
            "42-production-aaaaaaa-2",
        )),
    });
}

#[test]
fn the_windows_end_is_exclusive() {
    one(Case {
        name: "the window's end is exclusive",
        yaml: FROZEN,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
            p.now = freeze_end();
        },
        fact: |_| Fact::Reevaluate,
        expect: expect(Stage::Deploying(1), true).dispatch(prod_deploy(
            A,
            REL,
            "42-production-aaaaaaa-2",
        )),
    });
}

#[test]
fn the_freeze_does_not_stop_the_stage_deploy() {
    one(Case {
        name: "the freeze does not stop the stage deploy",
        yaml: FROZEN,
        setup: Pr::green,
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(stage_deploy(A, QA, "42-staging-aaaaaaa-1")),
    });
}

#[test]
fn rollback_prod_during_the_freeze_is_refused() {
    one(Case {
        name: "/rollback prod during the freeze is refused",
        yaml: FROZEN,
        setup: none,
        fact: |p| p.rollback(REL, production()),
        expect: expect(Stage::WaitingForCi, false)
            .refused("production is frozen until 2026-06-02T00:00:00+00:00 (launch week)"),
    });
}

#[test]
fn rollback_stage_during_the_freeze_is_allowed() {
    one(Case {
        name: "/rollback stage during the freeze is allowed",
        yaml: FROZEN,
        setup: none,
        fact: |p| p.rollback(QA, staging()),
        expect: expect(Stage::WaitingForCi, true)
            .accepted()
            .reply("Rolling staging back to ccccccc (dispatch `42-staging-ccccccc-1`)")
            .dispatch(rollback_deploy(staging(), QA, "42-staging-ccccccc-1")),
    });
}
