//! The narrow GitHub interface gatebot needs, with octocrab behind it
//! ([`octo::OctoGitHub`]) and a logging stand-in for `--dry-run`
//! ([`dry_run::DryRunGitHub`]).

pub(crate) mod dry_run;
mod etag_cache;
pub(crate) mod octo;
mod rate_budget;
pub(crate) mod retry;

use async_trait::async_trait;
use serde::Serialize;

use crate::core::domain::{Person, RepoName, Sha, UserId};
use crate::core::events::Event;
use crate::core::gate::ci::CheckRunInfo;
use crate::core::gate::summary::CheckRunView;

/// A repository and the installation to act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    pub name: RepoName,
    pub installation: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("GitHub rate limit exceeded")]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("GitHub request failed: {0}")]
    Transport(String),
    /// A write may or may not have taken effect; it must not be repeated
    /// blindly.
    #[error("GitHub write outcome unknown: {0}")]
    Ambiguous(String),
    #[error("no GitHub App installation is known for {0}")]
    NoInstallation(String),
    #[error("unexpected GitHub answer: {0}")]
    Decode(String),
}

impl GitHubError {
    /// GitHub says what was asked for does not exist (404, 410): asking
    /// again cannot succeed.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            GitHubError::Status {
                status: 404 | 410,
                ..
            }
        )
    }

    /// Worth retrying a read after a pause.
    pub fn is_transient(&self) -> bool {
        match self {
            // 401: an installation token that expired or was revoked under
            // us; the next attempt mints or uses a fresh one.
            GitHubError::Status { status, .. } => *status >= 500 || *status == 401,
            GitHubError::RateLimited { .. } | GitHubError::Transport(_) => true,
            _ => false,
        }
    }
}

pub(crate) type GhResult<T> = Result<T, GitHubError>;

/// A pull request as GitHub's API has it now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PullRequestInfo {
    pub number: u64,
    pub head_sha: Sha,
    /// The author (`user.id`, and the login, lowercase, for display).
    pub author: Person,
    pub open: bool,
    pub base_ref: String,
    /// The repository's default branch now (`base.repo.default_branch`).
    pub default_branch: String,
    /// The PR's branch (`head.ref`), and the repository it is in
    /// (`head.repo.full_name`; `None` when that repository is gone).
    pub head_ref: String,
    pub head_repo: Option<String>,
}

impl PullRequestInfo {
    /// Whether its branch is in the repository itself (not a fork).
    pub fn same_repository(&self, repo: &RepoName) -> bool {
        self.head_repo.as_deref() == Some(repo.as_str())
    }
}

/// A push to a branch, as the repository's activity log has it: the SHA it
/// made the branch's head, and who pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchPush {
    pub sha: Sha,
    pub by: Person,
}

/// A user's permission on a repository, as GitHub resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    /// From the `role_name` (preferred) or `permission` field.
    pub fn parse(s: &str) -> Permission {
        match s {
            "admin" => Permission::Admin,
            "maintain" => Permission::Maintain,
            "write" | "push" => Permission::Write,
            "triage" => Permission::Triage,
            "read" | "pull" => Permission::Read,
            _ => Permission::None,
        }
    }
}

/// The inputs of a gatebot dispatch, all strings, exactly as the
/// workflow templates declare them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DispatchInputs {
    pub sha: String,
    pub pr: String,
    pub environment: String,
    pub dispatch_id: String,
    pub requested_by: String,
    pub rollback: String,
}

pub(crate) use crate::core::run_identity::RunInfo;

/// One attempt at delivering a webhook, as the App's delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDelivery {
    pub id: u64,
    /// The `X-GitHub-Delivery` value, shared by redeliveries.
    pub guid: String,
    pub delivered_at: chrono::DateTime<chrono::Utc>,
    /// 0 when GitHub could not connect at all.
    pub status_code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchedRun {
    pub run_id: u64,
    pub html_url: Option<String>,
}

#[async_trait]
pub trait GitHub: Send + Sync {
    /// Learn from a verified delivery (only the dry-run adapter does).
    fn observe(&self, _event: &Event<'_>) {}

    /// Whether writes really reach GitHub.
    fn is_dry_run(&self) -> bool {
        false
    }

    /// Whether `repo`'s installation has less of its rate limit left than
    /// the floor (`GATEBOT_RATE_LIMIT_FLOOR`), as of GitHub's last answer:
    /// then what can wait does. Never asked before a dispatch or an answer
    /// to a command.
    fn budget_low(&self, _repo: &RepoRef) -> bool {
        false
    }

    /// gatebot's own App id: its check runs carry it (`None`: unknown).
    fn app_id(&self) -> Option<u64>;

    /// gatebot's App slug (`GET /app`, read once): the runs it dispatches
    /// are started by `<slug>[bot]`.
    async fn app_slug(&self) -> GhResult<String>;

    async fn pull_request(&self, repo: &RepoRef, number: u64) -> GhResult<PullRequestInfo>;
    /// The login of the account `id` now (`GET /user/{id}`); `None` when
    /// there is no such account any more.
    async fn user_login(&self, repo: &RepoRef, id: UserId) -> GhResult<Option<String>>;
    /// Merges PR `number` with `method`, only if its head is still `sha`
    /// (`PUT /repos/{owner}/{repo}/pulls/{number}/merge`). A 4xx is
    /// GitHub's refusal (a conflict, branch protection, a required review,
    /// the head moved); a 5xx or a lost answer is ambiguous.
    async fn merge(&self, repo: &RepoRef, number: u64, sha: &Sha, method: &str) -> GhResult<()>;
    /// Whether PR `number` is merged (`GET …/pulls/{number}/merge`).
    async fn merged(&self, repo: &RepoRef, number: u64) -> GhResult<bool>;
    /// How many commits of `base` (a branch) `head` lacks: `behind_by` of
    /// `GET /repos/{owner}/{repo}/compare/{base}...{head}`; 0 when `head`
    /// contains the branch's current head.
    async fn behind_by(&self, repo: &RepoRef, base: &str, head: &Sha) -> GhResult<u64>;
    /// Whether the changes from `base` (a branch) to `head` touch `path`,
    /// from the same comparison as [`GitHub::behind_by`] (so that, asked
    /// in one delivery, the second is a `304`); `None` when GitHub's list
    /// of changed files is cut short (over 300 files) and cannot tell.
    async fn changes_path(
        &self,
        _repo: &RepoRef,
        _base: &str,
        _head: &Sha,
        _path: &str,
    ) -> GhResult<Option<bool>> {
        Ok(None)
    }
    /// The pushes to `branch` of the repository (its activity log: pushes,
    /// force pushes, the branch's creation), newest first, at most 100.
    async fn branch_pushes(&self, repo: &RepoRef, branch: &str) -> GhResult<Vec<BranchPush>>;
    async fn permission(&self, repo: &RepoRef, login: &str) -> GhResult<Permission>;
    /// Active (not pending) membership of `org/team`.
    async fn is_team_member(
        &self,
        repo: &RepoRef,
        org: &str,
        team: &str,
        login: &str,
    ) -> GhResult<bool>;
    /// Creates the completed "gatebot config" check run on `sha`, each
    /// annotation on its line of `.github/gatebot.yml`.
    async fn create_config_check(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        view: &crate::core::config::ConfigCheckView,
    ) -> GhResult<()>;
    /// The numbers of the repository's open pull requests (the first 100,
    /// newest first).
    async fn open_pull_requests(&self, repo: &RepoRef) -> GhResult<Vec<u64>>;
    /// A file's text on `branch`; `None` when it does not exist.
    async fn file(&self, repo: &RepoRef, path: &str, branch: &str) -> GhResult<Option<String>>;
    /// A file's text on the repository's default branch (no `ref`);
    /// `None` when the file or the repository does not exist, or the App
    /// cannot see it.
    async fn default_branch_file(&self, repo: &RepoRef, path: &str) -> GhResult<Option<String>>;
    async fn check_runs(&self, repo: &RepoRef, sha: &Sha) -> GhResult<Vec<CheckRunInfo>>;
    /// The check runs called `name` on `sha` (`check_name`): a listing the
    /// updates of other check runs (gatebot's own among them) leave
    /// unchanged, so that, asked again, it is a `304`.
    async fn check_runs_named(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        name: &str,
    ) -> GhResult<Vec<CheckRunInfo>> {
        let runs = self.check_runs(repo, sha).await?;
        Ok(runs.into_iter().filter(|r| r.name == name).collect())
    }
    /// `workflow_dispatch`; the run's id when GitHub returns run details.
    async fn dispatch(
        &self,
        repo: &RepoRef,
        workflow: &str,
        git_ref: &str,
        inputs: &DispatchInputs,
    ) -> GhResult<Option<DispatchedRun>>;
    /// Recent `workflow_dispatch` runs of `workflow` on `branch`, newest first.
    async fn dispatched_runs(
        &self,
        repo: &RepoRef,
        workflow: &str,
        branch: &str,
    ) -> GhResult<Vec<RunInfo>>;
    async fn workflow_run(&self, repo: &RepoRef, run_id: u64) -> GhResult<RunInfo>;
    async fn create_check_run(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        view: &CheckRunView,
    ) -> GhResult<u64>;
    async fn update_check_run(&self, repo: &RepoRef, id: u64, view: &CheckRunView) -> GhResult<()>;
    async fn comment(&self, repo: &RepoRef, issue: u64, body: &str) -> GhResult<()>;
    async fn react(&self, repo: &RepoRef, comment_id: u64, content: &str) -> GhResult<()>;
    /// The App's webhook deliveries since `since`, newest first.
    async fn hook_deliveries(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> GhResult<Vec<HookDelivery>>;
    /// Asks GitHub to deliver attempt `id` again.
    async fn redeliver(&self, id: u64) -> GhResult<()>;
    /// Answers a deployment protection rule for `run_id`.
    async fn review_deployment(
        &self,
        repo: &RepoRef,
        run_id: u64,
        environment: &str,
        approve: bool,
        comment: &str,
    ) -> GhResult<()>;
}
