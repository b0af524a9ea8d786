//! A delivery naming something GitHub says does not exist (a PR gatebot
//! cannot read, a deleted run) is done: `200` with status `not_found`, and
//! a duplicate after that, never the `500` that asks GitHub and the
//! reconciler to redeliver what can never succeed. Nothing is dispatched.

use gatebot::testing::domain::{PrKey, RepoName};

use crate::harness::{SHA1, TestApp, comment_payload_for, pr_payload_for};

#[tokio::test]
async fn a_pull_request_delivery_for_a_pr_github_does_not_have_is_done() {
    let app = TestApp::spawn().await;
    let payload = pr_payload_for(77, "opened", SHA1);
    let id = app.delivery_id();
    let (code, answer) = app.send_as("pull_request", &id, &payload).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"], "not_found", "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("404"),
        "{answer}"
    );
    // Redelivered (by GitHub, or by hand): it is not worked on again.
    let (code, again) = app.send_as("pull_request", &id, &payload).await;
    assert_eq!((code, again["status"].as_str()), (200, Some("duplicate")));
    assert!(app.store.load_gate(&pr_key(77)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_command_on_a_pr_github_does_not_have_is_done_and_dispatches_nothing() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let payload = comment_payload_for(77, 99_002, "quinn", "/lgtm");
    let (code, answer) = app
        .send_as("issue_comment", &app.delivery_id(), &payload)
        .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"], "not_found", "{answer}");
    assert_eq!(app.dispatch_count(), 0);
}

#[tokio::test]
async fn a_server_error_is_still_an_error_to_redeliver() {
    let app = TestApp::spawn().await;
    app.github.world().broken.push(("/pulls/42".into(), 502));
    let payload = pr_payload_for(42, "opened", SHA1);
    let (code, answer) = app
        .send_as("pull_request", &app.delivery_id(), &payload)
        .await;
    assert_eq!(code, 500, "{answer}");
}

fn pr_key(n: u64) -> PrKey {
    PrKey {
        repo: RepoName::parse("acme/widgets").unwrap(),
        number: n,
    }
}
