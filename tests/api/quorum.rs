//! Production needs a quorum of distinct approvers.

use crate::harness::TestApp;

#[tokio::test]
async fn quorum_of_two_dispatches_exactly_once_on_the_second_distinct_approval() {
    let app = TestApp::spawn_with_config("required_checks: [build]\napprovals: {prod: 2}\n").await;
    app.through_staging().await;
    assert_eq!(app.dispatch_count(), 1);
    let (first, _) = app.comment("rita", "/approve").await;
    assert_eq!(app.github.world().reactions_on(first), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1, "one approval of two");
    app.comment("rita", "/approve").await;
    assert_eq!(
        app.dispatch_count(),
        1,
        "the same approver twice is still one"
    );
    app.comment("rob", "/approve").await;
    assert_eq!(app.dispatch_count(), 2);
    let (late, _) = app.comment("rob", "/approve").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 2, "never a second prod dispatch");
    assert_eq!(w.dispatches[1].workflow, "cd-prod.yml");
    assert_eq!(w.dispatches[1].input("requested_by"), "rob");
    assert_eq!(w.reactions_on(late), vec!["-1"]);
}

#[tokio::test]
async fn approve_cancel_withdraws_an_approval_before_dispatch() {
    let app = TestApp::spawn_with_config("required_checks: [build]\napprovals: {prod: 2}\n").await;
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    let (cancel, _) = app.comment("rita", "/approve cancel").await;
    assert_eq!(app.github.world().reactions_on(cancel), vec!["+1"]);
    app.comment("rob", "/approve").await;
    assert_eq!(app.dispatch_count(), 1, "rita withdrew: still one of two");
    app.comment("rita", "/approve").await;
    assert_eq!(app.dispatch_count(), 2);
}
