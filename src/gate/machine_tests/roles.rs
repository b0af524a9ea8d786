//! Gate machine table tests: Roles.

use super::*;

#[test]
fn required_roles() {
    let table = [
        (Command::Lgtm, Some(Role::Qa)),
        (Command::LgtmCancel, None),
        (Command::VerifyStage, Some(Role::Qa)),
        (Command::VerifyStageCancel, None),
        (Command::Approve, Some(Role::Release)),
        (Command::ApproveCancel, None),
        (
            Command::Rollback(Environment::Production),
            Some(Role::Release),
        ),
        (Command::Rollback(Environment::Staging), Some(Role::Qa)),
        (Command::Hold { reason: None }, Some(Role::QaOrRelease)),
        (
            Command::Hold {
                reason: Some("x".into()),
            },
            Some(Role::QaOrRelease),
        ),
        (Command::Unhold, Some(Role::QaOrRelease)),
        (Command::Gates, Some(Role::Read)),
        (Command::Help, None),
    ];
    for (command, role) in &table {
        assert_eq!(required_role(command), *role, "{command:?}");
    }
    let described = [
        (Role::Qa, "qa"),
        (Role::Release, "release"),
        (Role::QaOrRelease, "qa or release"),
        (Role::Read, "read"),
    ];
    for (role, text) in described {
        assert_eq!(role.describe(), text);
    }
}

#[test]
fn cancel_forms_need_no_role() {
    // Ownership is the permission: an actor without the role may withdraw
    // what they gave.
    let mut pr = Pr::new(DEFAULTS);
    pr.lgtm();
    let at = pr.written();
    let f = pr.command_with(QA, false, Command::LgtmCancel, at, None);
    let t = pr.apply(&f);
    assert_eq!(reactions(&t), ["+1"], "{}", t.note);
    assert_eq!(t.state.lgtm, None);
}
