//! Gate machine table tests: Answers that change nothing.

use super::*;

#[test]
fn not_understood_confused_and_a_reply() {
    one(Case {
        name: "not understood: confused and a reply",
        yaml: DEFAULTS,
        setup: none,
        fact: |_| Fact::NotUnderstood {
            comment_id: 77,
            login: QA.into(),
            message: "`/rollback dev`: unknown environment".into(),
        },
        expect: expect(Stage::WaitingForCi, false)
            .react("confused")
            .reply("@bob gatebot did not understand `/rollback dev`: unknown environment"),
    });
}

#[test]
fn help_1_and_the_help_text() {
    one(Case {
        name: "/help: +1 and the help text",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| p.command("zed", Command::Help),
        expect: expect(Stage::WaitingForCi, false).accepted().reply(&help()),
    });
}

#[test]
fn gates_1_and_the_summary_table() {
    one(Case {
        name: "/gates: +1 and the summary table",
        yaml: DEFAULTS,
        setup: |p| p.staging(),
        fact: |p| p.command("zed", Command::Gates),
        expect: expect(Stage::Deploying(0), false)
            .accepted()
            .reply("| staging /lgtm (qa) | ✅ 1/1 | @bob"),
    });
}

#[test]
fn gates_without_read_access_is_refused() {
    one(Case {
        name: "/gates without read access is refused",
        yaml: DEFAULTS,
        setup: none,
        fact: |p| {
            let at = p.written();
            p.command_with("zed", false, Command::Gates, at, None)
        },
        expect: expect(Stage::WaitingForCi, false).refused("read role"),
    });
}

#[test]
fn help_and_gates_replies_are_exact() {
    let mut pr = Pr::new(DEFAULTS);
    pr.staging();
    let f = pr.command("zed", Command::Help);
    let t = pr.apply(&f);
    assert_eq!(replies(&t), [help()]);

    let f = pr.command("zed", Command::Gates);
    let t = pr.apply(&f);
    let cx = Context {
        config: &pr.cfg,
        now: pr.now,
        clock_skew: pr.skew,
        holders: None,
        environments: &pr.envs,
    };
    let table = crate::core::gate::summary::render(&pr.s, &cx).text;
    assert_eq!(replies(&t), [table.as_str()]);
    assert!(table.contains(TABLE_HEADER));
    assert!(table.contains("| CI | ✅ green | |"));
    assert!(table.contains("42-staging-aaaaaaa-1"));
}

#[test]
fn opened_syncs_the_check_run() {
    let mut pr = Pr::new(DEFAULTS);
    let t = pr.apply(&Fact::Opened);
    assert!(!t.changed);
    assert_eq!(t.actions, [Action::SyncCheckRun]);
    assert_eq!(t.state.stage(&pr.cfg.pipeline), Stage::WaitingForCi);
}
