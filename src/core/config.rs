//! The repository configuration, `.github/gatebot.yml`.
//!
//! The file is optional: a missing or empty file means every default. It is
//! read into private serde structs that reject unknown keys, then checked and
//! converted into the public types once ("parse, don't validate"), so the
//! rest of gatebot never sees an unchecked value.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;

mod builtin;
mod check_view;
mod extends;
mod pipeline;
mod positions;
mod problems;
mod schema;
mod summary;
pub(crate) use builtin::BuiltIn;
pub(crate) use check_view::{CONFIG_CHECK, ConfigCheckView, config_check_view};
pub(crate) use extends::{Extends, ORG_REPO, extends, parse_extended};
pub use pipeline::{Entry, Pipeline};
pub(crate) use pipeline::{GateKind, MergeMethod, StageConfig, soak_text};
pub(crate) use problems::Problem;
pub(crate) use schema::json_schema;
pub(crate) use summary::summary;

/// Where a repository keeps its gatebot settings (on its default branch).
pub(crate) const CONFIG_PATH: &str = ".github/gatebot.yml";
const DEFAULT_STAGE_WORKFLOW: &str = "cd-stage.yml";
const DEFAULT_PROD_WORKFLOW: &str = "cd-prod.yml";
const DEFAULT_PROD_APPROVALS: u32 = 1;
const MAX_PROD_APPROVALS: u32 = 20;
const DEFAULT_PROTECTED_ENVIRONMENT: &str = "production";
const MAX_LOGIN_LEN: usize = 39;
const MAX_TEAM_SLUG_LEN: usize = 255;
const MAX_FILE_NAME_LEN: usize = 255;

/// A repository's gatebot settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    /// The chain of stages, from `pipeline:` or from the old keys.
    pub pipeline: Pipeline,
    /// Check runs that must succeed on the head SHA; empty means every check
    /// run except gatebot's own, and at least one.
    pub required_checks: Vec<String>,
    pub roles: Roles,
    /// The branch the workflows run from (YAML key `workflows.ref`); `None`
    /// means the repository's default branch.
    pub git_ref: Option<String>,
    /// The environments whose deployment protection rule gatebot answers.
    pub protected_environments: Vec<String>,
}

/// Who may use the qa and release commands; an empty list falls back to
/// repository permissions (write for qa, maintain or admin for release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    pub qa: Vec<Principal>,
    pub release: Vec<Principal>,
    /// Roles declared under other names, for `pipeline:` stages.
    pub other: BTreeMap<String, Vec<Principal>>,
}

/// A user or a team named in [`Roles`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A lowercased login.
    User(String),
    /// A team, `@org/slug` in the file, both parts lowercased.
    Team { org: String, slug: String },
}

/// A period during which a stage's deploys are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeWindow {
    /// Inclusive.
    pub from: DateTime<Utc>,
    /// Exclusive.
    pub to: DateTime<Utc>,
    pub reason: Option<String>,
}

/// Why `.github/gatebot.yml` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid .github/gatebot.yml: {0}")]
    Invalid(String),
}

impl Default for RepoConfig {
    fn default() -> Self {
        let protected = vec![DEFAULT_PROTECTED_ENVIRONMENT.to_string()];
        RepoConfig {
            pipeline: Pipeline::two_stage(
                DEFAULT_STAGE_WORKFLOW,
                DEFAULT_PROD_WORKFLOW,
                None,
                DEFAULT_PROD_APPROVALS,
                &[],
                &protected,
            ),
            required_checks: Vec::new(),
            roles: Roles {
                qa: Vec::new(),
                release: Vec::new(),
                other: BTreeMap::new(),
            },
            git_ref: None,
            protected_environments: protected,
        }
    }
}

impl RepoConfig {
    /// Whether `name` is one of the protected environments, ignoring case.
    pub fn is_protected_environment(&self, name: &str) -> bool {
        self.protected_environments
            .iter()
            .any(|e| e.eq_ignore_ascii_case(name))
    }

    /// Whether some role lists the user `login` by name.
    pub fn names_user(&self, login: &str) -> bool {
        let roles = &self.roles;
        roles
            .qa
            .iter()
            .chain(&roles.release)
            .chain(roles.other.values().flatten())
            .any(|p| matches!(p, Principal::User(u) if u.eq_ignore_ascii_case(login)))
    }

    /// The principals of role `name` (empty: repository permissions
    /// decide), `None` for a role the config does not declare.
    pub fn role_members(&self, name: &str) -> Option<&[Principal]> {
        match name {
            "qa" => Some(&self.roles.qa),
            "release" => Some(&self.roles.release),
            other => self.roles.other.get(other).map(Vec::as_slice),
        }
    }
}

impl Principal {
    /// Parses `alice`, `@alice` (users) or `@org/team-slug` (a team).
    pub fn parse(s: &str) -> Result<Principal, ConfigError> {
        parse_principal(s).map_err(ConfigError::Invalid)
    }
}

/// Parses and checks the contents of `.github/gatebot.yml`.
///
/// An empty file (or one with only comments) gives [`RepoConfig::default`].
pub fn parse(yaml: &str) -> Result<RepoConfig, ConfigError> {
    let raw: Option<RawConfig> =
        serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let mut errors = Errors::default();
    match raw.unwrap_or_default().into_config(&mut errors) {
        Some(config) if errors.0.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid(
            errors
                .0
                .into_iter()
                .next()
                .unwrap_or_else(|| "the file could not be read".to_string()),
        )),
    }
}

/// Parses `.github/gatebot.yml` as [`parse`] does, and names everything
/// wrong with it rather than the first thing: each [`Problem`] with its
/// key and where that key is in the file.
pub(crate) fn check(yaml: &str) -> Result<RepoConfig, Vec<Problem>> {
    let raw: Option<RawConfig> = match serde_yaml_ng::from_str(yaml) {
        Ok(raw) => raw,
        Err(e) => return Err(problems::unreadable(yaml, e)),
    };
    let mut errors = Errors::default();
    match raw.unwrap_or_default().into_config(&mut errors) {
        Some(config) if errors.0.is_empty() => Ok(config),
        _ => Err(problems::locate(yaml, errors.0)),
    }
}

/// The checks' messages so far: each check goes on after one fails, so
/// that the file's every problem is named at once.
#[derive(Debug, Default)]
struct Errors(Vec<String>);

impl Errors {
    /// The value, or `None` with its message kept.
    fn take<T>(&mut self, checked: Checked<T>) -> Option<T> {
        match checked {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    fn count(&self) -> usize {
        self.0.len()
    }
}

/// gatebot's settings for a repository. (As written: `None` is an
/// absent or null key.)
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of gatebot settings"
)]
struct RawConfig {
    /// `org`: build on the organisation's defaults, `.github/gatebot.yml`
    /// of its `.github` repository; each key set here replaces the
    /// organisation's whole.
    #[schemars(pattern(r"^\s*org\s*$"))]
    extends: Option<String>,
    /// The two-stage chain's workflows (without `pipeline:`).
    workflows: Option<RawWorkflows>,
    /// Check-run names that must succeed on the head SHA; empty: every
    /// check run but gatebot's own, at least one from GitHub Actions.
    required_checks: Option<Vec<String>>,
    /// Role name → the logins and `@org/team` entries who hold it (`qa`
    /// and `release` always exist: empty, repository permissions decide).
    roles: Option<BTreeMap<String, Option<Vec<String>>>>,
    /// The two-stage chain's production quorum (without `pipeline:`).
    approvals: Option<RawApprovals>,
    /// The two-stage chain's production freezes (without `pipeline:`).
    freeze: Option<Vec<RawFreezeWindow>>,
    /// The environments whose deployment protection rule gatebot answers
    /// (without `pipeline:`; default `production`).
    protected_environments: Option<Vec<String>>,
    /// The chain of stages, in order (replaces `workflows`, `approvals`,
    /// `freeze` and `protected_environments`).
    pipeline: Option<Vec<pipeline::RawStage>>,
    /// The base branches whose PRs are gated (empty or absent: the default
    /// branch).
    branches: Option<Vec<String>>,
}

/// Workflow files of the two-stage chain.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping with `stage`, `prod`, `verify` and `ref`"
)]
struct RawWorkflows {
    /// Staging's deploy workflow (default `cd-stage.yml`).
    stage: Option<String>,
    /// Production's deploy workflow (default `cd-prod.yml`).
    prod: Option<String>,
    /// A workflow `/verify-stage` dispatches, if any.
    verify: Option<String>,
    /// The branch the workflows run from (default: the default branch).
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

/// Quorums of the two-stage chain.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default, expecting = "a mapping with `prod`")]
struct RawApprovals {
    /// Distinct `/approve`s production needs: 1 to 20 (default 1).
    // Signed, so that `0` and `-1` get the range message, not serde's.
    prod: Option<i64>,
}

/// A period during which deploys are refused (`from` inclusive, `to`
/// exclusive).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `from`, `to` and optionally `reason`"
)]
struct RawFreezeWindow {
    /// RFC 3339, such as 2026-12-20T00:00:00Z.
    from: String,
    /// RFC 3339, after `from`.
    to: String,
    /// Said in refusals.
    #[serde(default)]
    reason: Option<String>,
}

/// Errors are messages naming the offending field.
type Checked<T> = Result<T, String>;

impl RawConfig {
    /// The config, or `None` with every problem in `errors`.
    fn into_config(mut self, errors: &mut Errors) -> Option<RepoConfig> {
        // What it extends is resolved before it is parsed
        // (`parse_extended`); here only its spelling is checked.
        if let Some(e) = self.extends.take().filter(|e| e.trim() != "org") {
            errors.0.push(format!(
                "extends: `{e}` is not `org`, the only thing a file can extend"
            ));
        }
        let roles = roles(self.roles.take().unwrap_or_default(), errors);
        let branches: Vec<String> = self
            .branches
            .take()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, b)| errors.take(branch_name(&format!("branches[{i}]"), b)))
            .collect();
        let mut config = self.into_chain(roles, errors)?;
        config.pipeline.branches = branches;
        Some(config)
    }

    fn into_chain(mut self, roles: Roles, errors: &mut Errors) -> Option<RepoConfig> {
        let Some(stages) = self.pipeline.take() else {
            return self.into_two_stage(roles, errors);
        };
        let workflows = self.workflows.take().unwrap_or_default();
        let old: Vec<&str> = [
            ("workflows.stage", workflows.stage.is_some()),
            ("workflows.prod", workflows.prod.is_some()),
            ("workflows.verify", workflows.verify.is_some()),
            ("approvals", self.approvals.is_some()),
            ("freeze", self.freeze.is_some()),
            (
                "protected_environments",
                self.protected_environments.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
        .collect();
        if !old.is_empty() {
            errors.0.push(format!(
                "pipeline: cannot be combined with the keys it replaces ({}); move them into the stages",
                old.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let declared: BTreeSet<String> = pipeline::BUILT_IN_ROLES
            .iter()
            .map(|r| r.to_string())
            .chain(roles.other.keys().cloned())
            .collect();
        let chain = pipeline::parse(stages, &declared, errors);
        let required_checks = errors.take(non_empty_names("required_checks", self.required_checks));
        let git_ref = errors.take(workflows.git_ref.map(git_ref).transpose());
        let chain = chain?;
        let protected_environments = chain
            .stages
            .iter()
            .filter(|s| s.protected)
            .map(|s| s.environment.to_string())
            .collect();
        old.is_empty().then_some(())?;
        Some(RepoConfig {
            pipeline: chain,
            required_checks: required_checks?,
            roles,
            git_ref: git_ref?,
            protected_environments,
        })
    }

    /// The old keys: the two-stage chain.
    fn into_two_stage(self, roles: Roles, errors: &mut Errors) -> Option<RepoConfig> {
        let before = errors.count();
        let workflows = self.workflows.unwrap_or_default();
        let approvals = self.approvals.unwrap_or_default();
        let stage = errors.take(workflow_file("workflows.stage", workflows.stage));
        let prod = errors.take(workflow_file("workflows.prod", workflows.prod));
        let verify = errors.take(workflow_file("workflows.verify", workflows.verify));
        let approvals = errors.take(approvals.prod.map(prod_approvals).transpose());
        let freeze: Vec<FreezeWindow> = self
            .freeze
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, w)| errors.take(w.into_window(&format!("freeze[{i}]"))))
            .collect();
        let protected_environments = match self.protected_environments {
            Some(names) => errors.take(non_empty_names("protected_environments", Some(names))),
            None => Some(vec![DEFAULT_PROTECTED_ENVIRONMENT.to_string()]),
        };
        let required_checks = errors.take(non_empty_names("required_checks", self.required_checks));
        let git_ref = errors.take(workflows.git_ref.map(git_ref).transpose());
        if errors.count() > before {
            return None;
        }
        let stage = stage?.unwrap_or_else(|| DEFAULT_STAGE_WORKFLOW.to_string());
        let prod = prod?.unwrap_or_else(|| DEFAULT_PROD_WORKFLOW.to_string());
        let verify = verify?;
        let approvals = approvals?.unwrap_or(DEFAULT_PROD_APPROVALS);
        let protected_environments = protected_environments?;
        Some(RepoConfig {
            pipeline: Pipeline::two_stage(
                &stage,
                &prod,
                verify.as_deref(),
                approvals,
                &freeze,
                &protected_environments,
            ),
            required_checks: required_checks?,
            roles,
            git_ref: git_ref?,
            protected_environments,
        })
    }
}

/// The `roles:` mapping: `qa` and `release` always exist; other names are
/// declared for `pipeline:` stages.
fn roles(raw: BTreeMap<String, Option<Vec<String>>>, errors: &mut Errors) -> Roles {
    let mut roles = Roles {
        qa: Vec::new(),
        release: Vec::new(),
        other: BTreeMap::new(),
    };
    for (name, entries) in raw {
        let valid = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
        if !valid {
            errors.0.push(format!(
                "roles: `{name}` must be a lowercase role name such as `qa`: a-z, then a-z, 0-9, `-` or `_`"
            ));
            continue;
        }
        let list = principals(&format!("roles.{name}"), entries, errors);
        match name.as_str() {
            "qa" => roles.qa = list,
            "release" => roles.release = list,
            _ => {
                roles.other.insert(name, list);
            }
        }
    }
    roles
}

impl RawFreezeWindow {
    /// `at` names the window in errors: `freeze[0]`.
    fn into_window(self, at: &str) -> Checked<FreezeWindow> {
        let field = |name: &str| format!("{at}.{name}");
        let from = timestamp(&field("from"), &self.from)?;
        let to = timestamp(&field("to"), &self.to)?;
        if from >= to {
            return Err(format!(
                "{at}: `from` ({}) must be before `to` ({})",
                self.from, self.to
            ));
        }
        let reason = self
            .reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        Ok(FreezeWindow { from, to, reason })
    }
}

/// A workflow file name: `[A-Za-z0-9._-]+` ending in `.yml` or `.yaml`.
fn workflow_file(field: &str, name: Option<String>) -> Checked<Option<String>> {
    let Some(name) = name else { return Ok(None) };
    let plain = name.len() <= MAX_FILE_NAME_LEN
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && [".yml", ".yaml"]
            .iter()
            .any(|ext| name.strip_suffix(ext).is_some_and(|stem| !stem.is_empty()));
    if plain {
        Ok(Some(name))
    } else {
        Err(format!(
            "{field}: `{name}` must be a workflow file name such as `cd-prod.yml`: letters, \
             digits, `.`, `_` and `-` only, ending in .yml or .yaml, no `/` or `..`"
        ))
    }
}

fn git_ref(name: String) -> Checked<String> {
    branch_name("workflows.ref", name)
}

/// A branch name: not empty, no whitespace, control character or `..`.
fn branch_name(field: &str, name: String) -> Checked<String> {
    if name.is_empty()
        || name.len() > 255
        || name.contains("..")
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Err(format!(
            "{field}: `{name}` must be a non-empty branch name without spaces or `..`"
        ))
    } else {
        Ok(name)
    }
}

fn prod_approvals(n: i64) -> Checked<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_PROD_APPROVALS).contains(n))
        .ok_or_else(|| {
            format!("approvals.prod must be between 1 and {MAX_PROD_APPROVALS}, not {n}")
        })
}

/// The names of a list that must hold no empty (or blank) entry.
fn non_empty_names(field: &str, names: Option<Vec<String>>) -> Checked<Vec<String>> {
    let names = names.unwrap_or_default();
    match names.iter().position(|n| n.trim().is_empty()) {
        Some(i) => Err(format!("{field}[{i}] must not be empty")),
        None => Ok(names),
    }
}

fn principals(field: &str, entries: Option<Vec<String>>, errors: &mut Errors) -> Vec<Principal> {
    entries
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| {
            errors.take(parse_principal(entry).map_err(|e| format!("{field}[{i}]: {e}")))
        })
        .collect()
}

fn timestamp(field: &str, value: &str) -> Checked<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "{field}: `{value}` is not an RFC 3339 timestamp such as 2026-12-20T00:00:00Z ({e})"
            )
        })
}

fn parse_principal(s: &str) -> Checked<Principal> {
    let entry = s.trim();
    let parsed = match entry.strip_prefix('@') {
        Some(team) if team.contains('/') => team.split_once('/').and_then(|(org, slug)| {
            (is_login(org) && is_team_slug(slug)).then(|| Principal::Team {
                org: org.to_ascii_lowercase(),
                slug: slug.to_ascii_lowercase(),
            })
        }),
        user => {
            let login = user.unwrap_or(entry);
            is_login(login).then(|| Principal::User(login.to_ascii_lowercase()))
        }
    };
    parsed.ok_or_else(|| {
        format!(
            "`{s}` is not a GitHub login (letters, digits and `-`, at most 39) or `@org/team-slug`"
        )
    })
}

/// A GitHub login or organisation name: ASCII letters, digits and `-`.
fn is_login(s: &str) -> bool {
    (1..=MAX_LOGIN_LEN).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A team slug: ASCII letters, digits, `-` and `_`.
fn is_team_slug(s: &str) -> bool {
    (1..=MAX_TEAM_SLUG_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The first stage of the chain (staging, in the two-stage chain).
    fn first(c: &RepoConfig) -> &StageConfig {
        &c.pipeline.stages[0]
    }

    /// The second stage (production, in the two-stage chain).
    fn second(c: &RepoConfig) -> &StageConfig {
        &c.pipeline.stages[1]
    }

    fn verify_workflow(c: &RepoConfig) -> Option<String> {
        first(c).verify.as_ref().and_then(|v| v.workflow.clone())
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn user(login: &str) -> Principal {
        Principal::User(login.into())
    }

    fn team(org: &str, slug: &str) -> Principal {
        Principal::Team {
            org: org.into(),
            slug: slug.into(),
        }
    }

    /// The error message for `yaml`, which must be rejected.
    fn error(yaml: &str) -> String {
        match parse(yaml) {
            Err(ConfigError::Invalid(message)) => message,
            Ok(config) => panic!("accepted {yaml:?} as {config:?}"),
        }
    }

    const FULL_EXAMPLE: &str = r#"
workflows:
  stage: deploy-stage.yaml
  prod: deploy_prod.yml
  verify: smoke-tests.yml
  ref: release/2026
required_checks: [build, "test (ubuntu-latest)"]
roles:
  qa: [Alice, "@bob", "@Acme/QA-Team"]
  release: ["@acme/release_managers"]
approvals:
  prod: 2
freeze:
  - { from: "2026-12-20T00:00:00Z", to: "2027-01-05T00:00:00Z", reason: "year-end freeze" }
  - from: 2027-03-01T08:00:00+02:00
    to: 2027-03-01T18:00:00+02:00
protected_environments: [production, Staging]
"#;

    #[test]
    fn defaults_from_empty_files() {
        for yaml in [
            "",
            "\n",
            "---\n",
            "---",
            "# gatebot settings\n# none yet\n",
            "---\n# only a comment\n...\n",
            "~\n",
            "null\n",
            "{}\n",
        ] {
            assert_eq!(parse(yaml), Ok(RepoConfig::default()), "{yaml:?}");
        }
    }

    #[test]
    fn default_values() {
        let config = RepoConfig::default();
        assert_eq!(first(&config).workflow, "cd-stage.yml");
        assert_eq!(second(&config).workflow, "cd-prod.yml");
        assert_eq!(verify_workflow(&config), None);
        assert_eq!(config.git_ref, None);
        assert!(config.required_checks.is_empty());
        assert!(config.roles.qa.is_empty() && config.roles.release.is_empty());
        assert_eq!(second(&config).quorum(), 1);
        assert!(second(&config).freeze.is_empty());
        assert_eq!(config.protected_environments, vec!["production"]);
    }

    #[test]
    fn null_and_empty_sections_are_defaults() {
        let yaml = "workflows:\nrequired_checks:\nroles:\napprovals:\nfreeze:\n";
        assert_eq!(parse(yaml), Ok(RepoConfig::default()));
        let yaml = "workflows: {stage: null, prod: ~, verify: null, ref: null}\n\
                    roles: {qa: [], release: null}\napprovals: {prod: null}\nfreeze: []\n";
        assert_eq!(parse(yaml), Ok(RepoConfig::default()));
    }

    #[test]
    fn the_documented_example_parses() {
        let yaml = r#"
workflows:
  stage: cd-stage.yml      # default cd-stage.yml
  prod: cd-prod.yml        # default cd-prod.yml
  verify: null             # optional workflow dispatched by /verify-stage
  ref: null                # branch the workflows run from
required_checks: []        # check-run names that must succeed on the head SHA
roles:
  qa: []                   # logins and "@org/team-slug"
  release: []              # empty = users with maintain or admin permission
approvals:
  prod: 1                  # distinct /approve needed
freeze:                    # optional windows during which prod dispatch is refused
  - { from: "2026-12-20T00:00:00Z", to: "2027-01-05T00:00:00Z", reason: "year-end freeze" }
protected_environments: [production]
"#;
        let freeze = [FreezeWindow {
            from: at("2026-12-20T00:00:00Z"),
            to: at("2027-01-05T00:00:00Z"),
            reason: Some("year-end freeze".into()),
        }];
        let protected = ["production".to_string()];
        let expected = RepoConfig {
            pipeline: Pipeline::two_stage(
                "cd-stage.yml",
                "cd-prod.yml",
                None,
                1,
                &freeze,
                &protected,
            ),
            ..RepoConfig::default()
        };
        assert_eq!(parse(yaml), Ok(expected));
    }

    #[test]
    fn a_full_file_parses_to_the_exact_struct() {
        let freeze = [
            FreezeWindow {
                from: at("2026-12-20T00:00:00Z"),
                to: at("2027-01-05T00:00:00Z"),
                reason: Some("year-end freeze".into()),
            },
            FreezeWindow {
                from: at("2027-03-01T06:00:00Z"),
                to: at("2027-03-01T16:00:00Z"),
                reason: None,
            },
        ];
        let protected = ["production".to_string(), "Staging".to_string()];
        let expected = RepoConfig {
            pipeline: Pipeline::two_stage(
                "deploy-stage.yaml",
                "deploy_prod.yml",
                Some("smoke-tests.yml"),
                2,
                &freeze,
                &protected,
            ),
            git_ref: Some("release/2026".into()),
            required_checks: vec!["build".into(), "test (ubuntu-latest)".into()],
            roles: Roles {
                qa: vec![user("alice"), user("bob"), team("acme", "qa-team")],
                release: vec![team("acme", "release_managers")],
                other: BTreeMap::new(),
            },
            protected_environments: protected.to_vec(),
        };
        assert_eq!(parse(FULL_EXAMPLE), Ok(expected));
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let cases = [
            ("deploy: true\n", "`deploy`"),
            ("required-checks: [build]\n", "`required-checks`"),
            ("workflows:\n  staging: cd.yml\n", "`staging`"),
            ("workflows:\n  branch: main\n", "`branch`"),
            ("approvals:\n  stage: 1\n", "`stage`"),
            (
                "freeze:\n  - { from: \"2026-12-20T00:00:00Z\", to: \"2027-01-05T00:00:00Z\", note: x }\n",
                "`note`",
            ),
        ];
        for (yaml, key) in cases {
            let message = error(yaml);
            assert!(message.contains(key), "{yaml:?}: {message}");
            assert!(message.contains("unknown field"), "{yaml:?}: {message}");
        }
    }

    #[test]
    fn yaml_errors_carry_serdes_message() {
        let message = error("workflows:\n  stage: [cd.yml\n");
        assert!(message.contains("line"), "{message}");
        let message = error("roles:\n  qa: [@alice]\n");
        assert!(message.contains("line"), "{message}");
        let message = error("workflows: stage: cd.yml\n");
        assert!(message.contains("line 1"), "{message}");
        let message = error("workflows: cd.yml\n");
        assert!(
            message.contains("expected a mapping with `stage`"),
            "{message}"
        );
        let message = error("freeze: [2026]\n");
        assert!(
            message.contains("expected a mapping with `from`"),
            "{message}"
        );
        let message = error("approvals:\n  prod: two\n");
        assert!(message.contains("invalid type"), "{message}");
        let message = error("freeze:\n  - { to: \"2027-01-05T00:00:00Z\" }\n");
        assert!(message.contains("missing field `from`"), "{message}");
        let display = parse("a: [").unwrap_err().to_string();
        assert!(
            display.starts_with("invalid .github/gatebot.yml: "),
            "{display}"
        );
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        for yaml in ["- a\n- b\n", "just a string\n", "42\n", "true\n"] {
            let message = error(yaml);
            assert!(
                message.contains("a mapping of gatebot settings"),
                "{yaml:?}: {message}"
            );
        }
    }

    #[test]
    fn approvals_must_be_between_1_and_20() {
        for n in [1, 7, 20] {
            let config = parse(&format!("approvals:\n  prod: {n}\n")).unwrap();
            assert_eq!(second(&config).quorum(), n as usize);
        }
        for n in ["0", "21", "-1", "4294967297"] {
            let message = error(&format!("approvals:\n  prod: {n}\n"));
            assert!(
                message.contains("approvals.prod must be between 1 and 20"),
                "{message}"
            );
        }
    }

    #[test]
    fn workflow_names_must_be_plain_yaml_files() {
        for good in ["cd.yml", "cd.yaml", "Deploy_Prod-2.v1.yml", "a.yml"] {
            for key in ["stage", "prod", "verify"] {
                let config = parse(&format!("workflows:\n  {key}: {good}\n")).unwrap();
                let got = match key {
                    "stage" => Some(first(&config).workflow.clone()),
                    "prod" => Some(second(&config).workflow.clone()),
                    _ => verify_workflow(&config),
                };
                assert_eq!(got.as_deref(), Some(good));
            }
        }
        for bad in [
            "\"\"",
            "cd",
            "cd.yml.bak",
            "cd.json",
            ".yml",
            "cd.YML",
            ".github/workflows/cd.yml",
            "../cd.yml",
            "cd..yml",
            "\"cd prod.yml\"",
            "cd$.yml",
            "\"é.yml\"",
        ] {
            for key in ["stage", "prod", "verify"] {
                let message = error(&format!("workflows:\n  {key}: {bad}\n"));
                assert!(
                    message.starts_with(&format!("workflows.{key}: ")),
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn ref_must_be_a_plain_branch_name() {
        for good in ["main", "release/2026", "refs/heads/main", "v1.2.3"] {
            let config = parse(&format!("workflows:\n  ref: {good}\n")).unwrap();
            assert_eq!(config.git_ref.as_deref(), Some(good));
        }
        for bad in ["\"\"", "\"my branch\"", "main..dev", "\"tab\\tbranch\""] {
            let message = error(&format!("workflows:\n  ref: {bad}\n"));
            assert!(message.starts_with("workflows.ref: "), "{bad}: {message}");
        }
    }

    #[test]
    fn required_checks_must_not_be_empty_strings() {
        assert_eq!(
            error("required_checks: [build, \"\"]\n"),
            "required_checks[1] must not be empty"
        );
        assert_eq!(
            error("required_checks: [\"  \"]\n"),
            "required_checks[0] must not be empty"
        );
        assert_eq!(
            error("protected_environments: [\"\"]\n"),
            "protected_environments[0] must not be empty"
        );
    }

    #[test]
    fn protected_environments() {
        let config = parse("protected_environments: []\n").unwrap();
        assert!(config.protected_environments.is_empty());
        assert!(!config.is_protected_environment("production"));

        let config = RepoConfig::default();
        for name in ["production", "Production", "PRODUCTION"] {
            assert!(config.is_protected_environment(name), "{name}");
        }
        for name in ["staging", "prod", "production-eu", ""] {
            assert!(!config.is_protected_environment(name), "{name}");
        }

        let config = parse(FULL_EXAMPLE).unwrap();
        assert!(config.is_protected_environment("staging"));
    }

    #[test]
    fn workflow_per_environment() {
        let config = RepoConfig::default();
        assert_eq!(first(&config).workflow, "cd-stage.yml");
        assert_eq!(second(&config).workflow, "cd-prod.yml");
        let config = parse(FULL_EXAMPLE).unwrap();
        assert_eq!(first(&config).workflow, "deploy-stage.yaml");
        assert_eq!(second(&config).workflow, "deploy_prod.yml");
    }

    #[test]
    fn freeze_windows_must_be_ordered_rfc3339() {
        let window = |from: &str, to: &str| format!("freeze:\n  - {{ from: {from}, to: {to} }}\n");
        let message = error(&window(
            "\"2027-01-05T00:00:00Z\"",
            "\"2026-12-20T00:00:00Z\"",
        ));
        assert!(message.starts_with("freeze[0]: `from` ("), "{message}");
        let message = error(&window(
            "\"2026-12-20T00:00:00Z\"",
            "\"2026-12-20T00:00:00Z\"",
        ));
        assert!(message.contains("must be before"), "{message}");
        // The same instant written in two offsets is still not before itself.
        let message = error(&window(
            "\"2026-12-20T02:00:00+02:00\"",
            "\"2026-12-20T00:00:00Z\"",
        ));
        assert!(message.contains("must be before"), "{message}");

        for bad in [
            "2026-12-20",
            "\"2026-12-20 00:00\"",
            "\"next monday\"",
            "\"2026-13-01T00:00:00Z\"",
        ] {
            let message = error(&window(bad, "\"2027-01-05T00:00:00Z\""));
            assert!(message.starts_with("freeze[0].from: "), "{bad}: {message}");
            let message = error(&window("\"2026-12-20T00:00:00Z\"", bad));
            assert!(message.starts_with("freeze[0].to: "), "{bad}: {message}");
        }

        let second_bad = "freeze:\n  - { from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\" }\n  - { from: x, to: y }\n";
        assert!(error(second_bad).starts_with("freeze[1].from: "));
    }

    #[test]
    fn freeze_reason_is_trimmed_and_optional() {
        let yaml = |reason: &str| {
            format!(
                "freeze:\n  - {{ from: \"2026-12-20T00:00:00Z\", to: \"2027-01-05T00:00:00Z\"{reason} }}\n"
            )
        };
        let reason = |yaml: String| second(&parse(&yaml).unwrap()).freeze[0].reason.clone();
        assert_eq!(reason(yaml("")), None);
        assert_eq!(reason(yaml(", reason: null")), None);
        assert_eq!(reason(yaml(", reason: \"  \"")), None);
        assert_eq!(
            reason(yaml(", reason: \" launch \"")),
            Some("launch".into())
        );
    }

    #[test]
    fn active_freeze_boundaries() {
        let config = parse(FULL_EXAMPLE).unwrap();
        let year_end = Some(&second(&config).freeze[0]);
        let march = Some(&second(&config).freeze[1]);
        let cases = [
            ("2026-12-19T23:59:59Z", None),
            ("2026-12-20T00:00:00Z", year_end),
            ("2026-12-31T12:00:00Z", year_end),
            ("2027-01-04T23:59:59Z", year_end),
            ("2027-01-05T00:00:00Z", None),
            ("2027-03-01T05:59:59Z", None),
            ("2027-03-01T06:00:00Z", march),
            ("2027-03-01T15:59:59Z", march),
            ("2027-03-01T16:00:00Z", None),
        ];
        for (now, expected) in cases {
            assert_eq!(second(&config).active_freeze(at(now)), expected, "{now}");
        }
        let nanosecond_before_end = at("2027-01-05T00:00:00Z") - chrono::Duration::nanoseconds(1);
        assert_eq!(
            second(&config).active_freeze(nanosecond_before_end),
            year_end
        );
        assert_eq!(
            second(&RepoConfig::default()).active_freeze(at("2026-12-25T00:00:00Z")),
            None
        );
    }

    #[test]
    fn overlapping_freezes_report_the_first() {
        let yaml = "freeze:\n  - { from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\", reason: a }\n  - { from: \"2026-01-15T00:00:00Z\", to: \"2026-03-01T00:00:00Z\", reason: b }\n";
        let config = parse(yaml).unwrap();
        let reason = |now| {
            second(&config)
                .active_freeze(at(now))
                .and_then(|w| w.reason.as_deref())
        };
        assert_eq!(reason("2026-01-20T00:00:00Z"), Some("a"));
        assert_eq!(reason("2026-02-10T00:00:00Z"), Some("b"));
    }

    #[test]
    fn principal_parsing() {
        let good = [
            ("alice", user("alice")),
            ("Alice", user("alice")),
            ("@Alice", user("alice")),
            ("  bob  ", user("bob")),
            ("a", user("a")),
            ("dependabot-preview", user("dependabot-preview")),
            ("x1-2-3", user("x1-2-3")),
            (&"a".repeat(39), user(&"a".repeat(39))),
            ("@acme/qa", team("acme", "qa")),
            ("@Acme/QA-Team", team("acme", "qa-team")),
            ("@acme/release_managers", team("acme", "release_managers")),
        ];
        for (s, expected) in good {
            assert_eq!(Principal::parse(s), Ok(expected), "{s}");
        }
        let bad = [
            "",
            "@",
            "  ",
            &"a".repeat(40),
            "al ice",
            "al_ice",
            "alice@example.com",
            "@@alice",
            "acme/qa",
            "@acme/",
            "@/qa",
            "@acme/qa/x",
            "@acme/qa team",
            "@ac_me/qa",
            "élodie",
        ];
        for s in bad {
            let Err(ConfigError::Invalid(message)) = Principal::parse(s) else {
                panic!("accepted {s:?}");
            };
            assert!(message.contains("is not a GitHub login"), "{message}");
        }
    }

    #[test]
    fn bad_role_entries_name_the_field() {
        let message = error("roles:\n  qa: [alice, \"bad login\"]\n");
        assert!(message.starts_with("roles.qa[1]: `bad login`"), "{message}");
        let message = error("roles:\n  release: [\"@acme/\"]\n");
        assert!(message.starts_with("roles.release[0]: "), "{message}");
    }

    proptest! {
        #[test]
        fn parse_never_panics(yaml in any::<String>()) {
            let _ = parse(&yaml);
        }

        #[test]
        fn principal_parse_never_panics(s in any::<String>()) {
            let _ = Principal::parse(&s);
        }

        #[test]
        fn valid_logins_round_trip(login in "[A-Za-z0-9-]{1,39}", at in any::<bool>()) {
            let entry = if at { format!("@{login}") } else { login.clone() };
            prop_assert_eq!(Principal::parse(&entry), Ok(Principal::User(login.to_ascii_lowercase())));
        }
    }
}
