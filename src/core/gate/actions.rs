//! What a transition asks the shell to do once the new state is stored:
//! the side effects, queued in the record's outbox with the state change.

use serde::{Deserialize, Serialize};

use super::state::Deploy;
use crate::core::config::MergeMethod;
use crate::core::domain::Sha;

/// The reaction on a command's comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reaction {
    #[serde(rename = "+1")]
    Accepted,
    #[serde(rename = "-1")]
    Refused,
    #[serde(rename = "confused")]
    Confused,
}

impl Reaction {
    pub fn content(self) -> &'static str {
        match self {
            Reaction::Accepted => "+1",
            Reaction::Refused => "-1",
            Reaction::Confused => "confused",
        }
    }
}

/// A side effect to perform after the new state is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// `workflow_dispatch` of `workflow` on `git_ref` for `deploy` (as
    /// queued: the workflow and branch are those of the config and the
    /// repository when it is sent).
    Dispatch {
        workflow: String,
        git_ref: String,
        deploy: Deploy,
    },
    /// Create or update the `gatebot` check run from the current state.
    SyncCheckRun,
    /// Update the check run of another PR of the repository, whose deploy
    /// this one's displaced: it says what runs there now.
    SyncCheckRunOf {
        pr: u64,
    },
    /// Look at another PR of the repository again now (as the reconciler
    /// would): the environment it is queued for was freed.
    Wake {
        pr: u64,
    },
    React {
        comment_id: u64,
        reaction: Reaction,
    },
    Reply {
        body: String,
    },
    /// Merge the PR with `method`, `sha` being the head that was deployed
    /// (GitHub refuses if the head moved); re-checked before it is sent.
    Merge {
        sha: Sha,
        method: MergeMethod,
    },
    /// Append a successful deploy to the environment's history.
    RecordDeploy {
        deploy: Deploy,
    },
}

/// The side effects of one delivery, as few as they can be: at most one
/// reply (every answer gathered into it, in order), each reaction once,
/// one check-run update. Dispatches and history records are kept as they are.
pub(crate) fn gather(actions: Vec<Action>) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::with_capacity(actions.len());
    let mut reply_at: Option<usize> = None;
    for a in actions {
        match a {
            Action::Reply { body } => match reply_at {
                Some(i) => {
                    if let Action::Reply { body: gathered } = &mut out[i] {
                        gathered.push_str("\n\n");
                        gathered.push_str(&body);
                    }
                }
                None => {
                    reply_at = Some(out.len());
                    out.push(Action::Reply { body });
                }
            },
            Action::SyncCheckRun
            | Action::SyncCheckRunOf { .. }
            | Action::Wake { .. }
            | Action::React { .. }
                if out.contains(&a) => {}
            a => out.push(a),
        }
    }
    out
}
