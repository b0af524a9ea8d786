//! Who may do what: resolved from the GitHub API, never from the payload.

use std::time::Duration;

use crate::harness::{DEFAULT_CONFIG, SHA1, TestApp, Tuning};

#[tokio::test]
async fn the_author_cannot_lgtm_or_approve_their_own_pr() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    // alice (the author) has write access, so only authorship stops her.
    let (id, _) = app.comment("alice", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert!(app.last_reply().contains("author"), "{}", app.last_reply());
    assert_eq!(app.dispatch_count(), 0);

    app.github
        .world()
        .collaborators
        .insert("alice".into(), "admin".into());
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.comment("quinn", "/verify-stage").await;
    let (id, _) = app.comment("alice", "/approve").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert!(app.last_reply().contains("author"), "{}", app.last_reply());
    assert_eq!(app.dispatch_count(), 1, "no prod dispatch");
}

#[tokio::test]
async fn a_read_only_user_is_refused_and_told_why() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (id, _) = app.comment("randy", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    let reply = app.last_reply();
    assert!(
        reply.contains("@randy") && reply.contains("qa role"),
        "{reply}"
    );
    assert_eq!(app.dispatch_count(), 0);
    // quinn (write) holds the default qa role; write is not enough for release.
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.comment("quinn", "/verify-stage").await;
    let (id, _) = app.comment("quinn", "/approve").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert!(
        app.last_reply().contains("release role"),
        "{}",
        app.last_reply()
    );
    assert_eq!(app.dispatch_count(), 1);
}

#[tokio::test]
async fn a_team_member_named_in_the_config_is_allowed_and_a_pending_member_is_not() {
    let config = format!("{DEFAULT_CONFIG}roles:\n  release: [\"@acme/release-managers\"]\n");
    let app = TestApp::spawn_with_config(&config).await;
    {
        let mut w = app.github.world();
        let team = w
            .teams
            .entry(("acme".into(), "release-managers".into()))
            .or_default();
        team.insert("tess".into(), "active".into());
        team.insert("pete".into(), "pending".into());
        w.collaborators.insert("tess".into(), "read".into());
        w.collaborators.insert("pete".into(), "admin".into());
    }
    app.through_staging().await;
    let (id, _) = app.comment("pete", "/approve").await;
    assert_eq!(
        app.github.world().reactions_on(id),
        vec!["-1"],
        "pending membership is no membership"
    );
    assert_eq!(app.dispatch_count(), 1);
    // rita (maintain) is not in the configured list.
    let (id, _) = app.comment("rita", "/approve").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    let (id, _) = app.comment("tess", "/approve").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["+1"]);
    assert_eq!(w.dispatches.len(), 2);
    assert_eq!(w.dispatches[1].input("requested_by"), "tess");
}

#[tokio::test]
async fn when_the_permission_api_fails_the_answer_is_no() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.github.world().permission_api_down = true;
    let (id, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert!(app.last_reply().contains("qa role"), "{}", app.last_reply());
    assert_eq!(app.dispatch_count(), 0);
}

fn permission_reads(app: &TestApp, login: &str) -> usize {
    app.github.world().calls(&format!(
        "GET /repos/acme/widgets/collaborators/{login}/permission"
    ))
}

/// Someone without write access posting gate commands over and over costs
/// one permission read a minute, not one per comment, and no CI read the
/// rate limit counts: they cannot spend the installation's API budget that
/// way. (Their first command's CI read goes out with the permission read,
/// before gatebot knows they lack the role; it is a conditional read
/// GitHub answers 304, which its rate limit does not count. Once refused,
/// no CI read goes out at all.) Each comment is still refused and told.
#[tokio::test]
async fn a_read_only_users_commands_cost_one_permission_read_a_minute() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let listings = || {
        app.github.world().calls(&format!(
            "GET /repos/acme/widgets/commits/{SHA1}/check-runs"
        ))
    };
    let counted_listings = || {
        let w = app.github.world();
        let listing = format!("GET /repos/acme/widgets/commits/{SHA1}/check-runs");
        w.counted.iter().filter(|r| **r == listing).count()
    };
    let listed = listings();
    let counted = counted_listings();
    for _ in 0..10 {
        let (id, _) = app.comment("randy", "/lgtm").await;
        assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
        assert!(app.last_reply().contains("qa role"), "{}", app.last_reply());
    }
    assert_eq!(permission_reads(&app, "randy"), 1);
    assert_eq!(
        counted_listings(),
        counted,
        "a refused command spends no CI read"
    );
    assert!(
        listings() <= listed + 1,
        "only the first command's CI read went out: {} then {}",
        listed,
        listings()
    );
    assert_eq!(app.dispatch_count(), 0);
}

/// A grant is never remembered: a writer removed from the repository is
/// refused at their very next command.
#[tokio::test]
async fn a_removal_counts_at_the_next_command() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (id, _) = app.comment("quinn", "/hold checking").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    app.comment("quinn", "/unhold").await;
    app.github
        .world()
        .collaborators
        .insert("quinn".into(), "read".into());
    let (id, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert_eq!(app.dispatch_count(), 0);
    assert_eq!(permission_reads(&app, "quinn"), 3, "read for every comment");
}

/// The price of the above, as documented: a user given write access right
/// after a refusal waits out the refusal's time; then they count.
#[tokio::test]
async fn a_user_given_write_access_counts_once_the_refusal_is_forgotten() {
    let app = TestApp::spawn_tuned(Tuning {
        refusal_ttl: Duration::from_millis(300),
        ..Tuning::default()
    })
    .await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (id, _) = app.comment("randy", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    app.github
        .world()
        .collaborators
        .insert("randy".into(), "write".into());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (id, _) = app.comment("randy", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1);
}
