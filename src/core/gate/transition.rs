//! A transition: the result of applying a fact ([`Transition`]), and the
//! one in the making ([`Machine`]) that the code of each kind of fact
//! (`observe.rs`, `runs.rs`, `advance.rs`, `commands/`) works on.

use super::actions::Action;
use super::context::Context;
use super::occupancy::{EnvChange, Environments};
use super::state::GateState;
use crate::core::config::Pipeline;

/// The result of applying a fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: GateState,
    pub actions: Vec<Action>,
    /// How what runs where changes (written with the state).
    pub env_changes: Vec<EnvChange>,
    /// Whether the state differs from the input.
    pub changed: bool,
    /// One line for the audit log.
    pub note: String,
}

/// One transition in the making: the state as it changes, the side
/// effects it asks for, and the context it is judged under.
pub(super) struct Machine<'p, 'c> {
    pub(super) s: GateState,
    pub(super) actions: Vec<Action>,
    pub(super) env_changes: Vec<EnvChange>,
    /// What runs where: the context's records with this transition's
    /// changes applied so far.
    pub(super) envs: Environments,
    pub(super) cx: &'p Context<'c>,
}

impl Machine<'_, '_> {
    pub(super) fn chain(&self) -> &Pipeline {
        self.cx.chain()
    }

    /// The context, with what runs where as this transition left it so
    /// far.
    pub(super) fn cx(&self) -> Context<'_> {
        Context {
            environments: &self.envs,
            ..*self.cx
        }
    }

    /// Records a change to what runs where.
    pub(super) fn env_change(&mut self, change: EnvChange) {
        self.envs.apply(&self.s.pr.repo, &change);
        self.env_changes.push(change);
    }
}
