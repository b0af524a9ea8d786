//! Performing queued side effects: each is claimed (so two processes never
//! perform the same one), performed, then removed from the outbox. A
//! failure leaves it pending for the reconciler; a dispatch whose outcome is
//! unknown is looked for by `dispatch_id` before it is ever sent again.

use chrono::Utc;

use super::{App, EFFECT_CLAIM_TTL};
use crate::domain::PrKey;
use crate::gate::summary;
use crate::gate::{Action, Deploy, DeployKind, Fact, GateState, Policy};
use crate::github::{DispatchInputs, GitHubError, RepoRef};
use crate::store::{DeployRecord, DispatchRecord, PendingAction};

/// What performing one action came to.
enum Done {
    /// Performed (or found already performed): drop it from the outbox.
    Yes,
    /// Not now: keep it pending for a later attempt.
    Later(String),
}

pub fn repo_ref(state: &GateState) -> RepoRef {
    RepoRef {
        name: state.pr.repo.clone(),
        installation: state.installation_id,
    }
}

impl App {
    /// The run of `workflow` that GitHub started for `dispatch_id`, found by
    /// the `[dispatch_id]` its name ends with.
    pub async fn find_dispatched_run(
        &self,
        repo: &RepoRef,
        workflow: &str,
        dispatch_id: &str,
    ) -> Result<Option<crate::github::RunInfo>, GitHubError> {
        Ok(self
            .github
            .dispatched_runs(repo, workflow)
            .await?
            .into_iter()
            .find(|r| crate::events::dispatch_id_in_title(&r.display_title) == Some(dispatch_id)))
    }

    /// Performs the pending actions `ids` of `pr`, in order.
    pub async fn perform(&self, repo: &RepoRef, pr: &PrKey, ids: &[u64]) {
        self.perform_batch(repo, pr, Some(ids), None).await;
    }

    /// Performs every pending action of `pr` (the reconciler's pass).
    /// A dispatch whose earlier attempt is younger than `settle` is left
    /// alone: a run it started may not be listed yet. Returns how many
    /// actions were completed.
    pub async fn perform_all_pending(&self, pr: &PrKey, settle: chrono::Duration) -> usize {
        let Ok(Some(v)) = self.store.load_gate(pr).await else {
            return 0;
        };
        let repo = repo_ref(&v.value.state);
        self.perform_batch(&repo, pr, None, Some(settle)).await
    }

    /// Claims the chosen pending actions (so no other process performs
    /// them), performs those still pending, then records the outcome of all
    /// of them in one write before giving the claims up.
    async fn perform_batch(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        ids: Option<&[u64]>,
        reconciling: Option<chrono::Duration>,
    ) -> usize {
        let wanted: Vec<u64> = match ids {
            Some(ids) => ids.to_vec(),
            None => match self.store.load_gate(pr).await {
                Ok(Some(v)) => v.value.pending.iter().map(|p| p.id).collect(),
                _ => return 0,
            },
        };
        let mut claims = Vec::new();
        for id in wanted {
            let key = format!("effect:{}:{}:{id}", pr.repo, pr.number);
            match self.store.claim(&key, EFFECT_CLAIM_TTL, Utc::now()).await {
                Ok(true) => claims.push((id, key)),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "cannot claim effect"),
            }
        }
        if claims.is_empty() {
            return 0;
        }
        // Read once the claims are held: another process may have completed
        // some meanwhile.
        let pending: Vec<PendingAction> = match self.store.load_gate(pr).await {
            Ok(Some(v)) => v
                .value
                .pending
                .into_iter()
                .filter(|p| claims.iter().any(|(id, _)| *id == p.id))
                .collect(),
            _ => Vec::new(),
        };
        let mut done = Vec::new();
        let mut later = Vec::new();
        for p in &pending {
            match self.run_action(repo, pr, p, reconciling).await {
                Done::Yes => done.push(p.id),
                Done::Later(why) => {
                    tracing::warn!(pr = %pr, action = p.id, why, "effect left pending for the reconciler");
                    later.push(p.id);
                }
            }
        }
        if !pending.is_empty() {
            let r = self
                .update_record(pr, |rec| {
                    let before = rec.pending.len();
                    rec.pending.retain(|p| !done.contains(&p.id));
                    let mut changed = rec.pending.len() != before;
                    for p in rec.pending.iter_mut().filter(|p| later.contains(&p.id)) {
                        p.attempts += 1;
                        p.last_attempt = Some(Utc::now());
                        changed = true;
                    }
                    changed
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "cannot record performed effects");
            }
        }
        for (_, key) in &claims {
            let _ = self.store.release(key).await;
        }
        done.len()
    }

    async fn run_action(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        p: &PendingAction,
        reconciling: Option<chrono::Duration>,
    ) -> Done {
        let delivery = p.delivery.as_deref();
        let dry = if self.github.is_dry_run() {
            " (dry-run: not sent)"
        } else {
            ""
        };
        match &p.action {
            Action::SyncCheckRun => match self.sync_check_run(repo, pr).await {
                Ok(title) => {
                    self.audit(pr, delivery, None, "check_run", format!("{title}{dry}"))
                        .await;
                    Done::Yes
                }
                Err(e) => Done::Later(e.to_string()),
            },
            Action::React {
                comment_id,
                reaction,
            } => {
                match self
                    .github
                    .react(repo, *comment_id, reaction.content())
                    .await
                {
                    Ok(()) => {
                        self.audit(
                            pr,
                            delivery,
                            None,
                            "reaction",
                            format!("{} on comment {comment_id}{dry}", reaction.content()),
                        )
                        .await;
                        Done::Yes
                    }
                    Err(e) => Done::Later(e.to_string()),
                }
            }
            Action::Reply { body } => match self.github.comment(repo, pr.number, body).await {
                Ok(()) => {
                    self.audit(pr, delivery, None, "comment", format!("{body}{dry}"))
                        .await;
                    Done::Yes
                }
                // A comment that may have been posted is not posted again.
                Err(GitHubError::Ambiguous(e)) => {
                    tracing::warn!(error = %e, "comment outcome unknown; not repeated");
                    Done::Yes
                }
                Err(e) => Done::Later(e.to_string()),
            },
            Action::RecordDeploy { deploy } => {
                let record = DeployRecord {
                    repo: pr.repo.clone(),
                    environment: deploy.environment,
                    sha: deploy.sha.clone(),
                    pr: pr.number,
                    dispatch_id: deploy.dispatch_id.clone(),
                    run_id: deploy.run_id,
                    at: deploy.finished_at.unwrap_or_else(Utc::now),
                    rollback: deploy.kind == DeployKind::Rollback,
                };
                match self.store.record_deploy(&record).await {
                    Ok(()) => Done::Yes,
                    Err(e) => Done::Later(e.to_string()),
                }
            }
            Action::Dispatch {
                workflow,
                git_ref,
                deploy,
            } => {
                // Judge the age of a dispatch by its last attempt.
                let reconciling = reconciling.map(|settle| {
                    let last = p.last_attempt.unwrap_or(deploy.at).max(deploy.at);
                    (settle, last)
                });
                self.dispatch(repo, pr, workflow, git_ref, deploy, delivery, reconciling)
                    .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn dispatch(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        workflow: &str,
        git_ref: &str,
        deploy: &Deploy,
        delivery: Option<&str>,
        reconciling: Option<(chrono::Duration, chrono::DateTime<Utc>)>,
    ) -> Done {
        let env = deploy.environment.as_str();
        let mut record = match self
            .store
            .dispatch_by_id(&pr.repo, &deploy.dispatch_id)
            .await
        {
            Ok(Some(r)) => r,
            Ok(None) => DispatchRecord {
                repo: pr.repo.clone(),
                pr: pr.number,
                workflow: workflow.to_string(),
                deploy: deploy.clone(),
                run_id: None,
                sent: false,
            },
            Err(e) => return Done::Later(e.to_string()),
        };
        if record.sent {
            return Done::Yes;
        }
        // Recorded before the call: a crash after it leaves a trace the
        // reconciler can follow.
        if let Err(e) = self.store.put_dispatch(&record).await {
            return Done::Later(e.to_string());
        }
        if let Some((settle, last_attempt)) = reconciling {
            if Utc::now() - last_attempt < settle {
                return Done::Later("the earlier attempt is too recent to judge".into());
            }
            // The earlier attempt may have gone through: look for its run.
            match self
                .find_dispatched_run(repo, workflow, &deploy.dispatch_id)
                .await
            {
                Ok(found) => {
                    if let Some(run) = found {
                        record.sent = true;
                        record.run_id = Some(run.id);
                        let _ = self.store.put_dispatch(&record).await;
                        self.link_run(repo, pr, &deploy.dispatch_id, run.id, run.html_url.clone())
                            .await;
                        self.audit(
                            pr,
                            delivery,
                            Some(&deploy.requested_by),
                            "dispatch",
                            format!("{} already running as run {}", deploy.dispatch_id, run.id),
                        )
                        .await;
                        return Done::Yes;
                    }
                }
                Err(e) => return Done::Later(format!("cannot list runs: {e}")),
            }
        }
        let inputs = DispatchInputs {
            sha: deploy.sha.to_string(),
            pr: pr.number.to_string(),
            environment: env.to_string(),
            dispatch_id: deploy.dispatch_id.clone(),
            requested_by: deploy.requested_by.clone(),
            rollback: (deploy.kind == DeployKind::Rollback).to_string(),
        };
        let dry = if self.github.is_dry_run() {
            " (dry-run: not sent)"
        } else {
            ""
        };
        match self.github.dispatch(repo, workflow, git_ref, &inputs).await {
            Ok(run) => {
                metrics::counter!("gatebot_dispatches_total", "environment" => env, "result" => "sent").increment(1);
                record.sent = true;
                record.run_id = run.as_ref().map(|r| r.run_id);
                if let Err(e) = self.store.put_dispatch(&record).await {
                    tracing::error!(error = %e, "dispatch sent but not recorded as sent");
                }
                self.audit(
                    pr,
                    delivery,
                    Some(&deploy.requested_by),
                    "dispatch",
                    format!(
                        "{workflow}@{git_ref} {env} {} dispatch_id={} rollback={}{dry}",
                        deploy.sha, deploy.dispatch_id, inputs.rollback
                    ),
                )
                .await;
                if let Some(run) = run {
                    self.link_run(repo, pr, &deploy.dispatch_id, run.run_id, run.html_url)
                        .await;
                }
                Done::Yes
            }
            Err(GitHubError::Status { status, message })
                if (400..500).contains(&status) && status != 429 =>
            {
                metrics::counter!("gatebot_dispatches_total", "environment" => env, "result" => "refused").increment(1);
                let reason = format!("GitHub answered {status}: {message}");
                self.audit(
                    pr,
                    delivery,
                    Some(&deploy.requested_by),
                    "dispatch",
                    format!("{} refused: {reason}", deploy.dispatch_id),
                )
                .await;
                self.fail_dispatch(repo, pr, &deploy.dispatch_id, reason)
                    .await;
                Done::Yes
            }
            Err(e) => {
                metrics::counter!("gatebot_dispatches_total", "environment" => env, "result" => "error").increment(1);
                Done::Later(e.to_string())
            }
        }
    }

    async fn gate_config(&self, repo: &RepoRef, pr: &PrKey) -> Option<crate::config::RepoConfig> {
        let state = self.store.load_gate(pr).await.ok()??.value.state;
        self.config(repo, &state.default_branch)
            .await
            .ok()
            .map(|(c, _)| c)
    }

    async fn link_run(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        dispatch_id: &str,
        run_id: u64,
        url: Option<String>,
    ) {
        let Some(config) = self.gate_config(repo, pr).await else {
            return;
        };
        let fact = Fact::RunLinked {
            dispatch_id: dispatch_id.to_string(),
            run_id,
            url,
        };
        if let Err(e) = Box::pin(self.transition(repo, pr, None, &[fact], &config, None)).await {
            tracing::error!(error = %e, "cannot link run to dispatch");
        }
    }

    async fn fail_dispatch(&self, repo: &RepoRef, pr: &PrKey, dispatch_id: &str, reason: String) {
        let Some(config) = self.gate_config(repo, pr).await else {
            return;
        };
        let fact = Fact::DispatchFailed {
            dispatch_id: dispatch_id.to_string(),
            reason,
        };
        if let Err(e) = Box::pin(self.transition(repo, pr, None, &[fact], &config, None)).await {
            tracing::error!(error = %e, "cannot record failed dispatch");
        }
    }

    /// Creates or updates the `gatebot` check run on the head SHA.
    /// Returns what the check run now says.
    async fn sync_check_run(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
    ) -> Result<String, crate::app::AppError> {
        let Some(v) = self.store.load_gate(pr).await? else {
            return Ok("no record".into());
        };
        let state = v.value.state;
        let (config, _) = self.config(repo, &state.default_branch).await?;
        let view = summary::render(
            &state,
            &Policy {
                config: &config,
                now: Utc::now(),
            },
        );
        let known = state
            .check_run
            .as_ref()
            .filter(|c| c.sha == state.head_sha)
            .map(|c| c.id);
        let id = match known {
            Some(id) => {
                self.github.update_check_run(repo, id, &view).await?;
                id
            }
            None => {
                // Never create a second one: look for ours first.
                let existing = self
                    .github
                    .check_runs(repo, &state.head_sha)
                    .await?
                    .into_iter()
                    .filter(|r| r.name == crate::gate::ci::GATEBOT_CHECK)
                    .map(|r| r.id)
                    .max();
                match existing {
                    Some(id) => {
                        self.github.update_check_run(repo, id, &view).await?;
                        id
                    }
                    None => {
                        self.github
                            .create_check_run(repo, &state.head_sha, &view)
                            .await?
                    }
                }
            }
        };
        if known != Some(id) {
            let sha = state.head_sha.clone();
            self.update_record(pr, |rec| {
                if rec.state.head_sha != sha {
                    return false;
                }
                rec.state.check_run = Some(crate::gate::state::CheckRunRef {
                    sha: sha.clone(),
                    id,
                });
                true
            })
            .await?;
        }
        Ok(format!(
            "{} {} on {}: {}",
            view.status,
            view.conclusion.unwrap_or(""),
            state.head_sha.short(),
            view.title
        ))
    }
}
