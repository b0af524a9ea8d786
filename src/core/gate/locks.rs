//! Locked environments (`lock: true` on a stage): one PR at a time holds
//! the environment, from its deploy's dispatch (or its `/lock`) until it
//! moves on; PRs whose gates are met meanwhile queue, first come first.
//!
//! * taken when the PR's deploy to the stage is queued (and the PR leaves
//!   the queue); a rollback there ends anyone's hold;
//! * ended, by [`Machine::tidy_locks`] after every fact, when the PR's next
//!   stage is dispatched (for the last stage: when it passes), the PR is
//!   closed or pushed to, or the timeout passed; by `/unlock` (`lock.rs`
//!   in `commands/`);
//! * a queued PR whose gates no longer hold leaves the queue; one that
//!   may go is dispatched ([`super::advance`]);
//! * when a hold ends, or the first in the queue leaves it, the next in the
//!   queue is woken ([`Action::Wake`]): the shell re-evaluates it at once,
//!   and the reconciler watches every queued PR in case that is lost.
//!
//! Whether a promotion must wait for a hold or the queue is
//! [`super::blocker::locked`], the last rule of the blocker.

use super::actions::Action;
use super::blocker::blocker;
use super::occupancy::{EnvChange, EnvLock, Queued};
use super::refusals::Refusal;
use super::state::DeployKind;
use super::status::walk;
use super::transition::Machine;
use crate::core::config::StageConfig;

impl Machine<'_, '_> {
    /// What a deploy of kind `kind` queued to `stage` does to its lock.
    pub(super) fn lock_on_dispatch(&mut self, stage: &StageConfig, kind: DeployKind) {
        let env = &stage.environment;
        let me = self.s.pr.number;
        match kind {
            DeployKind::Promote if stage.lock => {
                self.env_change(EnvChange::Lock {
                    environment: env.clone(),
                    lock: EnvLock {
                        pr: me,
                        sha: self.s.head_sha.clone(),
                        since: self.cx.now,
                        by: None,
                        by_id: None,
                        reason: None,
                    },
                });
                self.env_change(EnvChange::Dequeue {
                    environment: env.clone(),
                    pr: me,
                });
            }
            // An emergency: not blocked by a hold, and it ends it.
            DeployKind::Rollback if stage.lock => self.release(stage, None),
            _ => {}
        }
    }

    /// Ends the hold on `stage`'s environment (`pr`'s only, or anyone's),
    /// and wakes the first PR queued for it.
    pub(super) fn release(&mut self, stage: &StageConfig, pr: Option<u64>) {
        let env = &stage.environment;
        let held = self
            .envs
            .get(env)
            .and_then(|r| r.lock.as_ref())
            .is_some_and(|l| pr.is_none_or(|p| l.pr == p));
        if !held {
            return;
        }
        self.env_change(EnvChange::Unlock {
            environment: env.clone(),
            pr,
        });
        self.wake_first(stage);
    }

    /// Wakes the first PR queued for `stage` (other than this one).
    fn wake_first(&mut self, stage: &StageConfig) {
        let me = self.s.pr.number;
        let first = self
            .envs
            .get(&stage.environment)
            .and_then(|r| r.queue.iter().find(|q| q.pr != me))
            .map(|q| q.pr);
        if let Some(pr) = first
            && !self.actions.contains(&Action::Wake { pr })
        {
            self.actions.push(Action::Wake { pr });
        }
    }

    /// After every fact: ends this PR's holds that no longer stand, and
    /// takes it out of the queues it may no longer wait in (or dispatches
    /// it, when its turn came).
    pub(super) fn tidy_locks(&mut self) {
        let chain = self.cx.chain();
        let me = self.s.pr.number;
        for (i, stage) in chain.stages.iter().enumerate() {
            if !stage.lock {
                continue;
            }
            let env = &stage.environment;
            let Some(record) = self.envs.get(env) else {
                continue;
            };
            if let Some(lock) = record.lock.as_ref().filter(|l| l.pr == me) {
                let moved_on = !lock.manual() && self.moved_on(i);
                let ends = !self.s.open
                    || lock.sha != self.s.head_sha
                    || moved_on
                    || !lock.live(self.cx.now, stage.lock_timeout);
                if ends {
                    self.release(stage, Some(me));
                }
            }
            let queued = self
                .envs
                .get(env)
                .and_then(|r| r.queue.iter().find(|q| q.pr == me))
                .cloned();
            if let Some(entry) = queued {
                self.tidy_queue_entry(stage, &entry);
            }
        }
    }

    /// Whether the PR is done with stage `i`: its next stage is dispatched
    /// for the head after this stage's deploy (a redeploy of this stage
    /// made after the next one's holds it again), or, for the last stage,
    /// the stage passed.
    fn moved_on(&self, i: usize) -> bool {
        let chain = self.chain();
        let this = chain
            .stages
            .get(i)
            .and_then(|st| self.s.deploy_to(&st.environment));
        match chain.stages.get(i + 1) {
            Some(next) => self
                .s
                .deploy_to(&next.environment)
                .is_some_and(|d| d.sha == self.s.head_sha && !d.dispatched_before(this)),
            None => walk(&self.s, chain, &self.envs)
                .get(i)
                .is_some_and(|st| st.passed_at.is_some()),
        }
    }

    /// A queued PR stays while its gates hold and the lock or the queue is
    /// all it waits for; goes when its turn came; leaves otherwise.
    fn tidy_queue_entry(&mut self, stage: &StageConfig, entry: &Queued) {
        let env = &stage.environment;
        let head = self.s.head_sha.clone();
        let why = if !self.s.open || entry.sha != head {
            Some(None)
        } else if self.s.deploy_to(env).is_some_and(|d| d.sha == head) {
            // Dispatched already (its dispatch took it out; a retry's too).
            Some(None)
        } else {
            match blocker(&self.s, env, DeployKind::Promote, &head, &self.cx()) {
                Some(Refusal::Queued { .. }) => None,
                // Its turn: the chain moves on (and takes it out).
                None => {
                    self.advance(None);
                    return;
                }
                Some(other) => Some(Some(other)),
            }
        };
        let Some(why) = why else {
            return;
        };
        let was_first = self
            .envs
            .get(env)
            .and_then(|r| r.queue.first())
            .is_some_and(|q| q.pr == self.s.pr.number);
        self.env_change(EnvChange::Dequeue {
            environment: env.clone(),
            pr: self.s.pr.number,
        });
        if let Some(why) = why {
            self.actions.push(Action::Reply {
                body: format!("This pull request left {env}'s queue: {why}."),
            });
        }
        let free = self
            .envs
            .get(env)
            .and_then(|r| r.live_lock(self.cx.now, stage.lock_timeout))
            .is_none();
        if was_first && free {
            self.wake_first(stage);
        }
    }

    /// Whether the PR waits in some environment's queue.
    pub(super) fn queued_anywhere(&self) -> bool {
        let me = self.s.pr.number;
        self.envs
            .records
            .iter()
            .any(|r| r.queue.iter().any(|q| q.pr == me))
    }
}
