//! Deciding whether a workflow run is gatebot's dispatch, and linking it:
//! the I/O around [`crate::core::run_identity::identify`]. Used alike by
//! `workflow_run` deliveries, the deployment protection rule and the
//! reconciler, so that they can never disagree about a run.

use super::{App, AppError};
use crate::adapters::github::{GitHubError, RepoRef, RunInfo};
use crate::core::run_identity::DispatchRecord;
use crate::core::run_identity::{Expected, Identity, identify};

/// A run judged against a dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMatch {
    /// The dispatch's run (linked now or before); the record as linked.
    Ours(Box<DispatchRecord>),
    /// Not the dispatch's run, and why.
    Foreign(String),
}

impl App {
    /// `<slug>[bot]`: the actor of the runs gatebot dispatches.
    pub async fn bot_login(&self) -> Result<String, GitHubError> {
        Ok(format!("{}[bot]", self.github.app_slug().await?))
    }

    /// Judges `run` against the dispatch `record` and, when it is the first
    /// run to pass every check, links it for good (a concurrent rival
    /// loses, whichever process it runs in).
    pub async fn match_run(
        &self,
        repo: &RepoRef,
        default_branch: &str,
        record: DispatchRecord,
        run: &RunInfo,
    ) -> Result<RunMatch, AppError> {
        // Only a run not linked yet needs the bot's login.
        let bot = match record.run_id {
            Some(_) => String::new(),
            None => self.bot_login().await?,
        };
        let expected = Expected {
            repo: &repo.name,
            bot_login: &bot,
            default_branch,
        };
        match identify(&record, run, &expected) {
            Identity::Linked => Ok(RunMatch::Ours(Box::new(record))),
            Identity::Foreign(why) => Ok(RunMatch::Foreign(why)),
            Identity::Candidate => {
                let id = &record.deploy.dispatch_id;
                let linked = self.store.link_dispatch_run(&repo.name, id, run.id).await?;
                if linked == Some(run.id) {
                    tracing::info!(dispatch = %id, run = run.id, "run linked to its dispatch by name");
                    Ok(RunMatch::Ours(Box::new(DispatchRecord {
                        run_id: Some(run.id),
                        sent: true,
                        ..record
                    })))
                } else {
                    Ok(RunMatch::Foreign(format!(
                        "dispatch {id} is linked to run {} already",
                        linked.map_or_else(|| "?".to_string(), |r| r.to_string())
                    )))
                }
            }
        }
    }

    /// The run GitHub started for the dispatch `record`, if it can be found
    /// (listed runs of its workflow on its branch whose every check passes;
    /// the oldest is linked). `Ok(None)` when there is none yet.
    pub async fn find_dispatched_run(
        &self,
        repo: &RepoRef,
        default_branch: &str,
        record: &DispatchRecord,
    ) -> Result<Option<RunInfo>, AppError> {
        let branch = record.git_ref.as_deref().unwrap_or(default_branch);
        let runs = self
            .github
            .dispatched_runs(repo, &record.workflow, branch)
            .await?;
        if let Some(linked) = record.run_id {
            return Ok(match runs.into_iter().find(|r| r.id == linked) {
                Some(r) => Some(r),
                None => Some(self.github.workflow_run(repo, linked).await?),
            });
        }
        let bot = self.bot_login().await?;
        let expected = Expected {
            repo: &repo.name,
            bot_login: &bot,
            default_branch,
        };
        let mut candidates: Vec<RunInfo> = runs
            .into_iter()
            .filter(|r| identify(record, r, &expected) == Identity::Candidate)
            .collect();
        candidates.sort_by_key(|r| r.id);
        let Some(first) = candidates.into_iter().next() else {
            return Ok(None);
        };
        match self
            .match_run(repo, default_branch, record.clone(), &first)
            .await?
        {
            RunMatch::Ours(_) => Ok(Some(first)),
            // Another process linked another run meanwhile: that one.
            RunMatch::Foreign(_) => {
                let Some(now) = self
                    .store
                    .dispatch_by_id(&repo.name, &record.deploy.dispatch_id)
                    .await?
                    .and_then(|r| r.run_id)
                else {
                    return Ok(None);
                };
                Ok(Some(self.github.workflow_run(repo, now).await?))
            }
        }
    }
}
