//! The reply to `/help`: the commands of the repository's chain, who may
//! use each and what it does.

use crate::core::config::Pipeline;

/// The reply to `/help`: every command `chain` answers, who may use it and
/// what it does.
pub(crate) fn help_text(chain: &Pipeline) -> String {
    use std::fmt::Write as _;
    let mut t = String::from("| Command | Who may use it | Effect |\n| --- | --- | --- |\n");
    let mut row = |command: String, who: &str, effect: String| {
        let cell = if command.starts_with('/') {
            format!("`{command}`")
        } else {
            command
        };
        let _ = writeln!(t, "| {cell} | {who} | {effect} |");
    };
    let mut previous: Option<&str> = None;
    for stage in &chain.stages {
        let env = stage.environment.as_str();
        let named = |word: &str| chain.typed(word, &stage.environment);
        let after = match previous {
            None => "once CI is green".to_string(),
            Some(p) => format!("once {p} has passed"),
        };
        let soak = stage
            .soak
            .map(|d| {
                format!(
                    " and {} have passed since",
                    crate::core::config::soak_text(d)
                )
            })
            .unwrap_or_default();
        if let crate::core::config::Entry::Command(g) = &stage.entry {
            let quorum = if g.approvals > 1 {
                format!(" and {} distinct people have given it", g.approvals)
            } else {
                String::new()
            };
            row(
                named(&g.word),
                &g.role,
                format!(
                    "Sign off the head commit for {env}; gatebot deploys it to {env} {after}{soak}{quorum}"
                ),
            );
            row(
                format!("{} cancel", named(&g.word)),
                "whoever gave it",
                format!("Withdraw your `/{}` before {env} is dispatched", g.word),
            );
        } else {
            row(
                "(no command)".into(),
                "automatic",
                format!("gatebot deploys the head commit to {env} {after}{soak}"),
            );
        }
        if let Some(v) = &stage.verify {
            let runs = match &v.workflow {
                Some(w) => format!(" (runs `{w}`)"),
                None => String::new(),
            };
            row(
                named(&v.word),
                &v.role,
                format!("Confirm the head commit works on {env}{runs}"),
            );
            row(
                format!("{} cancel", named(&v.word)),
                "whoever gave it",
                format!("Withdraw your verification of {env} before the next stage is dispatched"),
            );
            row(
                format!("/verify {env} [cancel]"),
                &format!("{} (cancel: whoever gave it)", v.role),
                format!(
                    "The same as `/{}` (and its cancel), naming the stage",
                    v.word
                ),
            );
        }
        previous = Some(env);
    }
    let rollback_roles: Vec<String> = chain
        .stages
        .iter()
        .map(|s| format!("{} ({})", s.rollback_role(), s.environment))
        .collect();
    let last = chain.last().map(|s| s.environment.as_str()).unwrap_or("");
    row(
        "/rollback [environment]".into(),
        &rollback_roles.join(", "),
        format!("Redeploy the previously deployed commit (`{last}` when no environment is named)"),
    );
    row(
        "/retry <environment>".into(),
        &rollback_roles.join(", "),
        "Deploy the head commit to the stage again after its deploy failed or something else was deployed there, every gate checked anew"
            .into(),
    );
    let holders = chain.gate_roles().join(" or ");
    row(
        "/hold [reason]".into(),
        &holders,
        "Stop gatebot dispatching anything for this pull request".into(),
    );
    row("/unhold".into(), &holders, "Lift the hold".into());
    let locked: Vec<&crate::core::config::StageConfig> =
        chain.stages.iter().filter(|s| s.lock).collect();
    if !locked.is_empty() {
        let roles = |own: bool| -> String {
            locked
                .iter()
                .map(|s| {
                    let role = s.rollback_role();
                    if own || role == "release" {
                        format!("{role} ({})", s.environment)
                    } else {
                        format!("{role} or release ({})", s.environment)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        row(
            "/lock <environment> [reason]".into(),
            &roles(true),
            "Hold a locked environment for this pull request without deploying".into(),
        );
        row(
            "/unlock <environment>".into(),
            &roles(false),
            "End the hold on a locked environment (any pull request's); the first queued goes next"
                .into(),
        );
    }
    row(
        "/gates".into(),
        "anyone",
        "Show the state of every gate".into(),
    );
    row(
        "/envs".into(),
        "anyone with read access",
        "Show what runs in each environment, who holds it and who waits for it".into(),
    );
    row("/help".into(), "anyone", "Show this table".into());
    t.push_str(
        "\nPut each command at the start of its own line; case does not matter. \
Lines in quotes, code blocks and HTML comments are ignored. \
The pull request's author cannot give its gate commands.\n",
    );
    t
}
