//! Chains of stages other than the two-stage default, end to end through
//! the router, the octocrab client and the store: the platform's dev →
//! staging → production, two production regions with their own quorum and
//! soak, a middle stage that fails and is retried, and `/rollback <env>`
//! on every stage.

use std::time::Duration;

use crate::harness::{SHA1, SHA2, TestApp};

/// The platform's chain: dev on green CI, staging on `/lgtm` once dev
/// passed, production on `/verify-stage` and two `/approve`s.
pub const PLATFORM: &str = include_str!("../../tests/fixtures/chains/platform-protected.yml");

/// dev, staging, then prod-eu (two approvals) and prod-us (one, two
/// seconds after prod-eu passed).
const REGIONS: &str = include_str!("../../tests/fixtures/chains/regions-short-soak.yml");

impl TestApp {
    /// Completes the newest dispatch.
    async fn finish_last(&self, conclusion: &str) {
        let last = self.dispatch_count() - 1;
        self.finish_dispatch(last, conclusion).await;
    }

    /// (workflow, environment, sha, requested_by, rollback) of dispatch `i`.
    fn dispatched(&self, i: usize) -> (String, String, String, String, String) {
        let w = self.github.world();
        let d = &w.dispatches[i];
        (
            d.workflow.clone(),
            d.input("environment").into(),
            d.input("sha").into(),
            d.input("requested_by").into(),
            d.input("rollback").into(),
        )
    }

    /// The head through every stage of [`PLATFORM`], from green CI.
    async fn through_the_platform_chain(&self, sha: &str) {
        self.ci_green(sha).await;
        self.finish_last("success").await;
        self.comment("quinn", "/lgtm").await;
        self.finish_last("success").await;
        self.comment("quinn", "/verify-stage").await;
        self.comment("rita", "/approve").await;
        self.comment("rob", "/approve").await;
        self.finish_last("success").await;
    }
}

fn row(workflow: &str, env: &str, sha: &str, by: &str) -> (String, String, String, String, String) {
    (
        workflow.into(),
        env.into(),
        sha.into(),
        by.into(),
        "false".into(),
    )
}

#[tokio::test]
async fn the_platform_chain_end_to_end() {
    platform_chain(TestApp::spawn_with_config(PLATFORM).await).await;
}

#[tokio::test]
async fn the_platform_chain_on_the_dynamodb_store() {
    let app = TestApp::spawn_on_dynamodb().await;
    app.github.world().files.insert(
        ("main".into(), ".github/gatebot.yml".into()),
        PLATFORM.into(),
    );
    platform_chain(app).await;
}

async fn platform_chain(app: TestApp) {
    app.open_pr().await;
    // Green CI deploys dev for the author's push.
    app.ci_green(SHA1).await;
    assert_eq!(app.dispatch_count(), 1);
    assert_eq!(app.dispatched(0), row("cd-dev.yml", "dev", SHA1, "alice"));
    {
        let w = app.github.world();
        assert_eq!(w.dispatches[0].input("dispatch_id"), "42-dev-0d1a26e-1");
    }
    // QA's /lgtm before dev passed is recorded and acts when it passes.
    let (lgtm, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(lgtm), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1, "staging waits for dev");
    app.finish_dispatch(0, "success").await;
    assert_eq!(app.dispatch_count(), 2);
    assert_eq!(
        app.dispatched(1),
        row("cd-stage.yml", "staging", SHA1, "quinn")
    );
    app.finish_dispatch(1, "success").await;

    // Production needs the verification and two approvals.
    app.comment("rita", "/approve").await;
    app.comment("quinn", "/verify-stage").await;
    assert_eq!(app.dispatch_count(), 2, "one approval of two");
    let (gates, _) = app.comment("randy", "/gates").await;
    assert_eq!(app.github.world().reactions_on(gates), vec!["+1"]);
    let summary = app.last_reply();
    for line in [
        "**waiting for production approval (/approve)**",
        "| dev deploy | ✅ deployed",
        "| staging verified (/verify-stage) | ✅ verified | @quinn",
        "| production /approve (release) | ⏳ 1/2 | @rita",
    ] {
        assert!(summary.contains(line), "{line}\n{summary}");
    }
    app.comment("rob", "/approve").await;
    assert_eq!(app.dispatch_count(), 3);
    assert_eq!(
        app.dispatched(2),
        row("cd-prod.yml", "production", SHA1, "rob")
    );

    // Production's protection rule approves only production's own deploy.
    let (prod_run, dev_run) = {
        let w = app.github.world();
        (
            w.dispatches[2].run_id.expect("run"),
            w.dispatches[0].run_id.expect("run"),
        )
    };
    app.ask_production(prod_run).await;
    app.ask_production(dev_run).await;
    let reviews = app.reviews();
    assert_eq!(reviews[0].1, "approved", "{reviews:?}");
    assert_eq!(reviews[1].1, "rejected", "{reviews:?}");
    assert!(
        reviews[1].2.contains("is not a deploy to production"),
        "{reviews:?}"
    );

    app.finish_dispatch(2, "success").await;
    let w = app.github.world();
    let runs = w.gatebot_runs(SHA1);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
    let summary = runs[0].summary.clone().unwrap_or_default();
    assert!(summary.contains("deployed to production"), "{summary}");
}

#[tokio::test]
async fn help_lists_the_commands_of_the_repositorys_chain() {
    let app = TestApp::spawn_with_config(REGIONS).await;
    app.open_pr().await;
    app.comment("randy", "/help").await;
    let help = app.last_reply();
    for line in [
        "| (no command) | automatic | gatebot deploys the head commit to dev once CI is green |",
        "| `/approve prod-eu` | release |",
        "| `/approve prod-us` | release |",
        "| `/retry <environment>` |",
    ] {
        assert!(help.contains(line), "{line}\n{help}");
    }
}

#[tokio::test]
async fn two_regions_with_their_own_quorum_and_soak() {
    let app = TestApp::spawn_with_config(REGIONS).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.finish_last("success").await;
    app.comment("quinn", "/lgtm").await;
    app.finish_last("success").await;
    assert_eq!(app.dispatch_count(), 2);

    // A word two stages share must name one; the reply lists them.
    let (bare, _) = app.comment("rita", "/approve").await;
    assert_eq!(app.github.world().reactions_on(bare), vec!["confused"]);
    assert!(
        app.last_reply()
            .contains("`/approve` gates several stages (`prod-eu`, `prod-us`): name one"),
        "{}",
        app.last_reply()
    );

    // The delivery's answer names the line it did not understand.
    let payload = app.comment_payload(99_001, "rita", "/approve");
    let (code, answer) = app
        .send_as("issue_comment", &app.delivery_id(), &payload)
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        answer["detail"], "acme/widgets#42: /approve (not understood) by @rita",
        "{answer}"
    );

    // prod-us's approval, given early, waits for prod-eu and its soak.
    app.comment("rita", "/approve prod-us").await;
    app.comment("rita", "/approve prod-eu").await;
    assert_eq!(app.dispatch_count(), 2, "prod-eu needs two");
    app.comment("rob", "/approve prod-eu").await;
    assert_eq!(app.dispatch_count(), 3);
    assert_eq!(
        app.dispatched(2),
        row("cd-prod-eu.yml", "prod-eu", SHA1, "rob")
    );
    let passed = std::time::Instant::now();
    app.finish_dispatch(2, "success").await;
    assert_eq!(app.dispatch_count(), 3, "prod-us soaks first");
    app.reconcile_settled().await;
    if passed.elapsed() < Duration::from_millis(1900) {
        // (On a machine too loaded to get here within the soak, this
        // look would rightly dispatch.)
        assert_eq!(app.dispatch_count(), 3, "still soaking");
    }

    // The reconciler watches it and dispatches once the soak is over.
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(passed.elapsed())).await;
    app.reconcile_settled().await;
    assert_eq!(app.dispatch_count(), 4);
    assert_eq!(
        app.dispatched(3),
        row("cd-prod-us.yml", "prod-us", SHA1, "rita")
    );
    app.finish_dispatch(3, "success").await;
    assert_eq!(app.stage().await, gatebot::testing::gate::Stage::Deployed);
}

#[tokio::test]
async fn a_middle_stage_that_fails_is_retried() {
    let app = TestApp::spawn_with_config(PLATFORM).await;
    app.open_pr().await;
    // dev (auto) fails: `/retry dev` by a release holder dispatches it again.
    app.ci_green(SHA1).await;
    app.finish_dispatch(0, "failure").await;
    assert_eq!(
        app.stage().await,
        gatebot::testing::gate::Stage::DeployFailed(0),
        "dev failed"
    );
    let (qa_retry, _) = app.comment("quinn", "/retry dev").await;
    assert_eq!(
        app.github.world().reactions_on(qa_retry),
        vec!["-1"],
        "an auto stage is retried by release"
    );
    let (retry, _) = app.comment("rita", "/retry dev").await;
    assert_eq!(app.github.world().reactions_on(retry), vec!["+1"]);
    assert_eq!(app.dispatched(1), row("cd-dev.yml", "dev", SHA1, "rita"));
    app.finish_dispatch(1, "success").await;

    // staging fails: the check run says so, and a new /lgtm retries it.
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(2, "failure").await;
    {
        let w = app.github.world();
        let runs = w.gatebot_runs(SHA1);
        assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
        assert_eq!(
            runs[0].title.as_deref(),
            Some("gatebot: staging deploy failed")
        );
    }
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 4);
    assert_eq!(
        app.dispatched(3),
        row("cd-stage.yml", "staging", SHA1, "quinn")
    );
    app.finish_dispatch(3, "success").await;
    app.comment("quinn", "/verify-stage").await;
    app.comment("rita", "/approve").await;
    app.comment("rob", "/approve").await;
    assert_eq!(
        app.dispatched(4),
        row("cd-prod.yml", "production", SHA1, "rob")
    );
}

#[tokio::test]
async fn rollback_of_every_stage_redeploys_its_previous_sha() {
    let app = TestApp::spawn_with_config(PLATFORM).await;
    app.open_pr().await;
    app.through_the_platform_chain(SHA1).await;
    app.push(SHA2).await;
    app.through_the_platform_chain(SHA2).await;
    assert_eq!(app.dispatch_count(), 6);
    for (who, command, workflow, env) in [
        ("rita", "/rollback dev", "cd-dev.yml", "dev"),
        ("quinn", "/rollback stage", "cd-stage.yml", "staging"),
        ("rita", "/rollback", "cd-prod.yml", "production"),
    ] {
        let (id, _) = app.comment(who, command).await;
        assert_eq!(
            app.github.world().reactions_on(id),
            vec!["+1"],
            "{command}: {}",
            app.last_reply()
        );
        let last = app.dispatch_count() - 1;
        let (w, e, sha, by, rollback) = app.dispatched(last);
        assert_eq!(
            (
                w.as_str(),
                e.as_str(),
                sha.as_str(),
                by.as_str(),
                rollback.as_str()
            ),
            (workflow, env, SHA1, who, "true"),
            "{command}"
        );
        app.finish_last("success").await;
    }
    let (qa, _) = app.comment("quinn", "/rollback dev").await;
    assert_eq!(
        app.github.world().reactions_on(qa),
        vec!["-1"],
        "dev's rollback needs release"
    );
}

/// Any stage may be protected: gatebot approves its own dispatch to that
/// environment and nothing else asking for it.
#[tokio::test]
async fn a_protected_middle_stage_approves_only_its_own_dispatch() {
    let config = PLATFORM.replace(
        "    verify: { command: verify-stage, role: qa }\n",
        "    verify: { command: verify-stage, role: qa }\n    protected: true\n",
    );
    assert_ne!(config, PLATFORM, "staging is protected");
    let app = TestApp::spawn_with_config(&config).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.finish_last("success").await;
    app.comment("quinn", "/lgtm").await;
    let (dev_run, staging_run) = {
        let w = app.github.world();
        (
            w.dispatches[0].run_id.expect("run"),
            w.dispatches[1].run_id.expect("run"),
        )
    };
    for run_id in [staging_run, dev_run] {
        let payload = app.protection_payload(run_id, "staging");
        assert_eq!(
            app.send("deployment_protection_rule", &payload).await,
            "processed"
        );
    }
    let reviews = app.reviews();
    assert_eq!(reviews[0].1, "approved", "{reviews:?}");
    assert_eq!(reviews[1].1, "rejected", "{reviews:?}");
    assert!(
        reviews[1].2.contains("is not a deploy to staging"),
        "{reviews:?}"
    );
}

/// The attack on an environment named with `_`: the dispatch id it made
/// (`42-prod_eu-…`) was refused by the run-name parser, so the protection
/// rule rejected gatebot's own run and the stage never passed.
#[tokio::test]
async fn an_environment_named_with_an_underscore_is_approved_by_its_run_name() {
    let config = "
required_checks: [build]
pipeline:
  - environment: prod_eu.v2
    workflow: cd-prod-eu.yml
    entry: { command: approve, role: release }
    protected: true
";
    let app = TestApp::spawn_with_config(config).await;
    // An older GitHub: no run id in the answer, so the run is found by
    // the dispatch id in its name.
    app.github.world().refuse_run_details = true;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("rita", "/approve").await;
    let (run_id, dispatch_id) = {
        let w = app.github.world();
        assert_eq!(w.dispatches.len(), 1);
        assert!(!w.dispatches[0].returned_run);
        (
            w.dispatches[0].run_id.expect("a run"),
            w.dispatches[0].input("dispatch_id").to_string(),
        )
    };
    assert_eq!(dispatch_id, "42-prod_eu.v2-0d1a26e-1");
    let payload = app.protection_payload(run_id, "prod_eu.v2");
    assert_eq!(
        app.send("deployment_protection_rule", &payload).await,
        "processed"
    );
    let reviews = app.reviews();
    assert_eq!(reviews[0].1, "approved", "{reviews:?}");
    app.finish_last("success").await;
    assert_eq!(
        app.state().await.stage(
            &gatebot::testing::config::parse(config)
                .expect("config")
                .pipeline
        ),
        gatebot::testing::gate::Stage::Deployed
    );
}
