//! `extends: org`: a repository's `.github/gatebot.yml` built on its
//! organisation's, read from the default branch of `acme/.github`; each
//! key the repository sets replaces the organisation's whole. A missing or
//! invalid organisation file fails closed, naming it.

use std::collections::HashMap;

use crate::harness::{SHA1, TestApp};

const ORG: &str = "roles:
  qa: [quinn]
  release: [rita]
pipeline:
  - { environment: dev, workflow: cd-dev.yml, entry: auto }
  - { environment: staging, workflow: cd-stage.yml, entry: { command: lgtm, role: qa } }
  - { environment: production, workflow: cd-prod.yml, entry: { command: approve, role: release } }
";

async fn with_org(repo_file: &str, org_file: Option<&str>) -> TestApp {
    let app = TestApp::spawn_with_config(repo_file).await;
    app.github.world().org_files =
        org_file.map(|text| HashMap::from([(".github/gatebot.yml".to_string(), text.to_string())]));
    app
}

#[tokio::test]
async fn a_repository_extending_org_is_gated_by_the_organisations_chain() {
    // The repository replaces `roles` as a whole: rob is its qa.
    let app = with_org("extends: org\nroles:\n  qa: [rob]\n", Some(ORG)).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    // The organisation's chain: dev goes on green CI.
    {
        let w = app.github.world();
        let workflows: Vec<&str> = w.dispatches.iter().map(|d| d.workflow.as_str()).collect();
        assert_eq!(workflows, ["cd-dev.yml"]);
    }
    app.finish_dispatch(0, "success").await;
    // quinn is the organisation's qa, not the repository's any more.
    let (quinn, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(quinn), vec!["-1"]);
    let (rob, _) = app.comment("rob", "/lgtm").await;
    let reply = app.last_reply();
    assert_eq!(app.github.world().reactions_on(rob), vec!["+1"], "{reply}");
    assert_eq!(app.dispatch_count(), 2, "staging");
}

#[tokio::test]
async fn a_missing_organisation_file_fails_closed_naming_it() {
    let app = with_org("extends: org\n", None).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    assert_eq!(app.dispatch_count(), 0);
    let run = last_check_run(&app);
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let text = format!("{:?} {:?}", run.title, run.summary);
    assert!(
        text.contains("acme/.github's .github/gatebot.yml was not found"),
        "{text}"
    );
    let (lgtm, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(lgtm), vec!["-1"]);
    assert_eq!(app.dispatch_count(), 0);
}

#[tokio::test]
async fn an_invalid_organisation_file_fails_closed_naming_it() {
    let app = with_org("extends: org\n", Some("pipline: []\n")).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    assert_eq!(app.dispatch_count(), 0);
    let run = last_check_run(&app);
    let text = format!("{:?} {:?}", run.title, run.summary);
    assert!(
        text.contains("acme/.github's .github/gatebot.yml: "),
        "{text}"
    );
    assert!(text.contains("pipline"), "{text}");
}

/// The newest gatebot check run on the head.
fn last_check_run(app: &TestApp) -> crate::fake_github::CheckRun {
    let w = app.github.world();
    w.gatebot_runs(SHA1)
        .into_iter()
        .last()
        .cloned()
        .expect("a check run")
}
