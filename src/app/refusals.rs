//! Remembers, for a short time, that a user without write access was read
//! as such, so that someone outside the team cannot spend the
//! installation's API budget (5,000 requests an hour) by posting gate
//! commands: each costs one permission read at most once a minute.
//!
//! Only refusals are remembered, and only of users whose collaborator
//! permission is below write (read, triage, none: they hold no role by
//! default). A grant is never remembered past the comment it was read for,
//! so a removal counts at the next command. The cost, written in
//! SECURITY.md: a user given write access right after a refused command
//! is refused for up to [`REFUSAL_TTL`] more.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::adapters::github::Permission;
use crate::core::domain::RepoName;

/// How long a refusal is remembered.
pub const REFUSAL_TTL: Duration = Duration::from_secs(60);
/// Entries kept before the oldest are forgotten.
const MAX_ENTRIES: usize = 4096;

pub struct Refusals {
    ttl: Duration,
    /// (repository, lowercased login) → the permission read, and when.
    read: Mutex<HashMap<(RepoName, String), (Instant, Permission)>>,
}

impl Refusals {
    pub fn new(ttl: Duration) -> Self {
        Refusals {
            ttl,
            read: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `login` was read, less than the TTL ago, with a permission
    /// below `min` (and below write): the answer is no without asking.
    pub fn refuses(&self, repo: &RepoName, login: &str, min: Permission) -> bool {
        let Ok(read) = self.read.lock() else {
            return false;
        };
        read.get(&(repo.clone(), login.to_ascii_lowercase()))
            .is_some_and(|(at, p)| at.elapsed() < self.ttl && *p < min)
    }

    /// Notes a permission just read from GitHub: kept if below write,
    /// otherwise any earlier note is dropped.
    pub fn note(&self, repo: &RepoName, login: &str, permission: Permission) {
        let Ok(mut read) = self.read.lock() else {
            return;
        };
        let key = (repo.clone(), login.to_ascii_lowercase());
        if permission >= Permission::Write || self.ttl.is_zero() {
            read.remove(&key);
            return;
        }
        if read.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            read.retain(|_, (at, _)| at.elapsed() < ttl);
            if read.len() >= MAX_ENTRIES {
                read.clear();
            }
        }
        read.insert(key, (Instant::now(), permission));
    }
}

impl Default for Refusals {
    fn default() -> Self {
        Refusals::new(REFUSAL_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoName {
        RepoName::parse("acme/widgets").unwrap()
    }

    #[test]
    fn a_read_only_user_is_refused_write_and_above_but_not_read() {
        let r = Refusals::default();
        assert!(
            !r.refuses(&repo(), "randy", Permission::Write),
            "nothing read yet"
        );
        r.note(&repo(), "Randy", Permission::Read);
        assert!(r.refuses(&repo(), "randy", Permission::Write));
        assert!(r.refuses(&repo(), "RANDY", Permission::Maintain));
        assert!(
            !r.refuses(&repo(), "randy", Permission::Read),
            "a grant is read again"
        );
        let other = RepoName::parse("acme/gadgets").unwrap();
        assert!(
            !r.refuses(&other, "randy", Permission::Write),
            "per repository"
        );
    }

    #[test]
    fn write_and_above_are_never_remembered() {
        let r = Refusals::default();
        r.note(&repo(), "quinn", Permission::Read);
        r.note(&repo(), "quinn", Permission::Write);
        assert!(
            !r.refuses(&repo(), "quinn", Permission::Maintain),
            "a writer asking for release is read again (they may just have been promoted)"
        );
    }

    #[test]
    fn a_refusal_is_forgotten_after_the_ttl() {
        let r = Refusals::new(Duration::ZERO);
        r.note(&repo(), "randy", Permission::None);
        assert!(!r.refuses(&repo(), "randy", Permission::Write));
    }

    #[test]
    fn it_stays_bounded() {
        let r = Refusals::default();
        for i in 0..(MAX_ENTRIES + 10) {
            r.note(&repo(), &format!("user{i}"), Permission::None);
        }
        assert!(r.read.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
