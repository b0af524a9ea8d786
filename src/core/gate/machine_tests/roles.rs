//! Gate machine table tests: Roles.

use super::*;

#[test]
fn required_roles() {
    let qa = || Some(Role::Named("qa".into()));
    let release = || Some(Role::Named("release".into()));
    let table = [
        (lgtm(), qa()),
        (lgtm_cancel(), None),
        (verify_stage(), qa()),
        (verify_stage_cancel(), None),
        (approve(), release()),
        (approve_cancel(), None),
        (Command::Rollback(production()), release()),
        (Command::Rollback(staging()), qa()),
        (Command::Hold { reason: None }, Some(Role::AnyGate)),
        (
            Command::Hold {
                reason: Some("x".into()),
            },
            Some(Role::AnyGate),
        ),
        (Command::Unhold, Some(Role::AnyGate)),
        (Command::Gates, Some(Role::Read)),
        (Command::Help, None),
    ];
    let chain = RepoConfig::default().pipeline;
    for (command, role) in &table {
        assert_eq!(command.required_role(&chain), *role, "{command:?}");
    }
    let described = [
        (Role::Named("qa".into()), "qa"),
        (Role::Named("release".into()), "release"),
        (Role::AnyGate, "qa or release"),
        (Role::Read, "read"),
    ];
    for (role, text) in described {
        assert_eq!(role.describe(&chain), text);
    }
}

#[test]
fn cancel_forms_need_no_role() {
    // Ownership is the permission: an actor without the role may withdraw
    // what they gave.
    let mut pr = Pr::new(DEFAULTS);
    pr.lgtm();
    let at = pr.written();
    let f = pr.command_with(QA, false, lgtm_cancel(), at, None);
    let t = pr.apply(&f);
    assert_eq!(reactions(&t), ["+1"], "{}", t.note);
    assert_eq!(t.state.approvals_for(&staging()).first(), None);
}
