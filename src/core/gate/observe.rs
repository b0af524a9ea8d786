//! Facts about the pull request itself: GitHub's view of it (open, head,
//! base, author, default branch), its pushes, CI's verdict on its head, and
//! whether the repository's config can be used. A stored state that
//! disagrees with GitHub is brought in line, failing closed: a reopen, a
//! new head or a new base start every gate again.

use super::ci::CiStatus;
use super::state::DeployStatus;
use super::transition::Machine;
use crate::core::domain::{Person, Sha, UserId};

impl Machine<'_, '_> {
    /// Brings the record in line with what GitHub says now.
    pub(super) fn observed(
        &mut self,
        open: bool,
        head: &Sha,
        base_ref: &str,
        author_id: UserId,
        default_branch: &str,
    ) -> String {
        self.s.author_id = Some(author_id);
        if self.s.default_branch != default_branch {
            self.s.default_branch = default_branch.to_string();
        }
        let mut notes = Vec::new();
        if open && !self.s.open {
            self.s.open = true;
            self.s.head_sha = head.clone();
            self.void_gates();
            notes.push(format!("open at {}: gates start again", head.short()));
        } else if !open && self.s.open {
            self.s.open = false;
            self.detach_in_flight();
            notes.push("closed: gates stopped".to_string());
        }
        if *head != self.s.head_sha {
            self.s.head_sha = head.clone();
            self.void_gates();
            notes.push(format!("new head {}: approvals void", head.short()));
        }
        match self.s.base_ref.as_deref() {
            Some(old) if old != base_ref => {
                self.void_gates();
                notes.push(format!("base branch now {base_ref}: approvals void"));
                self.s.base_ref = Some(base_ref.to_string());
            }
            Some(_) => {}
            None => self.s.base_ref = Some(base_ref.to_string()),
        }
        if notes.is_empty() {
            "as GitHub reports".into()
        } else {
            notes.join("; ")
        }
    }

    /// `by` pushed `sha`: an author of the PR from now on. A late push of
    /// an older head counts too: their commits are in every head after it.
    pub(super) fn pushed(&mut self, sha: &Sha, by: &Person) -> String {
        if !self.s.record_push(sha, by) {
            return "push already known".into();
        }
        format!(
            "{} pushed by @{} (id {}): an author of this pull request",
            sha.short(),
            by.login,
            by.id
        )
    }

    pub(super) fn ci(&mut self, sha: &Sha, status: CiStatus) -> String {
        if *sha != self.s.head_sha {
            return format!("CI for old SHA {} ignored", sha.short());
        }
        if !self.s.open {
            return "CI on a closed PR ignored".into();
        }
        // CI is tracked after the first deploy too: a re-run that turns
        // red stops any further dispatch for this SHA until it is green.
        if self.s.ci == status {
            return "CI unchanged".into();
        }
        self.s.ci = status;
        let dispatched = self.advance(None);
        format!("CI {status:?} on {}{dispatched}", sha.short())
    }

    /// GitHub's compare API said how many commits of the base branch `sha`
    /// lacks.
    pub(super) fn base_compared(&mut self, sha: &Sha, behind_by: u64) -> String {
        if *sha != self.s.head_sha {
            return format!("base comparison for old SHA {} ignored", sha.short());
        }
        let known = super::state::BehindBase {
            sha: sha.clone(),
            by: behind_by,
        };
        if self.s.behind_base.as_ref() == Some(&known) {
            return "base comparison unchanged".into();
        }
        self.s.behind_base = Some(known);
        let dispatched = self.advance(None);
        format!(
            "{} lacks {behind_by} commit(s) of its base{dispatched}",
            sha.short()
        )
    }

    /// The repository's config was read: usable, or why not.
    pub(super) fn config(&mut self, error: Option<&String>) -> String {
        if self.s.config_error.as_ref() == error {
            return "config unchanged".into();
        }
        self.s.config_error = error.cloned();
        match error {
            Some(e) => format!("config invalid: {e}"),
            None => {
                let dispatched = self.advance(None);
                format!("config valid again{dispatched}")
            }
        }
    }

    /// A new head, a reopen or a new base: every gate starts again.
    /// In-flight deploys may finish; their results go to the environment's
    /// history only.
    pub(super) fn void_gates(&mut self) {
        self.s.head_seen_at = Some(self.cx.now);
        self.detach_in_flight();
        self.s.ci = CiStatus::Pending;
        self.s.stages.clear();
    }

    /// Moves every dispatch still running off the head's gates.
    pub(super) fn detach_in_flight(&mut self) {
        let mut in_flight = Vec::new();
        for gates in &mut self.s.stages {
            let verify = gates.verification.as_mut().and_then(|v| v.run.take());
            in_flight.extend(
                [gates.deploy.take(), verify]
                    .into_iter()
                    .flatten()
                    .filter(|d| d.status == DeployStatus::Pending),
            );
        }
        self.s.detached.extend(in_flight);
    }
}
