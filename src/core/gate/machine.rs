//! `apply(state, fact, context) -> (state, actions)`: the whole promotion
//! logic, pure and deterministic. The caller persists the new state
//! together with the actions (as pending side effects), then performs them.
//!
//! [`Machine::fact`] only routes a fact to the code that owns it: GitHub's
//! view of the PR ([`super::observe`]), a run or dispatch's fate
//! ([`super::runs`]), a comment's commands ([`super::commands`]); each of
//! them may let the chain advance ([`super::advance`]).

use super::actions::{Action, Reaction};
use super::context::Context;
use super::facts::Fact;
use super::state::GateState;
use super::transition::{Machine, Transition};

/// Applies `fact` to `state` under `cx`.
pub fn apply(state: &GateState, fact: &Fact, cx: &Context<'_>) -> Transition {
    let mut m = Machine {
        s: state.clone(),
        actions: Vec::new(),
        env_changes: Vec::new(),
        envs: cx.environments.clone(),
        cx,
    };
    let note = m.fact(fact);
    m.tidy_locks();
    m.merge_when_passed();
    // A queued PR is watched too: the reconciler notices a hold that
    // timed out, or a wake that was lost.
    m.s.awaits_time = m.awaits_time() || m.queued_anywhere();
    let changed = m.s != *state;
    if changed {
        m.s.updated_at = cx.now;
        if !m.actions.contains(&Action::SyncCheckRun) {
            m.actions.push(Action::SyncCheckRun);
        }
    }
    Transition {
        state: m.s,
        actions: m.actions,
        env_changes: m.env_changes,
        changed,
        note,
    }
}

impl Machine<'_, '_> {
    /// Applies one fact; returns the audit log's line about it.
    fn fact(&mut self, fact: &Fact) -> String {
        match fact {
            Fact::Opened => {
                self.actions.push(Action::SyncCheckRun);
                format!("opened at {}", self.s.head_sha.short())
            }
            Fact::Observed {
                open,
                head,
                base_ref,
                author_id,
                default_branch,
            } => self.observed(*open, head, base_ref, *author_id, default_branch),
            Fact::Pushed { sha, by } => self.pushed(sha, by),
            Fact::Ci { sha, status } => self.ci(sha, *status),
            Fact::BaseCompared { sha, behind_by } => self.base_compared(sha, *behind_by),
            Fact::Config { error } => self.config(error.as_ref()),
            Fact::Command {
                comment_id,
                actor,
                command,
                written_at,
                rollback_target,
            } => self.command(
                *comment_id,
                actor,
                command,
                *written_at,
                rollback_target.as_ref(),
            ),
            Fact::RunLinked {
                dispatch_id,
                run_id,
                url,
            } => self.run_linked(dispatch_id, *run_id, url.as_deref()),
            Fact::RunCompleted {
                dispatch_id,
                run_id,
                success,
                url,
                completed_at,
            } => self.run_completed(
                dispatch_id,
                *run_id,
                *success,
                url.as_deref(),
                *completed_at,
            ),
            Fact::DispatchFailed {
                dispatch_id,
                reason,
            } => self.dispatch_failed(dispatch_id, reason),
            Fact::DispatchCancelled {
                dispatch_id,
                reason,
            } => self.cancel_dispatch(dispatch_id, reason),
            Fact::RolesLost {
                environment,
                givers,
            } => self.roles_lost(environment, givers),
            Fact::NotUnderstood {
                comment_id,
                login,
                message,
            } => {
                self.actions.push(Action::React {
                    comment_id: *comment_id,
                    reaction: Reaction::Confused,
                });
                self.actions.push(Action::Reply {
                    body: format!(
                        "@{login} gatebot did not understand {message}. `/help` lists the commands."
                    ),
                });
                format!("command by @{login} not understood: {message}")
            }
            Fact::TooManyCommands {
                login,
                acted_on,
                skipped,
            } => {
                self.actions.push(Action::Reply {
                    body: format!(
                        "@{login} gatebot acts on at most {acted_on} command lines per comment; the {skipped} after them were not read. Put each command you mean in a comment of its own."
                    ),
                });
                format!("{skipped} command lines by @{login} not read")
            }
            Fact::Reevaluate => {
                let dispatched = self.advance(None);
                format!("re-evaluated{dispatched}")
            }
        }
    }
}
