//! The gate records a [`super::dynamo::DynamoStore`] last read or wrote,
//! by key: a first guess for a conditional write that only bookkeeps (the
//! outbox's clean-up), which saves the read before it. Never an answer to
//! a read: a guess that is out of date fails its write's condition on the
//! version, and the record is then read. A record's version names its
//! content (every write of a record is conditional on the version before
//! it and writes the next), so a guess at the stored version is the
//! stored record.

use std::collections::HashMap;
use std::sync::Mutex;

use super::GateRecord;

/// Records kept at most; past it, the map starts again empty.
const MAX_RECORDS: usize = 256;
/// A record larger than this when encoded is not kept.
const MAX_RECORD_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct LastSeen {
    records: Mutex<HashMap<String, (u64, GateRecord)>>,
}

impl LastSeen {
    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, GateRecord)>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers `record` as stored at `version` under `pk` (`bytes`: its
    /// encoded size).
    pub(crate) fn saw(&self, pk: &str, version: u64, record: &GateRecord, bytes: usize) {
        let mut records = self.records();
        if bytes > MAX_RECORD_BYTES {
            records.remove(pk);
            return;
        }
        if records.len() >= MAX_RECORDS && !records.contains_key(pk) {
            records.clear();
        }
        records.insert(pk.to_string(), (version, record.clone()));
    }

    /// The record last seen under `pk`, and its version.
    pub(crate) fn guess(&self, pk: &str) -> Option<(u64, GateRecord)> {
        self.records().get(pk).cloned()
    }

    /// Forgets `pk` (its guess turned out wrong).
    pub(crate) fn forget(&self, pk: &str) {
        self.records().remove(pk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::domain::{PrKey, RepoName, Sha};
    use crate::core::gate::GateState;

    fn record(number: u64) -> GateRecord {
        GateRecord::new(GateState::new(
            PrKey {
                repo: RepoName::parse("acme/widgets").unwrap(),
                number,
            },
            &crate::core::domain::Person::test("alice"),
            Sha::parse(&"a".repeat(40)).unwrap(),
            "main",
            Some(1),
            chrono::Utc::now(),
        ))
    }

    #[test]
    fn it_keeps_the_newest_and_forgets_on_demand() {
        let seen = LastSeen::default();
        seen.saw("GATE#a#1", 1, &record(1), 100);
        seen.saw("GATE#a#1", 2, &record(1), 100);
        assert_eq!(seen.guess("GATE#a#1").map(|g| g.0), Some(2));
        seen.forget("GATE#a#1");
        assert!(seen.guess("GATE#a#1").is_none());
    }

    #[test]
    fn it_stays_bounded_and_skips_large_records() {
        let seen = LastSeen::default();
        for i in 0..(MAX_RECORDS as u64 * 3) {
            seen.saw(&format!("GATE#a#{i}"), 1, &record(i), 100);
        }
        assert!(seen.records().len() <= MAX_RECORDS);
        seen.saw("GATE#a#big", 1, &record(1), MAX_RECORD_BYTES + 1);
        assert!(seen.guess("GATE#a#big").is_none());
    }
}
