//! Gate records of layout 1, written before the chain of stages: the
//! two-stage gates as fixed fields (`lgtm`, `stage`, `verification`,
//! `approvals`, `prod`). [`upgrade`] reads one into the current layout,
//! staging's gates from the first three and production's from the last
//! two, so a gate in flight carries on.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{GateRecord, PendingAction};
use crate::core::domain::{Environment, PrKey, Sha};
use crate::core::gate::ci::CiStatus;
use crate::core::gate::state::{
    Approval, CheckRunRef, Deploy, GateState, Hold, StageGates, Verification,
};

/// A layout-1 record.
#[derive(Deserialize)]
pub(super) struct RecordV1 {
    state: StateV1,
    #[serde(default)]
    pending: Vec<PendingAction>,
    #[serde(default)]
    next_action_id: u64,
}

/// A layout-1 gate state: every field it had, as it had them.
#[derive(Deserialize)]
struct StateV1 {
    pr: PrKey,
    installation_id: Option<u64>,
    author: String,
    head_sha: Sha,
    #[serde(default)]
    head_seen_at: Option<DateTime<Utc>>,
    #[serde(default)]
    base_ref: Option<String>,
    default_branch: String,
    open: bool,
    ci: CiStatus,
    #[serde(default)]
    lgtm: Option<Approval>,
    #[serde(default)]
    stage: Option<Deploy>,
    #[serde(default)]
    verification: Option<Verification>,
    #[serde(default)]
    approvals: Vec<Approval>,
    #[serde(default)]
    prod: Option<Deploy>,
    #[serde(default)]
    hold: Option<Hold>,
    #[serde(default)]
    detached: Vec<Deploy>,
    #[serde(default)]
    dispatch_seq: u32,
    #[serde(default)]
    check_run: Option<CheckRunRef>,
    #[serde(default)]
    config_error: Option<String>,
    updated_at: DateTime<Utc>,
}

/// The record in the current layout: staging holds `lgtm` (as its one
/// entry approval), `stage` and `verification`; production holds
/// `approvals` and `prod`; the check run moves to the record. Stages with no gates given are left out, as the
/// machine leaves them.
pub(super) fn upgrade(v1: RecordV1) -> GateRecord {
    let s = v1.state;
    let staging = StageGates {
        environment: Environment::staging(),
        approvals: s.lgtm.into_iter().collect(),
        deploy: s.stage,
        verification: s.verification,
    };
    let production = StageGates {
        environment: Environment::production(),
        approvals: s.approvals,
        deploy: s.prod,
        verification: None,
    };
    let given =
        |g: &StageGates| !g.approvals.is_empty() || g.deploy.is_some() || g.verification.is_some();
    let stages = [staging, production].into_iter().filter(given).collect();
    // The machine sets it on the record's next transition; until then the
    // store's watch index keeps what layout 1 wrote (a PR with approvals
    // waiting for a freeze to end stays watched).
    let awaits_time = false;
    GateRecord {
        schema: super::GATE_RECORD_SCHEMA,
        state: GateState {
            pr: s.pr,
            installation_id: s.installation_id,
            author: s.author,
            // Filled in by the layout-2 upgrade that follows.
            author_id: None,
            first_head: None,
            pushers: Vec::new(),
            pushed_heads: Vec::new(),
            head_sha: s.head_sha,
            head_seen_at: s.head_seen_at,
            base_ref: s.base_ref,
            default_branch: s.default_branch,
            open: s.open,
            ci: s.ci,
            stages,
            hold: s.hold,
            detached: s.detached,
            dispatch_seq: s.dispatch_seq,
            config_error: s.config_error,
            awaits_time,
            behind_base: None,
            merge_queued: None,
            updated_at: s.updated_at,
        },
        pending: v1.pending,
        next_action_id: v1.next_action_id,
        check_run: s.check_run,
    }
}
