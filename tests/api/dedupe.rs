//! Deliveries arrive twice: nothing happens twice, and a copy that arrives
//! while the first is still being handled is never answered 200 (if that
//! first attempt fails, GitHub must still see a failed delivery to redo).

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
        let status = body["status"].as_str().unwrap().to_string();
        match status.as_str() {
            "processed" | "duplicate" => assert_eq!(code, 200, "{body}"),
            "in_progress" => assert_eq!(code, 503, "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| *s == "processed").count(),
        1,
        "{statuses:?}"
    );
    // Once done, every copy is a duplicate.
    let (code, again) = app.send_as("issue_comment", &delivery, &payload).await;
    assert_eq!((code, again["status"].as_str()), (200, Some("duplicate")));
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

/// A copy of a delivery that arrives while the first attempt is still at
/// work is answered 503 (retryable), never 200; the first attempt then
/// fails, and the delivery is not lost: a later copy is processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_arriving_while_the_first_attempt_works_is_not_answered_200() {
    a_copy_arriving_while_the_first_attempt_works(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_arriving_while_the_first_attempt_works_on_dynamodb() {
    a_copy_arriving_while_the_first_attempt_works(TestApp::spawn_on_dynamodb().await).await;
}

async fn a_copy_arriving_while_the_first_attempt_works(app: TestApp) {
    let app = Arc::new(app);
    app.open_pr().await;
    app.ci_green(SHA1).await;
    {
        // Reading the PR is slow, then fails every retry: the first
        // attempt is in progress for over a second and then fails.
        let mut w = app.github.world();
        w.slow
            .push(("/pulls/42".into(), std::time::Duration::from_millis(400)));
        for _ in 0..3 {
            w.fail_next.push(("/pulls/42".into(), 502, vec![]));
        }
    }
    let payload = app.comment_payload(8003, "quinn", "/lgtm");
    let delivery = app.delivery_id();
    let first = {
        let (app, payload, delivery) = (app.clone(), payload.clone(), delivery.clone());
        tokio::spawn(async move { app.send_as("issue_comment", &delivery, &payload).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let (code, copy) = app.send_as("issue_comment", &delivery, &payload).await;
    assert_eq!(
        (code, copy["status"].as_str()),
        (503, Some("in_progress")),
        "{copy}"
    );
    let (code, body) = first.await.unwrap();
    assert_eq!(code, 500, "the first attempt failed: {body}");
    // The delivery id is named (it holds the process id, which may
    // itself contain "502"); nothing else of the failure is.
    let public = body.to_string().replace(delivery.as_str(), "<delivery>");
    assert!(
        !public.contains("502") && !public.to_lowercase().contains("gateway"),
        "no internal error text on the public URL: {body}"
    );
    assert!(app.github.world().dispatches.is_empty());
    // GitHub saw no 2xx for this delivery, so it is redelivered: processed.
    app.github.world().slow.clear();
    let (code, again) = app.send_as("issue_comment", &delivery, &payload).await;
    assert_eq!(
        (code, again["status"].as_str()),
        (200, Some("processed")),
        "{again}"
    );
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(w.reactions_on(8003), vec!["+1"]);
}
