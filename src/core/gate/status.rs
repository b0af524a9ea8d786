//! Where each stage of the chain stands for the head, worked out in one
//! walk: the entry commands that count, the soak's end, the deploy, the
//! verification, and when the stage passed. Everything that asks about a
//! stage reads it — the derived [`Stage`], [`super::blocker`] ("why not
//! now"), [`super::advance`], the wait for time, and the check run — so
//! they cannot disagree.

use chrono::{DateTime, Utc};

use super::ci::CiStatus;
use super::occupancy::{Environments, Occupant};
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
    /// When another deploy there (of any PR) displaced the head's, if one
    /// did.
    pub displaced_at: Option<DateTime<Utc>>,
    /// What runs there instead, when the head's deploy was displaced.
    pub displaced_by: Option<&'a Occupant>,
    /// When it passed for the head: deployed, and verified where it has a
    /// verification, both before anything displaced the deploy (a pass
    /// stands once given).
    pub passed_at: Option<DateTime<Utc>>,
    /// When its soak after the stage before it ends (that stage passed,
    /// and this one has a soak).
    pub soak_end: Option<DateTime<Utc>>,
    /// When the stage before it stopped running the head before that soak
    /// ended (another deploy displaced it): the soak is not met, and the
    /// stage before must be deployed again.
    pub soak_cut: Option<DateTime<Utc>>,
}

impl StageStatus<'_> {
    pub(crate) fn environment(&self) -> &Environment {
        &self.config.environment
    }

    /// What runs there instead of the head's deploy, in words: "#43
    /// (abc1234)".
    pub(crate) fn runs_now(&self) -> String {
        match self.displaced_by {
            Some(o) => o.describe(),
            None => "another deploy".into(),
        }
    }

    /// Whether its entry quorum is met (always, for an `auto` stage).
    pub(crate) fn entry_met(&self) -> bool {
        self.approvers.len() >= self.config.quorum()
    }
}

/// Every stage of `chain`, in order, for the head of `s`, with what runs
/// in each environment as `envs` says.
pub(crate) fn walk<'a>(
    s: &'a GateState,
    chain: &'a Pipeline,
    envs: &'a Environments,
) -> Vec<StageStatus<'a>> {
    let authors = s.authors();
    let mut out: Vec<StageStatus<'a>> = Vec::with_capacity(chain.stages.len());
    for (index, config) in chain.stages.iter().enumerate() {
        let gates = s.gates(&config.environment);
        let previous = out.last();
        let previous_passed = previous.and_then(|p| p.passed_at);
        let previous_displaced = previous.and_then(|p| p.displaced_at);
        let deploy = gates.and_then(|g| g.deploy.as_ref());
        let record = envs.get(&config.environment);
        let displaced_at = deploy.and_then(|d| envs.displaced_at(d));
        let displaced_by = displaced_at
            .and(deploy)
            .and_then(|d| record.and_then(|r| r.displaced_by(d)));
        let passed_at = gates
            .and_then(|g| g.passed_at(&s.head_sha, config))
            .filter(|at| displaced_at.is_none_or(|t| *at < t));
        let soak_end = config
            .soak
            .and(previous_passed)
            .map(|at| config.soak_end(at));
        out.push(StageStatus {
            index,
            config,
            approvers: gates
                .map(|g| g.approvers(&s.head_sha, authors.as_ref(), None))
                .unwrap_or_default(),
            deploy,
            verification: gates.and_then(|g| g.verification.as_ref()),
            deployed: gates.is_some_and(|g| g.deployed(&s.head_sha)) && displaced_at.is_none(),
            displaced_at,
            displaced_by,
            passed_at,
            soak_end,
            soak_cut: previous_displaced.filter(|t| soak_end.is_some_and(|end| *t < end)),
        });
    }
    out
}

impl GateState {
    /// Where the PR stands in `chain`, as if no other PR deployed
    /// anywhere.
    pub fn stage(&self, chain: &Pipeline) -> Stage {
        self.stage_in(chain, Environments::none())
    }

    /// Where the PR stands in `chain`, with what runs in each environment
    /// as `envs` says.
    pub fn stage_in(&self, chain: &Pipeline, envs: &Environments) -> Stage {
        if !self.open {
            return Stage::Closed;
        }
        if self.config_error.is_some() {
            return Stage::ConfigError;
        }
        if !self.base_gated(chain) {
            return Stage::NotGated;
        }
        let statuses = walk(self, chain, envs);
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
            // Displaced by a rollback of its own, or by another PR's deploy
            // before the stage passed (a pass given before stands).
            let displaced = st.deploy.is_some_and(|d| d.displaced_by.is_some())
                || (st.displaced_at.is_some() && st.passed_at.is_none());
            match status {
                Some(DeployStatus::Pending) => return Stage::Deploying(i),
                Some(DeployStatus::Failed) => return Stage::DeployFailed(i),
                Some(DeployStatus::Succeeded) if displaced => return Stage::Displaced(i),
                Some(DeployStatus::Succeeded) => {}
                None if i == 0 && self.ci == CiStatus::Pending => return Stage::WaitingForCi,
                // The stage before stopped running the head before this
                // one's soak ended: it must be deployed again.
                None if st.soak_cut.is_some() => return Stage::Displaced(i.saturating_sub(1)),
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
