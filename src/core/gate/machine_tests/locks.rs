//! Gate machine tests: a locked staging (`lock: true`) shared by PRs #42,
//! #43 and #44 of one repository: the hold, the queue, `/lock`, `/unlock`.

use super::*;

const B_PR: u64 = 43;
const C_PR: u64 = 44;

const LOCKED: &str = "pipeline:
  - {environment: staging, workflow: cd-stage.yml, entry: {command: lgtm, role: qa}, verify: {command: verify-stage, role: qa}, lock: true}
  - {environment: production, workflow: cd-prod.yml, entry: {command: approve, role: release}}
";

/// Production locked too: its hold ends when it passes.
const BOTH_LOCKED: &str = "pipeline:
  - {environment: staging, workflow: cd-stage.yml, entry: {command: lgtm, role: qa}, lock: true}
  - {environment: production, workflow: cd-prod.yml, entry: {command: approve, role: release}, lock: true, lock_timeout: 1h}
";

/// `to` sees what runs where as `from` left it, and `from`'s clock.
fn share(from: &Pr, to: &mut Pr) {
    to.envs = from.envs.clone();
    to.now = from.now;
}

fn holder(p: &Pr, env: Environment) -> Option<u64> {
    p.envs.get(&env).and_then(|r| r.lock.as_ref()).map(|l| l.pr)
}

fn queue(p: &Pr, env: Environment) -> Vec<u64> {
    p.envs
        .get(&env)
        .map(|r| r.queue.iter().map(|q| q.pr).collect())
        .unwrap_or_default()
}

fn wakes(t: &Transition) -> Vec<u64> {
    t.actions
        .iter()
        .filter_map(|a| match a {
            Action::Wake { pr } => Some(*pr),
            _ => None,
        })
        .collect()
}

/// #42 holds staging (its deploy dispatched); #43's `/lgtm` meets its
/// gates and queues.
fn a_holds_b_queued() -> (Pr, Pr) {
    let mut a = Pr::new(LOCKED);
    a.staging();
    assert_eq!(holder(&a, staging()), Some(PR));
    let mut b = Pr::other(LOCKED, B_PR, B);
    share(&a, &mut b);
    b.green();
    let f = b.command(QA, lgtm());
    let t = b.apply(&f);
    assert_eq!(reactions(&t), ["+1"]);
    assert_eq!(
        replies(&t),
        [
            "Recorded, but staging is held by #42 (`/unlock staging` to release it); this PR is queued, position 1."
        ]
    );
    assert!(dispatches(&t).is_empty());
    assert_eq!(queue(&b, staging()), [B_PR]);
    assert!(b.s.awaits_time, "a queued PR is watched");
    (a, b)
}

#[test]
fn a_pr_whose_gates_are_met_queues_while_another_holds_the_environment() {
    let (_, b) = a_holds_b_queued();
    let cx = Context {
        environments: &b.envs,
        ..Context::new(&b.cfg, b.now)
    };
    let view = crate::core::gate::summary::render(&b.s, &cx);
    assert_eq!(
        view.title,
        "gatebot: waiting for staging: staging is held by #42 (`/unlock staging` to release it); this PR is queued, position 1"
    );
}

#[test]
fn the_hold_ends_when_the_holder_moves_on_and_the_first_queued_goes() {
    let (mut a, mut b) = a_holds_b_queued();
    share(&b, &mut a);
    let id = a.stage_id();
    a.finish(&id, true);
    assert_eq!(holder(&a, staging()), Some(PR), "held while it is verified");
    a.ok(QA, verify_stage());
    let f = a.command(REL, approve());
    let t = a.apply(&f);
    assert_eq!(dispatches(&t).len(), 1, "production");
    assert_eq!(holder(&a, staging()), None, "its next stage is dispatched");
    assert_eq!(wakes(&t), [B_PR]);
    // Woken, #43 is dispatched and holds staging.
    share(&a, &mut b);
    let t = b.apply(&Fact::Reevaluate);
    assert_eq!(
        dispatches(&t),
        [stage_deploy(B, QA, "43-staging-bbbbbbb-1")]
    );
    assert_eq!(holder(&b, staging()), Some(B_PR));
    assert!(queue(&b, staging()).is_empty());
}

#[test]
fn closing_the_holder_releases_the_environment() {
    let (mut a, _) = a_holds_b_queued();
    let mut b_envs = a.envs.clone();
    b_envs.apply(
        &a.s.pr.repo,
        &crate::core::gate::EnvChange::Enqueue {
            environment: staging(),
            entry: crate::core::gate::occupancy::Queued {
                pr: B_PR,
                sha: sha(B),
                since: a.now,
            },
        },
    );
    a.envs = b_envs;
    let f = a.closed();
    let t = a.apply(&f);
    assert_eq!(holder(&a, staging()), None);
    assert_eq!(wakes(&t), [B_PR]);
}

#[test]
fn a_push_releases_the_holders_lock() {
    let (mut a, b) = a_holds_b_queued();
    share(&b, &mut a);
    a.push(B);
    assert_eq!(holder(&a, staging()), None);
}

#[test]
fn a_hold_past_its_timeout_no_longer_stands() {
    let (mut a, mut b) = a_holds_b_queued();
    share(&b, &mut a);
    b.now += Duration::hours(4) + Duration::seconds(1);
    let t = b.apply(&Fact::Reevaluate);
    assert_eq!(dispatches(&t).len(), 1, "{}", t.note);
    assert_eq!(holder(&b, staging()), Some(B_PR));
    // The old holder finds its hold gone.
    share(&b, &mut a);
    let f = a.command(QA, Command::Unlock(staging()));
    let t = a.apply(&f);
    assert_eq!(
        reactions(&t),
        ["+1"],
        "#43 holds it now: anyone's hold ends"
    );
}

#[test]
fn the_queue_is_first_come_first_served() {
    let (mut a, mut b) = a_holds_b_queued();
    let mut c = Pr::other(LOCKED, C_PR, OLD);
    share(&b, &mut c);
    c.green();
    let f = c.command(QA, lgtm());
    let t = c.apply(&f);
    assert!(
        replies(&t)[0].contains("this PR is queued, position 2"),
        "{:?}",
        replies(&t)
    );
    // #42 lets go: #44 looks first, but #43 was queued before it.
    share(&c, &mut a);
    let f = a.command(QA, Command::Unlock(staging()));
    assert_eq!(reactions(&a.apply(&f)), ["+1"]);
    share(&a, &mut c);
    let t = c.apply(&Fact::Reevaluate);
    assert!(dispatches(&t).is_empty());
    assert_eq!(queue(&c, staging()), [B_PR, C_PR]);
    share(&c, &mut b);
    let t = b.apply(&Fact::Reevaluate);
    assert_eq!(dispatches(&t).len(), 1);
    assert_eq!(queue(&b, staging()), [C_PR]);
}

#[test]
fn a_queued_pr_whose_gates_no_longer_hold_leaves_the_queue() {
    let (mut a, mut b) = a_holds_b_queued();
    // A push voids #43's /lgtm: it leaves, and says so.
    let f = observed(true, OLD, "main");
    b.step(f);
    assert!(queue(&b, staging()).is_empty());
    // With #42's hold gone, nobody is woken for nothing.
    share(&b, &mut a);
    let f = a.command(QA, Command::Unlock(staging()));
    let t = a.apply(&f);
    assert!(wakes(&t).is_empty());
}

#[test]
fn a_hold_on_a_queued_pr_takes_it_out_with_a_reply() {
    let (_, mut b) = a_holds_b_queued();
    let f = b.command(
        REL,
        Command::Hold {
            reason: Some("incident 12".into()),
        },
    );
    let t = b.apply(&f);
    assert_eq!(reactions(&t), ["+1"]);
    assert!(queue(&b, staging()).is_empty(), "{}", t.note);
    assert_eq!(
        replies(&t),
        [
            "This pull request left staging's queue: dispatches are held by @carol (`incident 12`); `/unhold` first."
        ]
    );
}

#[test]
fn lock_holds_without_deploying_and_a_second_lock_is_refused() {
    let mut a = Pr::new(LOCKED);
    let f = a.command(
        QA,
        Command::Lock {
            env: staging(),
            reason: Some("checking a migration".into()),
        },
    );
    let t = a.apply(&f);
    assert_eq!(reactions(&t), ["+1"]);
    assert!(dispatches(&t).is_empty());
    let lock = a
        .envs
        .get(&staging())
        .and_then(|r| r.lock.clone())
        .expect("held");
    assert_eq!(lock.pr, PR);
    assert_eq!(lock.reason.as_deref(), Some("checking a migration"));
    let mut b = Pr::other(LOCKED, B_PR, B);
    share(&a, &mut b);
    let f = b.command(
        QA2,
        Command::Lock {
            env: staging(),
            reason: None,
        },
    );
    let t = b.apply(&f);
    assert_eq!(reactions(&t), ["-1"]);
    assert_eq!(
        replies(&t),
        ["@dave `/lock` refused: staging is already held by #42."]
    );
    // Its own deploy is not held up by its own hold.
    a.staging();
}

#[test]
fn unlock_needs_a_hold_and_lock_needs_a_locked_stage() {
    let mut a = Pr::new(LOCKED);
    let f = a.command(QA, Command::Unlock(staging()));
    let t = a.apply(&f);
    assert_eq!(
        replies(&t),
        ["@bob `/unlock` refused: there is nothing to cancel: staging is not held."]
    );
    let f = a.command(
        REL,
        Command::Lock {
            env: production(),
            reason: None,
        },
    );
    let t = a.apply(&f);
    assert_eq!(
        replies(&t),
        ["@carol `/lock` refused: production has no lock (`lock: true` in the chain)."]
    );
}

#[test]
fn unlock_by_the_stage_role_or_release() {
    let chain = &config::parse(LOCKED).unwrap().pipeline;
    assert_eq!(
        Command::Unlock(staging()).required_role(chain),
        Some(Role::AnyOf(vec!["qa".into(), "release".into()]))
    );
    assert_eq!(
        Command::Lock {
            env: staging(),
            reason: None
        }
        .required_role(chain),
        Some(Role::Named("qa".into()))
    );
}

#[test]
fn a_rollback_is_not_held_up_and_ends_the_hold() {
    let (_, mut b) = a_holds_b_queued();
    let f = b.rollback(QA, staging());
    let t = b.apply(&f);
    assert_eq!(dispatches(&t).len(), 1, "{}", t.note);
    assert_eq!(holder(&b, staging()), None);
}

/// Found by the property tests over several PRs: a PR redeploying its
/// stage after its next stage was dispatched (a rollback there, then
/// `/retry`) took the hold and let it go at once, as if it had moved on.
#[test]
fn a_redeploy_after_the_next_stage_was_dispatched_holds_the_environment() {
    let mut a = Pr::new(LOCKED);
    a.staging();
    let id = a.stage_id();
    a.finish(&id, true);
    a.ok(QA, verify_stage());
    a.ok(REL, approve());
    assert_eq!(holder(&a, staging()), None, "moved on to production");
    let f = a.rollback(QA, staging());
    let t = a.apply(&f);
    let id = t.actions.iter().find_map(|x| match x {
        Action::Dispatch { deploy, .. } => Some(deploy.dispatch_id.clone()),
        _ => None,
    });
    a.finish(&id.expect("the rollback"), true);
    let f = a.command(QA, Command::Retry(staging()));
    let t = a.apply(&f);
    assert_eq!(dispatches(&t).len(), 1, "{}", t.note);
    assert_eq!(
        holder(&a, staging()),
        Some(PR),
        "held while it is redeployed"
    );
}

#[test]
fn the_last_stages_hold_ends_when_it_passes() {
    let mut a = Pr::new(BOTH_LOCKED);
    a.green();
    a.lgtm();
    let id = a.stage_id();
    a.finish(&id, true);
    assert_eq!(holder(&a, staging()), Some(PR));
    a.ok(REL, approve());
    assert_eq!(holder(&a, staging()), None);
    assert_eq!(holder(&a, production()), Some(PR));
    let id = a.prod_id();
    a.finish(&id, true);
    assert_eq!(holder(&a, production()), None);
}

#[test]
fn envs_shows_what_runs_where_the_holder_and_the_queue() {
    let (_, mut b) = a_holds_b_queued();
    let f = b.command(READER_LOGIN, Command::Envs);
    let t = b.apply(&f);
    assert_eq!(reactions(&t), ["+1"]);
    let table = replies(&t)[0].to_string();
    assert!(
        table.contains("| staging | #42 `aaaaaaa` | 2026-06-01 12:00 UTC | ⏳ dispatched | #42 since 2026-06-01 12:00 UTC | #43 |"),
        "{table}"
    );
    assert!(
        table.contains("| production | — | — | free | no lock | — |"),
        "{table}"
    );
}

const READER_LOGIN: &str = "randy";
