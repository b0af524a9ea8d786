//! Performing `merge:` (queued by the machine once the last stage passed):
//! re-checked on GitHub's view of the PR right before it is sent — still
//! open, not merged, its head still the deployed SHA — and on the stored
//! record (no hold). GitHub's refusal (a 4xx: a conflict, branch
//! protection, a required review, the head moved) is answered with a reply
//! and an audit line, and never retried. An ambiguous failure (5xx, a lost
//! answer) is read back before anything is tried again, with the same
//! `sha` — never another.

use super::{App, audit_entry};
use crate::adapters::github::{GitHubError, RepoRef};
use crate::adapters::store::AuditEntry;
use crate::core::config::MergeMethod;
use crate::core::domain::{PrKey, Sha};

impl App {
    /// Merges `pr` at `sha` with `method`, once it is still allowed:
    /// `Ok(line)` when it is settled (merged, or not to be merged, said
    /// on the PR), `Err(why)` to try again later.
    pub(crate) async fn merge_pr(
        &self,
        repo: &RepoRef,
        pr: &PrKey,
        sha: &Sha,
        method: MergeMethod,
        delivery: Option<&str>,
    ) -> Result<AuditEntry, String> {
        let line = |detail: String| audit_entry(pr, delivery, None, "merge", detail);
        let merged = |result: &'static str| {
            metrics::counter!("gatebot_merges_total", "result" => result).increment(1);
        };
        if self
            .github
            .merged(repo, pr.number)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(line(format!("{} already merged", sha.short())));
        }
        let info = self
            .github
            .pull_request(repo, pr.number)
            .await
            .map_err(|e| e.to_string())?;
        let refuse = |why: String| async move {
            merged("refused");
            let body = format!("gatebot did not merge `{}`: {why}.", sha.short());
            if let Err(e) = self.github.comment(repo, pr.number, &body).await {
                tracing::warn!(pr = %pr, error = %e, "cannot say why the merge was not made");
            }
            line(format!("not merged: {why}"))
        };
        if !info.open {
            return Ok(refuse("the pull request is closed".into()).await);
        }
        if info.head_sha != *sha {
            return Ok(refuse(format!(
                "its head moved to `{}` since `{}` was deployed",
                info.head_sha.short(),
                sha.short()
            ))
            .await);
        }
        let held = self
            .store
            .load_gate(pr)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|v| v.value.state.hold);
        if let Some(h) = held {
            // Waits for `/unhold`: the reconciler tries again.
            return Err(format!("held by @{}", h.login));
        }
        match self
            .github
            .merge(repo, pr.number, sha, method.as_str())
            .await
        {
            Ok(()) => {
                merged("merged");
                Ok(line(format!(
                    "merged {} ({})",
                    sha.short(),
                    method.as_str()
                )))
            }
            Err(GitHubError::Status { status, message }) if (400..500).contains(&status) => {
                Ok(refuse(format!("GitHub answered {status}: {message}")).await)
            }
            Err(e) => match self.github.merged(repo, pr.number).await {
                Ok(true) => {
                    merged("merged");
                    Ok(line(format!(
                        "merged {} ({}), confirmed after: {e}",
                        sha.short(),
                        method.as_str()
                    )))
                }
                _ => Err(e.to_string()),
            },
        }
    }
}
