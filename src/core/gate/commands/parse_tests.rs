//! Tests of comment parsing: which lines are commands, and what each
//! word and its arguments make.
use super::*;
use crate::core::config::RepoConfig;
use crate::core::domain::Environment;
use crate::core::gate::commands::help_text;
use proptest::prelude::*;

/// Parsed against the two-stage chain.
fn parse_comment(body: &str) -> Vec<Result<Command, NotUnderstood>> {
    super::parse_comment(body, &RepoConfig::default().pipeline)
}

fn entry(word: &str, env: Environment, cancel: bool) -> Command {
    Command::Entry {
        word: word.into(),
        env,
        cancel,
    }
}

fn verify(cancel: bool) -> Command {
    Command::Verify {
        word: "verify-stage".into(),
        env: Environment::staging(),
        cancel,
    }
}

fn ok(commands: &[Command]) -> Vec<Result<Command, NotUnderstood>> {
    commands.iter().cloned().map(Ok).collect()
}

fn hold(reason: &str) -> Command {
    Command::Hold {
        reason: Some(reason.to_string()),
    }
}

/// Asserts each body parses to exactly the given commands.
fn check(cases: &[(&str, &[Command])]) {
    for (body, expected) in cases {
        assert_eq!(parse_comment(body), ok(expected), "body: {body:?}");
    }
}

/// Asserts each body parses to one `NotUnderstood` with this reason.
fn check_err(cases: &[(&str, &str)]) {
    for (body, reason) in cases {
        let parsed = parse_comment(body);
        assert!(
            matches!(parsed.as_slice(), [Err(e)] if e.reason == *reason),
            "body: {body:?}, got {parsed:?}"
        );
    }
}

#[test]
fn each_command_and_cancel_form() {
    use Command::*;
    check(&[
        ("/lgtm", &[entry("lgtm", Environment::staging(), false)]),
        (
            "/lgtm cancel",
            &[entry("lgtm", Environment::staging(), true)],
        ),
        ("/verify-stage", &[verify(false)]),
        ("/verify-stage cancel", &[verify(true)]),
        ("/verify stage", &[verify(false)]),
        ("/verify Staging", &[verify(false)]),
        ("/verify stage cancel", &[verify(true)]),
        (
            "/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        (
            "/approve cancel",
            &[entry("approve", Environment::production(), true)],
        ),
        (
            "/lgtm stage",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        (
            "/lgtm Staging cancel",
            &[entry("lgtm", Environment::staging(), true)],
        ),
        (
            "/approve prod",
            &[entry("approve", Environment::production(), false)],
        ),
        (
            "/approve production cancel",
            &[entry("approve", Environment::production(), true)],
        ),
        ("/rollback", &[Rollback(Environment::production())]),
        ("/rollback prod", &[Rollback(Environment::production())]),
        (
            "/rollback production",
            &[Rollback(Environment::production())],
        ),
        ("/rollback stage", &[Rollback(Environment::staging())]),
        ("/rollback staging", &[Rollback(Environment::staging())]),
        ("/hold", &[Hold { reason: None }]),
        ("/hold   ", &[Hold { reason: None }]),
        (
            "/hold flaky login on stage",
            &[hold("flaky login on stage")],
        ),
        ("/unhold", &[Unhold]),
        ("/gates", &[Gates]),
        ("/help", &[Help]),
    ]);
}

#[test]
fn case_insensitive() {
    use Command::*;
    check(&[
        ("/LGTM", &[entry("lgtm", Environment::staging(), false)]),
        (
            "/Lgtm CANCEL",
            &[entry("lgtm", Environment::staging(), true)],
        ),
        (
            "/Approve Cancel",
            &[entry("approve", Environment::production(), true)],
        ),
        ("/VERIFY-STAGE cAnCeL", &[verify(true)]),
        ("/RollBack STAGE", &[Rollback(Environment::staging())]),
        ("/HOLD Wait For QA", &[hold("Wait For QA")]),
        ("/UnHold", &[Unhold]),
        ("/GATES", &[Gates]),
        ("/Help", &[Help]),
    ]);
}

#[test]
fn whitespace_around_commands() {
    use Command::*;
    check(&[
        (" /lgtm", &[entry("lgtm", Environment::staging(), false)]),
        ("   /lgtm", &[entry("lgtm", Environment::staging(), false)]),
        ("/lgtm   ", &[entry("lgtm", Environment::staging(), false)]),
        ("/lgtm\t", &[entry("lgtm", Environment::staging(), false)]),
        ("/lgtm\r", &[entry("lgtm", Environment::staging(), false)]),
        (
            "/approve\tcancel",
            &[entry("approve", Environment::production(), true)],
        ),
        (
            "/approve    cancel   ",
            &[entry("approve", Environment::production(), true)],
        ),
        ("/rollback   stage  ", &[Rollback(Environment::staging())]),
        ("/hold   spaced out   ", &[hold("spaced out")]),
        ("\n\n/gates\n\n", &[Gates]),
    ]);
}

#[test]
fn command_must_start_the_line_and_end_the_word() {
    check(&[
        ("please /lgtm", &[]),
        ("- /lgtm", &[]),
        ("* /approve", &[]),
        ("1. /approve", &[]),
        ("**/lgtm**", &[]),
        ("/lgtmfoo", &[]),
        ("/lgtm.", &[]),
        ("/lgtm!", &[]),
        ("/lgtm,cancel", &[]),
        ("/ lgtm", &[]),
        ("//lgtm", &[]),
        ("lgtm", &[]),
        ("\\/lgtm", &[]),
        ("/approve-cancel", &[]),
        ("/verify_stage", &[]),
        ("/verifystage", &[]),
        // Kelvin sign: lowercases to `k` in Unicode, but not in ASCII.
        ("/\u{212A}", &[]),
        (
            "/lgtm\u{a0}",
            &[entry("lgtm", Environment::staging(), false)],
        ),
    ]);
}

#[test]
fn unknown_words_are_ignored() {
    check(&[
        ("/deploy", &[]),
        ("/deploy prod", &[]),
        ("/cc @alice", &[]),
        ("/assign @bob", &[]),
        ("/retest", &[]),
        ("/", &[]),
        (
            "/lgtm\n/deploy\n/cc @x\n/approve",
            &[
                entry("lgtm", Environment::staging(), false),
                entry("approve", Environment::production(), false),
            ],
        ),
    ]);
}

#[test]
fn block_quotes_are_skipped() {
    check(&[
        ("> /lgtm", &[]),
        (">/lgtm", &[]),
        ("   > /approve", &[]),
        ("> > /lgtm", &[]),
        (">> /approve", &[]),
        // A line right after a quote continues it (CommonMark's lazy
        // continuation): GitHub shows `/lgtm` inside the quote. The old
        // scanner acted on it.
        ("> quoting you:\n> /approve\n/lgtm", &[]),
        (
            "> quoting you:\n> /approve\n\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
    ]);
}

#[test]
fn fenced_code_blocks_are_skipped() {
    use Command::*;
    check(&[
        ("```\n/lgtm\n```", &[]),
        (
            "```\n/lgtm\n```\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        (
            "~~~\n/lgtm\n~~~\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        (
            "```text\n/lgtm\n```\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        (
            "  ```\n/lgtm\n   ```\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        // An unclosed fence runs to the end of the comment.
        ("```\n/lgtm\n/approve", &[]),
        ("/gates\n~~~\n/lgtm", &[Gates]),
        // The closing fence must use the same character ...
        ("```\n/lgtm\n~~~\n/approve", &[]),
        ("~~~\n/lgtm\n```\n/approve", &[]),
        // ... and be at least as long as the opening one.
        (
            "````\n```\n/lgtm\n````\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        ("````\n```\n/lgtm", &[]),
        (
            "```\n/lgtm\n`````\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        // A closing fence has nothing after it but whitespace.
        (
            "```\n```rust\n/lgtm\n```  \n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        // Indented four spaces, a closing fence is just code text.
        (
            "```\n    ```\n/lgtm\n```\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        // Two backticks are inline code, not a fence.
        ("``\n/lgtm", &[entry("lgtm", Environment::staging(), false)]),
        // Backticks in a backtick fence's info string: inline code.
        (
            "```x```\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        (
            "~~~ a`b\n/lgtm\n~~~\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        // Fences inside quotes or indented code open nothing here.
        (
            "> ```\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        (
            "    ```\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        (
            "```\r\n/lgtm\r\n```\r\n/approve\r\n",
            &[entry("approve", Environment::production(), false)],
        ),
    ]);
}

#[test]
fn indented_code_is_skipped() {
    check(&[
        ("    /lgtm", &[]),
        ("     /lgtm", &[]),
        ("\t/lgtm", &[]),
        ("  \t/lgtm", &[]),
        ("   /lgtm", &[entry("lgtm", Environment::staging(), false)]),
        (
            "    /lgtm\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
    ]);
}

#[test]
fn inline_code_is_skipped() {
    check(&[
        ("`/lgtm`", &[]),
        ("`/approve` once CI is green", &[]),
        ("run `/lgtm` when done", &[]),
        ("``/lgtm``", &[]),
    ]);
}

#[test]
fn html_comments_are_skipped() {
    use Command::*;
    check(&[
        ("<!-- /lgtm -->", &[]),
        ("<!--\n/lgtm\n-->", &[]),
        (
            "<!--\n/lgtm\n-->\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        ("<!-- template\n/lgtm\n/approve\n-->\n/gates", &[Gates]),
        ("<!-- unclosed\n/lgtm\n/approve", &[]),
        (
            "text <!-- opens\n/lgtm\n--> closes\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        ("<!-- a -->/lgtm", &[]),
        ("<!-- a --> /lgtm", &[]),
        // An HTML block ends on its first line here, leaving `<!-- b`
        // open: a browser hides the rest, and a `-->` in text (shown
        // as `--&gt;`) closes nothing. The old scanner found `/help`.
        ("<!-- a --> <!-- b\n/lgtm\n-->\n/help", &[]),
        ("<!-- a --> <!-- b\n/lgtm\n\n<!-- c -->\n/help", &[Help]),
        ("<!--\n-->\n<!--\n/lgtm\n-->\n/help", &[Help]),
        (
            "a --> b\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        (
            "<!-->\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        // Inside code, `<!--` opens no comment.
        (
            "```\n<!--\n```\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        (
            "use `<!--` for notes\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        (
            "    <!--\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        // The quote ends, but the comment it opened is left open: a
        // browser hides what follows. The old scanner acted on it.
        ("> <!--\n/lgtm", &[]),
        // Inside a comment, fences mean nothing.
        (
            "<!--\n```\n-->\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        // Comments on a command line are not part of its arguments.
        (
            "/lgtm <!-- note -->",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        ("/hold <!-- secret -->visible", &[hold("visible")]),
        (
            "/hold reason <!-- multi\nline /lgtm\n-->\n/gates",
            &[hold("reason"), Gates],
        ),
        ("/<!-- x -->lgtm", &[]),
        ("/deploy <!--\n/lgtm\n-->\n/gates", &[Gates]),
    ]);
}

#[test]
fn a_lazy_continuation_line_belongs_to_the_quote() {
    check(&[
        ("> Dora asked:\n/lgtm", &[]),
        (
            "> Dora asked:\n/lgtm\n\n/approve",
            &[entry("approve", Environment::production(), false)],
        ),
        ("> > deeper\n/lgtm", &[]),
        ("- item\n/lgtm", &[]),
        ("1. item\n/approve", &[]),
        ("[^1]: a note\n/lgtm", &[]),
        // A quote of a fence or an HTML block is not continued lazily.
        (
            "> ```\n/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
    ]);
}

#[test]
fn escapes_are_read_as_github_reads_them() {
    check(&[
        // The escaped backtick opens no code span, so the `<!--`
        // after it opens a comment that hides `/lgtm`.
        ("Checklist done \\` <!-- `\n/lgtm\n-->", &[]),
        (
            "Checklist done \\` <!-- `\n/lgtm\n-->\n\n/gates",
            &[Command::Gates],
        ),
        // An escaped slash is writing about the command.
        ("\\/lgtm", &[]),
        // An entity reads as its character.
        (
            "/lg&#116;m",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        ("&#47;lgtm", &[]),
    ]);
}

#[test]
fn html_blocks_hide_their_lines() {
    check(&[
        ("<details>\n/lgtm\n</details>", &[]),
        ("<details>\n/lgtm\n</details>\n\n/gates", &[Command::Gates]),
        (
            "<div>\n\n/lgtm\n\n</div>",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        ("<pre>\n/lgtm\n</pre>", &[]),
        ("<script>\n/lgtm\n</script>", &[]),
    ]);
}

#[test]
fn quotes_and_code_nested_in_lists_hide_commands() {
    check(&[
        ("- item\n  > /lgtm", &[]),
        ("- item\n\n  > /lgtm\n\n/gates", &[Command::Gates]),
        ("1. step\n   ```\n   /lgtm\n   ```", &[]),
        ("- [ ] /lgtm", &[]),
        ("* > /approve\n/gates", &[]),
    ]);
}

#[test]
fn headings_tables_and_emphasis_are_not_commands() {
    check(&[
        // A setext heading: the line under it makes `/lgtm` a title.
        ("/lgtm\n---", &[]),
        ("/lgtm\n===", &[]),
        ("/lgtm\n/approve\n---", &[]),
        ("# /lgtm", &[]),
        (
            "/lgtm\n\n---",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        ("| a |\n| - |\n/lgtm", &[]),
        ("~~/lgtm~~", &[]),
        ("_/lgtm_", &[]),
        ("[/lgtm](https://example.com)", &[]),
        // A trailing hard break still ends the line.
        ("/gates  \n/help", &[Command::Gates, Command::Help]),
        ("/gates\\\n/help", &[Command::Gates, Command::Help]),
    ]);
}

#[test]
fn bad_arguments_are_not_understood() {
    check_err(&[
        (
            "/lgtm please",
            "`/lgtm` takes only the stage it belongs to (`staging`) and `cancel`",
        ),
        (
            "/lgtm cancel now",
            "`/lgtm` takes only the stage it belongs to (`staging`) and `cancel`",
        ),
        (
            "/LGTM cancelled",
            "`/lgtm` takes only the stage it belongs to (`staging`) and `cancel`",
        ),
        (
            "/lgtm prod",
            "`/lgtm` takes only the stage it belongs to (`staging`) and `cancel`",
        ),
        (
            "/lgtm stage stage",
            "`/lgtm` takes only the stage it belongs to (`staging`) and `cancel`",
        ),
        (
            "/verify-stage ok",
            "`/verify-stage` takes only the stage it belongs to (`staging`) and `cancel`",
        ),
        (
            "/approve stage",
            "`/approve` takes only the stage it belongs to (`production`) and `cancel`",
        ),
        (
            "/approve cancel cancel",
            "`/approve` takes only the stage it belongs to (`production`) and `cancel`",
        ),
        (
            "/approve prod now",
            "`/approve` takes only the stage it belongs to (`production`) and `cancel`",
        ),
        (
            "/rollback dev",
            "unknown environment `dev`; use `staging` or `production`",
        ),
        (
            "/verify",
            "`/verify` names the stage to verify: `/verify staging` (or `/verify staging cancel`)",
        ),
        ("/verify dev", "unknown environment `dev`; use `staging`"),
        (
            "/verify prod",
            "production has no verification step; `/verify staging` verifies staging",
        ),
        (
            "/verify stage now",
            "`/verify` names the stage to verify: `/verify staging` (or `/verify staging cancel`)",
        ),
        (
            "/verify stage cancel cancel",
            "`/verify` names the stage to verify: `/verify staging` (or `/verify staging cancel`)",
        ),
        (
            "/rollback cancel",
            "unknown environment `cancel`; use `staging` or `production`",
        ),
        (
            "/rollback prod stage",
            "`/rollback` takes one environment: `staging` or `production`",
        ),
        ("/unhold now", "`/unhold` takes no arguments"),
        ("/gates all", "`/gates` takes no arguments"),
        ("/help me", "`/help` takes no arguments"),
    ]);
}

#[test]
fn not_understood_echoes_the_trimmed_line() {
    let parsed = parse_comment("  /Approve  now  \r\n");
    let expected = NotUnderstood {
        line: "/Approve  now".into(),
        reason: "`/approve` takes only the stage it belongs to (`production`) and `cancel`".into(),
    };
    assert_eq!(parsed, vec![Err(expected.clone())]);
    assert_eq!(
        expected.to_string(),
        "`/Approve  now`: `/approve` takes only the stage it belongs to (`production`) and `cancel`"
    );
}

#[test]
fn long_lines_are_truncated_on_char_boundaries() {
    let long = "é".repeat(300);
    let parsed = parse_comment(&format!("/hold {long}\n/gates {long}"));
    let [
        Ok(Command::Hold {
            reason: Some(reason),
        }),
        Err(e),
    ] = parsed.as_slice()
    else {
        panic!("unexpected {parsed:?}");
    };
    assert_eq!(reason.chars().count(), 200);
    assert_eq!(e.line.chars().count(), 100);
    assert!(e.line.starts_with("/gates éé"));

    let env = "x".repeat(500);
    let parsed = parse_comment(&format!("/rollback {env}"));
    let [Err(e)] = parsed.as_slice() else {
        panic!("unexpected {parsed:?}");
    };
    assert!(e.reason.len() < 100, "{}", e.reason);
}

#[test]
fn hold_reason_is_trimmed_after_truncation() {
    let body = format!("/hold {}   tail", "a".repeat(199));
    assert_eq!(parse_comment(&body), ok(&[hold(&"a".repeat(199))]));
}

#[test]
fn multiple_commands_in_order() {
    use Command::*;
    let body = "Looks good on stage.\n\n/lgtm\n/verify-stage\nsome text\n/hold waiting for \
                    docs\n/rollback stage\n/approve cancel\n";
    check(&[(
        body,
        &[
            entry("lgtm", Environment::staging(), false),
            verify(false),
            hold("waiting for docs"),
            Rollback(Environment::staging()),
            entry("approve", Environment::production(), true),
        ],
    )]);
    let parsed = parse_comment("/lgtm\n/approve now\n/gates");
    assert_eq!(parsed.len(), 3);
    assert_eq!(parsed[0], Ok(entry("lgtm", Environment::staging(), false)));
    assert!(parsed[1].is_err());
    assert_eq!(parsed[2], Ok(Gates));
}

#[test]
fn line_endings() {
    use Command::*;
    check(&[
        (
            "/lgtm\r\n/approve\r\n",
            &[
                entry("lgtm", Environment::staging(), false),
                entry("approve", Environment::production(), false),
            ],
        ),
        ("/hold because\r\n", &[hold("because")]),
        (
            "/lgtm\r/approve",
            &[
                entry("lgtm", Environment::staging(), false),
                entry("approve", Environment::production(), false),
            ],
        ),
        // `/gates` continues the quote lazily (the old scanner acted).
        ("text\r\n> /lgtm\r\n/gates", &[]),
        ("text\r\n> /lgtm\r\n\r\n/gates", &[Gates]),
        ("", &[]),
        ("\r\n\r\n", &[]),
        // A lone `\r` ends an indented code block as `\n` does.
        (
            "    lgtm\r/lgtm",
            &[entry("lgtm", Environment::staging(), false)],
        ),
        ("    /approve\r/gates\r", &[Gates]),
        ("```\r/lgtm\r```\r/gates", &[Gates]),
    ]);
}

#[test]
fn names() {
    use Command::*;
    let cases = [
        (entry("lgtm", Environment::staging(), false), "lgtm"),
        (entry("lgtm", Environment::staging(), true), "lgtm cancel"),
        (verify(false), "verify-stage"),
        (verify(true), "verify-stage cancel"),
        (
            entry("approve", Environment::production(), false),
            "approve",
        ),
        (
            entry("approve", Environment::production(), true),
            "approve cancel",
        ),
        (Rollback(Environment::staging()), "rollback"),
        (Hold { reason: None }, "hold"),
        (Unhold, "unhold"),
        (Gates, "gates"),
        (Help, "help"),
    ];
    for (command, name) in cases {
        assert_eq!(command.name(), name);
        // Every name, typed as a comment, parses back to its command
        // (arguments aside).
        let parsed = parse_comment(&format!("/{name}"));
        assert_eq!(parsed.len(), 1, "{name}");
        assert!(matches!(&parsed[0], Ok(c) if c.name() == name), "{name}");
    }
}

/// dev (auto), staging (`/lgtm`, `/verify-stage`), then two
/// production regions that share `/approve`.
fn four_stages() -> Pipeline {
    crate::core::config::parse(
            "pipeline:
  - { environment: dev, workflow: cd-dev.yml, entry: auto }
  - environment: staging
    workflow: cd-stage.yml
    entry: { command: lgtm, role: qa }
    verify: { command: verify-stage, role: qa }
  - { environment: prod-eu, workflow: cd-prod.yml, entry: { command: approve, role: release, approvals: 2 } }
  - { environment: prod-us, workflow: cd-prod.yml, entry: { command: approve, role: release }, soak: 30m }
",
        )
        .expect("the chain parses")
        .pipeline
}

fn env(name: &str) -> Environment {
    Environment::new(name)
}

#[test]
fn words_are_resolved_against_the_chain() {
    let chain = four_stages();
    let cases: Vec<(&str, Command)> = vec![
        ("/lgtm", entry("lgtm", env("staging"), false)),
        ("/lgtm stage", entry("lgtm", env("staging"), false)),
        ("/approve prod-eu", entry("approve", env("prod-eu"), false)),
        (
            "/Approve PROD-US cancel",
            entry("approve", env("prod-us"), true),
        ),
        (
            "/verify staging",
            Command::Verify {
                word: "verify-stage".into(),
                env: env("staging"),
                cancel: false,
            },
        ),
        ("/rollback", Command::Rollback(env("prod-us"))),
        ("/rollback dev", Command::Rollback(env("dev"))),
        ("/retry dev", Command::Retry(env("dev"))),
    ];
    for (body, want) in cases {
        assert_eq!(super::parse_comment(body, &chain), vec![Ok(want)], "{body}");
    }
}

#[test]
fn a_word_of_several_stages_must_name_one() {
    let chain = four_stages();
    let parsed = super::parse_comment("/approve", &chain);
    let [Err(e)] = parsed.as_slice() else {
        panic!("{parsed:?}");
    };
    assert_eq!(
        e.reason,
        "`/approve` gates several stages (`prod-eu`, `prod-us`): name one, as in `/approve prod-eu`"
    );
    let parsed = super::parse_comment("/approve staging", &chain);
    assert!(matches!(parsed.as_slice(), [Err(_)]), "{parsed:?}");
}

#[test]
fn chain_errors_name_the_choices() {
    let chain = four_stages();
    for (body, reason) in [
        (
            "/verify dev",
            "dev has no verification step; `/verify staging` verifies staging",
        ),
        (
            "/retry",
            "`/retry` names the stage whose failed deploy to retry: `dev`, `staging`, `prod-eu` or `prod-us`",
        ),
        (
            "/rollback qa",
            "unknown environment `qa`; use `dev`, `staging`, `prod-eu` or `prod-us`",
        ),
        (
            "/lgtm prod-eu",
            "`/lgtm` takes only the stage it belongs to (`staging`) and `cancel`",
        ),
    ] {
        let parsed = super::parse_comment(body, &chain);
        assert!(
            matches!(parsed.as_slice(), [Err(e)] if e.reason == reason),
            "{body}: {parsed:?}"
        );
    }
}

#[test]
fn words_of_no_stage_are_left_to_other_bots() {
    let chain = crate::core::config::parse(
            "pipeline:\n  - { environment: dev, workflow: cd-dev.yml, entry: { command: ship, role: release } }\n",
        )
        .expect("parses")
        .pipeline;
    assert!(super::parse_comment("/approve\n/lgtm\n/deploy", &chain).is_empty());
    assert_eq!(
        super::parse_comment("/ship", &chain),
        vec![Ok(entry("ship", env("dev"), false))]
    );
    assert!(has_command_line("/deploy now"));
    assert!(!has_command_line("> /lgtm\n`/lgtm`\nplain text"));
}

#[test]
fn help_lists_the_chain_it_answers() {
    let help = help_text(&four_stages());
    for row in [
        "| `/lgtm` | qa |",
        "| `/approve prod-eu` | release |",
        "| `/approve prod-us cancel` | whoever gave it |",
        "| `/verify staging [cancel]` |",
        "| `/retry <environment>` |",
        "(`prod-us` when no environment is named)",
        "gatebot deploys the head commit to dev once CI is green",
        "once prod-eu has passed and 30m have passed since",
    ] {
        assert!(help.contains(row), "{row}\n{help}");
    }
    assert!(super::parse_comment(&help, &four_stages()).is_empty());
}

#[test]
fn help_text_lists_every_command() {
    let help = help_text(&RepoConfig::default().pipeline);
    for word in [
        "`/lgtm`",
        "`/lgtm cancel`",
        "`/verify-stage`",
        "`/verify-stage cancel`",
        "`/approve`",
        "`/approve cancel`",
        "`/rollback",
        "`/hold",
        "`/unhold`",
        "`/gates`",
        "`/help`",
    ] {
        assert!(help.contains(word), "{word}");
    }
    for role in ["qa", "release", "qa or release", "anyone"] {
        assert!(help.contains(&format!("| {role} |")), "{role}");
    }
    // The help text is markdown about commands, and none of it is one.
    assert!(parse_comment(&help).is_empty());
}

/// Characters that open a block a later line may continue (or turn
/// the line before into a heading): CommonMark's lazy continuation,
/// setext headings, tables, footnotes, link definitions.
const NOT_PLAIN: [char; 16] = [
    '`', '~', '<', '>', '-', '*', '+', '|', '[', '=', '\\', '_', '#', '.', ')', '\t',
];

/// Strings from an alphabet of markdown syntax and command words.
fn markdownish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "/",
        ">",
        "`",
        "```",
        "~",
        "~~~",
        "<!--",
        "-->",
        "<",
        "!",
        "-",
        " ",
        "   ",
        "\t",
        "\n",
        "\r\n",
        "\r",
        "lgtm",
        "LGTM",
        "approve",
        "cancel",
        "verify-stage",
        "rollback",
        "prod",
        "stage",
        "dev",
        "hold",
        "unhold",
        "gates",
        "help",
        "deploy",
        "x",
        "é",
        "🚀",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
}

/// Lines holding no line break.
fn single_lines() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![any::<String>(), markdownish()].prop_map(|s| s.replace(['\n', '\r'], "")),
        0..12,
    )
}

fn line_ending() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\n", "\r\n", "\r"])
}

proptest! {
    #[test]
    fn never_panics_on_any_string(body in any::<String>()) {
        let _ = parse_comment(&body);
    }

    #[test]
    fn never_panics_on_markdownish(body in markdownish()) {
        for result in parse_comment(&body) {
            match result {
                Ok(Command::Hold { reason: Some(r) }) => {
                    prop_assert!(!r.is_empty() && r.chars().count() <= 200);
                    prop_assert_eq!(r.trim(), r.as_str());
                }
                Ok(_) => {}
                Err(e) => prop_assert!(e.line.chars().count() <= 100),
            }
        }
    }

    #[test]
    fn at_most_one_command_per_line(body in markdownish()) {
        prop_assert!(parse_comment(&body).len() <= body.split(['\n', '\r']).count());
    }

    #[test]
    fn quoted_lines_hold_no_commands(
        lines in single_lines(),
        quote in prop::sample::select(vec![">", "> ", " > ", "   >", "> > "]),
        eol in line_ending(),
    ) {
        let body: Vec<String> = lines.iter().map(|l| format!("{quote}{l}")).collect();
        prop_assert!(parse_comment(&body.join(eol)).is_empty());
    }

    #[test]
    fn indented_lines_hold_no_commands(
        lines in single_lines(),
        indent in prop::sample::select(vec!["    ", "\t", "  \t", "      "]),
        eol in line_ending(),
    ) {
        let body: Vec<String> = lines.iter().map(|l| format!("{indent}{l}")).collect();
        prop_assert!(parse_comment(&body.join(eol)).is_empty());
    }

    /// An unclosed fence hides everything after it that cannot close it.
    #[test]
    fn unclosed_fence_hides_the_rest(
        before in "[a-z /\n]{0,40}",
        body in prop_oneof![any::<String>(), markdownish()],
        marker in prop::sample::select(vec!['`', '~']),
        len in 3usize..6,
    ) {
        let body = body.replace(marker, "");
        let fence = marker.to_string().repeat(len);
        let parsed = parse_comment(&format!("{before}\n{fence}\n{body}"));
        prop_assert_eq!(parsed, parse_comment(&before));
    }

    /// A fenced block hides its content, and commands after it count.
    #[test]
    fn closed_fence_hides_its_content(
        body in prop_oneof![any::<String>(), markdownish()],
        marker in prop::sample::select(vec!['`', '~']),
    ) {
        let body = body.replace(marker, "");
        let fence = marker.to_string().repeat(3);
        let parsed = parse_comment(&format!("{fence}\n{body}\n{fence}\n/approve cancel"));
        prop_assert_eq!(parsed, ok(&[entry("approve", Environment::production(), true)]));
    }

    /// A comment hides everything up to its end.
    #[test]
    fn html_comment_hides_its_content(body in prop_oneof![any::<String>(), markdownish()]) {
        let body = body.replace('>', "");
        let parsed = parse_comment(&format!("<!--\n{body}\n-->\n/gates"));
        prop_assert_eq!(parsed, ok(&[Command::Gates]));
    }

    /// `/lgtm` on its own line after text that opens no block it could
    /// continue (a fence, quote, comment, list, table, footnote, link
    /// definition or setext heading) is always found, and is the last
    /// item.
    #[test]
    fn trailing_lgtm_is_found(
        text in prop_oneof![any::<String>(), markdownish()],
        eol in line_ending(),
    ) {
        let text = text.replace(NOT_PLAIN, "");
        let parsed = parse_comment(&format!("{text}{eol}/lgtm"));
        prop_assert_eq!(parsed.last(), Some(&Ok(entry("lgtm", Environment::staging(), false))));
        prop_assert_eq!(parsed.len(), parse_comment(&text).len() + 1);
    }

    /// Without characters that open or continue a block, lines are
    /// independent: the commands of a concatenation are the
    /// concatenated commands.
    #[test]
    fn plain_lines_are_independent(
        a in prop_oneof![any::<String>(), markdownish()],
        b in prop_oneof![any::<String>(), markdownish()],
    ) {
        let a = a.replace(NOT_PLAIN, "");
        let b = b.replace(NOT_PLAIN, "");
        let mut expected = parse_comment(&a);
        expected.extend(parse_comment(&b));
        prop_assert_eq!(parse_comment(&format!("{a}\n{b}")), expected);
    }
}
