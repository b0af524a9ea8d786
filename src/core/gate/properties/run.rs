//! Runs one case: turns each step into a fact for one of the case's PRs,
//! applies it to [`apply`] with what runs where as the PRs left it, and
//! checks the invariants after every step against each PR's [`Ledger`]
//! and the dispatches of all of them. A [`Action::Wake`] is followed at
//! once, as the server's watch task does.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

use super::ledger::{Asked, Dispatched, Ledger, Outcome};
use super::people::{Who, grant, sha, t0};
use super::steps::{Case, Kind, RollbackTo, ShaSel, Step, Written, command_for};
use crate::core::config::{self, Entry, RepoConfig, StageConfig};
use crate::core::domain::{PrKey, RepoName, Sha};
use crate::core::gate::ci::CiStatus;
use crate::core::gate::commands::Command;
use crate::core::gate::state::{DeployKind, DeployStatus, GateState, Stage};
use crate::core::gate::status::walk;
use crate::core::gate::{Action, Actor, Context, Environments, Fact, Reaction, Transition, apply};

/// The first PR's number; the others follow it.
const FIRST_PR: u64 = 42;

/// How many wakes one step may lead to (each wake may wake another).
const WAKES_PER_STEP: usize = 8;

/// The result of one case.
#[derive(Debug, Default)]
pub(super) struct Run {
    /// Promotions to the chain's last stage.
    pub last_stage_dispatches: usize,
}

/// The SHA a rollback goes back to when it was deployed before the PR.
fn before_pr() -> Sha {
    Sha::parse(&"e".repeat(40)).expect("fixed sha")
}

/// Whether the transition accepted a command.
fn accepted(t: &Transition) -> bool {
    t.actions.iter().any(|a| {
        matches!(
            a,
            Action::React {
                reaction: Reaction::Accepted,
                ..
            }
        )
    })
}

/// The happy path's next step for one PR from `s`: finish what runs,
/// reopen, fix the config, turn CI green, lift a hold, redeploy what was
/// displaced, then the first stage that has not passed gets what it lacks.
fn progress(s: &GateState, ledger: &Ledger, w: &World, pick: u8) -> Step {
    let chain = &w.cfg.pipeline.stages;
    if w.ds
        .iter()
        .any(|d| d.pr == ledger.pr && d.outcome == Outcome::InFlight)
    {
        return Step::Complete {
            back: 0,
            success: !pick.is_multiple_of(7),
            in_flight: true,
        };
    }
    if !s.open {
        return Step::Observe {
            open: Some(true),
            head: ShaSel::Head,
            ungated_base: None,
        };
    }
    if s.config_error.is_some() {
        return Step::Config { broken: false };
    }
    if s.ci != CiStatus::Green {
        return Step::Ci {
            sha: ShaSel::Head,
            status: CiStatus::Green,
        };
    }
    if s.behind_base
        .as_ref()
        .is_some_and(|b| b.sha == s.head_sha && b.by > 0)
    {
        // The branch is brought up to date (as a push would, without
        // voiding the gates, so that the case goes on).
        return Step::BaseCompared {
            sha: ShaSel::Head,
            behind_by: 0,
        };
    }
    // Someone holding `role`, by preference one who did not push to the
    // PR (whose command would not count).
    let holder = |role: &str, turn: u8| {
        let people = if role == "qa" {
            [Who::Qa, Who::Qa2, Who::Team]
        } else {
            [Who::Release, Who::Release2, Who::Team]
        };
        let first = usize::from(turn) % 3;
        (0..3)
            .map(|k| people[(first + k) % 3])
            .find(|w| !ledger.pushed_by(*w))
            .unwrap_or(people[first])
    };
    let release = holder("release", pick);
    let command = |who, kind, stage: usize| Step::Command {
        who,
        kind,
        stage: u8::try_from(stage).unwrap_or(0),
        written: Written::AfterHead,
        rollback_to: RollbackTo::BeforePr,
    };
    if s.hold.is_some() {
        return command(release, Kind::Unhold, 0);
    }
    // Another PR's deploy displaced one of this head's.
    if let Stage::Displaced(i) = s.stage_in(&w.cfg.pipeline, &w.envs) {
        return command(release, Kind::Retry, i);
    }
    // Stage numbers as `command_for` counts them: among the stages with
    // such a command.
    let nth = |i: usize, has: &dyn Fn(&StageConfig) -> bool| {
        chain.iter().take(i).filter(|s| has(s)).count()
    };
    for (i, stage) in chain.iter().enumerate() {
        if ledger.passed(&w.ds, chain, i).is_some() {
            continue;
        }
        return match s.deploy_to(&stage.environment) {
            Some(d) if d.status == DeployStatus::Failed || d.displaced_by.is_some() => {
                command(release, Kind::Retry, i)
            }
            Some(d) if d.status == DeployStatus::Succeeded => match &stage.verify {
                Some(v) => command(
                    holder(&v.role, pick / 3),
                    Kind::Verify,
                    nth(i, &|s| s.verify.is_some()),
                ),
                None => Step::Reevaluate,
            },
            Some(_) => Step::Reevaluate,
            None => match &stage.entry {
                Entry::Command(g) if ledger.givers[i].len() < g.approvals as usize => command(
                    holder(&g.role, pick / 3),
                    Kind::Entry,
                    nth(i, &|s| matches!(s.entry, Entry::Command(_))),
                ),
                // Entry met: what is left is time (a soak, a freeze, a
                // hold on a locked environment).
                _ => Step::Tick {
                    secs: 600,
                    reevaluate: true,
                },
            },
        };
    }
    Step::Reevaluate
}

/// The invariants of any transition from `before` by `fact` to `t`: a
/// finished deploy never changes its result, and applying the same fact
/// again changes nothing.
fn transition_invariants(
    before: &GateState,
    fact: &Fact,
    t: &Transition,
    cx: &Context<'_>,
) -> Result<(), String> {
    for old in before
        .deploys()
        .filter(|d| d.status != DeployStatus::Pending)
    {
        if let Some(new) = t.state.deploy(&old.dispatch_id)
            && (new.status != old.status || new.run_id != old.run_id)
        {
            return Err(format!("{} changed after it finished", old.dispatch_id));
        }
    }
    // Applied again, it sees what runs where as the first application
    // left it, as the store hands it to the next delivery.
    let mut envs = cx.environments.clone();
    for change in &t.env_changes {
        envs.apply(&t.state.pr.repo, change);
    }
    let again = apply(
        &t.state,
        fact,
        &Context {
            environments: &envs,
            ..*cx
        },
    );
    let dispatches_again = again
        .actions
        .iter()
        .any(|a| matches!(a, Action::Dispatch { .. } | Action::RecordDeploy { .. }));
    if again.changed || dispatches_again {
        return Err(format!(
            "applying {fact:?} twice changed the state again: {}",
            again.note
        ));
    }
    Ok(())
}

/// The invariants of one PR's state after a step, against its ledger and
/// what runs where after the step (`envs`).
fn state_invariants(
    before: &GateState,
    fact: &Fact,
    t: &Transition,
    ledger: &Ledger,
    w: &World,
    envs: &Environments,
) -> Result<(), String> {
    let chain = &w.cfg.pipeline.stages;
    // At most one of its deploys in flight per environment.
    for stage in chain {
        if ledger.in_flight(&w.ds, &stage.environment) > 1 {
            return Err(format!("two {} deploys in flight", stage.environment));
        }
    }
    // No gate ever kept for another SHA than the head.
    let s = &t.state;
    let gate_shas = s.stages.iter().flat_map(|g| {
        g.approvals
            .iter()
            .map(|a| &a.sha)
            .chain(g.verification.iter().map(|v| &v.sha))
            .chain(g.deploy.iter().map(|d| &d.sha))
    });
    if let Some(other) = gate_shas.into_iter().find(|x| **x != s.head_sha) {
        return Err(format!(
            "a gate for {} kept on head {}",
            other.short(),
            s.head_sha.short()
        ));
    }
    // No approval counts that was not given for that stage and head.
    for (i, stage) in chain.iter().enumerate() {
        if let Some(a) = s
            .approvers_of(&stage.environment)
            .iter()
            .find(|a| !ledger.givers[i].contains(a.login.as_str()))
        {
            return Err(format!(
                "@{}'s approval counted for {} but not given for this head",
                a.login, stage.environment
            ));
        }
    }
    // No stage passes for a SHA its environment was not running when it
    // was deployed and verified (its own rollback aside, which voids the
    // pass another way).
    if s.open && s.config_error.is_none() {
        for st in walk(s, &w.cfg.pipeline, envs) {
            let own_rollback = st.deploy.is_some_and(|d| d.displaced_by.is_some());
            if st.passed_at.is_some()
                && !own_rollback
                && ledger.passed(&w.ds, chain, st.index).is_none()
            {
                return Err(format!(
                    "{} passed for {}, which it was not running (deployed and verified) then",
                    st.environment(),
                    s.head_sha.short()
                ));
            }
        }
    }
    // A run result for anything not pending changes nothing a plain look
    // at the PR would not (the queue may turn meanwhile: a hold timed out).
    if let Fact::RunCompleted { dispatch_id, .. } | Fact::RunLinked { dispatch_id, .. } = fact
        && before
            .deploy(dispatch_id)
            .is_none_or(|d| d.status != DeployStatus::Pending)
        && t.changed
        && apply(before, &Fact::Reevaluate, &w.cx()).state != t.state
    {
        return Err(format!("a late result for {dispatch_id} changed the state"));
    }
    Ok(())
}

/// The queues of a locked environment are first come, first served:
/// after a step, those who waited keep their order, and newcomers join at
/// the end.
fn queues_keep_order(before: &Environments, after: &Environments) -> Result<(), String> {
    for record in &after.records {
        let old: Vec<u64> = before
            .get(&record.environment)
            .map(|r| r.queue.iter().map(|q| q.pr).collect())
            .unwrap_or_default();
        let new: Vec<u64> = record.queue.iter().map(|q| q.pr).collect();
        let stayed: Vec<u64> = old.iter().copied().filter(|p| new.contains(p)).collect();
        if new[..stayed.len().min(new.len())] != stayed[..] {
            return Err(format!(
                "{}'s queue went from {old:?} to {new:?}",
                record.environment
            ));
        }
    }
    Ok(())
}

/// One PR of the case.
struct Pr {
    state: GateState,
    ledger: Ledger,
    /// The facts it was given, for replays.
    history: Vec<(Fact, Option<Who>)>,
}

/// What the PRs of a case share: the config, the clock, every dispatch
/// made (in order), and what runs where.
struct World {
    cfg: RepoConfig,
    now: DateTime<Utc>,
    clock_skew: Duration,
    ds: Vec<Dispatched>,
    envs: Environments,
    next_comment: u64,
    log: Vec<String>,
}

impl World {
    fn cx(&self) -> Context<'_> {
        Context {
            config: &self.cfg,
            now: self.now,
            clock_skew: self.clock_skew,
            holders: None,
            environments: &self.envs,
        }
    }

    fn fail<T>(&self, why: String) -> Result<T, String> {
        Err(format!(
            "invariant broken: {why}\nhistory:\n  {}",
            self.log.join("\n  ")
        ))
    }
}

/// Runs one case; `Err` names the broken invariant with the history so far.
pub(super) fn run_case(case: &Case) -> Result<Run, String> {
    let cfg: RepoConfig =
        config::parse(super::CONFIGS[case.config]).map_err(|e| format!("config: {e}"))?;
    let chain = cfg.pipeline.stages.clone();
    let repo = RepoName::parse("acme/widgets").map_err(|e| e.to_string())?;
    let mut prs: Vec<Pr> = (0..case.prs)
        .map(|k| {
            let key = PrKey {
                repo: repo.clone(),
                number: FIRST_PR + k as u64,
            };
            let mut state =
                GateState::new(key, &Who::Author.person(), sha(k, 0), "main", Some(7), t0());
            state.base_ref = Some("main".into());
            Pr {
                state,
                ledger: Ledger::new(k, chain.len(), sha(k, 0), t0()),
                history: Vec::new(),
            }
        })
        .collect();
    let mut w = World {
        cfg,
        now: t0(),
        clock_skew: if case.skew {
            Duration::seconds(2)
        } else {
            Duration::zero()
        },
        ds: Vec::new(),
        envs: Environments::default(),
        next_comment: 1000,
        log: Vec::new(),
    };
    let mut result = Run::default();

    for (k, generated) in &case.steps {
        let mut work = VecDeque::from([(*k, generated.clone())]);
        let mut wakes = 0;
        while let Some((k, step)) = work.pop_front() {
            for pr in step_pr(k, &step, &mut prs, &mut w, &chain, &mut result)? {
                let woken = usize::try_from(pr.saturating_sub(FIRST_PR)).unwrap_or(usize::MAX);
                if woken < prs.len() && wakes < WAKES_PER_STEP {
                    wakes += 1;
                    work.push_back((woken, Step::Reevaluate));
                }
            }
        }
    }
    Ok(result)
}

/// Applies one step to PR `k` and checks every invariant; returns the
/// PRs it woke.
fn step_pr(
    k: usize,
    step: &Step,
    prs: &mut [Pr],
    w: &mut World,
    chain: &[StageConfig],
    result: &mut Run,
) -> Result<Vec<u64>, String> {
    let step = match step {
        Step::Progress { pick } => progress(&prs[k].state, &prs[k].ledger, w, *pick),
        other => other.clone(),
    };
    let Some((fact, who)) = fact_of(&step, k, &prs[k], w) else {
        return Ok(Vec::new());
    };
    prs[k].history.push((fact.clone(), who));
    let stage_of =
        |env: &crate::core::domain::Environment| chain.iter().position(|s| s.environment == *env);

    // An `/unlock` by the role ends the hold, on whichever PR it is given.
    if let (
        Fact::Command {
            command: command @ Command::Unlock(env),
            ..
        },
        Some(who),
    ) = (&fact, who)
        && command
            .required_role(&w.cfg.pipeline)
            .is_some_and(|r| who.holds(&r))
        && let Some(i) = stage_of(env)
    {
        prs.iter_mut().for_each(|p| p.ledger.unlocked(i));
    }

    {
        let cx = Context {
            config: &w.cfg,
            now: w.now,
            clock_skew: w.clock_skew,
            holders: None,
            environments: &w.envs,
        };
        prs[k].ledger.before(&mut w.ds, &fact, who, &cx);
    }
    let before = prs[k].state.clone();
    let t = apply(&before, &fact, &w.cx());
    let number = before.pr.number;
    w.log.push(format!(
        "{} #{number} {fact:?} -> {:?} ({})",
        w.now,
        t.state.stage_in(&w.cfg.pipeline, &w.envs),
        t.note
    ));

    // Every dispatch is allowed by what people gave for that head, and by
    // the other PRs' holds and places in the queue.
    for a in &t.actions {
        let Action::Dispatch { deploy, .. } = a else {
            continue;
        };
        let why = prs[k]
            .ledger
            .violation(&w.ds, deploy.into(), &fact, who, &w.cx());
        if let Some(why) = why {
            return w.fail(format!("{} {:?}: {why}", deploy.dispatch_id, deploy.kind));
        }
        let i = stage_of(&deploy.environment).unwrap_or(0);
        if deploy.kind == DeployKind::Promote && chain[i].lock {
            if let Some(other) = prs
                .iter()
                .find(|p| p.ledger.pr != k && p.ledger.certainly_holds(&w.ds, chain, i, w.now))
            {
                return w.fail(format!(
                    "{} dispatched to {} while #{} holds it",
                    deploy.dispatch_id, deploy.environment, other.state.pr.number
                ));
            }
            // Those queued before it whose gates still hold go first (the
            // holder redeploying, a `/retry`, jumps no queue).
            let record = w.envs.get(&deploy.environment);
            let holds = record
                .and_then(|r| r.live_lock(w.now, chain[i].lock_timeout))
                .is_some_and(|l| l.pr == number);
            let queue: Vec<u64> = record
                .filter(|_| !holds)
                .map(|r| r.queue.iter().map(|q| q.pr).collect())
                .unwrap_or_default();
            let ahead = queue.iter().take_while(|p| **p != number);
            for q in ahead {
                let Some(waiting) = prs.iter().find(|p| p.state.pr.number == *q) else {
                    continue;
                };
                let asked = Asked {
                    environment: &deploy.environment,
                    kind: DeployKind::Promote,
                    sha: &waiting.ledger.head,
                };
                if waiting
                    .ledger
                    .violation(&w.ds, asked, &Fact::Reevaluate, None, &w.cx())
                    .is_none()
                {
                    return w.fail(format!(
                        "{} dispatched to {} ahead of #{q}, queued before it with its gates met",
                        deploy.dispatch_id, deploy.environment
                    ));
                }
            }
        }
        // A rollback ends anyone's hold there.
        if deploy.kind == DeployKind::Rollback {
            prs.iter_mut().for_each(|p| p.ledger.unlocked(i));
        }
        if chain.last().map(|s| &s.environment) == Some(&deploy.environment)
            && deploy.kind == DeployKind::Promote
        {
            result.last_stage_dispatches += 1;
        }
        let now = w.now;
        prs[k].ledger.dispatched(&mut w.ds, deploy, chain, now);
        if !t.state.deploys().any(|d| d == deploy) {
            return w.fail(format!("{} is not tracked", deploy.dispatch_id));
        }
    }

    // At most one holder: a `/lock` is taken only where no other PR holds.
    let accepted = accepted(&t);
    if let Fact::Command {
        command: Command::Lock { env, .. },
        ..
    } = &fact
        && accepted
        && let Some(i) = stage_of(env)
        && let Some(other) = prs
            .iter()
            .find(|p| p.ledger.pr != k && p.ledger.certainly_holds(&w.ds, chain, i, w.now))
    {
        return w.fail(format!(
            "#{number}'s /lock {env} taken while #{} holds it",
            other.state.pr.number
        ));
    }
    {
        let cx = w.cx();
        prs[k].ledger.after(&fact, who, accepted, &cx);
    }

    let mut envs = w.envs.clone();
    for change in &t.env_changes {
        envs.apply(&t.state.pr.repo, change);
    }
    if let Err(why) = state_invariants(&before, &fact, &t, &prs[k].ledger, w, &envs) {
        return w.fail(why);
    }
    if let Err(why) = transition_invariants(&before, &fact, &t, &w.cx()) {
        return w.fail(why);
    }
    if let Err(why) = queues_keep_order(&w.envs, &envs) {
        return w.fail(why);
    }
    w.envs = envs;
    let woken = t
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Wake { pr } => Some(*pr),
            _ => None,
        })
        .collect();
    prs[k].state = t.state;
    Ok(woken)
}

/// The fact a step gives from where the case stands (and who gave it),
/// or `None` where the step does not apply (no dispatch to pick yet, a
/// command the chain does not have).
fn fact_of(step: &Step, k: usize, pr: &Pr, w: &mut World) -> Option<(Fact, Option<Who>)> {
    let (state, ledger, history) = (&pr.state, &pr.ledger, &pr.history);
    let cfg = &w.cfg;
    let chain = &cfg.pipeline.stages;
    let now = &mut w.now;
    let next_comment = &mut w.next_comment;
    let own: Vec<&Dispatched> = w.ds.iter().filter(|d| d.pr == k).collect();
    let pick = |back: u8| -> Option<&Dispatched> {
        let n = own.len();
        (n > 0).then(|| own[n - 1 - usize::from(back) % n])
    };
    let resolve = |s: ShaSel| match s {
        ShaSel::Head => ledger.head.clone(),
        ShaSel::Next => {
            let at = (0..4u8).find(|i| sha(k, *i) == ledger.head).unwrap_or(0);
            sha(k, at + 1)
        }
        ShaSel::Any(i) => sha(k, i),
    };
    let fact = |f: Fact| Some((f, None));
    match step {
        Step::Tick { secs, reevaluate } => {
            *now += Duration::seconds(i64::from(*secs));
            reevaluate.then_some((Fact::Reevaluate, None))
        }
        Step::Observe {
            open,
            head,
            ungated_base,
        } => fact(Fact::Observed {
            open: open.unwrap_or(ledger.open),
            head: resolve(*head),
            base_ref: if ungated_base.unwrap_or(ledger.ungated_base) {
                "develop"
            } else {
                "main"
            }
            .into(),
            author_id: Who::Author.person().id,
            default_branch: "main".into(),
        }),
        Step::Pushed { sha, by } => fact(Fact::Pushed {
            sha: resolve(*sha),
            by: by.person(),
        }),
        Step::Ci { sha, status } => fact(Fact::Ci {
            sha: resolve(*sha),
            status: *status,
        }),
        Step::BaseCompared { sha, behind_by } => fact(Fact::BaseCompared {
            sha: resolve(*sha),
            behind_by: *behind_by,
        }),
        Step::Command {
            who,
            kind,
            stage,
            written,
            rollback_to,
        } => {
            let command = command_for(kind, chain, *stage)?;
            *next_comment += 1;
            let grant = grant(&command, &cfg.pipeline, |r| who.holds(r));
            let written_at = match written {
                Written::Ago(secs) => Some(*now - Duration::seconds(i64::from(*secs))),
                Written::Unknown => None,
                Written::AfterHead => Some((*now).max(state.gates_since() + Duration::seconds(3))),
            };
            Some((
                Fact::Command {
                    comment_id: *next_comment,
                    actor: Actor {
                        id: who.person().id,
                        login: who.login().into(),
                        grant,
                    },
                    command,
                    written_at,
                    rollback_target: match rollback_to {
                        RollbackTo::Nothing => None,
                        RollbackTo::BeforePr => Some(before_pr()),
                        RollbackTo::PrSha => Some(sha(k, 3)),
                    },
                },
                Some(*who),
            ))
        }
        Step::RolesLost { stage, who } => fact(Fact::RolesLost {
            environment: chain[usize::from(*stage) % chain.len()].environment.clone(),
            givers: vec![who.person().id],
        }),
        Step::Link { back } => {
            let d = pick(*back)?;
            fact(Fact::RunLinked {
                dispatch_id: d.deploy.dispatch_id.clone(),
                run_id: d.run_id,
                url: None,
            })
        }
        Step::Complete {
            back,
            success,
            in_flight,
        } => {
            let d = if *in_flight {
                let running: Vec<&Dispatched> = own
                    .iter()
                    .copied()
                    .filter(|d| d.outcome == Outcome::InFlight)
                    .collect();
                let n = running.len();
                *running.get(n.checked_sub(1 + usize::from(*back) % n.max(1))?)?
            } else {
                pick(*back).filter(|d| d.outcome != Outcome::NotSent)?
            };
            fact(Fact::RunCompleted {
                dispatch_id: d.deploy.dispatch_id.clone(),
                run_id: d.run_id,
                success: *success,
                url: None,
                completed_at: Some(*now),
            })
        }
        Step::ForgedComplete { back, success } => {
            let d = pick(*back).filter(|d| d.linked)?;
            fact(Fact::RunCompleted {
                dispatch_id: d.deploy.dispatch_id.clone(),
                run_id: d.run_id + 500_000,
                success: *success,
                url: None,
                completed_at: Some(*now),
            })
        }
        Step::UnknownRun { success } => fact(Fact::RunCompleted {
            dispatch_id: "42-production-aaaaaaa-99".into(),
            run_id: 77,
            success: *success,
            url: None,
            completed_at: Some(*now),
        }),
        Step::DispatchFailed { back } => {
            let d = pick(*back).filter(|d| !d.linked && d.outcome == Outcome::InFlight)?;
            fact(Fact::DispatchFailed {
                dispatch_id: d.deploy.dispatch_id.clone(),
                reason: "404".into(),
            })
        }
        Step::DispatchCancelled { back } => {
            let d = pick(*back).filter(|d| !d.linked && d.outcome == Outcome::InFlight)?;
            fact(Fact::DispatchCancelled {
                dispatch_id: d.deploy.dispatch_id.clone(),
                reason: "held".into(),
            })
        }
        Step::Config { broken } => fact(Fact::Config {
            error: broken.then(|| "bad yaml".to_string()),
        }),
        Step::Reevaluate | Step::Progress { .. } => fact(Fact::Reevaluate),
        Step::Replay { back } => {
            let n = history.len();
            history
                .get(n.checked_sub(1 + usize::from(*back) % n.max(1))?)
                .cloned()
        }
    }
}
