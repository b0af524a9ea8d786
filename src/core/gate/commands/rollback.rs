//! `/rollback [<env>]`: redeploys the environment's previously deployed
//! SHA, taken only from gatebot's deploy history (the shell reads it:
//! the spec says `reads_history`). Not about the head, so it works on
//! closed and merged PRs. It voids the PR's own pass of that environment.

use super::args::{ArgError, environments, named_stage, one_of};
use super::command::Command;
use crate::core::config::Pipeline;
use crate::core::domain::{Environment, Person, Sha};
use crate::core::gate::blocker::blocker;
use crate::core::gate::refusals::Refusal;
use crate::core::gate::state::{DeployKind, DeployStatus};
use crate::core::gate::transition::Machine;

/// `/rollback [<env>]`: the last stage when no environment is named.
pub(super) fn parse_rollback(args: &str, chain: &Pipeline) -> Result<Command, ArgError> {
    let mut words = args.split_whitespace();
    match (words.next(), words.next()) {
        (None, _) => chain
            .last()
            .map(|s| Command::Rollback(s.environment.clone()))
            .ok_or_else(|| "this repository's chain has no stage".to_string()),
        (Some(env), None) => named_stage(env, chain).map(Command::Rollback),
        (Some(_), Some(_)) => Err(format!(
            "`/rollback` takes one environment: {}",
            one_of(&environments(chain))
        )),
    }
}

impl Machine<'_, '_> {
    pub(super) fn rollback(
        &mut self,
        env: &Environment,
        by: &Person,
        target: Option<&Sha>,
    ) -> Result<Option<String>, Refusal> {
        let head = self.s.head_sha.clone();
        if let Some(b) = blocker(&self.s, env, DeployKind::Rollback, &head, &self.cx()) {
            return Err(b);
        }
        let Some(target) = target else {
            return Err(Refusal::NoRollbackTarget(env.clone()));
        };
        if self.s.deploys().any(|d| d.occupies(env)) {
            return Err(Refusal::DeployRunning(env.clone()));
        }
        let (_, stage) = super::args::stage_of(self.cx.chain(), env)?;
        let d = self.queue_deploy(stage, DeployKind::Rollback, target.clone(), &by.login);
        let mut reply = format!(
            "Rolling {env} back to {} (dispatch `{}`).",
            target.short(),
            d.dispatch_id
        );
        // What this PR deployed there no longer runs: no gate may rest on
        // it (a later stage's promotion waits for `/retry {env}`).
        if let Some(own) = self.s.gates_mut(env).deploy.as_mut()
            && own.status == DeployStatus::Succeeded
            && own.displaced_by.is_none()
        {
            own.displaced_by = Some(d.dispatch_id.clone());
            reply.push_str(&format!(
                " This pull request's {env} deploy of `{}` no longer counts; `/retry {env}` deploys it again.",
                own.sha.short()
            ));
        }
        self.s.detached.push(d);
        Ok(Some(reply))
    }
}
