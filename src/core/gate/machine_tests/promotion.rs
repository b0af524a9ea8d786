//! Gate machine table tests: A whole promotion.

use super::*;

#[test]
fn happy_path_with_a_verify_workflow() {
    let mut pr = Pr::new(VERIFY);
    let mut ids = Vec::new();
    let mut walk = |pr: &mut Pr, fact: Fact, want: Stage| {
        let t = pr.apply(&fact);
        assert!(t.changed, "{fact:?}");
        assert_eq!(t.state.stage(&pr.cfg.pipeline), want, "{fact:?}");
        ids.extend(dispatches(&t).into_iter().map(|d| d.dispatch_id));
    };
    let f = pr.command(QA, lgtm());
    walk(&mut pr, f, Stage::WaitingForCi);
    let f = pr.ci(CiStatus::Green);
    walk(&mut pr, f, Stage::Deploying(0));
    let f = pr.done(&pr.stage_id(), true);
    walk(&mut pr, f, Stage::WaitingForVerification(0));
    let f = pr.command(REL, approve());
    walk(&mut pr, f, Stage::WaitingForVerification(0));
    let f = pr.command(QA2, verify_stage());
    walk(&mut pr, f, Stage::Verifying(0));
    let f = pr.done(&pr.verify_id(), true);
    walk(&mut pr, f, Stage::Deploying(1));
    let f = pr.done(&pr.prod_id(), true);
    walk(&mut pr, f, Stage::Deployed);
    assert_eq!(
        ids,
        [
            "42-staging-aaaaaaa-1",
            "42-verify-aaaaaaa-2",
            "42-production-aaaaaaa-3"
        ]
    );
    assert_eq!(format!("{PR}-staging-{}-1", short(A)), ids[0]);
}
