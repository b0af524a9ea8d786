//! Where each stage of the chain stands for the head, worked out in one
//! walk: the entry commands that count, the soak's end, the deploy, the
//! verification, and when the stage passed. Everything that asks about a
//! stage reads it — the derived [`Stage`], [`super::blocker`] ("why not
//! now"), [`super::advance`], the wait for time, and the check run — so
//! they cannot disagree.

use chrono::{DateTime, Utc};

use super::ci::CiStatus;
use super::state::{Approval, Deploy, DeployStatus, GateState, Stage, Verification};
use crate::core::config::{Pipeline, StageConfig};
use crate::core::domain::Environment;

/// One stage of the chain, for the head.
#[derive(Debug, Clone)]
pub(crate) struct StageStatus<'a> {
    /// Its position in the chain.
    pub index: usize,
    pub config: &'a StageConfig,
    /// The entry commands that count for the head: one per person, none by
    /// an author (see [`StageGates::approvers`]).
    pub approvers: Vec<&'a Approval>,
    /// The head's promotion to it.
    pub deploy: Option<&'a Deploy>,
    pub verification: Option<&'a Verification>,
    /// Whether its deploy of the head succeeded and still runs there.
    pub deployed: bool,
    /// When it passed for the head: deployed (and still running there),
    /// and verified where it has a verification.
    pub passed_at: Option<DateTime<Utc>>,
    /// When its soak after the stage before it ends (that stage passed,
    /// and this one has a soak).
    pub soak_end: Option<DateTime<Utc>>,
}

impl StageStatus<'_> {
    pub(crate) fn environment(&self) -> &Environment {
        &self.config.environment
    }

    /// Whether its entry quorum is met (always, for an `auto` stage).
    pub(crate) fn entry_met(&self) -> bool {
        self.approvers.len() >= self.config.quorum()
    }
}

/// Every stage of `chain`, in order, for the head of `s`.
pub(crate) fn walk<'a>(s: &'a GateState, chain: &'a Pipeline) -> Vec<StageStatus<'a>> {
    let authors = s.authors();
    let mut out: Vec<StageStatus<'a>> = Vec::with_capacity(chain.stages.len());
    for (index, config) in chain.stages.iter().enumerate() {
        let gates = s.gates(&config.environment);
        let previous_passed = out.last().and_then(|p| p.passed_at);
        out.push(StageStatus {
            index,
            config,
            approvers: gates
                .map(|g| g.approvers(&s.head_sha, authors.as_ref(), None))
                .unwrap_or_default(),
            deploy: gates.and_then(|g| g.deploy.as_ref()),
            verification: gates.and_then(|g| g.verification.as_ref()),
            deployed: gates.is_some_and(|g| g.deployed(&s.head_sha)),
            passed_at: gates.and_then(|g| g.passed_at(&s.head_sha, config)),
            soak_end: config
                .soak
                .and(previous_passed)
                .map(|at| config.soak_end(at)),
        });
    }
    out
}

impl GateState {
    /// Where the PR stands in `chain`.
    pub fn stage(&self, chain: &Pipeline) -> Stage {
        if !self.open {
            return Stage::Closed;
        }
        if self.config_error.is_some() {
            return Stage::ConfigError;
        }
        if !self.base_gated(chain) {
            return Stage::NotGated;
        }
        let statuses = walk(self, chain);
        let last = statuses.len().saturating_sub(1);
        let ci_failed = self.ci == CiStatus::Failed;
        for st in &statuses {
            let i = st.index;
            let status = st.deploy.map(|d| d.status);
            // CI can turn red after a deploy (a re-run): nothing more is
            // dispatched until it is green again. Only the last stage's
            // deploy, once made, says more than that.
            if ci_failed && status != Some(DeployStatus::Pending) && (i < last || status.is_none())
            {
                return Stage::CiFailed;
            }
            let displaced = st.deploy.is_some_and(|d| d.displaced_by.is_some());
            match status {
                Some(DeployStatus::Pending) => return Stage::Deploying(i),
                Some(DeployStatus::Failed) => return Stage::DeployFailed(i),
                Some(DeployStatus::Succeeded) if displaced => return Stage::Displaced(i),
                Some(DeployStatus::Succeeded) => {}
                None if i == 0 && self.ci == CiStatus::Pending => return Stage::WaitingForCi,
                None => return Stage::WaitingForEntry(i),
            }
            if st.config.verify.is_some() {
                match st.verification.map(|v| v.run.as_ref().map(|r| r.status)) {
                    None => return Stage::WaitingForVerification(i),
                    Some(Some(DeployStatus::Pending)) => return Stage::Verifying(i),
                    Some(Some(DeployStatus::Failed)) => return Stage::VerificationFailed(i),
                    Some(Some(DeployStatus::Succeeded)) | Some(None) => {}
                }
            }
        }
        Stage::Deployed
    }
}
