//! The facts that guard a dispatch, read at the moment of the dispatch:
//! right before a queued dispatch is sent (first try, retry, reconciler)
//! and before a deployment protection rule is answered.
//!
//! * GitHub's view of the PR (open, head, base, author, and the
//!   repository's default branch) and CI's verdict on its head, unless the
//!   delivery performing the dispatch read them a moment ago: a dispatch a
//!   finished run, a soak's end or the reconciler causes must not go out
//!   on stored facts (a `synchronize` lost on the way would let the old,
//!   approved head out);
//! * the config, from the default branch as it is now;
//! * what runs in each environment, as every PR's deploys left it;
//! * for a promotion to a stage with `up_to_date`, how many commits of its
//!   base branch the head lacks (GitHub's compare API): a read that fails
//!   is an error, and the dispatch does not go (fail closed);
//! * the roles of the people whose entry commands the dispatch rests on,
//!   under that config: only those who still hold the stage's role count.
//!
//! What the delivery performing the dispatch read from GitHub a moment ago
//! ([`Fresh`]) is not read again: the PR and CI, the comparison with the
//! base for that head, and the role of whoever gave a command in it (that
//! role was resolved from the API for the command, in the same delivery).
//! The dispatch then goes after one round of reads, not three.
//!
//! [`crate::core::gate::dispatch_blocker`] then judges the dispatch on
//! them.

use super::permissions::Roles;
use super::{App, AppError};
use crate::adapters::github::RepoRef;
use crate::adapters::store::Versioned;
use crate::core::config::{Entry, RepoConfig};
use crate::core::domain::Environment;
use crate::core::domain::{DispatchId, PrKey, Sha, UserId};
use crate::core::gate::commands::Role;
use crate::core::gate::dispatch_blocker;
use crate::core::gate::state::BehindBase;
use crate::core::gate::{DeployKind, EnvRecord, Environments, Fact, GateState, Refusal};

/// What the delivery at hand read from GitHub a moment ago, which a dispatch
/// it queued need not read again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fresh {
    /// GitHub's view of the PR and, if it is open, CI's verdict on its head.
    pub pr_and_ci: bool,
    /// People whose role the API gave them for a command of this delivery,
    /// with that role.
    pub holders: Vec<(UserId, Role)>,
    /// How many commits of the base a head lacks, as compared just now.
    pub behind: Option<(Sha, u64)>,
    /// The PR's record and what runs where, as the delivery's transition
    /// just wrote them (when it read the environments).
    pub committed: Option<Committed>,
}

/// A PR's record and its repository's environment records as a
/// transition wrote them, with their versions. A dispatch judged on them
/// is recorded only if they are still at those versions
/// ([`crate::adapters::store::Store::create_dispatch_if`]): as good as a
/// fresh read, checked at the moment the dispatch is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub version: u64,
    pub state: GateState,
    pub environments: Vec<Versioned<EnvRecord>>,
}

impl Fresh {
    /// Nothing read just now (the reconciler, a run's event).
    pub fn nothing() -> Fresh {
        Fresh::default()
    }

    /// What `facts`, the facts of one delivery, read from GitHub: the PR
    /// and CI (see [`Fresh::pr_and_ci`]), the comparison with the base, and
    /// the roles of the authors of commands that hold the role `config`'s
    /// chain asks of them.
    pub fn of(facts: &[Fact], config: &RepoConfig) -> Fresh {
        let observed = facts.iter().find_map(|f| match f {
            Fact::Observed { open, .. } => Some(*open),
            _ => None,
        });
        let ci = facts.iter().any(|f| matches!(f, Fact::Ci { .. }));
        let pr_and_ci = match observed {
            Some(open) => ci || !open,
            None => false,
        };
        let holders = facts
            .iter()
            .filter_map(|f| match f {
                Fact::Command { actor, command, .. }
                    if actor.grant == crate::core::gate::commands::Grant::Holds =>
                {
                    command
                        .required_role(&config.pipeline)
                        .map(|role| (actor.id, role))
                }
                _ => None,
            })
            .collect();
        let behind = facts.iter().find_map(|f| match f {
            Fact::BaseCompared { sha, behind_by } => Some((sha.clone(), *behind_by)),
            _ => None,
        });
        Fresh {
            pr_and_ci,
            holders,
            behind,
            committed: None,
        }
    }
}

/// A dispatch judged on fresh facts.
pub(crate) struct Judged {
    pub state: GateState,
    pub config: RepoConfig,
    /// Why it may not go ahead now, if it may not.
    pub blocker: Option<Refusal>,
    /// People whose entry commands it rests on who no longer hold the
    /// stage's role (their commands are to be dropped).
    pub lost: Vec<UserId>,
    /// When it was judged on the records a transition just wrote rather
    /// than on a fresh read: their versions, which the dispatch's record
    /// is written on condition of.
    pub on: Option<JudgedVersions>,
}

/// The versions of the records a dispatch was judged on: the PR's record,
/// and each environment of the chain (`None`: no record).
pub(crate) struct JudgedVersions {
    pub gate: u64,
    pub environments: Vec<(Environment, Option<u64>)>,
}

impl App {
    /// Reads the PR and CI from GitHub and applies them to the record, as
    /// a delivery about the PR does.
    pub(super) async fn refresh(&self, repo: &RepoRef, pr: &PrKey) -> Result<(), AppError> {
        let info = self.github.pull_request(repo, pr.number).await?;
        let (config, error) = self.config(repo, &info.default_branch).await?;
        let mut facts = vec![
            Fact::Config { error },
            Fact::Observed {
                open: info.open,
                head: info.head_sha.clone(),
                base_ref: info.base_ref.clone(),
                author_id: info.author.id,
                default_branch: info.default_branch.clone(),
            },
        ];
        if info.open {
            let status = self.read_ci(repo, &info.head_sha, &config, false).await?;
            facts.push(Fact::Ci {
                sha: info.head_sha.clone(),
                status,
            });
        }
        Box::pin(self.transition(repo, pr, None, &facts, &config, None)).await?;
        Ok(())
    }

    /// Judges the queued dispatch `id` of `pr` on the facts as they are
    /// now; `fresh` when the PR and CI were read by the delivery at hand.
    /// `Ok(None)` when the PR has no record.
    pub(super) async fn judge_dispatch(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        id: &DispatchId,
        fresh: &Fresh,
    ) -> Result<Option<Judged>, AppError> {
        if !fresh.pr_and_ci {
            self.refresh(repo, pr).await?;
        }
        // The records the delivery's transition just wrote stand for a
        // fresh read, on condition (see `Committed`); else they are read.
        let committed = fresh.committed.as_ref().filter(|_| fresh.pr_and_ci);
        let (mut state, config) = match committed {
            Some(c) => {
                let mut state = c.state.clone();
                let (config, error) = self.config(repo, &state.default_branch).await?;
                state.config_error = error;
                (state, config)
            }
            None => match self.gate_and_config(repo, pr).await? {
                Some(read) => read,
                None => return Ok(None),
            },
        };
        if let Some(d) = state.deploy(id)
            && d.kind == DeployKind::Promote
            && config
                .pipeline
                .find(&d.environment)
                .is_some_and(|(_, stage)| stage.up_to_date)
        {
            let sha = d.sha.clone();
            let by = match &fresh.behind {
                Some((compared, by)) if *compared == sha && fresh.pr_and_ci => *by,
                _ => {
                    let base = state.base_branch().to_string();
                    self.github.behind_by(repo, &base, &sha).await?
                }
            };
            state.behind_base = Some(BehindBase { sha, by });
        }
        let resolved = self.holders(repo, &state, &config, id, fresh).await;
        let (environments, on) = match committed {
            Some(c) => {
                // Every environment of the chain, as the judgement saw it.
                let versions = config
                    .pipeline
                    .stages
                    .iter()
                    .map(|stage| {
                        let version = c
                            .environments
                            .iter()
                            .find(|v| v.value.environment == stage.environment)
                            .map(|v| v.version);
                        (stage.environment.clone(), version)
                    })
                    .collect();
                let records = c.environments.iter().map(|v| v.value.clone()).collect();
                let on = JudgedVersions {
                    gate: c.version,
                    environments: versions,
                };
                (Environments { records }, Some(on))
            }
            None => (self.environments(&pr.repo).await?, None),
        };
        let mut cx = self.context(&config);
        cx.holders = resolved.as_ref().map(|r| r.holders.as_slice());
        cx.environments = &environments;
        let blocker = dispatch_blocker(&state, id, &cx);
        Ok(Some(Judged {
            state,
            config,
            blocker,
            lost: resolved.map(|r| r.lost).unwrap_or_default(),
            on,
        }))
    }

    /// The PR's state and its repository's config (read from the default
    /// branch the record holds), the config's error taken into the state
    /// as the gates would see it now.
    pub(super) async fn gate_and_config(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
    ) -> Result<Option<(GateState, RepoConfig)>, AppError> {
        let Some(v) = self.store.load_gate(pr).await? else {
            return Ok(None);
        };
        let mut state = v.value.state;
        let (config, error) = self.config(repo, &state.default_branch).await?;
        state.config_error = error;
        Ok(Some((state, config)))
    }

    /// Of the people whose entry commands the promotion `id` rests on, those
    /// who hold the stage's role under `config` now. Each is looked up by
    /// user id (their login now), then their role resolved as for a
    /// command; any lookup that fails counts them out. `None` for a
    /// dispatch that rests on no entry command.
    async fn holders(
        &self,
        repo: &RepoRef,
        state: &GateState,
        config: &RepoConfig,
        id: &DispatchId,
        fresh: &Fresh,
    ) -> Option<Resolved> {
        let deploy = state.deploy(id)?;
        if deploy.kind != DeployKind::Promote {
            return None;
        }
        let (_, stage) = config.pipeline.find(&deploy.environment)?;
        let Entry::Command(gate) = &stage.entry else {
            return None;
        };
        let mut givers: Vec<UserId> = state
            .approvals_for(&deploy.environment)
            .iter()
            .filter(|a| a.sha == deploy.sha)
            .filter_map(|a| a.id)
            .collect();
        givers.sort_unstable();
        givers.dedup();
        let mut holders = Vec::with_capacity(givers.len());
        let mut lost = Vec::new();
        let role = Role::Named(gate.role.clone());
        for giver in givers {
            // Resolved from the API for their command a moment ago.
            if fresh
                .holders
                .iter()
                .any(|(id, r)| *id == giver && *r == role)
            {
                holders.push(giver);
                continue;
            }
            let login = match self.github.user_login(repo, giver).await {
                Ok(Some(login)) => login,
                Ok(None) => {
                    tracing::warn!(user = %giver, "approver's account is gone: not counted");
                    lost.push(giver);
                    continue;
                }
                Err(e) => {
                    // Not known either way: not counted now, not dropped.
                    tracing::warn!(user = %giver, error = %e, "approver unresolved: not counted");
                    continue;
                }
            };
            let mut roles = Roles::new(self.github.as_ref(), &self.refusals, repo, config, &login);
            if roles.has(role.clone()).await {
                holders.push(giver);
            } else {
                // `has` answers no to a read that failed, too: only a
                // clear answer drops the command for good.
                tracing::info!(user = %giver, %login, role = %gate.role, "approver no longer holds the role: not counted");
                if roles.resolved() {
                    lost.push(giver);
                }
            }
        }
        Some(Resolved { holders, lost })
    }
}

/// The people a dispatch rests on, resolved.
struct Resolved {
    /// Those who hold the stage's role now.
    holders: Vec<UserId>,
    /// Those GitHub clearly says do not (their account is gone, or their
    /// permission and teams do not give the role).
    lost: Vec<UserId>,
}
