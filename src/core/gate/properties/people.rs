//! The fixed clock and SHAs of the property tests, the people who give
//! commands and the roles they hold.

use chrono::{DateTime, Utc};

use crate::core::config::Pipeline;
use crate::core::domain::{Person, Sha, UserId};
use crate::core::gate::Grant;
use crate::core::gate::commands::{Command, Role};

pub(super) fn t0() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().expect("fixed time")
}

/// One of the four SHAs of the case's `pr`th PR (the first PR's are
/// `aaaa…`, `bbbb…`, `cccc…`, `dddd…`; the others' are digits, so no two
/// PRs share a SHA).
pub(super) fn sha(pr: usize, i: u8) -> Sha {
    const DIGITS: [&[u8; 4]; 3] = [b"abcd", b"1234", b"5678"];
    let c = DIGITS[pr % 3][usize::from(i % 4)] as char;
    Sha::parse(&c.to_string().repeat(40)).expect("fixed sha")
}

/// Who gives a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Who {
    /// The PR author, who also holds both roles.
    Author,
    Qa,
    Qa2,
    Release,
    Release2,
    /// Holds both roles.
    Team,
    /// Read access only.
    Reader,
    /// No access at all.
    Outsider,
}

/// Everyone who may act.
pub(super) const ALL_WHO: [Who; 8] = [
    Who::Author,
    Who::Qa,
    Who::Qa2,
    Who::Release,
    Who::Release2,
    Who::Team,
    Who::Reader,
    Who::Outsider,
];

impl Who {
    pub(super) fn login(self) -> &'static str {
        match self {
            Who::Author => "alice",
            Who::Qa => "bob",
            Who::Qa2 => "dave",
            Who::Release => "carol",
            Who::Release2 => "erin",
            Who::Team => "frank",
            Who::Reader => "randy",
            Who::Outsider => "mallory",
        }
    }

    /// Whether they hold the role named `name` (`qa` or `release`).
    pub(super) fn holds_named(self, name: &str) -> bool {
        let (qa, release) = match self {
            Who::Author | Who::Team => (true, true),
            Who::Qa | Who::Qa2 => (true, false),
            Who::Release | Who::Release2 => (false, true),
            Who::Reader | Who::Outsider => (false, false),
        };
        match name {
            "qa" => qa,
            "release" => release,
            _ => false,
        }
    }

    /// Their GitHub identity.
    pub(super) fn person(self) -> Person {
        Person::test(self.login())
    }

    /// Who has the user id `id`, if anyone here does.
    pub(super) fn with_id(id: UserId) -> Option<Who> {
        ALL_WHO.into_iter().find(|w| w.person().id == id)
    }

    pub(super) fn holds(self, role: &Role) -> bool {
        match role {
            Role::Named(name) => self.holds_named(name),
            Role::AnyGate => self.holds_named("qa") || self.holds_named("release"),
            Role::AnyOf(names) => names.iter().any(|n| self.holds_named(n)),
            Role::Read => self != Who::Outsider,
        }
    }
}

/// The grant a command by someone who holds the roles `holds` says gets.
pub(super) fn grant(command: &Command, chain: &Pipeline, holds: impl Fn(&Role) -> bool) -> Grant {
    match command.required_role(chain) {
        Some(role) if !holds(&role) => Grant::Lacks(role),
        _ => Grant::Holds,
    }
}
