//! What the two property suites share: the fixed clock and SHAs, the people
//! who give commands and the roles they hold, and the invariants every
//! transition must keep whatever the chain (a finished deploy never
//! changes; applying a fact twice changes nothing).

use chrono::{DateTime, Utc};

use super::commands::{Command, Role};
use super::state::{DeployStatus, GateState};
use super::{Action, Context, Fact, Grant, Reaction, Transition, apply};
use crate::core::config::Pipeline;
use crate::core::domain::Sha;

pub(crate) fn t0() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().expect("fixed time")
}

/// One of four SHAs (`aaaa…`, `bbbb…`, `cccc…`, `dddd…`).
pub(crate) fn sha(i: u8) -> Sha {
    let c = b"abcd"[usize::from(i % 4)] as char;
    Sha::parse(&c.to_string().repeat(40)).expect("fixed sha")
}

/// Who gives a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    /// The PR author, who also holds both roles.
    Author,
    Qa,
    Qa2,
    Release,
    Release2,
    /// Holds both roles.
    Team,
    /// Read access only.
    Reader,
    /// No access at all.
    Outsider,
}

/// Everyone who may act.
pub(crate) const ALL_WHO: [Who; 8] = [
    Who::Author,
    Who::Qa,
    Who::Qa2,
    Who::Release,
    Who::Release2,
    Who::Team,
    Who::Reader,
    Who::Outsider,
];

impl Who {
    pub(crate) fn login(self) -> &'static str {
        match self {
            Who::Author => "alice",
            Who::Qa => "bob",
            Who::Qa2 => "dave",
            Who::Release => "carol",
            Who::Release2 => "erin",
            Who::Team => "frank",
            Who::Reader => "randy",
            Who::Outsider => "mallory",
        }
    }

    /// Whether they hold the role named `name` (`qa` or `release`).
    pub(crate) fn holds_named(self, name: &str) -> bool {
        let (qa, release) = match self {
            Who::Author | Who::Team => (true, true),
            Who::Qa | Who::Qa2 => (true, false),
            Who::Release | Who::Release2 => (false, true),
            Who::Reader | Who::Outsider => (false, false),
        };
        match name {
            "qa" => qa,
            "release" => release,
            _ => false,
        }
    }

    pub(crate) fn holds(self, role: &Role) -> bool {
        match role {
            Role::Named(name) => self.holds_named(name),
            Role::AnyGate => self.holds_named("qa") || self.holds_named("release"),
            Role::Read => self != Who::Outsider,
        }
    }
}

/// The grant a command by someone who holds the roles `holds` says gets.
pub(crate) fn grant(command: &Command, chain: &Pipeline, holds: impl Fn(&Role) -> bool) -> Grant {
    match command.required_role(chain) {
        Some(role) if !holds(&role) => Grant::Lacks(role),
        _ => Grant::Holds,
    }
}

/// Whether the transition accepted a command.
pub(crate) fn accepted(t: &Transition) -> bool {
    t.actions.iter().any(|a| {
        matches!(
            a,
            Action::React {
                reaction: Reaction::Accepted,
                ..
            }
        )
    })
}

/// The invariants of any transition from `before` by `fact` to `t`: a
/// finished deploy never changes its result, and applying the same fact
/// again changes nothing.
pub(crate) fn transition_invariants(
    before: &GateState,
    fact: &Fact,
    t: &Transition,
    policy: &Context<'_>,
) -> Result<(), String> {
    for old in before
        .deploys()
        .filter(|d| d.status != DeployStatus::Pending)
    {
        if let Some(new) = t.state.deploy(&old.dispatch_id)
            && (new.status != old.status || new.run_id != old.run_id)
        {
            return Err(format!("{} changed after it finished", old.dispatch_id));
        }
    }
    let again = apply(&t.state, fact, policy);
    let dispatches_again = again
        .actions
        .iter()
        .any(|a| matches!(a, Action::Dispatch { .. } | Action::RecordDeploy { .. }));
    if again.changed || dispatches_again {
        return Err(format!(
            "applying {fact:?} twice changed the state again: {}",
            again.note
        ));
    }
    Ok(())
}
