//! Deliveries arrive twice: nothing happens twice.

use std::sync::Arc;

use crate::harness::{SHA1, TestApp};

#[tokio::test]
async fn the_same_delivery_twice_dispatches_once() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let payload = app.comment_payload(8001, "quinn", "/lgtm");
    let delivery = app.delivery_id();
    let (code, first) = app.send_as("issue_comment", &delivery, &payload).await;
    assert_eq!((code, first["status"].as_str()), (200, Some("processed")));
    assert_eq!(first["delivery"], delivery.as_str());
    let (code, second) = app.send_as("issue_comment", &delivery, &payload).await;
    assert_eq!((code, second["status"].as_str()), (200, Some("duplicate")));
    // A redelivery under a new id is caught by the comment id.
    let (_, third) = app
        .send_as("issue_comment", &app.delivery_id(), &payload)
        .await;
    assert_eq!(third["status"], "duplicate");
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(w.reactions_on(8001), vec!["+1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_copies_dispatch_exactly_once() {
    let app = Arc::new(TestApp::spawn().await);
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let payload = app.comment_payload(8002, "quinn", "/lgtm");
    let delivery = app.delivery_id();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, payload, delivery) = (app.clone(), payload.clone(), delivery.clone());
        tasks.push(tokio::spawn(async move {
            app.send_as("issue_comment", &delivery, &payload).await
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let (code, body) = t.await.unwrap();
        assert_eq!(code, 200, "{body}");
        statuses.push(body["status"].as_str().unwrap().to_string());
    }
    assert_eq!(
        statuses.iter().filter(|s| *s == "processed").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 19);
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(w.reactions_on(8002), vec!["+1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_distinct_approvals_race_on_the_version_and_dispatch_once() {
    let app = Arc::new(
        TestApp::spawn_with_config("required_checks: [build]\napprovals: {prod: 2}\n").await,
    );
    app.through_staging().await;
    let a = {
        let app = app.clone();
        tokio::spawn(async move { app.comment("rita", "/approve").await })
    };
    let b = {
        let app = app.clone();
        tokio::spawn(async move { app.comment("rob", "/approve").await })
    };
    a.await.unwrap();
    b.await.unwrap();
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 2, "stage + exactly one prod dispatch");
    assert_eq!(w.dispatches[1].workflow, "cd-prod.yml");
}
