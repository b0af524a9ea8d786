//! Conditional requests, as Prow's ghproxy makes them: every `GET` that
//! GitHub answered with an `ETag` is remembered, and the next `GET` of the
//! same route by the same installation carries `If-None-Match`. GitHub
//! answers `304 Not Modified` when nothing changed, and a `304` does not
//! count against the installation's rate limit.
//!
//! A remembered body is only ever used after GitHub confirmed it with a
//! `304` in answer to this very request: nothing that guards a gate is read
//! stale from here. The cache is bounded (entries, bytes in all, and the
//! size of one body); the least recently used entry goes first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Whose view of GitHub a route is read with: an installation's id, or
/// [`APP_SCOPE`] for the App's own JWT. Representations differ between
/// installations (their permissions), so they never share an entry.
pub(crate) type Scope = u64;

/// The App's own requests (App JWT).
pub(crate) const APP_SCOPE: Scope = 0;

/// At most this many routes remembered.
const MAX_ENTRIES: usize = 4_096;
/// At most this many bytes of bodies remembered in all: well inside the
/// smallest Lambda's memory.
const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Bodies larger than this are not remembered (a long check-run list of a
/// monorepo's commit).
const MAX_BODY: usize = 256 * 1024;

/// What GitHub last answered for a route: its `ETag` and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remembered {
    pub etag: String,
    pub body: Arc<str>,
}

struct Entry {
    remembered: Remembered,
    /// When it was last asked for (a counter, not a clock).
    used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(Scope, String), Entry>,
    tick: u64,
    /// The bytes of the bodies remembered.
    bytes: usize,
}

impl Inner {
    fn remove(&mut self, key: &(Scope, String)) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.remembered.body.len();
        }
    }

    /// Drops the least recently used entries until one more of `room`
    /// bytes fits under both bounds.
    fn make_room(&mut self, room: usize) {
        while !self.entries.is_empty()
            && (self.entries.len() >= MAX_ENTRIES || self.bytes + room > MAX_BYTES)
        {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.remove(&k),
                None => break,
            }
        }
    }
}

/// The remembered answers; shared by every client of one [`OctoGitHub`].
///
/// [`OctoGitHub`]: super::octo::OctoGitHub
#[derive(Default)]
pub(crate) struct EtagCache {
    inner: Mutex<Inner>,
}

impl EtagCache {
    /// What GitHub last answered for `route`, to ask whether it changed.
    pub(crate) fn get(&self, scope: Scope, route: &str) -> Option<Remembered> {
        let mut inner = self.inner.lock().ok()?;
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.entries.get_mut(&(scope, route.to_string()))?;
        entry.used = tick;
        Some(entry.remembered.clone())
    }

    /// Remembers GitHub's answer `body` with its `etag`.
    pub(crate) fn put(&self, scope: Scope, route: &str, etag: &str, body: &str) {
        if body.len() > MAX_BODY || etag.is_empty() {
            self.forget(scope, route);
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.tick += 1;
        let tick = inner.tick;
        let key = (scope, route.to_string());
        inner.remove(&key);
        inner.make_room(body.len());
        inner.bytes += body.len();
        inner.entries.insert(
            key,
            Entry {
                remembered: Remembered {
                    etag: etag.to_string(),
                    body: Arc::from(body),
                },
                used: tick,
            },
        );
    }

    /// Forgets `route` (its answer was not one to remember).
    pub(crate) fn forget(&self, scope: Scope, route: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.remove(&(scope, route.to_string()));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.inner.lock().map(|i| i.bytes).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_remembered_per_installation_and_route() {
        let cache = EtagCache::default();
        cache.put(1, "/repos/a/b/pulls/1", "W/\"x\"", "{\"number\":1}");
        let got = cache.get(1, "/repos/a/b/pulls/1").unwrap();
        assert_eq!(got.etag, "W/\"x\"");
        assert_eq!(&*got.body, "{\"number\":1}");
        assert_eq!(cache.get(2, "/repos/a/b/pulls/1"), None);
        assert_eq!(cache.get(1, "/repos/a/b/pulls/2"), None);
        cache.put(1, "/repos/a/b/pulls/1", "W/\"y\"", "{\"number\":1,\"x\":2}");
        assert_eq!(cache.get(1, "/repos/a/b/pulls/1").unwrap().etag, "W/\"y\"");
        cache.forget(1, "/repos/a/b/pulls/1");
        assert_eq!(cache.get(1, "/repos/a/b/pulls/1"), None);
    }

    #[test]
    fn it_is_bounded_and_drops_the_least_recently_used_first() {
        let cache = EtagCache::default();
        for i in 0..MAX_ENTRIES {
            cache.put(1, &format!("/r/{i}"), "e", "{}");
        }
        // /r/0 asked for again: /r/1 is now the least recently used.
        assert!(cache.get(1, "/r/0").is_some());
        cache.put(1, "/r/new", "e", "{}");
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.get(1, "/r/0").is_some());
        assert!(cache.get(1, "/r/1").is_none());
        assert!(cache.get(1, "/r/new").is_some());
    }

    #[test]
    fn the_bytes_in_all_are_bounded() {
        let cache = EtagCache::default();
        let body = "x".repeat(MAX_BODY);
        let fit = MAX_BYTES / MAX_BODY;
        for i in 0..fit + 3 {
            cache.put(1, &format!("/r/{i}"), "e", &body);
        }
        assert!(cache.bytes() <= MAX_BYTES, "{} bytes", cache.bytes());
        assert_eq!(cache.len(), fit);
        assert!(cache.get(1, "/r/0").is_none(), "the oldest went first");
        assert!(cache.get(1, &format!("/r/{}", fit + 2)).is_some());
        // Replacing an entry counts its bytes once.
        cache.put(1, &format!("/r/{}", fit + 2), "f", "{}");
        assert_eq!(cache.bytes(), (fit - 1) * MAX_BODY + 2);
    }

    #[test]
    fn a_large_body_is_not_remembered_and_replaces_nothing_stale() {
        let cache = EtagCache::default();
        cache.put(1, "/r", "e1", "{}");
        cache.put(1, "/r", "e2", &"x".repeat(MAX_BODY + 1));
        assert_eq!(cache.get(1, "/r"), None, "the old answer is not kept");
    }
}
