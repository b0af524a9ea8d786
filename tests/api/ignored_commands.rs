//! Comments that must not trigger anything: quoted, in code, edited,
//! deleted, written by bots, or not gatebot's.

use serde_json::json;

use crate::harness::{SHA1, TestApp};

async fn ready_for_lgtm() -> TestApp {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app
}

#[tokio::test]
async fn quoted_and_code_commands_do_nothing() {
    let app = ready_for_lgtm().await;
    let bodies = [
        "> /lgtm\n\nquoting quinn above",
        "> > /lgtm",
        "```\n/lgtm\n```",
        "~~~text\n/lgtm\n~~~",
        "`/lgtm`",
        "    /lgtm",
        "<!--\n/lgtm\n-->",
        "please /lgtm",
        "/lgtmplease",
    ];
    for body in bodies {
        let (id, status) = app.comment("quinn", body).await;
        assert_eq!(status, "ignored", "{body:?}");
        assert!(app.github.world().reactions_on(id).is_empty(), "{body:?}");
    }
    assert_eq!(app.dispatch_count(), 0);
    assert!(app.github.world().comments.is_empty());
}

#[tokio::test]
async fn edited_and_deleted_comments_do_nothing() {
    let app = ready_for_lgtm().await;
    for fixture in ["issue_comment.edited", "issue_comment.deleted"] {
        let mut p = app.comment_payload(7001, "quinn", "/lgtm");
        p["action"] = json!(fixture.rsplit('.').next().unwrap());
        assert_eq!(app.send("issue_comment", &p).await, "ignored", "{fixture}");
    }
    assert_eq!(app.dispatch_count(), 0);
    assert!(app.github.world().reactions.is_empty());
}

#[tokio::test]
async fn bot_comments_do_nothing() {
    let app = ready_for_lgtm().await;
    let mut p = app.comment_payload(7002, "gatebot[bot]", "/lgtm");
    p["comment"]["user"]["type"] = json!("Bot");
    assert_eq!(app.send("issue_comment", &p).await, "ignored");
    let mut p = app.comment_payload(7003, "renovate[bot]", "/lgtm");
    p["comment"]["user"]["type"] = json!("User");
    assert_eq!(app.send("issue_comment", &p).await, "ignored");
    assert_eq!(app.dispatch_count(), 0);
    assert!(app.github.world().reactions.is_empty());
}

#[tokio::test]
async fn other_bots_commands_are_left_alone_and_bad_arguments_get_confused() {
    let app = ready_for_lgtm().await;
    let (id, status) = app.comment("quinn", "/deploy now\n/cc @rita").await;
    assert_eq!(status, "ignored");
    assert!(app.github.world().reactions_on(id).is_empty());
    let (id, status) = app.comment("quinn", "/lgtm please").await;
    assert_eq!(status, "processed");
    assert_eq!(app.github.world().reactions_on(id), vec!["confused"]);
    assert!(
        app.last_reply().contains("did not understand"),
        "{}",
        app.last_reply()
    );
    assert_eq!(app.dispatch_count(), 0);
}

#[tokio::test]
async fn comments_on_plain_issues_are_ignored() {
    let app = ready_for_lgtm().await;
    let mut p = app.comment_payload(7004, "quinn", "/lgtm");
    p["issue"].as_object_mut().unwrap().remove("pull_request");
    assert_eq!(app.send("issue_comment", &p).await, "ignored");
    assert_eq!(app.dispatch_count(), 0);
}

#[tokio::test]
async fn help_and_gates_answer_anyone_with_read() {
    let app = ready_for_lgtm().await;
    let (id, _) = app.comment("randy", "/help").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert!(
        app.last_reply().contains("/verify-stage"),
        "{}",
        app.last_reply()
    );
    let (id, _) = app.comment("randy", "/gates").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert!(
        app.last_reply().contains("waiting for QA review"),
        "{}",
        app.last_reply()
    );
    let (id, _) = app.comment("stranger", "/gates").await;
    assert_eq!(
        app.github.world().reactions_on(id),
        vec!["-1"],
        "no read access"
    );
}
