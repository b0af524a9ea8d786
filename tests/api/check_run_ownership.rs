//! gatebot's check run is the one its App made: any CI job can name a
//! check `gatebot`. Such a check is never adopted, never PATCHed, and counts
//! as CI like any other.

use crate::fake_github::{ACTIONS_APP_ID, APP_ID, CheckRun};
use crate::harness::{SHA1, TestApp};

/// A check named `gatebot` made by another App, on the PR's head.
fn impostor(app: &TestApp, conclusion: &str) -> u64 {
    let mut w = app.github.world();
    let id = 4000;
    w.check_runs.push(CheckRun {
        id,
        app_id: ACTIONS_APP_ID,
        sha: SHA1.into(),
        name: "gatebot".into(),
        status: "completed".into(),
        conclusion: Some(conclusion.into()),
        title: Some("pwned".into()),
        summary: None,
    });
    id
}

#[tokio::test]
async fn a_check_named_gatebot_by_another_app_is_not_adopted() {
    let app = TestApp::spawn().await;
    let foreign = impostor(&app, "success");
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    let ours: Vec<&CheckRun> = w
        .check_runs
        .iter()
        .filter(|c| c.sha == SHA1 && c.name == "gatebot" && c.app_id == APP_ID)
        .collect();
    assert_eq!(ours.len(), 1, "gatebot made its own");
    assert!(
        ours[0]
            .title
            .as_deref()
            .unwrap_or("")
            .contains("deploying to staging"),
        "and keeps it current: {:?}",
        ours[0].title
    );
    let untouched = w.check_runs.iter().find(|c| c.id == foreign).unwrap();
    assert_eq!(untouched.title.as_deref(), Some("pwned"));
    assert!(
        !w.requests
            .iter()
            .any(|r| r == &format!("PATCH /repos/acme/widgets/check-runs/{foreign}")),
        "never PATCHed: {:?}",
        w.requests
    );
}

/// With no required checks, CI is every check but gatebot's own: a failing
/// check another App named `gatebot` keeps CI red.
#[tokio::test]
async fn a_failing_check_named_gatebot_by_another_app_is_ci() {
    let app = TestApp::spawn_with_config("").await;
    impostor(&app, "failure");
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 0, "CI is red");
    assert_eq!(app.stage().await, gatebot::testing::gate::Stage::CiFailed);
}

/// Positive control: without the impostor, the same flow dispatches.
#[tokio::test]
async fn without_it_the_same_flow_dispatches() {
    let app = TestApp::spawn_with_config("").await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 1);
}
