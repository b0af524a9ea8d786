//! Gate machine table tests: /approve and the prod dispatch.

use super::*;

/// A dispatch id these cases expect.
const PROD2: &str = "42-production-aaaaaaa-2";

#[test]
fn quorum_1_dispatches_prod() {
    one(Case {
        name: "quorum 1: dispatches prod",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::Deploying(1), true)
            .accepted()
            .dispatch(prod_deploy(A, REL, PROD2))
            .then(|s| {
                assert_eq!(
                    s.deploy_to(&production()).unwrap().dispatch_id,
                    "42-production-aaaaaaa-2"
                );
                assert_eq!(logins(s.approvers_of(&production())), [REL]);
            }),
    });
}

#[test]
fn custom_prod_workflow_and_ref() {
    one(Case {
        name: "custom prod workflow and ref",
        yaml: CUSTOM,
        setup: Pr::verified,
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::Deploying(1), true)
            .accepted()
            .dispatch(dispatched(
                "ship.yml",
                "release/2026",
                production(),
                DeployKind::Promote,
                A,
                REL,
                PROD2,
            )),
    });
}

#[test]
fn quorum_2_the_first_approval_does_not_dispatch() {
    one(Case {
        name: "quorum 2: the first approval does not dispatch",
        yaml: QUORUM2,
        setup: Pr::verified,
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::WaitingForEntry(1), true)
            .accepted()
            .then(|s| assert_eq!(logins(s.approvers_of(&production())), [REL])),
    });
}

#[test]
fn quorum_2_the_same_user_again_does_not_dispatch() {
    one(Case {
        name: "quorum 2: the same user again does not dispatch",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
        },
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::WaitingForEntry(1), false)
            .accepted()
            .then(|s| assert_eq!(s.approvals_for(&production()).len(), 1)),
    });
}

#[test]
fn quorum_2_a_second_distinct_approver_dispatches() {
    one(Case {
        name: "quorum 2: a second distinct approver dispatches",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
            p.ok(REL, approve());
        },
        fact: |p| p.command(REL2, approve()),
        expect: expect(Stage::Deploying(1), true)
            .accepted()
            .dispatch(prod_deploy(A, REL2, PROD2))
            .then(|s| assert_eq!(logins(s.approvers_of(&production())), [REL, REL2])),
    });
}

#[test]
fn quorum_2_a_third_approval_after_the_dispatch_is_refused() {
    one(Case {
        name: "quorum 2: a third approval after the dispatch is refused",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
            p.ok(REL2, approve());
        },
        fact: |p| p.command("frank", approve()),
        expect: expect(Stage::Deploying(1), false)
            .refused("production is already dispatched for this SHA"),
    });
}

#[test]
fn the_authors_approve_is_refused() {
    one(Case {
        name: "the author's /approve is refused",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |p| p.command(AUTHOR, approve()),
        expect: expect(Stage::WaitingForEntry(1), false).refused(
            "@alice `/approve` refused: an author of this head (whoever opened the pull request or pushed to it) cannot give its gates",
        ),
    });
}

#[test]
fn approve_without_the_release_role_is_refused() {
    one(Case {
        name: "/approve without the release role is refused",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |p| {
            let at = p.written();
            p.command_with(QA, false, approve(), at, None)
        },
        expect: expect(Stage::WaitingForEntry(1), false)
            .refused("you need the release role for this command"),
    });
}

#[test]
fn approve_before_verification_is_recorded_no_dispatch() {
    one(Case {
        name: "/approve before verification is recorded, no dispatch",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::WaitingForVerification(0), true)
            .accepted()
            .then(|s| assert_eq!(logins(s.approvers_of(&production())), [REL])),
    });
}

#[test]
fn approve_before_ci_is_recorded_no_dispatch() {
    one(Case {
        name: "/approve before CI is recorded, no dispatch",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::WaitingForCi, true)
            .accepted()
            .then(|s| assert_eq!(logins(s.approvers_of(&production())), [REL])),
    });
}

#[test]
fn verify_stage_after_approve_dispatches_prod_as_the_verifier() {
    one(Case {
        // requested_by is the login whose command caused the dispatch.
        name: "/verify-stage after /approve dispatches prod as the verifier",
        yaml: DEFAULTS,
        setup: |p| {
            p.staged();
            p.ok(REL, approve());
        },
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::Deploying(1), true)
            .accepted()
            .dispatch(prod_deploy(A, QA, PROD2)),
    });
}

#[test]
fn prod_run_succeeded_deployed_recorded() {
    one(Case {
        name: "prod run succeeded: deployed, recorded",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |p| p.done(&p.prod_id(), true),
        expect: expect(Stage::Deployed, true).records(PROD2),
    });
}

#[test]
fn prod_run_failed() {
    one(Case {
        name: "prod run failed",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |p| p.done(&p.prod_id(), false),
        expect: expect(Stage::DeployFailed(1), true),
    });
}

#[test]
fn approve_after_the_prod_deploy_failed_dispatches_again() {
    one(Case {
        name: "/approve after the prod deploy failed dispatches again",
        yaml: DEFAULTS,
        setup: |p| {
            p.approved();
            let id = p.prod_id();
            p.finish(&id, false);
        },
        fact: |p| p.command(REL2, approve()),
        expect: expect(Stage::Deploying(1), true)
            .accepted()
            .dispatch(prod_deploy(A, REL2, "42-production-aaaaaaa-3")),
    });
}

#[test]
fn approve_after_deployed_is_refused() {
    one(Case {
        name: "/approve after deployed is refused",
        yaml: DEFAULTS,
        setup: Pr::deployed,
        fact: |p| p.command(REL2, approve()),
        expect: expect(Stage::Deployed, false)
            .refused("production is already dispatched for this SHA"),
    });
}

#[test]
fn verify_stage_after_the_prod_dispatch_is_refused() {
    one(Case {
        name: "/verify-stage after the prod dispatch is refused",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |p| p.command(QA2, verify_stage()),
        expect: expect(Stage::Deploying(1), false).refused("production is already dispatched"),
    });
}
