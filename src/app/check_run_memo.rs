//! What this process already knows of gatebot's check runs, so that it does
//! not ask GitHub twice for the same thing (see BENCHMARKS.md, "API
//! economy"). Both parts are in memory only, bounded, and a miss costs one
//! call, never a wrong answer.
//!
//! * **Syncs performed.** Each state change queues a check-run update
//!   ([`crate::core::gate::Action::SyncCheckRun`]), and an update renders the
//!   state as it is when it runs. Action ids grow with each one queued on
//!   a PR's record (records are never deleted), so an update that
//!   completed with id `n` rendered a state at least as new as any update
//!   queued before it: those are covered and are not sent again. This is
//!   what makes a dispatching delivery one check-run update instead of
//!   two (the dispatch's own transition queues and performs a newer one).
//! * **A head just listed.** Reading CI for a head lists its check runs,
//!   gatebot's own among them. The check-run update that follows in the
//!   same delivery uses that listing, if it is at most [`LISTING_TTL`] old,
//!   instead of listing again. Each listing is used once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::core::domain::{PrKey, RepoName, Sha};
use crate::core::gate::ci::CheckRunInfo;

/// How long a listing may stand in for a new one: the time one delivery
/// takes from reading CI to updating the check run, with room to spare.
pub(crate) const LISTING_TTL: Duration = Duration::from_secs(2);
/// Entries kept before the memo starts again from empty.
const MAX_ENTRIES: usize = 4096;

/// gatebot's own check runs on one head, as listed at one time.
struct Listing {
    at: Instant,
    own: Vec<u64>,
}

#[derive(Default)]
pub struct CheckRunMemo {
    /// Per PR, the newest check-run update this process completed.
    synced: Mutex<HashMap<PrKey, u64>>,
    /// Per head, gatebot's own check runs (by id) as listed, and when.
    listed: Mutex<HashMap<(RepoName, Sha), Listing>>,
}

impl CheckRunMemo {
    /// Whether a check-run update completed by this process after action
    /// `id` was queued (a higher id) covers it.
    pub fn covered(&self, pr: &PrKey, id: u64) -> bool {
        self.synced
            .lock()
            .map(|m| m.get(pr).is_some_and(|newest| *newest > id))
            .unwrap_or(false)
    }

    /// Notes that the update `id` of `pr` completed.
    pub fn synced(&self, pr: &PrKey, id: u64) {
        if let Ok(mut m) = self.synced.lock() {
            if m.len() >= MAX_ENTRIES && !m.contains_key(pr) {
                m.clear();
            }
            let newest = m.entry(pr.clone()).or_insert(id);
            *newest = (*newest).max(id);
        }
    }

    /// Keeps the ids of gatebot's own check runs in a listing of `sha`.
    pub fn listed(&self, repo: &RepoName, sha: &Sha, runs: &[CheckRunInfo], own_app: Option<u64>) {
        let own = runs
            .iter()
            .filter(|r| r.is_gatebots(own_app))
            .map(|r| r.id)
            .collect();
        if let Ok(mut m) = self.listed.lock() {
            if m.len() >= MAX_ENTRIES {
                m.retain(|_, l| l.at.elapsed() < LISTING_TTL);
            }
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(
                (repo.clone(), sha.clone()),
                Listing {
                    at: Instant::now(),
                    own,
                },
            );
        }
    }

    /// gatebot's own check runs on `sha` from a listing at most
    /// [`LISTING_TTL`] old, taken so that it serves once; `None`: list.
    pub fn take_listing(&self, repo: &RepoName, sha: &Sha) -> Option<Vec<u64>> {
        let mut m = self.listed.lock().ok()?;
        let l = m.remove(&(repo.clone(), sha.clone()))?;
        (l.at.elapsed() < LISTING_TTL).then_some(l.own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr(n: u64) -> PrKey {
        PrKey {
            repo: RepoName::parse("acme/widgets").unwrap(),
            number: n,
        }
    }

    fn run(id: u64, name: &str, app: u64) -> CheckRunInfo {
        CheckRunInfo {
            id,
            name: name.into(),
            status: "completed".into(),
            conclusion: Some("success".into()),
            app_id: Some(app),
            app_slug: None,
        }
    }

    #[test]
    fn only_an_older_update_is_covered() {
        let m = CheckRunMemo::default();
        assert!(!m.covered(&pr(1), 3), "nothing performed yet");
        m.synced(&pr(1), 5);
        assert!(m.covered(&pr(1), 3));
        assert!(!m.covered(&pr(1), 5), "not by itself");
        assert!(!m.covered(&pr(1), 6), "a newer one is sent");
        assert!(!m.covered(&pr(2), 3), "per PR");
        m.synced(&pr(1), 4);
        assert!(m.covered(&pr(1), 4), "the newest is kept");
    }

    #[test]
    fn a_listing_serves_once_and_keeps_only_gatebots_own() {
        let m = CheckRunMemo::default();
        let repo = RepoName::parse("acme/widgets").unwrap();
        let sha = Sha::parse(&"a".repeat(40)).unwrap();
        let other = Sha::parse(&"b".repeat(40)).unwrap();
        let runs = [
            run(1, "gatebot", 7),
            run(2, "gatebot", 99),
            run(3, "build", 7),
        ];
        m.listed(&repo, &sha, &runs, Some(7));
        assert_eq!(m.take_listing(&repo, &other), None, "per head");
        assert_eq!(m.take_listing(&repo, &sha), Some(vec![1]));
        assert_eq!(m.take_listing(&repo, &sha), None, "used once");
    }

    #[test]
    fn it_stays_bounded() {
        let m = CheckRunMemo::default();
        for n in 0..(MAX_ENTRIES as u64 + 10) {
            m.synced(&pr(n), 1);
        }
        assert!(m.synced.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
