//! `/hold` blocks dispatches until `/unhold`; a freeze window refuses
//! production dispatch.

use chrono::{Duration, Utc};

use crate::harness::{DEFAULT_CONFIG, SHA1, TestApp};

#[tokio::test]
async fn hold_blocks_and_unhold_releases() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    let (hold, _) = app.comment("rita", "/hold waiting for the load test").await;
    assert_eq!(app.github.world().reactions_on(hold), vec!["+1"]);
    app.comment("quinn", "/lgtm").await;
    assert!(
        app.last_reply().contains("held by @rita"),
        "{}",
        app.last_reply()
    );
    app.ci_green(SHA1).await;
    assert_eq!(app.dispatch_count(), 0, "held");
    let (randy, _) = app.comment("randy", "/unhold").await;
    assert_eq!(
        app.github.world().reactions_on(randy),
        vec!["-1"],
        "read-only users cannot unhold"
    );
    assert_eq!(app.dispatch_count(), 0);
    let (unhold, _) = app.comment("quinn", "/unhold").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(unhold), vec!["+1"]);
    assert_eq!(w.dispatches.len(), 1, "released");
    assert_eq!(w.dispatches[0].input("environment"), "staging");
}

#[tokio::test]
async fn a_freeze_window_refuses_the_production_dispatch() {
    let from = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let config = format!(
        "{DEFAULT_CONFIG}freeze:\n  - {{ from: \"{from}\", to: \"{to}\", reason: \"year-end freeze\" }}\n"
    );
    let app = TestApp::spawn_with_config(&config).await;
    app.through_staging().await;
    assert_eq!(app.dispatch_count(), 1, "staging is not frozen");
    app.comment("rita", "/approve").await;
    assert_eq!(
        app.dispatch_count(),
        1,
        "no production dispatch while frozen"
    );
    let reply = app.last_reply();
    assert!(
        reply.contains("frozen") && reply.contains("year-end freeze"),
        "{reply}"
    );
    let (rb, _) = app.comment("rita", "/rollback prod").await;
    assert_eq!(app.github.world().reactions_on(rb), vec!["-1"]);
    assert_eq!(app.dispatch_count(), 1);
}
