//! Reads `.github/gatebot.yml` from the repository's default branch (never
//! from a PR head) and caches the result per repository for a short time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::adapters::github::{GhResult, GitHub, RepoRef};
use crate::core::config::{self, CONFIG_PATH, RepoConfig};
use crate::core::domain::RepoName;

/// A repository's configuration, or why it is unusable (reported on the
/// check run; commands are refused while it is).
pub(crate) type LoadedConfig = Result<RepoConfig, String>;

/// One repository's file as read: when, what it says, and its text.
type Entry = (Instant, LoadedConfig, Option<String>);

pub struct ConfigCache {
    ttl: Duration,
    entries: Mutex<HashMap<(RepoName, String), Entry>>,
}

impl ConfigCache {
    pub fn new(ttl: Duration) -> Self {
        ConfigCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The config on `default_branch`; a missing file means defaults.
    pub async fn get(
        &self,
        gh: &dyn GitHub,
        repo: &RepoRef,
        default_branch: &str,
    ) -> GhResult<LoadedConfig> {
        Ok(self.entry(gh, repo, default_branch).await?.1)
    }

    /// The file's text on `default_branch` (`None`: there is none), as
    /// [`Self::get`] read it.
    pub async fn text(
        &self,
        gh: &dyn GitHub,
        repo: &RepoRef,
        default_branch: &str,
    ) -> GhResult<Option<String>> {
        Ok(self.entry(gh, repo, default_branch).await?.2)
    }

    async fn entry(
        &self,
        gh: &dyn GitHub,
        repo: &RepoRef,
        default_branch: &str,
    ) -> GhResult<Entry> {
        let key = (repo.name.clone(), default_branch.to_string());
        if let Ok(entries) = self.entries.lock()
            && let Some(entry) = entries.get(&key)
            && entry.0.elapsed() < self.ttl
        {
            return Ok(entry.clone());
        }
        let text = gh.file(repo, CONFIG_PATH, default_branch).await?;
        let loaded = match &text {
            None => Ok(RepoConfig::default()),
            Some(text) => Self::resolve(gh, repo, text).await?,
        }
        // Bounded: the reason is stored in the PR's record and quoted in
        // replies.
        .map_err(|e| e.chars().take(500).collect());
        let entry = (Instant::now(), loaded, text);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, entry.clone());
        }
        Ok(entry)
    }

    /// The repository's file `text`, on its organisation's defaults when
    /// it says `extends: org` (read from the default branch of the
    /// organisation's `.github` repository, as a server and the PR's
    /// config check both read it).
    pub(crate) async fn resolve(
        gh: &dyn GitHub,
        repo: &RepoRef,
        text: &str,
    ) -> GhResult<Result<RepoConfig, String>> {
        let parsed = match config::extends(text) {
            Err(e) => Err(e),
            Ok(config::Extends::Nothing) => config::parse(text),
            Ok(config::Extends::Org) => {
                let owner = repo.name.owner();
                let org_repo = RepoRef {
                    name: RepoName::parse(&format!("{owner}/{}", config::ORG_REPO))
                        .map_err(|e| crate::adapters::github::GitHubError::Decode(e.to_string()))?,
                    installation: repo.installation,
                };
                let org_text = gh.default_branch_file(&org_repo, CONFIG_PATH).await?;
                config::parse_extended(text, org_text.as_deref(), owner)
            }
        };
        Ok(parsed.map_err(|e| e.to_string()))
    }
}
