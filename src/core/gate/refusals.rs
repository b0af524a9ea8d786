//! Why a command is refused, or a dispatch may not go out now: each reason
//! a sentence the reply quotes as it is ("`/approve` refused: CI is not
//! green on 0d1a26e.").

use chrono::{DateTime, Utc};

use crate::core::domain::{DispatchId, Environment, Sha};

/// Why a command was refused or a dispatch is held back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    // --- who may ---
    #[error("you need the {0} role for this command")]
    NoPermission(String),
    #[error(
        "an author of this head (whoever opened the pull request or pushed to it) cannot give its gates"
    )]
    AuthorCannotApprove,
    #[error(
        "gatebot has not yet heard who pushed {} (GitHub's push event for it has not arrived); try again in a minute, or push again",
        .0.short()
    )]
    PusherUnknown(Sha),
    #[error("only @{0} can cancel it")]
    NotYours(String),

    // --- the pull request ---
    #[error(
        "gatebot does not gate pull requests into `{0}`; only those into the default branch or the config's `branches:`"
    )]
    NotGated(String),
    #[error("this pull request is closed")]
    Closed,
    #[error(
        "stale SHA: this comment was written before gatebot saw the current head {}; review {} and comment again",
        .0.short(),
        .0.short()
    )]
    Stale(Sha),
    #[error("{} is no longer the head ({} is)", .sha.short(), .head.short())]
    NotHead { sha: Sha, head: Sha },
    #[error("CI is not green on {}", .0.short())]
    CiNotGreen(Sha),
    #[error("the repository's .github/gatebot.yml is invalid: {0}")]
    Config(String),

    // --- holds and freezes ---
    #[error("dispatches are held by @{by}{}; `/unhold` first", .reason.as_ref().map(|r| format!(" ({})", crate::core::markdown::code_span(r))).unwrap_or_default())]
    Held { by: String, reason: Option<String> },
    #[error("{env} is frozen until {until}{}", .reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Frozen {
        env: Environment,
        until: String,
        reason: Option<String>,
    },

    // --- where the chain stands ---
    #[error("{0} is already dispatched for this SHA")]
    AlreadyDispatched(Environment),
    #[error("{env} is not deployed for {} yet", .sha.short())]
    NotDeployedYet { env: Environment, sha: Sha },
    #[error("{}", quorum_text(.word, *.have, *.need, .sha))]
    Quorum {
        word: String,
        have: usize,
        need: usize,
        sha: Sha,
    },
    #[error("{env} is not deployed for {}", .sha.short())]
    NotDeployed { env: Environment, sha: Sha },
    #[error("{env} is not verified for {}", .sha.short())]
    NotVerified { env: Environment, sha: Sha },
    #[error("{env} may be deployed from {} (its soak after {previous})", .until.to_rfc3339())]
    Soaking {
        env: Environment,
        previous: Environment,
        until: DateTime<Utc>,
    },
    #[error("{env} now runs {now}; `/retry {env}` deploys this head again")]
    Displaced { env: Environment, now: String },
    #[error(
        "{previous} stopped running this head before {env}'s soak ended (it now runs {now}); `/retry {previous}` deploys this head again and starts a new soak"
    )]
    SoakCut {
        env: Environment,
        previous: Environment,
        now: String,
    },
    #[error("{}", queued_text(.env, *.holder, *.position))]
    Queued {
        env: Environment,
        /// Who holds it (`None`: free, and others were queued first).
        holder: Option<u64>,
        position: usize,
    },
    #[error("{0} has no lock (`lock: true` in the chain)")]
    NotLockable(Environment),
    #[error("{env} is already held by #{pr}")]
    AlreadyLocked { env: Environment, pr: u64 },
    #[error(
        "{env} needs the head to contain `{base}`: {} lacks {behind} commit(s) of it; update the branch (its gates start again for the new head)",
        .sha.short()
    )]
    Behind {
        env: Environment,
        base: String,
        sha: Sha,
        behind: u64,
    },
    #[error("a deploy to {0} is still running")]
    DeployRunning(Environment),
    #[error("dispatch {0} is no longer pending")]
    NotPending(DispatchId),
    #[error("{0} is not a stage of this repository's chain")]
    NotInChain(Environment),
    #[error("no {env} deploy of {} failed", .sha.short())]
    NothingFailed { env: Environment, sha: Sha },
    #[error("{env} has no /{word} gate")]
    NoGate { env: Environment, word: String },
    #[error("there is nothing to cancel: {0}")]
    NothingToCancel(String),
    #[error("no earlier {0} deploy in gatebot's history to roll back to")]
    NoRollbackTarget(Environment),
}

fn queued_text(env: &Environment, holder: Option<u64>, position: usize) -> String {
    match holder {
        Some(pr) => format!(
            "{env} is held by #{pr} (`/unlock {env}` to release it); this PR is queued, position {position}"
        ),
        None => format!(
            "{env} goes to the pull requests queued before this one first; this PR is queued, position {position}"
        ),
    }
}

fn quorum_text(word: &str, have: usize, need: usize, sha: &Sha) -> String {
    if need == 1 {
        format!("there is no /{word} for {}", sha.short())
    } else {
        format!("{have} of {need} /{word} for {}", sha.short())
    }
}
