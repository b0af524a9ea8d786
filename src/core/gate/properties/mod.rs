//! Property tests of the gate machine, one suite over every chain: the
//! two-stage default four ways (a verify workflow, quorums of two and
//! three, a production freeze), the platform's dev (auto) → staging
//! (`/lgtm`, a verify workflow) → production (two `/approve`s, a soak),
//! and dev → staging → prod-eu → prod-us with a shared word, two quorums,
//! a soak and a freeze per region.
//!
//! A case is one to three PRs of one repository, sharing its
//! environments, and an arbitrary sequence of steps (`steps.rs`), each
//! given to one of them: pushes by
//! anyone, closes, reopens, new bases, CI verdicts for any SHA, every
//! command of every stage by every kind of actor (the author, QA, release,
//! someone holding both roles, a reader, an outsider) written on time,
//! late or with no time, roles lost, run links and results (late,
//! duplicated, forged, for unknown dispatches), refused and cancelled
//! dispatches, config errors, clock ticks, replays of any earlier fact,
//! and guided steps along the happy path. Each is applied to
//! [`super::apply`] (`run.rs`), and after every step the invariants are
//! checked against a [`ledger::Ledger`] kept from the inputs alone:
//!
//! * a stage is dispatched only for the head, with CI green, no hold, a
//!   usable config, on an open PR into the default branch, when every
//!   earlier stage passed for that SHA in this head's life (deployed and
//!   still running there, and verified where it has a verification), its
//!   entry is met by distinct non-author role holders, its soak elapsed and
//!   its freeze allows it; a rollback only on `/rollback` by the role, out
//!   of its freeze;
//! * no approval counts that was not given for that stage and head, by
//!   someone who did not push to the PR; no gate is kept for another SHA;
//! * at most one deploy per environment in flight per PR;
//! * a result for a deploy that is not pending changes nothing a plain
//!   look at the PR would not; a finished deploy never changes; applying
//!   any fact twice changes nothing.
//!
//! And across PRs (the ledger counts another PR's deploy there, sent and
//! not refused, as displacing this one's from its dispatch):
//!
//! * no stage passes, and no next stage is dispatched, for a SHA its
//!   environment was not running when it was deployed and verified; a soak
//!   counts only while the stage before ran the head;
//! * a locked environment has at most one holder: nothing is dispatched
//!   there, and no `/lock` taken, while another PR certainly holds it (by
//!   its dispatch or `/lock`, not yet ended by any of the ways a hold ends);
//! * its queue is first come, first served: those who wait keep their
//!   order, newcomers join at the end, and no PR is dispatched there ahead
//!   of one queued before it whose gates still hold;
//! * an `up_to_date` stage is never dispatched for a head that lacked the
//!   base head at dispatch (the compare is a fact of the step sequence).
//!
//! A wake ([`super::Action::Wake`]) is followed at once, as the server's
//! watch task does; a lost one is a reconciler's re-evaluation, which the
//! steps also give.
//!
//! Shrunk failures become table tests in `machine_tests/`.

mod ledger;
mod people;
mod run;
mod steps;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

/// The configs a case runs under: the two-stage chain (the first
/// [`TWO_STAGE`]), then the longer chains.
const CONFIGS: [&str; 7] = [
    "",
    "workflows: {verify: smoke.yml}\napprovals: {prod: 2}",
    "approvals: {prod: 2}\nfreeze: [{from: \"2026-06-01T12:30:00Z\", to: \"2026-06-01T14:00:00Z\"}]",
    "workflows: {verify: smoke.yml}\napprovals: {prod: 3}",
    include_str!("../../../../tests/fixtures/chains/platform-smoke.yml"),
    include_str!("../../../../tests/fixtures/chains/regions-frozen.yml"),
    include_str!("../../../../tests/fixtures/chains/locked.yml"),
];

/// How many of [`CONFIGS`] are the two-stage chain.
const TWO_STAGE: usize = 4;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn gate_invariants_hold_for_any_sequence_of_facts_on_any_chain(case in steps::case()) {
        if let Err(e) = run::run_case(&case) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// The generator reaches the last stage often enough, on every chain, for
/// the invariants to say something about every stage: a property that
/// never sees a production dispatch would pass vacuously.
#[test]
fn generated_cases_reach_the_last_stage() {
    let mut runner = TestRunner::deterministic();
    let strategy = steps::case();
    let mut cases = [0usize; CONFIGS.len()];
    let mut reached = [0usize; CONFIGS.len()];
    for _ in 0..900 {
        let case = strategy
            .new_tree(&mut runner)
            .expect("generate a case")
            .current();
        cases[case.config] += 1;
        match run::run_case(&case) {
            Ok(run) if run.last_stage_dispatches > 0 => reached[case.config] += 1,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!("cases that dispatched the last stage, per config: {reached:?} of {cases:?}");
    let two_stage: usize = reached[..TWO_STAGE].iter().sum();
    let two_stage_cases: usize = cases[..TWO_STAGE].iter().sum();
    assert!(
        two_stage * 5 >= two_stage_cases,
        "only {two_stage} of {two_stage_cases} two-stage cases dispatched production"
    );
    for config in TWO_STAGE..CONFIGS.len() {
        assert!(
            reached[config] * 100 >= cases[config] * 15,
            "only {} of {} cases of chain {config} reached its last stage",
            reached[config],
            cases[config]
        );
    }
}
