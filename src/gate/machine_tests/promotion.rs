//! Gate machine table tests: A whole promotion.

use super::*;

#[test]
fn happy_path_with_a_verify_workflow() {
    let mut pr = Pr::new(VERIFY);
    let mut ids = Vec::new();
    let mut walk = |pr: &mut Pr, fact: Fact, want: Stage| {
        let t = pr.apply(&fact);
        assert!(t.changed, "{fact:?}");
        assert_eq!(t.state.stage(), want, "{fact:?}");
        ids.extend(dispatches(&t).into_iter().map(|d| d.dispatch_id));
    };
    let f = pr.command(QA, Command::Lgtm);
    walk(&mut pr, f, Stage::WaitingForCi);
    let f = pr.ci(CiStatus::Green);
    walk(&mut pr, f, Stage::StageDeploying);
    let f = pr.done(&pr.stage_id(), true);
    walk(&mut pr, f, Stage::WaitingForVerification);
    let f = pr.command(REL, Command::Approve);
    walk(&mut pr, f, Stage::WaitingForVerification);
    let f = pr.command(QA2, Command::VerifyStage);
    walk(&mut pr, f, Stage::Verifying);
    let f = pr.done(&pr.verify_id(), true);
    walk(&mut pr, f, Stage::ProdDeploying);
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
