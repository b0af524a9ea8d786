//! What counts as CI. With no `required_checks`, at least one GitHub
//! Actions check run must have finished, and every check green: one check
//! of another App is not the CI, which may not even have started (a
//! fork's PR waits for approval to run its workflows). And a check run's
//! pull requests from another repository are not this repository's.

use serde_json::json;

use crate::fake_github::CheckRun;
use crate::harness::{SHA1, TestApp, check_run_payload};

/// A completed check run of App `app` on `sha`.
fn other_app_check(app: &TestApp, sha: &str, name: &str, conclusion: &str, app_id: u64) -> u64 {
    let mut w = app.github.world();
    let id = 7000 + w.check_runs.len() as u64;
    w.check_runs.push(CheckRun {
        id,
        app_id,
        sha: sha.into(),
        name: name.into(),
        status: "completed".into(),
        conclusion: Some(conclusion.into()),
        title: None,
        summary: None,
    });
    id
}

#[tokio::test]
async fn one_green_check_of_another_app_is_not_ci() {
    let app = TestApp::spawn_with_config("").await;
    app.open_pr().await;
    let id = other_app_check(&app, SHA1, "lint-bot", "success", 9999);
    let mut p = check_run_payload(id, "lint-bot", SHA1, "success", &[42]);
    p["check_run"]["app"]["id"] = json!(9999);
    p["check_run"]["app"]["slug"] = json!("lint-bot");
    app.send("check_run", &p).await;
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 0, "GitHub Actions has not run");
    // The real CI finishes.
    app.ci_green(SHA1).await;
    assert_eq!(app.dispatch_count(), 1);
}

#[tokio::test]
async fn a_check_of_a_pr_in_another_repository_is_not_applied_here() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    // The same commit is the head of PR #7 of a fork (another repository
    // id): GitHub lists that PR in the check run too.
    let id = app.add_check_run(SHA1, "build", "success");
    let mut p = check_run_payload(id, "build", SHA1, "success", &[42, 7]);
    p["check_run"]["pull_requests"][1]["base"]["repo"]["id"] = json!(999_999);
    app.send("check_run", &p).await;
    let pr7_reads = app.github.world().calls("GET /repos/acme/widgets/pulls/7");
    assert_eq!(pr7_reads, 0, "#7 untouched");
    let key = gatebot::testing::domain::PrKey {
        repo: gatebot::testing::domain::RepoName::parse("acme/widgets").expect("repo"),
        number: 7,
    };
    assert!(app.store.load_gate(&key).await.expect("store").is_none());
    // #42's CI is green.
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 1);
}
