//! `/gates`, `/envs` and `/help`: answered with a reply, changing nothing.
//! `/gates` shows the gate table the check run shows; `/envs` what runs in
//! each environment of the chain, its holder and its queue; `/help` the
//! commands of the repository's chain (`help.rs`).

use crate::core::gate::summary;
use crate::core::gate::transition::Machine;

impl Machine<'_, '_> {
    /// The reply to `/gates`.
    pub(super) fn gates_reply(&self) -> String {
        summary::render(&self.s, &self.cx()).text
    }

    /// The reply to `/envs`.
    pub(super) fn envs_reply(&self) -> String {
        crate::core::gate::envs_table(self.chain(), &self.envs, self.cx.now)
    }
}
