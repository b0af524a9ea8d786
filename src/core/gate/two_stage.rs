//! Test support: the two-stage chain's commands and gates by the names
//! they had before the chain of stages (`/lgtm` is staging's entry,
//! `lgtm()` the first one recorded), shared by the machine's table tests
//! and its property tests.

use super::state::{Approval, Deploy, GateState, Verification};
use crate::core::config::RepoConfig;
use crate::core::domain::Environment;
use crate::core::gate::commands::{Command, help_text};

pub(crate) fn staging() -> Environment {
    Environment::staging()
}

pub(crate) fn production() -> Environment {
    Environment::production()
}

pub(crate) fn entry(word: &str, env: Environment, cancel: bool) -> Command {
    Command::Entry {
        word: word.into(),
        env,
        cancel,
    }
}

pub(crate) fn lgtm() -> Command {
    entry("lgtm", staging(), false)
}

pub(crate) fn lgtm_cancel() -> Command {
    entry("lgtm", staging(), true)
}

pub(crate) fn approve() -> Command {
    entry("approve", production(), false)
}

pub(crate) fn approve_cancel() -> Command {
    entry("approve", production(), true)
}

pub(crate) fn verify_stage() -> Command {
    Command::Verify {
        word: "verify-stage".into(),
        env: staging(),
        cancel: false,
    }
}

pub(crate) fn verify_stage_cancel() -> Command {
    Command::Verify {
        word: "verify-stage".into(),
        env: staging(),
        cancel: true,
    }
}

/// The `/help` reply of the two-stage chain.
pub(crate) fn help() -> String {
    help_text(&RepoConfig::default().pipeline)
}

/// The two-stage chain's gates as the fields they were before the chain.
pub(crate) trait TwoStage {
    /// The first `/lgtm` recorded.
    fn lgtm(&self) -> Option<&Approval>;
    fn stage_deploy(&self) -> Option<&Deploy>;
    fn verification(&self) -> Option<&Verification>;
    /// Every `/approve` recorded.
    fn approvals(&self) -> &[Approval];
    fn prod(&self) -> Option<&Deploy>;
    /// Distinct `/approve`rs of the head, never the author.
    fn approvers(&self) -> Vec<&str>;
}

impl TwoStage for GateState {
    fn lgtm(&self) -> Option<&Approval> {
        self.gates(&staging()).and_then(|g| g.approvals.first())
    }
    fn stage_deploy(&self) -> Option<&Deploy> {
        self.gates(&staging()).and_then(|g| g.deploy.as_ref())
    }
    fn verification(&self) -> Option<&Verification> {
        self.gates(&staging()).and_then(|g| g.verification.as_ref())
    }
    fn approvals(&self) -> &[Approval] {
        self.gates(&production())
            .map(|g| g.approvals.as_slice())
            .unwrap_or_default()
    }
    fn prod(&self) -> Option<&Deploy> {
        self.gates(&production()).and_then(|g| g.deploy.as_ref())
    }
    fn approvers(&self) -> Vec<&str> {
        let authors = self.authors();
        self.gates(&production())
            .map(|g| {
                g.approvers(&self.head_sha, authors.as_ref(), None)
                    .into_iter()
                    .map(|a| a.login.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }
}
