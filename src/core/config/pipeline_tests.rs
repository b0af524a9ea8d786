//! Tests of `pipeline:` and `roles:` parsing: one `#[test]` per case.

use chrono::Duration;

use super::parse_soak;
use crate::core::config::parse;

/// The two-stage chain written as a `pipeline:`.
const TWO_STAGE: &str = r#"
roles:
  qa: ["@acme/qa"]
  release: [rita, "@acme/release"]
pipeline:
  - environment: staging
    workflow: cd-stage.yml
    entry: { command: lgtm, role: qa }
    verify: { command: verify-stage, role: qa, workflow: smoke.yml }
  - environment: production
    workflow: cd-prod.yml
    entry: { command: approve, role: release, approvals: 2 }
    freeze: [{ from: "2026-12-20T00:00:00Z", to: "2027-01-05T00:00:00Z", reason: holidays }]
    protected: true
"#;

/// The same chain in the keys gatebot has always read.
const OLD_KEYS: &str = r#"
roles:
  qa: ["@acme/qa"]
  release: [rita, "@acme/release"]
workflows: { stage: cd-stage.yml, prod: cd-prod.yml, verify: smoke.yml }
approvals: { prod: 2 }
freeze: [{ from: "2026-12-20T00:00:00Z", to: "2027-01-05T00:00:00Z", reason: holidays }]
protected_environments: [production]
"#;

/// The platform's three-stage chain.
const THREE_STAGE: &str = r#"
roles:
  qa: ["@acme/qa"]
  release: [rita, "@acme/release"]
pipeline:
  - environment: dev
    workflow: cd-dev.yml
    entry: auto
  - environment: staging
    workflow: cd-stage.yml
    entry: { command: lgtm, role: qa, approvals: 1 }
    verify: { command: verify-stage, role: qa, workflow: null }
  - environment: production
    workflow: cd-prod.yml
    entry: { command: approve, role: release, approvals: 2 }
    soak: 30m
    protected: true
"#;

/// A one-stage chain whose stage is `stage`, indented as a list item.
fn one(stage: &str) -> String {
    format!("pipeline:\n  - environment: staging\n    workflow: cd-stage.yml\n{stage}")
}

fn stages(n: usize) -> String {
    let mut yaml = String::from("pipeline:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - environment: env{i}\n    workflow: cd-{i}.yml\n    entry: auto\n"
        ));
    }
    yaml
}

#[test]
fn the_two_stage_pipeline_means_exactly_the_old_keys() {
    let new = parse(TWO_STAGE).expect("the pipeline form parses");
    let old = parse(OLD_KEYS).expect("the old keys parse");
    assert_eq!(new, old);
    let chain = new.pipeline;
    assert_eq!(chain.stages.len(), 2);
    assert_eq!(chain.stages[1].freeze.len(), 1);
    assert!(chain.stages[1].protected && !chain.stages[0].protected);
}

#[test]
fn without_pipeline_the_old_keys_mean_the_two_stage_chain() {
    let chain = parse("approvals: {prod: 3}\n").expect("parses").pipeline;
    let words: Vec<String> = chain
        .stages
        .iter()
        .map(|s| match &s.entry {
            super::Entry::Command(g) => {
                format!("{} {}/{} by {}", s.environment, g.word, g.approvals, g.role)
            }
            super::Entry::Auto => format!("{} auto", s.environment),
        })
        .collect();
    assert_eq!(
        words,
        ["staging lgtm/1 by qa", "production approve/3 by release"]
    );
    assert_eq!(
        chain.stages[0].verify.as_ref().map(|v| v.word.as_str()),
        Some("verify-stage")
    );
}

#[test]
fn workflows_ref_stays_valid_beside_a_pipeline() {
    let yaml = format!("workflows: {{ref: release/2026}}\n{TWO_STAGE}");
    let config = parse(&yaml).expect("parses");
    assert_eq!(config.git_ref.as_deref(), Some("release/2026"));
}

#[test]
fn a_declared_role_is_valid() {
    let config = parse("roles: {sre: [\"@acme/sre\"], qa: [bob]}\n").expect("parses");
    assert_eq!(config.roles.other.len(), 1);
    assert_eq!(config.roles.qa.len(), 1);
}

#[test]
fn the_platform_chain_parses_in_order() {
    let config = parse(THREE_STAGE).expect("parses");
    let chain = &config.pipeline;
    let envs: Vec<&str> = chain
        .stages
        .iter()
        .map(|s| s.environment.as_str())
        .collect();
    assert_eq!(envs, ["dev", "staging", "production"]);
    assert_eq!(chain.stages[0].entry, super::Entry::Auto);
    assert_eq!(chain.stages[2].quorum(), 2);
    assert_eq!(chain.stages[2].soak, Some(Duration::minutes(30)));
    assert_eq!(config.protected_environments, ["production"]);
    assert_eq!(chain.gates_of("lgtm"), [(1, super::GateKind::Entry)]);
    assert_eq!(
        chain.gates_of("verify-stage"),
        [(1, super::GateKind::Verify)]
    );
    assert_eq!(chain.stages[0].rollback_role(), "release");
    assert_eq!(chain.gate_roles(), ["qa", "release"]);
}

#[test]
fn stages_are_named_by_environment_or_the_two_old_short_names() {
    let chain = parse(THREE_STAGE).expect("parses").pipeline;
    assert_eq!(chain.named("DEV"), Some(0));
    assert_eq!(chain.named("stage"), Some(1));
    assert_eq!(chain.named("prod"), Some(2));
    assert_eq!(chain.named("qa"), None);
}

#[test]
fn a_word_may_gate_several_stages() {
    let yaml = "pipeline:
  - environment: prod-eu
    workflow: cd-prod.yml
    entry: { command: approve, role: release, approvals: 2 }
  - environment: prod-us
    workflow: cd-prod.yml
    entry: { command: approve, role: release }
    soak: 1h
";
    let chain = parse(yaml).expect("parses").pipeline;
    assert_eq!(
        chain.gates_of("approve"),
        [(0, super::GateKind::Entry), (1, super::GateKind::Entry)]
    );
}

macro_rules! refused {
    ($($name:ident: $yaml:expr => $needle:expr;)*) => {$(
        #[test]
        fn $name() {
            let yaml: String = $yaml.into();
            let err = parse(&yaml).expect_err("must be refused").to_string();
            assert!(err.contains($needle), "{err}\nshould contain: {}", $needle);
        }
    )*};
}

refused! {
    an_empty_chain: "pipeline: []\n" => "pipeline must list 1 to 10 stages, not 0";
    eleven_stages: stages(11) => "pipeline must list 1 to 10 stages, not 11";
    a_duplicate_environment: format!("{}  - environment: Staging\n    workflow: b.yml\n    entry: auto\n", one("    entry: auto\n"))
        => "pipeline[1].environment: `Staging` is already the environment of pipeline[0]";
    an_environment_named_cancel: "pipeline:\n  - { environment: Cancel, workflow: a.yml, entry: auto }\n"
        => "pipeline[0].environment: `Cancel` cannot name an environment";
    an_unknown_role: one("    entry: { command: ship, role: ops }\n")
        => "pipeline[0].entry.role: unknown role `ops`; the roles are `qa`, `release`";
    an_entry_that_is_neither_auto_nor_a_command: one("    entry: manual\n")
        => "pipeline[0].entry must be `auto` or a mapping with `command`, `role`";
    an_entry_without_a_role: one("    entry: { command: ship }\n")
        => "pipeline[0].entry must be `auto` or a mapping";
    an_entry_with_an_unknown_key: one("    entry: { command: ship, role: qa, quorum: 2 }\n")
        => "pipeline[0].entry: unknown key `quorum`";
    an_uppercase_command_word: one("    entry: { command: Approve, role: qa }\n")
        => "pipeline[0].entry.command: `Approve` must be a lowercase word";
    a_word_starting_with_a_digit: one("    entry: { command: 2go, role: qa }\n")
        => "`2go` must be a lowercase word";
    a_reserved_word: one("    entry: { command: hold, role: qa }\n")
        => "pipeline[0].entry.command: `hold` is one of gatebot's own commands";
    verify_is_reserved: one("    entry: auto\n    verify: { command: verify, role: qa }\n")
        => "pipeline[0].verify.command: `verify` is one of gatebot's own commands";
    rollback_is_reserved: one("    entry: { command: rollback, role: qa }\n") => "`rollback` is one of gatebot's own commands";
    zero_approvals: one("    entry: { command: ship, role: qa, approvals: 0 }\n")
        => "pipeline[0].entry.approvals must be between 1 and 20, not 0";
    twenty_one_approvals: one("    entry: { command: ship, role: qa, approvals: 21 }\n")
        => "pipeline[0].entry.approvals must be between 1 and 20, not 21";
    a_soak_that_does_not_parse: one("    entry: auto\n    soak: 30 minutes\n")
        => "pipeline[0].soak: `30 minutes` is not a duration such as 30m, 2h or 1d";
    a_verify_word_equal_to_the_entry_word: one("    entry: { command: ship, role: qa }\n    verify: { command: ship, role: qa }\n")
        => "pipeline[0].verify.command: `ship` is already this stage's entry command";
    a_bad_stage_workflow: one("    entry: auto\n").replace("cd-stage.yml", "../x.yml") => "pipeline[0].workflow: `../x.yml`";
    a_bad_freeze_window: one("    entry: auto\n    freeze: [{from: \"2027-01-02T00:00:00Z\", to: \"2027-01-01T00:00:00Z\"}]\n")
        => "pipeline[0].freeze[0]: `from`";
    an_unknown_stage_key: one("    entry: auto\n    approvers: 2\n") => "unknown field `approvers`";
    pipeline_beside_the_old_stage_keys: format!("approvals: {{prod: 2}}\nfreeze: []\n{TWO_STAGE}")
        => "pipeline: cannot be combined with the keys it replaces (`approvals`, `freeze`)";
    pipeline_beside_old_workflows: format!("workflows: {{prod: x.yml}}\n{TWO_STAGE}")
        => "(`workflows.prod`)";
    an_invalid_role_name: "roles: {QA: [bob]}\n" => "roles: `QA` must be a lowercase role name";
    an_invalid_role_member: "roles: {sre: [\"not a login\"]}\n" => "roles.sre[0]";
}

#[test]
fn soak_durations() {
    for (text, secs) in [
        ("30m", 1800),
        ("2h", 7200),
        ("1d", 86_400),
        ("45s", 45),
        (" 10m ", 600),
    ] {
        assert_eq!(parse_soak(text), Some(Duration::seconds(secs)), "{text}");
    }
    for text in [
        "",
        "m",
        "0m",
        "-1h",
        "1w",
        "1.5h",
        "30 m",
        "h1",
        "99999999999999999d",
    ] {
        assert_eq!(parse_soak(text), None, "{text:?} is not a duration");
    }
}

#[test]
fn a_soak_of_a_million_years_is_refused_not_panicked_on() {
    // The attack: `soak: 100000000d` was accepted, and `passed + soak`
    // panicked once the stage before passed, for every repository of the
    // reconcile pass.
    for text in ["100000000d", "91d", "2161h", "7776001s"] {
        assert_eq!(parse_soak(text), None, "{text:?} is over 90 days");
    }
    assert_eq!(parse_soak("90d"), Some(Duration::days(90)));
    assert_eq!(parse_soak("2160h"), Some(Duration::days(90)));
    let yaml = "pipeline:\n  - {environment: staging, workflow: s.yml, entry: auto}\n  - {environment: production, workflow: p.yml, entry: auto, soak: 100000000d}\n";
    let err = crate::core::config::parse(yaml).expect_err("refused");
    assert!(err.to_string().contains("at most 90d"), "{err}");
}

#[test]
fn a_soak_ending_past_the_clock_is_the_end_of_time() {
    let config = crate::core::config::parse(
        "pipeline:\n  - {environment: staging, workflow: s.yml, entry: auto}\n  - {environment: production, workflow: p.yml, entry: auto, soak: 90d}\n",
    )
    .expect("valid");
    let prod = &config.pipeline.stages[1];
    let late = chrono::DateTime::<chrono::Utc>::MAX_UTC - Duration::days(1);
    assert_eq!(
        prod.soak_end(late),
        chrono::DateTime::<chrono::Utc>::MAX_UTC
    );
}

const SHARED_KEYS: &str = "pipeline:
  - {environment: staging, workflow: s.yml, entry: {command: lgtm, role: qa}, lock: true, lock_timeout: 30m}
  - {environment: production, workflow: p.yml, entry: {command: approve, role: release}, merge: squash}
";

#[test]
fn lock_up_to_date_and_merge_are_read_with_their_defaults() {
    let c = parse(SHARED_KEYS).expect("valid");
    let (staging, production) = (&c.pipeline.stages[0], &c.pipeline.stages[1]);
    assert!(staging.lock && !production.lock);
    assert_eq!(staging.lock_timeout, Duration::minutes(30));
    assert_eq!(production.lock_timeout, Duration::hours(4), "the default");
    assert!(
        !staging.up_to_date && production.up_to_date,
        "the last stage by default"
    );
    assert_eq!(production.merge, Some(super::MergeMethod::Squash));
    let old = parse("").expect("defaults");
    assert!(
        old.pipeline.stages[1].up_to_date,
        "production, without pipeline: too"
    );
    assert!(!old.pipeline.stages[0].up_to_date);
}

#[test]
fn merge_only_on_the_last_stage_and_only_a_known_method() {
    let early = SHARED_KEYS.replace("lock_timeout: 30m}", "lock_timeout: 30m, merge: merge}");
    let e = parse(&early).expect_err("merge on staging");
    assert!(
        e.to_string()
            .contains("pipeline[0].merge: only the last stage merges"),
        "{e}"
    );
    let bad = SHARED_KEYS.replace("merge: squash", "merge: octopus");
    let e = parse(&bad).expect_err("unknown method");
    assert!(
        e.to_string()
            .contains("`octopus` is not one of merge, squash or rebase"),
        "{e}"
    );
}

#[test]
fn a_lock_timeout_needs_a_lock() {
    let e = parse(&SHARED_KEYS.replace("lock: true, ", "")).expect_err("timeout without lock");
    assert!(
        e.to_string()
            .contains("pipeline[0].lock_timeout: only a stage with `lock: true`"),
        "{e}"
    );
}
