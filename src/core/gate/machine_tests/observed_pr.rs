//! Gate machine table tests: What GitHub says the PR is, read with each delivery.

use super::*;

#[test]
fn as_recorded_nothing_changes() {
    one(Case {
        name: "as recorded: nothing changes",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |_| observed(true, A, "main"),
        expect: expect(Stage::WaitingForEntry(1), false),
    });
}

#[test]
fn recorded_closed_but_open_on_github_a_late_closed_gates_start_again() {
    one(Case {
        name: "recorded closed but open on GitHub (a late `closed`): gates start again",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            p.close();
            p.now += Duration::minutes(1);
        },
        fact: |_| observed(true, A, "main"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert!(s.open);
            assert_eq!(
                (
                    &s.approvals_for(&staging()).first(),
                    &s.deploy_to(&staging()),
                    &s.verification_of(&staging())
                ),
                (&None, &None, &None)
            );
            assert_eq!(s.head_seen_at, Some(t0() + Duration::minutes(1)));
        }),
    });
}

#[test]
fn recorded_open_but_closed_on_github_gates_stop_deploys_in_flight_detach() {
    one(Case {
        name: "recorded open but closed on GitHub: gates stop, deploys in flight detach",
        yaml: DEFAULTS,
        setup: Pr::approved,
        fact: |_| observed(false, A, "main"),
        expect: expect(Stage::Closed, true).then(|s| {
            assert!(!s.open);
            assert_eq!(s.deploy_to(&production()), None);
            assert_eq!(s.detached.len(), 1);
        }),
    });
}

#[test]
fn a_head_github_has_that_gatebot_missed_approvals_void() {
    one(Case {
        name: "a head GitHub has that gatebot missed: approvals void",
        yaml: DEFAULTS,
        setup: Pr::verified,
        fact: |_| observed(true, B, "main"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert_eq!(s.head_sha, sha(B));
            assert_eq!(s.verification_of(&staging()), None);
        }),
    });
}

#[test]
fn a_new_base_approvals_void() {
    one(Case {
        name: "a new base: approvals void",
        yaml: "branches: [main, release]",
        setup: Pr::verified,
        fact: |_| observed(true, A, "release"),
        expect: expect(Stage::WaitingForCi, true).then(|s| {
            assert_eq!(s.base_ref.as_deref(), Some("release"));
            assert_eq!(s.approvals_for(&staging()).first(), None);
        }),
    });
}

#[test]
fn the_first_base_seen_is_only_recorded_records_from_before_gatebot_kept_it() {
    one(Case {
        name: "the first base seen is only recorded (records from before gatebot kept it)",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            p.s.base_ref = None;
        },
        fact: |_| observed(true, A, "main"),
        expect: expect(Stage::WaitingForEntry(1), true)
            .then(|s| assert_eq!(s.base_ref.as_deref(), Some("main"))),
    });
}
