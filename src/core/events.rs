//! Typed, borrowed parsing of the webhook deliveries gatebot acts on.
//!
//! Only the fields gatebot reads are declared; everything else in GitHub's
//! payloads is skipped by serde. Strings borrow from the request body
//! (`Cow` so that JSON escapes still parse). Events and actions gatebot does
//! not act on parse to [`Event::Ignored`].

use std::borrow::Cow;

use serde::Deserialize;

/// A delivery that failed to parse after its signature was verified.
#[derive(Debug, thiserror::Error)]
#[error("malformed {event} payload: {source}")]
pub(crate) struct EventError {
    pub(crate) event: String,
    #[source]
    pub(crate) source: serde_json::Error,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Repository<'a> {
    /// GitHub's id of the repository (a name can be transferred; the id
    /// stays).
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(borrow)]
    pub full_name: Cow<'a, str>,
    #[serde(borrow, default)]
    pub default_branch: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Installation {
    pub id: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User<'a> {
    /// Who they are; their login is only what they are called now.
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(borrow)]
    pub login: Cow<'a, str>,
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
}

impl User<'_> {
    /// The person, when the payload says who it is (GitHub always does).
    pub fn person(&self) -> Option<crate::core::domain::Person> {
        Some(crate::core::domain::Person::new(self.id?, &self.login))
    }

    /// Bots (GitHub Apps, including gatebot itself) never drive gates.
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]")
    }
}

/// A pull request as a check run or suite lists it: its number, and the
/// repository its base is in. A check of a commit that is also the head of
/// a PR in *another* repository (a fork's PR into its own upstream, say)
/// lists that PR too.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PrNumber {
    pub number: u64,
    #[serde(default)]
    pub base: Option<PrBase>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PrBase {
    #[serde(default)]
    pub repo: Option<RepoId>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RepoId {
    pub id: u64,
}

/// The numbers of the PRs of `pull_requests` whose base is the delivery's
/// repository `repository_id`. An entry that does not say which
/// repository it is in, or a delivery that does not say which it is from,
/// counts for nothing: gatebot then finds the PRs by head SHA in its own
/// records of that repository.
fn own_prs(pull_requests: &[PrNumber], repository_id: Option<u64>) -> Vec<u64> {
    pull_requests
        .iter()
        .filter(|p| {
            let base = p.base.and_then(|b| b.repo).map(|r| r.id);
            base.is_some() && base == repository_id
        })
        .map(|p| p.number)
        .collect()
}

// ---- pull_request ---------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestAction {
    Opened,
    Reopened,
    Synchronize,
    Closed,
    /// `edited` with a changed base branch.
    BaseChanged,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GitRef<'a> {
    #[serde(borrow)]
    pub sha: Cow<'a, str>,
    #[serde(rename = "ref", borrow)]
    pub git_ref: Cow<'a, str>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest<'a> {
    pub number: u64,
    #[serde(borrow)]
    pub user: User<'a>,
    #[serde(borrow)]
    pub head: GitRef<'a>,
    #[serde(borrow)]
    pub base: GitRef<'a>,
    #[serde(borrow)]
    pub state: Cow<'a, str>,
    #[serde(default)]
    pub merged: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct PullRequestEvent<'a> {
    pub action: PullRequestAction,
    pub pull_request: PullRequest<'a>,
    pub repository: Repository<'a>,
    pub installation: Option<Installation>,
    pub sender: User<'a>,
}

// ---- issue_comment --------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
pub struct Issue<'a> {
    pub number: u64,
    /// Present only when the issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde::de::IgnoredAny>,
    #[serde(borrow, default)]
    pub user: Option<User<'a>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment<'a> {
    pub id: u64,
    #[serde(borrow, default)]
    pub body: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub user: User<'a>,
    #[serde(borrow, default)]
    pub created_at: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone)]
pub struct IssueCommentEvent<'a> {
    pub issue: Issue<'a>,
    pub comment: Comment<'a>,
    pub repository: Repository<'a>,
    pub installation: Option<Installation>,
}

// ---- check_run / check_suite ---------------------------------------------

#[derive(Debug, Clone, Deserialize)]
pub struct App<'a> {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(borrow, default)]
    pub slug: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun<'a> {
    pub id: u64,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub head_sha: Cow<'a, str>,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    #[serde(borrow, default)]
    pub conclusion: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub app: Option<App<'a>>,
    #[serde(default)]
    pub pull_requests: Vec<PrNumber>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CheckSuite<'a> {
    #[serde(borrow)]
    pub head_sha: Cow<'a, str>,
    #[serde(default)]
    pub pull_requests: Vec<PrNumber>,
}

/// A `check_run` or `check_suite` event: either may change CI's verdict on
/// a SHA. gatebot re-reads the check runs for that SHA rather than trusting
/// the order these arrive in.
#[derive(Debug, Clone)]
pub struct ChecksEvent<'a> {
    pub head_sha: Cow<'a, str>,
    /// The PRs of this repository it lists (see [`own_prs`]).
    pub pull_requests: Vec<u64>,
    /// The run that changed, for `check_run` events (absent for suites).
    pub check_run: Option<CheckRun<'a>>,
    pub repository: Repository<'a>,
    pub installation: Option<Installation>,
}

// ---- workflow_run ---------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowRun<'a> {
    pub id: u64,
    #[serde(default = "first_attempt")]
    pub run_attempt: u64,
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub path: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub display_title: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    #[serde(borrow, default)]
    pub conclusion: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub html_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub head_branch: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub head_repository: Option<RepoFullName<'a>>,
    #[serde(borrow, default)]
    pub actor: Option<User<'a>>,
    #[serde(borrow, default)]
    pub triggering_actor: Option<User<'a>>,
    #[serde(borrow, default)]
    pub updated_at: Option<Cow<'a, str>>,
}

/// `{"full_name": …}` of a repository object.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoFullName<'a> {
    #[serde(borrow)]
    pub full_name: Cow<'a, str>,
}

fn first_attempt() -> u64 {
    1
}

impl WorkflowRun<'_> {
    /// The `dispatch_id` gatebot put in the run name:
    /// `"<env> <sha> [<dispatch_id>]"`.
    pub fn dispatch_id(&self) -> Option<crate::core::domain::DispatchId> {
        crate::core::run_identity::dispatch_id_in_title(self.display_title.as_deref()?)
    }

    pub fn succeeded(&self) -> bool {
        self.conclusion.as_deref() == Some("success")
    }
}

impl WorkflowRunEvent<'_> {
    /// The run as gatebot judges runs, whether from a delivery or the API.
    pub fn run_info(&self) -> crate::core::run_identity::RunInfo {
        let r = &self.workflow_run;
        let owned = |v: &Option<Cow<'_, str>>| v.as_deref().map(str::to_string);
        crate::core::run_identity::RunInfo {
            id: r.id,
            run_attempt: r.run_attempt,
            display_title: owned(&r.display_title).unwrap_or_default(),
            status: r.status.to_string(),
            conclusion: owned(&r.conclusion),
            html_url: owned(&r.html_url),
            event: owned(&r.event),
            path: owned(&r.path),
            head_branch: owned(&r.head_branch),
            head_repository: r.head_repository.as_ref().map(|h| h.full_name.to_string()),
            repository: Some(self.repository.full_name.to_string()),
            actor: r.actor.as_ref().map(|a| a.login.to_string()),
            triggering_actor: r.triggering_actor.as_ref().map(|a| a.login.to_string()),
            updated_at: r
                .updated_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkflowRunEvent<'a> {
    pub completed: bool,
    pub workflow_run: WorkflowRun<'a>,
    pub repository: Repository<'a>,
    pub installation: Option<Installation>,
}

// ---- deployment_protection_rule ------------------------------------------

#[derive(Debug, Clone)]
pub struct ProtectionRuleEvent<'a> {
    pub environment: Cow<'a, str>,
    pub callback_url: Cow<'a, str>,
    pub repository: Repository<'a>,
    pub installation: Option<Installation>,
}

impl ProtectionRuleEvent<'_> {
    /// The run id from `…/actions/runs/{run_id}/deployment_protection_rule`.
    pub fn run_id(&self) -> Option<u64> {
        let path = self
            .callback_url
            .strip_suffix("/deployment_protection_rule")?;
        let (_, id) = path.rsplit_once("/actions/runs/")?;
        id.parse().ok()
    }
}

/// An `installation` or `installation_repositories` payload: the
/// installation and the repositories it lists.
#[derive(Debug, Deserialize)]
struct InstallationPayload<'a> {
    #[serde(default)]
    installation: Option<Installation>,
    #[serde(borrow, default)]
    repositories: Vec<NamedRepository<'a>>,
    #[serde(borrow, default)]
    repositories_added: Vec<NamedRepository<'a>>,
}

#[derive(Debug, Deserialize)]
struct NamedRepository<'a> {
    #[serde(borrow)]
    full_name: Cow<'a, str>,
}

// ---- the event --------------------------------------------------------------

#[derive(Debug, Clone)]
pub enum Event<'a> {
    Ping,
    /// `installation` or `installation_repositories`: with the
    /// repositories it gained (`created`, `added`), whose open PRs
    /// gatebot then learns.
    Installation {
        action: Cow<'a, str>,
        installation: Option<Installation>,
        /// Full names (`owner/repo`) of the repositories added.
        added: Vec<Cow<'a, str>>,
    },
    PullRequest(PullRequestEvent<'a>),
    /// `issue_comment.created` on a pull request.
    Comment(IssueCommentEvent<'a>),
    Checks(ChecksEvent<'a>),
    WorkflowRun(WorkflowRunEvent<'a>),
    ProtectionRule(ProtectionRuleEvent<'a>),
    /// An event or action gatebot does not act on; `why` says which.
    Ignored {
        why: String,
    },
}

impl Event<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Ping => "ping",
            Event::Installation { .. } => "installation",
            Event::PullRequest(_) => "pull_request",
            Event::Comment(_) => "issue_comment",
            Event::Checks(_) => "checks",
            Event::WorkflowRun(_) => "workflow_run",
            Event::ProtectionRule(_) => "deployment_protection_rule",
            Event::Ignored { .. } => "ignored",
        }
    }
}

#[derive(Deserialize)]
struct ActionOnly<'a> {
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PullRequestPayload<'a> {
    #[serde(borrow)]
    pull_request: PullRequest<'a>,
    #[serde(borrow)]
    repository: Repository<'a>,
    installation: Option<Installation>,
    #[serde(borrow)]
    sender: User<'a>,
    #[serde(default)]
    changes: Option<EditChanges>,
}

#[derive(Deserialize)]
struct EditChanges {
    #[serde(default)]
    base: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct IssueCommentPayload<'a> {
    #[serde(borrow)]
    issue: Issue<'a>,
    #[serde(borrow)]
    comment: Comment<'a>,
    #[serde(borrow)]
    repository: Repository<'a>,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct CheckRunPayload<'a> {
    #[serde(borrow)]
    check_run: CheckRun<'a>,
    #[serde(borrow)]
    repository: Repository<'a>,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct CheckSuitePayload<'a> {
    #[serde(borrow)]
    check_suite: CheckSuite<'a>,
    #[serde(borrow)]
    repository: Repository<'a>,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct WorkflowRunPayload<'a> {
    #[serde(borrow)]
    workflow_run: WorkflowRun<'a>,
    #[serde(borrow)]
    repository: Repository<'a>,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct ProtectionRulePayload<'a> {
    #[serde(borrow)]
    environment: Cow<'a, str>,
    #[serde(borrow)]
    deployment_callback_url: Cow<'a, str>,
    #[serde(borrow)]
    repository: Repository<'a>,
    installation: Option<Installation>,
}

/// Parses a verified delivery body for the event named in `X-GitHub-Event`.
pub(crate) fn parse<'a>(event: &str, body: &'a [u8]) -> Result<Event<'a>, EventError> {
    let err = |source| EventError {
        event: event.to_string(),
        source,
    };
    let action = serde_json::from_slice::<ActionOnly>(body)
        .map_err(err)?
        .action;
    let action = action.as_deref().unwrap_or("");
    let ignored = || Event::Ignored {
        why: if action.is_empty() {
            format!("event {event} is not handled")
        } else {
            format!("event {event}.{action} is not handled")
        },
    };
    Ok(match event {
        "ping" => Event::Ping,
        "installation" | "installation_repositories" => {
            let p: InstallationPayload = serde_json::from_slice(body).map_err(err)?;
            let added = match (event, action) {
                ("installation", "created") => p.repositories,
                ("installation_repositories", "added") => p.repositories_added,
                _ => Vec::new(),
            };
            Event::Installation {
                action: Cow::Owned(action.to_string()),
                installation: p.installation,
                added: added.into_iter().map(|r| r.full_name).collect(),
            }
        }
        "pull_request" => {
            let p: PullRequestPayload = serde_json::from_slice(body).map_err(err)?;
            let action = match action {
                "opened" => PullRequestAction::Opened,
                "reopened" => PullRequestAction::Reopened,
                "synchronize" => PullRequestAction::Synchronize,
                "closed" => PullRequestAction::Closed,
                "edited" if p.changes.as_ref().is_some_and(|c| c.base.is_some()) => {
                    PullRequestAction::BaseChanged
                }
                _ => return Ok(ignored()),
            };
            Event::PullRequest(PullRequestEvent {
                action,
                pull_request: p.pull_request,
                repository: p.repository,
                installation: p.installation,
                sender: p.sender,
            })
        }
        "issue_comment" => {
            if action != "created" {
                return Ok(ignored());
            }
            let p: IssueCommentPayload = serde_json::from_slice(body).map_err(err)?;
            if p.issue.pull_request.is_none() {
                return Ok(Event::Ignored {
                    why: "comment on an issue, not a pull request".into(),
                });
            }
            Event::Comment(IssueCommentEvent {
                issue: p.issue,
                comment: p.comment,
                repository: p.repository,
                installation: p.installation,
            })
        }
        "check_run" => {
            if action != "completed" {
                return Ok(ignored());
            }
            let p: CheckRunPayload = serde_json::from_slice(body).map_err(err)?;
            Event::Checks(ChecksEvent {
                head_sha: p.check_run.head_sha.clone(),
                pull_requests: own_prs(&p.check_run.pull_requests, p.repository.id),
                check_run: Some(p.check_run),
                repository: p.repository,
                installation: p.installation,
            })
        }
        "check_suite" => {
            if action != "completed" {
                return Ok(ignored());
            }
            let p: CheckSuitePayload = serde_json::from_slice(body).map_err(err)?;
            Event::Checks(ChecksEvent {
                head_sha: p.check_suite.head_sha,
                pull_requests: own_prs(&p.check_suite.pull_requests, p.repository.id),
                check_run: None,
                repository: p.repository,
                installation: p.installation,
            })
        }
        "workflow_run" => {
            if !matches!(action, "completed" | "requested" | "in_progress") {
                return Ok(ignored());
            }
            let p: WorkflowRunPayload = serde_json::from_slice(body).map_err(err)?;
            Event::WorkflowRun(WorkflowRunEvent {
                completed: action == "completed",
                workflow_run: p.workflow_run,
                repository: p.repository,
                installation: p.installation,
            })
        }
        "deployment_protection_rule" => {
            if action != "requested" {
                return Ok(ignored());
            }
            let p: ProtectionRulePayload = serde_json::from_slice(body).map_err(err)?;
            Event::ProtectionRule(ProtectionRuleEvent {
                environment: p.environment,
                callback_url: p.deployment_callback_url,
                repository: p.repository,
                installation: p.installation,
            })
        }
        _ => ignored(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(title: &str) -> WorkflowRun<'_> {
        WorkflowRun {
            id: 1,
            run_attempt: 1,
            name: None,
            path: None,
            display_title: Some(Cow::Borrowed(title)),
            event: None,
            status: Cow::Borrowed("completed"),
            conclusion: None,
            html_url: None,
            head_branch: None,
            head_repository: None,
            actor: None,
            triggering_actor: None,
            updated_at: None,
        }
    }

    #[test]
    fn a_check_lists_only_the_prs_of_its_own_repository() {
        // The attack: a fork's PR #7 into the fork, whose head is also a
        // PR's head here, was listed, and its number applied to this
        // repository's #7.
        let mut p: serde_json::Value =
            serde_json::from_slice(&fixture("check_run.completed")).unwrap();
        let mut foreign = p["check_run"]["pull_requests"][0].clone();
        foreign["number"] = serde_json::json!(7);
        foreign["base"]["repo"]["id"] = serde_json::json!(999);
        let mut nameless = p["check_run"]["pull_requests"][0].clone();
        nameless["number"] = serde_json::json!(8);
        nameless["base"] = serde_json::json!({"ref": "main"});
        p["check_run"]["pull_requests"]
            .as_array_mut()
            .unwrap()
            .extend([foreign, nameless]);
        let body = serde_json::to_vec(&p).unwrap();
        let Event::Checks(c) = parse("check_run", &body).unwrap() else {
            panic!("a check run")
        };
        assert_eq!(c.pull_requests, vec![42]);
        // Without the delivery's own repository id, none is trusted.
        p["repository"].as_object_mut().unwrap().remove("id");
        let body = serde_json::to_vec(&p).unwrap();
        let Event::Checks(c) = parse("check_run", &body).unwrap() else {
            panic!("a check run")
        };
        assert!(c.pull_requests.is_empty());
    }

    #[test]
    fn dispatch_id_from_run_name() {
        assert_eq!(
            run("staging 0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c [42-staging-0d1a26e-1]")
                .dispatch_id(),
            Some("42-staging-0d1a26e-1".into())
        );
        assert_eq!(run("deploy main").dispatch_id(), None);
        assert_eq!(run("x []").dispatch_id(), None);
        assert_eq!(run("x [a b]").dispatch_id(), None);
        assert_eq!(run("x [abc] trailing").dispatch_id(), None);
    }

    #[test]
    fn protection_rule_run_id_from_callback() {
        let ev = |url: &'static str| ProtectionRuleEvent {
            environment: Cow::Borrowed("production"),
            callback_url: Cow::Borrowed(url),
            repository: Repository {
                id: Some(1),
                full_name: Cow::Borrowed("acme/widgets"),
                default_branch: None,
            },
            installation: None,
        };
        assert_eq!(
            ev("https://api.github.com/repos/acme/widgets/actions/runs/9002/deployment_protection_rule").run_id(),
            Some(9002)
        );
        assert_eq!(ev("https://example.com/other").run_id(), None);
    }

    #[test]
    fn unknown_events_are_ignored_without_parsing_fields() {
        let e = parse("star", br#"{"action":"created"}"#).unwrap();
        assert!(matches!(e, Event::Ignored { .. }));
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(parse("ping", b"{not json").is_err());
        assert!(parse("pull_request", br#"{"action":"opened"}"#).is_err());
    }

    #[test]
    fn escaped_strings_still_parse() {
        let body = br#"{"action":"created","issue":{"number":1,"pull_request":{}},
            "comment":{"id":7,"body":"\/lgtm\n\u00e9","user":{"login":"quinn","type":"User"}},
            "repository":{"full_name":"acme/widgets"}}"#;
        let Event::Comment(c) = parse("issue_comment", body).unwrap() else {
            panic!("expected a comment")
        };
        assert_eq!(c.comment.body.as_deref(), Some("/lgtm\né"));
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).unwrap()
    }

    /// GitHub's own example payloads parse into the typed events.
    #[test]
    fn github_example_payloads() {
        let b = fixture("pull_request.opened");
        let Event::PullRequest(e) = parse("pull_request", &b).unwrap() else {
            panic!()
        };
        assert_eq!(e.action, PullRequestAction::Opened);
        assert_eq!(e.pull_request.number, 42);
        assert_eq!(e.pull_request.user.login, "alice");
        assert_eq!(
            e.pull_request.head.sha,
            "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
        );
        assert_eq!(e.repository.full_name, "acme/widgets");
        assert_eq!(e.repository.default_branch.as_deref(), Some("main"));
        assert_eq!(e.installation.map(|i| i.id), Some(4242));

        for (name, action) in [
            ("pull_request.synchronize", PullRequestAction::Synchronize),
            ("pull_request.closed", PullRequestAction::Closed),
            ("pull_request.reopened", PullRequestAction::Reopened),
            ("pull_request.edited", PullRequestAction::BaseChanged),
        ] {
            let b = fixture(name);
            let Event::PullRequest(e) = parse("pull_request", &b).unwrap() else {
                panic!("{name}")
            };
            assert_eq!(e.action, action, "{name}");
        }

        let b = fixture("issue_comment.created");
        let Event::Comment(c) = parse("issue_comment", &b).unwrap() else {
            panic!()
        };
        assert_eq!((c.issue.number, c.comment.id), (42, 1001));
        assert_eq!(c.comment.body.as_deref(), Some("/lgtm"));
        assert!(!c.comment.user.is_bot());
        for name in ["issue_comment.edited", "issue_comment.deleted"] {
            assert!(
                matches!(
                    parse("issue_comment", &fixture(name)).unwrap(),
                    Event::Ignored { .. }
                ),
                "{name}"
            );
        }

        let b = fixture("check_run.completed");
        let Event::Checks(c) = parse("check_run", &b).unwrap() else {
            panic!()
        };
        assert_eq!(c.pull_requests, vec![42]);
        let run = c.check_run.unwrap();
        assert_eq!(
            (run.name.as_ref(), run.conclusion.as_deref()),
            ("build", Some("success"))
        );

        let b = fixture("check_suite.completed");
        let Event::Checks(c) = parse("check_suite", &b).unwrap() else {
            panic!()
        };
        assert_eq!(c.head_sha, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c");
        assert!(c.check_run.is_none());

        let b = fixture("workflow_run.completed");
        let Event::WorkflowRun(w) = parse("workflow_run", &b).unwrap() else {
            panic!()
        };
        assert!(w.completed && w.workflow_run.succeeded());
        assert_eq!(w.workflow_run.id, 9001);
        assert_eq!(
            w.workflow_run.dispatch_id(),
            Some("42-staging-0d1a26e-1".into())
        );
        let run = w.run_info();
        assert_eq!(run.event.as_deref(), Some("workflow_dispatch"));
        assert_eq!(run.path.as_deref(), Some(".github/workflows/cd-stage.yml"));
        assert_eq!(run.head_branch.as_deref(), Some("main"));
        assert_eq!(run.head_repository.as_deref(), Some("acme/widgets"));
        assert_eq!(run.repository.as_deref(), Some("acme/widgets"));
        assert_eq!(run.actor.as_deref(), Some("gatebot[bot]"));
        assert_eq!(run.triggering_actor.as_deref(), Some("gatebot[bot]"));
        assert!(run.updated_at.is_some());

        let b = fixture("deployment_protection_rule.requested");
        let Event::ProtectionRule(p) = parse("deployment_protection_rule", &b).unwrap() else {
            panic!()
        };
        assert_eq!(p.environment, "production");
        assert_eq!(p.run_id(), Some(9002));

        assert!(matches!(
            parse("ping", &fixture("ping")).unwrap(),
            Event::Ping
        ));
        assert!(matches!(
            parse("installation", &fixture("installation.created")).unwrap(),
            Event::Installation { .. }
        ));
    }
}
