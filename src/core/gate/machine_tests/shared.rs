//! Gate machine tests: environments shared by two PRs of one repository.
//! Each PR is a [`Pr`]; what runs where is handed from one to the other
//! (`share`), as the store hands every PR the same environment records.

use super::*;
use crate::core::gate::blocker::dispatch_blocker;

const OTHER: u64 = 43;

/// #42 and #43 (head [`B`]) under `yaml`.
fn two(yaml: &str) -> (Pr, Pr) {
    (Pr::new(yaml), Pr::other(yaml, OTHER, B))
}

/// `to` sees what runs where as `from` left it, and `from`'s clock.
fn share(from: &Pr, to: &mut Pr) {
    to.envs = from.envs.clone();
    to.now = from.now;
}

fn later(p: &mut Pr, minutes: i64) {
    p.now += Duration::minutes(minutes);
}

/// #43 is deployed to staging over #42's deploy (its run still going).
fn other_deploys_staging(a: &mut Pr, b: &mut Pr) {
    share(a, b);
    later(b, 1);
    b.staging();
    share(b, a);
}

#[test]
fn a_verification_after_another_pr_deployed_there_is_refused() {
    let (mut a, mut b) = two(DEFAULTS);
    a.staged();
    other_deploys_staging(&mut a, &mut b);
    assert_eq!(a.stage(), Stage::Displaced(0));
    let f = a.command(QA, verify_stage());
    let t = a.apply(&f);
    assert_eq!(reactions(&t), ["-1"]);
    assert_eq!(
        replies(&t),
        [
            "@bob `/verify-stage` refused: staging now runs #43 (bbbbbbb); `/retry staging` deploys this head again."
        ]
    );
    assert!(a.s.verification_of(&staging()).is_none());
    // Production is not dispatched on an approve either.
    let f = a.command(REL, approve());
    let t = a.apply(&f);
    assert!(dispatches(&t).is_empty());
}

#[test]
fn a_verification_given_before_the_displacement_stands() {
    let (mut a, mut b) = two(DEFAULTS);
    a.verified();
    later(&mut a, 5);
    other_deploys_staging(&mut a, &mut b);
    assert_eq!(a.stage(), Stage::WaitingForEntry(1));
    later(&mut a, 1);
    let f = a.command(REL, approve());
    let t = a.apply(&f);
    assert_eq!(
        dispatches(&t),
        [prod_deploy(A, REL, "42-production-aaaaaaa-2")]
    );
}

#[test]
fn the_displaced_prs_check_run_is_updated_by_the_deploy_that_displaced_it() {
    let (mut a, mut b) = two(DEFAULTS);
    a.staged();
    share(&a, &mut b);
    later(&mut b, 1);
    b.green();
    let f = b.command(QA, lgtm());
    let t = b.apply(&f);
    assert!(t.actions.contains(&Action::SyncCheckRunOf { pr: PR }));
    // The change is in the record once: applied again, it changes nothing.
    let mut again = b.envs.clone();
    assert!(
        !again.apply(&b.s.pr.repo, &t.env_changes[0]),
        "applied once"
    );
}

#[test]
fn a_run_that_finishes_after_another_deploy_was_sent_is_overtaken() {
    let (mut a, mut b) = two(DEFAULTS);
    a.staging();
    other_deploys_staging(&mut a, &mut b);
    later(&mut a, 3);
    let id = a.stage_id();
    a.finish(&id, true);
    assert_eq!(a.stage(), Stage::Displaced(0));
    // The result goes to the environment's history all the same.
    let record = a.envs.get(&staging()).expect("staging's record");
    let mine = record
        .deploys
        .iter()
        .find(|o| o.dispatch_id == id)
        .expect("listed");
    assert_eq!(mine.status, DeployStatus::Succeeded);
    assert_eq!(record.current().map(|o| o.pr), Some(OTHER));
    let cx = Context {
        environments: &a.envs,
        ..Context::new(&a.cfg, a.now)
    };
    let view = crate::core::gate::summary::render(&a.s, &cx);
    assert_eq!(
        view.title,
        "gatebot: staging deploy was overtaken by #43 (bbbbbbb); `/retry staging` deploys this head again"
    );
    assert!(
        view.text.contains("⤵️ overtaken by #43 (bbbbbbb)"),
        "{}",
        view.text
    );
}

#[test]
fn a_retry_redeploys_a_displaced_stage_keeping_its_entry_and_dropping_its_verification() {
    let (mut a, mut b) = two(VERIFY);
    a.staged();
    // A verify run is dispatched, then #43 deploys over it.
    a.ok(QA, verify_stage());
    other_deploys_staging(&mut a, &mut b);
    later(&mut a, 2);
    // The verify run passing after the displacement passes nothing.
    let id = a.verify_id();
    a.finish(&id, true);
    assert_eq!(a.stage(), Stage::Displaced(0));
    later(&mut a, 1);
    let f = a.command(QA, Command::Retry(staging()));
    let t = a.apply(&f);
    assert_eq!(reactions(&t), ["+1"], "{}", t.note);
    assert_eq!(
        dispatches(&t),
        [stage_deploy(A, QA, "42-staging-aaaaaaa-3")]
    );
    assert!(a.s.verification_of(&staging()).is_none(), "verified anew");
    assert_eq!(a.s.approvals_for(&staging()).len(), 1, "the /lgtm stands");
    assert_eq!(
        a.envs
            .get(&staging())
            .and_then(|r| r.current())
            .map(|o| o.pr),
        Some(PR)
    );
    // Now #43 is the displaced one.
    share(&a, &mut b);
    let id = b.stage_id();
    b.finish(&id, true);
    assert_eq!(b.stage(), Stage::Displaced(0));
}

#[test]
fn a_retry_is_refused_while_the_stage_still_runs_the_head() {
    let (mut a, mut b) = two(DEFAULTS);
    a.staged();
    share(&a, &mut b);
    let f = a.command(QA, Command::Retry(staging()));
    let t = a.apply(&f);
    assert_eq!(reactions(&t), ["-1"]);
    assert!(dispatches(&t).is_empty());
}

/// Found by the property tests over several PRs: a retry of a deploy
/// another PR overtook, sent while its own run still went, put two runs of
/// the PR in flight there.
#[test]
fn a_retry_waits_for_the_overtaken_run_to_finish() {
    let (mut a, mut b) = two(DEFAULTS);
    a.staging();
    other_deploys_staging(&mut a, &mut b);
    later(&mut a, 1);
    let f = a.command(REL, Command::Retry(staging()));
    let t = a.apply(&f);
    assert_eq!(reactions(&t), ["-1"], "{}", t.note);
    assert!(dispatches(&t).is_empty());
    assert_eq!(
        replies(&t),
        ["@carol `/retry` refused: a deploy to staging is still running."]
    );
    // Once it finished (overtaken), the retry goes out.
    let id = a.stage_id();
    a.finish(&id, true);
    let f = a.command(REL, Command::Retry(staging()));
    let t = a.apply(&f);
    assert_eq!(reactions(&t), ["+1"], "{}", t.note);
    assert_eq!(dispatches(&t).len(), 1);
}

#[test]
fn a_soak_cut_short_by_another_deploy_is_not_met() {
    let yaml = "pipeline:\n  - {environment: staging, workflow: cd-stage.yml, entry: {command: lgtm, role: qa}, verify: {command: verify-stage, role: qa}}\n  - {environment: production, workflow: cd-prod.yml, entry: {command: approve, role: release}, soak: 1h}\n";
    let (mut a, mut b) = two(yaml);
    a.verified();
    a.ok(REL, approve());
    assert!(a.s.deploy_to(&production()).is_none(), "soaking");
    later(&mut a, 30);
    other_deploys_staging(&mut a, &mut b);
    assert_eq!(a.stage(), Stage::Displaced(0));
    // The soak's end passes: production stays where it is.
    later(&mut a, 40);
    let f = a.command(REL2, approve());
    let t = a.apply(&f);
    assert!(dispatches(&t).is_empty());
    assert_eq!(
        replies(&t),
        [
            "Recorded, but staging stopped running this head before production's soak ended (it now runs #43 (bbbbbbb)); `/retry staging` deploys this head again and starts a new soak."
        ],
    );
    // A redeploy, a new verification and a new soak.
    let f = a.command(QA, Command::Retry(staging()));
    assert_eq!(reactions(&a.apply(&f)), ["+1"]);
    let id = a.stage_id();
    a.finish(&id, true);
    later(&mut a, 1);
    a.ok(QA, verify_stage());
    assert!(a.s.deploy_to(&production()).is_none(), "a new soak");
    later(&mut a, 61);
    let f = a.command(REL2, approve());
    let t = a.apply(&f);
    assert_eq!(dispatches(&t).len(), 1, "{}", t.note);
}

#[test]
fn a_queued_deploy_another_was_queued_after_does_not_go_out() {
    let (mut a, mut b) = two(DEFAULTS);
    a.staging();
    let id = a.stage_id();
    other_deploys_staging(&mut a, &mut b);
    let cx = Context {
        environments: &a.envs,
        ..Context::new(&a.cfg, a.now)
    };
    assert_eq!(
        dispatch_blocker(&a.s, &id, &cx).map(|r| r.to_string()),
        Some("staging now runs #43 (bbbbbbb); `/retry staging` deploys this head again".into())
    );
    let cx = Context {
        environments: &b.envs,
        ..Context::new(&b.cfg, b.now)
    };
    assert_eq!(dispatch_blocker(&b.s, &b.stage_id(), &cx), None);
}

#[test]
fn a_dispatch_github_refused_displaces_nothing() {
    let (mut a, mut b) = two(DEFAULTS);
    a.staged();
    share(&a, &mut b);
    later(&mut b, 1);
    b.staging();
    let id = b.stage_id();
    b.step(Fact::DispatchFailed {
        dispatch_id: id,
        reason: "422 workflow not found".into(),
    });
    share(&b, &mut a);
    assert_eq!(a.stage(), Stage::WaitingForVerification(0));
    a.ok(QA, verify_stage());
}

#[test]
fn a_verify_run_deploys_nothing_and_displaces_nothing() {
    let (mut a, mut b) = two(VERIFY);
    b.green();
    share(&b, &mut a);
    a.staged();
    a.ok(QA, verify_stage());
    assert_eq!(
        a.envs.get(&staging()).map(|r| r.deploys.len()),
        Some(1),
        "only the deploy is listed"
    );
}
