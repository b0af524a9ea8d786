//! Renders a PR's gates as the `gatebot` check run (and the `/gates` reply):
//! a table of every gate with who and when.

use std::fmt::Write;

use super::blocker::{blocker, held};
use super::ci::CiStatus;
use super::context::Context;
use super::state::{Deploy, DeployKind, DeployStatus, GateState, Stage};
use super::status::{StageStatus, walk};
use crate::core::config::{Entry, soak_text};

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
        DeployStatus::Succeeded if d.displaced_by.is_some() => "↩️ rolled back since",
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

/// What the stage's deploy became once another deploy was dispatched
/// there: displaced after it ran, or overtaken while it ran.
fn displacement_cell(st: &StageStatus<'_>) -> Option<String> {
    let (at, d) = (st.displaced_at?, st.deploy?);
    let overtaken = d.status == DeployStatus::Pending || d.finished_at.is_none_or(|f| f > at);
    Some(format!(
        "{} by {} at {}",
        if overtaken {
            "⤵️ overtaken"
        } else {
            "⤵️ displaced"
        },
        st.runs_now(),
        when(&at)
    ))
}

/// The headline: where the PR stands, naming what it waits for. A stage
/// that no longer runs the head says what runs there instead.
fn headline(s: &GateState, stage: Stage, statuses: &[StageStatus<'_>], cx: &Context<'_>) -> String {
    let chain = cx.chain();
    if let Stage::Displaced(i) = stage
        && let Some(env) = chain.stages.get(i).map(|c| &c.environment)
    {
        if let Some(next) = statuses.get(i + 1).filter(|n| n.soak_cut.is_some()) {
            return format!(
                "{env} stopped running this head before {}'s soak ended (it now runs {}); `/retry {env}` deploys it again",
                next.environment(),
                statuses[i].runs_now()
            );
        }
        if let Some(st) = statuses.get(i).filter(|st| st.displaced_at.is_some()) {
            let overtaken = st
                .deploy
                .zip(st.displaced_at)
                .is_some_and(|(d, at)| d.finished_at.is_none_or(|f| f > at));
            return if overtaken {
                format!(
                    "{env} deploy was overtaken by {}; `/retry {env}` deploys this head again",
                    st.runs_now()
                )
            } else {
                format!(
                    "{env} no longer runs this head: it now runs {}; `/retry {env}` deploys it again",
                    st.runs_now()
                )
            };
        }
    }
    // Its entry is met: what it waits for is the rule that holds it back
    // (a hold, a soak, a freeze, a lock).
    if let Stage::WaitingForEntry(i) = stage
        && let Some(st) = statuses.get(i).filter(|st| st.entry_met())
        && let Some(why) = blocker(s, st.environment(), DeployKind::Promote, &s.head_sha, cx)
    {
        return format!("waiting for {}: {why}", st.environment());
    }
    // Known to lack commits of its base, for a stage that needs them.
    if let Stage::WaitingForEntry(i) = stage
        && let Some(st) = statuses.get(i).filter(|st| st.config.up_to_date)
        && let Some(b) = s
            .behind_base
            .as_ref()
            .filter(|b| b.sha == s.head_sha && b.by > 0)
    {
        let base = s.base_branch().to_string();
        return format!(
            "waiting for {}: {}",
            st.environment(),
            super::refusals::Refusal::Behind {
                env: st.environment().clone(),
                base,
                sha: s.head_sha.clone(),
                behind: b.by,
            }
        );
    }
    match held(s) {
        Some(h) if !matches!(stage, Stage::Deployed | Stage::Closed | Stage::NotGated) => {
            format!("{}; {h}", stage.describe(chain))
        }
        _ => stage.describe(chain),
    }
}

/// The check run's view of `s` under `cx`, also the reply to `/gates`.
pub fn render(s: &GateState, cx: &Context<'_>) -> CheckRunView {
    let chain = cx.chain();
    let statuses = walk(s, chain, cx.environments);
    let stage = s.stage_in(chain, cx.environments);
    let title = headline(s, stage, &statuses, cx);
    let (status, conclusion) = match stage {
        Stage::Deployed => ("completed", Some("success")),
        Stage::Closed | Stage::NotGated => ("completed", Some("neutral")),
        s if s.is_failure() => ("completed", Some("failure")),
        _ => ("in_progress", None),
    };
    let mut t = String::new();
    let _ = writeln!(t, "**{}** — head `{}`\n", title, s.head_sha.short());
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
                .map(|r| format!(": {}", crate::core::markdown::code_span(r)))
                .unwrap_or_default()
        );
    }
    for c in &chain.stages {
        if let Some(f) = c.active_freeze(cx.now) {
            let _ = writeln!(
                t,
                "> ❄️ {} frozen until {}{}\n",
                c.environment,
                f.to.to_rfc3339(),
                f.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
        }
    }
    let _ = writeln!(t, "| gate | state | who / when |\n|---|---|---|");
    let ci = match s.ci {
        CiStatus::Pending => "⏳ pending",
        CiStatus::Green => "✅ green",
        CiStatus::Failed => "❌ failed",
    };
    let _ = writeln!(t, "| CI | {ci} | |");
    for st in &statuses {
        let c = st.config;
        let env = &c.environment;
        match &c.entry {
            Entry::Command(g) => {
                let who: Vec<String> = st
                    .approvers
                    .iter()
                    .map(|a| format!("@{}, {}", a.login, when(&a.at)))
                    .collect();
                let mark = if st.entry_met() { "✅" } else { "⏳" };
                let _ = writeln!(
                    t,
                    "| {env} /{} ({}) | {mark} {}/{} | {} |",
                    g.word,
                    g.role,
                    st.approvers.len(),
                    g.approvals,
                    who.join("; ")
                );
            }
            Entry::Auto => {
                let _ = writeln!(t, "| {env} entry | automatic | |");
            }
        }
        if let (Some(soak), Some(until)) = (c.soak, st.soak_end) {
            let mark = if cx.now >= until { "✅" } else { "⏳" };
            let _ = writeln!(
                t,
                "| {env} soak {} | {mark} until {} | |",
                soak_text(soak),
                when(&until)
            );
        }
        match st.deploy {
            Some(d) => {
                let (mut state, who) = deploy_cell(d);
                if let Some(moved) = displacement_cell(st) {
                    state = format!("{state}; {moved}");
                }
                let _ = writeln!(t, "| {env} deploy | {state} | {who} |");
            }
            None => {
                let _ = writeln!(t, "| {env} deploy | — | |");
            }
        }
        if let Some(verify) = &c.verify {
            match st.verification {
                Some(v) => {
                    let state = match v.run.as_ref().map(|r| r.status) {
                        None | Some(DeployStatus::Succeeded) => "✅ verified",
                        Some(DeployStatus::Pending) => "⏳ verify workflow running",
                        Some(DeployStatus::Failed) => "❌ verify workflow failed",
                    };
                    let _ = writeln!(
                        t,
                        "| {env} verified (/{}) | {state} | @{}, {} |",
                        verify.word,
                        v.login,
                        when(&v.at)
                    );
                }
                None => {
                    let _ = writeln!(t, "| {env} verified (/{}) | — | |", verify.word);
                }
            }
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
        title: format!("gatebot: {title}"),
        text: t,
    }
}

/// A plain-text status for `gatebot status`: where the PR stands in
/// `chain` (with what runs in each environment as `envs` says), then
/// every stage's recorded gates.
pub fn status_text(s: &GateState, cx: &Context<'_>) -> String {
    let chain = cx.chain();
    let stage = s.stage_in(chain, cx.environments);
    let statuses = walk(s, chain, cx.environments);
    let mut t = String::new();
    // The check run's headline: what the PR waits for (a hold included).
    let _ = writeln!(t, "{}  {}", s.pr, headline(s, stage, &statuses, cx));
    let _ = writeln!(
        t,
        "  head        {} (author @{}){}",
        s.head_sha,
        s.author,
        if s.open { "" } else { " [closed]" }
    );
    let _ = writeln!(t, "  CI          {:?}", s.ci);
    let deploy = |t: &mut String, label: &str, d: &Deploy| {
        let _ = writeln!(
            t,
            "  {label:<11} {:?} {} by @{}{}",
            d.status,
            d.dispatch_id,
            d.requested_by,
            d.run_id.map(|r| format!(" run {r}")).unwrap_or_default()
        );
    };
    for g in &s.stages {
        let env = g.environment.as_str();
        for a in g.approvals.iter().filter(|a| a.sha == s.head_sha) {
            let _ = writeln!(t, "  {env:<11} entry by @{} at {}", a.login, when(&a.at));
        }
        if let Some(d) = &g.deploy {
            deploy(&mut t, env, d);
        }
        if let Some(v) = &g.verification {
            let _ = writeln!(
                t,
                "  {env:<11} verified by @{} at {}{}",
                v.login,
                when(&v.at),
                if v.passed() {
                    ""
                } else {
                    " (verify workflow not passed)"
                }
            );
        }
    }
    if let Some(h) = &s.hold {
        let _ = writeln!(
            t,
            "  HELD        by @{}{}",
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
        let _ = writeln!(t, "  CONFIG      {e}");
    }
    t
}
