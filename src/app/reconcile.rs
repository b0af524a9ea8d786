//! One reconcile pass (`gatebot reconcile`, the `serve` background task, and
//! the Lambda's EventBridge schedule):
//!
//! 1. redeliver this App's webhook deliveries of the last 3 days that never
//!    succeeded (`GET /app/hook/deliveries`, `POST …/attempts`);
//! 2. finish side effects left pending by a crash, a time budget or an
//!    outage (a dispatch is re-checked against the gates, and looked for by
//!    its `dispatch_id` before it is ever sent again);
//! 3. for PRs with a dispatch in flight or approvals waiting on a freeze:
//!    bring the record in line with GitHub's PR, poll every linked run
//!    (whose `workflow_run` event may have been lost), look for unlinked
//!    runs once they are old enough to be listed, and re-evaluate the gates
//!    (deferred while the installation's rate limit is below the floor).
//!
//! PRs are served a few at a time, each within its own time budget; one
//! PR's failure, slowness or panic never keeps the pass from the others.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{Duration, Utc};
use futures_util::StreamExt;

use crate::adapters::github::HookDelivery;
use crate::app::App;
use crate::core::domain::PrKey;

/// An unlinked dispatch younger than this is left to its `workflow_run`
/// event: a run GitHub just started may not be listed yet, and looking too
/// early would dispatch it twice.
const SETTLE: Duration = Duration::minutes(2);
/// Attempts of one delivery after which gatebot stops asking again.
const MAX_ATTEMPTS: usize = 5;
/// How many PRs a pass serves at once.
const CONCURRENT_PRS: usize = 4;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub redelivered: usize,
    pub prs_with_pending: usize,
    pub effects_completed: usize,
    pub prs_watched: usize,
    pub runs_finished: usize,
    /// PRs whose watch failed this pass (logged; retried on the next).
    pub failures: usize,
    /// PRs not looked at this pass because their installation's GitHub
    /// rate limit is below the floor (`GATEBOT_RATE_LIMIT_FLOOR`).
    pub deferred: usize,
    /// Age in seconds of the oldest side effect still pending after the
    /// pass (0: none).
    pub oldest_pending_secs: u64,
}

/// The attempts to redeliver: for each delivery (by guid) that no attempt
/// delivered successfully and that has been tried fewer than
/// [`MAX_ATTEMPTS`] times, its newest attempt.
pub(crate) fn to_redeliver(deliveries: &[HookDelivery]) -> Vec<u64> {
    let mut by_guid: BTreeMap<&str, Vec<&HookDelivery>> = BTreeMap::new();
    for d in deliveries {
        by_guid.entry(d.guid.as_str()).or_default().push(d);
    }
    by_guid
        .values()
        .filter(|attempts| attempts.len() < MAX_ATTEMPTS)
        .filter(|attempts| !attempts.iter().any(|a| (200..300).contains(&a.status_code)))
        .filter_map(|attempts| {
            attempts
                .iter()
                .max_by_key(|a| (a.delivered_at, a.id))
                .map(|a| a.id)
        })
        .collect()
}

pub async fn run_once(app: &App) -> Result<Report, crate::adapters::store::StoreError> {
    run(app, SETTLE).await
}

/// A pass that looks for unlinked runs of dispatches older than `settle`.
/// Its figures are also recorded as metrics (`gatebot_reconcile_*`,
/// `gatebot_outbox_oldest_pending_seconds`).
pub async fn run(
    app: &App,
    settle: Duration,
) -> Result<Report, crate::adapters::store::StoreError> {
    let result = pass(app, settle).await;
    match &result {
        Ok(r) => {
            metrics::counter!("gatebot_reconcile_passes_total", "result" => "ok").increment(1);
            metrics::counter!("gatebot_reconcile_redelivered_total")
                .increment(r.redelivered as u64);
            metrics::counter!("gatebot_reconcile_effects_completed_total")
                .increment(r.effects_completed as u64);
            metrics::counter!("gatebot_reconcile_runs_finished_total")
                .increment(r.runs_finished as u64);
            metrics::counter!("gatebot_reconcile_failures_total").increment(r.failures as u64);
            metrics::counter!("gatebot_reconcile_deferred_total").increment(r.deferred as u64);
            metrics::gauge!("gatebot_outbox_oldest_pending_seconds")
                .set(r.oldest_pending_secs as f64);
        }
        Err(e) => {
            metrics::counter!("gatebot_reconcile_passes_total", "result" => "failed").increment(1);
            tracing::error!(error = %e, "reconcile pass failed");
        }
    }
    result
}

/// The age of the oldest side effect still pending in any PR's outbox.
async fn oldest_pending(app: &App) -> Result<u64, crate::adapters::store::StoreError> {
    let now = Utc::now();
    let mut oldest = 0;
    for pr in app.store.gates_with_pending().await? {
        // One PR's record that cannot be read is that PR's problem.
        let context = pr.to_string();
        let loaded =
            crate::app::panics::contain("reconcile", &context, app.store.load_gate(&pr)).await;
        let Ok(Ok(Some(v))) = loaded else {
            continue;
        };
        for p in &v.value.pending {
            // Records from before `queued_at`: the state's last change.
            let since = p.queued_at.unwrap_or(v.value.state.updated_at);
            oldest = oldest.max((now - since).num_seconds().max(0) as u64);
        }
    }
    Ok(oldest)
}

async fn pass(app: &App, settle: Duration) -> Result<Report, crate::adapters::store::StoreError> {
    let mut report = Report::default();

    match app
        .github
        .hook_deliveries(Utc::now() - Duration::days(3))
        .await
    {
        Ok(deliveries) => {
            for id in to_redeliver(&deliveries) {
                match app.github.redeliver(id).await {
                    Ok(()) => report.redelivered += 1,
                    Err(e) => tracing::warn!(id, error = %e, "redelivery refused"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list webhook deliveries"),
    }

    let pending = app.store.gates_with_pending().await?;
    report.prs_with_pending = pending.len();
    let completed: Vec<Result<usize, crate::app::panics::Panicked>> =
        futures_util::stream::iter(pending)
            .map(|pr| async move {
                // Each PR gets the webhook's effects budget per pass; a
                // panic stays with its PR.
                let deadline = Instant::now() + app.effects_budget;
                crate::app::panics::contain(
                    "reconcile",
                    &pr.to_string(),
                    app.perform_all_pending(&pr, settle, deadline),
                )
                .await
            })
            .buffer_unordered(CONCURRENT_PRS)
            .collect()
            .await;
    for r in completed {
        match r {
            Ok(n) => report.effects_completed += n,
            Err(_) => report.failures += 1,
        }
    }

    let watched = app.store.gates_to_watch().await?;
    report.prs_watched = watched.len();
    let results: Vec<(PrKey, Result<usize, crate::app::AppError>)> =
        futures_util::stream::iter(watched)
            .map(|pr| async move {
                let timed = tokio::time::timeout(app.effects_budget * 2, app.sweep(&pr, settle));
                let r = match crate::app::panics::contain("reconcile", &pr.to_string(), timed).await
                {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Err(crate::app::AppError::Store(
                        crate::adapters::store::StoreError::Unavailable("out of time".into()),
                    )),
                    Err(p) => Err(p.into()),
                };
                (pr, r)
            })
            .buffer_unordered(CONCURRENT_PRS)
            .collect()
            .await;
    for (pr, r) in results {
        match r {
            Ok(n) => report.runs_finished += n,
            Err(crate::app::AppError::Deferred(why)) => {
                report.deferred += 1;
                tracing::info!(pr = %pr, why, "reconcile deferred");
            }
            Err(e) => {
                report.failures += 1;
                tracing::warn!(pr = %pr, error = %e, "cannot reconcile");
            }
        }
    }
    report.oldest_pending_secs = oldest_pending(app).await?;
    tracing::info!(?report, "reconcile pass done");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(id: u64, guid: &str, minute: u32, status: u16) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.into(),
            delivered_at: Utc.with_ymd_and_hms(2026, 11, 26, 12, minute, 0).unwrap(),
            status_code: status,
        }
    }

    #[test]
    fn redelivers_only_deliveries_that_never_succeeded() {
        let log = vec![
            d(1, "ok", 0, 200),
            d(2, "failed-once", 1, 500),
            d(3, "failed-then-ok", 2, 502),
            d(4, "failed-then-ok", 3, 200),
            d(5, "unreachable", 4, 0),
            d(6, "unreachable", 5, 0),
            d(7, "given-up", 6, 500),
            d(8, "given-up", 7, 500),
            d(9, "given-up", 8, 500),
            d(10, "given-up", 9, 500),
            d(11, "given-up", 10, 500),
        ];
        let mut ids = to_redeliver(&log);
        ids.sort();
        assert_eq!(
            ids,
            vec![2, 6],
            "newest attempt of each never-delivered guid"
        );
    }
}
