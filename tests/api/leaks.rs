//! What gatebot says in public (HTTP answers on its URL, replies on PRs)
//! never carries internal error text or lets user-typed text out of its
//! quotes.

use std::sync::Arc;

use crate::harness::{DEFAULT_CONFIG, SHA1, TestApp};

/// `/readyz` with an unreachable store: 503, and no endpoint, table or
/// SDK error in the answer (that goes to the log).
#[tokio::test]
async fn readiness_does_not_echo_the_store_error() {
    let store =
        gatebot::testing::store::dynamo::DynamoStore::local("http://127.0.0.1:9", "secret-table");
    let app = TestApp::spawn_with_store(DEFAULT_CONFIG, Arc::new(store)).await;
    let ready = reqwest::get(format!("{}/readyz", app.url)).await.unwrap();
    assert_eq!(ready.status(), 503);
    let text = ready.text().await.unwrap();
    assert!(text.contains("unreachable"), "{text}");
    for secret in ["127.0.0.1", "secret-table", "dispatch", "connect", "error"] {
        assert!(!text.contains(secret), "{secret:?} leaked: {text}");
    }
}

/// A delivery that fails inside (GitHub down) answers 500 with the
/// delivery id to look up, not the error.
#[tokio::test]
async fn a_500_names_the_delivery_not_the_error() {
    let app = TestApp::spawn().await;
    app.github.world().broken.push(("/pulls/42".into(), 503));
    let delivery = app.delivery_id();
    let (code, body) = app
        .send_as("pull_request", &delivery, &app.pr_payload("opened", SHA1))
        .await;
    assert_eq!(code, 500);
    let text = body.to_string();
    assert!(text.contains(&delivery), "{text}");
    for secret in ["503", "injected", "GitHub answered", "/repos/"] {
        assert!(!text.contains(secret), "{secret:?} leaked: {text}");
    }
}

/// A line gatebot did not understand is quoted back in a code span that
/// its backticks cannot close: no @mention, no markdown.
#[tokio::test]
async fn a_quoted_line_cannot_escape_its_code_span() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.comment("quinn", "/rollback ` @acme/everyone **now** ` please")
        .await;
    let reply = app.last_reply();
    assert!(
        reply.contains("``/rollback ` @acme/everyone **now** ` please``"),
        "{reply}"
    );
    // Outside the code span, nothing of the line is left.
    let outside = reply.replace("``/rollback ` @acme/everyone **now** ` please``", "");
    assert!(!outside.contains("@acme/everyone"), "{reply}");
    assert!(!outside.contains("**now**"), "{reply}");
}

/// A `/hold` reason is user text too: quoted in the refusal and on the
/// check run.
#[tokio::test]
async fn a_hold_reason_is_quoted() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("rita", "/hold cc @acme/everyone `x`").await;
    app.comment("quinn", "/lgtm").await;
    let reply = app.last_reply();
    assert!(reply.contains("(`` cc @acme/everyone `x` ``)"), "{reply}");
    let w = app.github.world();
    let check = w.gatebot_runs(SHA1)[0].summary.clone().unwrap_or_default();
    assert!(check.contains("`` cc @acme/everyone `x` ``"), "{check}");
}
