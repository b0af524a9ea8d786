//! Small domain types shared by the pure core and the adapters.
//!
//! They are parsed once at the edge ("parse, don't validate"): a `Sha` is
//! always 40 lowercase hex digits, a `RepoName` always `owner/name`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A deploy target gatebot dispatches workflows for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Staging,
    Production,
}

impl Environment {
    /// The value passed as the `environment` dispatch input.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// Parses the names users type: `stage`/`staging`, `prod`/`production`.
    pub fn parse_user(word: &str) -> Option<Self> {
        match word.to_ascii_lowercase().as_str() {
            "stage" | "staging" => Some(Environment::Staging),
            "prod" | "production" => Some(Environment::Production),
            _ => None,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A full 40-hex commit SHA, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a 40-hex commit SHA: {0:?}")]
pub struct InvalidSha(pub String);

impl Sha {
    pub fn parse(s: &str) -> Result<Self, InvalidSha> {
        if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Sha(s.to_ascii_lowercase()))
        } else {
            Err(InvalidSha(s.chars().take(64).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 7-character abbreviation shown to people.
    pub fn short(&self) -> &str {
        &self.0[..7]
    }
}

impl TryFrom<String> for Sha {
    type Error = InvalidSha;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Sha::parse(&s)
    }
}

impl From<Sha> for String {
    fn from(s: Sha) -> String {
        s.0
    }
}

impl fmt::Display for Sha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `owner/name` of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName {
    full: String,
    slash: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an OWNER/REPO name: {0:?}")]
pub struct InvalidRepoName(pub String);

impl RepoName {
    pub fn parse(s: &str) -> Result<Self, InvalidRepoName> {
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.len() <= 100
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        match s.split_once('/') {
            Some((o, n)) if valid_part(o) && valid_part(n) => Ok(RepoName {
                full: s.to_string(),
                slash: o.len(),
            }),
            _ => Err(InvalidRepoName(s.chars().take(200).collect())),
        }
    }
    pub fn owner(&self) -> &str {
        &self.full[..self.slash]
    }
    pub fn name(&self) -> &str {
        &self.full[self.slash + 1..]
    }
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

impl TryFrom<String> for RepoName {
    type Error = InvalidRepoName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RepoName::parse(&s)
    }
}

impl From<RepoName> for String {
    fn from(r: RepoName) -> String {
        r.full
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// Identifies one pull request: the unit gatebot keeps gate state for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrKey {
    pub repo: RepoName,
    pub number: u64,
}

impl fmt::Display for PrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.repo, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_accepts_only_40_hex() {
        assert!(Sha::parse(&"a".repeat(40)).is_ok());
        assert_eq!(
            Sha::parse(&"A".repeat(40)).unwrap().as_str(),
            "a".repeat(40)
        );
        assert!(Sha::parse(&"a".repeat(39)).is_err());
        assert!(Sha::parse(&"g".repeat(40)).is_err());
        assert!(Sha::parse("main").is_err());
    }

    #[test]
    fn repo_name_splits_owner_and_name() {
        let r = RepoName::parse("acme/widgets").unwrap();
        assert_eq!((r.owner(), r.name()), ("acme", "widgets"));
        for bad in ["acme", "/x", "x/", "a/b/c", "a b/c", ""] {
            assert!(RepoName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_user_names() {
        assert_eq!(
            Environment::parse_user("PROD"),
            Some(Environment::Production)
        );
        assert_eq!(Environment::parse_user("stage"), Some(Environment::Staging));
        assert_eq!(Environment::parse_user("dev"), None);
    }
}
