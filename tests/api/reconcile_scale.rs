//! How a reconcile pass grows with a repository's open pull requests (a
//! report, not a check: `make bench` runs it and writes the table into
//! BENCHMARKS.md). The reconciler asks the store only for the PRs with
//! work pending or a run in flight (an index of them: SQLite's partial
//! flags, DynamoDB's sparse indexes), never for every record, so a pass
//! over 10 PRs in flight should cost the same beside 50 idle open PRs as
//! beside 2,000. On moto only 50 and 300: moto copies the whole table for
//! every item of a transaction (a Python deepcopy, for its rollback), so
//! each delivery there slows with the table (93 ms at the first PR, 339 ms
//! at the 400th) and one exceeded GitHub's 10 s before the 500th: a limit
//! of moto, not of DynamoDB, whose transactions do not depend on the
//! table's size. Printed as
//! `RECONCILE|store|open PRs|watched|with pending work|pass ms|store requests|GitHub calls`.

use std::time::Instant;

use crate::harness::TestApp;

/// PRs with a staging deploy in flight in each world.
const IN_FLIGHT: u64 = 10;

fn store_requests() -> f64 {
    let text = gatebot::testing::telemetry::metrics()
        .map(|h| h.render())
        .unwrap_or_default();
    crate::metrics_text::totals(&text)
        .get("gatebot_store_requests_total")
        .copied()
        .unwrap_or(0.0)
}

async fn measure(app: &TestApp, store: &str, idle: u64) {
    for n in 0..idle {
        let number = 1_000 + n;
        let started = Instant::now();
        app.open_other_pr(number, &format!("{number:040x}")).await;
        if std::env::var_os("RECONCILE_TRACE").is_some() && n % 100 == 0 {
            eprintln!("{store}: PR {n} opened in {:?}", started.elapsed());
        }
    }
    for n in 0..IN_FLIGHT {
        let number = 100 + n;
        let sha = format!("{number:040x}");
        app.open_other_pr(number, &sha).await;
        app.ci_green(&sha).await;
        app.comment_on(number, "quinn", "/lgtm").await;
    }
    // A first pass settles what the deliveries left; the second is timed.
    app.reconcile_settled().await;
    let calls = app.github.world().requests.len();
    let requests = store_requests();
    let started = Instant::now();
    let report = app.reconcile_settled().await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "RECONCILE|{store}|{}|{}|{}|{ms:.0}|{:.0}|{}",
        idle + IN_FLIGHT,
        report.prs_watched,
        report.prs_with_pending,
        store_requests() - requests,
        app.github.world().requests.len() - calls
    );
}

#[tokio::test]
#[ignore = "a report, not a check: `make bench` runs it"]
async fn a_reconcile_pass_costs_what_is_in_flight_not_what_is_open() {
    let sizes = |var: &str, default: &[u64]| -> Vec<u64> {
        std::env::var(var)
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| default.to_vec())
    };
    for idle in sizes("RECONCILE_SIZES", &[50, 2_000]) {
        let app = TestApp::spawn().await;
        measure(&app, "SQLite", idle).await;
    }
    for idle in sizes("RECONCILE_SIZES_MOTO", &[50, 300]) {
        let app = TestApp::spawn_on_dynamodb().await;
        measure(&app, "DynamoDB (moto)", idle).await;
    }
}
