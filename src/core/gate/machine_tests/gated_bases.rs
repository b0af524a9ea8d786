//! Gate machine table tests: only a PR into a gated base has gates. A PR
//! into another branch is reviewed against that branch's history, which
//! its reviewers never saw (a commit pushed there first rides along), so
//! nothing is dispatched for it.

use super::*;

#[test]
fn a_pr_into_a_side_branch_is_not_gated() {
    one(Case {
        name: "a PR into a side branch is not gated",
        yaml: DEFAULTS,
        setup: |p| {
            p.step(observed(true, A, "base-x"));
            p.green();
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::NotGated, false).refused("does not gate pull requests into `base-x`"),
    });
}

#[test]
fn a_pr_moved_to_a_side_branch_dispatches_nothing() {
    one(Case {
        name: "a PR moved to a side branch after /lgtm dispatches nothing",
        yaml: DEFAULTS,
        setup: |p| {
            p.ok(QA, lgtm());
            p.step(observed(true, A, "base-x"));
        },
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::NotGated, true),
    });
}

#[test]
fn a_branch_the_config_names_is_gated() {
    one(Case {
        name: "a base the config names under branches: is gated",
        yaml: "branches: [main, release/2026]",
        setup: |p| {
            p.step(observed(true, A, "release/2026"));
            p.green();
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::Deploying(0), true)
            .accepted()
            .dispatch(stage_deploy(A, QA, "42-staging-aaaaaaa-1")),
    });
}

#[test]
fn naming_branches_replaces_the_default_branch() {
    one(Case {
        name: "branches: without the default branch does not gate it",
        yaml: "branches: [release/2026]",
        setup: Pr::green,
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::NotGated, false).refused("does not gate pull requests into `main`"),
    });
}

#[test]
fn an_unknown_base_is_not_gated() {
    one(Case {
        name: "a record whose base was never read is not gated",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            p.s.base_ref = None;
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::NotGated, false).refused("does not gate"),
    });
}
