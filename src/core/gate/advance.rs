//! The chain moving on: after any fact, the first stage that has not
//! passed is dispatched if every gate allows it ([`super::blocker`]), and
//! the record says whether it waits for time alone (a soak, a freeze) so
//! that the reconciler looks again.

use super::actions::Action;
use super::blocker::blocker;
use super::occupancy::{EnvChange, Occupant, Queued};
use super::refusals::Refusal;
use super::state::{Deploy, DeployKind, DeployStatus, Stage};
use super::status::walk;
use super::transition::Machine;
use crate::core::config::StageConfig;
use crate::core::domain::Sha;

impl Machine<'_, '_> {
    /// Dispatches the next stage the recorded facts now allow, if any;
    /// returns a note. Stages go one at a time: the next one only once
    /// this one passed.
    pub(super) fn advance(&mut self, requested_by: Option<&str>) -> String {
        let head = self.s.head_sha.clone();
        let chain = self.cx.chain();
        let next = walk(&self.s, chain, &self.envs)
            .into_iter()
            .find(|st| st.passed_at.is_none())
            .map(|st| (st.index, st.deploy.is_some()));
        let Some((i, deployed)) = next else {
            return String::new();
        };
        if deployed {
            // Deploying, failed, rolled back, or waiting for its
            // verification.
            return String::new();
        }
        let stage = &chain.stages[i];
        match blocker(
            &self.s,
            &stage.environment,
            DeployKind::Promote,
            &head,
            &self.cx(),
        ) {
            None => {}
            // A freeze is checked last: every other gate is passed.
            Some(Refusal::Frozen { .. }) => {
                return format!(
                    "; {} dispatch waits for the freeze to end",
                    stage.environment
                );
            }
            // Its gates are met: it waits in the environment's queue.
            Some(Refusal::Queued { .. }) => {
                let me = self.s.pr.number;
                let queued = self
                    .envs
                    .get(&stage.environment)
                    .is_some_and(|r| r.position(me).is_some());
                if !queued {
                    self.env_change(EnvChange::Enqueue {
                        environment: stage.environment.clone(),
                        entry: Queued {
                            pr: me,
                            sha: head.clone(),
                            since: self.cx.now,
                        },
                    });
                }
                return format!("; {} queued", stage.environment);
            }
            Some(_) => return String::new(),
        }
        let by = match requested_by {
            Some(by) => by.to_string(),
            None => self.requester(i),
        };
        let d = self.queue_deploy(stage, DeployKind::Promote, head, &by);
        self.s.gates_mut(&stage.environment).deploy = Some(d);
        format!("; {} deploy dispatched", stage.environment)
    }

    /// Who asked for stage `i` when no command did: the entry giver who
    /// completed its quorum, else whoever asked for the stage before, else
    /// the PR's author (an `auto` first stage goes on their push).
    fn requester(&self, i: usize) -> String {
        let statuses = walk(&self.s, self.chain(), &self.envs);
        let own = statuses.get(i).and_then(|st| {
            st.approvers
                .get(st.config.quorum().saturating_sub(1))
                .or(st.approvers.last())
                .map(|a| a.login.clone())
        });
        let before = || {
            i.checked_sub(1)
                .and_then(|j| statuses.get(j))
                .and_then(|p| p.deploy)
                .map(|d| d.requested_by.clone())
        };
        own.or_else(before).unwrap_or_else(|| self.s.author.clone())
    }

    /// Builds the record of a `kind` dispatch of `sha` to `stage`, requested
    /// by `by`, and queues its `workflow_dispatch`.
    pub(super) fn queue_deploy(
        &mut self,
        stage: &StageConfig,
        kind: DeployKind,
        sha: Sha,
        by: &str,
    ) -> Deploy {
        let dispatch_id = self.s.next_dispatch_id(&stage.environment, kind, &sha);
        let deploy = Deploy {
            dispatch_id,
            environment: stage.environment.clone(),
            kind,
            sha,
            requested_by: by.to_string(),
            at: self.cx.now,
            run_id: None,
            status: DeployStatus::Pending,
            finished_at: None,
            run_url: None,
            displaced_by: None,
        };
        let workflow = match kind {
            DeployKind::Verify => stage
                .verify
                .as_ref()
                .and_then(|v| v.workflow.clone())
                .unwrap_or_else(|| stage.workflow.clone()),
            _ => stage.workflow.clone(),
        };
        let git_ref = self
            .cx
            .config
            .git_ref
            .clone()
            .unwrap_or_else(|| self.s.default_branch.clone());
        self.actions.push(Action::Dispatch {
            workflow,
            git_ref,
            deploy: deploy.clone(),
        });
        if kind != DeployKind::Verify {
            // From now on it is what runs there, for every PR; the PR it
            // displaces hears of it on its check run.
            let displaced = self
                .cx
                .environments
                .get(&stage.environment)
                .and_then(|r| r.current())
                .map(|o| o.pr)
                .filter(|pr| *pr != self.s.pr.number);
            if let Some(pr) = displaced {
                self.actions.push(Action::SyncCheckRunOf { pr });
            }
            self.env_change(EnvChange::Occupy {
                environment: stage.environment.clone(),
                occupant: Occupant::of(self.s.pr.number, &deploy),
            });
        }
        self.lock_on_dispatch(stage, kind);
        deploy
    }

    /// Whether the next stage may be waiting for time alone: its entry is
    /// met and it has a soak or freeze windows. Decided without the clock,
    /// so that a fact applied again, later, changes nothing; the
    /// reconciler's look at a stage that is not waiting after all is a
    /// no-op.
    pub(super) fn awaits_time(&self) -> bool {
        let chain = self.chain();
        let Stage::WaitingForEntry(i) = self.s.stage_in(chain, &self.envs) else {
            return false;
        };
        let statuses = walk(&self.s, chain, &self.envs);
        let Some(st) = statuses.get(i) else {
            return false;
        };
        let timed = st.config.soak.is_some() || !st.config.freeze.is_empty();
        timed && st.entry_met() && st.soak_cut.is_none()
    }
}
