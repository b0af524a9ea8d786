//! `--dry-run`: a GitHub stand-in that needs no App. Reads are answered
//! from what the deliveries showed (head SHAs, authors, check runs) and the
//! `--config` file; writes are logged (and audited by the caller), not sent.
//! Roles resolve only from logins the config file names; teams resolve to
//! no one. Not for production.
//!
//! What it has seen is kept in a file beside a SQLite store
//! (`<database>.dry-run.json`, [`DryRunGitHub::remembering`]), so that a
//! restarted dry run carries on where it stopped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{
    BranchPush, DispatchInputs, DispatchedRun, GhResult, GitHub, GitHubError, HookDelivery,
    Permission, PullRequestInfo, RepoRef, RunInfo,
};
use crate::core::domain::{Sha, UserId};
use crate::core::events::Event;
use crate::core::gate::ci::CheckRunInfo;
use crate::core::gate::summary::CheckRunView;

#[derive(Default)]
struct Seen {
    prs: HashMap<(String, u64), PullRequestInfo>,
    /// The login each user id last had in a delivery.
    logins: HashMap<u64, String>,
    /// (repo, sha) → check runs by name (newest wins).
    checks: HashMap<(String, String), HashMap<String, CheckRunInfo>>,
}

/// [`Seen`] as kept on disk (JSON has no tuple keys).
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct SeenFile {
    prs: Vec<(String, PullRequestInfo)>,
    logins: Vec<(u64, String)>,
    checks: Vec<(String, String, Vec<CheckRunInfo>)>,
}

impl Seen {
    fn to_file(&self) -> SeenFile {
        SeenFile {
            prs: self
                .prs
                .iter()
                .map(|((repo, _), pr)| (repo.clone(), pr.clone()))
                .collect(),
            logins: self.logins.iter().map(|(k, v)| (*k, v.clone())).collect(),
            checks: self
                .checks
                .iter()
                .map(|((repo, sha), runs)| {
                    (repo.clone(), sha.clone(), runs.values().cloned().collect())
                })
                .collect(),
        }
    }

    fn from_file(f: SeenFile) -> Seen {
        Seen {
            prs: f
                .prs
                .into_iter()
                .map(|(repo, pr)| ((repo, pr.number), pr))
                .collect(),
            logins: f.logins.into_iter().collect(),
            checks: f
                .checks
                .into_iter()
                .map(|(repo, sha, runs)| {
                    let by_name = runs.into_iter().map(|r| (r.name.clone(), r)).collect();
                    ((repo, sha), by_name)
                })
                .collect(),
        }
    }
}

pub struct DryRunGitHub {
    config_text: Option<String>,
    seen: Mutex<Seen>,
    next_id: AtomicU64,
    /// Where what was seen is kept across restarts, if anywhere.
    memory: Option<PathBuf>,
}

impl DryRunGitHub {
    /// `config_text`: the `--config` file, served as `.github/gatebot.yml`.
    pub fn new(config_text: Option<String>) -> Self {
        DryRunGitHub {
            config_text,
            seen: Mutex::new(Seen::default()),
            next_id: AtomicU64::new(1),
            memory: None,
        }
    }

    /// As [`Self::new`], remembering what it sees in `memory` (read back
    /// at start: a restart carries on). A file that cannot be read is an
    /// error, not a silent fresh start.
    pub fn remembering(config_text: Option<String>, memory: PathBuf) -> Result<Self, String> {
        let seen = match std::fs::read(&memory) {
            Ok(bytes) => Seen::from_file(
                serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{} is not a dry run's memory: {e}", memory.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Seen::default(),
            Err(e) => return Err(format!("cannot read {}: {e}", memory.display())),
        };
        Ok(DryRunGitHub {
            config_text,
            seen: Mutex::new(seen),
            next_id: AtomicU64::new(1),
            memory: Some(memory),
        })
    }

    /// Writes what was seen to the memory file (a new file renamed over
    /// the old one, so that a crash leaves one or the other whole).
    fn remember(&self, seen: &Seen) {
        let Some(path) = &self.memory else { return };
        let write = || -> std::io::Result<()> {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(&seen.to_file())?)?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "dry-run: cannot keep what it saw");
        }
    }

    fn seen(&self) -> GhResult<std::sync::MutexGuard<'_, Seen>> {
        self.seen
            .lock()
            .map_err(|_| GitHubError::Transport("dry-run state poisoned".into()))
    }
}

fn would(what: &str, repo: &RepoRef, detail: &str) {
    tracing::warn!(repo = %repo.name, detail, "dry-run: would {what} (not sent)");
}

#[async_trait]
impl GitHub for DryRunGitHub {
    fn is_dry_run(&self) -> bool {
        true
    }

    fn app_id(&self) -> Option<u64> {
        None
    }

    /// The sample deliveries' runs are started by `gatebot[bot]`.
    async fn app_slug(&self) -> GhResult<String> {
        Ok("gatebot".into())
    }

    fn observe(&self, event: &Event<'_>) {
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        match event {
            Event::PullRequest(e) => {
                let p = &e.pull_request;
                for u in [&p.user, &e.sender] {
                    if let Some(id) = u.id {
                        seen.logins.insert(id, u.login.to_ascii_lowercase());
                    }
                }
                let default_branch = e.repository.default_branch.as_deref();
                if let (Ok(sha), Some(author), Some(default_branch)) =
                    (Sha::parse(&p.head.sha), p.user.person(), default_branch)
                {
                    seen.prs.insert(
                        (e.repository.full_name.to_string(), p.number),
                        PullRequestInfo {
                            number: p.number,
                            head_sha: sha,
                            author,
                            open: p.state == "open",
                            base_ref: p.base.git_ref.to_string(),
                            default_branch: default_branch.to_string(),
                            head_ref: p.head.git_ref.to_string(),
                            // Unknown: no activity log is read in a dry run.
                            head_repo: None,
                        },
                    );
                }
            }
            Event::Comment(e) => {
                if let Some(id) = e.comment.user.id {
                    seen.logins
                        .insert(id, e.comment.user.login.to_ascii_lowercase());
                }
            }
            Event::Checks(e) => {
                if let Some(run) = &e.check_run {
                    let key = (
                        e.repository.full_name.to_string(),
                        run.head_sha.to_ascii_lowercase(),
                    );
                    let runs = seen.checks.entry(key).or_default();
                    let newer = runs.get(run.name.as_ref()).is_none_or(|r| r.id <= run.id);
                    if newer {
                        runs.insert(
                            run.name.to_string(),
                            CheckRunInfo {
                                id: run.id,
                                name: run.name.to_string(),
                                status: run.status.to_string(),
                                conclusion: run.conclusion.as_ref().map(|c| c.to_string()),
                                app_id: run.app.as_ref().and_then(|a| a.id),
                                app_slug: run
                                    .app
                                    .as_ref()
                                    .and_then(|a| a.slug.as_ref())
                                    .map(|s| s.to_string()),
                            },
                        );
                    }
                }
            }
            _ => return,
        }
        self.remember(&seen);
    }

    async fn pull_request(&self, repo: &RepoRef, number: u64) -> GhResult<PullRequestInfo> {
        self.seen()?
            .prs
            .get(&(repo.name.to_string(), number))
            .cloned()
            .ok_or_else(|| GitHubError::Status {
                status: 404,
                message: format!(
                    "dry-run has seen no pull_request delivery for {}#{number}",
                    repo.name
                ),
            })
    }

    /// The open PRs its deliveries showed.
    async fn open_pull_requests(&self, repo: &RepoRef) -> GhResult<Vec<u64>> {
        let seen = self.seen()?;
        let mut numbers: Vec<u64> = seen
            .prs
            .iter()
            .filter(|((r, _), pr)| *r == repo.name.to_string() && pr.open)
            .map(|(_, pr)| pr.number)
            .collect();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        Ok(numbers)
    }

    async fn branch_pushes(&self, _repo: &RepoRef, _branch: &str) -> GhResult<Vec<BranchPush>> {
        Ok(Vec::new())
    }

    async fn merge(&self, repo: &RepoRef, number: u64, sha: &Sha, method: &str) -> GhResult<()> {
        tracing::info!(repo = %repo.name, number, %sha, method, "dry-run: would merge");
        Ok(())
    }

    /// The dry run merges nothing.
    async fn merged(&self, _repo: &RepoRef, _number: u64) -> GhResult<bool> {
        Ok(false)
    }

    /// The dry run sees no branches: every head counts as up to date.
    async fn behind_by(&self, _repo: &RepoRef, _base: &str, _head: &Sha) -> GhResult<u64> {
        Ok(0)
    }

    async fn user_login(&self, _repo: &RepoRef, id: UserId) -> GhResult<Option<String>> {
        Ok(self.seen()?.logins.get(&id.0).cloned())
    }

    async fn permission(&self, _repo: &RepoRef, login: &str) -> GhResult<Permission> {
        // Read for everyone (`/gates` works), write for the logins the
        // config names (a login listed in a role needs write access too):
        // roles come from the config's logins alone.
        let named = self.config_text.as_deref().is_some_and(|text| {
            crate::core::config::parse(text).is_ok_and(|c| c.names_user(login))
        });
        Ok(if named {
            Permission::Write
        } else {
            Permission::Read
        })
    }

    async fn is_team_member(
        &self,
        _repo: &RepoRef,
        _org: &str,
        _team: &str,
        _login: &str,
    ) -> GhResult<bool> {
        Ok(false)
    }

    async fn file(&self, _repo: &RepoRef, _path: &str, _branch: &str) -> GhResult<Option<String>> {
        Ok(self.config_text.clone())
    }

    async fn create_config_check(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        view: &crate::core::config::ConfigCheckView,
    ) -> GhResult<()> {
        would(
            "create the gatebot config check run",
            repo,
            &format!("{} on {sha}: {}", view.conclusion, view.title),
        );
        Ok(())
    }

    /// No other repository exists in a dry run (an organisation's
    /// `.github` included).
    async fn default_branch_file(&self, _repo: &RepoRef, _path: &str) -> GhResult<Option<String>> {
        Ok(None)
    }

    async fn check_runs(&self, repo: &RepoRef, sha: &Sha) -> GhResult<Vec<CheckRunInfo>> {
        Ok(self
            .seen()?
            .checks
            .get(&(repo.name.to_string(), sha.to_string()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn dispatch(
        &self,
        repo: &RepoRef,
        workflow: &str,
        git_ref: &str,
        inputs: &DispatchInputs,
    ) -> GhResult<Option<DispatchedRun>> {
        let inputs = serde_json::to_string(inputs).unwrap_or_default();
        would(
            "dispatch",
            repo,
            &format!("{workflow}@{git_ref} inputs {inputs}"),
        );
        Ok(None)
    }

    async fn dispatched_runs(
        &self,
        _repo: &RepoRef,
        _workflow: &str,
        _branch: &str,
    ) -> GhResult<Vec<RunInfo>> {
        Ok(Vec::new())
    }

    async fn workflow_run(&self, _repo: &RepoRef, run_id: u64) -> GhResult<RunInfo> {
        Err(GitHubError::Status {
            status: 404,
            message: format!("dry-run cannot read run {run_id}"),
        })
    }

    async fn create_check_run(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        view: &CheckRunView,
    ) -> GhResult<u64> {
        would(
            "create check run",
            repo,
            &format!("{} on {sha}: {}", view.status, view.title),
        );
        Ok(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    async fn update_check_run(&self, repo: &RepoRef, id: u64, view: &CheckRunView) -> GhResult<()> {
        would(
            "update check run",
            repo,
            &format!(
                "{id}: {} {} — {}",
                view.status,
                view.conclusion.unwrap_or(""),
                view.title
            ),
        );
        Ok(())
    }

    async fn comment(&self, repo: &RepoRef, issue: u64, body: &str) -> GhResult<()> {
        would("comment", repo, &format!("#{issue}: {body}"));
        Ok(())
    }

    async fn react(&self, repo: &RepoRef, comment_id: u64, content: &str) -> GhResult<()> {
        would("react", repo, &format!("{content} on comment {comment_id}"));
        Ok(())
    }

    async fn hook_deliveries(
        &self,
        _since: chrono::DateTime<chrono::Utc>,
    ) -> GhResult<Vec<HookDelivery>> {
        Ok(Vec::new())
    }

    async fn redeliver(&self, id: u64) -> GhResult<()> {
        tracing::warn!(id, "dry-run: would redeliver (not sent)");
        Ok(())
    }

    async fn review_deployment(
        &self,
        repo: &RepoRef,
        run_id: u64,
        environment: &str,
        approve: bool,
        comment: &str,
    ) -> GhResult<()> {
        let verdict = if approve { "approve" } else { "reject" };
        would(
            "answer protection rule",
            repo,
            &format!("{verdict} run {run_id} for {environment}: {comment}"),
        );
        Ok(())
    }
}
