//! The [`Ledger`]: an account of what was *given* — which facts a person
//! with the right role gave for which head of which stage, which runs
//! succeeded — kept from the inputs alone, whatever the chain,
//! independent of the machine's own bookkeeping. Where the ledger needs to
//! know whether the machine accepted something (a cancel), it can only
//! make a check stricter, never hide a violation.
//!
//! One ledger per PR; the dispatches of every PR of the case are kept in
//! one list (in the order they were made), since environments are shared:
//! another PR's deploy displaces this one's, and who holds a locked
//! environment is a question across PRs.
//!
//! Its matches list every fact and every command: a new one does not
//! compile until the ledger says what it gives.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::people::Who;
use crate::core::config::{Entry, StageConfig};
use crate::core::domain::{DispatchId, Environment, Sha};
use crate::core::gate::ci::CiStatus;
use crate::core::gate::commands::{Command, Role};
use crate::core::gate::state::{Deploy, DeployKind};
use crate::core::gate::{Context, Fact};

/// What became of a dispatch, as the world saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    InFlight,
    Succeeded,
    Failed,
    /// Never sent (cancelled, or refused by GitHub).
    NotSent,
}

/// A dispatch the machine made, and what the world did with it.
#[derive(Debug, Clone)]
pub(super) struct Dispatched {
    /// The PR (its index in the case) that made it.
    pub pr: usize,
    /// When it was made.
    pub at: DateTime<Utc>,
    pub deploy: Deploy,
    pub epoch: u32,
    pub run_id: u64,
    pub linked: bool,
    pub outcome: Outcome,
    pub completed_at: Option<DateTime<Utc>>,
    /// Its stage's verification cancels in its epoch before it was made.
    pub verify_cancels_before: u32,
}

/// What people with the right role gave, per stage and per head epoch (a
/// new head, a reopen and a new base each start one), from the inputs
/// alone.
#[derive(Debug, Clone)]
pub(super) struct Ledger {
    /// Its PR's index in the case.
    pub pr: usize,
    pub open: bool,
    pub head: Sha,
    /// The PR's base is not the default branch: nothing is gated.
    pub ungated_base: bool,
    pub epoch: u32,
    epoch_start: DateTime<Utc>,
    config_error: bool,
    held: bool,
    ci: CiStatus,
    /// How many commits of its base the head lacked, as last compared.
    behind: Option<(Sha, u64)>,
    /// Per stage: who gave its entry command for the head.
    pub givers: Vec<BTreeSet<&'static str>>,
    /// Everyone who pushed to the PR: authors, whose commands do not count.
    pushers: BTreeSet<&'static str>,
    /// The heads whose push was received (the first head counts as the
    /// author's; until gatebot knows who pushed a head, nothing counts).
    pushed_heads: BTreeSet<Sha>,
    /// Per stage: the deploy (an index into `dispatches`) a verify command
    /// verified, and when.
    verified_by_command: Vec<Option<(usize, DateTime<Utc>)>>,
    /// Per stage: verification cancels accepted in this epoch.
    verify_cancels: Vec<u32>,
    /// Per stage: the hold this PR certainly has on the stage's (locked)
    /// environment, a lower bound of what the machine records: every way
    /// a hold can end ends it here, some sooner.
    holds: Vec<Option<Hold>>,
}

/// A hold on a locked environment, as the ledger counts it.
#[derive(Debug, Clone)]
struct Hold {
    /// The deploy whose dispatch took it; `None` for a `/lock`.
    dispatch: Option<DispatchId>,
    since: DateTime<Utc>,
}

impl Ledger {
    pub(super) fn new(pr: usize, stages: usize, head: Sha, now: DateTime<Utc>) -> Self {
        Ledger {
            pr,
            open: true,
            head: head.clone(),
            ungated_base: false,
            epoch: 0,
            epoch_start: now,
            config_error: false,
            held: false,
            ci: CiStatus::Pending,
            behind: None,
            givers: vec![BTreeSet::new(); stages],
            pushers: BTreeSet::new(),
            pushed_heads: BTreeSet::from([head]),
            verified_by_command: vec![None; stages],
            verify_cancels: vec![0; stages],
            holds: vec![None; stages],
        }
    }

    fn new_epoch(&mut self, now: DateTime<Utc>) {
        self.epoch += 1;
        self.epoch_start = now;
        self.ci = CiStatus::Pending;
        self.givers.iter_mut().for_each(BTreeSet::clear);
        self.verified_by_command.iter_mut().for_each(|v| *v = None);
        self.verify_cancels.iter_mut().for_each(|c| *c = 0);
        self.let_go();
    }

    /// Every hold of this PR ends (a close, a push, a new head).
    fn let_go(&mut self) {
        self.holds.iter_mut().for_each(|h| *h = None);
    }

    /// The hold on stage `i`'s environment ends (an `/unlock`, a rollback
    /// there), whichever PR had it.
    pub(super) fn unlocked(&mut self, i: usize) {
        if let Some(h) = self.holds.get_mut(i) {
            *h = None;
        }
    }

    /// Whether this PR certainly holds stage `i`'s locked environment now.
    pub(super) fn certainly_holds(
        &self,
        ds: &[Dispatched],
        chain: &[StageConfig],
        i: usize,
        now: DateTime<Utc>,
    ) -> bool {
        let (Some(Some(hold)), Some(stage)) = (self.holds.get(i), chain.get(i)) else {
            return false;
        };
        if !stage.lock || hold.since + stage.lock_timeout <= now {
            return false;
        }
        match &hold.dispatch {
            None => true,
            Some(id) => {
                // Its dispatch was sent, and (for the last stage) the
                // stage has not passed.
                ds.iter()
                    .any(|d| d.deploy.dispatch_id == *id && d.outcome != Outcome::NotSent)
                    && (i + 1 < chain.len() || self.passed(ds, chain, i).is_none())
            }
        }
    }

    /// A gate command counts when a non-author holding `role` wrote it
    /// after the head became the head, on an open PR into the default
    /// branch with a usable config.
    fn counts(&self, who: Who, role: &str, written: Option<DateTime<Utc>>, p: &Context) -> bool {
        who.holds_named(role)
            && who != Who::Author
            && self.pushed_heads.contains(&self.head)
            && !self.pushers.contains(who.login())
            && !self.ungated_base
            && self.open
            && !self.config_error
            && written.is_some_and(|w| w >= self.epoch_start + p.clock_skew)
    }

    /// Whether `who` pushed to the PR.
    pub(super) fn pushed_by(&self, who: Who) -> bool {
        self.pushers.contains(who.login())
    }

    /// Whether this PR dispatched a rollback of `env` GitHub may have run
    /// after dispatch `at` (which then no longer runs there, and no gate
    /// rests on it; a rollback never sent displaced nothing).
    fn rolled_back_after(&self, ds: &[Dispatched], env: &Environment, at: usize) -> bool {
        ds.iter().skip(at + 1).any(|x| {
            x.pr == self.pr
                && x.deploy.kind == DeployKind::Rollback
                && x.deploy.environment == *env
                && x.outcome != Outcome::NotSent
        })
    }

    /// When another PR's deploy there, dispatched after dispatch `at` and
    /// not refused, displaced it: from then on it no longer runs there.
    pub(super) fn displaced_at(&self, ds: &[Dispatched], at: usize) -> Option<DateTime<Utc>> {
        let env = &ds.get(at)?.deploy.environment;
        ds.iter()
            .skip(at + 1)
            .filter(|x| {
                x.pr != self.pr
                    && x.deploy.environment == *env
                    && x.deploy.kind != DeployKind::Verify
                    && x.outcome != Outcome::NotSent
            })
            .map(|x| x.at)
            .min()
    }

    /// The head's latest deploy to `stage` in this epoch that succeeded
    /// and was not rolled back (its index in `ds`).
    pub(super) fn live_deploy(&self, ds: &[Dispatched], stage: &StageConfig) -> Option<usize> {
        ds.iter().enumerate().rposition(|(i, d)| {
            d.pr == self.pr
                && d.epoch == self.epoch
                && d.deploy.environment == stage.environment
                && d.deploy.kind == DeployKind::Promote
                && d.deploy.sha == self.head
                && d.outcome == Outcome::Succeeded
                && !self.rolled_back_after(ds, &stage.environment, i)
        })
    }

    /// When stage `i` passed for the head in this epoch — deployed, and
    /// verified where it has a verification, both before another PR's
    /// deploy displaced it — from what was given.
    pub(super) fn passed(
        &self,
        ds: &[Dispatched],
        chain: &[StageConfig],
        i: usize,
    ) -> Option<DateTime<Utc>> {
        let stage = &chain[i];
        let live = self.live_deploy(ds, stage)?;
        let deployed = ds[live].completed_at?;
        let displaced = self.displaced_at(ds, live);
        let stands = |at: DateTime<Utc>| displaced.is_none_or(|t| at <= t).then_some(at);
        let Some(verify) = &stage.verify else {
            return stands(deployed);
        };
        let verified = if verify.workflow.is_some() {
            // A verify run of the deploy that still runs there, not
            // cancelled since.
            ds.iter()
                .enumerate()
                .filter(|(j, d)| {
                    *j > live
                        && d.pr == self.pr
                        && d.epoch == self.epoch
                        && d.deploy.environment == stage.environment
                        && d.deploy.kind == DeployKind::Verify
                        && d.deploy.sha == self.head
                        && d.outcome == Outcome::Succeeded
                        && d.verify_cancels_before == self.verify_cancels[i]
                })
                .filter_map(|(_, d)| d.completed_at)
                .max()?
        } else {
            match self.verified_by_command[i] {
                Some((deploy, at)) if deploy == live => at,
                _ => return None,
            }
        };
        stands(deployed.max(verified))
    }

    /// Facts that bear on what may be dispatched, before the machine runs.
    pub(super) fn before(
        &mut self,
        ds: &mut [Dispatched],
        fact: &Fact,
        who: Option<Who>,
        p: &Context,
    ) {
        let chain = &p.config.pipeline.stages;
        let stage_of = |env: &Environment| chain.iter().position(|s| s.environment == *env);
        match fact {
            Fact::Observed {
                open,
                head,
                base_ref,
                default_branch,
                ..
            } => {
                let ungated = base_ref != default_branch;
                if (*open && !self.open) || *head != self.head || ungated != self.ungated_base {
                    self.new_epoch(p.now);
                }
                if !*open {
                    self.let_go();
                }
                self.open = *open;
                self.head = head.clone();
                self.ungated_base = ungated;
            }
            Fact::Pushed { sha, by } => {
                self.let_go();
                self.pushed_heads.insert(sha.clone());
                if let Some(w) = Who::with_id(by.id) {
                    self.pushers.insert(w.login());
                    // An author of the PR from now on: what they gave no
                    // longer counts.
                    for g in &mut self.givers {
                        g.remove(w.login());
                    }
                }
            }
            Fact::Ci { sha, status } => {
                if *sha == self.head {
                    self.ci = *status;
                }
            }
            Fact::BaseCompared { sha, behind_by } => {
                if *sha == self.head {
                    self.behind = Some((sha.clone(), *behind_by));
                }
            }
            Fact::Config { error } => {
                self.config_error = error.is_some();
                if self.config_error {
                    self.let_go();
                }
            }
            Fact::Command {
                command,
                written_at,
                ..
            } => {
                let Some(who) = who else { return };
                match command {
                    Command::Entry {
                        env, cancel: false, ..
                    } => {
                        if let Some(i) = stage_of(env)
                            && let Entry::Command(g) = &chain[i].entry
                            && self.counts(who, &g.role, *written_at, p)
                        {
                            self.givers[i].insert(who.login());
                        }
                    }
                    Command::Verify {
                        env, cancel: false, ..
                    } => {
                        if let Some(i) = stage_of(env)
                            && let Some(v) = &chain[i].verify
                            && v.workflow.is_none()
                            && self.counts(who, &v.role, *written_at, p)
                            && let Some(live) = self.live_deploy(ds, &chain[i])
                            // What another PR deployed over it is not what
                            // QA looked at.
                            && self.displaced_at(ds, live).is_none()
                            && self.verified_by_command[i].is_none_or(|(d, _)| d != live)
                        {
                            self.verified_by_command[i] = Some((live, p.now));
                        }
                    }
                    Command::Hold { .. } => {
                        if who.holds(&Role::AnyGate) && self.open {
                            self.held = true;
                        }
                    }
                    Command::Unhold => {
                        if who.holds(&Role::AnyGate) && self.open {
                            self.held = false;
                        }
                    }
                    // Cancels take back what was given once the machine
                    // accepted them (see `after`); a rollback or a retry
                    // gives nothing (its dispatch is judged on its own).
                    Command::Entry { cancel: true, .. }
                    | Command::Verify { cancel: true, .. }
                    | Command::Rollback(_)
                    | Command::Retry(_)
                    | Command::Gates
                    | Command::Envs
                    | Command::Help => {}
                    // Holds are counted once the machine accepted them
                    // (`after`), and an `/unlock` by the role ends a hold
                    // whichever PR it is given on (the case's loop).
                    Command::Lock { .. } | Command::Unlock(_) => {}
                }
            }
            Fact::RolesLost {
                environment,
                givers,
            } => {
                if let Some(i) = stage_of(environment) {
                    for w in givers.iter().filter_map(|id| Who::with_id(*id)) {
                        self.givers[i].remove(w.login());
                    }
                }
            }
            Fact::RunLinked {
                dispatch_id,
                run_id,
                ..
            } => {
                if let Some(d) = dispatch_mut(ds, dispatch_id)
                    && d.run_id == *run_id
                {
                    d.linked = true;
                }
            }
            Fact::RunCompleted {
                dispatch_id,
                run_id,
                success,
                ..
            } => {
                let now = p.now;
                if let Some(d) = dispatch_mut(ds, dispatch_id)
                    && d.run_id == *run_id
                    && d.outcome == Outcome::InFlight
                {
                    d.outcome = if *success {
                        Outcome::Succeeded
                    } else {
                        Outcome::Failed
                    };
                    d.completed_at = Some(now);
                }
            }
            Fact::DispatchFailed { dispatch_id, .. }
            | Fact::DispatchCancelled { dispatch_id, .. } => {
                if let Some(d) = dispatch_mut(ds, dispatch_id)
                    && d.outcome == Outcome::InFlight
                {
                    d.outcome = Outcome::NotSent;
                }
            }
            Fact::Opened
            | Fact::NotUnderstood { .. }
            | Fact::TooManyCommands { .. }
            | Fact::Reevaluate => {}
        }
    }

    /// Cancels the machine accepted take the ledger's record back too.
    pub(super) fn after(&mut self, fact: &Fact, who: Option<Who>, accepted: bool, p: &Context) {
        let (Some(who), true, Fact::Command { command, .. }) = (who, accepted, fact) else {
            return;
        };
        let chain = &p.config.pipeline.stages;
        let stage_of = |env: &Environment| chain.iter().position(|s| s.environment == *env);
        match command {
            Command::Entry {
                env, cancel: true, ..
            } => {
                if let Some(i) = stage_of(env) {
                    self.givers[i].remove(who.login());
                }
            }
            Command::Verify {
                env, cancel: true, ..
            } => {
                if let Some(i) = stage_of(env) {
                    self.verified_by_command[i] = None;
                    self.verify_cancels[i] += 1;
                }
            }
            // A `/lock` the machine took holds the environment (counting
            // it only makes the one-holder check stricter).
            Command::Lock { env, .. } => {
                if let Some(i) = stage_of(env) {
                    self.holds[i] = Some(Hold {
                        dispatch: None,
                        since: p.now,
                    });
                }
            }
            Command::Entry { cancel: false, .. }
            | Command::Verify { cancel: false, .. }
            | Command::Rollback(_)
            | Command::Retry(_)
            | Command::Hold { .. }
            | Command::Unhold
            | Command::Unlock(_)
            | Command::Gates
            | Command::Envs
            | Command::Help => {}
        }
    }

    /// Records a dispatch the machine made (after [`Self::violation`]
    /// allowed it): a promotion to a locked stage holds it, and ends the
    /// holds of the stages before (the PR moved on).
    pub(super) fn dispatched(
        &mut self,
        ds: &mut Vec<Dispatched>,
        deploy: &Deploy,
        chain: &[StageConfig],
        now: DateTime<Utc>,
    ) {
        let i = chain
            .iter()
            .position(|s| s.environment == deploy.environment)
            .unwrap_or(0);
        if deploy.kind == DeployKind::Promote {
            for h in self.holds.iter_mut().take(i) {
                if h.as_ref().is_some_and(|h| h.dispatch.is_some()) {
                    *h = None;
                }
            }
            if chain[i].lock {
                self.holds[i] = Some(Hold {
                    dispatch: Some(deploy.dispatch_id.clone()),
                    since: now,
                });
            }
        }
        ds.push(Dispatched {
            pr: self.pr,
            at: now,
            deploy: deploy.clone(),
            epoch: self.epoch,
            run_id: 10_000 + ds.len() as u64,
            linked: false,
            outcome: Outcome::InFlight,
            completed_at: None,
            verify_cancels_before: self.verify_cancels.get(i).copied().unwrap_or(0),
        });
    }

    /// Why dispatching `d` now breaks a guarantee, if it does.
    pub(super) fn violation(
        &self,
        ds: &[Dispatched],
        d: Asked<'_>,
        fact: &Fact,
        who: Option<Who>,
        p: &Context,
    ) -> Option<String> {
        let chain = &p.config.pipeline.stages;
        let Some(i) = chain.iter().position(|s| s.environment == *d.environment) else {
            return Some("a dispatch to an environment outside the chain".into());
        };
        let stage = &chain[i];
        if self.config_error {
            return Some("dispatched with an unusable config".into());
        }
        if self.held {
            return Some("dispatched while held".into());
        }
        let frozen = stage.active_freeze(p.now).is_some();
        // Production never goes backwards: an `up_to_date` stage is never
        // promoted for a head known to lack commits of its base.
        if d.kind == DeployKind::Promote
            && stage.up_to_date
            && self
                .behind
                .as_ref()
                .is_some_and(|(sha, by)| *sha == *d.sha && *by > 0)
        {
            return Some("an up_to_date stage dispatched for a head that lacks its base".into());
        }
        if d.kind == DeployKind::Rollback {
            let Fact::Command {
                command: command @ Command::Rollback(env),
                ..
            } = fact
            else {
                return Some("a rollback dispatched without a /rollback".into());
            };
            let may = command
                .required_role(&p.config.pipeline)
                .is_some_and(|role| who.is_some_and(|w| w.holds(&role)));
            if *env != *d.environment || !may {
                return Some("a rollback by someone without the role".into());
            }
            if frozen {
                return Some(format!("{} rolled back during its freeze", d.environment));
            }
            return None;
        }
        if !self.open {
            return Some("dispatched on a closed PR".into());
        }
        if self.ungated_base {
            return Some("dispatched for a PR into an ungated base".into());
        }
        if *d.sha != self.head {
            return Some(format!(
                "dispatched {} which is not the head",
                d.sha.short()
            ));
        }
        if self.ci != CiStatus::Green {
            return Some(format!("dispatched with CI {:?}", self.ci));
        }
        if d.kind == DeployKind::Verify {
            return self.live_deploy(ds, stage).is_none().then(|| {
                format!(
                    "{} verified without a deploy of this head there",
                    d.environment
                )
            });
        }
        for (j, earlier) in chain.iter().enumerate().take(i) {
            if self.passed(ds, chain, j).is_none() {
                return Some(format!(
                    "{} dispatched before {} passed for this head",
                    d.environment, earlier.environment
                ));
            }
        }
        if let Entry::Command(g) = &stage.entry
            && self.givers[i].len() < g.approvals as usize
        {
            return Some(format!(
                "{} dispatched with {} of {} /{} given for this head",
                d.environment,
                self.givers[i].len(),
                g.approvals,
                g.word
            ));
        }
        if let (Some(soak), Some(j)) = (stage.soak, i.checked_sub(1))
            && let Some(at) = self.passed(ds, chain, j)
        {
            if p.now < at + soak {
                return Some(format!(
                    "{} dispatched before its soak ended",
                    d.environment
                ));
            }
            // The soak counts only while the stage before ran the head.
            if self
                .live_deploy(ds, &chain[j])
                .and_then(|live| self.displaced_at(ds, live))
                .is_some_and(|t| t < at + soak)
            {
                return Some(format!(
                    "{} dispatched after a soak that {} did not run through",
                    d.environment, chain[j].environment
                ));
            }
        }
        if frozen {
            return Some(format!("{} dispatched during its freeze", d.environment));
        }
        None
    }

    /// How many of this PR's deploys to `env` GitHub may be running.
    pub(super) fn in_flight(&self, ds: &[Dispatched], env: &Environment) -> usize {
        ds.iter()
            .filter(|d| {
                d.pr == self.pr
                    && d.deploy.environment == *env
                    && d.deploy.kind != DeployKind::Verify
                    && d.outcome == Outcome::InFlight
            })
            .count()
    }
}

/// A dispatch asked about: where, what kind, of which SHA.
#[derive(Debug, Clone, Copy)]
pub(super) struct Asked<'a> {
    pub environment: &'a Environment,
    pub kind: DeployKind,
    pub sha: &'a Sha,
}

impl<'a> From<&'a Deploy> for Asked<'a> {
    fn from(d: &'a Deploy) -> Self {
        Asked {
            environment: &d.environment,
            kind: d.kind,
            sha: &d.sha,
        }
    }
}

fn dispatch_mut<'a>(ds: &'a mut [Dispatched], id: &DispatchId) -> Option<&'a mut Dispatched> {
    ds.iter_mut().find(|d| d.deploy.dispatch_id == *id)
}
