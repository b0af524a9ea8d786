//! The webhook's answers: 401 before parsing, 400 for bad input after a
//! valid signature, 413 over the Lambda limit, and nothing stored for any.

use gatebot::testing::domain::{PrKey, RepoName};
use gatebot::testing::signature::sign_with;

use crate::harness::{PR, SECRET, TestApp};

fn key() -> PrKey {
    PrKey {
        repo: RepoName::parse("acme/widgets").unwrap(),
        number: PR,
    }
}

async fn nothing_stored(app: &TestApp) {
    assert!(app.store.load_gate(&key()).await.unwrap().is_none());
    assert!(
        app.store
            .audit(&key().repo, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(app.github.world().check_runs.is_empty());
}

#[tokio::test]
async fn bad_missing_and_wrong_secret_signatures_are_401_and_store_nothing() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&app.pr_payload("opened", crate::harness::SHA1)).unwrap();
    let headers = |sig: Option<String>| {
        let mut h = vec![
            ("x-github-event", "pull_request".to_string()),
            ("x-github-delivery", app.delivery_id()),
        ];
        if let Some(s) = sig {
            h.push(("x-hub-signature-256", s));
        }
        h
    };
    let cases = [
        ("missing", None),
        ("not hex", Some("sha256=nothex".to_string())),
        (
            "sha1 only",
            Some("sha1=0123456789abcdef0123456789abcdef01234567".to_string()),
        ),
        ("wrong secret", Some(sign_with(b"not-the-secret", &body))),
        ("other body", Some(sign_with(SECRET.as_bytes(), b"{}"))),
    ];
    for (name, sig) in cases {
        let (code, answer) = app.post(&headers(sig), body.clone()).await;
        assert_eq!(code, 401, "{name}: {answer}");
    }
    // The signature is checked before the body is looked at.
    let (code, _) = app
        .post(&headers(Some("sha256=00".into())), b"{not json".to_vec())
        .await;
    assert_eq!(code, 401);
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_rotated_secret_is_still_accepted() {
    let app = TestApp::spawn().await;
    let body =
        serde_json::to_vec(&serde_json::json!({"zen": "Keep it logically awesome.", "hook_id": 1}))
            .unwrap();
    let (code, answer) = app
        .post(
            &[
                ("x-github-event", "ping".into()),
                ("x-github-delivery", app.delivery_id()),
                ("x-hub-signature-256", sign_with(b"old-secret", &body)),
            ],
            body,
        )
        .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"], "processed");
}

#[tokio::test]
async fn malformed_json_and_missing_headers_are_400_after_a_valid_signature() {
    let app = TestApp::spawn().await;
    let bad = b"{\"action\": \"opened\", ".to_vec();
    let sig = sign_with(SECRET.as_bytes(), &bad);
    let (code, answer) = app
        .post(
            &[
                ("x-github-event", "pull_request".into()),
                ("x-github-delivery", app.delivery_id()),
                ("x-hub-signature-256", sig.clone()),
            ],
            bad.clone(),
        )
        .await;
    assert_eq!(code, 400, "{answer}");
    // Valid JSON, wrong shape.
    let wrong = br#"{"action":"opened","pull_request":{"number":"x"}}"#.to_vec();
    let (code, _) = app
        .post(
            &[
                ("x-github-event", "pull_request".into()),
                ("x-github-delivery", app.delivery_id()),
                ("x-hub-signature-256", sign_with(SECRET.as_bytes(), &wrong)),
            ],
            wrong,
        )
        .await;
    assert_eq!(code, 400);
    let (code, _) = app
        .post(
            &[
                ("x-github-delivery", app.delivery_id()),
                ("x-hub-signature-256", sig.clone()),
            ],
            bad.clone(),
        )
        .await;
    assert_eq!(code, 400, "missing X-GitHub-Event");
    let (code, _) = app
        .post(
            &[
                ("x-github-event", "pull_request".into()),
                ("x-hub-signature-256", sig),
            ],
            bad,
        )
        .await;
    assert_eq!(code, 400, "missing X-GitHub-Delivery");
    nothing_stored(&app).await;
}

#[tokio::test]
async fn bodies_over_six_mib_are_413() {
    let app = TestApp::spawn().await;
    let big = vec![b' '; 6 * 1024 * 1024 + 1];
    let (code, _) = app
        .post(
            &[
                ("x-github-event", "ping".into()),
                ("x-github-delivery", app.delivery_id()),
                ("x-hub-signature-256", sign_with(SECRET.as_bytes(), &big)),
            ],
            big,
        )
        .await;
    assert_eq!(code, 413);
    nothing_stored(&app).await;
}

#[tokio::test]
async fn other_events_and_actions_are_ignored() {
    let app = TestApp::spawn().await;
    let (code, answer) = app
        .send_as(
            "star",
            &app.delivery_id(),
            &serde_json::json!({"action": "created"}),
        )
        .await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("ignored")));
    let mut labeled = app.pr_payload("opened", crate::harness::SHA1);
    labeled["action"] = "labeled".into();
    assert_eq!(app.send("pull_request", &labeled).await, "ignored");
    nothing_stored(&app).await;
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let get = |path: &str| reqwest::get(format!("{}{path}", app.url));
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["store"], "ok");
    app.open_pr().await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("gatebot_webhook_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatebot_webhook_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatebot_github_requests_total"),
        "{metrics}"
    );
}
