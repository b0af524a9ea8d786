//! Parses gatebot commands out of pull-request comment bodies.
//!
//! A command is a line that starts with `/word` (up to three spaces of
//! indentation allowed, as in markdown), one command per line. The scanner
//! understands just enough markdown to ignore what a reader would not take as
//! a command: block quotes, fenced and indented code blocks and HTML
//! comments. Words gatebot does not know (`/deploy`, `/cc`, `/assign`, …)
//! belong to other bots and are skipped silently; a known word with
//! arguments it does not take is reported back as [`NotUnderstood`].

use crate::domain::Environment;

/// Longest `/hold` reason kept, in characters.
const MAX_HOLD_REASON_CHARS: usize = 200;
/// Longest line echoed back in a [`NotUnderstood`], in characters.
const MAX_ECHOED_LINE_CHARS: usize = 100;
/// Longest user-typed word quoted inside an error reason, in characters.
const MAX_ECHOED_WORD_CHARS: usize = 40;

/// A command gatebot acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Lgtm,
    LgtmCancel,
    VerifyStage,
    VerifyStageCancel,
    Approve,
    ApproveCancel,
    /// `/rollback [prod|stage]`, Production when no argument is given.
    Rollback(Environment),
    /// `/hold [reason]`: the trimmed rest of the line, at most 200 characters.
    Hold {
        reason: Option<String>,
    },
    Unhold,
    Gates,
    Help,
}

impl Command {
    /// The command as people type it, without the slash (`"lgtm cancel"`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Lgtm => "lgtm",
            Command::LgtmCancel => "lgtm cancel",
            Command::VerifyStage => "verify-stage",
            Command::VerifyStageCancel => "verify-stage cancel",
            Command::Approve => "approve",
            Command::ApproveCancel => "approve cancel",
            Command::Rollback(_) => "rollback",
            Command::Hold { .. } => "hold",
            Command::Unhold => "unhold",
            Command::Gates => "gates",
            Command::Help => "help",
        }
    }
}

/// A line that starts with a gatebot command word but could not be parsed.
/// Its `Display` quotes the line safely (see [`crate::markdown::code_span`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", crate::markdown::code_span(.line))]
pub struct NotUnderstood {
    /// The offending line, trimmed, at most 100 characters.
    pub line: String,
    /// What is wrong with it, in words for the commenter.
    pub reason: String,
}

/// The reply to `/help`: every command, who may use it and what it does.
pub const HELP_TEXT: &str = "\
| Command | Who may use it | Effect |
| --- | --- | --- |
| `/lgtm` | qa | Sign off the head commit; gatebot deploys it to staging once CI is green |
| `/lgtm cancel` | whoever gave it | Withdraw your `/lgtm` before staging is dispatched |
| `/verify-stage` | qa | Confirm the head commit works on staging (runs the verify workflow when one is configured) |
| `/verify-stage cancel` | whoever gave it | Withdraw your verification before production is dispatched |
| `/verify stage [cancel]` | qa (cancel: whoever gave it) | The same as `/verify-stage` (and its cancel), naming the stage |
| `/approve` | release | Approve the production deploy; it starts once enough distinct approvals are in and every gate is green |
| `/approve cancel` | whoever gave it | Withdraw your approval before production is dispatched |
| `/rollback [prod or stage]` | release (prod), qa (stage) | Redeploy the previously deployed commit (`prod` when no environment is named) |
| `/hold [reason]` | qa or release | Stop gatebot dispatching anything for this pull request |
| `/unhold` | qa or release | Lift the hold |
| `/gates` | anyone | Show the state of every gate |
| `/help` | anyone | Show this table |

Put each command at the start of its own line; case does not matter. \
Lines in quotes, code blocks and HTML comments are ignored. \
The pull request's author cannot `/lgtm` or `/approve` it.
";

/// Every recognised command line of `body`, in order of appearance.
///
/// Lines starting with a `/word` gatebot does not know are left out.
pub fn parse_comment(body: &str) -> Vec<Result<Command, NotUnderstood>> {
    parse_comment_bounded(body, usize::MAX).0
}

/// The first `max` command lines of `body`, in order, and how many more
/// command lines it holds (counted, not kept: a comment of thousands of
/// lines costs one pass over its text).
pub fn parse_comment_bounded(
    body: &str,
    max: usize,
) -> (Vec<Result<Command, NotUnderstood>>, usize) {
    let mut state = State::Text;
    let mut kept = Vec::new();
    let mut more = 0;
    for line in lines(body) {
        if let Some(command) = state.scan_line(line) {
            if kept.len() < max {
                kept.push(command);
            } else {
                more += 1;
            }
        }
    }
    (kept, more)
}

/// The markdown context a line starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    /// Inside a fenced code block opened by `len` times `marker`.
    Fence {
        marker: char,
        len: usize,
    },
    /// Inside an HTML comment not closed yet.
    HtmlComment,
}

impl State {
    /// Advances over one line, returning the command it holds, if any.
    fn scan_line(&mut self, line: &str) -> Option<Result<Command, NotUnderstood>> {
        match *self {
            State::Fence { marker, len } => {
                if closes_fence(line, marker, len) {
                    *self = State::Text;
                }
                None
            }
            State::HtmlComment => {
                // The line starts inside the comment, so it cannot start with
                // a command; only find out whether the comment ends here.
                if let Some((_, after)) = line.split_once("-->") {
                    *self = State::Text;
                    self.scan_html(after);
                }
                None
            }
            State::Text => self.scan_text_line(line),
        }
    }

    fn scan_text_line(&mut self, line: &str) -> Option<Result<Command, NotUnderstood>> {
        // Indented code (4+ columns) and block quotes hold no commands, and
        // neither opens a fence or comment that outlives it.
        let rest = strip_indent(line)?;
        if rest.starts_with('>') {
            return None;
        }
        if let Some((marker, len)) = opening_fence(rest) {
            *self = State::Fence { marker, len };
            return None;
        }
        let Some(after_slash) = rest.strip_prefix('/') else {
            self.scan_html(rest);
            return None;
        };
        let word_end = after_slash
            .find(char::is_whitespace)
            .unwrap_or(after_slash.len());
        let (word, tail) = after_slash
            .split_at_checked(word_end)
            .unwrap_or((after_slash, ""));
        let Some(kind) = Kind::from_word(word) else {
            self.scan_html(rest);
            return None;
        };
        // Known words hold neither backticks nor `<`, so scanning the tail
        // alone gives the same comment state as scanning the whole line.
        let args = self.scan_html(tail);
        Some(
            kind.parse_args(args.trim())
                .map_err(|reason| NotUnderstood {
                    line: truncate_chars(format!("/{word}{args}").trim(), MAX_ECHOED_LINE_CHARS),
                    reason,
                }),
        )
    }

    /// Removes the HTML comments from `text`, which starts outside any,
    /// leaving `self` as `HtmlComment` when the last one is not closed.
    fn scan_html(&mut self, text: &str) -> String {
        let (visible, open) = strip_html_comments(text);
        if open {
            *self = State::HtmlComment;
        }
        visible
    }
}

/// The gatebot command words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lgtm,
    VerifyStage,
    Verify,
    Approve,
    Rollback,
    Hold,
    Unhold,
    Gates,
    Help,
}

impl Kind {
    fn from_word(word: &str) -> Option<Kind> {
        // ASCII-only lowercasing: a Unicode lookalike (the Kelvin sign
        // lowercases to `k`) must not become a command.
        Some(match word.to_ascii_lowercase().as_str() {
            "lgtm" => Kind::Lgtm,
            "verify-stage" => Kind::VerifyStage,
            "verify" => Kind::Verify,
            "approve" => Kind::Approve,
            "rollback" => Kind::Rollback,
            "hold" => Kind::Hold,
            "unhold" => Kind::Unhold,
            "gates" => Kind::Gates,
            "help" => Kind::Help,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Lgtm => "lgtm",
            Kind::VerifyStage => "verify-stage",
            Kind::Verify => "verify",
            Kind::Approve => "approve",
            Kind::Rollback => "rollback",
            Kind::Hold => "hold",
            Kind::Unhold => "unhold",
            Kind::Gates => "gates",
            Kind::Help => "help",
        }
    }

    /// Interprets the trimmed arguments; `Err` carries the reason.
    fn parse_args(self, args: &str) -> Result<Command, String> {
        // `/<word> [<env>] [cancel]`: naming the stage the word belongs to
        // is allowed (a chain where several stages share a word needs it).
        let cancelable = |plain: Command, cancel: Command, env: Option<Environment>| {
            let mut words = args.split_whitespace().peekable();
            if let (Some(env), Some(word)) = (env, words.peek())
                && Environment::parse_user(word) == Some(env)
            {
                words.next();
            }
            match (words.next(), words.next()) {
                (None, _) => Ok(plain),
                (Some(w), None) if w.eq_ignore_ascii_case("cancel") => Ok(cancel),
                _ => Err(match env {
                    Some(env) => format!(
                        "`/{}` takes only the stage it belongs to (`{}`) and `cancel`",
                        self.word(),
                        env.as_str()
                    ),
                    None => format!("`/{}` takes no argument except `cancel`", self.word()),
                }),
            }
        };
        let no_args = |command: Command| {
            if args.is_empty() {
                Ok(command)
            } else {
                Err(format!("`/{}` takes no arguments", self.word()))
            }
        };
        match self {
            Kind::Lgtm => cancelable(
                Command::Lgtm,
                Command::LgtmCancel,
                Some(Environment::Staging),
            ),
            Kind::VerifyStage => cancelable(Command::VerifyStage, Command::VerifyStageCancel, None),
            Kind::Approve => cancelable(
                Command::Approve,
                Command::ApproveCancel,
                Some(Environment::Production),
            ),
            Kind::Verify => parse_verify(args),
            Kind::Rollback => parse_rollback(args),
            Kind::Hold => {
                let reason = truncate_chars(args, MAX_HOLD_REASON_CHARS);
                let reason = reason.trim_end();
                Ok(Command::Hold {
                    reason: (!reason.is_empty()).then(|| reason.to_string()),
                })
            }
            Kind::Unhold => no_args(Command::Unhold),
            Kind::Gates => no_args(Command::Gates),
            Kind::Help => no_args(Command::Help),
        }
    }
}

/// `/verify <env> [cancel]`: the verification of the stage named. Every
/// chain answers it; in the two-stage chain only staging has one.
fn parse_verify(args: &str) -> Result<Command, String> {
    let mut words = args.split_whitespace();
    let usage = "`/verify` names the stage to verify: `/verify stage` (or `/verify stage cancel`)";
    let env = match words.next() {
        None => return Err(usage.into()),
        Some(word) => Environment::parse_user(word).ok_or_else(|| {
            format!(
                "unknown environment {}; use `stage`",
                crate::markdown::code_span(&truncate_chars(word, MAX_ECHOED_WORD_CHARS))
            )
        })?,
    };
    let cancel = match (words.next(), words.next()) {
        (None, _) => false,
        (Some(w), None) if w.eq_ignore_ascii_case("cancel") => true,
        _ => return Err(usage.into()),
    };
    match (env, cancel) {
        (Environment::Staging, false) => Ok(Command::VerifyStage),
        (Environment::Staging, true) => Ok(Command::VerifyStageCancel),
        (Environment::Production, _) => {
            Err("production has no verification step; `/verify stage` verifies staging".into())
        }
    }
}

fn parse_rollback(args: &str) -> Result<Command, String> {
    let mut words = args.split_whitespace();
    match (words.next(), words.next()) {
        (None, _) => Ok(Command::Rollback(Environment::Production)),
        (Some(env), None) => Environment::parse_user(env)
            .map(Command::Rollback)
            .ok_or_else(|| {
                format!(
                    "unknown environment {}; use `prod` or `stage`",
                    crate::markdown::code_span(&truncate_chars(env, MAX_ECHOED_WORD_CHARS))
                )
            }),
        (Some(_), Some(_)) => Err("`/rollback` takes one environment: `prod` or `stage`".into()),
    }
}

/// Splits at CommonMark line endings: `\n`, `\r\n` and a lone `\r`.
fn lines(body: &str) -> impl Iterator<Item = &str> {
    body.split('\n')
        .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'))
}

/// The line without its up-to-three-space indentation, or `None` when it is
/// indented four columns or more (an indented code line, or a blank line).
fn strip_indent(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(' ');
    let spaces = line.len() - rest.len();
    (spaces < 4 && !rest.starts_with('\t')).then_some(rest)
}

/// The marker and length of a code fence opened by `rest`, if it is one.
fn opening_fence(rest: &str) -> Option<(char, usize)> {
    let marker = rest.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let info = rest.trim_start_matches(marker);
    let len = rest.len() - info.len();
    // A backtick fence's info string cannot hold backticks: "```x```" is
    // inline code, not a fence.
    (len >= 3 && !(marker == '`' && info.contains('`'))).then_some((marker, len))
}

/// Whether `line` closes a fence opened by `len` times `marker`.
fn closes_fence(line: &str, marker: char, len: usize) -> bool {
    strip_indent(line).is_some_and(|rest| {
        let after = rest.trim_start_matches(marker);
        rest.len() - after.len() >= len && after.trim().is_empty()
    })
}

/// `text` (starting outside any comment) with its HTML comments removed, and
/// whether the last comment is still open at its end. Backtick code spans are
/// copied as they are: a `<!--` inside one opens no comment.
fn strip_html_comments(text: &str) -> (String, bool) {
    let mut visible = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['`', '<']) {
        let (before, from) = rest.split_at_checked(at).unwrap_or((rest, ""));
        visible.push_str(before);
        if from.starts_with("<!--") {
            // Searching from after `<!` lets `<!-->` close itself, as
            // CommonMark's comment rule does.
            match from.get(2..).and_then(|after| after.split_once("-->")) {
                Some((_, after)) => rest = after,
                None => return (visible, true),
            }
        } else {
            // A code span whose closing run is on this line, else the
            // backtick run (or the `<`) taken literally.
            let skip = code_span_len(from).unwrap_or_else(|| {
                let run = from.len() - from.trim_start_matches('`').len();
                run.max(1)
            });
            let (taken, after) = from.split_at_checked(skip).unwrap_or((from, ""));
            visible.push_str(taken);
            rest = after;
        }
    }
    visible.push_str(rest);
    (visible, false)
}

/// The byte length of the code span `from` starts with, when `from` starts
/// with a backtick run that a run of the same length closes later.
fn code_span_len(from: &str) -> Option<usize> {
    let body = from.trim_start_matches('`');
    let open = from.len() - body.len();
    if open == 0 {
        return None;
    }
    let mut offset = open;
    let mut rest = body;
    while let Some(at) = rest.find('`') {
        let (_, run_and_after) = rest.split_at_checked(at)?;
        let after = run_and_after.trim_start_matches('`');
        let run = run_and_after.len() - after.len();
        offset += at + run;
        if run == open {
            return Some(offset);
        }
        rest = after;
    }
    None
}

/// At most `max` characters of `s`, cut on a character boundary.
fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        use Environment::*;
        check(&[
            ("/lgtm", &[Lgtm]),
            ("/lgtm cancel", &[LgtmCancel]),
            ("/verify-stage", &[VerifyStage]),
            ("/verify-stage cancel", &[VerifyStageCancel]),
            ("/verify stage", &[VerifyStage]),
            ("/verify Staging", &[VerifyStage]),
            ("/verify stage cancel", &[VerifyStageCancel]),
            ("/approve", &[Approve]),
            ("/approve cancel", &[ApproveCancel]),
            ("/lgtm stage", &[Lgtm]),
            ("/lgtm Staging cancel", &[LgtmCancel]),
            ("/approve prod", &[Approve]),
            ("/approve production cancel", &[ApproveCancel]),
            ("/rollback", &[Rollback(Production)]),
            ("/rollback prod", &[Rollback(Production)]),
            ("/rollback production", &[Rollback(Production)]),
            ("/rollback stage", &[Rollback(Staging)]),
            ("/rollback staging", &[Rollback(Staging)]),
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
            ("/LGTM", &[Lgtm]),
            ("/Lgtm CANCEL", &[LgtmCancel]),
            ("/Approve Cancel", &[ApproveCancel]),
            ("/VERIFY-STAGE cAnCeL", &[VerifyStageCancel]),
            ("/RollBack STAGE", &[Rollback(Environment::Staging)]),
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
            (" /lgtm", &[Lgtm]),
            ("   /lgtm", &[Lgtm]),
            ("/lgtm   ", &[Lgtm]),
            ("/lgtm\t", &[Lgtm]),
            ("/lgtm\r", &[Lgtm]),
            ("/approve\tcancel", &[ApproveCancel]),
            ("/approve    cancel   ", &[ApproveCancel]),
            ("/rollback   stage  ", &[Rollback(Environment::Staging)]),
            ("/hold   spaced out   ", &[hold("spaced out")]),
            ("\n\n/gates\n\n", &[Gates]),
        ]);
    }

    #[test]
    fn command_must_start_the_line_and_end_the_word() {
        use Command::*;
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
            ("/lgtm\u{a0}", &[Lgtm]),
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
                &[Command::Lgtm, Command::Approve],
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
            ("> quoting you:\n> /approve\n/lgtm", &[Command::Lgtm]),
        ]);
    }

    #[test]
    fn fenced_code_blocks_are_skipped() {
        use Command::*;
        check(&[
            ("```\n/lgtm\n```", &[]),
            ("```\n/lgtm\n```\n/approve", &[Approve]),
            ("~~~\n/lgtm\n~~~\n/approve", &[Approve]),
            ("```text\n/lgtm\n```\n/approve", &[Approve]),
            ("  ```\n/lgtm\n   ```\n/approve", &[Approve]),
            // An unclosed fence runs to the end of the comment.
            ("```\n/lgtm\n/approve", &[]),
            ("/gates\n~~~\n/lgtm", &[Gates]),
            // The closing fence must use the same character ...
            ("```\n/lgtm\n~~~\n/approve", &[]),
            ("~~~\n/lgtm\n```\n/approve", &[]),
            // ... and be at least as long as the opening one.
            ("````\n```\n/lgtm\n````\n/approve", &[Approve]),
            ("````\n```\n/lgtm", &[]),
            ("```\n/lgtm\n`````\n/approve", &[Approve]),
            // A closing fence has nothing after it but whitespace.
            ("```\n```rust\n/lgtm\n```  \n/approve", &[Approve]),
            // Indented four spaces, a closing fence is just code text.
            ("```\n    ```\n/lgtm\n```\n/approve", &[Approve]),
            // Two backticks are inline code, not a fence.
            ("``\n/lgtm", &[Lgtm]),
            // Backticks in a backtick fence's info string: inline code.
            ("```x```\n/lgtm", &[Lgtm]),
            ("~~~ a`b\n/lgtm\n~~~\n/approve", &[Approve]),
            // Fences inside quotes or indented code open nothing here.
            ("> ```\n/lgtm", &[Lgtm]),
            ("    ```\n/lgtm", &[Lgtm]),
            ("```\r\n/lgtm\r\n```\r\n/approve\r\n", &[Approve]),
        ]);
    }

    #[test]
    fn indented_code_is_skipped() {
        check(&[
            ("    /lgtm", &[]),
            ("     /lgtm", &[]),
            ("\t/lgtm", &[]),
            ("  \t/lgtm", &[]),
            ("   /lgtm", &[Command::Lgtm]),
            ("    /lgtm\n/approve", &[Command::Approve]),
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
            ("<!--\n/lgtm\n-->\n/approve", &[Approve]),
            ("<!-- template\n/lgtm\n/approve\n-->\n/gates", &[Gates]),
            ("<!-- unclosed\n/lgtm\n/approve", &[]),
            ("text <!-- opens\n/lgtm\n--> closes\n/approve", &[Approve]),
            ("<!-- a -->/lgtm", &[]),
            ("<!-- a --> /lgtm", &[]),
            ("<!-- a --> <!-- b\n/lgtm\n-->\n/help", &[Help]),
            ("<!--\n-->\n<!--\n/lgtm\n-->\n/help", &[Help]),
            ("a --> b\n/lgtm", &[Lgtm]),
            ("<!-->\n/lgtm", &[Lgtm]),
            // Inside code, `<!--` opens no comment.
            ("```\n<!--\n```\n/lgtm", &[Lgtm]),
            ("use `<!--` for notes\n/lgtm", &[Lgtm]),
            ("    <!--\n/lgtm", &[Lgtm]),
            ("> <!--\n/lgtm", &[Lgtm]),
            // Inside a comment, fences mean nothing.
            ("<!--\n```\n-->\n/lgtm", &[Lgtm]),
            // Comments on a command line are not part of its arguments.
            ("/lgtm <!-- note -->", &[Lgtm]),
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
                "`/verify-stage` takes no argument except `cancel`",
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
                "unknown environment `dev`; use `prod` or `stage`",
            ),
            (
                "/verify",
                "`/verify` names the stage to verify: `/verify stage` (or `/verify stage cancel`)",
            ),
            ("/verify dev", "unknown environment `dev`; use `stage`"),
            (
                "/verify prod",
                "production has no verification step; `/verify stage` verifies staging",
            ),
            (
                "/verify stage now",
                "`/verify` names the stage to verify: `/verify stage` (or `/verify stage cancel`)",
            ),
            (
                "/verify stage cancel cancel",
                "`/verify` names the stage to verify: `/verify stage` (or `/verify stage cancel`)",
            ),
            (
                "/rollback cancel",
                "unknown environment `cancel`; use `prod` or `stage`",
            ),
            (
                "/rollback prod stage",
                "`/rollback` takes one environment: `prod` or `stage`",
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
            reason: "`/approve` takes only the stage it belongs to (`production`) and `cancel`"
                .into(),
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
                Lgtm,
                VerifyStage,
                hold("waiting for docs"),
                Rollback(Environment::Staging),
                ApproveCancel,
            ],
        )]);
        let parsed = parse_comment("/lgtm\n/approve now\n/gates");
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0], Ok(Lgtm));
        assert!(parsed[1].is_err());
        assert_eq!(parsed[2], Ok(Gates));
    }

    #[test]
    fn line_endings() {
        use Command::*;
        check(&[
            ("/lgtm\r\n/approve\r\n", &[Lgtm, Approve]),
            ("/hold because\r\n", &[hold("because")]),
            ("/lgtm\r/approve", &[Lgtm, Approve]),
            ("text\r\n> /lgtm\r\n/gates", &[Gates]),
            ("", &[]),
            ("\r\n\r\n", &[]),
        ]);
    }

    #[test]
    fn names() {
        use Command::*;
        let cases = [
            (Lgtm, "lgtm"),
            (LgtmCancel, "lgtm cancel"),
            (VerifyStage, "verify-stage"),
            (VerifyStageCancel, "verify-stage cancel"),
            (Approve, "approve"),
            (ApproveCancel, "approve cancel"),
            (Rollback(Environment::Staging), "rollback"),
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

    #[test]
    fn help_text_lists_every_command() {
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
            assert!(HELP_TEXT.contains(word), "{word}");
        }
        for role in ["qa", "release", "qa or release", "anyone"] {
            assert!(HELP_TEXT.contains(&format!("| {role} |")), "{role}");
        }
        // The help text is markdown about commands, and none of it is one.
        assert!(parse_comment(HELP_TEXT).is_empty());
    }

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
            prop_assert!(parse_comment(&body).len() <= lines(&body).count());
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
            prop_assert_eq!(parsed, ok(&[Command::ApproveCancel]));
        }

        /// A comment hides everything up to its end.
        #[test]
        fn html_comment_hides_its_content(body in prop_oneof![any::<String>(), markdownish()]) {
            let body = body.replace('>', "");
            let parsed = parse_comment(&format!("<!--\n{body}\n-->\n/gates"));
            prop_assert_eq!(parsed, ok(&[Command::Gates]));
        }

        /// `/lgtm` on its own line after text that opens no fence, quote or
        /// comment is always found, and is the last item.
        #[test]
        fn trailing_lgtm_is_found(
            text in prop_oneof![any::<String>(), markdownish()],
            eol in line_ending(),
        ) {
            let text = text.replace(['`', '~', '<', '>'], "");
            let parsed = parse_comment(&format!("{text}{eol}/lgtm"));
            prop_assert_eq!(parsed.last(), Some(&Ok(Command::Lgtm)));
            prop_assert_eq!(parsed.len(), parse_comment(&text).len() + 1);
        }

        /// Without fence or comment characters, lines are independent: the
        /// commands of a concatenation are the concatenated commands.
        #[test]
        fn plain_lines_are_independent(
            a in prop_oneof![any::<String>(), markdownish()],
            b in prop_oneof![any::<String>(), markdownish()],
        ) {
            let a = a.replace(['`', '~', '<'], "");
            let mut expected = parse_comment(&a);
            expected.extend(parse_comment(&b));
            prop_assert_eq!(parse_comment(&format!("{a}\n{b}")), expected);
        }
    }
}
