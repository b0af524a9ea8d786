//! Gate machine table tests: Cancel forms.

use super::*;

#[test]
fn lgtm_cancel_by_its_giver_before_the_dispatch_clears_it() {
    one(Case {
        name: "/lgtm cancel by its giver before the dispatch clears it",
        yaml: DEFAULTS,
        setup: |p| p.lgtm(),
        fact: |p| p.command(QA, lgtm_cancel()),
        expect: expect(Stage::WaitingForCi, true)
            .accepted()
            .then(|s| assert_eq!(s.approvals_for(&staging()).first(), None)),
    });
}

#[test]
fn ci_green_after_lgtm_cancel_does_not_dispatch() {
    one(Case {
        name: "CI green after /lgtm cancel does not dispatch",
        yaml: DEFAULTS,
        setup: |p| {
            p.lgtm();
            p.ok(QA, lgtm_cancel());
        },
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::WaitingForEntry(0), true),
    });
}

#[test]
fn lgtm_cancel_by_someone_else_is_refused() {
    one(Case {
        name: "/lgtm cancel by someone else is refused",
        yaml: DEFAULTS,
        setup: |p| p.lgtm(),
        fact: |p| p.command(QA2, lgtm_cancel()),
        expect: expect(Stage::WaitingForCi, false).refused("only @bob can cancel it"),
    });
}

#[test]
fn lgtm_cancel_after_the_dispatch_is_refused() {
    one(Case {
        name: "/lgtm cancel after the dispatch is refused",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| p.command(QA, lgtm_cancel()),
        expect: expect(Stage::Deploying(0), false).refused("staging is already dispatched"),
    });
}

#[test]
fn lgtm_cancel_after_a_failed_stage_deploy_withdraws_it() {
    one(Case {
        name: "/lgtm cancel after a failed stage deploy withdraws it",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            let id = p.stage_id();
            p.finish(&id, false);
        },
        fact: |p| p.command(QA, lgtm_cancel()),
        expect: expect(Stage::WaitingForEntry(0), true)
            .accepted()
            .then(|s| {
                assert_eq!(s.approvals_for(&staging()).first(), None);
                assert_eq!(s.deploy_to(&staging()), None);
            }),
    });
}

#[test]
fn lgtm_cancel_with_no_lgtm() {
    one(Case {
        name: "/lgtm cancel with no /lgtm",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| p.command(QA, lgtm_cancel()),
        expect: expect(Stage::WaitingForCi, false)
            .refused("there is nothing to cancel: no /lgtm on this SHA"),
    });
}

#[test]
fn approve_cancel_removes_ones_own_approval() {
    one(Case {
        name: "/approve cancel removes one's own approval",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
        },
        fact: |p| p.command(REL, approve_cancel()),
        expect: expect(Stage::WaitingForEntry(1), true)
            .accepted()
            .then(|s| assert!(s.approvals_for(&production()).is_empty())),
    });
}

#[test]
fn verify_stage_after_approve_cancel_does_not_dispatch_prod() {
    one(Case {
        name: "/verify-stage after /approve cancel does not dispatch prod",
        yaml: DEFAULTS,
        setup: |p| {
            p.staged();
            p.ok(REL, approve());
            p.ok(REL, approve_cancel());
        },
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::WaitingForEntry(1), true).accepted(),
    });
}

#[test]
fn approve_cancel_keeps_the_other_approvals() {
    one(Case {
        name: "/approve cancel keeps the other approvals",
        yaml: "approvals: {prod: 3}",
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
            p.ok(REL2, approve());
        },
        fact: |p| p.command(REL, approve_cancel()),
        expect: expect(Stage::WaitingForEntry(1), true)
            .accepted()
            .then(|s| assert_eq!(logins(s.approvers_of(&production())), [REL2])),
    });
}

#[test]
fn approve_cancel_without_an_approval() {
    one(Case {
        name: "/approve cancel without an approval",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
        },
        fact: |p| p.command(REL2, approve_cancel()),
        expect: expect(Stage::WaitingForEntry(1), false)
            .refused("nothing to cancel: you have not given /approve for this SHA"),
    });
}

#[test]
fn approve_cancel_after_the_prod_dispatch_is_refused() {
    one(Case {
        name: "/approve cancel after the prod dispatch is refused",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |p| p.command(REL, approve_cancel()),
        expect: expect(Stage::Deploying(1), false).refused("production is already dispatched"),
    });
}

#[test]
fn verify_stage_cancel_withdraws_the_verification() {
    one(Case {
        name: "/verify-stage cancel withdraws the verification",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |p| p.command(QA, verify_stage_cancel()),
        expect: expect(Stage::WaitingForVerification(0), true)
            .accepted()
            .then(|s| assert_eq!(s.verification_of(&staging()), None)),
    });
}

#[test]
fn approve_after_verify_stage_cancel_does_not_dispatch() {
    one(Case {
        name: "/approve after /verify-stage cancel does not dispatch",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            p.ok(QA, verify_stage_cancel());
        },
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::WaitingForVerification(0), true).accepted(),
    });
}

#[test]
fn verify_stage_cancel_by_someone_else_is_refused() {
    one(Case {
        name: "/verify-stage cancel by someone else is refused",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |p| p.command(QA2, verify_stage_cancel()),
        expect: expect(Stage::WaitingForEntry(1), false).refused("only @bob can cancel it"),
    });
}

#[test]
fn verify_stage_cancel_with_nothing_verified() {
    one(Case {
        name: "/verify-stage cancel with nothing verified",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| p.command(QA, verify_stage_cancel()),
        expect: expect(Stage::WaitingForVerification(0), false)
            .refused("nothing to cancel: staging is not verified"),
    });
}

#[test]
fn verify_stage_cancel_while_the_verify_run_is_running_detaches_it() {
    one(Case {
        name: "/verify-stage cancel while the verify run is running detaches it",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
        },
        fact: |p| p.command(QA, verify_stage_cancel()),
        expect: expect(Stage::WaitingForVerification(0), true)
            .accepted()
            .then(|s| {
                assert_eq!(s.verification_of(&staging()), None);
                let ids: Vec<_> = s.detached.iter().map(|d| d.dispatch_id.as_str()).collect();
                assert_eq!(ids, ["42-verify-aaaaaaa-2"]);
            }),
    });
}

#[test]
fn verify_stage_cancel_after_the_prod_dispatch_is_refused() {
    one(Case {
        name: "/verify-stage cancel after the prod dispatch is refused",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |p| p.command(QA, verify_stage_cancel()),
        expect: expect(Stage::Deploying(1), false).refused("production is already dispatched"),
    });
}

#[test]
fn a_cancelled_verify_run_completing_later_changes_no_gate() {
    one(Case {
        name: "a cancelled verify run completing later changes no gate",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
            p.ok(QA, verify_stage_cancel());
            p.ok(REL, approve());
        },
        fact: |p| p.done(&p.detached_id(0), true),
        expect: expect(Stage::WaitingForVerification(0), true).then(|s| {
            assert!(s.detached.is_empty());
            assert_eq!(s.deploy_to(&production()), None);
        }),
    });
}
