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

/// A delivery reads the PR's record once and its transition starts from
/// that read: a `/hold` written meanwhile (here while the `/approve`
/// waits on CI's check runs) makes the approve's write conflict, and the
/// approve is applied again on top of the hold, never over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hold_written_while_an_approve_is_in_flight_stands() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    app.through_staging().await;
    assert_eq!(app.dispatch_count(), 1, "staging");
    app.github
        .world()
        .slow
        .push(("/check-runs".into(), std::time::Duration::from_millis(800)));
    let approve = {
        let app = app.clone();
        tokio::spawn(async move { app.comment("rita", "/approve").await })
    };
    // The approve has read the record and waits on CI; the hold does not
    // read CI.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (hold, _) = app.comment("quinn", "/hold release freeze").await;
    assert_eq!(app.github.world().reactions_on(hold), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1, "the approve is still waiting");
    let (approve, _) = approve.await.unwrap();
    assert_eq!(app.github.world().reactions_on(approve), vec!["+1"]);
    assert_eq!(
        app.dispatch_count(),
        1,
        "held: production is not dispatched"
    );
    let state = app.state().await;
    assert!(state.hold.is_some(), "the hold stands");
    let approvals = state.approvals_for(&gatebot::testing::domain::Environment::production());
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0].login, "rita");
}
