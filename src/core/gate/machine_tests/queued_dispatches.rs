//! Gate machine table tests: Queued dispatches the gates no longer allow.

use super::*;

fn cancel_fact(id: DispatchId) -> Fact {
    Fact::DispatchCancelled {
        dispatch_id: id,
        reason: "dispatches are held".into(),
    }
}

#[test]
fn a_cancelled_stage_dispatch_is_forgotten_with_a_reply() {
    one(Case {
        name: "a cancelled stage dispatch is forgotten, with a reply",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            p.hold();
        },
        fact: |p| cancel_fact(p.stage_id()),
        expect: expect(Stage::WaitingForEntry(0), true)
            .reply("gatebot cancelled the staging deploy of `aaaaaaa` (`42-staging-aaaaaaa-1`): dispatches are held")
            .then(|s| {
                assert_eq!(s.deploy_to(&staging()), None);
                assert!(!s.approvals_for(&staging()).is_empty(), "the /lgtm stands");
            }),
    });
}

#[test]
fn after_unhold_staging_is_dispatched_anew() {
    one(Case {
        name: "after /unhold, staging is dispatched anew",
        yaml: DEFAULTS,
        setup: |p| {
            p.staging();
            p.hold();
            let id = p.stage_id();
            p.step(cancel_fact(id));
        },
        fact: |p| p.command(REL, Command::Unhold),
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(stage_deploy(A, REL, "42-staging-aaaaaaa-2")),
    });
}

#[test]
fn a_cancelled_prod_dispatch_keeps_the_approvals() {
    one(Case {
        name: "a cancelled prod dispatch keeps the approvals",
        yaml: DEFAULTS,
        setup: |p| {
            p.approved();
            p.hold();
        },
        fact: |p| cancel_fact(p.prod_id()),
        expect: expect(Stage::WaitingForEntry(1), true)
            .reply("cancelled the production deploy")
            .then(|s| {
                assert_eq!(s.deploy_to(&production()), None);
                assert_eq!(logins(s.approvers_of(&production())), vec![REL]);
            }),
    });
}

#[test]
fn a_cancelled_verify_run_takes_its_verification_with_it() {
    one(Case {
        name: "a cancelled verify run takes its verification with it",
        yaml: VERIFY,
        setup: |p| {
            p.staged();
            p.ok(QA, verify_stage());
        },
        fact: |p| cancel_fact(p.verify_id()),
        expect: expect(Stage::WaitingForVerification(0), true)
            .reply("cancelled the staging verification")
            .then(|s| assert_eq!(s.verification_of(&staging()), None)),
    });
}

#[test]
fn a_cancelled_rollback_leaves_the_detached_list() {
    one(Case {
        name: "a cancelled rollback leaves the detached list",
        yaml: DEFAULTS,
        setup: |p| {
            let f = p.rollback(REL, production());
            p.step(f);
        },
        fact: |p| cancel_fact(p.detached_id(0)),
        expect: expect(Stage::WaitingForCi, true)
            .reply("cancelled the production rollback")
            .then(|s| assert!(s.detached.is_empty())),
    });
}

#[test]
fn a_finished_dispatch_cannot_be_cancelled() {
    one(Case {
        name: "a finished dispatch cannot be cancelled",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| cancel_fact(p.stage_id()),
        expect: expect(Stage::WaitingForVerification(0), false),
    });
}

/// The one rule that decides first dispatches, retries, the reconciler and
/// the deployment protection rule.
#[test]
fn dispatch_blocker_follows_the_gates() {
    use crate::core::gate::dispatch_blocker;
    let blocked = |pr: &Pr, id: &DispatchId| {
        let cx = Context {
            config: &pr.cfg,
            now: pr.now,
            clock_skew: pr.skew,
            holders: None,
            environments: &pr.envs,
        };
        dispatch_blocker(&pr.s, id, &cx).map(|r| r.to_string())
    };

    let mut pr = Pr::new(DEFAULTS);
    pr.approved();
    let id = pr.prod_id();
    assert_eq!(blocked(&pr, &id), None, "a full gate pass");
    pr.hold();
    assert!(blocked(&pr, &id).unwrap().contains("held"));

    let mut pr = Pr::new(FROZEN);
    pr.verified();
    pr.now = freeze_end();
    pr.ok(REL, approve());
    let id = pr.prod_id();
    pr.now = t0();
    assert!(
        blocked(&pr, &id).unwrap().contains("frozen"),
        "a freeze began"
    );

    let mut pr = Pr::new(DEFAULTS);
    pr.approved();
    let id = pr.prod_id();
    let red = pr.ci(CiStatus::Failed);
    pr.step(red);
    assert!(blocked(&pr, &id).unwrap().contains("CI is not green"));

    let mut pr = Pr::new(DEFAULTS);
    pr.approved();
    let id = pr.prod_id();
    pr.s.gates_mut(&production()).approvals.clear();
    assert!(
        blocked(&pr, &id)
            .unwrap()
            .contains("there is no /approve for")
    );

    let mut pr = Pr::new(DEFAULTS);
    pr.staging();
    let id = pr.stage_id();
    pr.push(B);
    assert!(
        blocked(&pr, &id)
            .unwrap()
            .contains("aaaaaaa is no longer the head (bbbbbbb is)"),
        "a push detaches it: a promotion of the old head is never sent"
    );

    let mut pr = Pr::new(DEFAULTS);
    pr.staging();
    let id = pr.stage_id();
    pr.s.open = false;
    assert!(blocked(&pr, &id).unwrap().contains("closed"));

    let mut pr = Pr::new(DEFAULTS);
    pr.close();
    let f = pr.rollback(REL, production());
    pr.step(f);
    let id = pr.detached_id(0);
    assert_eq!(blocked(&pr, &id), None, "a rollback on a closed PR");
    pr.s.config_error = Some("unknown key".into());
    assert!(blocked(&pr, &id).unwrap().contains("invalid"));
}

#[test]
fn one_delivery_gets_one_reply_and_each_reaction_once() {
    use crate::core::gate::{Reaction, gather};
    let react = |r| Action::React {
        comment_id: 9,
        reaction: r,
    };
    let reply = |b: &str| Action::Reply { body: b.into() };
    let got = gather(vec![
        react(Reaction::Accepted),
        reply("one"),
        Action::SyncCheckRun,
        react(Reaction::Accepted),
        react(Reaction::Refused),
        reply("two"),
        Action::SyncCheckRun,
        reply("three"),
    ]);
    assert_eq!(
        got,
        vec![
            react(Reaction::Accepted),
            reply("one\n\ntwo\n\nthree"),
            Action::SyncCheckRun,
            react(Reaction::Refused),
        ]
    );
}

#[test]
fn too_many_commands_is_answered_once() {
    let mut pr = Pr::new(DEFAULTS);
    let t = pr.apply(&Fact::TooManyCommands {
        login: QA.into(),
        acted_on: 5,
        skipped: 2495,
    });
    assert!(!t.changed);
    assert_eq!(replies(&t).len(), 1);
    assert!(replies(&t)[0].contains("at most 5 command lines"));
    assert!(replies(&t)[0].contains("the 2495 after them"));
}
