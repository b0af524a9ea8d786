//! Why a deploy may not be dispatched now, or `None` when every gate allows
//! it. This one function decides the first dispatch, every retry and
//! reconciler attempt of a queued one, and the deployment protection
//! rule's answer, so they can never disagree. The stage rules it applies
//! come from [`super::status::walk`].

use super::ci::CiStatus;
use super::context::Context;
use super::refusals::Refusal;
use super::state::{DeployKind, DeployStatus, GateState};
use super::status::walk;
use crate::core::config::{Entry, StageConfig};
use crate::core::domain::{DispatchId, Environment, Sha};

/// Why a `kind` deploy of `sha` to `env` may not be dispatched now.
///
/// A promotion to a stage needs every earlier stage passed for the same
/// SHA (deployed, and verified where the stage has a verification), the
/// stage's entry gate (counting only people who hold its role now, when
/// [`Context::holders`] says who), its soak (during which the stage before
/// kept running the SHA), no freeze, no hold and no other deploy of the PR
/// running there. A verification needs the stage's deploy of the SHA to be
/// what runs there ([`Context::environments`]).
pub(crate) fn blocker(
    s: &GateState,
    env: &Environment,
    kind: DeployKind,
    sha: &Sha,
    cx: &Context<'_>,
) -> Option<Refusal> {
    if let Some(e) = &s.config_error {
        return Some(Refusal::Config(e.clone()));
    }
    if let Some(h) = held(s) {
        return Some(h);
    }
    let chain = cx.chain();
    let Some((i, stage)) = chain.find(env) else {
        return Some(Refusal::NotInChain(env.clone()));
    };
    let freeze = || frozen(stage, cx.now);
    if kind == DeployKind::Rollback {
        return freeze();
    }
    if !s.open {
        return Some(Refusal::Closed);
    }
    if !s.base_gated(chain) {
        return Some(Refusal::NotGated(s.base_ref.clone().unwrap_or_default()));
    }
    if *sha != s.head_sha {
        return Some(Refusal::NotHead {
            sha: sha.clone(),
            head: s.head_sha.clone(),
        });
    }
    if s.ci != CiStatus::Green {
        return Some(Refusal::CiNotGreen(sha.clone()));
    }
    let statuses = walk(s, chain, cx.environments);
    let this = &statuses[i];
    match kind {
        DeployKind::Promote => {
            for earlier in &statuses[..i] {
                if earlier.passed_at.is_none() {
                    let env = earlier.environment().clone();
                    let sha = sha.clone();
                    if earlier.displaced_at.is_some() {
                        return Some(Refusal::Displaced {
                            env,
                            now: earlier.runs_now(),
                        });
                    }
                    return Some(if earlier.deployed {
                        Refusal::NotVerified { env, sha }
                    } else {
                        Refusal::NotDeployed { env, sha }
                    });
                }
            }
            if let Entry::Command(gate) = &stage.entry {
                let need = gate.approvals as usize;
                let have = match cx.holders {
                    Some(holders) => this
                        .approvers
                        .iter()
                        .filter(|a| a.id.is_some_and(|id| holders.contains(&id)))
                        .count(),
                    None => this.approvers.len(),
                };
                if have < need {
                    return Some(Refusal::Quorum {
                        word: gate.word.clone(),
                        have,
                        need,
                        sha: sha.clone(),
                    });
                }
            }
            if let (Some(_), Some(previous)) = (this.soak_cut, i.checked_sub(1)) {
                return Some(Refusal::SoakCut {
                    env: env.clone(),
                    previous: statuses[previous].environment().clone(),
                    now: statuses[previous].runs_now(),
                });
            }
            if let (Some(until), Some(previous)) = (this.soak_end, i.checked_sub(1))
                && cx.now < until
            {
                return Some(Refusal::Soaking {
                    env: env.clone(),
                    previous: statuses[previous].environment().clone(),
                    until,
                });
            }
            // Production never goes backwards: a head that lacks commits
            // of its base would take them out of the environment.
            if stage.up_to_date
                && let Some(b) = s.behind_base.as_ref().filter(|b| b.sha == *sha && b.by > 0)
            {
                return Some(Refusal::Behind {
                    env: env.clone(),
                    base: s.base_branch().to_string(),
                    sha: sha.clone(),
                    behind: b.by,
                });
            }
            // One deploy to an environment at a time: a promotion waits for
            // a rollback, or for the deploy of an earlier head, still
            // running there (whichever finished last would decide what the
            // environment runs).
            if s.detached.iter().any(|d| d.occupies(env)) {
                return Some(Refusal::DeployRunning(env.clone()));
            }
        }
        DeployKind::Verify => {
            if this.displaced_at.is_some() {
                return Some(Refusal::Displaced {
                    env: env.clone(),
                    now: this.runs_now(),
                });
            }
            if !this.deployed {
                return Some(Refusal::NotDeployed {
                    env: env.clone(),
                    sha: sha.clone(),
                });
            }
        }
        DeployKind::Rollback => {}
    }
    // A freeze, then a lock, last: so that a freeze alone means every
    // other gate is passed, and a PR queues only with its gates met.
    if let Some(f) = freeze() {
        return Some(f);
    }
    match kind {
        DeployKind::Promote => locked(s, stage, cx),
        _ => None,
    }
}

/// Why the queued dispatch `dispatch_id` may no longer go ahead, or `None`.
/// A deploy another deploy was queued after, in the same environment, may
/// not go ahead (nor its run be approved): what runs there is the later
/// one, and sending this one now would put the environment back to it
/// behind the record's back.
pub fn dispatch_blocker(
    s: &GateState,
    dispatch_id: &DispatchId,
    cx: &Context<'_>,
) -> Option<Refusal> {
    let Some(d) = s.deploy(dispatch_id) else {
        return Some(Refusal::NotPending(dispatch_id.clone()));
    };
    if d.status != DeployStatus::Pending {
        return Some(Refusal::NotPending(dispatch_id.clone()));
    }
    if cx.environments.displaced_at(d).is_some() {
        let now = cx
            .environments
            .get(&d.environment)
            .and_then(|r| r.displaced_by(d))
            .map(|o| o.describe())
            .unwrap_or_else(|| "another deploy".into());
        return Some(Refusal::Displaced {
            env: d.environment.clone(),
            now,
        });
    }
    blocker(s, &d.environment, d.kind, &d.sha, cx)
}

/// Why a promotion of `s` to `stage` must wait for the environment's lock
/// or its queue, if it must.
pub(super) fn locked(s: &GateState, stage: &StageConfig, cx: &Context<'_>) -> Option<Refusal> {
    if !stage.lock {
        return None;
    }
    let record = cx.environments.get(&stage.environment)?;
    let me = s.pr.number;
    let lock = record.live_lock(cx.now, stage.lock_timeout);
    if lock.is_some_and(|l| l.pr == me) {
        return None;
    }
    let position = record.position(me).unwrap_or(record.queue.len() + 1);
    if let Some(l) = lock {
        return Some(Refusal::Queued {
            env: stage.environment.clone(),
            holder: Some(l.pr),
            position,
        });
    }
    // Free: those queued before it go first.
    (position > 1).then(|| Refusal::Queued {
        env: stage.environment.clone(),
        holder: None,
        position,
    })
}

/// The freeze `stage` is in at `now`, as a refusal.
pub(super) fn frozen(stage: &StageConfig, now: chrono::DateTime<chrono::Utc>) -> Option<Refusal> {
    stage.active_freeze(now).map(|w| Refusal::Frozen {
        env: stage.environment.clone(),
        until: w.to.to_rfc3339(),
        reason: w.reason.clone(),
    })
}

/// The PR's hold, as a refusal.
pub(super) fn held(s: &GateState) -> Option<Refusal> {
    s.hold.as_ref().map(|h| Refusal::Held {
        by: h.login.clone(),
        reason: h.reason.clone(),
    })
}
