//! Round trips a person waits for (a report, not a check: `make bench`
//! runs it and writes the table into BENCHMARKS.md). The fake GitHub
//! answers every request after 150 ms, as github.com might; for each of
//! many PRs, a QA's `/lgtm` is timed from the moment its delivery is sent
//! to the moment the dispatch request reaches GitHub, and to the moment
//! the +1 reaction does. Printed as
//! `LATENCY|store|what|n|p50 ms|p99 ms|max ms`.

use std::time::{Duration, Instant};

use crate::harness::TestApp;

const ROUND_TRIP: Duration = Duration::from_millis(150);
const PRS: u64 = 60;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn print(store: &str, what: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "LATENCY|{store}|{what}|{}|{:.0}|{:.0}|{:.0}",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(0.0)
    );
}

/// The SHA of PR `n` in this report (40 hex digits).
fn sha(n: u64) -> String {
    format!("{n:040x}")
}

async fn measure(app: &TestApp, store: &str) {
    let mut to_dispatch = Vec::new();
    let mut to_reaction = Vec::new();
    for n in 0..PRS {
        let number = 100 + n;
        let sha = sha(number);
        app.open_other_pr(number, &sha).await;
        app.ci_green(&sha).await;
        app.github.world().latency = Some(ROUND_TRIP);
        let sent = Instant::now();
        let (comment, _) = app.comment_on(number, "quinn", "/lgtm").await;
        let mut w = app.github.world();
        w.latency = None;
        let arrivals = std::mem::take(&mut w.arrivals);
        let at = |what: &str| {
            arrivals
                .iter()
                .find(|(t, r)| r == what && *t >= sent)
                .map(|(t, _)| t.duration_since(sent).as_secs_f64() * 1000.0)
        };
        let dispatch = at("POST /repos/acme/widgets/actions/workflows/cd-stage.yml/dispatches");
        let reaction = at(&format!(
            "POST /repos/acme/widgets/issues/comments/{comment}/reactions"
        ));
        match (dispatch, reaction) {
            (Some(d), Some(r)) => {
                to_dispatch.push(d);
                to_reaction.push(r);
            }
            _ => panic!("PR #{number}: no dispatch or no reaction: {arrivals:?}"),
        }
    }
    print(store, "comment delivered → dispatch request", to_dispatch);
    print(store, "comment delivered → reaction request", to_reaction);
}

#[tokio::test]
#[ignore = "a report, not a check: `make bench` runs it"]
async fn lgtm_to_dispatch_and_reaction_with_github_150_ms_away() {
    let app = TestApp::spawn().await;
    measure(&app, "SQLite").await;
    let app = TestApp::spawn_on_dynamodb().await;
    measure(&app, "DynamoDB (moto)").await;
}
