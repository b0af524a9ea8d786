//! Conditional requests: every `GET` gatebot repeats carries the `ETag`
//! GitHub gave it, and a `304` (free under the rate limit) is the only way
//! a remembered answer is used. A changed answer is always read anew, so
//! nothing that guards a gate is ever served stale.

use crate::harness::{SHA1, SHA2, TestApp};

const PERMISSION: &str = "GET /repos/acme/widgets/collaborators/quinn/permission";

#[tokio::test]
async fn a_repeated_read_is_conditional_and_a_304_is_free() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "success").await;
    app.comment("quinn", "/verify-stage").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1);
    // quinn's permission is read for each command: the second time GitHub
    // confirms the first answer.
    assert_eq!(w.calls(PERMISSION), 2, "{:?}", w.requests);
    assert_eq!(
        w.not_modified.iter().filter(|r| *r == PERMISSION).count(),
        1
    );
    assert_eq!(w.counted.iter().filter(|r| *r == PERMISSION).count(), 1);
    // The rate limit GitHub reports counts only what it counted.
    assert_eq!(w.counted.len() + w.not_modified.len(), w.requests.len());
}

#[tokio::test]
async fn a_permission_taken_away_is_read_anew_and_the_command_refused() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.open_other_pr(43, SHA2).await;
    app.ci_green(SHA1).await;
    app.ci_green(SHA2).await;
    // quinn's write permission, read (and remembered with its ETag).
    app.comment_on(43, "quinn", "/lgtm").await;
    assert_eq!(app.github.world().dispatches.len(), 1);
    // Taken away on GitHub: the remembered answer no longer matches.
    app.github
        .world()
        .collaborators
        .insert("quinn".into(), "read".into());
    let (comment, _) = app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 1, "no dispatch on a stale permission");
    assert_eq!(w.reactions_on(comment), ["-1"]);
    assert_eq!(
        w.requests.iter().rev().find(|r| *r == PERMISSION),
        w.counted.iter().rev().find(|r| *r == PERMISSION),
        "the last permission read was answered in full"
    );
    assert_eq!(
        w.counted.iter().filter(|r| *r == PERMISSION).count(),
        2,
        "read in full once while it held, once after it changed: {:?}",
        w.requests
    );
}

#[tokio::test]
async fn the_rate_limit_left_is_a_metric() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    let text = gatebot::testing::telemetry::metrics()
        .map(|h| h.render())
        .unwrap_or_default();
    for metric in [
        "gatebot_github_rate_limit_remaining ",
        "gatebot_github_rate_limit_remaining_percent ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(metric)),
            "{metric} missing from /metrics"
        );
    }
    assert!(
        text.contains("gatebot_github_requests_total{method=\"GET\",status=\"304\"}"),
        "304s are counted by status"
    );
}

/// A gate command reads CI for the head gatebot knows at the same time as
/// the PR. When the PR's read says the head moved (its push not delivered
/// yet), that early read is not used: CI is read for the new head, which
/// has none, and nothing is dispatched.
#[tokio::test]
async fn an_early_ci_read_of_a_head_that_moved_is_not_used() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    {
        let mut w = app.github.world();
        let pr = w.prs.get_mut(&42).expect("pr");
        pr.head = SHA2.into();
        let branch = pr.head_ref.clone();
        w.activity.push((branch, SHA2.into(), "alice".into()));
    }
    let (id, _) = app.comment("quinn", "/lgtm").await;
    {
        let w = app.github.world();
        assert!(w.dispatches.is_empty(), "{:?}", w.dispatches);
        assert_eq!(w.reactions_on(id), ["-1"]);
    }
    let state = app.state().await;
    assert_eq!(state.head_sha.as_str(), SHA2);
    assert_eq!(
        state.ci,
        gatebot::testing::gate::ci::CiStatus::Pending,
        "the new head has no CI: the old head's green is not its"
    );
}
