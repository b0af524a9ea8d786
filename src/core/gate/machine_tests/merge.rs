//! Gate machine tests: `merge:` on the last stage.

use super::*;

const MERGING: &str = "pipeline:
  - {environment: staging, workflow: cd-stage.yml, entry: {command: lgtm, role: qa}, verify: {command: verify-stage, role: qa}}
  - {environment: production, workflow: cd-prod.yml, entry: {command: approve, role: release}, merge: rebase}
";

fn merges(t: &Transition) -> Vec<(Sha, &'static str)> {
    t.actions
        .iter()
        .filter_map(|a| match a {
            Action::Merge { sha, method } => Some((sha.clone(), method.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_pr_is_merged_once_when_its_last_stage_passed() {
    let mut p = Pr::new(MERGING);
    p.approved();
    let id = p.prod_id();
    let f = p.done(&id, true);
    let t = p.apply(&f);
    assert_eq!(merges(&t), [(sha(A), "rebase")]);
    // Applied again, or any later fact: no second merge.
    let t = p.apply(&f);
    assert!(merges(&t).is_empty());
    let t = p.apply(&Fact::Reevaluate);
    assert!(merges(&t).is_empty());
}

#[test]
fn a_failed_production_run_merges_nothing() {
    let mut p = Pr::new(MERGING);
    p.approved();
    let id = p.prod_id();
    let f = p.done(&id, false);
    assert!(merges(&p.apply(&f)).is_empty());
}

#[test]
fn a_hold_defers_the_merge_until_unhold() {
    let mut p = Pr::new(MERGING);
    p.approved();
    p.hold();
    let id = p.prod_id();
    let f = p.done(&id, true);
    assert!(merges(&p.apply(&f)).is_empty());
    let f = p.command(REL, Command::Unhold);
    assert_eq!(merges(&p.apply(&f)), [(sha(A), "rebase")]);
}
