//! `/lock <env> [reason]` and `/unlock <env>`: hold a locked environment
//! (a stage with `lock: true`) for this PR without deploying — a manual
//! test, an investigation — and end anyone's hold on it. How holds are
//! taken and end otherwise, and the queue, are in `locks.rs`.

use super::args::{ArgError, MAX_HOLD_REASON_CHARS, environments, named_stage, one_of};
use super::command::Command;
use crate::core::config::{Pipeline, StageConfig};
use crate::core::domain::Person;
use crate::core::gate::occupancy::{EnvChange, EnvLock};
use crate::core::gate::refusals::Refusal;
use crate::core::gate::transition::Machine;

/// The environments of `chain` that have a lock, or all of them.
fn lockable(chain: &Pipeline) -> Vec<&str> {
    let locked: Vec<&str> = chain
        .stages
        .iter()
        .filter(|s| s.lock)
        .map(|s| s.environment.as_str())
        .collect();
    if locked.is_empty() {
        environments(chain)
    } else {
        locked
    }
}

/// `/lock <env> [reason]`: the rest of the line is the reason.
pub(super) fn parse_lock(args: &str, chain: &Pipeline) -> Result<Command, ArgError> {
    let (env, reason) = match args.split_once(char::is_whitespace) {
        Some((env, reason)) => (env, reason.trim()),
        None => (args, ""),
    };
    if env.is_empty() {
        return Err(format!(
            "`/lock` names the environment to hold: {}",
            one_of(&lockable(chain))
        ));
    }
    let reason = super::args::truncate_chars(reason, MAX_HOLD_REASON_CHARS);
    let reason = reason.trim_end();
    Ok(Command::Lock {
        env: named_stage(env, chain)?,
        reason: (!reason.is_empty()).then(|| reason.to_string()),
    })
}

/// `/unlock <env>`.
pub(super) fn parse_unlock(args: &str, chain: &Pipeline) -> Result<Command, ArgError> {
    let mut words = args.split_whitespace();
    match (words.next(), words.next()) {
        (Some(env), None) => named_stage(env, chain).map(Command::Unlock),
        _ => Err(format!(
            "`/unlock` names the environment to release: {}",
            one_of(&lockable(chain))
        )),
    }
}

impl Machine<'_, '_> {
    /// Holds `stage`'s environment for this PR, until `/unlock`, a push,
    /// the PR's close or the lock's timeout.
    pub(super) fn lock(
        &mut self,
        stage: &StageConfig,
        by: &Person,
        reason: Option<&String>,
    ) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        if !stage.lock {
            return Err(Refusal::NotLockable(env.clone()));
        }
        let me = self.s.pr.number;
        let held = self
            .envs
            .get(env)
            .and_then(|r| r.live_lock(self.cx.now, stage.lock_timeout))
            .map(|l| l.pr);
        if let Some(pr) = held.filter(|pr| *pr != me) {
            return Err(Refusal::AlreadyLocked {
                env: env.clone(),
                pr,
            });
        }
        self.env_change(EnvChange::Lock {
            environment: env.clone(),
            lock: EnvLock {
                pr: me,
                sha: self.s.head_sha.clone(),
                since: self.cx.now,
                by: Some(by.login.clone()),
                by_id: Some(by.id),
                reason: reason.cloned(),
            },
        });
        Ok(Some(format!(
            "{env} is held by this pull request until `/unlock {env}`, a push, its close or {} from now.",
            crate::core::config::soak_text(stage.lock_timeout)
        )))
    }

    /// Ends anyone's hold on `stage`'s environment; the first queued PR
    /// goes next.
    pub(super) fn unlock(&mut self, stage: &StageConfig) -> Result<Option<String>, Refusal> {
        let env = &stage.environment;
        if !stage.lock {
            return Err(Refusal::NotLockable(env.clone()));
        }
        let holder = self
            .envs
            .get(env)
            .and_then(|r| r.live_lock(self.cx.now, stage.lock_timeout))
            .map(|l| l.pr);
        let Some(holder) = holder else {
            return Err(Refusal::NothingToCancel(format!("{env} is not held")));
        };
        self.release(stage, None);
        Ok(Some(format!("{env} released (it was held by #{holder}).")))
    }
}
