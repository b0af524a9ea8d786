//! The promotion chain: `pipeline:` in `.github/gatebot.yml`, 1 to 10
//! stages in order, each with its environment, workflow, entry gate
//! (`auto`, or a command with a role and a quorum), optional verification,
//! soak time, freeze windows and protection. Without `pipeline:`, the old
//! keys (`workflows`, `approvals`, `freeze`, `protected_environments`) mean
//! the two-stage chain [`Pipeline::two_stage`] describes.

use std::collections::BTreeSet;

use chrono::Duration;
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::builtin::BuiltIn;
use super::{Checked, Errors, FreezeWindow, RawFreezeWindow, workflow_file};
use crate::core::domain::{Environment, MAX_ENVIRONMENT_LEN, is_name_byte};

/// The most stages a chain may have.
pub(crate) const MAX_STAGES: usize = 10;
/// The most approvals a stage's entry may ask for.
pub(crate) const MAX_APPROVALS: u32 = 20;
/// The roles that exist without being declared (empty: repository
/// permissions decide, as described in the README).
pub(crate) const BUILT_IN_ROLES: [&str; 2] = ["qa", "release"];
/// The longest soak a stage may have: a soak is hours or days, and a
/// bound keeps every time computed from it far inside the clock's range.
pub(crate) const MAX_SOAK_DAYS: i64 = 90;
const MAX_WORD_LEN: usize = 32;

/// The configured chain of stages, in promotion order, and the pull
/// requests it gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub stages: Vec<StageConfig>,
    /// The base branches whose pull requests go through the chain
    /// (`branches:`); empty: the repository's default branch alone. A PR
    /// into any other base is reviewed against that base, whose history
    /// the reviewers never saw: it gets a neutral check run and nothing is
    /// dispatched for it.
    pub branches: Vec<String>,
}

/// One stage of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    /// The `environment` dispatch input, and the GitHub environment.
    pub environment: Environment,
    pub workflow: String,
    pub entry: Entry,
    pub verify: Option<VerifyGate>,
    /// How long after the previous stage passed this one may be dispatched.
    pub soak: Option<Duration>,
    pub freeze: Vec<FreezeWindow>,
    /// gatebot answers this environment's deployment protection rule.
    pub protected: bool,
    /// One PR at a time: a PR whose deploy is dispatched here holds the
    /// environment until it moves on; others queue (`lock: true`).
    pub lock: bool,
    /// How long a hold lasts at most, from the holder's dispatch or
    /// `/lock` (`lock_timeout`, default [`DEFAULT_LOCK_TIMEOUT_HOURS`]).
    pub lock_timeout: Duration,
    /// Dispatched only for a head that contains the current head of its
    /// base branch (`up_to_date`; default: true for the last stage).
    pub up_to_date: bool,
    /// On the last stage only: once it passes, gatebot merges the PR this
    /// way (`merge`).
    pub merge: Option<MergeMethod>,
}

/// How gatebot merges a PR whose last stage passed (`merge_method` of
/// GitHub's merge API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

impl MergeMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        }
    }

    fn parse(s: &str) -> Option<MergeMethod> {
        match s {
            "merge" => Some(MergeMethod::Merge),
            "squash" => Some(MergeMethod::Squash),
            "rebase" => Some(MergeMethod::Rebase),
            _ => None,
        }
    }
}

/// The default `lock_timeout`, in hours.
pub(crate) const DEFAULT_LOCK_TIMEOUT_HOURS: i64 = 4;

/// The default `lock_timeout`.
pub(crate) fn default_lock_timeout() -> Duration {
    Duration::hours(DEFAULT_LOCK_TIMEOUT_HOURS)
}

/// What lets a stage be dispatched once the stages before it passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// As soon as CI is green (first stage) or the previous stage passed.
    Auto,
    /// A quorum of distinct, non-author holders of `role` giving `word`.
    Command(CommandGate),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandGate {
    pub word: String,
    pub role: String,
    pub approvals: u32,
}

/// A verification people give after the stage's deploy succeeded; with a
/// `workflow`, gatebot also dispatches it and the stage passes when it
/// succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyGate {
    pub word: String,
    pub role: String,
    pub workflow: Option<String>,
}

/// One stage of the chain: an environment, its deploy workflow and the
/// gates in front of it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `environment`, `workflow`, `entry` and optionally `verify`, `soak`, `freeze`, `protected`, `lock`, `lock_timeout`, `up_to_date` and `merge`"
)]
pub(super) struct RawStage {
    /// The GitHub environment, and the `environment` dispatch input.
    environment: String,
    /// The workflow file dispatched to deploy (`cd-stage.yml`).
    workflow: String,
    /// `auto`, or the command that lets the stage go: `{command, role,
    /// approvals}`.
    #[schemars(schema_with = "entry_schema")]
    entry: Value,
    #[serde(default)]
    /// A verification after the deploy, if the stage has one.
    verify: Option<RawVerify>,
    /// How long after the stage before passed this one may go: 45s, 30m,
    /// 2h, 1d (at most 90d).
    #[serde(default)]
    #[schemars(pattern(DURATION_PATTERN))]
    soak: Option<String>,
    /// Periods during which its deploys are refused.
    #[serde(default)]
    freeze: Option<Vec<RawFreezeWindow>>,
    /// gatebot answers this environment's deployment protection rule.
    #[serde(default)]
    protected: Option<bool>,
    /// One PR at a time: the PR whose deploy is dispatched here holds the
    /// environment until it moves on; others queue (default false).
    #[serde(default)]
    lock: Option<bool>,
    /// With `lock: true`: how long a hold lasts at most (default 4h).
    #[serde(default)]
    #[schemars(pattern(DURATION_PATTERN))]
    lock_timeout: Option<String>,
    /// Dispatched only when the PR's head contains its base branch's head
    /// (default: true for the last stage, false for the others).
    #[serde(default)]
    up_to_date: Option<bool>,
    /// The last stage only: merge the PR once it passed (merge, squash or
    /// rebase).
    #[serde(default)]
    #[schemars(pattern(r"^\s*(merge|squash|rebase)\s*$"))]
    merge: Option<String>,
}

/// A duration as `soak:` and `lock_timeout:` take it (the range is checked
/// by the parser).
const DURATION_PATTERN: &str = r"^\s*0*[1-9][0-9]*[smhd]\s*$";

/// A verification people give after the stage's deploy succeeded.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `command`, `role` and optionally `workflow`"
)]
pub(super) struct RawVerify {
    /// The command word (`verify-stage` for `/verify-stage`).
    command: String,
    /// The role that may give it.
    role: String,
    /// A workflow it dispatches; the stage passes when that succeeds.
    #[serde(default)]
    workflow: Option<String>,
}

impl Pipeline {
    /// The chain the old keys mean: staging, dispatched on `/lgtm` by qa
    /// and verified with `/verify-stage` (running `verify_workflow`, if
    /// any), then production on `approvals` `/approve`s by release.
    pub fn two_stage(
        stage_workflow: &str,
        prod_workflow: &str,
        verify_workflow: Option<&str>,
        approvals: u32,
        freeze: &[FreezeWindow],
        protected: &[String],
    ) -> Pipeline {
        let is_protected = |env: &str| protected.iter().any(|p| p.eq_ignore_ascii_case(env));
        let gate = |word: &str, role: &str, approvals: u32| {
            Entry::Command(CommandGate {
                word: word.into(),
                role: role.into(),
                approvals,
            })
        };
        Pipeline {
            branches: Vec::new(),
            stages: vec![
                StageConfig {
                    environment: Environment::staging(),
                    workflow: stage_workflow.into(),
                    entry: gate("lgtm", "qa", 1),
                    verify: Some(VerifyGate {
                        word: "verify-stage".into(),
                        role: "qa".into(),
                        workflow: verify_workflow.map(str::to_string),
                    }),
                    soak: None,
                    freeze: Vec::new(),
                    protected: is_protected("staging"),
                    lock: false,
                    lock_timeout: default_lock_timeout(),
                    up_to_date: false,
                    merge: None,
                },
                StageConfig {
                    environment: Environment::production(),
                    workflow: prod_workflow.into(),
                    entry: gate("approve", "release", approvals),
                    verify: None,
                    soak: None,
                    freeze: freeze.to_vec(),
                    protected: is_protected("production"),
                    lock: false,
                    lock_timeout: default_lock_timeout(),
                    up_to_date: true,
                    merge: None,
                },
            ],
        }
    }
}

/// Which of a stage's two gates a command word opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateKind {
    /// The entry gate: a quorum of the word lets the stage be dispatched.
    Entry,
    /// The verification given once the stage's deploy succeeded.
    Verify,
}

impl Pipeline {
    /// Whether a PR into `base` is gated, `default_branch` being the
    /// repository's default branch as GitHub last said.
    pub fn gates_base(&self, base: &str, default_branch: &str) -> bool {
        if self.branches.is_empty() {
            base == default_branch
        } else {
            self.branches.iter().any(|b| b == base)
        }
    }

    /// The stage deploying to `env`, with its position in the chain.
    pub fn find(&self, env: &Environment) -> Option<(usize, &StageConfig)> {
        self.stages
            .iter()
            .enumerate()
            .find(|(_, s)| s.environment == *env)
    }

    /// The last stage: where a PR is "deployed".
    pub fn last(&self) -> Option<&StageConfig> {
        self.stages.last()
    }

    /// The stage a person names: its environment (any case), or `stage`
    /// for `staging` and `prod` for `production`.
    pub fn named(&self, word: &str) -> Option<usize> {
        let exact = self.stages.iter().position(|s| s.environment.is(word));
        exact.or_else(|| {
            let alias = match word.to_ascii_lowercase().as_str() {
                "stage" => "staging",
                "prod" => "production",
                _ => return None,
            };
            self.stages.iter().position(|s| s.environment.is(alias))
        })
    }

    /// Every stage gate `word` opens, in chain order.
    pub fn gates_of(&self, word: &str) -> Vec<(usize, GateKind)> {
        let mut found = Vec::new();
        for (i, s) in self.stages.iter().enumerate() {
            if matches!(&s.entry, Entry::Command(g) if g.word == word) {
                found.push((i, GateKind::Entry));
            }
            if s.verify.as_ref().is_some_and(|v| v.word == word) {
                found.push((i, GateKind::Verify));
            }
        }
        found
    }

    /// How people type `word` for the stage deploying to `env`: `/lgtm`
    /// when one stage uses the word, `/approve prod-eu` when several do.
    pub fn typed(&self, word: &str, env: &Environment) -> String {
        if self.gates_of(word).len() > 1 {
            format!("/{word} {env}")
        } else {
            format!("/{word}")
        }
    }

    /// Whether `word` is one of the chain's gate commands.
    pub fn has_word(&self, word: &str) -> bool {
        self.stages.iter().any(|s| {
            matches!(&s.entry, Entry::Command(g) if g.word == word)
                || s.verify.as_ref().is_some_and(|v| v.word == word)
        })
    }

    /// The roles that open any gate of the chain: who may `/hold`.
    pub fn gate_roles(&self) -> Vec<&str> {
        let mut roles: Vec<&str> = self
            .stages
            .iter()
            .flat_map(|s| {
                let entry = match &s.entry {
                    Entry::Command(g) => Some(g.role.as_str()),
                    Entry::Auto => None,
                };
                entry
                    .into_iter()
                    .chain(s.verify.as_ref().map(|v| v.role.as_str()))
            })
            .collect();
        roles.sort_unstable();
        roles.dedup();
        if roles.is_empty() {
            roles.push("release");
        }
        roles
    }
}

impl StageConfig {
    /// Who may `/rollback` (and `/retry`) this stage: its entry role, or
    /// `release` for an `auto` stage.
    pub fn rollback_role(&self) -> &str {
        match &self.entry {
            Entry::Command(g) => &g.role,
            Entry::Auto => "release",
        }
    }

    /// The freeze window containing `now` (from inclusive, to exclusive).
    pub fn active_freeze(&self, now: chrono::DateTime<chrono::Utc>) -> Option<&FreezeWindow> {
        self.freeze.iter().find(|w| w.from <= now && now < w.to)
    }

    /// When its soak after a previous stage that passed at `passed` ends
    /// (`passed` itself without a soak). A time past the clock's range
    /// (which validation rules out) is the end of time: the stage waits,
    /// it is never dispatched early and nothing panics.
    pub fn soak_end(&self, passed: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match self.soak {
            Some(soak) => passed
                .checked_add_signed(soak)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
            None => passed,
        }
    }

    /// How many distinct entry commands dispatch it (0 for `auto`).
    pub fn quorum(&self) -> usize {
        match &self.entry {
            Entry::Command(g) => g.approvals as usize,
            Entry::Auto => 0,
        }
    }
}

/// Checks the written chain against the declared `roles`.
pub(super) fn parse(
    raw: Vec<RawStage>,
    roles: &BTreeSet<String>,
    errors: &mut Errors,
) -> Option<Pipeline> {
    if raw.is_empty() || raw.len() > MAX_STAGES {
        errors.0.push(format!(
            "pipeline must list 1 to {MAX_STAGES} stages, not {}",
            raw.len()
        ));
        return None;
    }
    let before = errors.count();
    let mut stages: Vec<StageConfig> = Vec::with_capacity(raw.len());
    let last = raw.len() - 1;
    for (i, stage) in raw.into_iter().enumerate() {
        if let Some(s) = parse_stage(i, i == last, stage, roles, &stages, errors) {
            stages.push(s);
        }
    }
    (errors.count() == before).then_some(Pipeline {
        stages,
        branches: Vec::new(),
    })
}

/// Stage `i` (the last one when `last`), with `earlier` the stages before
/// it that were valid; `None` with its every problem in `errors`.
fn parse_stage(
    i: usize,
    last: bool,
    stage: RawStage,
    roles: &BTreeSet<String>,
    earlier: &[StageConfig],
    errors: &mut Errors,
) -> Option<StageConfig> {
    let before = errors.count();
    let at = |key: &str| format!("pipeline[{i}].{key}");
    let environment = errors.take(environment_name(&at("environment"), stage.environment));
    if let Some(env) = &environment
        && let Some(j) = earlier.iter().position(|s| s.environment.is(env))
    {
        errors.0.push(format!(
            "{}: `{env}` is already the environment of pipeline[{j}]",
            at("environment")
        ));
    }
    let workflow = errors.take(workflow_file(&at("workflow"), Some(stage.workflow)));
    let entry = errors.take(entry(&at("entry"), &stage.entry, roles));
    let verify = stage.verify.map(|v| {
        let word = errors.take(command_word(&at("verify.command"), v.command));
        if let (Some(word), Some(Entry::Command(g))) = (&word, &entry)
            && g.word == *word
        {
            errors.0.push(format!(
                "{}: `{word}` is already this stage's entry command",
                at("verify.command")
            ));
        }
        let role = errors.take(role(&at("verify.role"), v.role, roles));
        let workflow = errors.take(workflow_file(&at("verify.workflow"), v.workflow));
        Some(VerifyGate {
            word: word?,
            role: role?,
            workflow: workflow?,
        })
    });
    let soak = stage.soak.map(|s| {
        errors.take(parse_soak(&s).ok_or_else(|| {
            format!(
                "{}: `{s}` is not a duration such as 30m, 2h or 1d, of at most {MAX_SOAK_DAYS}d",
                at("soak")
            )
        }))
    });
    let freeze: Vec<FreezeWindow> = stage
        .freeze
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .filter_map(|(k, w)| errors.take(w.into_window(&format!("{}[{k}]", at("freeze")))))
        .collect();
    let lock = stage.lock.unwrap_or(false);
    let lock_timeout = match stage.lock_timeout {
        None => Some(default_lock_timeout()),
        Some(_) if !lock => errors.take(Err(format!(
            "{}: only a stage with `lock: true` has a lock timeout",
            at("lock_timeout")
        ))),
        Some(t) => errors.take(parse_soak(&t).ok_or_else(|| {
            format!(
                "{}: `{t}` is not a duration such as 30m, 2h or 1d, of at most {MAX_SOAK_DAYS}d",
                at("lock_timeout")
            )
        })),
    };
    let merge = match stage.merge {
        None => Some(None),
        Some(_) if !last => errors.take(Err(format!(
            "{}: only the last stage merges the pull request",
            at("merge")
        ))),
        Some(m) => errors
            .take(MergeMethod::parse(m.trim()).ok_or_else(|| {
                format!(
                    "{}: `{m}` is not one of merge, squash or rebase",
                    at("merge")
                )
            }))
            .map(Some),
    };
    if errors.count() > before {
        return None;
    }
    Some(StageConfig {
        environment: Environment::new(environment?),
        workflow: workflow?.unwrap_or_default(),
        entry: entry?,
        verify: match verify {
            None => None,
            Some(v) => Some(v?),
        },
        soak: match soak {
            None => None,
            Some(d) => Some(d?),
        },
        freeze,
        protected: stage.protected.unwrap_or(false),
        lock,
        lock_timeout: lock_timeout?,
        up_to_date: stage.up_to_date.unwrap_or(last),
        merge: merge?,
    })
}

/// `30m`, `2h`, `1d` (also `45s`): a positive whole number and a unit, at
/// most [`MAX_SOAK_DAYS`] days.
pub(crate) fn parse_soak(s: &str) -> Option<Duration> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    if n <= 0 {
        return None;
    }
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(secs)
        .filter(|s| *s <= MAX_SOAK_DAYS * 86_400)
        .and_then(Duration::try_seconds)
}

/// `30m`, `2h`, `1d`, `90s`: a soak as people write it.
pub(crate) fn soak_text(d: Duration) -> String {
    let secs = d.num_seconds();
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn environment_name(field: &str, name: String) -> Checked<String> {
    let name = name.trim().to_string();
    let ok = (1..=MAX_ENVIRONMENT_LEN).contains(&name.len()) && name.bytes().all(is_name_byte);
    if name.eq_ignore_ascii_case("cancel") {
        return Err(format!(
            "{field}: `{name}` cannot name an environment: `/<word> cancel` withdraws a command"
        ));
    }
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "{field}: `{name}` must be an environment name of letters, digits, `.`, `_` and `-`"
        ))
    }
}

/// A gate command word: lowercase `[a-z][a-z0-9-]*`, not a reserved word.
fn command_word(field: &str, word: String) -> Checked<String> {
    let valid = word.len() <= MAX_WORD_LEN
        && word.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(format!(
            "{field}: `{word}` must be a lowercase word such as `approve`: a-z, then a-z, 0-9 or `-`, at most {MAX_WORD_LEN}"
        ));
    }
    if BuiltIn::parse(&word).is_some() {
        let words: Vec<&str> = BuiltIn::ALL.iter().map(|b| b.word()).collect();
        return Err(format!(
            "{field}: `{word}` is one of gatebot's own commands ({})",
            words.join(", ")
        ));
    }
    Ok(word)
}

fn role(field: &str, name: String, roles: &BTreeSet<String>) -> Checked<String> {
    if roles.contains(&name) {
        Ok(name)
    } else {
        Err(format!(
            "{field}: unknown role `{name}`; the roles are {}",
            roles
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// The schema of `entry:` (read by hand from a YAML value, so that its
/// messages name the field): `auto`, or a command gate.
fn entry_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "oneOf": [
            { "const": "auto", "description": "As soon as CI is green (the first stage) or the stage before passed." },
            {
                "type": "object",
                "description": "A quorum of distinct people holding `role`, none an author of the PR, giving `/command`.",
                "properties": {
                    "command": { "type": "string" },
                    "role": { "type": "string" },
                    "approvals": { "type": "integer", "minimum": 1, "maximum": MAX_APPROVALS }
                },
                "required": ["command", "role"],
                "additionalProperties": false
            }
        ]
    })
}

fn entry(field: &str, value: &Value, roles: &BTreeSet<String>) -> Checked<Entry> {
    let wrong = || {
        format!(
            "{field} must be `auto` or a mapping with `command`, `role` and optionally `approvals`"
        )
    };
    match value {
        Value::String(s) if s == "auto" => Ok(Entry::Auto),
        Value::Mapping(m) => {
            let mut command = None;
            let mut role_name = None;
            let mut approvals = None;
            for (k, v) in m {
                match (k.as_str(), v) {
                    (Some("command"), Value::String(s)) => command = Some(s.clone()),
                    (Some("role"), Value::String(s)) => role_name = Some(s.clone()),
                    (Some("approvals"), v) => {
                        approvals =
                            Some(v.as_i64().ok_or_else(|| {
                                format!("{field}.approvals must be a whole number")
                            })?)
                    }
                    (Some(key @ ("command" | "role")), _) => {
                        return Err(format!("{field}.{key} must be a string"));
                    }
                    (key, _) => {
                        return Err(format!(
                            "{field}: unknown key `{}`; expected `command`, `role` and optionally `approvals`",
                            key.unwrap_or("?")
                        ));
                    }
                }
            }
            let (Some(command), Some(role_name)) = (command, role_name) else {
                return Err(wrong());
            };
            let approvals = approvals.unwrap_or(1);
            let approvals = u32::try_from(approvals)
                .ok()
                .filter(|n| (1..=MAX_APPROVALS).contains(n))
                .ok_or_else(|| {
                    format!(
                        "{field}.approvals must be between 1 and {MAX_APPROVALS}, not {approvals}"
                    )
                })?;
            Ok(Entry::Command(CommandGate {
                word: command_word(&format!("{field}.command"), command)?,
                role: role(&format!("{field}.role"), role_name, roles)?,
                approvals,
            }))
        }
        _ => Err(wrong()),
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
