//! The Lambda path: real Function URL events (events/lambda/) through
//! `gatebot::testing::lambda::handle`, the same router the local server uses.

use gatebot::testing::lambda::{Invocation, LambdaApp, handle};
use gatebot::testing::secrets::StaticSecrets;
use gatebot::testing::signature::WebhookSecrets;
use serde_json::Value;

use crate::harness::TestApp;

fn event(name: &str) -> Value {
    let path = format!("{}/events/lambda/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fake GitHub world of `TestApp`, served through the Lambda handler
/// with the secret the sample events are signed with.
async fn lambda() -> (TestApp, LambdaApp) {
    let app = TestApp::spawn().await;
    let lambda = LambdaApp::new(
        app.app(),
        StaticSecrets::source(Some(WebhookSecrets::parse("dev-secret").unwrap()), None),
    );
    (app, lambda)
}

/// The event with its comment written now (as when GitHub sends it), its
/// body re-encoded and re-signed: the file's comment predates the PR the
/// test opens, and gatebot refuses gate commands written before it learned
/// of the head.
fn written_now(mut ev: Value) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64.decode(ev["body"].as_str().unwrap()).unwrap();
    let mut payload: Value = serde_json::from_slice(&raw).unwrap();
    payload["comment"]["created_at"] = serde_json::json!(crate::harness::now_stamp());
    let raw = serde_json::to_vec(&payload).unwrap();
    ev["headers"]["x-hub-signature-256"] =
        serde_json::json!(gatebot::testing::signature::sign_with(b"dev-secret", &raw));
    ev["body"] = serde_json::json!(b64.encode(raw));
    ev
}

/// One invocation as the Lambda runtime makes it: the event's JSON read
/// into the handler's payload type (an error, as for the runtime, when it
/// is neither a Function URL request nor the schedule), the handler's
/// answer as the JSON the runtime would return.
async fn invoke(lambda: &LambdaApp, event: Value) -> Result<Value, String> {
    // The runtime reads the payload from the invocation's bytes.
    let payload: Invocation =
        serde_json::from_slice(&serde_json::to_vec(&event).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let event = lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default());
    let answer = handle(lambda, event).await.map_err(|e| e.to_string())?;
    serde_json::to_value(answer).map_err(|e| e.to_string())
}

fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_signed_function_url_delivery_is_processed() {
    let (app, lambda) = lambda().await;
    let answer = invoke(&lambda, event("webhook-pull_request-opened"))
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(body(&answer)["status"], "processed");
    assert_eq!(
        body(&answer)["delivery"],
        "00739e0a-e136-4b92-b953-25672ba5a387"
    );
    assert_eq!(answer["headers"]["content-type"], "application/json");
    assert_eq!(
        app.github.world().gatebot_runs(crate::harness::SHA1).len(),
        1
    );
    // The same delivery again is a duplicate.
    let again = invoke(&lambda, event("webhook-pull_request-opened"))
        .await
        .unwrap();
    assert_eq!(body(&again)["status"], "duplicate");
}

#[tokio::test]
async fn a_base64_encoded_body_is_decoded_before_the_signature_check() {
    let (app, lambda) = lambda().await;
    invoke(&lambda, event("webhook-pull_request-opened"))
        .await
        .unwrap();
    app.ci_green(crate::harness::SHA1).await;
    let ev = written_now(event("webhook-issue_comment-lgtm-base64"));
    assert_eq!(ev["isBase64Encoded"], true);
    let answer = invoke(&lambda, ev).await.unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(body(&answer)["status"], "processed");
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1, "quinn's /lgtm dispatched staging");
    assert_eq!(w.dispatches[0].input("requested_by"), "quinn");
}

#[tokio::test]
async fn a_bad_signature_is_401_and_changes_nothing() {
    let (app, lambda) = lambda().await;
    let answer = invoke(&lambda, event("webhook-bad-signature"))
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 401, "{answer}");
    assert!(app.github.world().check_runs.is_empty());
    assert!(
        app.store
            .audit(
                &gatebot::testing::domain::RepoName::parse("acme/widgets").unwrap(),
                None,
                10
            )
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn healthz_and_the_scheduled_reconcile() {
    let (_app, lambda) = lambda().await;
    let answer = invoke(&lambda, event("healthz")).await.unwrap();
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(body(&answer)["status"], "ok");
    let report = invoke(&lambda, event("scheduled-reconcile")).await.unwrap();
    assert_eq!(report["prs_with_pending"], 0, "{report}");
    assert!(report.get("redelivered").is_some(), "{report}");
}

#[tokio::test]
async fn an_unknown_event_is_an_error() {
    let (_app, lambda) = lambda().await;
    assert!(
        invoke(&lambda, serde_json::json!({"hello": "world"}))
            .await
            .is_err()
    );
}
