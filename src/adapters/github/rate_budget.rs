//! What is left of GitHub's rate limit, per installation, as GitHub's own
//! `x-ratelimit-*` headers said on the last answer. Exported as metrics
//! (`gatebot_github_rate_limit_remaining` and `…_remaining_percent`, which
//! the template's alarm watches), and asked by callers that can wait.

use std::collections::HashMap;
use std::sync::Mutex;

use http::HeaderMap;

use super::etag_cache::Scope;

/// The installation's budget as of its last answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Left {
    pub(crate) remaining: u64,
    pub(crate) limit: u64,
    /// When the window ends (unix seconds).
    pub(crate) reset: u64,
}

impl Left {
    /// The share left, in percent (100 when the limit is unknown).
    pub(crate) fn percent(&self) -> f64 {
        if self.limit == 0 {
            return 100.0;
        }
        self.remaining as f64 * 100.0 / self.limit as f64
    }
}

#[derive(Default)]
pub(crate) struct RateBudget {
    left: Mutex<HashMap<Scope, Left>>,
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl RateBudget {
    /// Notes what an answer's headers say is left of the `core` limit
    /// (other resources, such as search or GraphQL, have budgets of their
    /// own and are not what gatebot spends).
    pub(crate) fn observe(&self, scope: Scope, headers: &HeaderMap) {
        let resource = headers
            .get("x-ratelimit-resource")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("core");
        if resource != "core" {
            return;
        }
        let (Some(remaining), Some(limit)) = (
            header_u64(headers, "x-ratelimit-remaining"),
            header_u64(headers, "x-ratelimit-limit"),
        ) else {
            return;
        };
        let left = Left {
            remaining,
            limit,
            reset: header_u64(headers, "x-ratelimit-reset").unwrap_or(0),
        };
        metrics::gauge!("gatebot_github_rate_limit_remaining").set(remaining as f64);
        metrics::gauge!("gatebot_github_rate_limit_remaining_percent").set(left.percent());
        if let Ok(mut map) = self.left.lock() {
            map.insert(scope, left);
        }
    }

    /// What the installation had left at its last answer, if one came.
    pub(crate) fn left(&self, scope: Scope) -> Option<Left> {
        self.left.lock().ok()?.get(&scope).copied()
    }

    /// Whether the installation had fewer than `floor` requests left at its
    /// last answer, in a window that has not ended by `now` (unix seconds):
    /// once GitHub's window resets, the budget is whole again, whether or
    /// not an answer said so yet.
    pub(crate) fn below(&self, scope: Scope, floor: u64, now: u64) -> bool {
        self.left(scope)
            .is_some_and(|left| left.remaining < floor && now < left.reset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn below_the_floor_until_the_window_resets() {
        let b = RateBudget::default();
        assert!(!b.below(7, 500, 100), "no answer yet: not low");
        b.observe(
            7,
            &headers(&[
                ("x-ratelimit-remaining", "499"),
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-reset", "1000"),
            ]),
        );
        assert!(b.below(7, 500, 999));
        assert!(!b.below(7, 499, 999), "at the floor is not below it");
        assert!(!b.below(7, 0, 999), "a floor of 0 never defers");
        assert!(!b.below(7, 500, 1000), "the window reset");
        assert!(!b.below(8, 500, 999), "another installation");
    }

    #[test]
    fn the_core_budget_is_noted_per_installation() {
        let b = RateBudget::default();
        b.observe(
            7,
            &headers(&[
                ("x-ratelimit-remaining", "400"),
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-reset", "1800000000"),
                ("x-ratelimit-resource", "core"),
            ]),
        );
        let left = b.left(7).unwrap();
        assert_eq!(left.remaining, 400);
        assert_eq!(left.percent(), 8.0);
        assert_eq!(left.reset, 1_800_000_000);
        assert_eq!(b.left(8), None);
        // Another resource's budget is not gatebot's.
        b.observe(
            7,
            &headers(&[
                ("x-ratelimit-remaining", "1"),
                ("x-ratelimit-limit", "30"),
                ("x-ratelimit-resource", "search"),
            ]),
        );
        assert_eq!(b.left(7).unwrap().remaining, 400);
        // No headers (a proxy stripped them): nothing changes.
        b.observe(7, &HeaderMap::new());
        assert_eq!(b.left(7).unwrap().remaining, 400);
    }
}
