//! Gate machine table tests: A new head.

use super::*;

#[test]
fn a_push_after_lgtm_voids_it_and_resets_ci() {
    one(Case {
        name: "a push after /lgtm voids it and resets CI",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            p.hold();
            p.lgtm();
        },
        fact: |_| observed(true, B, "main"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert_eq!(s.head_sha, sha(B));
            assert_eq!(s.approvals_for(&staging()).first(), None);
            assert_eq!(s.ci, CiStatus::Pending);
            assert!(s.hold.is_some(), "a hold is about the PR, not the SHA");
        }),
    });
}

#[test]
fn a_push_while_staging_is_deploying_detaches_the_deploy() {
    one(Case {
        name: "a push while staging is deploying detaches the deploy",
        yaml: DEFAULTS,
        setup: Pr::staging,
        fact: |_| observed(true, B, "main"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert_eq!(
                (
                    &s.deploy_to(&staging()),
                    &s.approvals_for(&staging()).first()
                ),
                (&None, &None)
            );
            let ids: Vec<_> = s.detached.iter().map(|d| d.dispatch_id.as_str()).collect();
            assert_eq!(ids, ["42-staging-aaaaaaa-1"]);
        }),
    });
}

#[test]
fn a_push_after_approve_voids_every_gate_detaches_prod() {
    one(Case {
        name: "a push after /approve voids every gate, detaches prod",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |_| observed(true, B, "main"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert_eq!(s.head_sha, sha(B));
            assert_eq!(s.ci, CiStatus::Pending);
            assert_eq!(s.approvals_for(&staging()).first(), None);
            assert_eq!(s.deploy_to(&staging()), None);
            assert_eq!(s.verification_of(&staging()), None);
            assert!(s.approvals_for(&production()).is_empty());
            assert_eq!(s.deploy_to(&production()), None);
            let ids: Vec<_> = s.detached.iter().map(|d| d.dispatch_id.as_str()).collect();
            assert_eq!(ids, ["42-production-aaaaaaa-2"], "only the pending deploy");
        }),
    });
}

#[test]
fn a_push_before_quorum_voids_the_approvals() {
    one(Case {
        name: "a push before quorum voids the approvals",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
        },
        fact: |_| observed(true, B, "main"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert!(s.approvals_for(&production()).is_empty());
            assert_eq!(s.verification_of(&staging()), None);
            assert!(s.detached.is_empty());
        }),
    });
}

#[test]
fn a_push_while_verifying_detaches_the_verify_run() {
    one(Case {
        name: "a push while verifying detaches the verify run",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
        },
        fact: |_| observed(true, B, "main"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert_eq!(s.verification_of(&staging()), None);
            let ids: Vec<_> = s.detached.iter().map(|d| d.dispatch_id.as_str()).collect();
            assert_eq!(ids, ["42-verify-aaaaaaa-2"]);
        }),
    });
}

#[test]
fn the_old_heads_verify_run_finishing_is_not_recorded() {
    one(Case {
        name: "the old head's verify run finishing is not recorded",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
            p.push(B);
        },
        fact: |p| p.done(&p.detached_id(0), true),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert!(s.detached.is_empty());
            assert_eq!(s.verification_of(&staging()), None);
        }),
    });
}

#[test]
fn the_same_sha_again_changes_nothing() {
    one(Case {
        name: "the same SHA again changes nothing",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |_| observed(true, A, "main"),
        expect: expect(Stage::Deploying(1), false),
    });
}

#[test]
fn ci_for_the_old_head_after_the_push_is_ignored() {
    one(Case {
        name: "CI for the old head after the push is ignored",
        yaml: DEFAULTS,
        setup: |p| {
            p.lgtm();
            p.push(B);
        },
        fact: |_| Fact::Ci {
            sha: sha(A),
            status: CiStatus::Green,
        },
        expect: expect(Stage::WaitingForCi, false),
    });
}

#[test]
fn ci_green_on_the_new_head_does_not_use_the_old_lgtm() {
    one(Case {
        name: "CI green on the new head does not use the old /lgtm",
        yaml: DEFAULTS,
        setup: |p| {
            p.lgtm();
            p.push(B);
        },
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::WaitingForEntry(0), true),
    });
}

#[test]
fn the_new_heads_staging_deploy_waits_for_the_old_heads_still_running() {
    one(Case {
        name: "the new head's staging deploy waits for the old head's, still running",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            p.push(B);
            p.green();
        },
        fact: |p| p.command(QA2, lgtm()),
        expect: expect(Stage::WaitingForEntry(0), true)
            .accepted()
            .reply("a deploy to staging is still running: gatebot dispatches `bbbbbbb` to staging when it finishes"),
    });
}

#[test]
fn the_new_heads_stage_deploy_gets_a_new_id_once_the_old_one_finished() {
    one(Case {
        name: "the new head's stage deploy gets a new id once the old one finished",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            p.push(B);
            p.green();
            p.ok(QA2, lgtm());
        },
        fact: |p| {
            let id = p.detached_id(0);
            p.done(&id, false)
        },
        expect: expect(Stage::Deploying(0), true).dispatch(stage_deploy(
            B,
            QA2,
            "42-staging-bbbbbbb-2",
        )),
    });
}

#[test]
fn the_old_heads_stage_deploy_finishing_records_history_only() {
    one(Case {
        name: "the old head's stage deploy finishing records history only",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            p.push(B);
            p.green();
        },
        fact: |p| p.done(&p.detached_id(0), true),
        expect: expect(Stage::WaitingForEntry(0), true)
            .records("42-staging-aaaaaaa-1")
            .then(|s| {
                assert_eq!(s.deploy_to(&staging()), None);
                assert!(s.detached.is_empty());
                assert_eq!(s.head_sha, sha(B));
            }),
    });
}

#[test]
fn the_old_heads_prod_deploy_finishing_leaves_the_new_gates_alone() {
    one(Case {
        name: "the old head's prod deploy finishing leaves the new gates alone",
        yaml: DEFAULTS,
        setup: |p| {
            p.approved();
            p.push(B);
            p.green();
            p.lgtm();
        },
        fact: |p| p.done(&p.detached_id(0), true),
        expect: expect(Stage::Deploying(0), true)
            .records("42-production-aaaaaaa-2")
            .then(|s| {
                assert_eq!(s.deploy_to(&production()), None);
                let d = s.deploy_to(&staging()).unwrap();
                assert_eq!((&d.sha, d.status), (&sha(B), DeployStatus::Pending));
                assert!(s.detached.is_empty());
            }),
    });
}

#[test]
fn the_old_heads_prod_deploy_failing_is_dropped_quietly() {
    one(Case {
        name: "the old head's prod deploy failing is dropped quietly",
        yaml: DEFAULTS,
        setup: |p| {
            p.approved();
            p.push(B);
        },
        fact: |p| p.done(&p.detached_id(0), false),
        expect: expect(Stage::WaitingForCi, true).then(|s| assert!(s.detached.is_empty())),
    });
}

#[test]
fn a_new_base_branch_voids_the_gates() {
    one(Case {
        name: "a new base branch voids the gates",
        yaml: "branches: [main, release]",
        setup: Pr::verified,
        fact: |_| observed(true, A, "release"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert_eq!(s.head_sha, sha(A));
            assert_eq!(
                (
                    &s.approvals_for(&staging()).first(),
                    &s.deploy_to(&staging()),
                    &s.verification_of(&staging())
                ),
                (&None, &None, &None)
            );
        }),
    });
}
