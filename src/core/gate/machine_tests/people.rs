//! Gate machine table tests: people are user ids. Who wrote a head (its
//! opener and whoever pushed it) gives none of its gates, whatever login
//! they use; a quorum counts people, not logins; an approval counts only
//! while its giver holds the role, as resolved before a dispatch.

use super::*;
use crate::core::domain::UserId;
use crate::core::gate::{Refusal, dispatch_blocker};

/// A command by the account `id` under the login `login`.
fn as_account(p: &mut Pr, id: UserId, login: &str, command: Command) -> Fact {
    p.next_comment += 1;
    Fact::Command {
        comment_id: p.next_comment,
        actor: Actor {
            id,
            login: login.into(),
            grant: Grant::Holds,
        },
        command,
        written_at: Some(p.now),
        rollback_target: None,
    }
}

#[test]
fn the_author_renamed_cannot_lgtm() {
    one(Case {
        name: "the author, renamed, cannot /lgtm",
        yaml: DEFAULTS,
        setup: Pr::green,
        fact: |p| {
            let alice = Person::test(AUTHOR).id;
            as_account(p, alice, "alice-renamed", lgtm())
        },
        expect: expect(Stage::WaitingForEntry(0), false).refused("an author of this head"),
    });
}

#[test]
fn the_author_renamed_cannot_approve() {
    one(Case {
        name: "the author, renamed, cannot /approve",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |p| {
            let alice = Person::test(AUTHOR).id;
            as_account(p, alice, "alice-renamed", approve())
        },
        expect: expect(Stage::WaitingForEntry(1), false).refused("an author of this head"),
    });
}

#[test]
fn a_renamed_approver_is_still_one_approver() {
    one(Case {
        name: "a renamed approver is still one approver",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
        },
        fact: |p| {
            let carol = Person::test(REL).id;
            as_account(p, carol, "carol-renamed", approve())
        },
        expect: expect(Stage::WaitingForEntry(1), false)
            .accepted()
            .then(|s| assert_eq!(logins(s.approvers_of(&production())), vec![REL])),
    });
}

#[test]
fn a_login_taken_by_someone_else_is_someone_else() {
    one(Case {
        name: "a login freed and taken by someone else is another person",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
        },
        // Another account now called `carol`: a second person.
        fact: |p| as_account(p, UserId(4242), REL, approve()),
        expect: expect(Stage::Deploying(1), true)
            .accepted()
            .dispatch(prod_deploy(A, REL, "42-production-aaaaaaa-2")),
    });
}

#[test]
fn whoever_pushed_the_head_cannot_lgtm_it() {
    one(Case {
        name: "whoever pushed the head cannot /lgtm it",
        yaml: DEFAULTS,
        setup: |p| {
            p.push_by(B, QA);
            p.green();
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::WaitingForEntry(0), false).refused("an author of this head"),
    });
}

#[test]
fn whoever_pushed_the_head_cannot_approve_it() {
    one(Case {
        name: "whoever pushed the head cannot /approve it",
        yaml: DEFAULTS,
        setup: |p| {
            p.push_by(B, REL);
            p.verified();
        },
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::WaitingForEntry(1), false).refused("an author of this head"),
    });
}

#[test]
fn a_push_voids_what_its_pusher_gave_for_that_head() {
    one(Case {
        name: "a push of the head by someone who approved it voids their approval",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
        },
        // The same head pushed again (a force-push to it) by carol.
        fact: |_| pushed(A, REL),
        expect: expect(Stage::WaitingForEntry(1), true).then(|s| {
            assert!(
                logins(s.approvers_of(&production())).is_empty(),
                "{:?}",
                logins(s.approvers_of(&production()))
            )
        }),
    });
}

#[test]
fn a_head_whose_pusher_is_unknown_has_no_gates() {
    one(Case {
        name: "a head GitHub reported before its push arrived has no gates",
        yaml: DEFAULTS,
        setup: |p| {
            // GitHub says the head moved; the `synchronize` has not come.
            p.step(observed(true, B, "main"));
            p.green();
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::WaitingForEntry(0), false).refused("has not yet heard who pushed"),
    });
}

#[test]
fn a_late_push_of_an_older_head_still_makes_its_pusher_an_author() {
    one(Case {
        name: "the push of an older head, arriving late, makes its pusher an author",
        yaml: DEFAULTS,
        setup: |p| p.push(B),
        fact: |_| pushed(A, QA),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            let authors = s.authors().expect("B's push is known");
            assert!(authors.contains(Person::test(QA).id));
        }),
    });
}

#[test]
fn whoever_pushed_a_commit_under_the_head_cannot_lgtm_it() {
    // The attack: bob pushes a commit onto alice's PR, alice pushes a
    // trivial one on top, and bob approves the head that carries his.
    one(Case {
        name: "whoever pushed a commit under the head cannot /lgtm it",
        yaml: DEFAULTS,
        setup: |p| {
            p.push_by(B, QA);
            p.push('d');
            p.green();
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::WaitingForEntry(0), false).refused("an author of this head"),
    });
}

#[test]
fn a_record_without_the_authors_id_counts_no_command() {
    one(Case {
        name: "until the author's id is known, no gate command counts",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            p.s.author_id = None;
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::WaitingForEntry(0), false).refused("has not yet heard who pushed"),
    });
}

/// Production queued on carol's approval, judged with `holders`.
fn judged(holders: &[UserId]) -> Option<Refusal> {
    let mut p = Pr::new(DEFAULTS);
    p.approved();
    let id = p.prod_id();
    let cx = Context {
        config: &p.cfg,
        now: p.now,
        clock_skew: p.skew,
        holders: Some(holders),
        environments: &p.envs,
    };
    dispatch_blocker(&p.s, &id, &cx)
}

#[test]
fn a_dispatch_counts_only_approvals_whose_giver_holds_the_role_now() {
    let carol = Person::test(REL).id;
    assert_eq!(judged(&[carol]), None, "carol still releases");
    let refused = judged(&[]).expect("carol lost the role");
    assert!(
        refused.to_string().contains("there is no /approve"),
        "{refused}"
    );
}

#[test]
fn approvals_of_people_who_lost_the_role_are_dropped() {
    one(Case {
        name: "approvals of people who lost the role are dropped",
        yaml: QUORUM2,
        setup: |p| {
            p.verified();
            p.ok(REL, approve());
        },
        fact: |_| Fact::RolesLost {
            environment: production(),
            givers: vec![Person::test(REL).id],
        },
        expect: expect(Stage::WaitingForEntry(1), true)
            .then(|s| assert!(s.approvals_for(&production()).is_empty())),
    });
}
