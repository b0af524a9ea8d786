//! `/rollback` redeploys the previously deployed SHA from stored history.

use crate::harness::{SHA1, SHA2, TestApp};

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
    let history = app
        .store
        .deploy_history(
            &gatebot::domain::RepoName::parse("acme/widgets").unwrap(),
            gatebot::domain::Environment::Production,
            10,
        )
        .await
        .unwrap();
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
