//! `/hold [reason]` and `/unhold`: stop gatebot dispatching anything for
//! the PR, and let it go on. A hold blocks dispatches, not approvals;
//! anyone with a gate role may lift it.

use super::args::{ArgError, MAX_HOLD_REASON_CHARS, truncate_chars};
use super::command::Command;
use crate::core::domain::Person;
use crate::core::gate::refusals::Refusal;
use crate::core::gate::state::Hold;
use crate::core::gate::transition::Machine;

/// `/hold [reason]`: the trimmed rest of the line is the reason.
pub(super) fn parse_hold(args: &str) -> Result<Command, ArgError> {
    let reason = truncate_chars(args, MAX_HOLD_REASON_CHARS);
    let reason = reason.trim_end();
    Ok(Command::Hold {
        reason: (!reason.is_empty()).then(|| reason.to_string()),
    })
}

impl Machine<'_, '_> {
    pub(super) fn hold(
        &mut self,
        by: &Person,
        reason: Option<&String>,
    ) -> Result<Option<String>, Refusal> {
        self.s.hold = Some(Hold {
            login: by.login.clone(),
            id: Some(by.id),
            reason: reason.cloned(),
            at: self.cx.now,
        });
        Ok(None)
    }

    pub(super) fn unhold(&mut self, by: &Person) -> Result<Option<String>, Refusal> {
        if self.s.hold.take().is_none() {
            return Err(Refusal::NothingToCancel(
                "this pull request is not held".into(),
            ));
        }
        self.advance(Some(&by.login));
        Ok(None)
    }
}
