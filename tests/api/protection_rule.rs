//! Deployment protection rule: approve only gatebot's own gated production
//! dispatches.

use serde_json::json;

use crate::fake_github::Run;
use crate::harness::TestApp;

async fn prod_dispatched() -> (TestApp, u64) {
    let app = TestApp::spawn().await;
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    let run = app.github.world().dispatches[1].run_id.expect("run id");
    (app, run)
}

#[tokio::test]
async fn approves_the_production_run_gatebot_dispatched() {
    let (app, run) = prod_dispatched().await;
    let status = app.ask_production(run).await;
    assert_eq!(status, "processed");
    let w = app.github.world();
    assert_eq!(w.reviews.len(), 1);
    assert_eq!(w.reviews[0].0, run);
    assert_eq!(w.reviews[0].1["state"], "approved");
    assert_eq!(w.reviews[0].1["environment_name"], "production");
}

#[tokio::test]
async fn rejects_a_manual_dispatch_of_the_prod_workflow() {
    let (app, _) = prod_dispatched().await;
    // Someone runs cd-prod.yml by hand: a run gatebot never dispatched.
    app.github.world().runs.push(Run::manual(
        77_777,
        "cd-prod.yml",
        "production 0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c [manual]",
        "mallory",
    ));
    app.ask_production(77_777).await;
    let w = app.github.world();
    assert_eq!(w.reviews.len(), 1);
    assert_eq!(w.reviews[0].1["state"], "rejected");
}

#[tokio::test]
async fn rejects_a_run_that_copies_a_real_dispatch_id() {
    let (app, run) = prod_dispatched().await;
    let title = app
        .github
        .world()
        .runs
        .iter()
        .find(|r| r.id == run)
        .unwrap()
        .display_title
        .clone();
    app.github
        .world()
        .runs
        .push(Run::manual(88_888, "cd-prod.yml", &title, "mallory"));
    app.ask_production(88_888).await;
    assert_eq!(app.github.world().reviews[0].1["state"], "rejected");
}

#[tokio::test]
async fn rejects_the_staging_run_and_finished_runs() {
    let (app, prod_run) = prod_dispatched().await;
    let stage_run = app.github.world().dispatches[0].run_id.unwrap();
    app.ask_production(stage_run).await;
    app.finish_dispatch(1, "success").await;
    app.ask_production(prod_run).await;
    let w = app.github.world();
    let states: Vec<&serde_json::Value> = w.reviews.iter().map(|r| &r.1["state"]).collect();
    assert_eq!(states, vec![&json!("rejected"), &json!("rejected")]);
}

#[tokio::test]
async fn environments_gatebot_does_not_protect_are_ignored() {
    let (app, run) = prod_dispatched().await;
    let status = app
        .send(
            "deployment_protection_rule",
            &app.protection_payload(run, "preview"),
        )
        .await;
    assert_eq!(status, "ignored");
    assert!(app.github.world().reviews.is_empty());
}

#[tokio::test]
async fn a_run_of_another_workflow_copying_the_dispatch_id_does_not_complete_the_deploy() {
    let (app, run) = prod_dispatched().await;
    let mut p = app.run_payload(run, "success");
    p["workflow_run"]["id"] = serde_json::json!(99_999);
    p["workflow_run"]["path"] = serde_json::json!(".github/workflows/pwn.yml");
    assert_eq!(app.send("workflow_run", &p).await, "ignored");
    let mut p = app.run_payload(run, "success");
    p["workflow_run"]["id"] = serde_json::json!(99_998);
    assert_eq!(app.send("workflow_run", &p).await, "ignored");
    // Same workflow, other run id: the dispatch is linked to `run`, so the
    // gate ignores it and production is still deploying.
    let status = app.ask_production(run).await;
    assert_eq!(status, "processed");
    assert_eq!(
        app.github.world().reviews[0].1["state"],
        "approved",
        "still pending, still gatebot's"
    );
}

/// When gatebot cannot check a run (GitHub's runs API failing), the
/// deployment is rejected: what it cannot check, it does not approve.
#[tokio::test]
async fn a_run_it_cannot_check_is_rejected() {
    let (app, _) = prod_dispatched().await;
    app.github.world().runs.push(Run::manual(
        66_200,
        "cd-prod.yml",
        "production by hand",
        "quinn",
    ));
    {
        let mut w = app.github.world();
        // Every attempt of the read fails; the review's POST then works.
        for _ in 0..gatebot::testing::github::retry::ATTEMPTS {
            w.fail_next
                .push(("/actions/runs/66200".into(), 500, Vec::new()));
        }
    }
    app.ask_production(66_200).await;
    let r = &app.reviews()[0];
    assert_eq!((r.0, r.1.as_str()), (66_200, "rejected"));
    assert!(r.2.contains("could not check this run"), "{}", r.2);
}
