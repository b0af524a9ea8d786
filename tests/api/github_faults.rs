//! GitHub misbehaving: reads are retried on 5xx and rate limits (honouring
//! `retry-after`), and a read that keeps failing changes nothing and lets
//! GitHub redeliver.

use crate::harness::{SHA1, TestApp};

fn h(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[tokio::test]
async fn a_5xx_and_a_rate_limit_on_reads_are_retried() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    {
        let mut w = app.github.world();
        w.fail_next.push(("/pulls/42".into(), 502, vec![]));
        w.fail_next.push((
            "/collaborators/quinn/permission".into(),
            403,
            vec![h("x-ratelimit-remaining", "0"), h("retry-after", "1")],
        ));
    }
    let (id, status) = app.comment("quinn", "/lgtm").await;
    assert_eq!(status, "processed");
    let w = app.github.world();
    assert!(w.fail_next.is_empty(), "both failures were hit");
    assert_eq!(w.reactions_on(id), vec!["+1"], "and retried through");
    assert_eq!(w.dispatches.len(), 1);
}

#[tokio::test]
async fn a_read_that_keeps_failing_answers_500_and_a_redelivery_succeeds() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    {
        let mut w = app.github.world();
        for _ in 0..3 {
            w.fail_next.push(("/pulls/42".into(), 503, vec![]));
        }
    }
    let payload = app.comment_payload(4242, "quinn", "/lgtm");
    let delivery = app.delivery_id();
    let (code, body) = app.send_as("issue_comment", &delivery, &payload).await;
    assert_eq!(code, 500, "{body}");
    assert!(app.github.world().reactions.is_empty(), "nothing happened");
    assert_eq!(app.dispatch_count(), 0);
    // GitHub redelivers the same delivery: it is not a duplicate.
    let (code, body) = app.send_as("issue_comment", &delivery, &payload).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    assert_eq!(app.github.world().reactions_on(4242), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1);
}

#[tokio::test]
async fn writes_are_not_retried_blindly() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.github
        .world()
        .fail_next
        .push(("/dispatches".into(), 500, vec![]));
    app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert!(w.fail_next.is_empty(), "the dispatch was tried");
    assert!(w.dispatches.is_empty(), "and not repeated after the 500");
}
