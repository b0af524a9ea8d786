//! gatebot's check run costs as few GitHub calls as it can, and is never
//! left behind the gates: a delivery that dispatches updates it once (with
//! the run linked), and a new head's check runs are listed once, for CI
//! and for finding gatebot's own.

use crate::fake_github::{APP_ID, CheckRun};
use crate::harness::{SHA1, SHA2, TestApp};

fn patches(app: &TestApp) -> usize {
    app.github
        .world()
        .calls("PATCH /repos/acme/widgets/check-runs/")
}

fn listings(app: &TestApp, sha: &str) -> usize {
    app.github
        .world()
        .calls(&format!("GET /repos/acme/widgets/commits/{sha}/check-runs"))
}

fn creations(app: &TestApp) -> usize {
    app.github
        .world()
        .calls("POST /repos/acme/widgets/check-runs")
}

#[tokio::test]
async fn a_dispatching_lgtm_updates_the_check_run_once_and_it_shows_the_run() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let before = patches(&app);
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 1);
    assert_eq!(
        patches(&app) - before,
        1,
        "one update for the whole delivery"
    );
    {
        let w = app.github.world();
        let ours = w.gatebot_runs(SHA1);
        assert_eq!(ours.len(), 1);
        assert_eq!(
            ours[0].title.as_deref(),
            Some("gatebot: deploying to staging")
        );
        let summary = ours[0].summary.as_deref().unwrap_or("");
        assert!(
            summary.contains("running ([run 9002]"),
            "the update came after the dispatch and shows its run: {summary}"
        );
    }
    let state = app.state().await;
    assert!(
        app.store
            .load_gate(&state.pr)
            .await
            .unwrap()
            .unwrap()
            .value
            .pending
            .is_empty(),
        "the covered update is done, not left for the reconciler"
    );
}

/// Every later update still goes out: covering is only by a newer one.
#[tokio::test]
async fn each_later_change_is_still_sent() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    let before = patches(&app);
    app.finish_dispatch(0, "success").await;
    assert_eq!(patches(&app) - before, 1);
    let w = app.github.world();
    let title = w.gatebot_runs(SHA1)[0].title.clone().unwrap_or_default();
    assert!(title.contains("verify"), "{title}");
}

#[tokio::test]
async fn a_new_head_is_listed_once_for_ci_and_for_the_check_run() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    assert_eq!(listings(&app, SHA1), 1);
    assert_eq!(creations(&app), 1);
    app.push(SHA2).await;
    assert_eq!(listings(&app, SHA2), 1);
    assert_eq!(creations(&app), 2, "one on the new head");
    assert_eq!(app.github.world().gatebot_runs(SHA2).len(), 1);
}

/// gatebot's own check run already on the head (a record restored from a
/// backup, a second installation of the same App): found in the listing CI
/// was read from, and updated rather than made twice.
#[tokio::test]
async fn its_own_check_run_in_that_listing_is_updated_not_made_again() {
    let app = TestApp::spawn().await;
    app.github.world().check_runs.push(CheckRun {
        id: 4100,
        app_id: APP_ID,
        sha: SHA1.into(),
        name: "gatebot".into(),
        status: "in_progress".into(),
        conclusion: None,
        title: Some("old".into()),
        summary: None,
    });
    app.open_pr().await;
    assert_eq!(listings(&app, SHA1), 1);
    assert_eq!(creations(&app), 0);
    let w = app.github.world();
    assert_eq!(w.gatebot_runs(SHA1).len(), 1);
    assert_ne!(w.gatebot_runs(SHA1)[0].title.as_deref(), Some("old"));
}
