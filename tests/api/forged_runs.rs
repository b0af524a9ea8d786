//! A run counts as gatebot's dispatch only by the id GitHub returned for
//! it, or — when no id came back — by passing every check: a
//! `workflow_dispatch` run of the workflow, on the dispatched branch, in
//! the base repository, started and triggered by gatebot's own bot, named
//! with both the `dispatch_id` and the SHA. The first such run is linked;
//! any other run naming the same `dispatch_id` is rejected for good. The
//! protection rule, `workflow_run` deliveries and the reconciler all judge
//! by this one rule.

use gatebot::testing::domain::{Environment, RepoName};

use crate::fake_github::{BOT, Run};
use crate::harness::{SHA1, TestApp};

/// A collaborator with write access runs `cd-prod.yml` by hand, typing in
/// the `dispatch_id` of a production dispatch whose call failed before
/// GitHub acted (so gatebot has no run id for it).
#[tokio::test]
async fn a_hand_started_run_naming_a_pending_dispatch_is_rejected_and_not_adopted() {
    let app = TestApp::spawn().await;
    app.through_staging().await;
    app.github.world().dispatch_outage = Some(false);
    app.comment("rita", "/approve").await;
    assert_eq!(
        app.dispatch_count(),
        1,
        "the prod dispatch did not go through"
    );
    let pending = app
        .state()
        .await
        .deploy_to(&Environment::production())
        .cloned()
        .expect("prod dispatch pending");
    assert_eq!(pending.run_id, None);
    let title = format!("production {SHA1} [{}]", pending.dispatch_id);
    app.github
        .world()
        .runs
        .push(Run::manual(66_001, "cd-prod.yml", &title, "mallory"));

    // Its deployment asks gatebot: rejected, saying why.
    app.ask_production(66_001).await;
    let reviews = app.reviews();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].1, "rejected");
    assert!(reviews[0].2.contains("@mallory"), "{}", reviews[0].2);

    // Its completion does not count as the production deploy.
    {
        app.github
            .world()
            .complete_run(66_001, "success", chrono::Utc::now());
    }
    let status = app
        .send("workflow_run", &app.run_payload(66_001, "success"))
        .await;
    assert_eq!(status, "ignored");
    let prod = app
        .state()
        .await
        .deploy_to(&Environment::production())
        .cloned()
        .expect("still pending");
    assert_eq!((prod.run_id, prod.status), (None, pending.status));

    // The reconciler does not adopt it either: it finds no run of
    // gatebot's, so it dispatches (once).
    app.reconcile_settled().await;
    let real = {
        let w = app.github.world();
        assert_eq!(w.dispatches.len(), 2);
        assert_eq!(w.dispatches[1].workflow, "cd-prod.yml");
        assert_eq!(pending.dispatch_id, w.dispatches[1].input("dispatch_id"));
        w.dispatches[1].run_id.expect("a run")
    };
    let record = app
        .store
        .dispatch_by_id(
            &RepoName::parse("acme/widgets").unwrap(),
            &pending.dispatch_id,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.run_id,
        Some(real),
        "linked to gatebot's run, not 66001"
    );

    // Positive control: gatebot's own run of that dispatch is approved.
    app.ask_production(real).await;
    let r = &app.reviews()[1];
    assert_eq!((r.0, r.1.as_str()), (real, "approved"), "{}", r.2);
    app.finish_dispatch(1, "success").await;
    assert_eq!(app.stage().await, gatebot::testing::gate::Stage::Deployed);
}

/// Without run ids from GitHub (an older server refuses
/// `return_run_details`), every run is judged by the checks.
async fn runs_found_by_name_must_pass_every_check(app: TestApp) {
    app.github.world().refuse_run_details = true;
    // Staging's run is linked by name, since no id came back.
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    let (id, real, title) = {
        let w = app.github.world();
        let d = &w.dispatches[1];
        assert!(!d.returned_run);
        let real = d.run_id.unwrap();
        let title = w
            .runs
            .iter()
            .find(|r| r.id == real)
            .unwrap()
            .display_title
            .clone();
        (
            gatebot::testing::domain::DispatchId::parse(d.input("dispatch_id")).expect("an id"),
            real,
            title,
        )
    };

    // A run of the workflow from another branch, even started by gatebot's
    // bot and named right: rejected.
    let mut other_branch = Run::manual(66_100, "cd-prod.yml", &title, BOT);
    other_branch.head_branch = "evil".into();
    app.github.world().runs.push(other_branch);
    app.ask_production(66_100).await;
    let r = &app.reviews()[0];
    assert_eq!(r.1, "rejected");
    assert!(r.2.contains("branch \"evil\""), "{}", r.2);

    // Positive control: gatebot's own run passes every check, is linked
    // and approved.
    app.ask_production(real).await;
    assert_eq!(app.reviews()[1].1, "approved", "{}", app.reviews()[1].2);

    // A second run with the same name, however genuine it looks, is not
    // the dispatch's: the first one is linked for good.
    app.github
        .world()
        .runs
        .push(Run::manual(66_101, "cd-prod.yml", &title, BOT));
    app.ask_production(66_101).await;
    let r = &app.reviews()[2];
    assert_eq!(r.1, "rejected");
    assert!(r.2.contains(&format!("run {real}")), "{}", r.2);
    {
        app.github
            .world()
            .complete_run(66_101, "failure", chrono::Utc::now());
    }
    let status = app
        .send("workflow_run", &app.run_payload(66_101, "failure"))
        .await;
    assert_eq!(status, "ignored", "its failure is not production's");
    assert_eq!(
        app.stage().await,
        gatebot::testing::gate::Stage::Deploying(1)
    );
    let record = app
        .store
        .dispatch_by_id(&RepoName::parse("acme/widgets").unwrap(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.run_id, Some(real));
    app.finish_dispatch(1, "success").await;
    assert_eq!(app.stage().await, gatebot::testing::gate::Stage::Deployed);
}

#[tokio::test]
async fn runs_found_by_name_must_pass_every_check_on_sqlite() {
    runs_found_by_name_must_pass_every_check(TestApp::spawn().await).await;
}

#[tokio::test]
async fn runs_found_by_name_must_pass_every_check_on_dynamodb() {
    runs_found_by_name_must_pass_every_check(TestApp::spawn_on_dynamodb().await).await;
}

/// A re-run of gatebot's run by a person is triggered by that person: not
/// gatebot's dispatch when matched by name.
#[tokio::test]
async fn a_run_triggered_by_someone_else_is_rejected() {
    let app = TestApp::spawn().await;
    app.github.world().refuse_run_details = true;
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    let title = {
        let w = app.github.world();
        let real = w.dispatches[1].run_id.unwrap();
        w.runs
            .iter()
            .find(|r| r.id == real)
            .unwrap()
            .display_title
            .clone()
    };
    let mut rerun = Run::manual(66_200, "cd-prod.yml", &title, BOT);
    rerun.triggering_actor = "mallory".into();
    app.github.world().runs.push(rerun);
    app.ask_production(66_200).await;
    let r = &app.reviews()[0];
    assert_eq!(r.1, "rejected");
    assert!(r.2.contains("triggered by @mallory"), "{}", r.2);
}

/// gatebot reads its App's slug once, not per run.
#[tokio::test]
async fn the_apps_slug_is_read_once() {
    let app = TestApp::spawn().await;
    app.github.world().refuse_run_details = true;
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    app.finish_dispatch(1, "success").await;
    assert_eq!(app.github.world().app_reads, 1);
}
