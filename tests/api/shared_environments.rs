//! Environments are shared by every PR of a repository: a deploy of one PR
//! displaces another's from the moment it is dispatched. Through the real
//! router, on SQLite and on DynamoDB.

use crate::harness::{SHA1, SHA2, TestApp};

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// The title of gatebot's check run on `sha`.
fn title(app: &TestApp, sha: &str) -> String {
    let w = app.github.world();
    w.gatebot_runs(sha)
        .last()
        .and_then(|c| c.title.clone())
        .unwrap_or_default()
}

/// The reply gatebot posted last on PR `number`.
fn last_reply_on(app: &TestApp, number: u64) -> String {
    let w = app.github.world();
    w.comments
        .iter()
        .rev()
        .find(|c| c.issue == number)
        .map(|c| c.body.clone())
        .unwrap_or_default()
}

/// #42 at SHA1 and #43 at SHA2, both green.
async fn two_prs(app: &TestApp) {
    app.open_pr().await;
    app.open_other_pr(43, SHA2).await;
    app.ci_green(SHA1).await;
    app.ci_green(SHA2).await;
}

/// #42 was deployed to staging, then #43 over it: `/verify-stage` on #42
/// is refused (QA would verify code that is not there), production is
/// not dispatched, and `/retry staging` brings #42 back for a new pass.
async fn a_displaced_verification(app: TestApp) {
    two_prs(&app).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.comment_on(43, "quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 2);
    assert_eq!(app.github.world().dispatches[1].input("pr"), "43");
    // #42's check run hears of it from #43's deploy.
    assert_eq!(
        title(&app, SHA1),
        format!(
            "gatebot: staging no longer runs this head: it now runs #43 ({}); `/retry staging` deploys it again",
            short(SHA2)
        )
    );

    let (id, _) = app.comment("quinn", "/verify-stage").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert_eq!(
        app.last_reply(),
        format!(
            "@quinn `/verify-stage` refused: staging now runs #43 ({}); `/retry staging` deploys this head again.",
            short(SHA2)
        )
    );
    let (id, _) = app.comment("rita", "/approve").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 2, "production is not dispatched");

    // Deployed again: #42 runs there, #43 is the displaced one now.
    let (id, _) = app.comment("quinn", "/retry staging").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 3);
    {
        let w = app.github.world();
        assert_eq!(w.dispatches[2].input("pr"), "42");
        assert_eq!(w.dispatches[2].input("sha"), SHA1);
        assert_eq!(w.dispatches[2].input("environment"), "staging");
    }
    app.finish_dispatch(2, "success").await;
    app.finish_dispatch(1, "success").await;
    let (id, _) = app.comment_on(43, "quinn", "/verify-stage").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert!(
        last_reply_on(&app, 43).contains(&format!("staging now runs #42 ({})", short(SHA1))),
        "{}",
        last_reply_on(&app, 43)
    );

    // The /approve given before stands: verifying dispatches production.
    app.comment("quinn", "/verify-stage").await;
    assert_eq!(app.dispatch_count(), 4);
    let w = app.github.world();
    assert_eq!(w.dispatches[3].input("environment"), "production");
    assert_eq!(w.dispatches[3].input("sha"), SHA1);
}

#[tokio::test]
async fn two_prs_and_a_displaced_verification_on_sqlite() {
    a_displaced_verification(TestApp::spawn().await).await;
}

#[tokio::test]
async fn two_prs_and_a_displaced_verification_on_dynamodb() {
    a_displaced_verification(TestApp::spawn_on_dynamodb().await).await;
}

/// #42's staging run finishes after #43 was dispatched there: it was
/// overtaken, and #42's stage does not pass.
async fn an_overtaken_run(app: TestApp) {
    two_prs(&app).await;
    app.comment("quinn", "/lgtm").await;
    app.comment_on(43, "quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    assert_eq!(
        title(&app, SHA1),
        format!(
            "gatebot: staging deploy was overtaken by #43 ({}); `/retry staging` deploys this head again",
            short(SHA2)
        )
    );
    let (id, _) = app.comment("quinn", "/verify-stage").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    // #43's run finishes: it passes, and may be verified.
    app.finish_dispatch(1, "success").await;
    let (id, _) = app.comment_on(43, "quinn", "/verify-stage").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
}

#[tokio::test]
async fn an_overtaken_run_on_sqlite() {
    an_overtaken_run(TestApp::spawn().await).await;
}

#[tokio::test]
async fn an_overtaken_run_on_dynamodb() {
    an_overtaken_run(TestApp::spawn_on_dynamodb().await).await;
}
