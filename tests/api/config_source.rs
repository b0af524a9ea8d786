//! `.github/gatebot.yml` comes from the default branch, never the PR head.

use crate::harness::{DEFAULT_CONFIG, SHA1, TestApp};

#[tokio::test]
async fn config_on_the_pr_branch_is_ignored() {
    let app = TestApp::spawn().await;
    // The PR tries to make randy (read-only) a QA approver.
    app.github.world().files.insert(
        ("feature/widgets".into(), ".github/gatebot.yml".into()),
        "required_checks: [build]\nroles: {qa: [randy]}\n".into(),
    );
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (id, _) = app.comment("randy", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert_eq!(app.dispatch_count(), 0);
}

#[tokio::test]
async fn config_on_the_default_branch_is_used() {
    let config = format!(
        "{DEFAULT_CONFIG}roles: {{qa: [rob]}}\nworkflows: {{stage: deploy-staging.yml, ref: release}}\n"
    );
    let app = TestApp::spawn_with_config(&config).await;
    app.github.world().files.insert(
        ("main".into(), ".github/workflows/deploy-staging.yml".into()),
        "on: workflow_dispatch".into(),
    );
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (quinn, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(
        app.github.world().reactions_on(quinn),
        vec!["-1"],
        "qa is only rob now"
    );
    let (id, _) = app.comment("rob", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["+1"]);
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(w.dispatches[0].workflow, "deploy-staging.yml");
    assert_eq!(
        w.dispatches[0].body["ref"], "release",
        "the configured branch, never the PR's"
    );
}

#[tokio::test]
async fn an_invalid_config_is_reported_on_the_check_run_and_nothing_acts() {
    let app = TestApp::spawn_with_config("required_checks: [build]\napprovers: 2\n").await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let (id, _) = app.comment("quinn", "/lgtm").await;
    {
        let w = app.github.world();
        assert_eq!(w.reactions_on(id), vec!["-1"]);
        assert!(w.comments.last().unwrap().body.contains("gatebot.yml"));
        assert!(w.dispatches.is_empty());
        let run = w.gatebot_runs(SHA1)[0].clone();
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        let summary = run.summary.unwrap_or_default();
        assert!(
            summary.contains("approvers"),
            "the unknown key is named: {summary}"
        );
    }
    // Even someone without the role is told about the config first.
    let (id, _) = app.comment("randy", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert!(
        app.last_reply().contains("gatebot.yml is invalid"),
        "{}",
        app.last_reply()
    );
}

#[tokio::test]
async fn a_missing_config_means_defaults() {
    let app = TestApp::spawn().await;
    app.github
        .world()
        .files
        .remove(&("main".into(), ".github/gatebot.yml".into()));
    app.open_pr().await;
    // Default: every check except gatebot's own must pass, at least one.
    app.check(SHA1, "lint", "success").await;
    app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(w.dispatches[0].workflow, "cd-stage.yml");
}

#[tokio::test]
async fn a_missing_workflow_fails_the_stage_and_says_why() {
    let app = TestApp::spawn().await;
    app.github
        .world()
        .files
        .remove(&("main".into(), ".github/workflows/cd-stage.yml".into()));
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert!(w.dispatches.is_empty());
    let reply = &w.comments.last().unwrap().body;
    assert!(
        reply.contains("could not dispatch") && reply.contains("404"),
        "{reply}"
    );
    assert_eq!(
        w.gatebot_runs(SHA1)[0].conclusion.as_deref(),
        Some("failure")
    );
}

#[tokio::test]
async fn dispatch_falls_back_when_run_details_are_refused() {
    let app = TestApp::spawn().await;
    app.github.world().refuse_run_details = true;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert!(w.dispatches[0].body.get("return_run_details").is_none());
    assert_eq!(w.dispatches[0].input("dispatch_id"), "42-staging-0d1a26e-1");
}
