//! Parses gatebot commands out of pull-request comment bodies.
//!
//! A command is a line that starts with `/word`, one command per line,
//! found by reading the comment as GitHub renders it (`lines.rs`): a line
//! of a top-level paragraph, not in a quote, a list, code or HTML. Each
//! word goes to its command's parser: a built-in word
//! ([`crate::core::config::BuiltIn`]) or a word of the chain's gates.
//! Words gatebot does not know (`/deploy`, `/cc`, `/assign`, …) belong to
//! other bots and are skipped silently; a known word with arguments it
//! does not take is reported back as [`NotUnderstood`].

use super::args::{ArgError, truncate_chars};
use super::command::Command;
use super::entry::parse_gate;
use super::hold::parse_hold;
use super::lines::command_lines;
use super::lock::{parse_lock, parse_unlock};
use super::retry::parse_retry;
use super::rollback::parse_rollback;
use super::verify::parse_verify;
use crate::core::config::{BuiltIn, Pipeline};

/// Longest line echoed back in a [`NotUnderstood`], in characters.
const MAX_ECHOED_LINE_CHARS: usize = 100;

/// A line that starts with a gatebot command word but could not be parsed.
/// Its `Display` quotes the line safely (see [`crate::core::markdown::code_span`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", crate::core::markdown::code_span(.line))]
pub struct NotUnderstood {
    /// The offending line, trimmed, at most 100 characters.
    pub line: String,
    /// What is wrong with it, in words for the commenter.
    pub reason: String,
}

/// Every recognised command line of `body`, in order of appearance,
/// resolved against `chain`.
///
/// Lines starting with a `/word` neither gatebot nor the chain knows are
/// left out.
pub fn parse_comment(body: &str, chain: &Pipeline) -> Vec<Result<Command, NotUnderstood>> {
    parse_comment_bounded(body, usize::MAX, chain).0
}

/// The first `max` command lines of `body`, in order, and how many more
/// command lines it holds (counted, not kept: a comment of thousands of
/// lines costs one pass over its text).
pub(crate) fn parse_comment_bounded(
    body: &str,
    max: usize,
    chain: &Pipeline,
) -> (Vec<Result<Command, NotUnderstood>>, usize) {
    let mut kept = Vec::new();
    let mut more = 0;
    for line in command_lines(body) {
        let Some(word) = Word::of(&line.word, chain) else {
            continue;
        };
        if kept.len() < max {
            kept.push(
                word.parse_args(line.args.trim(), chain)
                    .map_err(|reason| NotUnderstood {
                        line: truncate_chars(
                            format!("/{}{}", line.typed, line.args).trim(),
                            MAX_ECHOED_LINE_CHARS,
                        ),
                        reason,
                    }),
            );
        } else {
            more += 1;
        }
    }
    (kept, more)
}

/// Whether `body` has a line a reader would take as a `/word` command
/// (any word: whether gatebot knows it depends on the repository's chain).
pub(crate) fn has_command_line(body: &str) -> bool {
    command_lines(body).next().is_some()
}

/// What a command word is, in this chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word<'w> {
    /// A word of the chain's entry or verify gates.
    Gate(&'w str),
    BuiltIn(BuiltIn),
}

impl<'w> Word<'w> {
    /// Built-in words first: no stage may take one (the config refuses it).
    fn of(word: &'w str, chain: &Pipeline) -> Option<Word<'w>> {
        match BuiltIn::parse(word) {
            Some(b) => Some(Word::BuiltIn(b)),
            None => chain.has_word(word).then_some(Word::Gate(word)),
        }
    }

    /// Hands the trimmed arguments to the command's parser; `Err` carries
    /// the reason.
    fn parse_args(self, args: &str, chain: &Pipeline) -> Result<Command, ArgError> {
        let no_args = |b: BuiltIn, command: Command| {
            if args.is_empty() {
                Ok(command)
            } else {
                Err(format!("`/{}` takes no arguments", b.word()))
            }
        };
        match self {
            Word::Gate(word) => parse_gate(word, args, chain),
            Word::BuiltIn(b) => match b {
                BuiltIn::Verify => parse_verify(args, chain),
                BuiltIn::Rollback => parse_rollback(args, chain),
                BuiltIn::Retry => parse_retry(args, chain),
                BuiltIn::Hold => parse_hold(args),
                BuiltIn::Unhold => no_args(b, Command::Unhold),
                BuiltIn::Lock => parse_lock(args, chain),
                BuiltIn::Unlock => parse_unlock(args, chain),
                BuiltIn::Gates => no_args(b, Command::Gates),
                BuiltIn::Envs => no_args(b, Command::Envs),
                BuiltIn::Help => no_args(b, Command::Help),
            },
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
