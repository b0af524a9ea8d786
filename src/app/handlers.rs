//! One handler per event kind: each turns a verified, parsed delivery into
//! gate facts (reading what it needs from GitHub and the store) and hands
//! them to [`App::transition`].

use chrono::Utc;

use super::{App, AppError, DEDUPE_TTL, Delivery, Outcome};
use crate::commands::{self, Command};
use crate::domain::{PrKey, RepoName, Sha};
use crate::events::{
    ChecksEvent, Event, IssueCommentEvent, ProtectionRuleEvent, PullRequestAction,
    PullRequestEvent, Repository, WorkflowRunEvent,
};
use crate::gate::machine::required_role;
use crate::gate::{Actor, DeployKind, DeployStatus, Fact, GateState, ci};
use crate::github::{PullRequestInfo, RepoRef};
use crate::store::rollback_target;

fn bad(msg: impl std::fmt::Display) -> AppError {
    AppError::BadInput(msg.to_string())
}

fn repo_of(r: &Repository<'_>, installation: Option<u64>) -> Result<RepoRef, AppError> {
    Ok(RepoRef {
        name: RepoName::parse(&r.full_name).map_err(bad)?,
        installation,
    })
}

fn default_branch<'a>(r: &'a Repository<'_>) -> Result<&'a str, AppError> {
    r.default_branch
        .as_deref()
        .ok_or_else(|| bad("repository.default_branch is missing"))
}

fn initial_state(repo: &RepoRef, pr: &PullRequestInfo, default_branch: &str) -> GateState {
    let mut state = GateState::new(
        PrKey {
            repo: repo.name.clone(),
            number: pr.number,
        },
        &pr.author,
        pr.head_sha.clone(),
        default_branch,
        repo.installation,
        Utc::now(),
    );
    state.open = pr.open;
    state
}

fn config_fact(error: Option<String>) -> Fact {
    Fact::Config { error }
}

impl App {
    /// Handles one verified delivery.
    pub async fn handle(
        &self,
        delivery: &Delivery,
        event: &Event<'_>,
    ) -> Result<Outcome, AppError> {
        let fresh = self
            .store
            .claim(&format!("delivery:{}", delivery.id), DEDUPE_TTL, Utc::now())
            .await?;
        if !fresh {
            return Ok(Outcome::duplicate("delivery already handled"));
        }
        self.github.observe(event);
        let result = match event {
            Event::Ping => Ok(Outcome::processed("pong")),
            Event::Installation { action } => {
                Ok(Outcome::processed(format!("installation {action}")))
            }
            Event::Ignored { why } => Ok(Outcome::ignored(why.clone())),
            Event::PullRequest(e) => self.on_pull_request(delivery, e).await,
            Event::Comment(e) => self.on_comment(delivery, e).await,
            Event::Checks(e) => self.on_checks(delivery, e).await,
            Event::WorkflowRun(e) => self.on_workflow_run(delivery, e).await,
            Event::ProtectionRule(e) => self.on_protection_rule(delivery, e).await,
        };
        if result.is_err() {
            // Nothing was stored: let GitHub's redelivery try again.
            let _ = self
                .store
                .release(&format!("delivery:{}", delivery.id))
                .await;
        }
        result
    }

    async fn on_pull_request(
        &self,
        d: &Delivery,
        e: &PullRequestEvent<'_>,
    ) -> Result<Outcome, AppError> {
        let repo = repo_of(&e.repository, e.installation.map(|i| i.id))?;
        let branch = default_branch(&e.repository)?;
        let p = &e.pull_request;
        let payload_head = Sha::parse(&p.head.sha).map_err(bad)?;
        let key = PrKey {
            repo: repo.name.clone(),
            number: p.number,
        };
        let (config, error) = self.config(&repo, branch).await?;
        let info = PullRequestInfo {
            number: p.number,
            head_sha: payload_head.clone(),
            author: p.user.login.to_ascii_lowercase(),
            open: p.state == "open",
            base_ref: p.base.git_ref.to_string(),
        };
        if e.action == PullRequestAction::Closed && self.store.load_gate(&key).await?.is_none() {
            return Ok(Outcome::ignored(format!(
                "{key} closed before gatebot saw it"
            )));
        }
        let mut facts = vec![config_fact(error)];
        let head = match e.action {
            PullRequestAction::Opened => {
                facts.push(Fact::Opened);
                Some(payload_head.clone())
            }
            PullRequestAction::Synchronize => {
                // The head GitHub has now, not the one this (maybe late)
                // delivery names.
                let head = self.github.pull_request(&repo, p.number).await?.head_sha;
                facts.push(Fact::HeadChanged { sha: head.clone() });
                Some(head)
            }
            PullRequestAction::Closed => {
                facts.push(Fact::Closed);
                None
            }
            PullRequestAction::Reopened => {
                facts.push(Fact::Reopened {
                    head_sha: payload_head.clone(),
                });
                Some(payload_head.clone())
            }
            PullRequestAction::BaseChanged => {
                facts.push(Fact::BaseChanged);
                Some(payload_head.clone())
            }
        };
        // CI may already have finished for this head (checks that ran
        // before the PR was opened or reopened): read its verdict now.
        if let Some(sha) = head {
            let runs = self.github.check_runs(&repo, &sha).await?;
            let status = ci::evaluate(&runs, &config.required_checks);
            facts.push(Fact::Ci { sha, status });
        }
        let init = initial_state(&repo, &info, branch);
        let state = self
            .transition(&repo, &key, Some(&init), &facts, &config, Some(d))
            .await?;
        Ok(Outcome::processed(format!(
            "{key}: {}",
            state.map(|s| s.stage().describe()).unwrap_or("unknown")
        )))
    }

    async fn on_comment(
        &self,
        d: &Delivery,
        e: &IssueCommentEvent<'_>,
    ) -> Result<Outcome, AppError> {
        if e.comment.user.is_bot() {
            return Ok(Outcome::ignored("comment by a bot"));
        }
        let parsed = commands::parse_comment(e.comment.body.as_deref().unwrap_or(""));
        if parsed.is_empty() {
            return Ok(Outcome::ignored("no gatebot command"));
        }
        let repo = repo_of(&e.repository, e.installation.map(|i| i.id))?;
        let branch = default_branch(&e.repository)?;
        let comment_key = format!("comment:{}:{}", repo.name, e.comment.id);
        if !self
            .store
            .claim(&comment_key, DEDUPE_TTL, Utc::now())
            .await?
        {
            return Ok(Outcome::duplicate("comment already handled"));
        }
        let result = self.comment_commands(d, e, &repo, branch, parsed).await;
        if result.is_err() {
            let _ = self.store.release(&comment_key).await;
        }
        result
    }

    async fn comment_commands(
        &self,
        d: &Delivery,
        e: &IssueCommentEvent<'_>,
        repo: &RepoRef,
        branch: &str,
        parsed: Vec<Result<Command, commands::NotUnderstood>>,
    ) -> Result<Outcome, AppError> {
        let login = e.comment.user.login.to_ascii_lowercase();
        let key = PrKey {
            repo: repo.name.clone(),
            number: e.issue.number,
        };
        let pr = self.github.pull_request(repo, e.issue.number).await?;
        let (config, error) = self.config(repo, branch).await?;
        let mut facts = vec![config_fact(error)];
        let mut names = Vec::new();
        for item in parsed {
            match item {
                Err(nu) => facts.push(Fact::NotUnderstood {
                    comment_id: e.comment.id,
                    login: login.clone(),
                    message: nu.to_string(),
                }),
                Ok(command) => {
                    let authorized = match required_role(&command) {
                        Some(role) => {
                            super::permissions::has_role(
                                self.github.as_ref(),
                                repo,
                                &config,
                                role,
                                &login,
                            )
                            .await
                        }
                        None => true,
                    };
                    let rollback_target = match &command {
                        Command::Rollback(env) => {
                            rollback_target(&self.store.deploy_history(&repo.name, *env, 50).await?)
                        }
                        _ => None,
                    };
                    metrics::counter!("gatebot_commands_total", "command" => command.name())
                        .increment(1);
                    names.push(format!("/{}", command.name()));
                    facts.push(Fact::Command {
                        comment_id: e.comment.id,
                        actor: Actor {
                            login: login.clone(),
                            authorized,
                        },
                        command,
                        observed_head: pr.head_sha.clone(),
                        rollback_target,
                    });
                }
            }
        }
        let init = initial_state(repo, &pr, branch);
        self.transition(repo, &key, Some(&init), &facts, &config, Some(d))
            .await?;
        Ok(Outcome::processed(format!(
            "{key}: {} by @{login}",
            names.join(", ")
        )))
    }

    async fn on_checks(&self, d: &Delivery, e: &ChecksEvent<'_>) -> Result<Outcome, AppError> {
        if e.check_run
            .as_ref()
            .is_some_and(|r| r.name == ci::GATEBOT_CHECK)
        {
            return Ok(Outcome::ignored("gatebot's own check run"));
        }
        let repo = repo_of(&e.repository, e.installation.map(|i| i.id))?;
        let branch = default_branch(&e.repository)?;
        let sha = Sha::parse(&e.head_sha).map_err(bad)?;
        let mut prs = e.pull_requests.clone();
        if prs.is_empty() {
            prs = self.store.prs_with_head(&repo.name, &sha).await?;
        }
        if prs.is_empty() {
            return Ok(Outcome::ignored(format!(
                "no open pull request has head {}",
                sha.short()
            )));
        }
        let (config, error) = self.config(&repo, branch).await?;
        let runs = self.github.check_runs(&repo, &sha).await?;
        let status = ci::evaluate(&runs, &config.required_checks);
        let facts = [
            config_fact(error),
            Fact::Ci {
                sha: sha.clone(),
                status,
            },
        ];
        for number in &prs {
            let key = PrKey {
                repo: repo.name.clone(),
                number: *number,
            };
            let init = match self.store.load_gate(&key).await? {
                Some(_) => None,
                None => Some(initial_state(
                    &repo,
                    &self.github.pull_request(&repo, *number).await?,
                    branch,
                )),
            };
            self.transition(&repo, &key, init.as_ref(), &facts, &config, Some(d))
                .await?;
        }
        Ok(Outcome::processed(format!(
            "CI {status:?} on {} for {prs:?}",
            sha.short()
        )))
    }

    async fn on_workflow_run(
        &self,
        d: &Delivery,
        e: &WorkflowRunEvent<'_>,
    ) -> Result<Outcome, AppError> {
        let run = &e.workflow_run;
        let repo = repo_of(&e.repository, e.installation.map(|i| i.id))?;
        let branch = default_branch(&e.repository)?;
        let mut record = match run.dispatch_id() {
            Some(id) => self.store.dispatch_by_id(&repo.name, id).await?,
            None => None,
        };
        if record.is_none() {
            record = self.store.dispatch_by_run(&repo.name, run.id).await?;
        }
        let Some(mut record) = record else {
            return Ok(Outcome::ignored("not a run gatebot dispatched"));
        };
        // A run of another workflow that copies a dispatch id is not ours.
        if let Some(path) = run.path.as_deref()
            && !path.ends_with(&format!("/{}", record.workflow))
        {
            return Ok(Outcome::ignored(format!(
                "run {} is of {path}, not {}",
                run.id, record.workflow
            )));
        }
        let run_key = format!(
            "run:{}:{}:{}:{}",
            repo.name,
            run.id,
            run.run_attempt,
            if e.completed { "completed" } else { "started" }
        );
        if !self.store.claim(&run_key, DEDUPE_TTL, Utc::now()).await? {
            return Ok(Outcome::duplicate("workflow run already handled"));
        }
        if record.run_id.is_none() {
            record.run_id = Some(run.id);
            record.sent = true;
            self.store.put_dispatch(&record).await?;
        }
        let key = PrKey {
            repo: repo.name.clone(),
            number: record.pr,
        };
        let url = run.html_url.as_ref().map(|u| u.to_string());
        let fact = if e.completed {
            Fact::RunCompleted {
                dispatch_id: record.deploy.dispatch_id.clone(),
                run_id: run.id,
                success: run.succeeded(),
                url,
            }
        } else {
            Fact::RunLinked {
                dispatch_id: record.deploy.dispatch_id.clone(),
                run_id: run.id,
                url,
            }
        };
        let (config, error) = self.config(&repo, branch).await?;
        let result = self
            .transition(
                &repo,
                &key,
                None,
                &[config_fact(error), fact],
                &config,
                Some(d),
            )
            .await;
        if result.is_err() {
            let _ = self.store.release(&run_key).await;
        }
        result?;
        Ok(Outcome::processed(format!(
            "run {} of {} {}",
            run.id,
            record.deploy.dispatch_id,
            run.conclusion.as_deref().unwrap_or(&run.status)
        )))
    }

    async fn on_protection_rule(
        &self,
        d: &Delivery,
        e: &ProtectionRuleEvent<'_>,
    ) -> Result<Outcome, AppError> {
        let repo = repo_of(&e.repository, e.installation.map(|i| i.id))?;
        let branch = default_branch(&e.repository)?;
        let (config, _) = self.config(&repo, branch).await?;
        if !config.is_protected_environment(&e.environment) {
            return Ok(Outcome::ignored(format!(
                "environment {} is not protected by gatebot",
                e.environment
            )));
        }
        let Some(run_id) = e.run_id() else {
            return Err(bad("deployment_callback_url does not name a run"));
        };
        let (approve, reason, pr) = self.judge_run(&repo, run_id).await;
        let env = e.environment.as_ref();
        self.github
            .review_deployment(&repo, run_id, env, approve, &reason)
            .await?;
        let verdict = if approve { "approved" } else { "rejected" };
        let key = PrKey {
            repo: repo.name.clone(),
            number: pr.unwrap_or(0),
        };
        self.audit(
            &key,
            Some(&d.id),
            None,
            "protection_rule",
            format!("run {run_id} for {env} {verdict}: {reason}"),
        )
        .await;
        Ok(Outcome::processed(format!(
            "run {run_id} {verdict}: {reason}"
        )))
    }

    /// Whether `run_id` is a production dispatch gatebot made after a full
    /// gate pass (or a rollback it made), with the reason and the PR.
    async fn judge_run(&self, repo: &RepoRef, run_id: u64) -> (bool, String, Option<u64>) {
        let mut record = match self.store.dispatch_by_run(&repo.name, run_id).await {
            Ok(r) => r,
            Err(e) => return (false, format!("gatebot cannot read its records: {e}"), None),
        };
        if record.is_none() {
            // Not linked yet: identify it by the dispatch_id in its name.
            match self.github.workflow_run(repo, run_id).await {
                Ok(run) => {
                    let id =
                        crate::events::dispatch_id_in_title(&run.display_title).map(str::to_string);
                    if let Some(id) = id {
                        record = self
                            .store
                            .dispatch_by_id(&repo.name, &id)
                            .await
                            .ok()
                            .flatten();
                        if let Some(r) = record.as_mut()
                            && r.run_id.is_some_and(|known| known != run_id)
                        {
                            return (
                                false,
                                format!("dispatch {id} belongs to another run"),
                                Some(r.pr),
                            );
                        }
                    }
                }
                Err(e) => {
                    return (
                        false,
                        format!("gatebot cannot read run {run_id}: {e}"),
                        None,
                    );
                }
            }
        }
        let Some(record) = record else {
            return (
                false,
                "this run was not dispatched by gatebot after a full gate pass".into(),
                None,
            );
        };
        let d = &record.deploy;
        if d.environment != crate::domain::Environment::Production || d.kind == DeployKind::Verify {
            return (
                false,
                format!("dispatch {} is not a production deploy", d.dispatch_id),
                Some(record.pr),
            );
        }
        let key = PrKey {
            repo: repo.name.clone(),
            number: record.pr,
        };
        let pending = match self.store.load_gate(&key).await {
            Ok(Some(v)) => {
                let s = v.value.state;
                [s.prod.as_ref()]
                    .into_iter()
                    .flatten()
                    .chain(s.detached.iter())
                    .any(|x| x.dispatch_id == d.dispatch_id && x.status == DeployStatus::Pending)
            }
            _ => false,
        };
        if !pending {
            return (
                false,
                format!("dispatch {} is no longer pending", d.dispatch_id),
                Some(record.pr),
            );
        }
        let what = if d.kind == DeployKind::Rollback {
            "rollback"
        } else {
            "gated deploy"
        };
        (
            true,
            format!(
                "gatebot {what} {} of {} for #{}",
                d.dispatch_id,
                d.sha.short(),
                record.pr
            ),
            Some(record.pr),
        )
    }
}
