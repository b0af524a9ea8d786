//! A gate command binds to the head the person saw: one written
//! (`comment.created_at`) before gatebot learned of the current head — a
//! slow delivery, a failed one redelivered — is refused as stale, with a
//! reply, and moves nothing.

use gatebot::testing::domain::Environment;
use serde_json::json;

use crate::harness::{SHA1, SHA2, TestApp, Tuning};

/// `/approve` written while the head was SHA1, delivered after SHA2 was
/// pushed and processed: it must not approve SHA2.
#[tokio::test]
async fn a_late_approve_does_not_approve_the_new_head() {
    let app = TestApp::spawn().await;
    app.through_staging().await;
    let late = app.comment_payload(7001, "rita", "/approve");
    app.push(SHA2).await;
    app.ci_green(SHA2).await;
    assert_eq!(app.send("issue_comment", &late).await, "processed");
    {
        let w = app.github.world();
        assert_eq!(w.reactions_on(7001), vec!["-1"]);
        let reply = &w.comments.last().unwrap().body;
        assert!(
            reply.contains("stale SHA") && reply.contains(&SHA2[..7]),
            "{reply}"
        );
        assert_eq!(w.dispatches.len(), 1, "only staging of SHA1");
    }
    assert!(
        app.state()
            .await
            .approvals_for(&Environment::production())
            .is_empty()
    );
}

/// A delivery that failed (GitHub down) and is redelivered after a push
/// is just as late.
#[tokio::test]
async fn a_redelivered_lgtm_after_a_push_is_stale() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    for _ in 0..3 {
        app.github
            .world()
            .fail_next
            .push(("/pulls/42".into(), 502, vec![]));
    }
    let payload = app.comment_payload(7002, "quinn", "/lgtm");
    let delivery = app.delivery_id();
    let (code, _) = app.send_as("issue_comment", &delivery, &payload).await;
    assert_eq!(code, 500, "GitHub was down: nothing stored");
    app.push(SHA2).await;
    app.ci_green(SHA2).await;
    let (code, body) = app.send_as("issue_comment", &delivery, &payload).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("processed")));
    let w = app.github.world();
    assert_eq!(w.reactions_on(7002), vec!["-1"]);
    assert!(w.comments.last().unwrap().body.contains("stale SHA"));
    assert!(
        w.dispatches.is_empty(),
        "nothing deployed: SHA2 has no /lgtm"
    );
}

#[tokio::test]
async fn a_late_verify_stage_is_stale_too() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    let late = app.comment_payload(7003, "quinn", "/verify-stage");
    // The PR is closed and reopened meanwhile: its gates start again.
    for (state, action) in [("closed", "closed"), ("open", "reopened")] {
        app.github.world().prs.get_mut(&42).unwrap().state = state.into();
        app.send("pull_request", &app.pr_payload(action, SHA1))
            .await;
    }
    app.send("issue_comment", &late).await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(7003), vec!["-1"]);
    assert!(w.comments.last().unwrap().body.contains("stale SHA"));
}

/// A command written after gatebot learned of the head counts.
#[tokio::test]
async fn a_command_written_after_the_push_counts() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.push(SHA2).await;
    app.ci_green(SHA2).await;
    let (id, _) = app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["+1"]);
    assert_eq!(w.dispatches[0].input("sha"), SHA2);
}

/// With production's clock-skew margin (two seconds), a command stamped
/// within the margin after gatebot learned of the head is refused — gatebot
/// cannot tell which came first — and one written after it counts.
#[tokio::test]
async fn the_clock_skew_margin_end_to_end() {
    let app = TestApp::spawn_tuned(Tuning {
        clock_skew: gatebot::testing::gate::CLOCK_SKEW,
        ..Tuning::default()
    })
    .await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (id, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(
        app.github.world().reactions_on(id),
        vec!["-1"],
        "within the margin"
    );
    let mut p = app.comment_payload(7004, "quinn", "/lgtm");
    let later = chrono::Utc::now() + chrono::Duration::seconds(3);
    p["comment"]["created_at"] = json!(later.to_rfc3339());
    app.send("issue_comment", &p).await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(7004), vec!["+1"]);
    assert_eq!(w.dispatches.len(), 1);
}

/// A comment without a time cannot be placed: a gate command in it is
/// refused; `/gates` is still answered.
#[tokio::test]
async fn a_comment_without_a_time_is_refused_for_gate_commands() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let mut p = app.comment_payload(7005, "quinn", "/lgtm\n/gates");
    p["comment"].as_object_mut().unwrap().remove("created_at");
    app.send("issue_comment", &p).await;
    let w = app.github.world();
    let reply = &w.comments.last().unwrap().body;
    assert!(reply.contains("stale SHA"), "{reply}");
    assert!(
        reply.contains("| gate | state |"),
        "one reply with both answers: {reply}"
    );
    assert!(w.dispatches.is_empty());
}
