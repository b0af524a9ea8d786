//! CI verdict for a head SHA from the check runs GitHub reports for it.

use serde::{Deserialize, Serialize};

/// The name of gatebot's own check run; never counted as CI.
pub(crate) const GATEBOT_CHECK: &str = "gatebot";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiStatus {
    Pending,
    Green,
    Failed,
}

/// One check run as listed for a SHA.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckRunInfo {
    pub id: u64,
    pub name: String,
    /// `queued`, `in_progress`, `completed`, …
    pub status: String,
    /// `success`, `failure`, `neutral`, `skipped`, … once completed.
    pub conclusion: Option<String>,
    /// The App that made it (`app.id`).
    pub app_id: Option<u64>,
    /// That App's slug (`app.slug`): `github-actions` for GitHub Actions,
    /// on github.com and on GitHub Enterprise Server alike.
    pub app_slug: Option<String>,
}

/// The slug of GitHub Actions' App.
pub(crate) const ACTIONS_SLUG: &str = "github-actions";

impl CheckRunInfo {
    /// gatebot's own check run: its name *and* its App. Any CI job can be
    /// named `gatebot`; only gatebot's App can make one with its id.
    /// Whether it is gatebot's own `gatebot` check run (the one it
    /// updates).
    pub fn is_gatebots(&self, own_app: Option<u64>) -> bool {
        self.name == GATEBOT_CHECK && self.is_own(own_app)
    }

    /// Whether gatebot's App made it: any such run (the `gatebot` run and
    /// the `gatebot config` run alike) is never CI.
    pub fn is_own(&self, own_app: Option<u64>) -> bool {
        own_app.is_some() && self.app_id == own_app
    }

    /// A check run of a GitHub Actions job.
    pub fn is_actions(&self) -> bool {
        self.app_slug.as_deref() == Some(ACTIONS_SLUG)
    }
}

fn passed(conclusion: Option<&str>) -> bool {
    matches!(conclusion, Some("success" | "neutral" | "skipped"))
}

/// CI is green when every required check has completed successfully.
/// With none configured, every check run but gatebot's own must have
/// completed successfully, and at least one of them must be a GitHub
/// Actions job: one finished check of some other App (a linter, a bot) is
/// not the CI, which may not even have started (a fork's PR waits for a
/// maintainer to approve its workflows). When a name appears several times
/// (re-runs), the newest run (highest id) counts. `own_app` is gatebot's
/// App id: a check named `gatebot` by any other App is CI like any other.
pub(crate) fn evaluate(
    runs: &[CheckRunInfo],
    required: &[String],
    own_app: Option<u64>,
) -> CiStatus {
    let mut latest: std::collections::BTreeMap<&str, &CheckRunInfo> = Default::default();
    for run in runs.iter().filter(|r| !r.is_own(own_app)) {
        match latest.get(run.name.as_str()) {
            Some(seen) if seen.id >= run.id => {}
            _ => {
                latest.insert(run.name.as_str(), run);
            }
        }
    }
    let considered: Vec<Option<&CheckRunInfo>> = if required.is_empty() {
        if !latest.values().any(|r| r.is_actions()) {
            // Whatever else finished, a failure is still a failure.
            let failed = latest
                .values()
                .any(|r| r.status == "completed" && !passed(r.conclusion.as_deref()));
            return if failed {
                CiStatus::Failed
            } else {
                CiStatus::Pending
            };
        }
        latest.values().map(|r| Some(*r)).collect()
    } else {
        required
            .iter()
            .map(|name| latest.get(name.as_str()).copied())
            .collect()
    };
    let mut status = CiStatus::Green;
    for run in considered {
        match run {
            None => status = CiStatus::Pending,
            Some(r) if r.status != "completed" => {
                if status == CiStatus::Green {
                    status = CiStatus::Pending;
                }
            }
            Some(r) if passed(r.conclusion.as_deref()) => {}
            Some(_) => return CiStatus::Failed,
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gatebot's App id in these tests; GitHub Actions is 15368.
    const OWN: u64 = 777;

    /// A check run; one named `gatebot` is gatebot's own.
    fn run(id: u64, name: &str, status: &str, conclusion: Option<&str>) -> CheckRunInfo {
        CheckRunInfo {
            id,
            name: name.into(),
            status: status.into(),
            conclusion: conclusion.map(Into::into),
            app_id: Some(if name == GATEBOT_CHECK { OWN } else { 15368 }),
            app_slug: Some(
                if name == GATEBOT_CHECK {
                    "gatebot"
                } else {
                    ACTIONS_SLUG
                }
                .into(),
            ),
        }
    }

    /// The same check run, made by another App.
    fn by_app(app: u64, r: CheckRunInfo) -> CheckRunInfo {
        CheckRunInfo {
            app_id: Some(app),
            app_slug: Some(format!("app-{app}")),
            ..r
        }
    }

    #[test]
    fn table() {
        let ok = |id, n| run(id, n, "completed", Some("success"));
        let req = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases: Vec<(&str, Vec<CheckRunInfo>, Vec<String>, CiStatus)> = vec![
            ("no runs at all", vec![], req(&[]), CiStatus::Pending),
            (
                "only gatebot's own",
                vec![ok(1, "gatebot")],
                req(&[]),
                CiStatus::Pending,
            ),
            (
                "all others green",
                vec![
                    ok(1, "build"),
                    ok(2, "lint"),
                    run(3, "gatebot", "in_progress", None),
                ],
                req(&[]),
                CiStatus::Green,
            ),
            (
                "one still running",
                vec![ok(1, "build"), run(2, "lint", "in_progress", None)],
                req(&[]),
                CiStatus::Pending,
            ),
            (
                "one failed",
                vec![ok(1, "build"), run(2, "lint", "completed", Some("failure"))],
                req(&[]),
                CiStatus::Failed,
            ),
            (
                "skipped and neutral pass",
                vec![
                    run(1, "a", "completed", Some("skipped")),
                    run(2, "b", "completed", Some("neutral")),
                ],
                req(&[]),
                CiStatus::Green,
            ),
            (
                "cancelled fails",
                vec![run(1, "a", "completed", Some("cancelled"))],
                req(&[]),
                CiStatus::Failed,
            ),
            (
                "required present and green",
                vec![
                    ok(1, "build"),
                    run(2, "flaky", "completed", Some("failure")),
                ],
                req(&["build"]),
                CiStatus::Green,
            ),
            (
                "required missing",
                vec![ok(1, "lint")],
                req(&["build"]),
                CiStatus::Pending,
            ),
            (
                "required failed",
                vec![run(1, "build", "completed", Some("failure"))],
                req(&["build"]),
                CiStatus::Failed,
            ),
            (
                "re-run: newest wins (green)",
                vec![
                    run(1, "build", "completed", Some("failure")),
                    ok(2, "build"),
                ],
                req(&["build"]),
                CiStatus::Green,
            ),
            (
                "re-run: newest wins (running)",
                vec![ok(1, "build"), run(2, "build", "queued", None)],
                req(&[]),
                CiStatus::Pending,
            ),
            (
                "re-run listed out of order",
                vec![
                    ok(5, "build"),
                    run(2, "build", "completed", Some("failure")),
                ],
                req(&[]),
                CiStatus::Green,
            ),
            (
                "a failing check another App named gatebot is CI",
                vec![
                    ok(1, "build"),
                    by_app(666, run(2, "gatebot", "completed", Some("failure"))),
                ],
                req(&[]),
                CiStatus::Failed,
            ),
            (
                "a green check another App named gatebot counts as CI",
                vec![
                    ok(1, "build"),
                    by_app(666, ok(2, "gatebot")),
                    run(3, "gatebot", "in_progress", None),
                ],
                req(&[]),
                CiStatus::Green,
            ),
            // The attack: a fork's PR waits for a maintainer to approve its
            // workflows, so GitHub Actions has not started; one finished
            // check of another App must not make CI green.
            (
                "another App's green check alone is not CI",
                vec![by_app(666, ok(1, "lint-bot"))],
                req(&[]),
                CiStatus::Pending,
            ),
            (
                "another App's failure fails CI even before Actions starts",
                vec![by_app(
                    666,
                    run(1, "lint-bot", "completed", Some("failure")),
                )],
                req(&[]),
                CiStatus::Failed,
            ),
            (
                "Actions and another App, both green",
                vec![ok(1, "build"), by_app(666, ok(2, "lint-bot"))],
                req(&[]),
                CiStatus::Green,
            ),
            (
                "named checks are whatever App makes them",
                vec![by_app(666, ok(1, "external-ci"))],
                req(&["external-ci"]),
                CiStatus::Green,
            ),
            (
                "failure beats pending",
                vec![
                    run(1, "a", "queued", None),
                    run(2, "b", "completed", Some("failure")),
                ],
                req(&[]),
                CiStatus::Failed,
            ),
        ];
        for (name, runs, required, want) in cases {
            assert_eq!(evaluate(&runs, &required, Some(OWN)), want, "{name}");
        }
    }
}
