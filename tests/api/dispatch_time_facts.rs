//! The facts that guard a dispatch are read at the moment of the dispatch:
//! the PR's head, state and base, its CI, the repository's default branch
//! (and the config on it), and the roles of the people the dispatch rests
//! on. Each test is an attack on a dispatch made from stored facts.

use std::sync::Arc;

use chrono::{Duration, Utc};
use gatebot::testing::domain::RepoName;
use gatebot::testing::gate::Hold;
use gatebot::testing::store::Store;

use crate::harness::{DEFAULT_CONFIG, SHA1, SHA2, TestApp};
use crate::hooked_store::HookedStore;

/// PRs into `main` and `trunk` are gated (so a PR stays gated when the
/// default branch changes under it).
const BOTH: &str = "required_checks: [build]\nbranches: [main, trunk]\n";

/// The repository's default branch becomes `trunk`, with its own config
/// (staging deployed by `deploy-staging.yml`) and workflows; `main` stays
/// behind, pushable by whoever could push there.
fn default_branch_becomes_trunk(app: &TestApp) {
    let mut w = app.github.world();
    w.default_branch = "trunk".into();
    for wf in ["deploy-staging.yml", "cd-stage.yml", "cd-prod.yml"] {
        w.files.insert(
            ("trunk".into(), format!(".github/workflows/{wf}")),
            "on: workflow_dispatch".into(),
        );
    }
    w.files.insert(
        ("trunk".into(), ".github/gatebot.yml".into()),
        format!("{BOTH}workflows: {{stage: deploy-staging.yml}}\n"),
    );
}

#[tokio::test]
async fn a_dispatch_after_the_default_branch_changed_runs_from_the_new_one() {
    let app = TestApp::spawn_with_config(BOTH).await;
    app.open_pr().await;
    // The /lgtm is recorded; CI is not green yet.
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 0);
    default_branch_becomes_trunk(&app);
    // CI turns green: the delivery still names `main` (the fixture's
    // repository), and the record was made when `main` was the default.
    app.ci_green(SHA1).await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(
        w.dispatches[0].body["ref"], "trunk",
        "the default branch of now, not the one stored"
    );
    assert_eq!(
        w.dispatches[0].workflow, "deploy-staging.yml",
        "the workflow trunk's config names"
    );
}

#[tokio::test]
async fn the_reconciler_reads_the_config_of_the_new_default_branch() {
    let app = TestApp::spawn_with_config(BOTH).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    // The staging dispatch fails before GitHub acts: it stays queued.
    app.github.world().dispatch_outage = Some(false);
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 0);
    default_branch_becomes_trunk(&app);
    app.reconcile_settled().await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    assert_eq!(w.dispatches[0].body["ref"], "trunk");
    assert_eq!(w.dispatches[0].workflow, "deploy-staging.yml");
}

#[tokio::test]
async fn an_approval_whose_giver_lost_the_role_does_not_dispatch_after_a_freeze() {
    let from = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + Duration::seconds(3)).to_rfc3339();
    let config = format!(
        "{DEFAULT_CONFIG}freeze:\n  - {{ from: \"{from}\", to: \"{to}\", reason: \"launch\" }}\n"
    );
    let app = TestApp::spawn_with_config(&config).await;
    app.through_staging().await;
    let (approve, _) = app.comment("rita", "/approve").await;
    assert_eq!(app.github.world().reactions_on(approve), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1, "frozen: recorded, not dispatched");
    // During the freeze rita loses the release role (maintain → read).
    app.github
        .world()
        .collaborators
        .insert("rita".into(), "read".into());
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    app.reconcile_settled().await;
    assert_eq!(
        app.dispatch_count(),
        1,
        "production is not dispatched on the approval of someone without the role now"
    );
    assert!(
        app.last_reply().contains("cancelled the production deploy"),
        "{}",
        app.last_reply()
    );
    // Someone who holds the role now completes it.
    app.comment("rob", "/approve").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 2);
    assert_eq!(w.dispatches[1].input("environment"), "production");
}

#[tokio::test]
async fn an_approver_whose_account_is_gone_counts_for_nothing() {
    let app = TestApp::spawn().await;
    app.through_staging().await;
    app.github.world().dispatch_outage = Some(false);
    app.comment("rita", "/approve").await;
    assert_eq!(app.dispatch_count(), 1);
    // rita's account is deleted: her id resolves to no one.
    app.github.world().collaborators.remove("rita");
    app.reconcile_settled().await;
    assert_eq!(app.dispatch_count(), 1, "not sent on a vanished approver");
}

/// Staging verified by a verify workflow; production approved while the
/// run is going. Then, in GitHub only (its delivery lost), `change`.
async fn approved_while_verifying(app: &TestApp) {
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.comment("quinn", "/verify-stage").await;
    assert_eq!(app.dispatch_count(), 2, "the verify run");
    app.comment("rita", "/approve").await;
    assert_eq!(app.dispatch_count(), 2, "waits for the verify run");
}

fn production_dispatched(app: &TestApp) -> bool {
    app.github
        .world()
        .dispatches
        .iter()
        .any(|d| d.input("environment") == "production")
}

#[tokio::test]
async fn a_finished_run_does_not_dispatch_a_head_replaced_by_a_lost_push() {
    let app = TestApp::spawn_with_config(&format!(
        "{DEFAULT_CONFIG}workflows: {{verify: smoke.yml}}\n"
    ))
    .await;
    approved_while_verifying(&app).await;
    // A push to the PR: its `synchronize` delivery is lost.
    app.github
        .world()
        .prs
        .get_mut(&crate::harness::PR)
        .expect("pr")
        .head = SHA2.into();
    app.finish_dispatch(1, "success").await;
    assert!(
        !production_dispatched(&app),
        "the approved SHA1 is no longer the head"
    );
    let s = app.state().await;
    assert_eq!(s.head_sha.as_str(), SHA2, "the record follows GitHub");
}

#[tokio::test]
async fn a_finished_run_does_not_dispatch_on_a_ci_that_turned_red_unheard() {
    let app = TestApp::spawn_with_config(&format!(
        "{DEFAULT_CONFIG}workflows: {{verify: smoke.yml}}\n"
    ))
    .await;
    approved_while_verifying(&app).await;
    // A re-run of the build fails: its `check_run` delivery is lost.
    app.add_check_run(SHA1, "build", "failure");
    app.finish_dispatch(1, "success").await;
    assert!(!production_dispatched(&app), "CI is red now");
    // The positive control: green again, and the reconciler dispatches.
    app.add_check_run(SHA1, "build", "success");
    app.reconcile_settled().await;
    app.ci_green(SHA1).await;
    assert!(production_dispatched(&app), "green again: dispatched");
}

/// A dispatch is judged on the record its own transition just wrote, and
/// recorded only if that record is still so. A hold that lands in between
/// (another delivery, at that very moment) moves the record: the dispatch
/// is judged again on a fresh read, and the hold stops it.
#[tokio::test]
async fn a_hold_landing_between_the_transition_and_the_dispatch_stops_it() {
    let store = Arc::new(HookedStore::new());
    let app = TestApp::spawn_with_store(DEFAULT_CONFIG, store.clone()).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    *store.before_dispatch.lock().unwrap() = Some(Box::new(|record| {
        record.state.hold = Some(Hold {
            login: "rita".into(),
            id: None,
            reason: Some("incident".into()),
            at: Utc::now(),
        });
    }));
    app.comment("quinn", "/lgtm").await;
    assert!(
        store.before_dispatch.lock().unwrap().is_none(),
        "the dispatch was judged on the transition's record"
    );
    assert_eq!(app.dispatch_count(), 0, "the hold stops it");
    let audit = store
        .audit(&RepoName::parse("acme/widgets").unwrap(), Some(42), 100)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "dispatch" && e.detail.contains("cancelled")),
        "{audit:?}"
    );
}

/// A change in between that blocks nothing (bookkeeping) costs a fresh
/// read, not the dispatch.
#[tokio::test]
async fn a_harmless_change_between_the_transition_and_the_dispatch_lets_it_go() {
    let store = Arc::new(HookedStore::new());
    let app = TestApp::spawn_with_store(DEFAULT_CONFIG, store.clone()).await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    *store.before_dispatch.lock().unwrap() = Some(Box::new(|record| {
        record.next_action_id += 1;
    }));
    app.comment("quinn", "/lgtm").await;
    assert!(store.before_dispatch.lock().unwrap().is_none());
    assert_eq!(app.dispatch_count(), 1, "judged again, and allowed");
}
