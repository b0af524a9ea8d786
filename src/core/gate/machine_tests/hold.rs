//! Gate machine table tests: /hold and /unhold.

use super::*;

#[test]
fn hold_records_who_and_why() {
    one(Case {
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
    });
}

#[test]
fn hold_without_the_role_is_refused() {
    one(Case {
        name: "/hold without the role is refused",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| {
            let at = p.written();
            p.command_with(QA, false, Command::Hold { reason: None }, at, None)
        },
        expect: expect(Stage::WaitingForCi, false).refused("qa or release role"),
    });
}

#[test]
fn ci_green_with_a_recorded_lgtm_while_held_no_dispatch() {
    one(Case {
        name: "CI green with a recorded /lgtm while held: no dispatch",
        yaml: DEFAULTS,
        setup: |p| {
            p.lgtm();
            p.hold();
        },
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::WaitingForEntry(0), true)
            .then(|s| assert_eq!(s.deploy_to(&staging()), None)),
    });
}

#[test]
fn lgtm_while_held_recorded_the_reply_says_it_is_held() {
    one(Case {
        name: "/lgtm while held: recorded, the reply says it is held",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            p.hold();
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::WaitingForEntry(0), true)
            .accepted()
            .reply("Recorded, but dispatches are held by @carol (`incident 12`)"),
    });
}

#[test]
fn unhold_dispatches_what_the_gates_allow_as_the_unholder() {
    one(Case {
        // requested_by is the login whose command caused the dispatch.
        name: "/unhold dispatches what the gates allow, as the unholder",
        yaml: DEFAULTS,
        setup: |p| {
            p.lgtm();
            p.hold();
            p.green();
        },
        fact: |p| p.command(REL, Command::Unhold),
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(stage_deploy(A, REL, "42-staging-aaaaaaa-1"))
            .then(|s| assert_eq!(s.hold, None)),
    });
}

#[test]
fn approve_while_held_with_every_gate_passed_no_dispatch() {
    one(Case {
        name: "/approve while held with every gate passed: no dispatch",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            p.hold();
        },
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::WaitingForEntry(1), true)
            .accepted()
            .reply("held by @carol"),
    });
}

#[test]
fn unhold_then_dispatches_prod() {
    one(Case {
        name: "/unhold then dispatches prod",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            p.hold();
            p.ok(REL2, approve());
        },
        fact: |p| p.command(QA, Command::Unhold),
        expect: expect(Stage::Deploying(1), true)
            .accepted()
            .dispatch(prod_deploy(A, QA, "42-production-aaaaaaa-2")),
    });
}

#[test]
fn unhold_when_not_held_is_refused() {
    one(Case {
        name: "/unhold when not held is refused",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| p.command(REL, Command::Unhold),
        expect: expect(Stage::WaitingForCi, false)
            .refused("nothing to cancel: this pull request is not held"),
    });
}

#[test]
fn rollback_while_held_is_refused() {
    one(Case {
        name: "/rollback while held is refused",
        yaml: DEFAULTS,
        setup: Pr::hold,
        fact: |p| p.rollback(REL, production()),
        expect: expect(Stage::WaitingForCi, false)
            .refused("dispatches are held by @carol (`incident 12`); `/unhold` first"),
    });
}

#[test]
fn a_stage_run_completing_while_held_does_not_dispatch_prod() {
    one(Case {
        name: "a stage run completing while held does not dispatch prod",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            p.hold();
            p.ok(REL, approve());
        },
        fact: |p| p.done(&p.stage_id(), true),
        expect: expect(Stage::WaitingForVerification(0), true).records("42-staging-aaaaaaa-1"),
    });
}
