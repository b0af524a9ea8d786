//! Runs one case: turns each step into a fact, applies it to [`apply`],
//! and checks the invariants after every step against the [`Ledger`].

use chrono::{DateTime, Duration, Utc};

use super::ledger::{Dispatched, Ledger, Outcome};
use super::people::{Who, grant, sha, t0};
use super::steps::{Kind, RollbackTo, ShaSel, Step, Written, command_for};
use crate::core::config::{self, Entry, RepoConfig, StageConfig};
use crate::core::domain::{PrKey, RepoName, Sha};
use crate::core::gate::ci::CiStatus;
use crate::core::gate::state::{DeployKind, DeployStatus, GateState};
use crate::core::gate::{Action, Actor, Context, Fact, Reaction, Transition, apply};

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

/// The happy path's next step from `s`: finish what runs, reopen, fix
/// the config, turn CI green, lift a hold, then the first stage that has
/// not passed gets what it lacks.
fn progress(s: &GateState, ledger: &Ledger, chain: &[StageConfig], pick: u8) -> Step {
    if ledger
        .dispatches
        .iter()
        .any(|d| d.outcome == Outcome::InFlight)
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
    // Stage numbers as `command_for` counts them: among the stages with
    // such a command.
    let nth = |i: usize, has: &dyn Fn(&StageConfig) -> bool| {
        chain.iter().take(i).filter(|s| has(s)).count()
    };
    for (i, stage) in chain.iter().enumerate() {
        if ledger.passed(chain, i).is_some() {
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
                // Entry met: what is left is time (a soak, a freeze).
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

/// The invariants of the state after a step, against the ledger.
fn state_invariants(
    before: &GateState,
    fact: &Fact,
    t: &Transition,
    ledger: &Ledger,
    chain: &[StageConfig],
) -> Result<(), String> {
    // At most one deploy in flight per environment.
    for stage in chain {
        if ledger.in_flight(&stage.environment) > 1 {
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
    // A run result for anything not pending changes nothing.
    if let Fact::RunCompleted { dispatch_id, .. } | Fact::RunLinked { dispatch_id, .. } = fact
        && before
            .deploy(dispatch_id)
            .is_none_or(|d| d.status != DeployStatus::Pending)
        && t.changed
    {
        return Err(format!("a late result for {dispatch_id} changed the state"));
    }
    Ok(())
}

/// Runs one case; `Err` names the broken invariant with the history so far.
pub(super) fn run_case(config: usize, skew: bool, steps: &[Step]) -> Result<Run, String> {
    let cfg: RepoConfig =
        config::parse(super::CONFIGS[config]).map_err(|e| format!("config: {e}"))?;
    let chain = cfg.pipeline.stages.clone();
    let pr = PrKey {
        repo: RepoName::parse("acme/widgets").map_err(|e| e.to_string())?,
        number: 42,
    };
    let mut state = GateState::new(pr, &Who::Author.person(), sha(0), "main", Some(7), t0());
    state.base_ref = Some("main".into());
    let mut now = t0();
    // What runs where: this PR's own deploys and holds only.
    let mut envs = crate::core::gate::Environments::default();
    let mut ledger = Ledger::new(chain.len(), sha(0), now);
    let mut history: Vec<(Fact, Option<Who>)> = Vec::new();
    let mut log: Vec<String> = Vec::new();
    let mut next_comment = 1000u64;
    let mut result = Run::default();
    let clock_skew = if skew {
        Duration::seconds(2)
    } else {
        Duration::zero()
    };

    for generated in steps {
        let step = match generated {
            Step::Progress { pick } => progress(&state, &ledger, &chain, *pick),
            other => other.clone(),
        };
        let Some((fact, who)) = fact_of(
            &step,
            &state,
            &ledger,
            &cfg,
            &history,
            &mut now,
            &mut next_comment,
        ) else {
            continue;
        };
        history.push((fact.clone(), who));
        let cx = Context {
            config: &cfg,
            now,
            clock_skew,
            holders: None,
            environments: &envs,
        };

        ledger.before(&fact, who, &cx);
        let before = state.clone();
        let t = apply(&state, &fact, &cx);
        log.push(format!(
            "{now} {fact:?} -> {:?} ({})",
            t.state.stage_in(&cfg.pipeline, &envs),
            t.note
        ));
        let fail = |why: String, log: &[String]| {
            Err(format!(
                "invariant broken: {why}\nhistory:\n  {}",
                log.join("\n  ")
            ))
        };

        // Every dispatch is allowed by what people gave for that head.
        for a in &t.actions {
            let Action::Dispatch { deploy, .. } = a else {
                continue;
            };
            if let Some(why) = ledger.violation(deploy, &fact, who, &cx) {
                return fail(
                    format!("{} {:?}: {why}", deploy.dispatch_id, deploy.kind),
                    &log,
                );
            }
            if chain.last().map(|s| &s.environment) == Some(&deploy.environment)
                && deploy.kind == DeployKind::Promote
            {
                result.last_stage_dispatches += 1;
            }
            ledger.dispatched(deploy, &chain);
            if !t.state.deploys().any(|d| d == deploy) {
                return fail(format!("{} is not tracked", deploy.dispatch_id), &log);
            }
        }
        ledger.after(&fact, who, accepted(&t), &cx);

        if let Err(why) = state_invariants(&before, &fact, &t, &ledger, &chain) {
            return fail(why, &log);
        }
        if let Err(why) = transition_invariants(&before, &fact, &t, &cx) {
            return fail(why, &log);
        }
        for change in &t.env_changes {
            envs.apply(&t.state.pr.repo, change);
        }
        state = t.state;
    }
    Ok(result)
}

/// The fact a step gives from where the case stands (and who gave it),
/// or `None` where the step does not apply (no dispatch to pick yet, a
/// command the chain does not have).
fn fact_of(
    step: &Step,
    state: &GateState,
    ledger: &Ledger,
    cfg: &RepoConfig,
    history: &[(Fact, Option<Who>)],
    now: &mut DateTime<Utc>,
    next_comment: &mut u64,
) -> Option<(Fact, Option<Who>)> {
    let chain = &cfg.pipeline.stages;
    let pick = |back: u8| -> Option<&Dispatched> {
        let n = ledger.dispatches.len();
        (n > 0).then(|| &ledger.dispatches[n - 1 - usize::from(back) % n])
    };
    let resolve = |s: ShaSel| match s {
        ShaSel::Head => ledger.head.clone(),
        ShaSel::Next => {
            let at = (0..4u8).find(|i| sha(*i) == ledger.head).unwrap_or(0);
            sha(at + 1)
        }
        ShaSel::Any(i) => sha(i),
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
                        RollbackTo::PrSha => Some(sha(3)),
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
                let running: Vec<&Dispatched> = ledger
                    .dispatches
                    .iter()
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
