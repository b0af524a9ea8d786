//! People are GitHub user ids, never logins: a renamed account is the same
//! person, a freed login taken by someone else is not, and whoever pushed
//! the head is one of its authors. Each test is an attack that worked
//! while gatebot went by logins.

use serde_json::json;

use crate::harness::{SHA1, SHA2, TestApp};

/// The author opens the PR, then renames their account.
async fn opened_then_author_renamed(app: &TestApp, to: &str) {
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.github.world().rename("alice", to);
}

#[tokio::test]
async fn a_renamed_author_cannot_give_their_own_gates() {
    let app = TestApp::spawn().await;
    // alice could release if she were not the author.
    app.github
        .world()
        .collaborators
        .insert("alice".into(), "maintain".into());
    opened_then_author_renamed(&app, "alice-2").await;

    let (lgtm, _) = app.comment("alice-2", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(lgtm), vec!["-1"]);
    assert!(
        app.last_reply().contains("an author of this head"),
        "{}",
        app.last_reply()
    );
    assert_eq!(app.dispatch_count(), 0);

    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    let (verify, _) = app.comment("alice-2", "/verify-stage").await;
    assert_eq!(app.github.world().reactions_on(verify), vec!["-1"]);
    app.comment("quinn", "/verify-stage").await;
    let (approve, _) = app.comment("alice-2", "/approve").await;
    assert_eq!(app.github.world().reactions_on(approve), vec!["-1"]);
    assert_eq!(app.dispatch_count(), 1, "production never dispatched");
    app.comment("rita", "/approve").await;
    assert_eq!(app.dispatch_count(), 2);
    assert_eq!(
        app.github.world().dispatches[1].input("requested_by"),
        "rita"
    );
}

#[tokio::test]
async fn one_person_cannot_fill_a_quorum_by_renaming() {
    let app = TestApp::spawn_with_config("required_checks: [build]\napprovals: {prod: 2}\n").await;
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    app.github.world().rename("rita", "rita-2");
    let (again, _) = app.comment("rita-2", "/approve").await;
    assert_eq!(
        app.github.world().reactions_on(again),
        vec!["+1"],
        "her approval stands"
    );
    assert_eq!(app.dispatch_count(), 1, "but it is still one of two");
    app.comment("rob", "/approve").await;
    assert_eq!(app.dispatch_count(), 2, "a second person completes it");
}

#[tokio::test]
async fn a_login_listed_in_roles_needs_write_access_too() {
    // randy (read access) is listed; so is `ghost`, a login its owner
    // gave up, now registered by someone with no access at all.
    let app = TestApp::spawn_with_config(
        "required_checks: [build]\nroles: {qa: [randy, quinn], release: [ghost, rita]}\n",
    )
    .await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (randy, _) = app.comment("randy", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(randy), vec!["-1"]);
    assert!(app.last_reply().contains("qa role"), "{}", app.last_reply());
    assert_eq!(app.dispatch_count(), 0);
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.comment("quinn", "/verify-stage").await;
    let (ghost, _) = app.comment("ghost", "/approve").await;
    assert_eq!(app.github.world().reactions_on(ghost), vec!["-1"]);
    assert_eq!(app.dispatch_count(), 1);
    app.comment("rita", "/approve").await;
    assert_eq!(app.dispatch_count(), 2);
}

#[tokio::test]
async fn whoever_pushed_the_head_cannot_approve_it() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    // quinn (QA) pushes a commit onto alice's PR.
    app.github
        .world()
        .prs
        .get_mut(&crate::harness::PR)
        .expect("pr")
        .head = SHA2.into();
    let mut sync = app.pr_payload("synchronize", SHA2);
    sync["sender"] =
        json!({"login": "quinn", "id": crate::fake_github::user_id("quinn"), "type": "User"});
    assert_eq!(app.send("pull_request", &sync).await, "processed");
    app.ci_green(SHA2).await;

    let (own, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(own), vec!["-1"]);
    assert!(
        app.last_reply().contains("an author of this head"),
        "{}",
        app.last_reply()
    );
    assert_eq!(app.dispatch_count(), 0);
    let (other, _) = app.comment("rob", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(other), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1);
    assert_eq!(app.github.world().dispatches[0].input("sha"), SHA2);
}

#[tokio::test]
async fn a_head_whose_pusher_is_not_known_has_no_gates_until_its_push_arrives() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    // A push GitHub reports (its `synchronize` delayed): gatebot learns
    // of the head from a comment's read of the PR.
    app.github
        .world()
        .prs
        .get_mut(&crate::harness::PR)
        .expect("pr")
        .head = SHA2.into();
    app.add_check_run(SHA2, "build", "success");
    app.comment("quinn", "/gates").await;
    let (early, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(early), vec!["-1"]);
    assert!(
        app.last_reply().contains("has not yet heard who pushed"),
        "{}",
        app.last_reply()
    );
    assert_eq!(app.dispatch_count(), 0);
    // The push arrives: alice pushed it.
    let sync = app.pr_payload("synchronize", SHA2);
    assert_eq!(app.send("pull_request", &sync).await, "processed");
    let (lgtm, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(lgtm), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1);
}

#[tokio::test]
async fn the_audit_log_names_people_by_id() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    let repo = gatebot::testing::domain::RepoName::parse("acme/widgets").expect("repo");
    let lines = app
        .store
        .audit(&repo, Some(crate::harness::PR), 100)
        .await
        .expect("audit");
    let lgtm = lines
        .iter()
        .find(|l| l.detail.contains("/lgtm by @quinn"))
        .expect("the /lgtm is audited");
    assert_eq!(
        lgtm.actor_id,
        Some(gatebot::testing::domain::UserId(
            crate::fake_github::user_id("quinn")
        ))
    );
    assert_eq!(lgtm.actor.as_deref(), Some("quinn"));
}

#[tokio::test]
async fn a_comment_without_a_user_id_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let mut p = app.comment_payload(4242, "quinn", "/lgtm");
    p["comment"]["user"]
        .as_object_mut()
        .expect("user")
        .remove("id");
    let (code, body) = app.send_as("issue_comment", &app.delivery_id(), &p).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(app.dispatch_count(), 0);
    assert!(app.github.world().reactions_on(4242).is_empty());
}

#[tokio::test]
async fn a_commit_pushed_before_the_pr_was_opened_makes_its_pusher_an_author() {
    let app = TestApp::spawn().await;
    // quinn pushes a commit to alice's branch; then alice opens the PR.
    app.github
        .world()
        .activity
        .push(("feature/widgets".into(), SHA1.into(), "quinn".into()));
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (own, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(own), vec!["-1"]);
    assert!(
        app.last_reply().contains("an author of this head"),
        "{}",
        app.last_reply()
    );
    app.comment("rob", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 1);
}

#[tokio::test]
async fn a_push_whose_delivery_is_late_is_read_from_the_activity_log() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    // quinn pushes; the `synchronize` is late, the activity log has it.
    {
        let mut w = app.github.world();
        w.prs.get_mut(&crate::harness::PR).expect("pr").head = SHA2.into();
        w.activity
            .push(("feature/widgets".into(), SHA2.into(), "quinn".into()));
    }
    app.add_check_run(SHA2, "build", "success");
    app.comment("rob", "/gates").await;
    let (own, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(own), vec!["-1"]);
    assert!(
        app.last_reply().contains("an author of this head"),
        "{}",
        app.last_reply()
    );
    let (other, _) = app.comment("rob", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(other), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1);
}
