//! The full life of a pull request, from opened to deployed.

use crate::harness::{PR, SHA1, TestApp};

#[tokio::test]
async fn full_lifecycle_dispatches_stage_then_prod_and_completes_the_check_run() {
    full_lifecycle(TestApp::spawn().await).await;
}

#[tokio::test]
async fn full_lifecycle_on_the_dynamodb_store() {
    let app = TestApp::spawn_on_dynamodb().await;
    full_lifecycle(app).await;
}

async fn full_lifecycle(app: TestApp) {
    app.open_pr().await;
    {
        let w = app.github.world();
        let runs = w.gatebot_runs(SHA1);
        assert_eq!(runs.len(), 1, "one gatebot check run on the head");
        assert_eq!(runs[0].status, "in_progress");
    }

    app.ci_green(SHA1).await;
    let (lgtm, _) = app.comment("quinn", "/lgtm").await;
    {
        let w = app.github.world();
        assert_eq!(w.reactions_on(lgtm), vec!["+1"]);
        assert_eq!(w.dispatches.len(), 1);
        let d = &w.dispatches[0];
        assert_eq!(d.workflow, "cd-stage.yml");
        assert_eq!(d.body["ref"], "main");
        assert_eq!(d.body["return_run_details"], true);
        assert_eq!(d.input("sha"), SHA1);
        assert_eq!(d.input("pr"), PR.to_string());
        assert_eq!(d.input("environment"), "staging");
        assert_eq!(d.input("dispatch_id"), "42-staging-0d1a26e-1");
        assert_eq!(d.input("requested_by"), "quinn");
        assert_eq!(d.input("rollback"), "false");
        assert_eq!(
            d.body["inputs"].as_object().unwrap().len(),
            6,
            "exactly the SPEC's inputs"
        );
    }

    app.finish_dispatch(0, "success").await;
    let (verify, _) = app.comment("quinn", "/verify-stage").await;
    assert_eq!(app.github.world().reactions_on(verify), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1, "no prod dispatch before /approve");

    let (approve, _) = app.comment("rita", "/approve").await;
    {
        let w = app.github.world();
        assert_eq!(w.reactions_on(approve), vec!["+1"]);
        assert_eq!(w.dispatches.len(), 2);
        let d = &w.dispatches[1];
        assert_eq!(d.workflow, "cd-prod.yml");
        assert_eq!(d.body["ref"], "main");
        assert_eq!(d.input("sha"), SHA1);
        assert_eq!(d.input("pr"), "42");
        assert_eq!(d.input("environment"), "production");
        assert_eq!(d.input("dispatch_id"), "42-production-0d1a26e-2");
        assert_eq!(d.input("requested_by"), "rita");
        assert_eq!(d.input("rollback"), "false");
    }

    app.finish_dispatch(1, "success").await;
    let w = app.github.world();
    let runs = w.gatebot_runs(SHA1);
    assert_eq!(runs.len(), 1, "still exactly one check run for the SHA");
    assert_eq!(runs[0].status, "completed");
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
    let summary = runs[0].summary.clone().unwrap_or_default();
    assert!(summary.contains("deployed to production"), "{summary}");
    assert!(
        summary.contains("@quinn") && summary.contains("@rita"),
        "{summary}"
    );
    assert!(
        w.unauthenticated.is_empty(),
        "unauthenticated calls: {:?}",
        w.unauthenticated
    );
    assert_eq!(w.tokens_issued, 1, "installation token cached");
}

/// `/verify stage` is `/verify-stage` naming the stage: the form every
/// chain answers.
#[tokio::test]
async fn verify_naming_the_stage_verifies_it() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    let (prod, _) = app.comment("quinn", "/verify prod").await;
    let (verify, _) = app.comment("quinn", "/verify stage").await;
    app.comment("rita", "/approve").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(prod), vec!["confused"]);
    assert_eq!(w.reactions_on(verify), vec!["+1"]);
    assert_eq!(w.dispatches.len(), 2, "production dispatched");
    assert_eq!(w.dispatches[1].input("environment"), "production");
}
