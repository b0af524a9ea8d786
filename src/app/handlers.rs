//! One handler per event kind: each turns a verified, parsed delivery into
//! gate facts (reading what it needs from GitHub and the store) and hands
//! them to [`App::transition`].
//!
//! What a PR *is* (open or closed, its head, its base) is always read from
//! GitHub while handling the delivery, never taken from the payload or the
//! order deliveries arrive in: GitHub guarantees neither timeliness nor
//! order.

use chrono::{DateTime, Utc};

use super::permissions::Roles;
use super::runs::RunMatch;
use super::{App, AppError, DEDUPE_TTL, Delivery, Guarded, MAX_COMMANDS_PER_COMMENT, Outcome};
use crate::adapters::github::{PullRequestInfo, RepoRef};
use crate::adapters::store::{Begin, DedupeKey, rollback_target};
use crate::core::config::RepoConfig;
use crate::core::domain::{Environment, PrKey, RepoName, Sha};
use crate::core::events::{
    ChecksEvent, Event, IssueCommentEvent, ProtectionRuleEvent, PullRequestAction,
    PullRequestEvent, Repository, WorkflowRunEvent,
};
use crate::core::gate::commands::{self, Command};
use crate::core::gate::{Actor, DeployKind, DeployStatus, Fact, GateState, Grant, ci};

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

/// A record for a PR gatebot sees for the first time, as GitHub has it
/// now: its head counts as pushed by its author.
fn initial_state(repo: &RepoRef, pr: &PullRequestInfo) -> GateState {
    let mut state = GateState::new(
        PrKey {
            repo: repo.name.clone(),
            number: pr.number,
        },
        &pr.author,
        pr.head_sha.clone(),
        &pr.default_branch,
        repo.installation,
        Utc::now(),
    );
    state.open = pr.open;
    state.base_ref = Some(pr.base_ref.clone());
    state
}

/// A comment's commands, parsed against the chain of the config read for
/// it.
struct Parsed {
    commands: Vec<Result<Command, commands::NotUnderstood>>,
    more: usize,
    config: RepoConfig,
    error: Option<String>,
}

/// What a `pull_request` delivery, or install day, learned of a PR.
struct PrNow {
    key: PrKey,
    /// The PR as GitHub has it now.
    pr: PullRequestInfo,
    /// Its record, as read.
    stored: Option<crate::adapters::store::Versioned<crate::adapters::store::GateRecord>>,
    /// It is seen opened (the check run is made).
    opened: bool,
    /// The push that brought its head, and who made it (a `synchronize`).
    pushed: Option<(Sha, crate::core::domain::Person)>,
}

fn config_fact(error: Option<String>) -> Fact {
    Fact::Config { error }
}

/// Whether handling `event` can change nothing and write nothing: a ping,
/// an installation event, an event gatebot ignores, a comment by a bot or
/// with no `/word` line.
fn does_nothing(event: &Event<'_>) -> bool {
    match event {
        Event::Ping | Event::Ignored { .. } => true,
        Event::Installation { added, .. } => added.is_empty(),
        Event::Comment(e) => {
            e.comment.user.is_bot()
                || !commands::has_command_line(e.comment.body.as_deref().unwrap_or(""))
        }
        _ => false,
    }
}

/// Whether the command's spec has the shell read CI for it.
fn reads_ci(c: &Result<Command, commands::NotUnderstood>) -> bool {
    c.as_ref().is_ok_and(|c| c.spec().reads_ci)
}

fn parse_time(t: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl App {
    /// GitHub's current view of the PR as facts: what it is; who pushed to
    /// its branch, from the repository's activity log, while gatebot has
    /// not seen the push that made the head (a PR seen for the first time:
    /// commits pushed before it was opened; a `synchronize` not arrived
    /// yet; `synchronize_of` names the head a `synchronize` delivery at
    /// hand brings the pusher of); and — when `ci_wanted`, or when the
    /// stored record disagrees with GitHub (the gates will start again and
    /// need CI) — CI's verdict on its head now. `stored` is the PR's
    /// record as the caller read it (once per delivery: the transition
    /// that follows starts from the same read).
    pub async fn pr_facts(
        &self,
        repo: &RepoRef,
        pr: &PullRequestInfo,
        config: &crate::core::config::RepoConfig,
        ci_wanted: bool,
        synchronize_of: Option<&Sha>,
        stored: Option<&GateState>,
    ) -> Result<Vec<Fact>, AppError> {
        self.pr_facts_after(
            repo,
            pr,
            config,
            ci_wanted,
            Known {
                synchronize_of,
                stored,
                early: None,
            },
        )
        .await
    }

    /// [`App::pr_facts`], with what the delivery already read of the head
    /// it expected (`known.early`): used when that is the head GitHub
    /// reports, read anew otherwise.
    pub(crate) async fn pr_facts_after(
        &self,
        repo: &RepoRef,
        pr: &PullRequestInfo,
        config: &crate::core::config::RepoConfig,
        ci_wanted: bool,
        known: Known<'_>,
    ) -> Result<Vec<Fact>, AppError> {
        let Known {
            synchronize_of,
            stored,
            early,
        } = known;
        let mut facts = vec![Fact::Observed {
            open: pr.open,
            head: pr.head_sha.clone(),
            base_ref: pr.base_ref.clone(),
            author_id: pr.author.id,
            default_branch: pr.default_branch.clone(),
        }];
        if !pr.open {
            return Ok(facts);
        }
        let early = early.filter(|e| e.head == pr.head_sha && e.base_ref == pr.base_ref);
        let disagrees = stored.is_none_or(|s| {
            !s.open
                || s.head_sha != pr.head_sha
                || s.base_ref.as_deref().is_some_and(|b| b != pr.base_ref)
        });
        // Commits pushed to the branch before the PR was opened, or a push
        // whose `synchronize` has not arrived: their pushers are authors
        // too. Only a branch of the repository itself has a log to read.
        // Read until the log shows the push of the head (once, normally).
        let log_seen = stored.is_some_and(|s| s.pushed_heads.contains(&pr.head_sha));
        let brought = stored.is_some() && synchronize_of == Some(&pr.head_sha);
        let pushes = async {
            if !log_seen && !brought && pr.same_repository(&repo.name) {
                self.github
                    .branch_pushes(repo, &pr.head_ref)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        // A gate command may dispatch a stage that needs the head to
        // contain its base: how many commits it lacks is read with CI, at
        // the same time.
        let compare = ci_wanted && config.pipeline.stages.iter().any(|s| s.up_to_date);
        let early_behind = early.as_ref().and_then(|e| e.behind);
        let behind = async {
            match early_behind {
                _ if !compare => Ok(None),
                Some(by) => Ok(Some(by)),
                None => self
                    .github
                    .behind_by(repo, &pr.base_ref, &pr.head_sha)
                    .await
                    .map(Some),
            }
        };
        let early_ci = early.as_ref().and_then(|e| e.ci);
        let ci = async {
            if !(ci_wanted || disagrees) {
                return Ok(None);
            }
            if let Some(status) = early_ci {
                return Ok(Some(status));
            }
            // A head gatebot has not seen yet has no check run of gatebot's
            // known: the whole listing finds one if a lost answer made it.
            let new_head = stored.is_none_or(|s| s.head_sha != pr.head_sha);
            self.read_ci(repo, &pr.head_sha, config, new_head)
                .await
                .map(Some)
        };
        // Every read here needs only the PR: they go out at once.
        let (pushes, behind, ci) = tokio::join!(pushes, behind, ci);
        if let Some(pushes) = pushes? {
            facts.extend(pushes.into_iter().rev().map(|p| Fact::Pushed {
                sha: p.sha,
                by: p.by,
            }));
        }
        let (behind, ci) = (behind?, ci?);
        if let Some(status) = ci {
            if let Some(behind_by) = behind {
                facts.push(Fact::BaseCompared {
                    sha: pr.head_sha.clone(),
                    behind_by,
                });
            }
            facts.push(Fact::Ci {
                sha: pr.head_sha.clone(),
                status,
            });
        }
        Ok(facts)
    }

    /// Reads of the head `stored` names, made at the same time as the PR's
    /// own read by a delivery that expects the head not to have moved
    /// (a gate command): CI's verdict and, when `compare`, how far behind
    /// its base it is. A read that fails is left out (made again once the
    /// PR is read).
    pub(crate) async fn early_reads(
        &self,
        repo: &RepoRef,
        stored: &GateState,
        config: &crate::core::config::RepoConfig,
        compare: bool,
    ) -> Early {
        let base_ref = stored
            .base_ref
            .clone()
            .unwrap_or_else(|| stored.default_branch.clone());
        let head = stored.head_sha.clone();
        let ci = self.read_ci(repo, &head, config, false);
        let behind = async {
            if compare {
                self.github.behind_by(repo, &base_ref, &head).await.ok()
            } else {
                None
            }
        };
        let (ci, behind) = tokio::join!(ci, behind);
        Early {
            head,
            base_ref,
            ci: ci.ok(),
            behind,
        }
    }

    /// Handles one verified delivery.
    pub async fn handle(
        &self,
        delivery: &Delivery,
        event: &Event<'_>,
    ) -> Result<Outcome, AppError> {
        // A delivery gatebot does nothing with is answered without a
        // record: doing nothing twice is harmless, and it costs no write.
        // A comment's commands are guarded by the comment's own key, which
        // every delivery of that comment (a redelivery included) shares:
        // the delivery's key would add two writes and no protection. A
        // workflow run's event is guarded, the same way, by the key of its
        // run, attempt and phase.
        if does_nothing(event) || matches!(event, Event::Comment(_) | Event::WorkflowRun(_)) {
            return terminal(self.route_event(delivery, event).await);
        }
        let guarded = delivery.guarded_by(DedupeKey::Delivery(&delivery.id).to_string());
        let work = async { terminal(self.route_event(&guarded, event).await) };
        self.once(&guarded, "delivery", work).await
    }

    /// Hands a delivery to the handler of its event kind.
    async fn route_event(
        &self,
        delivery: &Delivery,
        event: &Event<'_>,
    ) -> Result<Outcome, AppError> {
        self.github.observe(event);
        match event {
            Event::Ping => Ok(Outcome::processed("pong")),
            Event::Installation {
                action,
                installation,
                added,
            } => {
                self.on_installation(delivery, action, installation.map(|i| i.id), added)
                    .await
            }
            Event::Ignored { why } => Ok(Outcome::ignored(why.clone())),
            Event::PullRequest(e) => self.on_pull_request(delivery, e).await,
            Event::Comment(e) => self.on_comment(delivery, e).await,
            Event::Checks(e) => self.on_checks(delivery, e).await,
            Event::WorkflowRun(e) => self.on_workflow_run(delivery, e).await,
            Event::ProtectionRule(e) => self.on_protection_rule(delivery, e).await,
        }
    }

    /// Ends the work a begun key guarded: done when it succeeded, given
    /// back when it failed (GitHub's redelivery, or the reconciler's, then
    /// tries again from scratch; what was stored is idempotent).
    async fn settle(&self, key: &str, ok: bool) {
        let r = if ok {
            self.store.finish(key, DEDUPE_TTL, Utc::now()).await
        } else {
            self.store.release(key).await
        };
        if let Err(e) = r {
            tracing::error!(key, error = %e, "cannot settle dedupe key");
        }
    }

    /// Runs `work` once per key of `guarded` (see [`Delivery::guarded_by`]:
    /// a delivery id, or a semantic key: a comment, a run event, whatever
    /// delivery brings it); `what` names the key in the duplicate's detail.
    async fn once<F>(&self, guarded: &Guarded, what: &str, work: F) -> Result<Outcome, AppError>
    where
        F: std::future::Future<Output = Result<Outcome, AppError>>,
    {
        let guard = guarded.guard();
        let key = guard.key();
        match self
            .store
            .begin(key, self.delivery_lease, Utc::now())
            .await?
        {
            Begin::Done => return Ok(Outcome::duplicate(format!("{what} already handled"))),
            Begin::InProgress => return Err(AppError::InProgress),
            Begin::Fresh => {}
        }
        let result = work.await;
        // Work whose last write marked the key done needs no other write.
        if !(result.is_ok() && guard.settled()) {
            self.settle(key, result.is_ok()).await;
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
        let key = PrKey {
            repo: repo.name.clone(),
            number: e.pull_request.number,
        };
        let (config, error) = self.config(&repo, branch).await?;
        // The PR as it is now: a late `closed` after a `reopened` must not
        // close an open PR, nor a late `synchronize` move the head back.
        let pr = self.github.pull_request(&repo, key.number).await?;
        let stored = self.store.load_gate(&key).await?;
        if !pr.open && stored.is_none() {
            return Ok(Outcome::ignored(format!(
                "{key} closed before gatebot saw it"
            )));
        }
        // Whoever pushed is an author of the PR from now on.
        let pushed = match e.action {
            PullRequestAction::Synchronize => {
                let sha = Sha::parse(&e.pull_request.head.sha).map_err(bad)?;
                let by = e
                    .sender
                    .person()
                    .ok_or_else(|| bad("sender.id is missing"))?;
                Some((sha, by))
            }
            _ => None,
        };
        let head = pr.head_sha.clone();
        let open = pr.open;
        let now = PrNow {
            key: key.clone(),
            pr,
            stored,
            opened: e.action == PullRequestAction::Opened,
            pushed,
        };
        let state = self.observe_pr(d, &repo, now, &config, error).await?;
        if matches!(
            e.action,
            PullRequestAction::Opened
                | PullRequestAction::Synchronize
                | PullRequestAction::Reopened
        ) && open
        {
            self.check_config_change(&repo, branch, &head).await;
        }
        Ok(Outcome::processed(format!(
            "{key}: {}",
            state
                .map(|s| s.stage(&config.pipeline).describe(&config.pipeline))
                .unwrap_or_else(|| "unknown".into())
        )))
    }

    /// Applies to a PR's record what GitHub says of it now (the config's
    /// state, CI and the base comparison of its head, whoever pushed it),
    /// in one transition: the shared core of a `pull_request` delivery and
    /// of install day.
    async fn observe_pr(
        &self,
        d: &Delivery,
        repo: &RepoRef,
        now: PrNow,
        config: &RepoConfig,
        error: Option<String>,
    ) -> Result<Option<GateState>, AppError> {
        let mut facts = vec![config_fact(error)];
        if now.opened {
            facts.push(Fact::Opened);
        }
        // CI may already have finished for this head (checks that ran
        // before the PR was opened or reopened): read its verdict now.
        let state_read = now.stored.as_ref().map(|v| &v.value.state);
        let synchronize_of = now.pushed.as_ref().map(|(sha, _)| sha);
        facts.extend(
            self.pr_facts(repo, &now.pr, config, true, synchronize_of, state_read)
                .await?,
        );
        facts.extend(now.pushed.map(|(sha, by)| Fact::Pushed { sha, by }));
        let init = initial_state(repo, &now.pr);
        self.last_transition(
            repo,
            &now.key,
            Some(&init),
            &facts,
            config,
            d,
            Some(now.stored),
        )
        .await
    }

    async fn on_comment(
        &self,
        d: &Delivery,
        e: &IssueCommentEvent<'_>,
    ) -> Result<Outcome, AppError> {
        if e.comment.user.is_bot() {
            return Ok(Outcome::ignored("comment by a bot"));
        }
        let body = e.comment.body.as_deref().unwrap_or("");
        // Which words are commands depends on the repository's chain; a
        // comment with no `/word` line at all needs no config to tell.
        if !commands::has_command_line(body) {
            return Ok(Outcome::ignored("no gatebot command"));
        }
        let repo = repo_of(&e.repository, e.installation.map(|i| i.id))?;
        let branch = default_branch(&e.repository)?;
        let (config, error) = self.config(&repo, branch).await?;
        let (parsed, more) =
            commands::parse_comment_bounded(body, MAX_COMMANDS_PER_COMMENT, &config.pipeline);
        if parsed.is_empty() {
            return Ok(Outcome::ignored("no gatebot command"));
        }
        let guarded = d.guarded_by(
            DedupeKey::Comment {
                repo: &repo.name,
                comment_id: e.comment.id,
            }
            .to_string(),
        );
        let parsed = Parsed {
            commands: parsed,
            more,
            config,
            error,
        };
        self.once(
            &guarded,
            "comment",
            self.comment_commands(&guarded, e, &repo, parsed),
        )
        .await
    }

    async fn comment_commands(
        &self,
        d: &Delivery,
        e: &IssueCommentEvent<'_>,
        repo: &RepoRef,
        parsed: Parsed,
    ) -> Result<Outcome, AppError> {
        let Parsed {
            commands: parsed,
            more,
            config,
            error,
        } = parsed;
        let Some(person) = e.comment.user.person() else {
            return Err(bad("comment.user.id is missing"));
        };
        let login = person.login.clone();
        let key = PrKey {
            repo: repo.name.clone(),
            number: e.issue.number,
        };
        let written_at = parse_time(e.comment.created_at.as_deref());
        // Roles before CI: a command its author may not give is refused
        // whatever CI says, so it costs no CI read. The PR and the roles
        // are read at the same time: neither needs the other (and the
        // config read before them left the installation token warm).
        let roles = async {
            let mut roles = Roles::new(self.github.as_ref(), &self.refusals, repo, &config, &login);
            let mut grants = Vec::with_capacity(parsed.len());
            for item in &parsed {
                grants.push(match item {
                    Ok(command) => match command.required_role(&config.pipeline) {
                        Some(role) if !roles.has(role.clone()).await => Grant::Lacks(role),
                        _ => Grant::Holds,
                    },
                    Err(_) => Grant::Holds,
                });
            }
            grants
        };
        let stored = self.store.load_gate(&key).await?;
        let state_read = stored.as_ref().map(|v| &v.value.state);
        // A gate command acts on CI's verdict as GitHub has it now (a
        // re-run may have turned it red since gatebot last heard). It is
        // read for the head the record names at the same time as the PR
        // and the roles, so that a dispatch waits for one round of reads;
        // the PR's read then says whether that is still the head.
        // Not for someone gatebot just read has no write access: their
        // commands must not spend the installation's budget.
        let may_read_ci = parsed.iter().any(reads_ci)
            && !self.refusals.refuses(
                &repo.name,
                &login,
                crate::adapters::github::Permission::Write,
            );
        let compare = config.pipeline.stages.iter().any(|s| s.up_to_date);
        let early = async {
            match state_read {
                Some(s) if s.open && may_read_ci => {
                    Some(self.early_reads(repo, s, &config, compare).await)
                }
                _ => None,
            }
        };
        let (pr, grants, early) =
            tokio::join!(self.github.pull_request(repo, e.issue.number), roles, early);
        let pr = pr?;
        let mut facts = vec![config_fact(error)];
        let ci_wanted = parsed
            .iter()
            .zip(&grants)
            .any(|(c, g)| *g == Grant::Holds && reads_ci(c));
        let known = Known {
            synchronize_of: None,
            stored: state_read,
            early,
        };
        facts.extend(
            self.pr_facts_after(repo, &pr, &config, ci_wanted, known)
                .await?,
        );
        let mut targets: Vec<(Environment, Option<Sha>)> = Vec::new();
        let mut names = Vec::new();
        let acted_on = parsed.len();
        for (item, grant) in parsed.into_iter().zip(grants) {
            let command = match item {
                Ok(command) => command,
                Err(nu) => {
                    names.push(format!("{} (not understood)", nu.line));
                    facts.push(Fact::NotUnderstood {
                        comment_id: e.comment.id,
                        login: login.clone(),
                        message: nu.to_string(),
                    });
                    continue;
                }
            };
            let rollback_target = match &command {
                Command::Rollback(env) if command.spec().reads_history => {
                    match targets.iter().find(|(e, _)| e == env) {
                        Some((_, t)) => t.clone(),
                        None => {
                            let history = self.store.deploy_history(&repo.name, env, 50).await?;
                            let t = rollback_target(&history);
                            targets.push((env.clone(), t.clone()));
                            t
                        }
                    }
                }
                _ => None,
            };
            metrics::counter!("gatebot_commands_total", "command" => command.name()).increment(1);
            names.push(format!("/{}", command.name()));
            facts.push(Fact::Command {
                comment_id: e.comment.id,
                actor: Actor {
                    id: person.id,
                    login: login.clone(),
                    grant,
                },
                command,
                written_at,
                rollback_target,
            });
        }
        if more > 0 {
            facts.push(Fact::TooManyCommands {
                login: login.clone(),
                acted_on,
                skipped: more,
            });
        }
        let init = initial_state(repo, &pr);
        self.last_transition(repo, &key, Some(&init), &facts, &config, d, Some(stored))
            .await?;
        Ok(Outcome::processed(format!(
            "{key}: {} by @{login}{}",
            names.join(", "),
            if more > 0 {
                format!(" ({more} more lines not read)")
            } else {
                String::new()
            }
        )))
    }

    async fn on_checks(&self, d: &Delivery, e: &ChecksEvent<'_>) -> Result<Outcome, AppError> {
        let own_app = self.github.app_id();
        if e.check_run.as_ref().is_some_and(|r| {
            r.name == ci::GATEBOT_CHECK
                && own_app.is_some()
                && r.app.as_ref().and_then(|a| a.id) == own_app
        }) {
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
        let status = self.read_ci(&repo, &sha, &config, false).await?;
        let facts = [
            config_fact(error),
            Fact::Ci {
                sha: sha.clone(),
                status,
            },
        ];
        for (i, number) in prs.iter().enumerate() {
            let key = PrKey {
                repo: repo.name.clone(),
                number: *number,
            };
            let stored = self.store.load_gate(&key).await?;
            let init = match stored {
                Some(_) => None,
                None => Some(initial_state(
                    &repo,
                    &self.github.pull_request(&repo, *number).await?,
                )),
            };
            // The transition starts from this read; the last one's write
            // also marks the delivery done.
            let last = i + 1 == prs.len();
            self.transition_step(
                &repo,
                &key,
                init.as_ref(),
                &facts,
                &config,
                Some(d),
                last,
                super::Start::Known(stored),
            )
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
        let run = e.run_info();
        let repo = repo_of(&e.repository, e.installation.map(|i| i.id))?;
        let branch = default_branch(&e.repository)?;
        // The run linked to a dispatch by its id; else the dispatch its
        // name claims, which it must then prove to be. The claimed one is
        // read first: when it is linked to this very run, it is the one
        // the run's id leads to, found in one read instead of two.
        let claimed = match e.workflow_run.dispatch_id() {
            Some(id) => self.store.dispatch_by_id(&repo.name, &id).await?,
            None => None,
        };
        let record = match claimed {
            Some(r) if r.run_id == Some(run.id) => Some(r),
            claimed => match self.store.dispatch_by_run(&repo.name, run.id).await? {
                Some(r) => Some(r),
                None => claimed,
            },
        };
        let Some(record) = record else {
            return Ok(Outcome::ignored("not a run gatebot dispatched"));
        };
        let claimed_pr = record.pr;
        let record = match self.match_run(&repo, branch, record, &run).await? {
            RunMatch::Ours(r) => *r,
            RunMatch::Foreign(why) => {
                let pr = PrKey {
                    repo: repo.name.clone(),
                    number: claimed_pr,
                };
                self.audit(&pr, Some(&d.id), None, "run_rejected", why.clone())
                    .await;
                return Ok(Outcome::ignored(why));
            }
        };
        let guarded = d.guarded_by(
            DedupeKey::Run {
                repo: &repo.name,
                run_id: run.id,
                attempt: run.run_attempt,
                completed: e.completed,
            }
            .to_string(),
        );
        self.once(
            &guarded,
            "workflow run",
            self.run_event(&guarded, e, &repo, branch, &record, &run),
        )
        .await
    }

    async fn run_event(
        &self,
        d: &Delivery,
        e: &WorkflowRunEvent<'_>,
        repo: &RepoRef,
        branch: &str,
        record: &crate::core::run_identity::DispatchRecord,
        run: &crate::adapters::github::RunInfo,
    ) -> Result<Outcome, AppError> {
        let key = PrKey {
            repo: repo.name.clone(),
            number: record.pr,
        };
        let fact = if e.completed {
            Fact::RunCompleted {
                dispatch_id: record.deploy.dispatch_id.clone(),
                run_id: run.id,
                success: run.succeeded(),
                url: run.html_url.clone(),
                completed_at: run.updated_at,
            }
        } else {
            Fact::RunLinked {
                dispatch_id: record.deploy.dispatch_id.clone(),
                run_id: run.id,
                url: run.html_url.clone(),
            }
        };
        let (config, error) = self.config(repo, branch).await?;
        // Its write marks the run's key done: no write of its own.
        self.last_transition(
            repo,
            &key,
            None,
            &[config_fact(error), fact],
            &config,
            d,
            None,
        )
        .await?;
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
        let verdict = self.judge_run(&repo, branch, &e.environment, run_id).await;
        let env = e.environment.as_ref();
        self.github
            .review_deployment(&repo, run_id, env, verdict.approve, &verdict.reason)
            .await?;
        let word = if verdict.approve {
            "approved"
        } else {
            "rejected"
        };
        // Filed under the PR whose dispatch the run is; a run of no PR's
        // dispatch under the repository alone.
        let key = PrKey {
            repo: repo.name.clone(),
            number: verdict.pr.unwrap_or(0),
        };
        let mut entry = super::audit_entry(
            &key,
            Some(&d.id),
            None,
            "protection_rule",
            format!("run {run_id} for {env} {word}: {}", verdict.reason),
        );
        entry.pr = verdict.pr;
        self.append_audit(entry).await;
        Ok(Outcome::processed(format!(
            "run {run_id} {word}: {}",
            verdict.reason
        )))
    }

    /// Whether `run_id` is a production dispatch gatebot made after a full
    /// gate pass (or a rollback it made) that the gates still allow.
    async fn judge_run(
        &self,
        repo: &RepoRef,
        branch: &str,
        environment: &str,
        run_id: u64,
    ) -> Verdict {
        match self
            .judge_run_inner(repo, branch, environment, run_id)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(run_id, error = %e, "cannot judge run: rejected");
                Verdict::reject(
                    "gatebot could not check this run; it rejects what it cannot check",
                    None,
                )
            }
        }
    }

    async fn judge_run_inner(
        &self,
        repo: &RepoRef,
        branch: &str,
        environment: &str,
        run_id: u64,
    ) -> Result<Verdict, AppError> {
        let record = match self.store.dispatch_by_run(&repo.name, run_id).await? {
            Some(r) => r,
            None => {
                // Not linked: it must prove to be the dispatch its name claims.
                let run = self.github.workflow_run(repo, run_id).await?;
                let claimed = crate::core::run_identity::dispatch_id_in_title(&run.display_title);
                let record = match claimed {
                    Some(id) => self.store.dispatch_by_id(&repo.name, &id).await?,
                    None => None,
                };
                let Some(record) = record else {
                    return Ok(Verdict::reject(
                        "this run was not dispatched by gatebot after a full gate pass",
                        None,
                    ));
                };
                let pr = record.pr;
                match self.match_run(repo, branch, record, &run).await? {
                    RunMatch::Ours(r) => *r,
                    RunMatch::Foreign(why) => return Ok(Verdict::reject(why, Some(pr))),
                }
            }
        };
        let d = &record.deploy;
        let pr = Some(record.pr);
        // A verify run deploys nothing; only a deploy of the environment
        // asking is approved (a run of another environment's dispatch is
        // not a key to this one).
        if d.kind == DeployKind::Verify || !d.environment.is(environment) {
            return Ok(Verdict::reject(
                format!(
                    "dispatch {} is not a deploy to {environment}",
                    d.dispatch_id
                ),
                pr,
            ));
        }
        let key = PrKey {
            repo: repo.name.clone(),
            number: record.pr,
        };
        // The PR, CI, config and roles as they are now: the gates must
        // still allow the dispatch, not only when it was queued.
        let Some(judged) = self
            .judge_dispatch(repo, &key, &d.dispatch_id, &super::guard::Fresh::nothing())
            .await?
        else {
            return Ok(Verdict::reject(
                format!("gatebot has no record of #{}", record.pr),
                pr,
            ));
        };
        let pending = judged
            .state
            .deploy(&d.dispatch_id)
            .is_some_and(|x| x.status == DeployStatus::Pending);
        if !pending {
            return Ok(Verdict::reject(
                format!("dispatch {} is no longer pending", d.dispatch_id),
                pr,
            ));
        }
        self.drop_lost_roles(repo, &key, &judged, &d.environment)
            .await;
        if let Some(why) = judged.blocker {
            let reason = format!("the gates no longer allow it: {why}");
            self.cancel_dispatch(repo, &key, &d.dispatch_id, reason.clone())
                .await;
            return Ok(Verdict::reject(reason, pr));
        }
        let what = if d.kind == DeployKind::Rollback {
            "rollback"
        } else {
            "gated deploy"
        };
        Ok(Verdict {
            approve: true,
            reason: format!(
                "gatebot {what} {} of {} for #{}",
                d.dispatch_id,
                d.sha.short(),
                record.pr
            ),
            pr,
        })
    }
}

/// The protection rule's answer for a run.
struct Verdict {
    approve: bool,
    reason: String,
    pr: Option<u64>,
}

impl Verdict {
    fn reject(reason: impl Into<String>, pr: Option<u64>) -> Self {
        Verdict {
            approve: false,
            reason: reason.into(),
            pr,
        }
    }
}

/// A delivery that failed because GitHub says something it names does not
/// exist (404, 410) is done: answered 200 with status `not_found` and
/// logged, so that neither GitHub nor the reconciler redelivers what can
/// never succeed. Nothing was dispatched on the way (a read that guards a
/// dispatch failing fails closed). Anything that may succeed later (5xx,
/// rate limits, timeouts) stays an error, and is redelivered.
fn terminal(result: Result<Outcome, AppError>) -> Result<Outcome, AppError> {
    match result {
        Err(AppError::GitHub(e)) if e.is_not_found() => {
            tracing::warn!(error = %e, "not found on GitHub: the delivery is done");
            Ok(Outcome::not_found(e.to_string()))
        }
        other => other,
    }
}

impl App {
    /// A PR whose head changes `.github/gatebot.yml` gets a "gatebot
    /// config" check run on the head: its version checked, resolved as the
    /// server would (`extends: org` included), problems as annotations.
    /// It gates nothing (the default branch's file rules) and never counts
    /// as CI. A failure here is logged, never the delivery's: it is not a
    /// gate. (One extra read per push: the head's file.)
    async fn check_config_change(&self, repo: &RepoRef, branch: &str, head: &Sha) {
        let work = async {
            let path = crate::core::config::CONFIG_PATH;
            // The comparison the PR's observation just read (a 304 now)
            // says whether the PR touches the file at all.
            if self.github.changes_path(repo, branch, head, path).await? == Some(false) {
                return Ok(());
            }
            let base = self
                .configs
                .text(self.github.as_ref(), repo, branch)
                .await?;
            let Some(text) = self
                .github
                .file(repo, crate::core::config::CONFIG_PATH, head.as_str())
                .await?
            else {
                return Ok(());
            };
            if base.as_deref() == Some(text.as_str()) {
                return Ok(());
            }
            let checked = match crate::core::config::extends(&text) {
                Ok(crate::core::config::Extends::Org) => {
                    super::ConfigCache::resolve(self.github.as_ref(), repo, &text)
                        .await?
                        .map_err(|message| {
                            vec![crate::core::config::Problem {
                                key: None,
                                message,
                                at: None,
                            }]
                        })
                }
                _ => crate::core::config::check(&text),
            };
            let view = crate::core::config::config_check_view(&checked);
            self.github.create_config_check(repo, head, &view).await
        };
        let result: crate::adapters::github::GhResult<()> = work.await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "the gatebot config check run was not made");
        }
    }
}

/// At most this many repositories, and open PRs in all, learned from one
/// installation delivery (GitHub lists 100 PRs a page; gatebot reads one a
/// repository). Each PR costs a few GitHub reads, one after another: the
/// bound keeps the delivery well inside the Lambda's 30 s (a delivery cut
/// off there would be redelivered and cut off again) and the shared rate
/// limit. A PR left out is learned from its next delivery, as before.
const MAX_INSTALL_REPOS: usize = 50;
const MAX_INSTALL_PRS: usize = 20;

impl App {
    /// Install day: gatebot learns the head of every open PR of each
    /// repository it was just installed on, so that a gate command written
    /// from now on counts (one written before still does not: the binding
    /// rule is unchanged). A repository whose PRs cannot be listed is
    /// logged and skipped; the delivery fails (and is redelivered) only when
    /// a PR's record cannot be written.
    async fn on_installation(
        &self,
        d: &Delivery,
        action: &str,
        installation: Option<u64>,
        added: &[std::borrow::Cow<'_, str>],
    ) -> Result<Outcome, AppError> {
        let mut learned = 0usize;
        let mut skipped = Vec::new();
        for name in added.iter().take(MAX_INSTALL_REPOS) {
            if learned >= MAX_INSTALL_PRS {
                skipped.push(name.to_string());
                continue;
            }
            let Ok(name) = RepoName::parse(name) else {
                skipped.push(name.to_string());
                continue;
            };
            let repo = RepoRef { name, installation };
            match self
                .learn_open_prs(d, &repo, MAX_INSTALL_PRS - learned)
                .await
            {
                Ok(n) => learned += n,
                Err(AppError::GitHub(e)) => {
                    tracing::warn!(repo = %repo.name, error = %e, "cannot list its open pull requests");
                    skipped.push(repo.name.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        let more = added.len().saturating_sub(MAX_INSTALL_REPOS);
        Ok(Outcome::processed(format!(
            "installation {action}: learned {learned} open pull request(s) in {} repositor(ies){}{}",
            added.len().min(MAX_INSTALL_REPOS) - skipped.len().min(added.len()),
            if skipped.is_empty() {
                String::new()
            } else {
                format!("; skipped {}", skipped.join(", "))
            },
            if more > 0 {
                format!("; {more} more not read")
            } else {
                String::new()
            }
        )))
    }

    /// Records the open PRs of `repo` (their heads seen now), at most
    /// `budget`; returns how many.
    async fn learn_open_prs(
        &self,
        d: &Delivery,
        repo: &RepoRef,
        budget: usize,
    ) -> Result<usize, AppError> {
        let numbers = self.github.open_pull_requests(repo).await?;
        let mut n = 0;
        for number in numbers.into_iter().take(budget) {
            let key = PrKey {
                repo: repo.name.clone(),
                number,
            };
            let pr = match self.github.pull_request(repo, number).await {
                Ok(pr) => pr,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            if !pr.open {
                continue;
            }
            let (config, error) = self.config(repo, &pr.default_branch).await?;
            let stored = self.store.load_gate(&key).await?;
            let now = PrNow {
                opened: stored.is_none(),
                key,
                pr,
                stored,
                pushed: None,
            };
            self.observe_pr(d, repo, now, &config, error).await?;
            n += 1;
        }
        Ok(n)
    }
}

/// What a delivery knows of the PR before it reads it (see
/// [`App::pr_facts_after`]).
pub(crate) struct Known<'a> {
    /// The head a `synchronize` delivery at hand brings the pusher of.
    pub synchronize_of: Option<&'a Sha>,
    /// The PR's record as the caller read it.
    pub stored: Option<&'a GateState>,
    /// Reads of the head the record named, made at the same time as the
    /// PR's own read.
    pub early: Option<Early>,
}

/// Reads of a head made before the PR's read said it is still the head
/// ([`App::early_reads`]).
pub(crate) struct Early {
    head: Sha,
    base_ref: String,
    ci: Option<crate::core::gate::ci::CiStatus>,
    behind: Option<u64>,
}
