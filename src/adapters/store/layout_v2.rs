//! Gate records of layout 2, written before gatebot told people apart by
//! their GitHub user id: approvals, verifications and holds name a login
//! only, and the record knows the author's login, not their id.
//!
//! A login is not a person (it can be renamed, and a freed one taken), so
//! [`upgrade`] does not guess an id for one. It fails closed:
//!
//! * an entry command given for a stage not dispatched yet is dropped: it
//!   must be given again (the reply to `/gates` shows it missing);
//! * one of a stage already dispatched is kept, without an id, for the
//!   record: it counts for no quorum, so a dispatch still queued on it is
//!   cancelled by the re-check before it is sent, and its deployment is
//!   not approved;
//! * a verification is kept only when the stage after it was dispatched
//!   already (it cannot change anything any more); otherwise it must be
//!   given again;
//! * the author's id is unknown until GitHub's view of the PR is next read
//!   (every delivery about the PR reads it first); until then no gate
//!   command counts;
//! * the head the record holds counts as pushed by the author, as the head
//!   a PR is first seen at does.

use super::GateRecord;

/// The record with every fact that named a person by login alone
/// handled as above; the layout is the caller's to set.
pub(super) fn upgrade(mut record: GateRecord) -> GateRecord {
    let s = &mut record.state;
    if s.first_head.is_none() && s.author_id.is_none() {
        s.first_head = Some(s.head_sha.clone());
    }
    let dispatched: Vec<bool> = s.stages.iter().map(|g| g.deploy.is_some()).collect();
    // Stages are kept in the order their gates were first given, which is
    // chain order for any chain a layout-2 record could hold: the stage
    // after `i` is the next one listed.
    for (i, g) in s.stages.iter_mut().enumerate() {
        if g.deploy.is_none() {
            g.approvals.retain(|a| a.id.is_some());
        }
        let next_dispatched = dispatched.get(i + 1).copied().unwrap_or(false);
        if g.verification.as_ref().is_some_and(|v| v.id.is_none()) && !next_dispatched {
            let run = g.verification.take().and_then(|v| v.run);
            // A verify run still going is kept track of, detached.
            s.detached
                .extend(run.filter(|r| r.status == crate::core::gate::DeployStatus::Pending));
        }
    }
    record
}
