//! A stage's entry command — `/lgtm`, `/approve`, or whatever word the
//! chain gives it — and its `cancel`: one more of the stage's quorum, bound
//! to the head, given by someone who holds the stage's role and did not
//! write the head (checked by the spec's guards in `mod.rs`).

use super::args::ArgError;
use super::command::Command;
use crate::core::config::{Entry, GateKind, Pipeline, StageConfig};
use crate::core::domain::{Environment, Person};
use crate::core::gate::blocker::{blocker, frozen};
use crate::core::gate::refusals::Refusal;
use crate::core::gate::state::{Approval, Deploy, DeployKind, DeployStatus};
use crate::core::gate::transition::Machine;

/// `/<word> [<env>] [cancel]`: a gate command of the chain (an entry or a
/// verify word). A word that gates one stage needs no environment; one that
/// gates several must name it.
pub(super) fn parse_gate(word: &str, args: &str, chain: &Pipeline) -> Result<Command, ArgError> {
    let gates = chain.gates_of(word);
    let envs = |gates: &[(usize, GateKind)]| {
        gates
            .iter()
            .map(|(i, _)| format!("`{}`", chain.stages[*i].environment))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let usage = || match gates.as_slice() {
        [(i, _)] => format!(
            "`/{word}` takes only the stage it belongs to (`{}`) and `cancel`",
            chain.stages[*i].environment
        ),
        _ => format!(
            "`/{word}` gates several stages ({}): name one, as in `/{word} {}`",
            envs(&gates),
            gates
                .first()
                .map(|(i, _)| chain.stages[*i].environment.as_str())
                .unwrap_or_default()
        ),
    };
    let mut words = args.split_whitespace().peekable();
    let named = match words.peek() {
        Some(w) if !w.eq_ignore_ascii_case("cancel") => {
            let at = chain.named(w);
            let gate = gates.iter().find(|(i, _)| Some(*i) == at).copied();
            words.next();
            Some(gate.ok_or_else(usage)?)
        }
        _ => None,
    };
    let cancel = match (words.next(), words.next()) {
        (None, _) => false,
        (Some(w), None) if w.eq_ignore_ascii_case("cancel") => true,
        _ => return Err(usage()),
    };
    let (i, kind) = match (named, gates.as_slice()) {
        (Some(gate), _) => gate,
        (None, [gate]) => *gate,
        (None, _) => return Err(usage()),
    };
    let env = chain.stages[i].environment.clone();
    let word = word.to_string();
    Ok(match kind {
        GateKind::Entry => Command::Entry { word, env, cancel },
        GateKind::Verify => Command::Verify { word, env, cancel },
    })
}

/// The stage deploying to `env`, whose entry command is `word`. The parser
/// only makes a stage's own word; a fact that says otherwise (built by
/// other code) opens no gate.
pub(super) fn stage<'c>(
    chain: &'c Pipeline,
    env: &Environment,
    word: &str,
) -> Result<&'c StageConfig, Refusal> {
    let (_, stage) = super::args::stage_of(chain, env)?;
    if !matches!(&stage.entry, Entry::Command(g) if g.word == word) {
        return Err(Refusal::NoGate {
            env: env.clone(),
            word: word.to_string(),
        });
    }
    Ok(stage)
}

/// A command that would (re)start a deploy: refused while `deploy` is
/// running or done; a failed one is cleared so it can be dispatched again.
pub(super) fn retry_if_failed(
    deploy: &mut Option<Deploy>,
    env: &Environment,
) -> Result<(), Refusal> {
    match deploy.as_ref().map(|d| d.status) {
        Some(DeployStatus::Pending) | Some(DeployStatus::Succeeded) => {
            Err(Refusal::AlreadyDispatched(env.clone()))
        }
        Some(DeployStatus::Failed) => {
            *deploy = None;
            Ok(())
        }
        None => Ok(()),
    }
}

impl Machine<'_, '_> {
    /// One more of the stage's quorum; a failed deploy of the stage is
    /// tried again.
    pub(super) fn give_entry(
        &mut self,
        stage: &StageConfig,
        by: &Person,
    ) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        let approval = Approval {
            login: by.login.clone(),
            id: Some(by.id),
            sha: self.s.head_sha.clone(),
            at: self.cx.now,
        };
        let gates = self.s.gates_mut(env);
        retry_if_failed(&mut gates.deploy, env)?;
        let given = gates
            .approvals
            .iter()
            .any(|a| a.sha == approval.sha && a.given_by(by.id));
        if !given {
            gates.approvals.push(approval);
        }
        // The command that would dispatch a head lacking commits of its
        // base is refused (and what it gave taken back).
        let head = self.s.head_sha.clone();
        if let Some(behind @ Refusal::Behind { .. }) =
            blocker(&self.s, env, DeployKind::Promote, &head, &self.cx())
        {
            if !given {
                self.s
                    .gates_mut(env)
                    .approvals
                    .retain(|a| !(a.sha == head && a.given_by(by.id)));
            }
            return Err(behind);
        }
        self.advance(Some(&by.login));
        let undispatched = self.s.deploy_to(env).is_none();
        let mut reply = self.held_note().or_else(|| self.busy_note(env));
        if reply.is_none() && undispatched {
            reply = frozen(stage, self.cx.now).map(|f| format!("Approval recorded, but {f}."));
        }
        Ok(reply)
    }

    /// Withdraws the giver's own entry command, before the stage is
    /// dispatched.
    pub(super) fn cancel_entry(
        &mut self,
        stage: &StageConfig,
        word: &str,
        by: &Person,
    ) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        let head = self.s.head_sha.clone();
        let given = self.s.approvals_for(env);
        if !given.iter().any(|a| a.given_by(by.id) && a.sha == head) {
            let other = given.iter().find(|a| a.sha == head);
            return Err(match other {
                None => Refusal::NothingToCancel(format!("no /{word} on this SHA")),
                Some(a) if stage.quorum() == 1 => Refusal::NotYours(a.login.clone()),
                Some(_) => {
                    Refusal::NothingToCancel(format!("you have not given /{word} for this SHA"))
                }
            });
        }
        let gates = self.s.gates_mut(env);
        retry_if_failed(&mut gates.deploy, env)?;
        let Some(pos) = gates
            .approvals
            .iter()
            .position(|a| a.given_by(by.id) && a.sha == head)
        else {
            return Ok(None);
        };
        gates.approvals.remove(pos);
        Ok(None)
    }
}
