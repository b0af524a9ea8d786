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

/// A reconcile pass as if the settle time had passed.
async fn settled_pass(app: &TestApp) -> gatebot::testing::reconcile::Report {
    gatebot::testing::reconcile::run(&app.app(), chrono::Duration::zero())
        .await
        .unwrap()
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
    // A pass right away leaves it alone: the run may not be listed yet.
    let report = gatebot::testing::reconcile::run_once(&app.app())
        .await
        .unwrap();
    assert_eq!(report.effects_completed, 0);
    assert_eq!(app.store.gates_with_pending().await.unwrap().len(), 1);
    let report = settled_pass(&app).await;
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
    gatebot::testing::reconcile::run_once(&app.app())
        .await
        .unwrap();
    assert_eq!(app.dispatch_count(), 0, "too recent to judge");
    settled_pass(&app).await;
    {
        let w = app.github.world();
        assert_eq!(w.dispatches.len(), 1);
        assert_eq!(w.dispatches[0].input("dispatch_id"), "42-staging-0d1a26e-1");
    }
    settled_pass(&app).await;
    assert_eq!(app.dispatch_count(), 1, "a second pass does nothing");
}

#[tokio::test]
async fn failed_webhook_deliveries_are_redelivered() {
    let app = TestApp::spawn().await;
    app.github.world().hook_deliveries = vec![
        (1, "ok".into(), 200),
        (2, "lost".into(), 502),
        (3, "retried".into(), 500),
        (4, "retried".into(), 202),
        (5, "unreachable".into(), 0),
    ];
    let report = gatebot::testing::reconcile::run_once(&app.app())
        .await
        .unwrap();
    assert_eq!(report.redelivered, 2);
    let mut asked = app.github.world().redelivered.clone();
    asked.sort();
    assert_eq!(asked, vec![2, 5]);
}

/// A run GitHub returned the id of is polled on every pass, however young
/// its dispatch: `gatebot reconcile` right after a lost event finishes it.
#[tokio::test]
async fn a_run_whose_workflow_run_event_never_arrived_is_polled() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    {
        let mut w = app.github.world();
        let run_id = w.dispatches[0].run_id.unwrap();
        w.complete_run(run_id, "success", chrono::Utc::now());
    }
    // No workflow_run delivery: the reconciler reads the run itself, on
    // a pass with the production settle time.
    let report = gatebot::testing::reconcile::run_once(&app.app())
        .await
        .unwrap();
    assert_eq!(report.runs_finished, 1, "{report:?}");
    let (id, _) = app.comment("quinn", "/verify-stage").await;
    assert_eq!(
        app.github.world().reactions_on(id),
        vec!["+1"],
        "staging counts as deployed"
    );
}

#[tokio::test]
async fn production_is_dispatched_once_the_freeze_ends() {
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let config =
        format!("required_checks: [build]\nfreeze: [{{from: \"{from}\", to: \"{to}\"}}]\n");
    let app = TestApp::spawn_with_config(&config).await;
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    assert_eq!(app.dispatch_count(), 1, "frozen");
    gatebot::testing::reconcile::run_once(&app.app())
        .await
        .unwrap();
    assert_eq!(app.dispatch_count(), 1, "still frozen");
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    gatebot::testing::reconcile::run_once(&app.app())
        .await
        .unwrap();
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 2, "the freeze ended");
    assert_eq!(w.dispatches[1].workflow, "cd-prod.yml");
    assert_eq!(w.dispatches[1].input("requested_by"), "rita");
}
