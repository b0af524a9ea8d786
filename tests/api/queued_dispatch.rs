//! A dispatch is re-checked against the gates right before every attempt
//! (the first, a retry, the reconciler's) and when its deployment asks the
//! protection rule. One the gates no longer allow — a `/hold`, a freeze, a
//! push, a close — is cancelled with an audit line and a reply, and the
//! gate dispatches anew once it is allowed again.

use chrono::{Duration, Utc};
use gatebot::testing::domain::{Environment, RepoName};

use crate::harness::{DEFAULT_CONFIG, SHA1, SHA2, TestApp};

/// Production is approved, but the dispatch call fails before GitHub acts
/// (502): it stays queued for the reconciler.
async fn prod_queued(app: &TestApp) {
    app.through_staging().await;
    app.github.world().dispatch_outage = Some(false);
    app.comment("rita", "/approve").await;
    assert_eq!(app.dispatch_count(), 1, "only staging went out");
}

async fn audit_lines(app: &TestApp) -> Vec<String> {
    app.store
        .audit(&RepoName::parse("acme/widgets").unwrap(), Some(42), 200)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect()
}

#[tokio::test]
async fn a_hold_cancels_a_queued_production_dispatch() {
    let app = TestApp::spawn().await;
    prod_queued(&app).await;
    app.comment("rita", "/hold incident 7").await;
    app.reconcile_settled().await;
    assert_eq!(app.dispatch_count(), 1, "nothing sent while held");
    let reply = app.last_reply();
    assert!(
        reply.contains("cancelled the production deploy") && reply.contains("held by @rita"),
        "{reply}"
    );
    assert!(
        audit_lines(&app)
            .await
            .iter()
            .any(|l| l.contains("cancelled: dispatches are held")),
        "an audit line says so"
    );
    assert_eq!(
        app.state()
            .await
            .deploy_to(&Environment::production())
            .cloned(),
        None
    );
    // Released: production is dispatched anew, once.
    app.comment("rita", "/unhold").await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 2);
    assert_eq!(w.dispatches[1].workflow, "cd-prod.yml");
    assert_eq!(
        w.dispatches[1].input("dispatch_id"),
        "42-production-0d1a26e-3"
    );
}

#[tokio::test]
async fn a_push_cancels_a_queued_dispatch_of_the_old_head() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.github.world().dispatch_outage = Some(false);
    app.comment("quinn", "/lgtm").await;
    app.push(SHA2).await;
    app.reconcile_settled().await;
    assert_eq!(app.dispatch_count(), 0, "SHA1 is no longer the head");
    assert!(
        app.last_reply().contains("no longer the head"),
        "{}",
        app.last_reply()
    );
    assert!(app.state().await.detached.is_empty());
}

#[tokio::test]
async fn closing_the_pr_cancels_a_queued_dispatch() {
    let app = TestApp::spawn().await;
    prod_queued(&app).await;
    app.github.world().prs.get_mut(&42).unwrap().state = "closed".into();
    app.send("pull_request", &app.pr_payload("closed", SHA1))
        .await;
    app.reconcile_settled().await;
    assert_eq!(app.dispatch_count(), 1);
    assert!(app.last_reply().contains("closed"), "{}", app.last_reply());
}

#[tokio::test]
async fn a_freeze_that_began_cancels_a_queued_production_dispatch() {
    let from = (Utc::now() + Duration::seconds(2)).to_rfc3339();
    let to = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let config = format!(
        "{DEFAULT_CONFIG}freeze:\n  - {{ from: \"{from}\", to: \"{to}\", reason: \"launch\" }}\n"
    );
    let app = TestApp::spawn_with_config(&config).await;
    prod_queued(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    app.reconcile_settled().await;
    assert_eq!(app.dispatch_count(), 1, "frozen: not sent");
    assert!(app.last_reply().contains("frozen"), "{}", app.last_reply());
}

/// The positive control: nothing changed, so the reconciler sends it.
#[tokio::test]
async fn a_queued_dispatch_the_gates_still_allow_is_sent() {
    let app = TestApp::spawn().await;
    prod_queued(&app).await;
    app.reconcile_settled().await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 2);
    assert_eq!(
        w.dispatches[1].input("dispatch_id"),
        "42-production-0d1a26e-2"
    );
}

/// A dispatch that did go out and whose deployment now asks the protection
/// rule after a `/hold`: rejected, and the dispatch cancelled.
#[tokio::test]
async fn the_protection_rule_re_checks_the_gates() {
    let app = TestApp::spawn().await;
    app.through_staging().await;
    app.comment("rita", "/approve").await;
    let run = app.github.world().dispatches[1].run_id.unwrap();
    app.comment("rita", "/hold wait").await;
    app.ask_production(run).await;
    let r = &app.reviews()[0];
    assert_eq!(r.1, "rejected");
    assert!(r.2.contains("held by @rita"), "{}", r.2);
    assert!(app.last_reply().contains("cancelled the production deploy"));
    assert_eq!(
        app.state()
            .await
            .deploy_to(&Environment::production())
            .cloned(),
        None
    );
}

/// CI re-run red on the same SHA after a failed staging deploy: a retried
/// `/lgtm` reads CI's verdict from GitHub now (no check_run delivery
/// needed) and dispatches nothing; green again, it dispatches.
#[tokio::test]
async fn a_retry_uses_the_current_ci_verdict() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(0, "failure").await;
    // The `build` check is re-run and fails; its delivery is lost.
    app.add_check_run(SHA1, "build", "failure");
    app.comment("quinn", "/lgtm").await;
    assert_eq!(
        app.dispatch_count(),
        1,
        "CI is red: no second staging dispatch"
    );
    assert_eq!(app.stage().await, gatebot::testing::gate::Stage::CiFailed);
    app.ci_green(SHA1).await;
    let w = app.github.world();
    assert_eq!(w.dispatches.len(), 2, "green again: staging retried");
    assert_eq!(w.dispatches[1].input("dispatch_id"), "42-staging-0d1a26e-2");
}
