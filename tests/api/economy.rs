//! API economy: the GitHub calls each delivery of a whole pull request's
//! life costs, counted at the fake GitHub, for the two-stage default and
//! the platform's three-stage chain. A report, not a check (`make bench`
//! runs it and writes the table into BENCHMARKS.md); the checks on call
//! counts that matter are in `comment_flood` and `lifecycle`.

use crate::harness::{SHA1, SHA2, TestApp};
use crate::pipeline::PLATFORM;

/// Runs `step`, returns the GitHub calls it made (`METHOD /path`, ids
/// and SHAs folded so that calls of one kind group together).
async fn calls<F: std::future::Future<Output = ()>>(app: &TestApp, step: F) -> Vec<String> {
    let before = app.github.world().requests.len();
    step.await;
    let w = app.github.world();
    w.requests[before..].iter().map(|r| fold(r)).collect()
}

fn fold(request: &str) -> String {
    request
        .split('?')
        .next()
        .unwrap_or(request)
        .split('/')
        .map(|part| {
            if !part.is_empty() && (part.bytes().all(|b| b.is_ascii_digit()) || part.len() == 40) {
                "{id}"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// One line per delivery: `ECONOMY|chain|delivery|count|calls`.
fn report(chain: &str, what: &str, calls: &[String], total: &mut usize) {
    *total += calls.len();
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for c in calls {
        match kinds.iter_mut().find(|(k, _)| k == c) {
            Some((_, n)) => *n += 1,
            None => kinds.push((c.clone(), 1)),
        }
    }
    let listed: Vec<String> = kinds
        .iter()
        .map(|(k, n)| {
            if *n > 1 {
                format!("{n}× `{k}`")
            } else {
                format!("`{k}`")
            }
        })
        .collect();
    println!(
        "ECONOMY|{chain}|{what}|{}|{}",
        calls.len(),
        listed.join(", ")
    );
}

#[tokio::test]
#[ignore = "a report, not a check: `make bench` runs it"]
async fn github_calls_per_delivery_over_a_whole_lifecycle() {
    // PR #42 pays for the installation token, the App's slug and the
    // config; PR #43, in the same process, shows the steady state with
    // them cached.
    let app = TestApp::spawn().await;
    for (pr, sha, first) in [(42, SHA1, 0), (43, SHA2, 2)] {
        let chain = format!("two-stage, PR #{pr}");
        let mut total = 0;
        let c = calls(&app, async {
            if pr == 42 {
                app.open_pr().await;
            } else {
                app.open_other_pr(pr, sha).await;
            }
        })
        .await;
        report(&chain, "pull_request opened", &c, &mut total);
        let c = calls(&app, app.ci_green(sha)).await;
        report(&chain, "check_run completed (CI green)", &c, &mut total);
        let c = calls(&app, async {
            app.comment_on(pr, "quinn", "/lgtm").await;
        })
        .await;
        report(&chain, "/lgtm → staging dispatched", &c, &mut total);
        let c = calls(&app, app.finish_dispatch(first, "success")).await;
        report(&chain, "workflow_run completed (staging)", &c, &mut total);
        let c = calls(&app, async {
            app.comment_on(pr, "quinn", "/verify-stage").await;
        })
        .await;
        report(&chain, "/verify-stage", &c, &mut total);
        let c = calls(&app, async {
            app.comment_on(pr, "rita", "/approve").await;
        })
        .await;
        report(&chain, "/approve → production dispatched", &c, &mut total);
        let c = calls(&app, app.finish_dispatch(first + 1, "success")).await;
        report(
            &chain,
            "workflow_run completed (production)",
            &c,
            &mut total,
        );
        println!("ECONOMY|{chain}|whole lifecycle|{total}|");
    }

    let app = TestApp::spawn_with_config(PLATFORM).await;
    let chain = "platform (dev, staging, production)";
    let mut total = 0;
    let c = calls(&app, app.open_pr()).await;
    report(chain, "pull_request opened", &c, &mut total);
    let c = calls(&app, app.ci_green(SHA1)).await;
    report(
        chain,
        "check_run completed (CI green) → dev dispatched",
        &c,
        &mut total,
    );
    let c = calls(&app, app.finish_dispatch(0, "success")).await;
    report(chain, "workflow_run completed (dev)", &c, &mut total);
    let c = calls(&app, async {
        app.comment("quinn", "/lgtm").await;
    })
    .await;
    report(chain, "/lgtm → staging dispatched", &c, &mut total);
    let c = calls(&app, app.finish_dispatch(1, "success")).await;
    report(chain, "workflow_run completed (staging)", &c, &mut total);
    let c = calls(&app, async {
        app.comment("quinn", "/verify-stage").await;
    })
    .await;
    report(chain, "/verify-stage", &c, &mut total);
    for who in ["rita", "rob"] {
        let c = calls(&app, async {
            app.comment(who, "/approve").await;
        })
        .await;
        report(chain, &format!("/approve by {who}"), &c, &mut total);
    }
    let c = calls(&app, app.finish_dispatch(2, "success")).await;
    report(chain, "workflow_run completed (production)", &c, &mut total);
    println!("ECONOMY|{chain}|whole lifecycle|{total}|");
}
