//! One repository's bad data never stops another's work: a panic is
//! contained to its delivery (answered 500) and to its PR in a reconcile
//! pass; and a config whose times would overflow is refused, not acted on.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::harness::{DEFAULT_CONFIG, SHA1, SHA2, TestApp};
use crate::hooked_store::HookedStore;

#[tokio::test]
async fn a_panic_on_one_pr_stops_neither_its_neighbours_deliveries_nor_the_reconciler() {
    let store = Arc::new(HookedStore::new());
    let app = TestApp::spawn_with_store(DEFAULT_CONFIG, store.clone()).await;
    app.open_pr().await;
    app.open_other_pr(7, SHA2).await;
    app.ci_green(SHA1).await;
    // #7 has a dispatch in flight. #42's staging dispatch, queued after it
    // (so that #42's is what staging is to run), fails before GitHub acts:
    // queued for the reconciler.
    app.ci_green(SHA2).await;
    app.comment_on(7, "quinn", "/lgtm").await;
    app.github.world().dispatch_outage = Some(false);
    app.comment("quinn", "/lgtm").await;
    store.panics_on.store(7, Ordering::SeqCst);

    // A delivery about #7 panics: answered 500, the process goes on.
    let mut p = app.comment_payload(9901, "quinn", "/gates");
    p["issue"]["number"] = serde_json::json!(7);
    let (code, body) = app.send_as("issue_comment", &app.delivery_id(), &p).await;
    assert_eq!(code, 500, "{body}");
    assert!(
        !body.to_string().contains("a bug reading"),
        "no internals in the answer: {body}"
    );
    // #42 is served as before.
    let (gates, status) = app.comment("quinn", "/gates").await;
    assert_eq!(status, "processed");
    assert_eq!(app.github.world().reactions_on(gates), vec!["+1"]);

    // The reconcile pass serves #42 whatever #7 does.
    let before = app.dispatch_count();
    let report = app.reconcile_settled().await;
    assert!(report.failures >= 1, "{report:?}");
    let w = app.github.world();
    assert_eq!(
        w.dispatches.len(),
        before + 1,
        "#42's queued dispatch went out"
    );
    assert_eq!(w.dispatches[before].input("pr"), "42");
}

#[tokio::test]
async fn a_soak_of_a_million_years_is_an_invalid_config_not_a_panic() {
    let config = "
required_checks: [build]
pipeline:
  - { environment: staging, workflow: cd-stage.yml, entry: { command: lgtm, role: qa } }
  - { environment: production, workflow: cd-prod.yml, entry: auto, soak: 100000000d }
";
    let app = TestApp::spawn_with_config(config).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (lgtm, status) = app.comment("quinn", "/lgtm").await;
    assert_eq!(status, "processed");
    assert_eq!(app.github.world().reactions_on(lgtm), vec!["-1"]);
    assert!(
        app.last_reply().contains("at most 90d"),
        "{}",
        app.last_reply()
    );
    assert_eq!(app.dispatch_count(), 0);
    let report = app.reconcile_settled().await;
    assert_eq!(report.failures, 0, "{report:?}");
}
