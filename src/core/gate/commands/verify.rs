//! A stage's verification — `/verify-stage`, or whatever word the chain
//! gives it, and `/verify <env>` for any stage — and its `cancel`. Given
//! once the stage's deploy of the head succeeded (and still runs there);
//! with a verify workflow, gatebot dispatches it and the stage passes when
//! it succeeds.

use super::args::{ArgError, MAX_ECHOED_WORD_CHARS, one_of, truncate_chars};
use super::command::Command;
use crate::core::config::{Pipeline, StageConfig};
use crate::core::domain::{Environment, Person};
use crate::core::gate::blocker::blocker;
use crate::core::gate::refusals::Refusal;
use crate::core::gate::state::{DeployKind, DeployStatus, Verification};
use crate::core::gate::status::walk;
use crate::core::gate::transition::Machine;

/// `/verify <env> [cancel]`: the verification of the stage named.
pub(super) fn parse_verify(args: &str, chain: &Pipeline) -> Result<Command, ArgError> {
    let verified: Vec<&str> = chain
        .stages
        .iter()
        .filter(|s| s.verify.is_some())
        .map(|s| s.environment.as_str())
        .collect();
    let example = verified.first().copied().unwrap_or("staging");
    let usage = || {
        format!(
            "`/verify` names the stage to verify: `/verify {example}` (or `/verify {example} cancel`)"
        )
    };
    let mut words = args.split_whitespace();
    let Some(named) = words.next() else {
        return Err(usage());
    };
    let Some(i) = chain.named(named) else {
        return Err(format!(
            "unknown environment {}; use {}",
            crate::core::markdown::code_span(&truncate_chars(named, MAX_ECHOED_WORD_CHARS)),
            one_of(&verified)
        ));
    };
    let cancel = match (words.next(), words.next()) {
        (None, _) => false,
        (Some(w), None) if w.eq_ignore_ascii_case("cancel") => true,
        _ => return Err(usage()),
    };
    let stage = &chain.stages[i];
    match &stage.verify {
        Some(v) => Ok(Command::Verify {
            word: v.word.clone(),
            env: stage.environment.clone(),
            cancel,
        }),
        None => Err(format!(
            "{} has no verification step; `/verify {example}` verifies {example}",
            stage.environment
        )),
    }
}

/// The stage deploying to `env`, whose verify command is `word`, with its
/// position in the chain.
pub(super) fn stage<'c>(
    chain: &'c Pipeline,
    env: &Environment,
    word: &str,
) -> Result<(usize, &'c StageConfig), Refusal> {
    let (i, stage) = super::args::stage_of(chain, env)?;
    if stage.verify.as_ref().is_none_or(|v| v.word != word) {
        return Err(Refusal::NoGate {
            env: env.clone(),
            word: word.to_string(),
        });
    }
    Ok((i, stage))
}

impl Machine<'_, '_> {
    pub(super) fn give_verification(
        &mut self,
        i: usize,
        stage: &StageConfig,
        by: &Person,
    ) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        let head = self.s.head_sha.clone();
        if !self.s.gates(env).is_some_and(|g| g.deployed(&head)) {
            return Err(Refusal::NotDeployedYet {
                env: env.clone(),
                sha: head,
            });
        }
        if let Some(next) = self.next_dispatched(i) {
            return Err(Refusal::AlreadyDispatched(next));
        }
        if let Some(v) = self.s.verification_of(env)
            && v.run
                .as_ref()
                .is_none_or(|r| r.status != DeployStatus::Failed)
        {
            // Already verified or verifying: nothing more to do.
            return Ok(None);
        }
        // What runs there now is another deploy: verifying would vouch
        // for code that is not there.
        if let Some(st) = walk(&self.s, self.chain(), &self.envs)
            .get(i)
            .filter(|st| st.displaced_at.is_some())
        {
            return Err(Refusal::Displaced {
                env: env.clone(),
                now: st.runs_now(),
            });
        }
        let runs_workflow = stage.verify.as_ref().is_some_and(|v| v.workflow.is_some());
        let run = if runs_workflow {
            if let Some(b) = blocker(&self.s, env, DeployKind::Verify, &head, &self.cx()) {
                return Err(b);
            }
            Some(self.queue_deploy(stage, DeployKind::Verify, head.clone(), &by.login))
        } else {
            None
        };
        self.s.gates_mut(env).verification = Some(Verification {
            login: by.login.clone(),
            id: Some(by.id),
            sha: head,
            at: self.cx.now,
            run,
        });
        self.advance(Some(&by.login));
        let next = self
            .chain()
            .stages
            .get(i + 1)
            .map(|s| s.environment.clone());
        Ok(self
            .held_note()
            .or_else(|| next.and_then(|n| self.busy_note(&n))))
    }

    /// Withdraws the giver's own verification, before the next stage is
    /// dispatched.
    pub(super) fn cancel_verification(
        &mut self,
        i: usize,
        env: &Environment,
        by: &Person,
    ) -> Result<Option<String>, Refusal> {
        let Some(v) = self.s.verification_of(env) else {
            return Err(Refusal::NothingToCancel(format!("{env} is not verified")));
        };
        if v.id != Some(by.id) {
            return Err(Refusal::NotYours(v.login.clone()));
        }
        if let Some(next) = self.next_dispatched(i) {
            return Err(Refusal::AlreadyDispatched(next));
        }
        let gates = self.s.gates_mut(env);
        let run = gates.verification.take().and_then(|v| v.run);
        // A verify run still going is kept track of, detached.
        self.s
            .detached
            .extend(run.filter(|r| r.status == DeployStatus::Pending));
        Ok(None)
    }
}
