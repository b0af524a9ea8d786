//! One reconcile pass (`gatebot reconcile`, the `serve` background task, and
//! later the Lambda schedule):
//!
//! 1. redeliver this App's webhook deliveries of the last 3 days that never
//!    succeeded (`GET /app/hook/deliveries`, `POST …/attempts`);
//! 2. finish side effects left pending by a crash or an outage (a dispatch is
//!    looked for by its `dispatch_id` before it is ever sent again);
//! 3. poll dispatches whose `workflow_run` never arrived, and re-evaluate
//!    gates that wait on time alone (a freeze ending).

use std::collections::BTreeMap;

use chrono::{Duration, Utc};

use crate::app::App;
use crate::app::effects::repo_ref;
use crate::domain::PrKey;
use crate::gate::{Deploy, DeployStatus, Fact};
use crate::github::HookDelivery;

/// A dispatch younger than this is left to its `workflow_run` event.
const POLL_AFTER: Duration = Duration::minutes(2);
/// Attempts of one delivery after which gatebot stops asking again.
const MAX_ATTEMPTS: usize = 5;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub redelivered: usize,
    pub prs_with_pending: usize,
    pub effects_completed: usize,
    pub prs_watched: usize,
    pub runs_finished: usize,
}

/// The attempts to redeliver: for each delivery (by guid) that no attempt
/// delivered successfully and that has been tried fewer than
/// [`MAX_ATTEMPTS`] times, its newest attempt.
pub fn to_redeliver(deliveries: &[HookDelivery]) -> Vec<u64> {
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

pub async fn run_once(app: &App) -> Result<Report, crate::store::StoreError> {
    run(app, POLL_AFTER).await
}

/// A pass that polls dispatches older than `poll_after`.
pub async fn run(app: &App, poll_after: Duration) -> Result<Report, crate::store::StoreError> {
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
    for pr in &pending {
        report.effects_completed += app.perform_all_pending(pr, poll_after).await;
    }

    let watched = app.store.gates_to_watch().await?;
    report.prs_watched = watched.len();
    for pr in &watched {
        match watch(app, pr, poll_after).await {
            Ok(n) => report.runs_finished += n,
            Err(e) => tracing::warn!(pr = %pr, error = %e, "cannot reconcile"),
        }
    }
    tracing::info!(?report, "reconcile pass done");
    Ok(report)
}

/// Polls the in-flight dispatches of `pr` and re-evaluates its gates.
async fn watch(app: &App, pr: &PrKey, poll_after: Duration) -> Result<usize, crate::app::AppError> {
    let Some(v) = app.store.load_gate(pr).await? else {
        return Ok(0);
    };
    let state = v.value.state;
    let repo = repo_ref(&state);
    let (config, error) = app.config(&repo, &state.default_branch).await?;
    let verify = state.verification.as_ref().and_then(|v| v.run.as_ref());
    let in_flight: Vec<&Deploy> = [state.stage.as_ref(), state.prod.as_ref(), verify]
        .into_iter()
        .flatten()
        .chain(state.detached.iter())
        .filter(|d| d.status == DeployStatus::Pending && d.at <= Utc::now() - poll_after)
        .collect();
    let mut facts = vec![Fact::Config { error }];
    let mut finished = 0;
    for d in in_flight {
        let run = match d.run_id {
            Some(id) => Some(app.github.workflow_run(&repo, id).await?),
            None => {
                let Some(record) = app.store.dispatch_by_id(&pr.repo, &d.dispatch_id).await? else {
                    continue;
                };
                app.find_dispatched_run(&repo, &record.workflow, &d.dispatch_id)
                    .await?
            }
        };
        let Some(run) = run else { continue };
        if run.status == "completed" {
            finished += 1;
            facts.push(Fact::RunCompleted {
                dispatch_id: d.dispatch_id.clone(),
                run_id: run.id,
                success: run.conclusion.as_deref() == Some("success"),
                url: run.html_url,
            });
        } else if d.run_id.is_none() {
            facts.push(Fact::RunLinked {
                dispatch_id: d.dispatch_id.clone(),
                run_id: run.id,
                url: run.html_url,
            });
        }
    }
    facts.push(Fact::Reevaluate);
    app.transition(&repo, pr, None, &facts, &config, None)
        .await?;
    Ok(finished)
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
