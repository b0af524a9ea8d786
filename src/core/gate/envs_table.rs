//! What runs where, as a table: one row per environment of the chain —
//! the PR and SHA that run there, since when, the state and run link, the
//! holder and the queue. The reply to `/envs` and `gatebot envs`.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::occupancy::Environments;
use super::state::{DeployKind, DeployStatus};
use crate::core::config::Pipeline;

fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The table of `chain`'s environments as `envs` has them, at `now`
/// (a hold past its timeout shows as ended).
pub(crate) fn envs_table(chain: &Pipeline, envs: &Environments, now: DateTime<Utc>) -> String {
    let mut t = String::from(
        "| environment | runs | since | state | held by | queue |\n|---|---|---|---|---|---|\n",
    );
    for stage in &chain.stages {
        let env = &stage.environment;
        let record = envs.get(env);
        let current = record.and_then(|r| r.current());
        let (runs, since, state) = match current {
            None => ("—".to_string(), "—".to_string(), "free".to_string()),
            Some(o) => {
                let kind = match o.kind {
                    DeployKind::Rollback => " (rollback)",
                    _ => "",
                };
                let status = match o.status {
                    DeployStatus::Pending => "⏳ dispatched",
                    DeployStatus::Succeeded => "✅ succeeded",
                    DeployStatus::Failed => "❌ failed",
                };
                let run = match &o.run_url {
                    Some(url) => format!(" ([run]({url}))"),
                    None => String::new(),
                };
                (
                    format!("#{} `{}`{kind}", o.pr, o.sha.short()),
                    when(&o.since),
                    format!("{status}{run}"),
                )
            }
        };
        let held = if !stage.lock {
            "no lock".to_string()
        } else {
            match record.and_then(|r| r.live_lock(now, stage.lock_timeout)) {
                Some(l) => {
                    let by =
                        l.by.as_ref()
                            .map(|b| format!(" (`/lock` by @{b})"))
                            .unwrap_or_default();
                    format!("#{}{by} since {}", l.pr, when(&l.since))
                }
                None => "free".to_string(),
            }
        };
        let queue: Vec<String> = record
            .map(|r| r.queue.iter().map(|q| format!("#{}", q.pr)).collect())
            .unwrap_or_default();
        let queue = if queue.is_empty() {
            "—".to_string()
        } else {
            queue.join(", ")
        };
        let _ = writeln!(
            t,
            "| {env} | {runs} | {since} | {state} | {held} | {queue} |"
        );
    }
    t
}
