//! Gate machine table tests: Invalid configuration.

use super::*;

#[test]
fn an_invalid_config_stops_the_gates() {
    one(Case {
        name: "an invalid config stops the gates",
        yaml: DEFAULTS,
        setup: Pr::green,
        fact: |_| bad_config(),
        expect: expect(Stage::ConfigError, true).then(|s| {
            assert_eq!(
                s.config_error.as_deref(),
                Some("approvals.prod must be between 1 and 20, not 0")
            );
        }),
    });
}

#[test]
fn the_same_error_again() {
    one(Case {
        name: "the same error again",
        yaml: DEFAULTS,
        setup: |p| p.step(bad_config()),
        fact: |_| bad_config(),
        expect: expect(Stage::ConfigError, false),
    });
}

#[test]
fn lgtm_is_refused_naming_the_config() {
    one(Case {
        name: "/lgtm is refused, naming the config",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            p.step(bad_config());
        },
        fact: |p| p.command(QA, lgtm()),
        expect: expect(Stage::ConfigError, false).refused(
            "the repository's .github/gatebot.yml is invalid: approvals.prod must be between 1 and 20, not 0",
        ),
    });
}

#[test]
fn approve_is_refused_naming_the_config() {
    one(Case {
        name: "/approve is refused, naming the config",
        yaml: DEFAULTS,
        setup: |p| {
            p.verified();
            p.step(bad_config());
        },
        fact: |p| p.command(REL, approve()),
        expect: expect(Stage::ConfigError, false).refused(".github/gatebot.yml is invalid"),
    });
}

#[test]
fn verify_stage_is_refused_naming_the_config() {
    one(Case {
        name: "/verify-stage is refused, naming the config",
        yaml: DEFAULTS,
        setup: |p| {
            p.staged();
            p.step(bad_config());
        },
        fact: |p| p.command(QA, verify_stage()),
        expect: expect(Stage::ConfigError, false).refused(".github/gatebot.yml is invalid"),
    });
}

#[test]
fn rollback_is_refused_naming_the_config() {
    one(Case {
        name: "/rollback is refused, naming the config",
        yaml: DEFAULTS,
        setup: |p| p.step(bad_config()),
        fact: |p| p.rollback(REL, production()),
        expect: expect(Stage::ConfigError, false).refused(".github/gatebot.yml is invalid"),
    });
}

#[test]
fn hold_is_still_accepted() {
    one(Case {
        name: "/hold is still accepted",
        yaml: DEFAULTS,
        setup: |p| p.step(bad_config()),
        fact: |p| p.command(REL, Command::Hold { reason: None }),
        expect: expect(Stage::ConfigError, true).accepted(),
    });
}

#[test]
fn ci_green_with_lgtm_does_not_dispatch() {
    one(Case {
        name: "CI green with /lgtm does not dispatch",
        yaml: DEFAULTS,
        setup: |p| {
            p.lgtm();
            p.step(bad_config());
        },
        fact: |p| p.ci(CiStatus::Green),
        expect: expect(Stage::ConfigError, true)
            .then(|s| assert_eq!((s.ci, &s.deploy_to(&staging())), (CiStatus::Green, &None))),
    });
}

#[test]
fn a_valid_config_again_resumes_and_dispatches() {
    one(Case {
        name: "a valid config again resumes and dispatches",
        yaml: DEFAULTS,
        setup: |p| {
            p.lgtm();
            p.step(bad_config());
            p.green();
        },
        fact: |_| Fact::Config { error: None },
        expect: expect(Stage::Deploying(0), true)
            .dispatch(stage_deploy(A, QA, "42-staging-aaaaaaa-1"))
            .then(|s| assert_eq!(s.config_error, None)),
    });
}

#[test]
fn a_valid_config_again_with_nothing_to_dispatch() {
    one(Case {
        name: "a valid config again with nothing to dispatch",
        yaml: DEFAULTS,
        setup: |p| {
            p.green();
            p.step(bad_config());
        },
        fact: |_| Fact::Config { error: None },
        expect: expect(Stage::WaitingForEntry(0), true),
    });
}

#[test]
fn a_valid_config_when_it_was_valid_changes_nothing() {
    one(Case {
        name: "a valid config when it was valid changes nothing",
        yaml: DEFAULTS,
        setup: Pr::green,
        fact: |_| Fact::Config { error: None },
        expect: expect(Stage::WaitingForEntry(0), false),
    });
}

fn bad_config() -> Fact {
    Fact::Config {
        error: Some("approvals.prod must be between 1 and 20, not 0".into()),
    }
}
