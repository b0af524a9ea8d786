//! What the commands' parsers and handlers share: the words people type
//! about stages, and how long an echo of them may be.

use crate::core::config::{Pipeline, StageConfig};
use crate::core::domain::Environment;
use crate::core::gate::refusals::Refusal;

/// Longest `/hold` reason kept, in characters.
pub(super) const MAX_HOLD_REASON_CHARS: usize = 200;
/// Longest user-typed word quoted inside an error reason, in characters.
pub(super) const MAX_ECHOED_WORD_CHARS: usize = 40;

/// Why a command's arguments did not parse, in words for the commenter.
pub(super) type ArgError = String;

/// The environment of the stage `word` names, or why it names none.
pub(super) fn named_stage(word: &str, chain: &Pipeline) -> Result<Environment, ArgError> {
    chain
        .named(word)
        .map(|i| chain.stages[i].environment.clone())
        .ok_or_else(|| {
            format!(
                "unknown environment {}; use {}",
                crate::core::markdown::code_span(&truncate_chars(word, MAX_ECHOED_WORD_CHARS)),
                one_of(&environments(chain))
            )
        })
}

pub(super) fn environments(chain: &Pipeline) -> Vec<&str> {
    chain
        .stages
        .iter()
        .map(|s| s.environment.as_str())
        .collect()
}

/// "`a`", "`a` or `b`", "`a`, `b` or `c`".
pub(super) fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => "a stage of the chain".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// At most `max` characters of `s`, cut on a character boundary.
pub(super) fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The stage deploying to `env`, with its position in the chain.
pub(super) fn stage_of<'c>(
    chain: &'c Pipeline,
    env: &Environment,
) -> Result<(usize, &'c StageConfig), Refusal> {
    chain
        .find(env)
        .ok_or_else(|| Refusal::NotInChain(env.clone()))
}
