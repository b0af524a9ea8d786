//! `merge:` on the last stage: once production passed, gatebot merges the
//! PR with `sha` = the deployed head, exactly once; GitHub's refusal is
//! answered with a reply and never retried. Through the real router, on
//! SQLite and on DynamoDB.

use crate::harness::{SHA1, TestApp};

const MERGING: &str = "required_checks: [build]
pipeline:
  - environment: staging
    workflow: cd-stage.yml
    entry: { command: lgtm, role: qa }
    verify: { command: verify-stage, role: qa }
  - environment: production
    workflow: cd-prod.yml
    entry: { command: approve, role: release }
    merge: squash
";

async fn spawn(dynamo: bool) -> TestApp {
    if dynamo {
        let app = TestApp::spawn_on_dynamodb().await;
        crate::harness::repository(&mut app.github.world(), MERGING);
        app
    } else {
        TestApp::spawn_with_config(MERGING).await
    }
}

/// Production deployed: staging, its verification, `/approve`, the run.
async fn deployed(app: &TestApp) {
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    assert_eq!(app.dispatch_count(), 2);
    app.finish_dispatch(1, "success").await;
}

async fn a_merge_succeeding(app: TestApp) {
    deployed(&app).await;
    assert_eq!(
        app.github.world().merges,
        vec![(42, SHA1.to_string(), "squash".to_string())]
    );
    // GitHub then says it is closed; nothing is merged twice.
    let mut closed = app.pr_payload("closed", SHA1);
    closed["pull_request"]["merged"] = serde_json::json!(true);
    assert_eq!(app.send("pull_request", &closed).await, "processed");
    app.reconcile_settled().await;
    assert_eq!(app.github.world().merges.len(), 1);
    let audit = app
        .app()
        .store
        .audit(
            &gatebot::testing::domain::RepoName::parse("acme/widgets").unwrap(),
            Some(42),
            100,
        )
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "merge" && e.detail.contains("merged 0d1a26e (squash)")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_merge_succeeding_on_sqlite() {
    a_merge_succeeding(spawn(false).await).await;
}

#[tokio::test]
async fn a_merge_succeeding_on_dynamodb() {
    a_merge_succeeding(spawn(true).await).await;
}

async fn a_merge_refused(app: TestApp, status: u16, message: &str) {
    app.github.world().merge_refusal = Some((status, message.to_string()));
    deployed(&app).await;
    assert!(app.github.world().merges.is_empty());
    assert_eq!(
        app.last_reply(),
        format!("gatebot did not merge `0d1a26e`: GitHub answered {status}: {message}.")
    );
    // Never retried blindly.
    let replies = app.github.world().comments.len();
    app.reconcile_settled().await;
    app.reconcile_settled().await;
    let w = app.github.world();
    assert!(w.merges.is_empty());
    assert_eq!(w.comments.len(), replies);
}

#[tokio::test]
async fn a_merge_refused_405_on_sqlite() {
    a_merge_refused(spawn(false).await, 405, "Pull Request is not mergeable").await;
}

#[tokio::test]
async fn a_merge_refused_405_on_dynamodb() {
    a_merge_refused(spawn(true).await, 405, "Pull Request is not mergeable").await;
}

#[tokio::test]
async fn a_merge_refused_409_on_sqlite() {
    a_merge_refused(
        spawn(false).await,
        409,
        "Head branch was modified. Review and try the merge again.",
    )
    .await;
}

#[tokio::test]
async fn a_merge_refused_409_on_dynamodb() {
    a_merge_refused(
        spawn(true).await,
        409,
        "Head branch was modified. Review and try the merge again.",
    )
    .await;
}

/// GitHub merged, then answered 502: gatebot reads it back, and never
/// sends the merge again.
async fn a_merge_github_acted_on_then_answered_502(app: TestApp) {
    app.github.world().merge_acts_then_fails = true;
    deployed(&app).await;
    // Read back at once: settled by the delivery itself.
    let audit = app
        .app()
        .store
        .audit(
            &gatebot::testing::domain::RepoName::parse("acme/widgets").unwrap(),
            Some(42),
            100,
        )
        .await
        .expect("audit");
    assert!(
        audit.iter().any(|e| e.kind == "merge"
            && e.detail
                .starts_with("merged 0d1a26e (squash), confirmed after")),
        "{audit:?}"
    );
    app.reconcile_settled().await;
    let w = app.github.world();
    assert_eq!(w.merges.len(), 1);
    let puts = w
        .requests
        .iter()
        .filter(|r| r.starts_with("PUT ") && r.ends_with("/pulls/42/merge"))
        .count();
    assert_eq!(puts, 1, "{:?}", w.requests);
    assert!(
        w.comments.iter().all(|c| !c.body.contains("did not merge")),
        "no refusal was said"
    );
}

#[tokio::test]
async fn a_merge_github_acted_on_then_answered_502_on_sqlite() {
    a_merge_github_acted_on_then_answered_502(spawn(false).await).await;
}

#[tokio::test]
async fn a_merge_github_acted_on_then_answered_502_on_dynamodb() {
    a_merge_github_acted_on_then_answered_502(spawn(true).await).await;
}
