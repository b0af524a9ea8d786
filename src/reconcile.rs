//! One reconcile pass: finish side effects left pending by a crash or a
//! GitHub outage (a dispatch is looked for by its `dispatch_id` before it is
//! sent again).

use crate::app::App;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub prs_with_pending: usize,
    pub effects_completed: usize,
}

pub async fn run_once(app: &App) -> Result<Report, crate::store::StoreError> {
    let prs = app.store.gates_with_pending().await?;
    let mut report = Report {
        prs_with_pending: prs.len(),
        ..Report::default()
    };
    for pr in &prs {
        report.effects_completed += app.perform_all_pending(pr).await;
    }
    tracing::info!(?report, "reconcile pass done");
    Ok(report)
}
