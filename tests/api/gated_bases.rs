//! Only a PR into the default branch (or a base the config names under
//! `branches:`) is gated. The attack: a write user pushes a commit to a
//! side branch, then opens an innocent PR into it; reviewers see the PR's
//! diff, and the deployed head carries the hidden commit.

use crate::harness::{PR, SHA1, TestApp};

async fn open_into(app: &TestApp, base: &str) {
    app.github.world().prs.get_mut(&PR).expect("pr").base = base.into();
    let mut p = app.pr_payload("opened", SHA1);
    p["pull_request"]["base"]["ref"] = serde_json::json!(base);
    assert_eq!(app.send("pull_request", &p).await, "processed");
}

#[tokio::test]
async fn a_pr_into_a_side_branch_gets_a_neutral_check_and_no_dispatch() {
    let app = TestApp::spawn().await;
    open_into(&app, "base-x").await;
    app.ci_green(SHA1).await;
    let (lgtm, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(lgtm), vec!["-1"]);
    assert!(
        app.last_reply()
            .contains("does not gate pull requests into `base-x`"),
        "{}",
        app.last_reply()
    );
    assert_eq!(app.dispatch_count(), 0);
    let w = app.github.world();
    let checks = w.gatebot_runs(SHA1);
    let check = checks.last().expect("gatebot's check run");
    assert_eq!(check.status, "completed");
    assert_eq!(check.conclusion.as_deref(), Some("neutral"));
    assert!(
        check.title.as_deref().unwrap_or("").contains("not gated"),
        "{:?}",
        check.title
    );
}

#[tokio::test]
async fn a_base_named_under_branches_is_gated() {
    let app =
        TestApp::spawn_with_config("required_checks: [build]\nbranches: [main, release/2026]\n")
            .await;
    open_into(&app, "release/2026").await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(
        w.dispatches[0].body["ref"], "main",
        "dispatched from the default branch, as always"
    );
}
