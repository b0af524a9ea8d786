//! Budget awareness: gatebot reads GitHub's `x-ratelimit-*` headers and,
//! below the floor (`GATEBOT_RATE_LIMIT_FLOOR`), defers what can wait —
//! check-run updates that complete nothing, the reconciler's sweep — but
//! never a dispatch or the answer to a command.

use crate::harness::{SHA1, TestApp, Tuning};

async fn low_on_budget() -> TestApp {
    let app = TestApp::spawn_tuned(Tuning {
        rate_limit_floor: 100,
        ..Tuning::default()
    })
    .await;
    // 90 an hour: below the floor from the first answer on.
    app.github.world().rate_limit = Some(90);
    app
}

fn title(app: &TestApp) -> String {
    let w = app.github.world();
    let runs = w.gatebot_runs(SHA1);
    assert_eq!(runs.len(), 1, "one gatebot check run");
    runs[0].title.clone().unwrap_or_default()
}

#[tokio::test]
async fn below_the_floor_a_command_still_dispatches_and_is_answered_while_cosmetics_wait() {
    let app = low_on_budget().await;
    app.open_pr().await;
    // Made all the same: branch protection waits for it.
    assert_eq!(title(&app), "gatebot: waiting for CI");
    app.ci_green(SHA1).await;
    assert_eq!(
        title(&app),
        "gatebot: waiting for CI",
        "an update that completes nothing waits"
    );
    let patches = app
        .github
        .world()
        .calls("PATCH /repos/acme/widgets/check-runs/");
    let (comment, _) = app.comment("quinn", "/lgtm").await;
    {
        let w = app.github.world();
        assert_eq!(w.dispatches.len(), 1, "the dispatch is never deferred");
        assert_eq!(w.dispatches[0].input("environment"), "staging");
        assert_eq!(w.reactions_on(comment), ["+1"], "nor the answer");
        assert_eq!(
            w.calls("PATCH /repos/acme/widgets/check-runs/"),
            patches,
            "no check-run update was sent"
        );
    }
    // The reconciler's sweep of the PR in flight waits too.
    let report = app.reconcile_settled().await;
    assert_eq!(report.deferred, 1, "{report:?}");
    assert_eq!(report.failures, 0, "{report:?}");
    assert_eq!(title(&app), "gatebot: waiting for CI");

    // The budget is back (a new hour): the next answer says so, and the
    // check run catches up with where the PR stands.
    app.github.world().rate_limit = None;
    app.finish_dispatch(0, "success").await;
    app.comment("quinn", "/verify-stage").await;
    assert_eq!(
        title(&app),
        "gatebot: waiting for production approval (/approve)"
    );
    let report = app.reconcile_settled().await;
    assert_eq!(report.deferred, 0, "{report:?}");
}

#[tokio::test]
async fn the_check_run_completes_even_below_the_floor() {
    let app = low_on_budget().await;
    app.open_pr().await;
    // Closed without a merge: the check run's completion is no cosmetic.
    app.github.world().prs.get_mut(&42).expect("pr").state = "closed".into();
    let closed = app.pr_payload("closed", SHA1);
    app.send("pull_request", &closed).await;
    let w = app.github.world();
    let runs = w.gatebot_runs(SHA1);
    assert_eq!(runs[0].status, "completed", "{runs:?}");
}

#[tokio::test]
async fn a_floor_of_zero_never_defers() {
    let app = TestApp::spawn().await;
    app.github.world().rate_limit = Some(10);
    app.open_pr().await;
    app.ci_green(SHA1).await;
    assert_eq!(title(&app), "gatebot: waiting for QA review (/lgtm)");
}
