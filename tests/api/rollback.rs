//! `/rollback` redeploys the previously deployed SHA from stored history.

use crate::harness::{SHA1, SHA2, TestApp};

/// SHA1, then SHA2, deployed to production on the open PR #42
/// (dispatches 0–3).
async fn deploy_sha1_then_sha2(app: &TestApp) {
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.comment("quinn", "/verify-stage").await;
    app.comment("rita", "/approve").await;
    app.finish_dispatch(1, "success").await;
    app.push(SHA2).await;
    app.ci_green(SHA2).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(2, "success").await;
    app.comment("quinn", "/verify-stage").await;
    app.comment("rita", "/approve").await;
    app.finish_dispatch(3, "success").await;
}

async fn prod_history(app: &TestApp) -> Vec<gatebot::testing::store::DeployRecord> {
    app.store
        .deploy_history(
            &gatebot::testing::domain::RepoName::parse("acme/widgets").unwrap(),
            &gatebot::testing::domain::Environment::production(),
            10,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn rollback_dispatches_the_previously_deployed_sha() {
    let app = TestApp::spawn().await;
    let (early, _) = {
        app.open_pr().await;
        app.comment("rita", "/rollback").await
    };
    assert_eq!(
        app.github.world().reactions_on(early),
        vec!["-1"],
        "no history yet"
    );
    assert!(
        app.last_reply().contains("no earlier production deploy"),
        "{}",
        app.last_reply()
    );

    // Deploy SHA1, then SHA2, to production.
    deploy_sha1_then_sha2(&app).await;
    assert_eq!(app.dispatch_count(), 4);

    let (qa, _) = app.comment("quinn", "/rollback prod").await;
    assert_eq!(
        app.github.world().reactions_on(qa),
        vec!["-1"],
        "prod rollback needs release"
    );
    let (id, _) = app.comment("rita", "/rollback prod").await;
    {
        let w = app.github.world();
        assert_eq!(w.reactions_on(id), vec!["+1"]);
        assert_eq!(w.dispatches.len(), 5);
        let d = &w.dispatches[4];
        assert_eq!(d.workflow, "cd-prod.yml");
        assert_eq!(d.body["ref"], "main");
        assert_eq!(d.input("sha"), SHA1, "the previously deployed SHA");
        assert_eq!(d.input("environment"), "production");
        assert_eq!(d.input("rollback"), "true");
        assert_eq!(d.input("requested_by"), "rita");
    }
    // The rollback completes and becomes the environment's current deploy.
    app.finish_dispatch(4, "success").await;
    let history = prod_history(&app).await;
    assert_eq!(history[0].sha.as_str(), SHA1);
    assert!(history[0].rollback);
}

#[tokio::test]
async fn stage_rollback_is_for_qa() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.push(SHA2).await;
    app.ci_green(SHA2).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(1, "success").await;
    let (id, _) = app.comment("quinn", "/rollback stage").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["+1"]);
    let d = w.dispatches.last().unwrap();
    assert_eq!(d.workflow, "cd-stage.yml");
    assert_eq!(d.input("sha"), SHA1);
    assert_eq!(d.input("environment"), "staging");
    assert_eq!(d.input("rollback"), "true");
}

/// The PR deployed, was merged, then production broke: `/rollback` works on
/// the closed PR, and its deployment is approved by the protection rule.
#[tokio::test]
async fn rollback_works_after_merge() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    deploy_sha1_then_sha2(&app).await;
    // Merged.
    app.github
        .world()
        .prs
        .get_mut(&crate::harness::PR)
        .unwrap()
        .state = "closed".into();
    app.send("pull_request", &app.pr_payload("closed", SHA2))
        .await;
    let (qa, _) = app.comment("quinn", "/rollback prod").await;
    assert_eq!(
        app.github.world().reactions_on(qa),
        vec!["-1"],
        "still needs the role"
    );
    let (id, _) = app.comment("rita", "/rollback prod").await;
    let run = {
        let w = app.github.world();
        assert_eq!(w.reactions_on(id), vec!["+1"], "{:?}", w.comments.last());
        let d = &w.dispatches[4];
        assert_eq!((d.input("sha"), d.input("rollback")), (SHA1, "true"));
        d.run_id.unwrap()
    };
    app.ask_production(run).await;
    assert_eq!(app.reviews()[0].1, "approved", "{}", app.reviews()[0].2);
    app.finish_dispatch(4, "success").await;
    let history = prod_history(&app).await;
    assert_eq!((history[0].sha.as_str(), history[0].rollback), (SHA1, true));
}

/// Two production deploys whose completions are delivered in the reverse
/// of the order they completed in: the one that completed last is the
/// current deploy, and the rollback target is the other.
async fn history_follows_completion_not_arrival(app: TestApp) {
    let t0 = chrono::Utc::now();
    app.through_staging().await;
    app.comment("rita", "/approve").await; // dispatch 1: prod of SHA1 on #42
    app.open_other_pr(43, SHA2).await;
    app.ci_green(SHA2).await;
    for cmd in ["/lgtm"] {
        app.comment_on(43, "quinn", cmd).await;
    }
    app.finish_dispatch(2, "success").await; // #43 staging
    app.comment_on(43, "quinn", "/verify-stage").await;
    app.comment_on(43, "rita", "/approve").await; // dispatch 3: prod of SHA2 on #43
    assert_eq!(app.dispatch_count(), 4);
    // #42's deploy completed first, but its event is delivered last.
    app.finish_dispatch_at(3, "success", t0 + chrono::Duration::minutes(20))
        .await;
    app.finish_dispatch_at(1, "success", t0 + chrono::Duration::minutes(10))
        .await;
    let history = prod_history(&app).await;
    let shas: Vec<&str> = history.iter().map(|d| d.sha.as_str()).collect();
    assert_eq!(shas, vec![SHA2, SHA1], "newest completion first");
    let (id, _) = app.comment("rita", "/rollback prod").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["+1"]);
    assert_eq!(w.dispatches[4].input("sha"), SHA1, "back from SHA2 to SHA1");
}

#[tokio::test]
async fn history_follows_completion_not_arrival_on_sqlite() {
    history_follows_completion_not_arrival(TestApp::spawn().await).await;
}

#[tokio::test]
async fn history_follows_completion_not_arrival_on_dynamodb() {
    history_follows_completion_not_arrival(TestApp::spawn_on_dynamodb().await).await;
}

/// The attack: staging rolled back, yet `/approve` promoted the SHA
/// staging no longer ran. A rollback voids the PR's own pass of that
/// environment; `/retry staging` deploys the head again, verified anew.
#[tokio::test]
async fn a_rollback_of_staging_voids_its_pass() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.push(SHA2).await;
    app.ci_green(SHA2).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(1, "success").await;
    app.comment("quinn", "/verify-stage").await;

    let (rb, _) = app.comment("quinn", "/rollback staging").await;
    assert_eq!(app.github.world().reactions_on(rb), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 3);
    assert_eq!(app.github.world().dispatches[2].input("sha"), SHA1);
    assert!(
        app.last_reply()
            .contains("`/retry staging` deploys it again"),
        "{}",
        app.last_reply()
    );
    app.comment("rita", "/approve").await;
    assert_eq!(app.dispatch_count(), 3, "production is not dispatched");
    app.comment("rita", "/gates").await;
    assert!(
        app.last_reply().contains("no longer runs this head"),
        "{}",
        app.last_reply()
    );

    // The rollback finishes; staging runs the head again after /retry,
    // and its verification is given anew.
    app.finish_dispatch(2, "success").await;
    app.comment("quinn", "/retry staging").await;
    assert_eq!(app.dispatch_count(), 4);
    assert_eq!(app.github.world().dispatches[3].input("sha"), SHA2);
    app.finish_dispatch(3, "success").await;
    assert_eq!(app.dispatch_count(), 4, "verification first");
    app.comment("quinn", "/verify-stage").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 5, "rita's approval stood");
    assert_eq!(w.dispatches[4].input("environment"), "production");
}
