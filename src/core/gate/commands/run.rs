//! Running a command: its spec's guards, checked once for every command
//! (the config, the role the shell resolved, an open PR, and — for a
//! command that gives a gate — a head the person saw, a gated base, not an
//! author), then its handler; and the answer: a reaction, a reply when
//! there is something to say, the audit line.

use chrono::{DateTime, Utc};

use super::command::{Actor, Command, Grant};
use super::help::help_text;
use super::{args, entry, verify};
use crate::core::domain::{Environment, Person, Sha};
use crate::core::gate::actions::{Action, Reaction};
use crate::core::gate::blocker::{blocker, held};
use crate::core::gate::refusals::Refusal;
use crate::core::gate::state::DeployKind;
use crate::core::gate::transition::Machine;

impl Machine<'_, '_> {
    /// Runs one command: its answer (a reaction, and a reply when there is
    /// something to say), and the audit line.
    pub(in crate::core::gate) fn command(
        &mut self,
        comment_id: u64,
        actor: &Actor,
        command: &Command,
        written_at: Option<DateTime<Utc>>,
        rollback_target: Option<&Sha>,
    ) -> String {
        let result = self.run_command(actor, command, written_at, rollback_target);
        let name = command.name();
        match result {
            Ok(reply) => {
                self.actions.push(Action::React {
                    comment_id,
                    reaction: Reaction::Accepted,
                });
                if let Some(body) = reply {
                    self.actions.push(Action::Reply { body });
                }
                format!("/{name} by @{} (id {}) accepted", actor.login, actor.id)
            }
            Err(refusal) => {
                self.actions.push(Action::React {
                    comment_id,
                    reaction: Reaction::Refused,
                });
                self.actions.push(Action::Reply {
                    body: format!("@{} `/{name}` refused: {refusal}.", actor.login),
                });
                format!(
                    "/{name} by @{} (id {}) refused: {refusal}",
                    actor.login, actor.id
                )
            }
        }
    }

    /// Checks the command's spec once, then hands it to its handler;
    /// `Ok(Some(text))` when the answer needs a reply.
    fn run_command(
        &mut self,
        actor: &Actor,
        command: &Command,
        written_at: Option<DateTime<Utc>>,
        rollback_target: Option<&Sha>,
    ) -> Result<Option<String>, Refusal> {
        let spec = command.spec();
        // An unusable config is the first thing to fix: say so before
        // anything that depends on it (roles come from it).
        if let Some(error) = &self.s.config_error
            && !spec.under_invalid_config
        {
            return Err(Refusal::Config(error.clone()));
        }
        let chain = self.cx.chain();
        if let Grant::Lacks(role) = &actor.grant {
            return Err(Refusal::NoPermission(role.describe(chain)));
        }
        if spec.needs_open_pr && !self.s.open {
            return Err(Refusal::Closed);
        }
        if spec.gives_gate {
            self.may_give_gate(actor, written_at)?;
        }
        let by = Person {
            id: actor.id,
            login: actor.login.clone(),
        };
        match command {
            Command::Entry {
                word,
                env,
                cancel: false,
            } => self.give_entry(entry::stage(chain, env, word)?, &by),
            Command::Entry {
                word,
                env,
                cancel: true,
            } => self.cancel_entry(entry::stage(chain, env, word)?, word, &by),
            Command::Verify {
                word,
                env,
                cancel: false,
            } => {
                let (i, stage) = verify::stage(chain, env, word)?;
                self.give_verification(i, stage, &by)
            }
            Command::Verify {
                word,
                env,
                cancel: true,
            } => {
                let (i, _) = verify::stage(chain, env, word)?;
                self.cancel_verification(i, env, &by)
            }
            Command::Rollback(env) => self.rollback(env, &by, rollback_target),
            Command::Retry(env) => self.retry(args::stage_of(chain, env)?.1, &by),
            Command::Hold { reason } => self.hold(&by, reason.as_ref()),
            Command::Unhold => self.unhold(&by),
            Command::Lock { env, reason } => {
                self.lock(args::stage_of(chain, env)?.1, &by, reason.as_ref())
            }
            Command::Unlock(env) => self.unlock(args::stage_of(chain, env)?.1),
            Command::Gates => Ok(Some(self.gates_reply())),
            Command::Envs => Ok(Some(self.envs_reply())),
            Command::Help => Ok(Some(help_text(chain))),
        }
    }

    /// A gate command binds to the head the person saw, and comes from
    /// someone who did not write it.
    fn may_give_gate(
        &self,
        actor: &Actor,
        written_at: Option<DateTime<Utc>>,
    ) -> Result<(), Refusal> {
        // One written before gatebot learned of the head (a late or
        // redelivered comment, a push in between) was about another
        // commit; a time past the clock's range is stale, never early.
        let stale = written_at.is_none_or(|w| {
            self.s
                .gates_since()
                .checked_add_signed(self.cx.clock_skew)
                .is_none_or(|since| w < since)
        });
        if stale {
            return Err(Refusal::Stale(self.s.head_sha.clone()));
        }
        // Only a PR into a gated base has gates to give.
        if !self.s.base_gated(self.chain()) {
            let base = self.s.base_ref.clone().unwrap_or_default();
            return Err(Refusal::NotGated(base));
        }
        // No one who wrote the head gives its gates: its opener, and
        // whoever pushed to it, by user id (a renamed account is the same
        // person).
        let Some(authors) = self.s.authors() else {
            return Err(Refusal::PusherUnknown(self.s.head_sha.clone()));
        };
        if authors.contains(actor.id) {
            return Err(Refusal::AuthorCannotApprove);
        }
        Ok(())
    }
}

impl Machine<'_, '_> {
    /// The stage after `i`, when its deploy is already made: a
    /// verification of `i` can then no longer change.
    pub(super) fn next_dispatched(&self, i: usize) -> Option<Environment> {
        let next = self.chain().stages.get(i + 1)?;
        self.s
            .deploy_to(&next.environment)
            .map(|_| next.environment.clone())
    }

    /// When the PR is held, says that what was given waits for `/unhold`.
    pub(super) fn held_note(&self) -> Option<String> {
        held(&self.s).map(|h| format!("Recorded, but {h} to let gatebot dispatch."))
    }

    /// When the head's deploy to `env` waits for another deploy still
    /// running there, or for a stage before it to run the head again (another
    /// deploy displaced it), says so.
    pub(super) fn busy_note(&self, env: &Environment) -> Option<String> {
        if self.s.deploy_to(env).is_some() {
            return None;
        }
        let head = &self.s.head_sha;
        match blocker(&self.s, env, DeployKind::Promote, head, &self.cx()) {
            Some(running @ Refusal::DeployRunning(_)) => Some(format!(
                "Recorded, but {running}: gatebot dispatches `{}` to {env} when it finishes.",
                head.short()
            )),
            Some(
                moved @ (Refusal::Displaced { .. }
                | Refusal::SoakCut { .. }
                | Refusal::Queued { .. }
                | Refusal::Behind { .. }),
            ) => Some(format!("Recorded, but {moved}.")),
            _ => None,
        }
    }
}
