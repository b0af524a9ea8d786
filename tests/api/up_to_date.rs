//! Production never goes backwards: a stage with `up_to_date` (by default
//! the last one) is dispatched only for a head that contains the current
//! head of its base branch, read from GitHub's compare API right before
//! the dispatch. Through the real router, on SQLite and on DynamoDB.

use crate::harness::{SHA1, SHA2, TestApp};

fn prod_dispatches(app: &TestApp) -> Vec<String> {
    app.github
        .world()
        .dispatches
        .iter()
        .filter(|d| d.input("environment") == "production")
        .map(|d| d.input("sha").to_string())
        .collect()
}

/// Behind its base, `/approve` is refused and production is not
/// dispatched; a compare that fails answers 5xx and dispatches nothing;
/// after the branch is updated and the gates passed anew, it goes.
async fn behind_then_updated(app: TestApp) {
    app.through_staging().await;
    app.github.world().behind.insert(SHA1.into(), 3);
    let (id, _) = app.comment("rita", "/approve").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["-1"]);
    assert_eq!(
        app.last_reply(),
        "@rita `/approve` refused: production needs the head to contain `main`: 0d1a26e lacks 3 commit(s) of it; update the branch (its gates start again for the new head)."
    );
    assert!(prod_dispatches(&app).is_empty());
    {
        let w = app.github.world();
        let title = w.gatebot_runs(SHA1).last().and_then(|c| c.title.clone());
        assert_eq!(
            title.as_deref(),
            Some(
                "gatebot: waiting for production: production needs the head to contain `main`: 0d1a26e lacks 3 commit(s) of it; update the branch (its gates start again for the new head)"
            )
        );
    }

    // A compare GitHub cannot answer: fail closed, and say so with a 5xx.
    app.github.world().behind.insert(SHA1.into(), 0);
    app.github.world().broken.push(("/compare/".into(), 502));
    let p = app.comment_payload(7001, "rita", "/approve");
    let (code, _) = app.send_as("issue_comment", &app.delivery_id(), &p).await;
    assert!(code >= 500, "answered {code}");
    assert!(prod_dispatches(&app).is_empty());
    app.github.world().broken.clear();

    // Updated: a new head with main in it, its gates given anew.
    app.push(SHA2).await;
    app.ci_green(SHA2).await;
    app.comment("quinn", "/lgtm").await;
    app.finish_dispatch(1, "success").await;
    app.comment("quinn", "/verify-stage").await;
    let (id, _) = app.comment("rita", "/approve").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert_eq!(prod_dispatches(&app), vec![SHA2.to_string()]);
}

#[tokio::test]
async fn behind_base_production_refused_then_dispatched_after_an_update_on_sqlite() {
    behind_then_updated(TestApp::spawn().await).await;
}

#[tokio::test]
async fn behind_base_production_refused_then_dispatched_after_an_update_on_dynamodb() {
    behind_then_updated(TestApp::spawn_on_dynamodb().await).await;
}

/// The base moves while production's dispatch waits to be sent: the
/// re-check right before sending reads the compare again and cancels it.
async fn base_moving_before_the_dispatch_is_sent(app: TestApp) {
    app.through_staging().await;
    app.github.world().dispatch_outage = Some(false);
    let (id, _) = app.comment("rita", "/approve").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert!(
        prod_dispatches(&app).is_empty(),
        "GitHub refused the first try"
    );
    app.github.world().behind.insert(SHA1.into(), 1);
    app.reconcile_settled().await;
    assert!(prod_dispatches(&app).is_empty(), "cancelled, not sent");
    assert!(
        app.last_reply().contains("lacks 1 commit(s) of it"),
        "{}",
        app.last_reply()
    );
}

#[tokio::test]
async fn base_moving_before_the_dispatch_is_sent_on_sqlite() {
    base_moving_before_the_dispatch_is_sent(TestApp::spawn().await).await;
}

#[tokio::test]
async fn base_moving_before_the_dispatch_is_sent_on_dynamodb() {
    base_moving_before_the_dispatch_is_sent(TestApp::spawn_on_dynamodb().await).await;
}
