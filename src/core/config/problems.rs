//! Everything wrong with a `.github/gatebot.yml`, each [`Problem`] with
//! the key it is about and where that key is in the file, for
//! `gatebot check-config` and the "gatebot config" check run.

use std::fmt;

use serde_yaml_ng::{Mapping, Value};

use super::RawConfig;
use super::positions::{Position, positions};

/// One thing wrong with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The key path it is about (`pipeline[1].soak`), where known.
    pub(crate) key: Option<String>,
    /// What is wrong, naming the key, as gatebot's replies say it.
    pub(crate) message: String,
    /// Where the key is (line and column from 1), where known.
    pub(crate) at: Option<Position>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, column)) => write!(f, "line {line}, column {column}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The key path a message starts with: `pipeline[0].soak: …`,
/// `approvals.prod must …`.
fn leading_key(message: &str) -> Option<&str> {
    let end = message
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']')))
        .unwrap_or(message.len());
    let key = &message[..end];
    (!key.is_empty() && message[end..].starts_with([':', ' '])).then_some(key)
}

/// The nearest key of `key` the file has: the key itself, else its parent.
fn nearest(index: &std::collections::BTreeMap<String, Position>, key: &str) -> Option<Position> {
    let mut k = key;
    loop {
        if let Some(at) = index.get(k) {
            return Some(*at);
        }
        let cut = k.rfind(['.', '['])?;
        k = &k[..cut];
    }
}

/// Problems from the checks' messages, each placed at its key.
pub(super) fn locate(yaml: &str, messages: Vec<String>) -> Vec<Problem> {
    let index = positions(yaml);
    messages
        .into_iter()
        .map(|message| {
            let key = leading_key(&message).map(str::to_string);
            let at = key.as_deref().and_then(|k| nearest(&index, k));
            Problem { key, message, at }
        })
        .collect()
}

/// The problems of a file serde could not read: each top-level key, and
/// each stage of `pipeline:`, read on its own, so that one mistake does
/// not hide the next. `first` (serde's error for the whole file) stands
/// when no single key shows one (a YAML syntax error, a file that is not
/// a mapping).
pub(super) fn unreadable(yaml: &str, first: serde_yaml_ng::Error) -> Vec<Problem> {
    let whole = || {
        vec![Problem {
            key: None,
            message: first.to_string(),
            at: first.location().map(|l| (l.line(), l.column())),
        }]
    };
    let Ok(Value::Mapping(top)) = serde_yaml_ng::from_str::<Value>(yaml) else {
        return whole();
    };
    let mut messages = Vec::new();
    let read = |key: &str, value: Value, name: String| {
        let mut one = Mapping::new();
        one.insert(Value::String(key.to_string()), value);
        serde_yaml_ng::from_value::<RawConfig>(Value::Mapping(one))
            .err()
            .map(|e| format!("{name}: {e}"))
    };
    for (key, value) in top {
        let Value::String(key) = key else {
            messages.push(format!("a key must be a string, not {key:?}"));
            continue;
        };
        match value {
            Value::Sequence(stages) if key == "pipeline" => {
                for (i, stage) in stages.into_iter().enumerate() {
                    messages.extend(read(
                        &key,
                        Value::Sequence(vec![stage]),
                        format!("pipeline[{i}]"),
                    ));
                }
            }
            value => messages.extend(read(&key, value, key.clone())),
        }
    }
    if messages.is_empty() {
        return whole();
    }
    locate(yaml, messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::check;

    fn problems(yaml: &str) -> Vec<(Option<String>, Option<Position>)> {
        match check(yaml) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(p) => p.into_iter().map(|p| (p.key, p.at)).collect(),
        }
    }

    #[test]
    fn every_problem_is_named_with_its_key_and_line() {
        let yaml = "roles:\n  qa: [not a login!]\npipeline:\n  - environment: staging\n    workflow: cd stage.yml\n    entry: { command: lgtm, role: qa }\n    soak: 1x\n  - environment: production\n    workflow: cd-prod.yml\n    entry: { command: approve, role: nobody }\n";
        let found = problems(yaml);
        let keys: Vec<&str> = found.iter().filter_map(|(k, _)| k.as_deref()).collect();
        assert_eq!(
            keys,
            [
                "roles.qa[0]",
                "pipeline[0].workflow",
                "pipeline[0].soak",
                "pipeline[1].entry.role"
            ]
        );
        let lines: Vec<usize> = found.iter().filter_map(|(_, at)| at.map(|a| a.0)).collect();
        assert_eq!(lines, [2, 5, 7, 10]);
    }

    #[test]
    fn every_key_serde_cannot_read_is_named() {
        let yaml = "pipeline:\n  - environment: staging\n    workflow: cd-stage.yml\n    sok: 1h\n  - environment: production\n    workflow: cd-prod.yml\n    lokc: true\nunknown_key: 1\n";
        let found = problems(yaml);
        let keys: Vec<&str> = found.iter().filter_map(|(k, _)| k.as_deref()).collect();
        assert_eq!(keys, ["pipeline[0]", "pipeline[1]", "unknown_key"]);
        let lines: Vec<usize> = found.iter().filter_map(|(_, at)| at.map(|a| a.0)).collect();
        assert_eq!(lines, [2, 5, 8]);
    }

    #[test]
    fn a_syntax_error_is_one_problem_with_serdes_place() {
        let found = problems("pipeline: [\n");
        assert_eq!(found.len(), 1);
        assert!(found[0].1.is_some());
    }

    #[test]
    fn parse_says_the_first_problem_check_names() {
        let yaml = "approvals: {prod: 0}\nrequired_checks: [\"\"]\n";
        let all = check(yaml).expect_err("two problems");
        assert_eq!(all.len(), 2);
        let first = crate::core::config::parse(yaml).expect_err("invalid");
        assert!(first.to_string().contains(&all[0].message));
    }

    #[test]
    fn a_message_names_its_key() {
        assert_eq!(
            leading_key("pipeline[0].soak: `1x` is not"),
            Some("pipeline[0].soak")
        );
        assert_eq!(
            leading_key("approvals.prod must be between"),
            Some("approvals.prod")
        );
        assert_eq!(leading_key("`x` is wrong"), None);
    }
}
