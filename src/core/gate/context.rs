//! What a fact is judged under: the repository's config, the clock, the
//! margin allowed between GitHub's clock and gatebot's, and — right before
//! a dispatch — who holds the stage's role now, and what runs in each
//! environment.

use chrono::{DateTime, Duration, Utc};

use super::occupancy::Environments;
use crate::core::config::{Pipeline, RepoConfig};
use crate::core::domain::UserId;

/// The default [`Context::clock_skew`]: GitHub's and gatebot's clocks are
/// NTP-synchronised, well within this.
pub const CLOCK_SKEW: Duration = Duration::seconds(2);

/// The repository's config and the clock at the moment of a fact.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a RepoConfig,
    pub now: DateTime<Utc>,
    /// How far GitHub's clock (`comment.created_at`) and gatebot's may
    /// disagree. A gate command must be written at least this long after
    /// gatebot learned of the head: within the margin gatebot cannot tell
    /// which came first, and it does not guess in the command's favour.
    pub clock_skew: Duration,
    /// Who, of the people whose entry commands a dispatch rests on, holds
    /// the stage's role *now*, resolved from GitHub right before the
    /// dispatch is sent (or its deployment approved). `None` where nothing
    /// was resolved: each command then counts with the role it was given
    /// with.
    pub holders: Option<&'a [UserId]>,
    /// What runs where, for every PR of the repository, as read with the
    /// PR's record (none read: every environment is free).
    pub environments: &'a Environments,
}

impl<'a> Context<'a> {
    /// The context gatebot runs with: [`CLOCK_SKEW`], no role resolved.
    pub fn new(config: &'a RepoConfig, now: DateTime<Utc>) -> Self {
        Context {
            config,
            now,
            clock_skew: CLOCK_SKEW,
            holders: None,
            environments: Environments::none(),
        }
    }

    /// The repository's chain of stages.
    pub fn chain(&self) -> &'a Pipeline {
        &self.config.pipeline
    }
}
