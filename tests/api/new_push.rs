//! A new head SHA voids every approval given for the old one.

use crate::harness::{SHA1, SHA2, TestApp};

#[tokio::test]
async fn lgtm_given_before_ci_is_acted_on_when_ci_turns_green() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    let (id, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 0, "CI is not green yet");
    app.check(SHA1, "lint", "success").await;
    assert_eq!(app.dispatch_count(), 0, "`build` is the required check");
    app.ci_green(SHA1).await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(w.dispatches[0].input("sha"), SHA1);
    assert_eq!(w.dispatches[0].input("requested_by"), "quinn");
}

#[tokio::test]
async fn push_after_lgtm_voids_it_and_nothing_is_dispatched_for_the_new_sha() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.comment("quinn", "/lgtm").await;
    app.push(SHA2).await;
    app.ci_green(SHA2).await;
    assert_eq!(app.dispatch_count(), 0, "the /lgtm was for {SHA1}");
    // CI for the old SHA arriving late changes nothing either.
    app.ci_green(SHA1).await;
    assert_eq!(app.dispatch_count(), 0);
    {
        let w = app.github.world();
        assert_eq!(
            w.gatebot_runs(SHA2).len(),
            1,
            "a new check run for the new head"
        );
    }
    app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(w.dispatches[0].input("sha"), SHA2);
}

#[tokio::test]
async fn push_after_approve_voids_approvals_until_re_approved() {
    let app = TestApp::spawn_with_config("required_checks: [build]\napprovals: {prod: 2}\n").await;
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    assert_eq!(
        app.dispatch_count(),
        1,
        "1 of 2 approvals: no prod dispatch"
    );

    app.push(SHA2).await;
    app.ci_green(SHA2).await;
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 2);
    assert_eq!(app.github.world().dispatches[1].input("sha"), SHA2);
    app.finish_dispatch(1, "success").await;
    app.comment("quinn", "/verify-stage").await;
    app.comment("rob", "/approve").await;
    assert_eq!(
        app.dispatch_count(),
        2,
        "rita's approval was for the old SHA"
    );
    app.comment("rita", "/approve").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 3);
    assert_eq!(w.dispatches[2].workflow, "cd-prod.yml");
    assert_eq!(w.dispatches[2].input("sha"), SHA2);
}

#[tokio::test]
async fn a_deploy_of_the_old_head_may_finish_without_touching_the_new_heads_gates() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.push(SHA2).await;
    // The staging run for SHA1 completes after the push.
    app.finish_dispatch(0, "success").await;
    let (id, _) = app.comment("quinn", "/verify-stage").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert!(
        app.last_reply().contains("staging is not deployed"),
        "{}",
        app.last_reply()
    );
    let history = app
        .store
        .deploy_history(
            &gatebot::testing::domain::RepoName::parse("acme/widgets").unwrap(),
            &gatebot::testing::domain::Environment::staging(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        history.len(),
        1,
        "the environment record shows the finished deploy"
    );
    assert_eq!(history[0].sha.as_str(), SHA1);
}

#[tokio::test]
async fn reopening_starts_again_and_picks_up_ci_that_is_already_green() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.github
        .world()
        .prs
        .get_mut(&crate::harness::PR)
        .unwrap()
        .state = "closed".into();
    assert_eq!(
        app.send("pull_request", &app.pr_payload("closed", SHA1))
            .await,
        "processed"
    );
    let (id, _) = app.comment("quinn", "/verify-stage").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"], "closed");
    assert!(app.last_reply().contains("closed"), "{}", app.last_reply());
    app.github
        .world()
        .prs
        .get_mut(&crate::harness::PR)
        .unwrap()
        .state = "open".into();
    assert_eq!(
        app.send("pull_request", &app.pr_payload("reopened", SHA1))
            .await,
        "processed"
    );
    // No new check_run delivery: CI on SHA1 is read back from GitHub.
    app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(
        w.dispatches.len(),
        2,
        "gates started again; staging dispatched anew"
    );
    assert_eq!(w.dispatches[1].input("dispatch_id"), "42-staging-0d1a26e-2");
}

#[tokio::test]
async fn a_pr_gatebot_first_sees_closed_is_left_alone() {
    let app = TestApp::spawn().await;
    app.github
        .world()
        .prs
        .get_mut(&crate::harness::PR)
        .unwrap()
        .state = "closed".into();
    assert_eq!(
        app.send("pull_request", &app.pr_payload("closed", SHA1))
            .await,
        "ignored"
    );
    // A command on it is refused: the record made for it says closed.
    let (id, _) = app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["-1"]);
    assert!(w.comments.last().unwrap().body.contains("closed"));
    assert!(w.dispatches.is_empty());
}
