//! A pull request that changes `.github/gatebot.yml` gets a "gatebot
//! config" check run: its version checked, problems as annotations on
//! their lines. It gates nothing (the default branch's file rules) and, as
//! gatebot's own check run, never counts as CI.

use crate::harness::{DEFAULT_CONFIG, SHA1, TestApp};

const PATH: &str = ".github/gatebot.yml";

async fn with_head_config(text: &str) -> TestApp {
    let app = TestApp::spawn().await;
    app.github
        .world()
        .files
        .insert((SHA1.to_string(), PATH.to_string()), text.to_string());
    app
}

/// The "gatebot config" check runs on the head, with their annotations.
fn config_checks(app: &TestApp) -> Vec<(Option<String>, Option<String>, Vec<serde_json::Value>)> {
    let w = app.github.world();
    w.check_runs
        .iter()
        .filter(|c| c.sha == SHA1 && c.name == "gatebot config")
        .map(|c| {
            (
                c.conclusion.clone(),
                c.title.clone(),
                w.annotations.get(&c.id).cloned().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_broken_change_fails_with_annotations_and_the_default_branchs_file_still_rules() {
    let app = with_head_config(
        "pipeline:\n  - { environment: staging, workflow: cd-stage.yml, entry: { command: lgtm, role: qa } }\n  - { environment: production, workflow: cd-prod.yml, entry: { command: approve, role: release }, soak: 1x }\n",
    )
    .await;
    app.open_pr().await;
    let checks = config_checks(&app);
    assert_eq!(checks.len(), 1, "{checks:?}");
    let (conclusion, title, annotations) = &checks[0];
    assert_eq!(conclusion.as_deref(), Some("failure"));
    assert_eq!(
        title.as_deref(),
        Some("1 problem(s) in .github/gatebot.yml")
    );
    assert_eq!(annotations.len(), 1);
    assert_eq!(annotations[0]["path"], PATH);
    assert_eq!(annotations[0]["start_line"], 3);
    assert!(
        annotations[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("pipeline[1].soak"),
        "{annotations:?}"
    );
    // The default branch's file rules: /lgtm deploys staging.
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 1);
}

#[tokio::test]
async fn a_valid_change_passes() {
    let app = with_head_config("required_checks: [build, e2e]\n").await;
    app.open_pr().await;
    let checks = config_checks(&app);
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].0.as_deref(), Some("success"));
    assert!(checks[0].2.is_empty());
}

/// With no `required_checks`, every check run but gatebot's counts: its
/// failed config check must not fail CI (nor its success pass it).
#[tokio::test]
async fn its_conclusion_never_counts_as_ci() {
    let app = TestApp::spawn_with_config("").await;
    app.github
        .world()
        .files
        .insert((SHA1.to_string(), PATH.to_string()), "pipline: []\n".into());
    app.open_pr().await;
    assert_eq!(config_checks(&app)[0].0.as_deref(), Some("failure"));
    app.ci_green(SHA1).await;
    let (lgtm, _) = app.comment("quinn", "/lgtm").await;
    let reply = app.last_reply();
    assert_eq!(app.github.world().reactions_on(lgtm), vec!["+1"], "{reply}");
    assert_eq!(app.dispatch_count(), 1);
}

#[tokio::test]
async fn a_pr_that_leaves_the_config_alone_gets_no_config_check() {
    let app = with_head_config(DEFAULT_CONFIG).await;
    app.open_pr().await;
    assert!(config_checks(&app).is_empty());
    // The comparison the PR's observation read says the PR does not touch
    // the file (asked again, a 304): the head's copy is not read at all,
    // only the default branch's.
    let w = app.github.world();
    assert_eq!(
        w.calls(&format!("GET /repos/acme/widgets/contents/{PATH}")),
        1
    );
    let compares = |list: &[String]| {
        list.iter()
            .filter(|r| r.starts_with("GET /repos/acme/widgets/compare/"))
            .count()
    };
    assert_eq!(compares(&w.counted), 1, "{:?}", w.requests);
    assert_eq!(compares(&w.not_modified), 1, "{:?}", w.requests);
}
