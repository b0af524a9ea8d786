//! Which workflow run is the one gatebot dispatched. Pure: the caller
//! brings the run (from a `workflow_run` delivery or the API), the
//! dispatch record and what gatebot's own runs look like.
//!
//! A run counts as a dispatch's only when
//! * its id is the one linked to the dispatch (returned by GitHub, or
//!   linked earlier by the rule below), or
//! * nothing is linked yet and it passes every check of [`identify`]: a
//!   `workflow_dispatch` run of the dispatched workflow, on the dispatched
//!   branch, in the base repository, started *and* triggered by gatebot's
//!   own bot, whose name carries both the `dispatch_id` and the dispatched
//!   SHA. The caller then links it, atomically; the first such run wins and
//!   every other run naming the same `dispatch_id` is foreign from then on.
//!
//! Anyone with write access can start `cd-prod.yml` by hand and type any
//! `dispatch_id` into its inputs; they cannot make GitHub name gatebot's
//! bot as the run's actor, so such a run is never taken for gatebot's.

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use crate::core::domain::{DispatchId, RepoName};
use crate::core::gate::Deploy;

/// Where a dispatch gatebot made stands, found by id or by run id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchRecord {
    pub repo: RepoName,
    pub pr: u64,
    pub workflow: String,
    /// The branch it was dispatched on (`None` in records written before
    /// gatebot recorded it: the repository's default branch).
    #[serde(default)]
    pub git_ref: Option<String>,
    pub deploy: Deploy,
    /// The run linked to it: the id GitHub returned, or the first run that
    /// passed every check of [`identify`]. Set once; no
    /// other run can take its place.
    pub run_id: Option<u64>,
    /// Whether the dispatch call itself went through.
    pub sent: bool,
}

/// The `dispatch_id` at the end of a run name `"<env> <sha> [<dispatch_id>]"`.
pub(crate) fn dispatch_id_in_title(title: &str) -> Option<DispatchId> {
    let open = title.rfind('[')?;
    DispatchId::parse(title.get(open + 1..)?.strip_suffix(']')?)
}

/// A workflow run as GitHub describes it (the fields gatebot judges by).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunInfo {
    pub id: u64,
    pub run_attempt: u64,
    pub display_title: String,
    /// `queued`, `in_progress`, `waiting`, `completed`, …
    pub status: String,
    pub conclusion: Option<String>,
    pub html_url: Option<String>,
    /// What started it: `workflow_dispatch`, `push`, …
    pub event: Option<String>,
    /// `.github/workflows/<file>` (GitHub may append `@<ref>`).
    pub path: Option<String>,
    /// The branch the workflow file was read from.
    pub head_branch: Option<String>,
    /// `head_repository.full_name`: differs from the base for forks.
    pub head_repository: Option<String>,
    /// `repository.full_name`.
    pub repository: Option<String>,
    /// Who started the run, and who triggered this attempt (a re-run).
    pub actor: Option<String>,
    pub triggering_actor: Option<String>,
    /// Last change; for a completed run, when it completed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl RunInfo {
    pub fn completed(&self) -> bool {
        self.status == "completed"
    }

    pub fn succeeded(&self) -> bool {
        self.conclusion.as_deref() == Some("success")
    }
}

/// What gatebot's own dispatched runs look like, beyond the record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    /// The repository the run must be in (base, not a fork).
    pub repo: &'a RepoName,
    /// `<app slug>[bot]`: the actor of runs gatebot dispatches.
    pub bot_login: &'a str,
    /// The branch a record without `git_ref` was dispatched on.
    pub default_branch: &'a str,
}

/// How a run relates to a dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// The run linked to the dispatch.
    Linked,
    /// Not linked yet, and it passes every check: link it, then it counts.
    Candidate,
    /// Not the dispatch's run; the reason is for the audit log.
    Foreign(String),
}

/// Judges `run` against the dispatch `record` (see the module docs).
pub(crate) fn identify(
    record: &DispatchRecord,
    run: &RunInfo,
    expected: &Expected<'_>,
) -> Identity {
    let id = &record.deploy.dispatch_id;
    match record.run_id {
        Some(linked) if linked == run.id => return Identity::Linked,
        Some(linked) => {
            return Identity::Foreign(format!("dispatch {id} is run {linked}, not {}", run.id));
        }
        None => {}
    }
    let foreign = |why: String| Identity::Foreign(format!("run {} is not {id}: {why}", run.id));
    let is = |value: &Option<String>, want: &str| {
        value
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case(want))
    };
    if run.event.as_deref() != Some("workflow_dispatch") {
        return foreign(format!(
            "started by {}, not workflow_dispatch",
            run.event.as_deref().unwrap_or("an unknown event")
        ));
    }
    let workflow_path = format!(".github/workflows/{}", record.workflow);
    let path = run.path.as_deref().unwrap_or("");
    let path_file = path.split_once('@').map_or(path, |(file, _)| file);
    if path_file != workflow_path {
        return foreign(format!("a run of {path:?}, not {workflow_path}"));
    }
    let branch = record.git_ref.as_deref().unwrap_or(expected.default_branch);
    if run.head_branch.as_deref() != Some(branch) {
        return foreign(format!(
            "on branch {:?}, not {branch}",
            run.head_branch.as_deref().unwrap_or("")
        ));
    }
    let base = expected.repo.as_str();
    if !is(&run.repository, base) || !is(&run.head_repository, base) {
        return foreign(format!(
            "from {:?}, not {base}",
            run.head_repository.as_deref().unwrap_or("")
        ));
    }
    if !is(&run.actor, expected.bot_login) || !is(&run.triggering_actor, expected.bot_login) {
        return foreign(format!(
            "started by @{} (triggered by @{}), not gatebot's @{}",
            run.actor.as_deref().unwrap_or("?"),
            run.triggering_actor.as_deref().unwrap_or("?"),
            expected.bot_login
        ));
    }
    let named = dispatch_id_in_title(&run.display_title).as_ref() == Some(id);
    if !named || !run.display_title.contains(record.deploy.sha.as_str()) {
        return foreign(format!(
            "its name {:?} does not carry both {id} and {}",
            truncate(&run.display_title, 120),
            record.deploy.sha
        ));
    }
    Identity::Candidate
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::domain::{Environment, Sha};
    use crate::core::gate::{Deploy, DeployKind, DeployStatus};

    const SHA: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
    const ID: &str = "42-production-0d1a26e-2";

    fn record(run_id: Option<u64>) -> DispatchRecord {
        DispatchRecord {
            repo: RepoName::parse("acme/widgets").unwrap(),
            pr: 42,
            workflow: "cd-prod.yml".into(),
            git_ref: Some("main".into()),
            deploy: Deploy {
                dispatch_id: ID.into(),
                environment: Environment::production(),
                kind: DeployKind::Promote,
                sha: Sha::parse(SHA).unwrap(),
                requested_by: "rita".into(),
                at: Utc::now(),
                run_id: None,
                status: DeployStatus::Pending,
                finished_at: None,
                run_url: None,
                displaced_by: None,
            },
            run_id,
            sent: true,
        }
    }

    fn gatebots_run() -> RunInfo {
        RunInfo {
            id: 9002,
            run_attempt: 1,
            display_title: format!("production {SHA} [{ID}]"),
            status: "waiting".into(),
            event: Some("workflow_dispatch".into()),
            path: Some(".github/workflows/cd-prod.yml".into()),
            head_branch: Some("main".into()),
            head_repository: Some("acme/widgets".into()),
            repository: Some("acme/widgets".into()),
            actor: Some("gatebot[bot]".into()),
            triggering_actor: Some("gatebot[bot]".into()),
            ..RunInfo::default()
        }
    }

    fn judge(record: &DispatchRecord, run: &RunInfo) -> Identity {
        let repo = RepoName::parse("acme/widgets").unwrap();
        identify(
            record,
            run,
            &Expected {
                repo: &repo,
                bot_login: "gatebot[bot]",
                default_branch: "main",
            },
        )
    }

    #[test]
    fn gatebots_own_unlinked_run_is_a_candidate() {
        assert_eq!(judge(&record(None), &gatebots_run()), Identity::Candidate);
    }

    #[test]
    fn the_linked_run_is_linked_and_no_other() {
        assert_eq!(
            judge(&record(Some(9002)), &gatebots_run()),
            Identity::Linked
        );
        let other = RunInfo {
            id: 9003,
            ..gatebots_run()
        };
        assert!(matches!(
            judge(&record(Some(9002)), &other),
            Identity::Foreign(_)
        ));
    }

    /// Each check, broken alone, makes gatebot's own run foreign: one
    /// `#[test]` per check.
    macro_rules! each_check_is_needed {
        ($($name:ident: $break_it:expr;)*) => {$(
            #[test]
            fn $name() {
                let mut run = gatebots_run();
                let break_it: fn(&mut RunInfo) = $break_it;
                break_it(&mut run);
                assert!(
                    matches!(judge(&record(None), &run), Identity::Foreign(_)),
                    "{run:?}"
                );
            }
        )*};
    }

    each_check_is_needed! {
        another_actor: |r| r.actor = Some("mallory".into());
        rerun_by_someone_else: |r| r.triggering_actor = Some("mallory".into());
        another_branch: |r| r.head_branch = Some("evil".into());
        a_fork: |r| r.head_repository = Some("mallory/widgets".into());
        another_repository: |r| r.repository = Some("acme/other".into());
        another_event: |r| r.event = Some("push".into());
        another_workflow: |r| r.path = Some(".github/workflows/pwn.yml".into());
        a_workflow_whose_name_ends_the_same: |r| {
            r.path = Some(".github/workflows/x-cd-prod.yml".into())
        };
        no_dispatch_id_in_the_name: |r| r.display_title = format!("production {SHA}");
        no_sha_in_the_name: |r| r.display_title = format!("production [{ID}]");
        another_sha_in_the_name: |r| {
            r.display_title = format!("production {} [{ID}]", "f".repeat(40))
        };
        no_actor_at_all: |r| r.actor = None;
    }

    #[test]
    fn the_default_branch_stands_in_for_a_missing_ref_and_case_is_ignored() {
        let mut r = record(None);
        r.git_ref = None;
        let mut run = gatebots_run();
        run.actor = Some("GateBot[bot]".into());
        run.path = Some(".github/workflows/cd-prod.yml@refs/heads/main".into());
        assert_eq!(judge(&r, &run), Identity::Candidate);
    }
}
