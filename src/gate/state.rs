//! The recorded facts about one pull request's head SHA, from which its gate
//! stage is derived. This is what the store persists (as JSON, with a
//! version number for conditional writes).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ci::CiStatus;
use crate::domain::{DispatchId, Environment, PrKey, Sha};

/// A `/lgtm` or `/approve`, bound to the SHA it was given for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub login: String,
    pub sha: Sha,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployKind {
    /// The gated promotion of the head SHA.
    Promote,
    /// The verify workflow run by `/verify-stage`.
    Verify,
    /// A redeploy of the previously deployed SHA.
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    /// Dispatched (or about to be); waiting for its `workflow_run`.
    Pending,
    Succeeded,
    Failed,
}

/// One workflow dispatch gatebot made, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deploy {
    pub dispatch_id: DispatchId,
    pub environment: Environment,
    pub kind: DeployKind,
    pub sha: Sha,
    pub requested_by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub run_id: Option<u64>,
    pub status: DeployStatus,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub run_url: Option<String>,
}

impl Deploy {
    /// Whether it is a deploy to `env` still in flight (a verify run
    /// deploys nothing).
    pub fn occupies(&self, env: Environment) -> bool {
        self.environment == env
            && self.kind != DeployKind::Verify
            && self.status == DeployStatus::Pending
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub login: String,
    pub sha: Sha,
    pub at: DateTime<Utc>,
    /// The verify workflow run, when one is configured.
    #[serde(default)]
    pub run: Option<Deploy>,
}

impl Verification {
    pub fn passed(&self) -> bool {
        match &self.run {
            None => true,
            Some(run) => run.status == DeployStatus::Succeeded,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub login: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// gatebot's check run for a head SHA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRunRef {
    pub sha: Sha,
    pub id: u64,
}

/// Everything gatebot knows about one pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateState {
    pub pr: PrKey,
    pub installation_id: Option<u64>,
    /// Lowercase login of the PR author.
    pub author: String,
    pub head_sha: Sha,
    /// When gatebot learned of `head_sha` (or last voided its gates: a
    /// reopen, a new base). A gate command written before this was written
    /// about something else and is refused as stale. `None` in records
    /// written before gatebot kept it: [`GateState::gates_since`] then
    /// falls back to `updated_at`, which is never earlier.
    #[serde(default)]
    pub head_seen_at: Option<DateTime<Utc>>,
    /// The base branch the gates were passed against, as GitHub last said.
    #[serde(default)]
    pub base_ref: Option<String>,
    /// The branch dispatches run from when the config names none.
    pub default_branch: String,
    pub open: bool,
    pub ci: CiStatus,
    #[serde(default)]
    pub lgtm: Option<Approval>,
    #[serde(default)]
    pub stage: Option<Deploy>,
    #[serde(default)]
    pub verification: Option<Verification>,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    #[serde(default)]
    pub prod: Option<Deploy>,
    #[serde(default)]
    pub hold: Option<Hold>,
    /// Dispatches not tied to the head's gates: rollbacks, and deploys of
    /// an older head still running when a new one was pushed.
    #[serde(default)]
    pub detached: Vec<Deploy>,
    /// Counts every dispatch for this PR; part of each `dispatch_id`.
    #[serde(default)]
    pub dispatch_seq: u32,
    #[serde(default)]
    pub check_run: Option<CheckRunRef>,
    /// Why the repository's config could not be used, if it could not.
    #[serde(default)]
    pub config_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Where a PR stands, derived from its facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Closed,
    ConfigError,
    WaitingForCi,
    CiFailed,
    WaitingForQa,
    StageDeploying,
    StageFailed,
    WaitingForVerification,
    Verifying,
    VerificationFailed,
    WaitingForApproval,
    ProdDeploying,
    ProdFailed,
    Deployed,
}

impl Stage {
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Closed => "closed",
            Stage::ConfigError => "invalid configuration",
            Stage::WaitingForCi => "waiting for CI",
            Stage::CiFailed => "CI failed",
            Stage::WaitingForQa => "waiting for QA review (/lgtm)",
            Stage::StageDeploying => "deploying to staging",
            Stage::StageFailed => "staging deploy failed",
            Stage::WaitingForVerification => "waiting for staging verification (/verify-stage)",
            Stage::Verifying => "verifying staging",
            Stage::VerificationFailed => "staging verification failed",
            Stage::WaitingForApproval => "waiting for production approval (/approve)",
            Stage::ProdDeploying => "deploying to production",
            Stage::ProdFailed => "production deploy failed",
            Stage::Deployed => "deployed to production",
        }
    }
}

impl GateState {
    /// A fresh record for a PR whose head is `head_sha`.
    pub fn new(
        pr: PrKey,
        author: &str,
        head_sha: Sha,
        default_branch: &str,
        installation_id: Option<u64>,
        now: DateTime<Utc>,
    ) -> Self {
        GateState {
            pr,
            installation_id,
            author: author.to_ascii_lowercase(),
            head_sha,
            head_seen_at: Some(now),
            base_ref: None,
            default_branch: default_branch.to_string(),
            open: true,
            ci: CiStatus::Pending,
            lgtm: None,
            stage: None,
            verification: None,
            approvals: Vec::new(),
            prod: None,
            hold: None,
            detached: Vec::new(),
            dispatch_seq: 0,
            check_run: None,
            config_error: None,
            updated_at: now,
        }
    }

    /// Since when gate commands count for the current head.
    pub fn gates_since(&self) -> DateTime<Utc> {
        self.head_seen_at.unwrap_or(self.updated_at)
    }

    pub fn stage(&self) -> Stage {
        let status = |d: &Option<Deploy>| d.as_ref().map(|d| d.status);
        if !self.open {
            return Stage::Closed;
        }
        if self.config_error.is_some() {
            return Stage::ConfigError;
        }
        match status(&self.prod) {
            Some(DeployStatus::Succeeded) => return Stage::Deployed,
            Some(DeployStatus::Failed) => return Stage::ProdFailed,
            Some(DeployStatus::Pending) => return Stage::ProdDeploying,
            None => {}
        }
        // CI can turn red after staging (a re-run): nothing more is
        // dispatched until it is green again.
        if self.ci == CiStatus::Failed
            && self
                .stage
                .as_ref()
                .is_some_and(|d| d.status != DeployStatus::Pending)
        {
            return Stage::CiFailed;
        }
        match status(&self.stage) {
            Some(DeployStatus::Pending) => return Stage::StageDeploying,
            Some(DeployStatus::Failed) => return Stage::StageFailed,
            Some(DeployStatus::Succeeded) => {}
            None => {
                return match self.ci {
                    CiStatus::Pending => Stage::WaitingForCi,
                    CiStatus::Failed => Stage::CiFailed,
                    CiStatus::Green => Stage::WaitingForQa,
                };
            }
        }
        match &self.verification {
            None => Stage::WaitingForVerification,
            Some(v) => match v.run.as_ref().map(|r| r.status) {
                Some(DeployStatus::Pending) => Stage::Verifying,
                Some(DeployStatus::Failed) => Stage::VerificationFailed,
                Some(DeployStatus::Succeeded) | None => Stage::WaitingForApproval,
            },
        }
    }

    /// Whether the reconciler should look at this PR: a dispatch is in
    /// flight (its `workflow_run` may never arrive), or approvals wait for
    /// something that can change with time alone (a freeze ending).
    pub fn needs_watch(&self) -> bool {
        let in_flight = self.deploys().any(|d| d.status == DeployStatus::Pending);
        in_flight || (self.stage() == Stage::WaitingForApproval && !self.approvers().is_empty())
    }

    /// Distinct approvers of the head SHA, never counting the author.
    pub fn approvers(&self) -> Vec<&str> {
        let mut logins: Vec<&str> = self
            .approvals
            .iter()
            .filter(|a| a.sha == self.head_sha && a.login != self.author)
            .map(|a| a.login.as_str())
            .collect();
        logins.sort_unstable();
        logins.dedup();
        logins
    }

    /// Every dispatch this record still tracks: the head's staging,
    /// production and verify deploys, then the detached ones.
    pub fn deploys(&self) -> impl Iterator<Item = &Deploy> {
        let verify = self.verification.as_ref().and_then(|v| v.run.as_ref());
        [self.stage.as_ref(), self.prod.as_ref(), verify]
            .into_iter()
            .flatten()
            .chain(self.detached.iter())
    }

    /// A dispatch this record still tracks, by id.
    pub fn deploy(&self, dispatch_id: &DispatchId) -> Option<&Deploy> {
        self.deploys().find(|d| d.dispatch_id == *dispatch_id)
    }

    /// Every dispatch this record still tracks, by id.
    pub fn deploy_mut(&mut self, dispatch_id: &DispatchId) -> Option<&mut Deploy> {
        let verify = self.verification.as_mut().and_then(|v| v.run.as_mut());
        [self.stage.as_mut(), self.prod.as_mut(), verify]
            .into_iter()
            .flatten()
            .chain(self.detached.iter_mut())
            .find(|d| d.dispatch_id == *dispatch_id)
    }

    /// The dispatch id for the next dispatch: `<pr>-<env>-<sha7>-<seq>`
    /// (`verify` in place of the environment for verify runs).
    pub fn next_dispatch_id(
        &mut self,
        env: Environment,
        kind: DeployKind,
        sha: &Sha,
    ) -> DispatchId {
        self.dispatch_seq += 1;
        let label = match kind {
            DeployKind::Verify => "verify",
            _ => env.as_str(),
        };
        DispatchId::new(self.pr.number, label, sha, self.dispatch_seq)
    }
}
