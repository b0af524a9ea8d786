//! Performing queued side effects. Each is claimed by its own key (so two
//! processes never perform the same one), performed, and marked done in
//! that key at once — an item of its own, so the write never races the
//! PR's record: a batch cut short (a timeout, a slow GitHub, a crash) never
//! repeats what it already did. The outbox entries of done actions are then
//! dropped: with the last done-marker where the store can write both at
//! once ([`crate::adapters::store::Store::finish_effect`]), else in one write after
//! it (or by the next pass, if that write loses). A webhook spends at most
//! [`super::EFFECTS_BUDGET`] on them; the reconciler finishes the rest.
//!
//! A dispatch is re-checked against the gates right before every attempt,
//! and one whose earlier attempt may have gone through is looked for
//! (by the checks of [`crate::core::run_identity`]) before it is ever sent again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::guard::Fresh;
use super::{App, DEDUPE_TTL, audit_entry};

/// How old an unlinked dispatch of a woken PR must be before its run is
/// looked for (as the reconciler's pass does).
const WAKE_SETTLE: chrono::Duration = chrono::Duration::minutes(2);
use crate::adapters::github::{DispatchInputs, GitHubError, RepoRef};
use crate::adapters::store::{AuditEntry, Begin, DedupeKey, DeployRecord, JudgedOn, PendingAction};
use crate::core::domain::{DispatchId, PrKey};
use crate::core::gate::summary;
use crate::core::gate::{Action, Deploy, DeployKind, Environments, Fact, GateState};
use crate::core::run_identity::DispatchRecord;

/// An action is not started with less time than this left: a call cut off
/// half-way is worse than one made later.
const MIN_ACTION_TIME: Duration = Duration::from_millis(500);

/// What performing one action came to.
enum Done {
    /// Performed (or found already performed, or cancelled): drop it,
    /// writing the audit line that says so with its done-marker.
    Yes(Option<AuditEntry>),
    /// A dispatch sent, and recorded as sent in its own record: performed
    /// again after a crash, it finds that record and is not sent again, so
    /// its done-marker (with this audit line) may wait for the batch's
    /// last write.
    Sent(AuditEntry),
    /// Not now: keep it pending for a later attempt.
    Later(String),
}

/// The deploy history's line of `deploy`, a deploy of `pr` that succeeded.
pub(super) fn deploy_record(pr: &PrKey, deploy: &Deploy) -> DeployRecord {
    DeployRecord {
        repo: pr.repo.clone(),
        environment: deploy.environment.clone(),
        sha: deploy.sha.clone(),
        pr: pr.number,
        dispatch_id: deploy.dispatch_id.clone(),
        run_id: deploy.run_id,
        at: deploy.finished_at.unwrap_or_else(Utc::now),
        rollback: deploy.kind == DeployKind::Rollback,
    }
}

/// What became of judging and recording a dispatch.
enum Recorded {
    /// Recorded: to be sent with this workflow, from this branch.
    Yes { workflow: String, git_ref: String },
    /// Judged on records that changed since: judge again on fresh ones.
    Moved,
    /// Not to be sent now: what to do with the action.
    Stop(Done),
}

pub(crate) fn repo_ref(state: &GateState) -> RepoRef {
    RepoRef {
        name: state.pr.repo.clone(),
        installation: state.installation_id,
    }
}

/// How the effect keys of a batch were found: the actions this process
/// now holds (id and key), and those already performed.
#[derive(Debug, Default)]
pub struct Claims {
    held: Vec<(u64, String)>,
    done: Vec<u64>,
}

impl Claims {
    /// Sorts the answers `begun` to the keys of `ids` (in order).
    pub fn sort(ids: &[u64], begun: Vec<Begin>, pr: &PrKey) -> Claims {
        let mut claims = Claims::default();
        for (id, begun) in ids.iter().zip(begun) {
            match begun {
                Begin::Fresh => claims.held.push((*id, effect_key(pr, *id))),
                Begin::Done => claims.done.push(*id),
                Begin::InProgress => {}
            }
        }
        claims
    }

    fn holds(&self, id: u64) -> bool {
        self.held.iter().any(|(held, _)| *held == id)
    }
}

/// The dedupe key of action `id` of `pr`.
pub(crate) fn effect_key(pr: &PrKey, action_id: u64) -> String {
    DedupeKey::Effect { pr, action_id }.to_string()
}

impl App {
    /// Performs `queued`, the actions this process has just queued on
    /// `pr`'s record and claimed with it (`claims`), in order, within the
    /// webhook's effects budget; `fresh` when the facts that queued them
    /// include GitHub's view of the PR and its CI read just now (a
    /// dispatch is otherwise judged on a fresh read). Returns how many
    /// were completed.
    pub async fn perform(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        queued: &[PendingAction],
        claims: Claims,
        fresh: &Fresh,
    ) -> usize {
        let deadline = Instant::now() + self.effects_budget;
        // An action never changes once queued; a dispatch is checked
        // against the gates as they are right before it is sent.
        let mine: Vec<PendingAction> = queued
            .iter()
            .filter(|p| claims.holds(p.id))
            .cloned()
            .collect();
        self.perform_claimed(repo, pr, claims, &mine, None, fresh, deadline)
            .await
    }

    /// Performs every pending action of `pr` (the reconciler's pass) until
    /// `deadline`. A dispatch whose earlier attempt is younger than `settle`
    /// is left alone: a run it started may not be listed yet. Returns how
    /// many actions were completed.
    pub async fn perform_all_pending(
        &self,
        pr: &PrKey,
        settle: chrono::Duration,
        deadline: Instant,
    ) -> usize {
        let Ok(Some(v)) = self.store.load_gate(pr).await else {
            return 0;
        };
        let repo = repo_ref(&v.value.state);
        let ids: Vec<u64> = v.value.pending.iter().map(|p| p.id).collect();
        // Each action's key: fresh (ours to perform), in progress (another
        // process performs it), or done (performed; only the outbox entry
        // is left to drop). All claimed in one request where the store can.
        let keys: Vec<String> = ids.iter().map(|id| effect_key(pr, *id)).collect();
        let claims = match self
            .store
            .begin_many(&keys, self.effect_claim_ttl, Utc::now())
            .await
        {
            Ok(begun) => Claims::sort(&ids, begun, pr),
            Err(e) => {
                tracing::error!(error = %e, "cannot claim effects");
                return 0;
            }
        };
        // The actions as the record has them once the claims are held
        // (another process may have completed some meanwhile).
        let mine: Vec<PendingAction> = if claims.held.is_empty() {
            Vec::new()
        } else {
            match self.store.load_gate(pr).await {
                Ok(Some(v)) => v
                    .value
                    .pending
                    .into_iter()
                    .filter(|p| claims.holds(p.id))
                    .collect(),
                _ => Vec::new(),
            }
        };
        self.perform_claimed(
            &repo,
            pr,
            claims,
            &mine,
            Some(settle),
            &Fresh::nothing(),
            deadline,
        )
        .await
    }

    /// Performs `mine` (actions whose keys `claims` holds) until
    /// `deadline`; then gives back the claims not finished and drops what
    /// is done from the outbox. The answers to the person (reactions,
    /// replies) go out at once, alongside the others, which go in order
    /// (a dispatch, then the check-run update that shows it): the person
    /// hears back no later than the dispatch is sent.
    #[allow(clippy::too_many_arguments)]
    async fn perform_claimed(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        claims: Claims,
        mine: &[PendingAction],
        reconciling: Option<chrono::Duration>,
        fresh: &Fresh,
        deadline: Instant,
    ) -> usize {
        let Claims { held, done } = claims;
        let batch = Batch {
            repo,
            pr,
            reconciling,
            fresh,
            deadline,
            done: Mutex::new(done),
            folded: Mutex::new(Vec::new()),
            deferred: Mutex::new(Vec::new()),
        };
        let (answers, ordered): (Vec<&PendingAction>, Vec<&PendingAction>) = mine
            .iter()
            .partition(|p| matches!(p.action, Action::React { .. } | Action::Reply { .. }));
        let answered = futures_util::future::join_all(
            answers.iter().map(|p| self.perform_one(&batch, p, false)),
        );
        let in_order = async {
            let mut completed = 0;
            for (i, p) in ordered.iter().enumerate() {
                match self.perform_one(&batch, p, i + 1 == ordered.len()).await {
                    None => break,
                    Some(true) => completed += 1,
                    Some(false) => {}
                }
            }
            completed
        };
        let (answered, in_order) = tokio::join!(answered, in_order);
        let completed = in_order + answered.iter().filter(|r| **r == Some(true)).count();
        let done = lock(&batch.done).clone();
        let folded = lock(&batch.folded).clone();
        // Markers no ordered action's write took (answers that finished
        // after it, or a batch without one): written now, with the outbox's
        // clean-up where the store can.
        let deferred = std::mem::take(&mut *lock(&batch.deferred));
        let left: Vec<u64> = done
            .iter()
            .copied()
            .filter(|id| !folded.contains(id))
            .collect();
        let mut dropped = false;
        if !deferred.is_empty() {
            let (keys, said): (Vec<String>, Vec<Vec<AuditEntry>>) = deferred.into_iter().unzip();
            let said: Vec<AuditEntry> = said.into_iter().flatten().collect();
            match self
                .store
                .finish_effect(&keys, DEDUPE_TTL, Utc::now(), &said, pr, &left)
                .await
            {
                Ok(d) => dropped = d,
                Err(e) => {
                    tracing::error!(pr = %pr, error = %e, "effects done but not recorded; their claims hold them for now");
                }
            }
        }
        // Give back what this batch did not finish (not reached in time,
        // left for later, or gone from the outbox meanwhile).
        for (id, key) in &held {
            if !done.contains(id) {
                let _ = self.store.release(key).await;
            }
        }
        // What the last ordered action's write did not drop (an answer
        // that finished after it, or a batch without ordered actions).
        if !left.is_empty() && !dropped {
            self.drop_done(pr, &left).await;
        }
        completed
    }

    /// Performs one action of `batch`: `Some(true)` done (its marker
    /// written; `last` also drops what is done by then from the outbox),
    /// `Some(false)` left for later, `None` out of time.
    async fn perform_one(&self, batch: &Batch<'_>, p: &PendingAction, last: bool) -> Option<bool> {
        let pr = batch.pr;
        let left = batch.deadline.saturating_duration_since(Instant::now());
        if left < MIN_ACTION_TIME {
            tracing::info!(pr = %pr, action = p.id, "out of time: left for the reconciler");
            return None;
        }
        let run = self.run_action(batch.repo, pr, p, batch.reconciling, batch.fresh);
        let outcome = match tokio::time::timeout(left, run).await {
            Ok(outcome) => outcome,
            Err(_) => cut_off(&p.action),
        };
        let (said, recorded_sent) = match outcome {
            Done::Yes(said) => (said, false),
            Done::Sent(said) => (Some(said), true),
            Done::Later(why) => {
                tracing::warn!(pr = %pr, action = p.id, why, "effect left pending for the reconciler");
                self.count_attempt(pr, p.id).await;
                return Some(false);
            }
        };
        // Written at once, in an item of its own (no race with the PR's
        // record): however this batch ends, it is not redone.
        let key = effect_key(pr, p.id);
        let ids = {
            let mut d = lock(&batch.done);
            d.push(p.id);
            d.clone()
        };
        let said: &[AuditEntry] = said.as_slice();
        let now = Utc::now();
        if !last && (recorded_sent || repeatable(&p.action)) {
            lock(&batch.deferred).push((key, said.to_vec()));
            return Some(true);
        }
        let r = if last {
            // With the markers deferred so far, in one write.
            let deferred = std::mem::take(&mut *lock(&batch.deferred));
            let mut keys = vec![key];
            let mut lines = said.to_vec();
            for (k, l) in deferred {
                keys.push(k);
                lines.extend(l);
            }
            self.store
                .finish_effect(&keys, DEDUPE_TTL, now, &lines, pr, &ids)
                .await
        } else {
            self.store
                .finish_with_audit(&key, DEDUPE_TTL, now, said)
                .await
                .map(|()| false)
        };
        match r {
            Ok(true) => *lock(&batch.folded) = ids,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(pr = %pr, action = p.id, error = %e, "effect done but not recorded; its claim holds it for now");
            }
        }
        Some(true)
    }

    /// Removes performed actions from the outbox, in one write.
    async fn drop_done(&self, pr: &PrKey, ids: &[u64]) {
        let r = self
            .update_record(pr, |rec| {
                let before = rec.pending.len();
                rec.pending.retain(|p| !ids.contains(&p.id));
                rec.pending.len() != before
            })
            .await;
        if let Err(e) = r {
            // Harmless: their keys say done, so the next pass drops them.
            tracing::warn!(pr = %pr, error = %e, "cannot drop performed effects from the outbox yet");
        }
    }

    /// Counts a failed attempt (the reconciler judges a dispatch's age by it).
    async fn count_attempt(&self, pr: &PrKey, id: u64) {
        let r = self
            .update_record(pr, |rec| {
                match rec.pending.iter_mut().find(|p| p.id == id) {
                    Some(p) => {
                        p.attempts += 1;
                        p.last_attempt = Some(Utc::now());
                        true
                    }
                    None => false,
                }
            })
            .await;
        if let Err(e) = r {
            tracing::error!(pr = %pr, action = id, error = %e, "cannot count an effect's attempt");
        }
    }

    async fn run_action(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        p: &PendingAction,
        reconciling: Option<chrono::Duration>,
        fresh: &Fresh,
    ) -> Done {
        let delivery = p.delivery.as_deref();
        let dry = if self.github.is_dry_run() {
            " (dry-run: not sent)"
        } else {
            ""
        };
        match &p.action {
            // A newer update already rendered a newer state.
            Action::SyncCheckRun if self.check_runs.covered(pr, p.id) => {
                tracing::debug!(pr = %pr, action = p.id, "check-run update covered by a newer one");
                Done::Yes(None)
            }
            Action::SyncCheckRun => match self.sync_check_run(repo, pr).await {
                Ok(title) => {
                    self.check_runs.synced(pr, p.id);
                    Done::Yes(Some(audit_entry(
                        pr,
                        delivery,
                        None,
                        "check_run",
                        format!("{title}{dry}"),
                    )))
                }
                Err(e) => Done::Later(e.to_string()),
            },
            Action::SyncCheckRunOf { pr: other } => {
                let other = PrKey {
                    repo: pr.repo.clone(),
                    number: *other,
                };
                match self.sync_check_run(repo, &other).await {
                    Ok(title) => Done::Yes(Some(audit_entry(
                        pr,
                        delivery,
                        None,
                        "check_run",
                        format!("of #{}: {title}{dry}", other.number),
                    ))),
                    Err(e) => Done::Later(e.to_string()),
                }
            }
            Action::Merge { sha, method } => {
                match self.merge_pr(repo, pr, sha, *method, delivery).await {
                    Ok(line) => Done::Yes(Some(line)),
                    Err(e) => Done::Later(e),
                }
            }
            Action::Wake { pr: other } => {
                let other = PrKey {
                    repo: pr.repo.clone(),
                    number: *other,
                };
                // As the reconciler would look at it; its own record and
                // outbox take it from there. On a task of its own where it
                // can: nested in this PR's effects, one PR's work after
                // another's would only grow the stack.
                let looked = match self.shared() {
                    Some(app) => tokio::spawn(app.watch_task(other.clone(), WAKE_SETTLE))
                        .await
                        .unwrap_or_else(|e| Err(format!("wake of {other} failed: {e}"))),
                    None => self.watch_boxed(&other, WAKE_SETTLE).await,
                };
                match looked {
                    Ok(_) => Done::Yes(Some(audit_entry(
                        pr,
                        delivery,
                        None,
                        "wake",
                        format!(
                            "#{} looked at again: an environment it waits for was freed{dry}",
                            other.number
                        ),
                    ))),
                    Err(e) => Done::Later(e),
                }
            }
            Action::React {
                comment_id,
                reaction,
            } => {
                match self
                    .github
                    .react(repo, *comment_id, reaction.content())
                    .await
                {
                    Ok(()) => Done::Yes(Some(audit_entry(
                        pr,
                        delivery,
                        None,
                        "reaction",
                        format!("{} on comment {comment_id}{dry}", reaction.content()),
                    ))),
                    Err(e) => Done::Later(e.to_string()),
                }
            }
            Action::Reply { body } => match self.github.comment(repo, pr.number, body).await {
                Ok(()) => Done::Yes(Some(audit_entry(
                    pr,
                    delivery,
                    None,
                    "comment",
                    format!("{body}{dry}"),
                ))),
                // A comment that may have been posted is not posted again.
                Err(GitHubError::Ambiguous(e)) => {
                    tracing::warn!(error = %e, "comment outcome unknown; not repeated");
                    Done::Yes(None)
                }
                Err(e) => Done::Later(e.to_string()),
            },
            // Written with the transition since; one queued by an earlier
            // version is written here.
            Action::RecordDeploy { deploy } => {
                match self.store.record_deploy(&deploy_record(pr, deploy)).await {
                    Ok(()) => Done::Yes(None),
                    Err(e) => Done::Later(e.to_string()),
                }
            }
            Action::Dispatch {
                workflow,
                git_ref,
                deploy,
            } => {
                let attempt = Attempt {
                    workflow,
                    queued_ref: git_ref,
                    deploy,
                    delivery,
                    pending: p,
                    reconciling,
                    fresh,
                };
                self.dispatch(repo, pr, attempt).await
            }
        }
    }

    async fn dispatch(&self, repo: &RepoRef, pr: &PrKey, a: Attempt<'_>) -> Done {
        let deploy = a.deploy;
        let id = &deploy.dispatch_id;
        let env = deploy.environment.as_str();
        // A dispatch its own delivery's transition just queued (not the
        // reconciler's) has no earlier attempt: its id is new (a PR's
        // dispatch ids count up), so there is nothing to read. Should one
        // be recorded all the same, `create_dispatch` below returns it.
        let first = a.reconciling.is_none() && a.pending.attempts == 0;
        let earlier = if first {
            None
        } else {
            match self.store.dispatch_by_id(&pr.repo, id).await {
                Ok(r) => r,
                Err(e) => return Done::Later(e.to_string()),
            }
        };
        if earlier.as_ref().is_some_and(|r| r.sent) {
            // Sent by an attempt whose done-marker was lost (a crash before
            // the batch's last write): recorded now, never sent again.
            return Done::Yes(Some(audit_entry(
                pr,
                a.delivery,
                Some(&deploy.requested_by),
                "dispatch",
                format!("{id} was sent by an earlier attempt"),
            )));
        }
        if let Some(record) = earlier {
            // An earlier attempt may have gone through (it answered 5xx,
            // timed out, or the process died during it): look for its run
            // before anything is sent again.
            let Some(settle) = a.reconciling else {
                return Done::Later("an earlier attempt's outcome is unknown".into());
            };
            let last = a.pending.last_attempt.unwrap_or(deploy.at).max(deploy.at);
            if Utc::now() - last < settle {
                return Done::Later("the earlier attempt is too recent to judge".into());
            }
            // Records made before gatebot kept the branch: the one queued.
            let branch = record.git_ref.clone().unwrap_or(a.queued_ref.to_string());
            match self.find_dispatched_run(repo, &branch, &record).await {
                Ok(Some(run)) => {
                    self.link_run(repo, pr, id, run.id, run.html_url.clone())
                        .await;
                    self.audit(
                        pr,
                        a.delivery,
                        Some(&deploy.requested_by),
                        "dispatch",
                        format!("{id} already running as run {}", run.id),
                    )
                    .await;
                    return Done::Yes(None);
                }
                Ok(None) => {}
                Err(e) => return Done::Later(format!("cannot list runs: {e}")),
            }
        }
        let mut recorded = self.judge_and_record(repo, pr, &a, a.fresh, first).await;
        if matches!(recorded, Recorded::Moved) {
            // Something changed since the transition: judged again on
            // records read now.
            let read_now = Fresh {
                committed: None,
                ..a.fresh.clone()
            };
            recorded = self.judge_and_record(repo, pr, &a, &read_now, first).await;
        }
        let (workflow, git_ref) = match recorded {
            Recorded::Yes { workflow, git_ref } => (workflow, git_ref),
            Recorded::Stop(done) => return done,
            Recorded::Moved => return Done::Later("the gates' records kept moving".into()),
        };
        let inputs = DispatchInputs {
            sha: deploy.sha.to_string(),
            pr: pr.number.to_string(),
            environment: env.to_string(),
            dispatch_id: id.to_string(),
            requested_by: deploy.requested_by.clone(),
            rollback: (deploy.kind == DeployKind::Rollback).to_string(),
        };
        let dry = if self.github.is_dry_run() {
            " (dry-run: not sent)"
        } else {
            ""
        };
        match self
            .github
            .dispatch(repo, &workflow, &git_ref, &inputs)
            .await
        {
            Ok(run) => {
                metrics::counter!("gatebot_dispatches_total", "environment" => env.to_string(), "result" => "sent").increment(1);
                // Written with the action's done-marker.
                let said = audit_entry(
                    pr,
                    a.delivery,
                    Some(&deploy.requested_by),
                    "dispatch",
                    format!(
                        "{}@{} {env} {} dispatch_id={id} rollback={}{dry}",
                        workflow, git_ref, deploy.sha, inputs.rollback
                    ),
                );
                // The id GitHub returned is the run, by definition; linking
                // it marks the dispatch sent in the same write.
                let linked = match run {
                    Some(run) => match self.store.link_dispatch_run(&pr.repo, id, run.run_id).await
                    {
                        Ok(_) => {
                            self.link_run(repo, pr, id, run.run_id, run.html_url).await;
                            true
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot link the returned run");
                            false
                        }
                    },
                    None => false,
                };
                let recorded = linked
                    || match self.store.mark_dispatch_sent(&pr.repo, id).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::error!(error = %e, "dispatch sent but not recorded as sent");
                            false
                        }
                    };
                if recorded {
                    Done::Sent(said)
                } else {
                    Done::Yes(Some(said))
                }
            }
            Err(GitHubError::Status { status, message })
                if (400..500).contains(&status) && status != 429 && status != 401 =>
            {
                metrics::counter!("gatebot_dispatches_total", "environment" => env.to_string(), "result" => "refused").increment(1);
                let reason = format!("GitHub answered {status}: {message}");
                self.audit(
                    pr,
                    a.delivery,
                    Some(&deploy.requested_by),
                    "dispatch",
                    format!("{id} refused: {reason}"),
                )
                .await;
                self.fail_dispatch(repo, pr, id, reason).await;
                Done::Yes(None)
            }
            Err(e) => {
                metrics::counter!("gatebot_dispatches_total", "environment" => env.to_string(), "result" => "error").increment(1);
                Done::Later(e.to_string())
            }
        }
    }

    /// Judges a dispatch on `fresh` and the facts read now and, if the
    /// gates allow it, records it: the workflow and branch to send it to.
    /// [`Recorded::Moved`] when it was judged on the records a transition
    /// wrote and they have changed since (nothing recorded).
    async fn judge_and_record(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        a: &Attempt<'_>,
        fresh: &Fresh,
        first: bool,
    ) -> Recorded {
        let deploy = a.deploy;
        let id = &deploy.dispatch_id;
        let env = deploy.environment.as_str();
        // The facts the gates are judged by, as they are right now.
        let judged = match self.judge_dispatch(repo, pr, id, fresh).await {
            Ok(Some(j)) => j,
            Ok(None) => return Recorded::Stop(Done::Later("the PR's record is gone".into())),
            Err(e) => {
                return Recorded::Stop(Done::Later(format!("cannot read the gates' facts: {e}")));
            }
        };
        let state = &judged.state;
        self.drop_lost_roles(repo, pr, &judged, &deploy.environment)
            .await;
        // Whatever happened since it was queued (a hold, a freeze, a push,
        // a close, CI turning red, a role taken away), the gates must
        // allow it now.
        if let Some(why) = &judged.blocker {
            metrics::counter!("gatebot_dispatches_total", "environment" => env.to_string(), "result" => "cancelled").increment(1);
            self.cancel_dispatch(repo, pr, id, why.to_string()).await;
            return Recorded::Stop(Done::Yes(None));
        }
        // The workflow and the branch to run it from, as the config on the
        // default branch and the repository have them now (a default
        // branch renamed since it was queued included).
        let git_ref = judged
            .config
            .git_ref
            .clone()
            .unwrap_or_else(|| state.default_branch.clone());
        let Some(workflow) = workflow_now(&judged.config, deploy) else {
            // Not a stage of the chain any more: the blocker says so first.
            return Recorded::Stop(Done::Later(format!(
                "{} is not a stage of the chain",
                deploy.environment
            )));
        };
        if git_ref != a.queued_ref || workflow != a.workflow {
            tracing::info!(pr = %pr, dispatch = %id, queued = %format!("{}@{}", a.workflow, a.queued_ref), now = %format!("{workflow}@{git_ref}"), "dispatched as the config says now, not as queued");
        }
        let record = DispatchRecord {
            repo: pr.repo.clone(),
            pr: pr.number,
            workflow: workflow.clone(),
            git_ref: Some(git_ref.clone()),
            deploy: deploy.clone(),
            run_id: None,
            sent: false,
        };
        // Recorded before the call: a crash during it leaves a trace the
        // reconciler follows.
        if let Some(versions) = &judged.on {
            // Judged on the records as the transition wrote them: recorded
            // only if they are still so (as good as reading them now).
            let on = JudgedOn {
                pr,
                gate_version: versions.gate,
                environments: &versions.environments,
            };
            return match self.store.create_dispatch_if(&record, on).await {
                Ok(true) => Recorded::Yes { workflow, git_ref },
                Ok(false) => Recorded::Moved,
                Err(e) => Recorded::Stop(Done::Later(e.to_string())),
            };
        }
        match self.store.create_dispatch(&record).await {
            // A first attempt that finds a record it did not make: an
            // attempt it did not know of (the earlier one was looked
            // into above otherwise).
            Ok(stored) if first && stored != record => Recorded::Stop(if stored.sent {
                Done::Yes(None)
            } else {
                Done::Later("an earlier attempt's outcome is unknown".into())
            }),
            Ok(_) => Recorded::Yes { workflow, git_ref },
            Err(e) => Recorded::Stop(Done::Later(e.to_string())),
        }
    }

    /// Drops the entry commands of the people a judged dispatch rested on
    /// who no longer hold the stage's role, so that the gate does not
    /// dispatch on them again.
    pub(super) async fn drop_lost_roles(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        judged: &super::guard::Judged,
        environment: &crate::core::domain::Environment,
    ) {
        if judged.lost.is_empty() {
            return;
        }
        let fact = Fact::RolesLost {
            environment: environment.clone(),
            givers: judged.lost.clone(),
        };
        self.apply_dispatch_outcome(repo, pr, fact).await;
    }

    /// Applies what became of a dispatch — its run, GitHub's refusal, its
    /// cancel, roles found lost right before it. No delivery caused it.
    async fn apply_dispatch_outcome(&self, repo: &RepoRef, pr: &PrKey, fact: Fact) {
        // The record read for its default branch (the config's) is the one
        // the transition starts from: its write is conditional on it. The
        // record as this process last saw it will do (it wrote it a moment
        // ago, for the dispatch): a stale one fails that condition, and the
        // transition reads it again.
        let (seen, guessed) = match self.store.last_seen(pr) {
            Some(v) => (Ok(Some(v)), true),
            None => (self.store.load_gate(pr).await, false),
        };
        let read = match seen {
            Ok(Some(v)) => v,
            Ok(None) => {
                tracing::error!(pr = %pr, "no record to record {fact:?} in");
                return;
            }
            Err(e) => {
                tracing::error!(pr = %pr, error = %e, "cannot read the record to record {fact:?}");
                return;
            }
        };
        let config = match self.config(repo, &read.value.state.default_branch).await {
            Ok((config, _)) => config,
            Err(e) => {
                tracing::error!(pr = %pr, error = %e, "cannot read the config to record {fact:?}");
                return;
            }
        };
        let facts = [fact];
        let start = if guessed {
            super::Start::Seen(read)
        } else {
            super::Start::Known(Some(read))
        };
        let step = self.transition_step(repo, pr, None, &facts, &config, None, false, start);
        if let Err(e) = Box::pin(step).await {
            tracing::error!(pr = %pr, error = %e, "cannot record a dispatch's fate");
        }
    }

    async fn link_run(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        dispatch_id: &DispatchId,
        run_id: u64,
        url: Option<String>,
    ) {
        let fact = Fact::RunLinked {
            dispatch_id: dispatch_id.clone(),
            run_id,
            url,
        };
        self.apply_dispatch_outcome(repo, pr, fact).await;
    }

    async fn fail_dispatch(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        dispatch_id: &DispatchId,
        reason: String,
    ) {
        let fact = Fact::DispatchFailed {
            dispatch_id: dispatch_id.clone(),
            reason,
        };
        self.apply_dispatch_outcome(repo, pr, fact).await;
    }

    /// Takes back a queued dispatch the gates no longer allow, with an
    /// audit line and a reply on the PR.
    pub async fn cancel_dispatch(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        dispatch_id: &DispatchId,
        reason: String,
    ) {
        self.audit(
            pr,
            None,
            None,
            "dispatch",
            format!("{dispatch_id} cancelled: {reason}"),
        )
        .await;
        let fact = Fact::DispatchCancelled {
            dispatch_id: dispatch_id.clone(),
            reason,
        };
        self.apply_dispatch_outcome(repo, pr, fact).await;
    }

    /// Creates or updates gatebot's check run on the head SHA. Returns what
    /// the check run now says.
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
        // What runs where matters once the PR deployed somewhere.
        let environments = if super::reads_environments(&state, &config) {
            self.environments(&pr.repo).await?
        } else {
            Environments::default()
        };
        let mut cx = self.context(&config);
        cx.environments = &environments;
        let view = summary::render(&state, &cx);
        let known = v
            .value
            .check_run
            .as_ref()
            .filter(|c| c.sha == state.head_sha)
            .map(|c| c.id);
        // Low on GitHub's rate limit, an update that completes nothing waits
        // (it stays in the outbox); a check run's creation and completion,
        // which branch protection reads, never do.
        if known.is_some() && view.conclusion.is_none() && self.github.budget_low(repo) {
            return Err(crate::app::AppError::Deferred(
                "the check run's update: GitHub's rate limit is below the floor",
            ));
        }
        let updated = match known {
            Some(id) => match self.github.update_check_run(repo, id, &view).await {
                Ok(()) => Some(id),
                // Deleted, or never ours: make our own instead.
                Err(GitHubError::Status {
                    status: 403 | 404, ..
                }) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let id = match updated {
            Some(id) => id,
            None => {
                // Never create a second one: look for ours first — by App
                // id, since any CI job can name its check `gatebot` — in
                // the listing this delivery just read CI from, if any.
                let own = match self.check_runs.take_listing(&pr.repo, &state.head_sha) {
                    Some(own) => own,
                    None => {
                        let own_app = self.github.app_id();
                        self.github
                            .check_runs(repo, &state.head_sha)
                            .await?
                            .into_iter()
                            .filter(|r| r.is_gatebots(own_app))
                            .map(|r| r.id)
                            .collect()
                    }
                };
                let existing = own.into_iter().filter(|id| Some(*id) != known).max();
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
                rec.check_run = Some(crate::core::gate::state::CheckRunRef {
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

/// The workflow `deploy` runs under `config`: its stage's (or the stage's
/// verify workflow, for a verify run). `None` when its environment is no
/// stage of the chain.
fn workflow_now(config: &crate::core::config::RepoConfig, deploy: &Deploy) -> Option<String> {
    let (_, stage) = config.pipeline.find(&deploy.environment)?;
    Some(match deploy.kind {
        DeployKind::Verify => stage
            .verify
            .as_ref()
            .and_then(|v| v.workflow.clone())
            .unwrap_or_else(|| stage.workflow.clone()),
        _ => stage.workflow.clone(),
    })
}

/// One attempt at a queued dispatch.
struct Attempt<'a> {
    /// The workflow when it was queued (the config's of now is used).
    workflow: &'a str,
    /// The branch when it was queued (the one of now is used).
    queued_ref: &'a str,
    deploy: &'a Deploy,
    delivery: Option<&'a str>,
    pending: &'a PendingAction,
    /// `Some(settle)` in a reconcile pass.
    reconciling: Option<chrono::Duration>,
    /// What the delivery at hand read from GitHub a moment ago.
    fresh: &'a Fresh,
}

/// One batch of actions being performed ([`App::perform_claimed`]).
struct Batch<'a> {
    repo: &'a RepoRef,
    pr: &'a PrKey,
    reconciling: Option<chrono::Duration>,
    fresh: &'a Fresh,
    deadline: Instant,
    /// The ids done (claimed as done before, or performed now).
    done: Mutex<Vec<u64>>,
    /// The ids the last ordered action's write dropped from the outbox.
    folded: Mutex<Vec<u64>>,
    /// Done-markers (with their audit lines) of actions safe to perform
    /// twice ([`repeatable`]), not yet written: they go with the last
    /// ordered action's write, or with the batch's clean-up.
    deferred: Mutex<Vec<(String, Vec<AuditEntry>)>>,
}

/// Whether performing `action` again, should its done-marker be lost to a
/// crash, is harmless: GitHub keeps one reaction of a kind per person, a
/// check run's update writes what the record says, a deploy is recorded
/// once per dispatch. Replies and merges are not, nor is a wake (it moves
/// another PR): their markers are written at once; so is a dispatch's,
/// unless its own record says it was sent ([`Done::Sent`]).
fn repeatable(action: &Action) -> bool {
    matches!(
        action,
        Action::React { .. }
            | Action::SyncCheckRun
            | Action::SyncCheckRunOf { .. }
            | Action::RecordDeploy { .. }
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The outcome of an action cut off by the time budget mid-call.
fn cut_off(action: &Action) -> Done {
    match action {
        // It may have been posted: a missing reply beats a double one.
        Action::Reply { .. } => Done::Yes(None),
        // A dispatch may have gone through: the reconciler looks for its
        // run before sending it again. The others are idempotent.
        _ => Done::Later("cut off by the time budget".into()),
    }
}
