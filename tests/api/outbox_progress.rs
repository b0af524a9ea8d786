//! Side effects are recorded one by one as they complete, a webhook spends
//! a bounded time on them, and the reconciler finishes the rest without
//! repeating what was done; one slow or failing PR never holds up a
//! reconcile pass for the others.

use std::time::Duration;

use gatebot::testing::domain::{Environment, PrKey, RepoName};

use gatebot::testing::store::Store;

use crate::harness::{SHA1, SHA2, TestApp, Tuning};

fn key(n: u64) -> PrKey {
    PrKey {
        repo: RepoName::parse("acme/widgets").unwrap(),
        number: n,
    }
}

async fn pending(app: &TestApp, n: u64) -> usize {
    app.store
        .load_gate(&key(n))
        .await
        .unwrap()
        .unwrap()
        .value
        .pending
        .len()
}

/// A `/gates` + `/lgtm` comment whose staging dispatch GitHub takes 20
/// seconds to answer (it has acted at once): the webhook answers within
/// GitHub's 10 seconds, having posted the reply once; the reconciler then
/// finds the dispatch's run instead of dispatching again, and does not
/// post the reply again.
#[tokio::test]
async fn a_batch_cut_short_is_finished_without_repeating_anything() {
    let app = TestApp::spawn_tuned(Tuning {
        effects_budget: Duration::from_secs(1),
        ..Tuning::default()
    })
    .await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.github
        .world()
        .slow
        .push(("/dispatches".into(), Duration::from_secs(20)));
    // Answered at all means within the harness's 10-second GitHub timeout.
    let (id, status) = app.comment("quinn", "/gates\n/lgtm").await;
    assert_eq!(status, "processed");
    {
        {
            let w = app.github.world();
            assert_eq!(w.reactions_on(id), vec!["+1"]);
            assert_eq!(w.comments.len(), 1, "the reply was posted");
            assert_eq!(w.dispatches.len(), 1, "GitHub acted on the dispatch");
        }
        assert!(
            pending(&app, 42).await >= 1,
            "the dispatch's outcome is pending"
        );

        app.github.world().slow.clear();
        app.reconcile_settled().await;
        let w = app.github.world();
        assert_eq!(w.comments.len(), 1, "the reply was not posted again");
        assert_eq!(w.reactions_on(id), vec!["+1"], "nor the reaction");
        assert_eq!(
            w.dispatches.len(),
            1,
            "the run was found, not dispatched again"
        );
    }
    assert_eq!(pending(&app, 42).await, 0);
    let stage = app
        .state()
        .await
        .deploy_to(&Environment::staging())
        .cloned()
        .expect("staging");
    assert!(stage.run_id.is_some(), "linked to the run GitHub started");
}

/// PR 42's reply hangs; PR 43's goes through in the same pass, and the
/// pass ends within its budget instead of waiting for PR 42.
#[tokio::test]
async fn a_slow_pr_does_not_hold_up_the_others() {
    let app = TestApp::spawn_tuned(Tuning {
        effects_budget: Duration::from_secs(1),
        ..Tuning::default()
    })
    .await;
    app.open_pr().await;
    app.open_other_pr(43, SHA2).await;
    // Replies cannot be posted for now: both PRs keep one pending.
    app.github.world().broken.push(("/comments".into(), 403));
    app.comment("randy", "/gates").await;
    app.comment_on(43, "randy", "/gates").await;
    assert!(pending(&app, 42).await > 0 && pending(&app, 43).await > 0);
    {
        let mut w = app.github.world();
        w.broken.clear();
        w.slow
            .push(("/issues/42/comments".into(), Duration::from_secs(30)));
    }
    let pass = tokio::time::timeout(Duration::from_secs(8), app.reconcile_settled())
        .await
        .expect("the pass ends within its budget, not PR 42's 30 seconds");
    assert!(pass.effects_completed >= 1, "{pass:?}");
    {
        let w = app.github.world();
        assert!(
            w.comments.iter().any(|c| c.issue == 43),
            "PR 43's reply went through"
        );
    }
    assert_eq!(pending(&app, 43).await, 0);
}

/// A watched PR whose GitHub reads fail is counted as a failure; the other
/// watched PR is still served in the same pass.
#[tokio::test]
async fn a_failing_pr_does_not_stop_the_pass() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.open_other_pr(43, SHA2).await;
    app.ci_green(SHA2).await;
    let mut p = app.comment_payload(9043, "quinn", "/lgtm");
    p["issue"]["number"] = serde_json::json!(43);
    app.send("issue_comment", &p).await;
    {
        let mut w = app.github.world();
        assert_eq!(w.dispatches.len(), 2);
        // 43's run completed but its event was lost; 42 cannot be read.
        let run = w.dispatches[1].run_id.unwrap();
        w.complete_run(run, "success", chrono::Utc::now());
        w.broken.push(("/pulls/42".into(), 500));
    }
    let report = app.reconcile_settled().await;
    assert_eq!(report.failures, 1, "{report:?}");
    assert_eq!(report.runs_finished, 1, "{report:?}");
    let w = app.github.world();
    assert_eq!(w.broken.len(), 1);
}

/// The process dies after an action was performed and marked done but
/// before the outbox entry was dropped: the next pass drops it without
/// performing it again.
#[tokio::test]
async fn a_done_action_left_in_the_outbox_is_not_redone() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.comment("randy", "/gates").await;
    assert_eq!(app.github.world().comments.len(), 1);
    let v = app.store.load_gate(&key(42)).await.unwrap().unwrap();
    let mut rec = v.value;
    assert!(rec.pending.is_empty());
    let reply_id = rec.next_action_id - 1;
    rec.pending.push(gatebot::testing::store::PendingAction {
        id: reply_id,
        action: gatebot::testing::gate::Action::Reply {
            body: "the reply, once more".into(),
        },
        attempts: 0,
        last_attempt: None,
        delivery: None,
        queued_at: None,
    });
    app.store.save_gate(&rec, Some(v.version)).await.unwrap();
    let report = app.reconcile_settled().await;
    assert_eq!(report.effects_completed, 0, "{report:?}");
    assert_eq!(app.github.world().comments.len(), 1, "not posted again");
    assert_eq!(pending(&app, 42).await, 0, "and dropped from the outbox");
}

/// The process dies once a dispatch was sent and recorded as sent, before
/// the batch's last write marks it done and drops it from the outbox: once
/// its claim runs out, the reconciler finds it sent, records that, and
/// never sends it again.
#[tokio::test]
async fn a_dispatch_whose_done_marker_was_lost_is_not_sent_again() {
    let store = std::sync::Arc::new(crate::hooked_store::HookedStore::new());
    let app = TestApp::spawn_with_store(crate::harness::DEFAULT_CONFIG, store.clone()).await;
    app.open_pr().await;
    app.ci_green(crate::harness::SHA1).await;
    store
        .lose_bookkeeping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    app.comment("quinn", "/lgtm").await;
    assert_eq!(app.dispatch_count(), 1);
    store
        .lose_bookkeeping
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let pr = PrKey {
        repo: RepoName::parse("acme/widgets").unwrap(),
        number: 42,
    };
    let dispatch = |record: &gatebot::testing::store::GateRecord| {
        record
            .pending
            .iter()
            .find(|p| matches!(p.action, gatebot::testing::gate::Action::Dispatch { .. }))
            .map(|p| p.id)
    };
    let left = store.load_gate(&pr).await.unwrap().unwrap().value;
    let id = dispatch(&left).expect("still in the outbox: nothing recorded it done");
    // Its claim runs out.
    store
        .release(&format!("effect:acme/widgets:42:{id}"))
        .await
        .unwrap();
    app.reconcile_settled().await;
    assert_eq!(app.dispatch_count(), 1, "never sent again");
    let after = store.load_gate(&pr).await.unwrap().unwrap().value;
    assert_eq!(dispatch(&after), None, "done, and dropped from the outbox");
    let audit = store.audit(&pr.repo, Some(42), 100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.detail.contains("was sent by an earlier attempt")),
        "{audit:?}"
    );
}
