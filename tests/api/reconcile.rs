//! A dispatch whose outcome is unknown is finished by the reconciler
//! without a second dispatch; one that never happened is sent then.

use crate::harness::{SHA1, TestApp};

async fn lgtm_during_outage(created: bool) -> TestApp {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.github.world().dispatch_outage = Some(created);
    app.comment("quinn", "/lgtm").await;
    app
}

#[tokio::test]
async fn an_ambiguous_dispatch_that_went_through_is_not_sent_again() {
    let app = lgtm_during_outage(true).await;
    assert_eq!(
        app.dispatch_count(),
        1,
        "GitHub created the run but answered 502"
    );
    let pending = app.store.gates_with_pending().await.unwrap();
    assert_eq!(pending.len(), 1, "the dispatch stays pending");
    let report = gatebot::reconcile::run_once(&app.app()).await.unwrap();
    assert_eq!(report.effects_completed, 1);
    assert_eq!(
        app.dispatch_count(),
        1,
        "found by dispatch_id, not dispatched again"
    );
    assert!(app.store.gates_with_pending().await.unwrap().is_empty());
    // The run was linked: its completion advances the gate.
    app.finish_dispatch(0, "success").await;
    let (id, _) = app.comment("quinn", "/verify-stage").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
}

#[tokio::test]
async fn a_dispatch_that_failed_before_github_acted_is_sent_by_the_reconciler() {
    let app = lgtm_during_outage(false).await;
    assert_eq!(app.dispatch_count(), 0);
    gatebot::reconcile::run_once(&app.app()).await.unwrap();
    {
        let w = app.github.world();
        assert_eq!(w.dispatches.len(), 1);
        assert_eq!(w.dispatches[0].input("dispatch_id"), "42-staging-0d1a26e-1");
    }
    gatebot::reconcile::run_once(&app.app()).await.unwrap();
    assert_eq!(app.dispatch_count(), 1, "a second pass does nothing");
}
