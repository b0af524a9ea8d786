//! Renders a PR's gates as the `gatebot` check run (and the `/gates` reply):
//! a table of every gate with who and when.

use std::fmt::Write;

use super::ci::CiStatus;
use super::machine::Policy;
use super::state::{Deploy, DeployStatus, GateState, Stage};

/// What the `gatebot` check run should show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunView {
    /// `in_progress` or `completed`.
    pub status: &'static str,
    /// Set when `status` is `completed`.
    pub conclusion: Option<&'static str>,
    pub title: String,
    /// Markdown summary.
    pub text: String,
}

fn when(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn deploy_cell(d: &Deploy) -> (String, String) {
    let state = match d.status {
        DeployStatus::Pending => "⏳ running",
        DeployStatus::Succeeded => "✅ deployed",
        DeployStatus::Failed => "❌ failed",
    };
    let run = match (&d.run_url, d.run_id) {
        (Some(url), Some(id)) => format!(" ([run {id}]({url}))"),
        (None, Some(id)) => format!(" (run {id})"),
        _ => String::new(),
    };
    (
        format!("{state}{run}"),
        format!(
            "`{}` by @{}, {}",
            d.dispatch_id,
            d.requested_by,
            when(&d.at)
        ),
    )
}

pub fn render(s: &GateState, policy: &Policy<'_>) -> CheckRunView {
    let stage = s.stage();
    let (status, conclusion) = match stage {
        Stage::Deployed => ("completed", Some("success")),
        Stage::StageFailed | Stage::ProdFailed | Stage::ConfigError => {
            ("completed", Some("failure"))
        }
        Stage::Closed => ("completed", Some("neutral")),
        _ => ("in_progress", None),
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "**{}** — head `{}`\n",
        stage.describe(),
        s.head_sha.short()
    );
    if let Some(e) = &s.config_error {
        let _ = writeln!(t, "> ⚠️ `.github/gatebot.yml` is invalid: {e}\n");
    }
    if let Some(h) = &s.hold {
        let _ = writeln!(
            t,
            "> ✋ held by @{} since {}{}\n",
            h.login,
            when(&h.at),
            h.reason
                .as_ref()
                .map(|r| format!(": {}", crate::markdown::code_span(r)))
                .unwrap_or_default()
        );
    }
    if let Some(f) = policy.config.active_freeze(policy.now) {
        let _ = writeln!(
            t,
            "> ❄️ production frozen until {}{}\n",
            f.to.to_rfc3339(),
            f.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(t, "| gate | state | who / when |\n|---|---|---|");
    let ci = match s.ci {
        CiStatus::Pending => "⏳ pending",
        CiStatus::Green => "✅ green",
        CiStatus::Failed => "❌ failed",
    };
    let _ = writeln!(t, "| CI | {ci} | |");
    match &s.lgtm {
        Some(a) => {
            let _ = writeln!(
                t,
                "| QA review | ✅ /lgtm | @{}, {} |",
                a.login,
                when(&a.at)
            );
        }
        None => {
            let _ = writeln!(t, "| QA review | ⏳ waiting for /lgtm | |");
        }
    }
    match &s.stage {
        Some(d) => {
            let (state, who) = deploy_cell(d);
            let _ = writeln!(t, "| staging deploy | {state} | {who} |");
        }
        None => {
            let _ = writeln!(t, "| staging deploy | — | |");
        }
    }
    match &s.verification {
        Some(v) => {
            let state = match v.run.as_ref().map(|r| r.status) {
                None | Some(DeployStatus::Succeeded) => "✅ verified",
                Some(DeployStatus::Pending) => "⏳ verify workflow running",
                Some(DeployStatus::Failed) => "❌ verify workflow failed",
            };
            let _ = writeln!(
                t,
                "| staging verified | {state} | @{}, {} |",
                v.login,
                when(&v.at)
            );
        }
        None => {
            let _ = writeln!(t, "| staging verified | — | |");
        }
    }
    let approvers = s.approvers();
    let need = policy.config.approvals.prod;
    let who: Vec<String> = s
        .approvals
        .iter()
        .filter(|a| approvers.contains(&a.login.as_str()))
        .map(|a| format!("@{}, {}", a.login, when(&a.at)))
        .collect();
    let mark = if approvers.len() >= need as usize {
        "✅"
    } else {
        "⏳"
    };
    let _ = writeln!(
        t,
        "| production approval | {mark} {}/{need} | {} |",
        approvers.len(),
        who.join("; ")
    );
    match &s.prod {
        Some(d) => {
            let (state, who) = deploy_cell(d);
            let _ = writeln!(t, "| production deploy | {state} | {who} |");
        }
        None => {
            let _ = writeln!(t, "| production deploy | — | |");
        }
    }
    for d in &s.detached {
        let (state, who) = deploy_cell(d);
        let _ = writeln!(
            t,
            "| {} {:?} of `{}` | {state} | {who} |",
            d.environment,
            d.kind,
            d.sha.short()
        );
    }
    CheckRunView {
        status,
        conclusion,
        title: format!("gatebot: {}", stage.describe()),
        text: t,
    }
}

/// A plain-text status for `gatebot status`.
pub fn status_text(s: &GateState) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{}  {}", s.pr, s.stage().describe());
    let _ = writeln!(
        t,
        "  head      {} (author @{}){}",
        s.head_sha,
        s.author,
        if s.open { "" } else { " [closed]" }
    );
    let _ = writeln!(t, "  CI        {:?}", s.ci);
    if let Some(a) = &s.lgtm {
        let _ = writeln!(t, "  /lgtm     @{} at {}", a.login, when(&a.at));
    }
    let deploy = |t: &mut String, label: &str, d: &Deploy| {
        let _ = writeln!(
            t,
            "  {label:<9} {:?} {} by @{}{}",
            d.status,
            d.dispatch_id,
            d.requested_by,
            d.run_id.map(|r| format!(" run {r}")).unwrap_or_default()
        );
    };
    if let Some(d) = &s.stage {
        deploy(&mut t, "staging", d);
    }
    if let Some(v) = &s.verification {
        let _ = writeln!(
            t,
            "  verified  @{} at {}{}",
            v.login,
            when(&v.at),
            if v.passed() {
                ""
            } else {
                " (verify workflow not passed)"
            }
        );
    }
    for a in s.approvals.iter().filter(|a| a.sha == s.head_sha) {
        let _ = writeln!(t, "  /approve  @{} at {}", a.login, when(&a.at));
    }
    if let Some(d) = &s.prod {
        deploy(&mut t, "prod", d);
    }
    if let Some(h) = &s.hold {
        let _ = writeln!(
            t,
            "  HELD      by @{}{}",
            h.login,
            h.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    for d in &s.detached {
        deploy(&mut t, "other", d);
    }
    if let Some(e) = &s.config_error {
        let _ = writeln!(t, "  CONFIG    {e}");
    }
    t
}
