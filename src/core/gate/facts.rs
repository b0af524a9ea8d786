//! What happened, as far as the gates are concerned: the facts the shell
//! reads from deliveries and GitHub and hands to [`super::apply`].

use chrono::{DateTime, Utc};

use super::ci::CiStatus;
use super::commands::{Actor, Command};
use crate::core::domain::{DispatchId, Environment, Person, Sha, UserId};

/// Something that happened, as far as the gates are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// The PR was opened or first seen; the record was just created.
    Opened,
    /// What GitHub says about the PR now, read while handling a delivery
    /// (never inferred from the order deliveries arrive in): a stored
    /// state that disagrees is brought in line — closed, reopened (gates
    /// start again), a new head or a new base (approvals void).
    Observed {
        open: bool,
        head: Sha,
        base_ref: String,
        /// The PR author's user id.
        author_id: UserId,
        /// The repository's default branch now (`base.repo.default_branch`).
        default_branch: String,
    },
    /// `by` pushed `sha` to the PR's branch (a `synchronize` delivery's
    /// `sender`, or the repository's activity log): an author of the PR.
    Pushed { sha: Sha, by: Person },
    /// CI's verdict on `sha`, read from GitHub's check runs.
    Ci { sha: Sha, status: CiStatus },
    /// How many commits of the PR's base branch `sha` lacks, read from
    /// GitHub's compare API (for a stage with `up_to_date`).
    BaseCompared { sha: Sha, behind_by: u64 },
    /// The repository configuration was (re)read; `error` when unusable.
    Config { error: Option<String> },
    /// A command from a PR comment, by `actor`, whose role the shell
    /// resolved from the API ([`Actor::grant`]).
    Command {
        comment_id: u64,
        actor: Actor,
        command: Command,
        /// `comment.created_at`: a gate command written before gatebot
        /// learned of the head was about another commit. `None` (GitHub
        /// sent no time) counts as stale.
        written_at: Option<DateTime<Utc>>,
        /// For `/rollback`: the previously deployed SHA from the history.
        rollback_target: Option<Sha>,
    },
    /// GitHub told us which run a dispatch started.
    RunLinked {
        dispatch_id: DispatchId,
        run_id: u64,
        url: Option<String>,
    },
    /// A dispatched run completed.
    RunCompleted {
        dispatch_id: DispatchId,
        run_id: u64,
        success: bool,
        url: Option<String>,
        /// When the run completed, by GitHub's clock (the run's
        /// `updated_at`); orders the deploy history.
        completed_at: Option<DateTime<Utc>>,
    },
    /// The dispatch call was refused outright (workflow missing, no
    /// permission): the deploy failed without a run.
    DispatchFailed {
        dispatch_id: DispatchId,
        reason: String,
    },
    /// A queued dispatch that the gates no longer allow (a hold, a
    /// freeze, a push, a close, CI turning red…): it is not sent, or its
    /// deployment is not approved. The gate dispatches anew once allowed.
    DispatchCancelled {
        dispatch_id: DispatchId,
        reason: String,
    },
    /// Right before a dispatch, these people, whose entry commands for the
    /// stage deploying to `environment` count toward it, were found not
    /// to hold the stage's role any more: their commands no longer count,
    /// and are dropped (so that the gate does not dispatch on them again).
    RolesLost {
        environment: Environment,
        givers: Vec<UserId>,
    },
    /// A comment line started with a gatebot command but did not parse.
    NotUnderstood {
        comment_id: u64,
        login: String,
        message: String,
    },
    /// A comment held more command lines than gatebot acts on.
    TooManyCommands {
        login: String,
        acted_on: usize,
        skipped: usize,
    },
    /// Nothing new: look again (a freeze may have ended).
    Reevaluate,
}
