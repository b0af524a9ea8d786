//! Gate machine table tests: Commands that saw another head.

use super::*;

/// Ten minutes after [`t0`]: when the push in these cases lands.
fn later(p: &mut Pr) {
    p.now += Duration::minutes(10);
}

#[test]
fn approve_written_before_gatebot_learned_of_a_push_is_refused_nothing_moves() {
    one(Case {
        name: "/approve written before gatebot learned of a push is refused; nothing moves",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            later(p);
            p.push(B);
            p.green();
        },
        fact: |p| {
            let at = Some(p.now - Duration::minutes(5));
            p.command_with(REL, true, approve(), at, None)
        },
        expect: expect(Stage::WaitingForEntry(0), false)
            .refused(
                "stale SHA: this comment was written before gatebot saw the current head bbbbbbb; review bbbbbbb and comment again",
            )
            .then(|s| {
                assert_eq!(s.head_sha, sha(B));
                assert!(s.approvals_for(&production()).is_empty());
            }),
    });
}

#[test]
fn lgtm_written_before_the_push_is_refused() {
    one(Case {
        name: "/lgtm written before the push is refused",
        yaml: DEFAULTS,
        setup: |p| {
            later(p);
            p.push(B);
            p.green();
        },
        fact: |p| {
            let at = Some(p.now - Duration::seconds(1));
            p.command_with(QA, true, lgtm(), at, None)
        },
        expect: expect(Stage::WaitingForEntry(0), false)
            .refused("stale SHA")
            .then(|s| assert_eq!(s.approvals_for(&staging()).first(), None)),
    });
}

#[test]
fn lgtm_written_after_the_push_counts() {
    one(Case {
        name: "/lgtm written after the push counts",
        yaml: DEFAULTS,
        setup: |p| {
            later(p);
            p.push(B);
            p.green();
        },
        fact: |p| {
            let at = Some(p.now + Duration::seconds(1));
            p.command_with(QA, true, lgtm(), at, None)
        },
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(stage_deploy(B, QA, "42-staging-bbbbbbb-1")),
    });
}

#[test]
fn verify_stage_written_before_the_reopen_is_refused() {
    one(Case {
        name: "/verify-stage written before the reopen is refused",
        yaml: DEFAULTS,
        setup: |p| {
            p.staged();
            p.close();
            later(p);
            p.step(observed(true, A, "main"));
        },
        fact: |p| {
            let at = Some(p.now - Duration::minutes(1));
            p.command_with(QA, true, verify_stage(), at, None)
        },
        expect: expect(Stage::WaitingForCi, false).refused("stale SHA"),
    });
}

#[test]
fn a_gate_command_without_a_time_is_refused_as_stale() {
    one(Case {
        name: "a gate command without a time is refused as stale",
        yaml: DEFAULTS,
        setup: Pr::green,
        fact: |p| p.command_with(QA, true, lgtm(), None, None),
        expect: expect(Stage::WaitingForEntry(0), false).refused("stale SHA"),
    });
}

#[test]
fn rollback_is_about_an_environment_not_the_head_a_late_one_still_counts() {
    one(Case {
        name: "/rollback is about an environment, not the head: a late one still counts",
        yaml: DEFAULTS,
        setup: |p| {
            later(p);
            p.push(B);
        },
        fact: |p| {
            let at = Some(p.now - Duration::minutes(5));
            let c = Command::Rollback(production());
            p.command_with(REL, true, c, at, Some(sha(OLD)))
        },
        expect: expect(Stage::WaitingForCi, true)
            .accepted()
            .reply("Rolling production back to ccccccc")
            .dispatch(rollback_deploy(
                production(),
                REL,
                "42-production-ccccccc-1",
            )),
    });
}

#[test]
fn hold_written_before_the_push_still_applies() {
    one(Case {
        name: "/hold written before the push still applies",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            later(p);
            p.push(B);
        },
        fact: |p| {
            let at = Some(p.now - Duration::minutes(5));
            p.command_with(REL, true, Command::Hold { reason: None }, at, None)
        },
        expect: expect(Stage::WaitingForCi, true)
            .accepted()
            .then(|s| assert_eq!(s.hold.as_ref().unwrap().login, REL)),
    });
}

/// gatebot's and GitHub's clocks may disagree by [`Context::clock_skew`]:
/// a gate command counts only when written at least that long after
/// gatebot learned of the head, since within the margin the order of the
/// two cannot be told.
#[test]
fn clock_skew_margin() {
    let approve_at = |offset: Duration| {
        let mut pr = Pr::new(DEFAULTS);
        pr.skew = crate::core::gate::CLOCK_SKEW;
        pr.now += Duration::minutes(1);
        pr.verified_ignoring_skew();
        let at = Some(pr.s.gates_since() + offset);
        let f = pr.command_with(REL, true, approve(), at, None);
        pr.apply(&f)
    };
    let t = approve_at(Duration::seconds(1));
    assert_eq!(reactions(&t), ["-1"], "{}", t.note);
    assert!(replies(&t)[0].contains("stale SHA"));
    let t = approve_at(Duration::seconds(2));
    assert_eq!(reactions(&t), ["+1"], "{}", t.note);
    assert_eq!(dispatches(&t).len(), 1, "production dispatched");
}
