//! `/retry <env>`: dispatches the stage's failed deploy of the head again
//! (an `auto` stage has no command to give again), or its deploy that
//! something else displaced there (a rollback, or another PR's deploy)
//! before the stage passed or before the next stage's soak ended, once
//! its run finished and every gate allows it. The entry commands for the head stand; the
//! verification and the soak start again, since they were about what ran
//! there.

use super::args::{ArgError, environments, named_stage, one_of};
use super::command::Command;
use crate::core::config::{Pipeline, StageConfig};
use crate::core::domain::Person;
use crate::core::gate::blocker::blocker;
use crate::core::gate::refusals::Refusal;
use crate::core::gate::state::{DeployKind, DeployStatus};
use crate::core::gate::status::walk;
use crate::core::gate::transition::Machine;

/// `/retry <env>`: the stage whose failed deploy to dispatch again.
pub(super) fn parse_retry(args: &str, chain: &Pipeline) -> Result<Command, ArgError> {
    let mut words = args.split_whitespace();
    match (words.next(), words.next()) {
        (Some(env), None) => named_stage(env, chain).map(Command::Retry),
        _ => Err(format!(
            "`/retry` names the stage whose failed deploy to retry: {}",
            one_of(&environments(chain))
        )),
    }
}

impl Machine<'_, '_> {
    pub(super) fn retry(
        &mut self,
        stage: &StageConfig,
        by: &Person,
    ) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        let head = self.s.head_sha.clone();
        let deploy = self.s.deploy_to(env);
        // Another deploy runs there, and the stage's pass (or the next
        // stage's soak) needed this one.
        let elsewhere = {
            let statuses = walk(&self.s, self.chain(), &self.envs);
            let at = statuses.iter().position(|st| st.environment() == env);
            let this = at.and_then(|i| statuses.get(i));
            let next_cut = at
                .and_then(|i| statuses.get(i + 1))
                .is_some_and(|n| n.soak_cut.is_some());
            this.is_some_and(|st| st.displaced_at.is_some() && (st.passed_at.is_none() || next_cut))
        };
        // Failed, or rolled back since it succeeded, or displaced.
        let displaced = deploy.is_some_and(|d| d.displaced_by.is_some()) || elsewhere;
        let redo = deploy.is_some_and(|d| d.status == DeployStatus::Failed) || displaced;
        if !redo {
            return Err(Refusal::NothingFailed {
                env: env.clone(),
                sha: head,
            });
        }
        // Overtaken, but its run still goes: one run of the PR there at a
        // time.
        if deploy.is_some_and(|d| d.status == DeployStatus::Pending) {
            return Err(Refusal::DeployRunning(env.clone()));
        }
        let gates = self.s.gates_mut(env);
        let (deploy, verification) = (gates.deploy.take(), gates.verification.take());
        if let Some(b) = blocker(&self.s, env, DeployKind::Promote, &head, &self.cx()) {
            let gates = self.s.gates_mut(env);
            gates.deploy = deploy;
            gates.verification = verification;
            return Err(b);
        }
        // What was verified no longer runs there: the new deploy is
        // verified anew (a failed deploy had nothing verified). A verify run still
        // going is kept track of, detached.
        if displaced {
            let run = verification.and_then(|v| v.run);
            self.s
                .detached
                .extend(run.filter(|r| r.status == DeployStatus::Pending));
        } else {
            self.s.gates_mut(env).verification = verification;
        }
        self.advance(Some(&by.login));
        Ok(None)
    }
}
