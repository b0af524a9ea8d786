//! Looking at one PR again, as nobody told gatebot anything: its record
//! healed from GitHub (the PR, its CI, the config of its default branch),
//! its in-flight dispatches polled, its gates re-evaluated. The
//! reconciler does it for every watched PR; a PR whose environment was
//! freed is woken with it at once.

use std::sync::Arc;

use chrono::{Duration, Utc};
use futures_util::future::BoxFuture;

use crate::app::App;
use crate::app::effects::repo_ref;
use crate::core::domain::PrKey;
use crate::core::gate::{Deploy, DeployStatus, Fact};

impl App {
    /// [`App::watch`], boxed: the effects that start it for another PR
    /// see a future of a named type, not one that contains themselves.
    pub(crate) fn watch_boxed<'a>(
        &'a self,
        pr: &'a PrKey,
        settle: Duration,
    ) -> BoxFuture<'a, Result<usize, String>> {
        Box::pin(async move { self.watch(pr, settle).await.map_err(|e| e.to_string()) })
    }

    /// [`App::watch`] of `pr` as a task of its own (see
    /// [`App::watch_boxed`]).
    pub(crate) fn watch_task(
        self: Arc<Self>,
        pr: PrKey,
        settle: Duration,
    ) -> BoxFuture<'static, Result<usize, String>> {
        Box::pin(async move { self.watch(&pr, settle).await.map_err(|e| e.to_string()) })
    }

    /// Heals `pr`'s record from GitHub, polls its in-flight dispatches and
    /// re-evaluates its gates. Returns how many runs it found finished.
    pub(crate) async fn watch(
        &self,
        pr: &PrKey,
        settle: Duration,
    ) -> Result<usize, crate::app::AppError> {
        self.look(pr, settle, false).await
    }

    /// [`App::watch`] as the reconciler's sweep: it waits
    /// ([`AppError::Deferred`]) while the installation's GitHub rate limit
    /// is below the floor. Run events still arrive as webhooks meanwhile;
    /// the sweep only makes up for lost ones.
    ///
    /// [`AppError::Deferred`]: crate::app::AppError::Deferred
    pub(crate) async fn sweep(
        &self,
        pr: &PrKey,
        settle: Duration,
    ) -> Result<usize, crate::app::AppError> {
        self.look(pr, settle, true).await
    }

    async fn look(
        &self,
        pr: &PrKey,
        settle: Duration,
        sweep: bool,
    ) -> Result<usize, crate::app::AppError> {
        let app = self;
        let Some(v) = app.store.load_gate(pr).await? else {
            return Ok(0);
        };
        let state = v.value.state;
        let repo = repo_ref(&state);
        if sweep && app.github.budget_low(&repo) {
            return Err(crate::app::AppError::Deferred(
                "the reconciler's look: GitHub's rate limit is below the floor",
            ));
        }
        // The PR first: the config is read from the default branch it names
        // (which may have changed since the record was written).
        let info = app.github.pull_request(&repo, pr.number).await?;
        let (config, error) = app.config(&repo, &info.default_branch).await?;
        let mut facts = vec![Fact::Config { error }];
        facts.extend(
            app.pr_facts(&repo, &info, &config, false, None, Some(&state))
                .await?,
        );
        let in_flight: Vec<&Deploy> = state
            .deploys()
            .filter(|d| d.status == DeployStatus::Pending)
            .collect();
        let mut finished = 0;
        for d in in_flight {
            let run = match d.run_id {
                // A linked run is polled on every pass.
                Some(id) => Some(app.github.workflow_run(&repo, id).await?),
                // An unlinked one is looked for once it can be listed.
                None if d.at <= Utc::now() - settle => {
                    let Some(record) = app.store.dispatch_by_id(&pr.repo, &d.dispatch_id).await?
                    else {
                        continue;
                    };
                    app.find_dispatched_run(&repo, &info.default_branch, &record)
                        .await?
                }
                None => None,
            };
            let Some(run) = run else { continue };
            if run.completed() {
                finished += 1;
                facts.push(Fact::RunCompleted {
                    dispatch_id: d.dispatch_id.clone(),
                    run_id: run.id,
                    success: run.succeeded(),
                    url: run.html_url,
                    completed_at: run.updated_at,
                });
            } else if d.run_id.is_none() {
                facts.push(Fact::RunLinked {
                    dispatch_id: d.dispatch_id.clone(),
                    run_id: run.id,
                    url: run.html_url,
                });
            }
        }
        facts.push(Fact::Reevaluate);
        app.transition(&repo, pr, None, &facts, &config, None)
            .await?;
        Ok(finished)
    }
}
