//! A locked staging (`lock: true`): one PR at a time holds it, from its
//! deploy's dispatch until it moves on; others queue. Through the real
//! router, on SQLite and on DynamoDB, one case each.

use std::sync::Arc;

use serde_json::json;

use crate::harness::{SHA1, SHA2, TestApp};

const SHA3: &str = "3e5a7c9b1d2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c";

fn locked(timeout: &str) -> String {
    format!(
        "required_checks: [build]
pipeline:
  - environment: staging
    workflow: cd-stage.yml
    entry: {{ command: lgtm, role: qa }}
    verify: {{ command: verify-stage, role: qa }}
    lock: true
    lock_timeout: {timeout}
  - environment: production
    workflow: cd-prod.yml
    entry: {{ command: approve, role: release }}
"
    )
}

async fn spawn(dynamo: bool, timeout: &str) -> TestApp {
    if dynamo {
        let app = TestApp::spawn_on_dynamodb().await;
        crate::harness::repository(&mut app.github.world(), &locked(timeout));
        app
    } else {
        TestApp::spawn_with_config(&locked(timeout)).await
    }
}

fn replies_on(app: &TestApp, number: u64) -> Vec<String> {
    app.github
        .world()
        .comments
        .iter()
        .filter(|c| c.issue == number)
        .map(|c| c.body.clone())
        .collect()
}

fn title(app: &TestApp, sha: &str) -> String {
    let w = app.github.world();
    w.gatebot_runs(sha)
        .last()
        .and_then(|c| c.title.clone())
        .unwrap_or_default()
}

fn dispatched(app: &TestApp) -> Vec<(String, String)> {
    app.github
        .world()
        .dispatches
        .iter()
        .map(|d| {
            (
                d.input("pr").to_string(),
                d.input("environment").to_string(),
            )
        })
        .collect()
}

fn pair(pr: &str, env: &str) -> (String, String) {
    (pr.to_string(), env.to_string())
}

/// #42 holds staging; #43's `/lgtm` is accepted and queued.
async fn a_holds_b_queued(app: &TestApp) {
    app.open_pr().await;
    app.open_other_pr(43, SHA2).await;
    app.ci_green(SHA1).await;
    app.ci_green(SHA2).await;
    app.comment("quinn", "/lgtm").await;
    let (id, _) = app.comment_on(43, "quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert_eq!(dispatched(app), vec![pair("42", "staging")]);
    let held =
        "staging is held by #42 (`/unlock staging` to release it); this PR is queued, position 1";
    assert_eq!(replies_on(app, 43), vec![format!("Recorded, but {held}.")]);
    assert_eq!(
        title(app, SHA2),
        format!("gatebot: waiting for staging: {held}")
    );
}

/// The queued PR is dispatched when the holder is merged.
async fn a_lock_and_its_queue(app: TestApp) {
    a_holds_b_queued(&app).await;
    app.github.world().prs.get_mut(&42).expect("pr").state = "closed".into();
    let mut merged = app.pr_payload("closed", SHA1);
    merged["pull_request"]["merged"] = json!(true);
    assert_eq!(app.send("pull_request", &merged).await, "processed");
    assert_eq!(
        dispatched(&app),
        vec![pair("42", "staging"), pair("43", "staging")],
        "#43 goes as soon as #42 is merged"
    );
    let w = app.github.world();
    assert_eq!(w.dispatches[1].input("sha"), SHA2);
}

#[tokio::test]
async fn a_lock_and_its_queue_on_sqlite() {
    a_lock_and_its_queue(spawn(false, "4h").await).await;
}

#[tokio::test]
async fn a_lock_and_its_queue_on_dynamodb() {
    a_lock_and_its_queue(spawn(true, "4h").await).await;
}

/// A hold past its timeout ends at the reconciler's next look.
async fn the_lock_timing_out(app: TestApp) {
    a_holds_b_queued(&app).await;
    app.reconcile_settled().await;
    assert_eq!(dispatched(&app).len(), 1, "not yet");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.reconcile_settled().await;
    assert_eq!(
        dispatched(&app),
        vec![pair("42", "staging"), pair("43", "staging")]
    );
}

#[tokio::test]
async fn the_lock_timing_out_on_sqlite() {
    the_lock_timing_out(spawn(false, "2s").await).await;
}

#[tokio::test]
async fn the_lock_timing_out_on_dynamodb() {
    the_lock_timing_out(spawn(true, "2s").await).await;
}

/// `/lock` holds without deploying; a second `/lock` is refused naming the
/// holder; `/unlock` needs the stage's role or release.
async fn lock_and_unlock(app: TestApp) {
    app.open_pr().await;
    app.open_other_pr(43, SHA2).await;
    app.ci_green(SHA2).await;
    let (id, _) = app
        .comment("quinn", "/lock staging checking a migration")
        .await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert!(dispatched(&app).is_empty());
    let (id, _) = app.comment_on(43, "quinn", "/lock staging").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert_eq!(
        replies_on(&app, 43).last().map(String::as_str),
        Some("@quinn `/lock` refused: staging is already held by #42.")
    );
    // #43's /lgtm queues behind the hand-held lock.
    app.comment_on(43, "quinn", "/lgtm").await;
    assert!(dispatched(&app).is_empty());
    let (id, _) = app.comment_on(43, "randy", "/unlock staging").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert_eq!(
        replies_on(&app, 43).last().map(String::as_str),
        Some("@randy `/unlock` refused: you need the qa or release role for this command.")
    );
    let (id, _) = app.comment_on(43, "rita", "/unlock staging").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert_eq!(
        dispatched(&app),
        vec![pair("43", "staging")],
        "the queue goes on"
    );
}

#[tokio::test]
async fn lock_and_unlock_on_sqlite() {
    lock_and_unlock(spawn(false, "4h").await).await;
}

#[tokio::test]
async fn lock_and_unlock_on_dynamodb() {
    lock_and_unlock(spawn(true, "4h").await).await;
}

/// A push to the holder ends its hold.
async fn a_push_releasing_a_lock(app: TestApp) {
    a_holds_b_queued(&app).await;
    app.push(SHA3).await;
    assert_eq!(
        dispatched(&app),
        vec![pair("42", "staging"), pair("43", "staging")]
    );
}

#[tokio::test]
async fn a_push_releasing_a_lock_on_sqlite() {
    a_push_releasing_a_lock(spawn(false, "4h").await).await;
}

#[tokio::test]
async fn a_push_releasing_a_lock_on_dynamodb() {
    a_push_releasing_a_lock(spawn(true, "4h").await).await;
}

/// Two PRs racing for the free, locked staging: one is dispatched, the
/// other queued, never both.
async fn racing_for_a_free_lock(app: TestApp) {
    let app = Arc::new(app);
    app.open_pr().await;
    app.open_other_pr(43, SHA2).await;
    app.ci_green(SHA1).await;
    app.ci_green(SHA2).await;
    let a = {
        let app = app.clone();
        tokio::spawn(async move { app.comment("quinn", "/lgtm").await })
    };
    let b = {
        let app = app.clone();
        tokio::spawn(async move { app.comment_on(43, "quinn", "/lgtm").await })
    };
    a.await.expect("a");
    b.await.expect("b");
    let sent = dispatched(&app);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let other = if sent[0].0 == "42" { 43 } else { 42 };
    let queued = replies_on(&app, other);
    assert!(
        queued
            .iter()
            .any(|r| r.contains("this PR is queued, position 1")),
        "{queued:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_for_a_free_lock_on_sqlite() {
    racing_for_a_free_lock(spawn(false, "4h").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_for_a_free_lock_on_dynamodb() {
    racing_for_a_free_lock(spawn(true, "4h").await).await;
}
