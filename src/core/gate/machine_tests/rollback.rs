//! Gate machine table tests: /rollback.

use super::*;

/// A dispatch id these cases expect.
const RB1: &str = "42-production-ccccccc-1";

// Found by the property tests: two deploys to one environment.
#[test]
fn a_staging_rollback_still_running_holds_back_the_lgtms_deploy() {
    one(Case {
        name: "a staging rollback still running holds back the /lgtm's deploy",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            let f = p.rollback(QA, staging());
            p.step(f);
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::WaitingForEntry(0), true)
            .accepted()
            .reply("Recorded, but a deploy to staging is still running"),
    });
}

#[test]
fn the_held_back_staging_deploy_goes_once_the_rollback_finished() {
    one(Case {
        name: "the held-back staging deploy goes once the rollback finished",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            let f = p.rollback(QA, staging());
            p.step(f);
            p.lgtm();
        },
        fact: |p| {
            let id = p.detached_id(0);
            p.done(&id, true)
        },
        expect: expect(Stage::Deploying(0), true)
            .records("42-staging-ccccccc-1")
            .dispatch(stage_deploy(A, QA, "42-staging-aaaaaaa-2")),
    });
}

#[test]
fn a_production_rollback_still_running_holds_back_the_approved_deploy() {
    one(Case {
        name: "a production rollback still running holds back the approved deploy",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            let f = p.rollback(REL, production());
            p.step(f);
        },
        fact: |p| p.command(REL2, approve()),
        expect: expect(Stage::WaitingForEntry(1), true)
            .accepted()
            .reply("Recorded, but a deploy to production is still running"),
    });
}

#[test]
fn a_run_linked_after_its_dispatch_failed_changes_nothing() {
    one(Case {
        name: "a run linked after its dispatch failed changes nothing",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            let id = p.stage_id();
            p.step(Fact::DispatchFailed {
                dispatch_id: id,
                reason: "404".into(),
            });
        },
        fact: |p| Fact::RunLinked {
            dispatch_id: p.stage_id(),
            run_id: 10_000,
            url: None,
        },
        expect: expect(Stage::DeployFailed(0), false),
    });
}

#[test]
fn rollback_prod_with_a_target_dispatches_it_detached() {
    one(Case {
        name: "/rollback prod with a target dispatches it, detached",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| p.rollback(REL, production()),
        expect: expect(Stage::WaitingForCi, true)
            .accepted()
            .reply("Rolling production back to ccccccc (dispatch `42-production-ccccccc-1`).")
            .dispatch(rollback_deploy(production(), REL, RB1))
            .then(|s| {
                assert_eq!(s.detached.len(), 1);
                let d = &s.detached[0];
                assert_eq!(d.dispatch_id, "42-production-ccccccc-1");
                assert_eq!(d.kind, DeployKind::Rollback);
                assert_eq!(d.sha, sha(OLD));
                assert_eq!(
                    (&s.deploy_to(&staging()), &s.deploy_to(&production())),
                    (&None, &None)
                );
            }),
    });
}

#[test]
fn rollback_after_deployed() {
    one(Case {
        name: "/rollback after deployed",
        yaml: DEFAULTS,
        setup: Pr::deployed,
        fact: |p| p.rollback(REL, production()),
        // Production no longer runs this head: its pass is void.
        expect: expect(Stage::Displaced(1), true)
            .accepted()
            .reply("`/retry production` deploys it again")
            .dispatch(rollback_deploy(
                production(),
                REL,
                "42-production-ccccccc-3",
            )),
    });
}

#[test]
fn rollback_without_a_target_is_refused() {
    one(Case {
        name: "/rollback without a target is refused",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| {
            let at = p.written();
            p.command_with(REL, true, Command::Rollback(production()), at, None)
        },
        expect: expect(Stage::WaitingForCi, false)
            .refused("no earlier production deploy in gatebot's history to roll back to"),
    });
}

#[test]
fn rollback_stage_while_the_stage_deploy_is_running_is_refused() {
    one(Case {
        name: "/rollback stage while the stage deploy is running is refused",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |p| p.rollback(QA, staging()),
        expect: expect(Stage::Deploying(0), false).refused("a deploy to staging is still running"),
    });
}

#[test]
fn rollback_prod_while_the_prod_deploy_is_running_is_refused() {
    one(Case {
        name: "/rollback prod while the prod deploy is running is refused",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |p| p.rollback(REL, production()),
        expect: expect(Stage::Deploying(1), false)
            .refused("a deploy to production is still running"),
    });
}

#[test]
fn rollback_prod_while_a_rollback_is_running_is_refused() {
    one(Case {
        name: "/rollback prod while a rollback is running is refused",
        yaml: DEFAULTS,
        setup: |p| {
            let f = p.rollback(REL, production());
            p.step(f);
        },
        fact: |p| p.rollback(REL2, production()),
        expect: expect(Stage::WaitingForCi, false)
            .refused("a deploy to production is still running"),
    });
}

#[test]
fn rollback_stage_while_prod_is_deploying_is_allowed() {
    one(Case {
        name: "/rollback stage while prod is deploying is allowed",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |p| p.rollback(QA, staging()),
        // The rollback goes ahead; staging's pass is void, so production's
        // dispatch is not approved by its re-check (see the rows below).
        expect: expect(Stage::Displaced(0), true)
            .accepted()
            .reply("Rolling staging back")
            .dispatch(rollback_deploy(staging(), QA, "42-staging-ccccccc-3")),
    });
}

#[test]
fn rollback_stage_while_verifying_is_allowed() {
    one(Case {
        name: "/rollback stage while verifying is allowed",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
        },
        fact: |p| p.rollback(QA, staging()),
        expect: expect(Stage::Displaced(0), true)
            .accepted()
            .reply("Rolling staging back")
            .dispatch(rollback_deploy(staging(), QA, "42-staging-ccccccc-3")),
    });
}

#[test]
fn rollback_prod_without_the_release_role_is_refused() {
    one(Case {
        name: "/rollback prod without the release role is refused",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| {
            let at = p.written();
            let target = Some(sha(OLD));
            let c = Command::Rollback(production());
            p.command_with(QA, false, c, at, target)
        },
        expect: expect(Stage::WaitingForCi, false).refused("release role"),
    });
}

#[test]
fn rollback_stage_without_the_qa_role_is_refused() {
    one(Case {
        name: "/rollback stage without the qa role is refused",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| {
            let at = p.written();
            let target = Some(sha(OLD));
            let c = Command::Rollback(staging());
            p.command_with(REL, false, c, at, target)
        },
        expect: expect(Stage::WaitingForCi, false).refused("you need the qa role"),
    });
}

#[test]
fn the_rollback_run_succeeded_recorded_and_no_longer_tracked() {
    one(Case {
        name: "the rollback run succeeded: recorded and no longer tracked",
        yaml: DEFAULTS,
        setup: |p| {
            let f = p.rollback(REL, production());
            p.step(f);
        },
        fact: |p| p.done(&p.detached_id(0), true),
        expect: expect(Stage::WaitingForCi, true)
            .records(RB1)
            .then(|s| assert!(s.detached.is_empty())),
    });
}

#[test]
fn the_rollback_run_failed_not_recorded_no_longer_tracked() {
    one(Case {
        name: "the rollback run failed: not recorded, no longer tracked",
        yaml: DEFAULTS,
        setup: |p| {
            let f = p.rollback(REL, production());
            p.step(f);
        },
        fact: |p| p.done(&p.detached_id(0), false),
        expect: expect(Stage::WaitingForCi, true).then(|s| assert!(s.detached.is_empty())),
    });
}

#[test]
fn the_rollback_dispatch_refused_a_reply_no_longer_tracked() {
    one(Case {
        name: "the rollback dispatch refused: a reply, no longer tracked",
        yaml: DEFAULTS,
        setup: |p| {
            let f = p.rollback(REL, production());
            p.step(f);
        },
        fact: |p| Fact::DispatchFailed {
            dispatch_id: p.detached_id(0),
            reason: "missing permission".into(),
        },
        expect: expect(Stage::WaitingForCi, true)
            .reply("could not dispatch the production rollback of `ccccccc`: missing permission")
            .then(|s| assert!(s.detached.is_empty())),
    });
}

#[test]
fn a_rollback_finishing_does_not_touch_the_gates() {
    one(Case {
        name: "a rollback finishing does not touch the gates",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            let f = p.rollback(REL, production());
            p.step(f);
        },
        fact: |p| p.done(&p.detached_id(0), true),
        expect: expect(Stage::WaitingForEntry(1), true)
            .records("42-production-ccccccc-2")
            .then(|s| assert_eq!(s.deploy_to(&production()), None)),
    });
}

#[test]
fn approve_after_staging_was_rolled_back_dispatches_nothing() {
    // The attack: staging rolled back, yet `/approve` promoted the SHA
    // staging no longer ran.
    one(Case {
        name: "/approve after staging was rolled back dispatches nothing",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            let f = p.rollback(QA, staging());
            p.step(f);
        },
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::Displaced(0), true).accepted().reply(
            "Recorded, but staging now runs #42 (ccccccc); `/retry staging` deploys this head again.",
        ),
    });
}

#[test]
fn a_displaced_stage_cannot_be_verified() {
    one(Case {
        name: "a stage rolled back before its verification cannot be verified",
        yaml: DEFAULTS,
        setup: |p| {
            p.staged();
            let f = p.rollback(QA, staging());
            p.step(f);
        },
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::Displaced(0), false).refused("staging is not deployed for"),
    });
}

#[test]
fn retry_after_a_rollback_deploys_the_head_again_and_needs_verifying_again() {
    one(Case {
        name: "/retry after a rollback deploys the head again; it is verified anew",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            let f = p.rollback(QA, staging());
            p.step(f);
            let id = p.detached_id(0);
            p.finish(&id, true);
        },
        fact: |p| p.command(QA, Command::Retry(staging())),
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(stage_deploy(A, QA, "42-staging-aaaaaaa-3"))
            .then(|s| assert_eq!(s.verification_of(&staging()), None)),
    });
}

#[test]
fn a_rollback_github_refused_displaced_nothing() {
    one(Case {
        name: "a rollback GitHub refused (4xx) displaced nothing",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            let f = p.rollback(QA, staging());
            p.step(f);
        },
        fact: |p| Fact::DispatchFailed {
            dispatch_id: p.detached_id(0),
            reason: "GitHub answered 404".into(),
        },
        expect: expect(Stage::WaitingForEntry(1), true).reply("could not dispatch"),
    });
}
