//! Gate machine table tests: Duplicates and out-of-order facts.

use super::*;

/// A fixed fact, so that a row can apply the very same fact twice.
fn lgtm_fact() -> Fact {
    Fact::Command {
        comment_id: 5,
        actor: Actor {
            id: Person::test(QA).id,
            login: QA.into(),
            grant: Grant::Holds,
        },
        command: lgtm(),
        written_at: Some(t0()),
        rollback_target: None,
    }
}

fn approve_fact() -> Fact {
    Fact::Command {
        comment_id: 6,
        actor: Actor {
            id: Person::test(REL).id,
            login: REL.into(),
            grant: Grant::Holds,
        },
        command: approve(),
        written_at: Some(t0()),
        rollback_target: None,
    }
}

#[test]
fn the_same_lgtm_twice_before_ci() {
    one(Case {
        name: "the same /lgtm twice before CI",
        yaml: DEFAULTS,
        setup: |p| p.step(lgtm_fact()),
        fact: |_| lgtm_fact(),
        expect: expect(Stage::WaitingForCi, false).accepted(),
    });
}

#[test]
fn the_same_lgtm_twice_after_ci_green_dispatches_once() {
    one(Case {
        name: "the same /lgtm twice after CI green dispatches once",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            p.step(lgtm_fact());
        },
        fact: |_| lgtm_fact(),
        expect: expect(Stage::Deploying(0), false)
            .refused("staging is already dispatched for this SHA"),
    });
}

#[test]
fn the_same_approve_twice_dispatches_once() {
    one(Case {
        name: "the same /approve twice dispatches once",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            p.step(approve_fact());
        },
        fact: |_| approve_fact(),
        expect: expect(Stage::Deploying(1), false)
            .refused("production is already dispatched for this SHA"),
    });
}

#[test]
fn the_same_approve_twice_under_quorum_2() {
    one(Case {
        name: "the same /approve twice under quorum 2",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.step(approve_fact());
        },
        fact: |_| approve_fact(),
        expect: expect(Stage::WaitingForEntry(1), false).accepted(),
    });
}

#[test]
fn the_same_stage_completion_twice_records_once() {
    one(Case {
        name: "the same stage completion twice records once",
        yaml: DEFAULTS,
        setup: Pr::staged,
        fact: |p| p.done(&p.stage_id(), true),
        expect: expect(Stage::WaitingForVerification(0), false),
    });
}

#[test]
fn the_same_prod_completion_twice_records_once() {
    one(Case {
        name: "the same prod completion twice records once",
        yaml: DEFAULTS,
        setup: Pr::deployed,
        fact: |p| p.done(&p.prod_id(), true),
        expect: expect(Stage::Deployed, false),
    });
}

#[test]
fn a_stage_completion_after_prod_is_deployed() {
    one(Case {
        name: "a stage completion after prod is deployed",
        yaml: DEFAULTS,
        setup: Pr::deployed,
        fact: |p| p.done(&p.stage_id(), false),
        expect: expect(Stage::Deployed, false),
    });
}

#[test]
fn the_same_hold_twice() {
    one(Case {
        name: "the same /hold twice",
        yaml: DEFAULTS,
        setup: Pr::hold,
        fact: |p| {
            p.command(
                REL,
                Command::Hold {
                    reason: Some("incident 12".into()),
                },
            )
        },
        expect: expect(Stage::WaitingForCi, false).accepted(),
    });
}

#[test]
fn reevaluate_with_nothing_to_do() {
    one(Case {
        name: "Reevaluate with nothing to do",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |_| Fact::Reevaluate,
        expect: expect(Stage::WaitingForEntry(1), false),
    });
}

/// Applies `facts` in order and counts the dispatches they cause.
fn dispatch_count(pr: &mut Pr, facts: &[Fact]) -> usize {
    facts.iter().map(|f| dispatches(&pr.apply(f)).len()).sum()
}

#[test]
fn stage_is_dispatched_exactly_once_whatever_the_order() {
    let green = Fact::Ci {
        sha: sha(A),
        status: CiStatus::Green,
    };
    let orders: [Vec<Fact>; 3] = [
        vec![lgtm_fact(), green.clone(), green.clone(), lgtm_fact()],
        vec![green.clone(), lgtm_fact(), lgtm_fact(), green.clone()],
        vec![lgtm_fact(), lgtm_fact(), green.clone(), Fact::Reevaluate],
    ];
    for (i, facts) in orders.iter().enumerate() {
        let mut pr = Pr::new(DEFAULTS);
        assert_eq!(dispatch_count(&mut pr, facts), 1, "order {i}");
        assert_eq!(pr.stage(), Stage::Deploying(0), "order {i}");
        assert_eq!(pr.s.dispatch_seq, 1, "order {i}");
    }
}

#[test]
fn prod_is_dispatched_exactly_once_under_quorum_two() {
    let mut pr = Pr::new(QUORUM2);
    pr.verified();
    let a1 = pr.command(REL, approve());
    let a1_again = pr.command(REL, approve());
    let a2 = pr.command(REL2, approve());
    let a3 = pr.command("frank", approve());
    let facts = [a1, a1_again, a2.clone(), a2, a3, Fact::Reevaluate];
    assert_eq!(dispatch_count(&mut pr, &facts), 1);
    assert_eq!(pr.stage(), Stage::Deploying(1));
    assert_eq!(pr.s.deploy_to(&production()).unwrap().requested_by, REL2);
}
