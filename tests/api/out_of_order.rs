//! GitHub guarantees no delivery order. Whether a PR is open, and its head,
//! are read from GitHub with each delivery; a stored state that disagrees
//! heals on the next delivery or reconcile pass.

use gatebot::testing::domain::{PrKey, RepoName};

use crate::harness::{PR, SHA1, TestApp};

fn key() -> PrKey {
    PrKey {
        repo: RepoName::parse("acme/widgets").unwrap(),
        number: PR,
    }
}

fn set_state(app: &TestApp, state: &str) {
    app.github.world().prs.get_mut(&PR).unwrap().state = state.into();
}

#[tokio::test]
async fn a_closed_delivered_after_reopened_leaves_the_pr_open() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    // Closed, then reopened on GitHub; the deliveries arrive reversed.
    set_state(&app, "closed");
    set_state(&app, "open");
    app.send("pull_request", &app.pr_payload("reopened", SHA1))
        .await;
    app.send("pull_request", &app.pr_payload("closed", SHA1))
        .await;
    assert!(app.state().await.open, "GitHub says open");
    app.ci_green(SHA1).await;
    let (id, _) = app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["+1"]);
    assert_eq!(w.dispatches.len(), 1);
}

/// A record stuck closed (however it got so) heals on the next comment.
/// Healing starts the gates again, as a reopen does, so a gate command in
/// that very comment is stale (written before gatebot knew the PR was
/// open); the next one counts.
#[tokio::test]
async fn a_stored_state_that_disagrees_heals_on_the_next_delivery() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let v = app.store.load_gate(&key()).await.unwrap().unwrap();
    let mut rec = v.value;
    rec.state.open = false;
    app.store.save_gate(&rec, Some(v.version)).await.unwrap();
    let (gates, _) = app.comment("randy", "/gates").await;
    assert_eq!(app.github.world().reactions_on(gates), vec!["+1"]);
    assert!(app.state().await.open, "healed");
    assert!(!app.last_reply().contains("closed"), "{}", app.last_reply());
    let (id, _) = app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["+1"], "not refused as closed");
    assert_eq!(
        w.dispatches.len(),
        1,
        "CI was read back when the gates restarted"
    );
}

/// A PR the reconciler watches (a deploy in flight) heals on its pass.
#[tokio::test]
async fn a_stored_state_that_disagrees_heals_on_a_reconcile_pass() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    // Stored closed, GitHub open: the staging deploy is detached.
    let v = app.store.load_gate(&key()).await.unwrap().unwrap();
    let mut rec = v.value;
    rec.state.open = false;
    let staging = rec
        .state
        .gates_mut(&gatebot::testing::domain::Environment::staging());
    let in_flight = staging.deploy.take();
    rec.state.detached.extend(in_flight);
    app.store.save_gate(&rec, Some(v.version)).await.unwrap();
    app.reconcile_settled().await;
    let s = app.state().await;
    assert!(s.open, "healed");
    assert_eq!(
        app.stage().await,
        gatebot::testing::gate::Stage::WaitingForEntry(0),
        "gates start again, CI read back"
    );
}

/// A `closed` that is late after a reopen of a PR GitHub says is closed
/// again is simply a close: GitHub's current state wins both ways.
#[tokio::test]
async fn github_says_closed_the_pr_is_closed() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    set_state(&app, "closed");
    app.send("pull_request", &app.pr_payload("reopened", SHA1))
        .await;
    assert!(!app.state().await.open);
}

/// A `pull_request` delivery whose payload names a head GitHub does not
/// have (forged with the secret, or simply stale): the head is what
/// `GET /pulls/{n}` says, never the payload's.
#[tokio::test]
async fn a_payload_head_that_github_disagrees_with_is_not_believed() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    // GitHub still says SHA1; the delivery claims SHA2.
    app.send(
        "pull_request",
        &app.pr_payload("synchronize", crate::harness::SHA2),
    )
    .await;
    let state = app.state().await;
    assert_eq!(
        state.head_sha.as_str(),
        SHA1,
        "the API's head, not the payload's"
    );
    assert_eq!(
        state.ci,
        gatebot::testing::gate::ci::CiStatus::Green,
        "nothing voided"
    );
    let (id, _) = app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["+1"]);
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(w.dispatches[0].input("sha"), SHA1);
}

/// A fork PR goes through the same gates: its head, state and author come
/// from the base repository's API, its config from the base's default
/// branch, and its deploys run in the base repository on `main`, never on
/// the fork's branch.
#[tokio::test]
async fn a_fork_pr_is_gated_and_deployed_like_any_other() {
    let app = TestApp::spawn().await;
    let mut opened = app.pr_payload("opened", SHA1);
    opened["pull_request"]["head"]["repo"]["full_name"] = serde_json::json!("mallory/widgets");
    opened["pull_request"]["head"]["repo"]["fork"] = serde_json::json!(true);
    opened["pull_request"]["head"]["ref"] = serde_json::json!("evil-branch");
    app.send("pull_request", &opened).await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.comment("quinn", "/verify-stage").await;
    let (author, _) = app.comment("alice", "/approve").await;
    app.comment("rita", "/approve").await;
    let w = app.github.world();
    assert_eq!(
        w.reactions_on(author),
        vec!["-1"],
        "the author cannot approve"
    );
    assert_eq!(w.dispatches.len(), 2);
    for d in &w.dispatches {
        assert_eq!(d.body["ref"], "main", "deploys run from the base's main");
        assert_eq!(d.input("sha"), SHA1);
    }
}
