//! `merge:` on the last stage: once that stage passed for the head,
//! gatebot merges the PR with the configured method and `sha` = the
//! deployed head, so that GitHub refuses if the head moved. Queued once per
//! head ([`GateState::merge_queued`]) as an outbox action; the shell
//! re-checks it before sending it (the PR still open, its head unchanged,
//! no hold) and never sends another `sha`.
//!
//! [`GateState::merge_queued`]: super::state::GateState::merge_queued

use super::actions::Action;
use super::status::walk;
use super::transition::Machine;

impl Machine<'_, '_> {
    /// Queues the merge once the last stage passed for the head.
    pub(super) fn merge_when_passed(&mut self) {
        let chain = self.cx.chain();
        let Some(method) = chain.last().and_then(|s| s.merge) else {
            return;
        };
        let head = self.s.head_sha.clone();
        if !self.s.open || self.s.hold.is_some() || self.s.merge_queued.as_ref() == Some(&head) {
            return;
        }
        let passed = walk(&self.s, chain, &self.envs)
            .last()
            .is_some_and(|st| st.passed_at.is_some());
        if !passed {
            return;
        }
        self.s.merge_queued = Some(head.clone());
        self.actions.push(Action::Merge { sha: head, method });
    }
}
