//! Small domain types shared by the pure core and the adapters.
//!
//! They are parsed once at the edge ("parse, don't validate"): a `Sha` is
//! always 40 lowercase hex digits, a `RepoName` always `owner/name`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether `b` may be part of an environment's name, and so of a dispatch
/// id: ASCII letters, digits, `.`, `_` and `-`. One alphabet for both, so
/// that every environment validation accepts makes a dispatch id that
/// [`DispatchId::parse`] reads back.
pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// The longest environment name (GitHub's own limit).
pub(crate) const MAX_ENVIRONMENT_LEN: usize = 255;

/// A deploy target gatebot dispatches workflows for: a stage's
/// `environment` in the repository's chain, as configured (see
/// [`is_name_byte`], at most [`MAX_ENVIRONMENT_LEN`]). It is the
/// `environment` dispatch input and the key of the environment's deploy
/// history.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Environment(String);

impl Environment {
    /// An environment named as the config names it.
    pub fn new(name: impl Into<String>) -> Self {
        Environment(name.into())
    }

    /// The two-stage chain's first environment.
    pub fn staging() -> Self {
        Environment::new("staging")
    }

    /// The two-stage chain's last environment.
    pub fn production() -> Self {
        Environment::new("production")
    }

    /// The value passed as the `environment` dispatch input.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` names it, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.0.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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

/// A GitHub account's numeric id (`user.id`, `sender.id`): who a person
/// is. A login is only a name: it can be changed, and a freed one taken by
/// someone else, so gatebot tells people apart by this id alone and keeps
/// logins for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A person as a delivery names them: the id that identifies them, and the
/// login they had then (lowercase), for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: UserId,
    pub login: String,
}

impl Person {
    pub fn new(id: u64, login: &str) -> Self {
        Person {
            id: UserId(id),
            login: login.to_ascii_lowercase(),
        }
    }
}

/// Unit tests name people by login; each login stands for one account, with
/// an id of its own derived from it.
#[cfg(test)]
impl Person {
    pub fn test(login: &str) -> Person {
        let lower = login.to_ascii_lowercase();
        let id = lower.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }) % 1_000_000_000
            + 1;
        Person::new(id, &lower)
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

/// The id gatebot gives a dispatch, passed as the `dispatch_id` input and
/// carried in the run's name: `<pr>-<label>-<sha7>-<seq>`, where `label` is
/// the environment (or `verify` for a verify run) and `seq` counts the PR's
/// dispatches. Built in [`DispatchId::new`] and read back in
/// [`DispatchId::parse`] and [`DispatchId::parts`], nowhere else. Stored ids
/// are never re-validated: whatever an earlier version wrote still loads
/// and is still matched exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DispatchId(String);

const _: () = assert!(DispatchId::MAX_LEN >= 20 + MAX_ENVIRONMENT_LEN + 7 + 10 + 3);

/// The fields of a [`DispatchId`] in today's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchIdParts<'a> {
    pub pr: u64,
    pub label: &'a str,
    pub sha7: &'a str,
    pub seq: u32,
}

impl DispatchId {
    /// The longest id accepted from a run name (and by the workflow
    /// templates' check of the input): room for a PR number (20 digits),
    /// the longest environment, a SHA's 7 and a sequence number (10), with
    /// their three dashes.
    pub const MAX_LEN: usize = 300;

    pub fn new(pr: u64, label: &str, sha: &Sha, seq: u32) -> Self {
        DispatchId(format!("{pr}-{label}-{}-{seq}", sha.short()))
    }

    /// An id as it appears in a run name, a protection-rule callback or
    /// gatebot's CLI: the bytes of environment names ([`is_name_byte`]), at
    /// most [`Self::MAX_LEN`]. Any id of that shape is accepted (the store
    /// is asked for it exactly), so ids of every earlier format are still
    /// matched.
    pub fn parse(s: &str) -> Option<DispatchId> {
        let valid = !s.is_empty() && s.len() <= Self::MAX_LEN && s.bytes().all(is_name_byte);
        valid.then(|| DispatchId(s.to_string()))
    }

    /// Its fields, read from the right so that a label may hold `-`
    /// (`prod-eu`); `None` for an id of another shape.
    pub fn parts(&self) -> Option<DispatchIdParts<'_>> {
        let (rest, seq) = self.0.rsplit_once('-')?;
        let (rest, sha7) = rest.rsplit_once('-')?;
        let (pr, label) = rest.split_once('-')?;
        let hex7 = sha7.len() == 7 && sha7.bytes().all(|b| b.is_ascii_hexdigit());
        (hex7 && !label.is_empty()).then_some(())?;
        Some(DispatchIdParts {
            pr: pr.parse().ok()?,
            label,
            sha7,
            seq: seq.parse().ok()?,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DispatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Unit tests write ids as literals.
#[cfg(test)]
impl From<&str> for DispatchId {
    fn from(s: &str) -> Self {
        DispatchId(s.to_string())
    }
}

impl PartialEq<&str> for DispatchId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
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
    fn environments_serialize_as_the_plain_names_records_already_hold() {
        let json = serde_json::to_string(&Environment::production()).unwrap();
        assert_eq!(json, "\"production\"");
        let back: Environment = serde_json::from_str("\"prod-eu\"").unwrap();
        assert_eq!(back, Environment::new("prod-eu"));
        assert!(Environment::staging().is("STAGING"));
    }

    #[test]
    fn dispatch_ids_are_built_and_read_in_one_place() {
        let sha = Sha::parse(&"0d1a26e".repeat(6)[..40]).unwrap();
        let id = DispatchId::new(42, "production", &sha, 3);
        assert_eq!(id.as_str(), "42-production-0d1a26e-3");
        assert_eq!(DispatchId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(
            id.parts(),
            Some(DispatchIdParts {
                pr: 42,
                label: "production",
                sha7: "0d1a26e",
                seq: 3
            })
        );
        let eu = DispatchId::new(7, "prod-eu", &sha, 12);
        assert_eq!(eu.parts().map(|p| p.label), Some("prod-eu"));
    }

    #[test]
    fn any_id_shape_is_matched_but_only_todays_has_parts() {
        let old = DispatchId::parse("legacy-id").expect("a plain token is accepted");
        assert_eq!(old.parts(), None);
        for bad in [
            "",
            "a b",
            "x[1]",
            "42-production-0d1a26e-3]",
            "42-prod/eu-0d1a26e-3",
            &"a".repeat(DispatchId::MAX_LEN + 1),
        ] {
            assert_eq!(DispatchId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(DispatchId::parse("42-x-nothex!-1"), None);
        assert_eq!(
            DispatchId::parse("42-x-zzzzzzz-1").and_then(|d| d.parts().map(|_| ())),
            None
        );
    }

    #[test]
    fn an_environment_with_dots_and_underscores_makes_an_id_that_parses() {
        // The attack: `environment: prod_eu` made ids the protection rule
        // could not read back, so gatebot rejected its own run.
        let sha = Sha::parse(&"0d1a26e".repeat(6)[..40]).unwrap();
        let id = DispatchId::new(42, "prod_eu.v2", &sha, 7);
        assert_eq!(DispatchId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.parts().map(|p| p.label), Some("prod_eu.v2"));
    }

    proptest::proptest! {
        /// Every environment name the config accepts makes, with any PR,
        /// SHA and sequence number, an id that parses back to its parts.
        #[test]
        fn every_valid_environment_makes_a_readable_id(
            env in "[A-Za-z0-9._-]{1,255}",
            pr in proptest::prelude::any::<u64>(),
            seq in proptest::prelude::any::<u32>(),
            sha in "[0-9a-f]{40}",
        ) {
            let yaml = format!("pipeline:\n  - {{environment: \"{env}\", workflow: d.yml, entry: auto}}\n");
            proptest::prop_assume!(crate::core::config::parse(&yaml).is_ok());
            let sha = Sha::parse(&sha).unwrap();
            let id = DispatchId::new(pr, &env, &sha, seq);
            proptest::prop_assert_eq!(DispatchId::parse(id.as_str()), Some(id.clone()));
            let parts = id.parts().expect("today's shape");
            proptest::prop_assert_eq!(parts.label, env.as_str());
            proptest::prop_assert_eq!((parts.pr, parts.seq), (pr, seq));
            let title = format!("{env} {sha} [{id}]");
            proptest::prop_assert_eq!(crate::core::run_identity::dispatch_id_in_title(&title), Some(id));
        }
    }

    #[test]
    fn stored_ids_load_whatever_their_shape() {
        let id: DispatchId = serde_json::from_str("\"anything at all\"").unwrap();
        assert_eq!(id, "anything at all");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"anything at all\"");
    }
}
