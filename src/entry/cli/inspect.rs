//! The commands that read the store: `status`, `audit`, `envs` (and the
//! store `reconcile` opens). They never create a database.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::adapters::store::Store;
use crate::core::domain::{PrKey, RepoName};
use crate::entry::settings::StoreUrl;
use crate::entry::stdout;
use crate::entry::wiring::{self, Aws};

/// The store a command that reads (`status`, `audit`, `envs`,
/// `reconcile`) opens: `--store`, else `GATEBOT_STORE`, else
/// `sqlite:gatebot.db`. It says which on stderr, and refuses a SQLite file
/// that does not exist rather than create an empty one: only `serve`
/// creates a database.
pub(super) async fn open_store(flag: Option<&str>, aws: &Aws) -> anyhow::Result<Arc<dyn Store>> {
    let (url, from) = StoreUrl::chosen(flag)?;
    if let StoreUrl::Sqlite(path) = &url
        && path.as_os_str() != ":memory:"
        && !path.exists()
    {
        bail!(
            "no store at {url} (from {from}): nothing was created; name the database with \
             --store sqlite:PATH or GATEBOT_STORE (`make run` keeps sqlite:gatebot-dev.db)"
        );
    }
    eprintln!("gatebot: reading {url} (from {from})");
    wiring::store(url, aws).await
}

fn parse_pr(s: &str) -> anyhow::Result<PrKey> {
    let (repo, n) = s.split_once('#').context("expected OWNER/REPO#N")?;
    Ok(PrKey {
        repo: RepoName::parse(repo)?,
        number: n.parse().context("expected OWNER/REPO#N")?,
    })
}

/// The chain of the config file given (`--config`), or the two-stage
/// default.
fn config_file(path: Option<&Path>) -> anyhow::Result<crate::core::config::RepoConfig> {
    Ok(match path {
        Some(p) => crate::core::config::parse(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => crate::core::config::RepoConfig::default(),
    })
}

/// What runs in each environment of `repo`, as stored.
async fn environments(
    store: &dyn crate::adapters::store::Store,
    repo: &RepoName,
) -> anyhow::Result<crate::core::gate::Environments> {
    Ok(crate::core::gate::Environments {
        records: store
            .load_environments(repo)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect(),
    })
}

pub(super) async fn envs(
    repo: &str,
    store: Option<&str>,
    config: Option<&Path>,
) -> anyhow::Result<()> {
    let repo = RepoName::parse(repo)?;
    let config = config_file(config)?;
    let store = open_store(store, &Aws::default()).await?;
    let envs = environments(store.as_ref(), &repo).await?;
    stdout::print(&crate::core::gate::envs_table(
        &config.pipeline,
        &envs,
        chrono::Utc::now(),
    ));
    Ok(())
}

pub(super) async fn status(
    pr: &str,
    store: Option<&str>,
    config: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let key = parse_pr(pr)?;
    let config = config_file(config)?;
    let store = open_store(store, &Aws::default()).await?;
    let Some(v) = store.load_gate(&key).await? else {
        bail!("gatebot has no record of {key}");
    };
    if json {
        stdout::line(&serde_json::to_string_pretty(&v.value)?);
        return Ok(());
    }
    let envs = environments(store.as_ref(), &key.repo).await?;
    let cx = crate::core::gate::Context {
        environments: &envs,
        ..crate::core::gate::Context::new(&config, chrono::Utc::now())
    };
    let mut text = crate::core::gate::summary::status_text(&v.value.state, &cx);
    if !v.value.pending.is_empty() {
        text.push_str(&format!(
            "pending side effects: {}\n",
            v.value.pending.len()
        ));
    }
    // What is queued and why it may be stuck: the reconciler retries these.
    for p in &v.value.pending {
        let what = match &p.action {
            crate::core::gate::Action::Dispatch {
                workflow, deploy, ..
            } => format!("dispatch {} ({workflow})", deploy.dispatch_id),
            crate::core::gate::Action::SyncCheckRun => "update the gatebot check run".into(),
            crate::core::gate::Action::SyncCheckRunOf { pr } => {
                format!("update the gatebot check run of #{pr}")
            }
            crate::core::gate::Action::Merge { sha, method } => {
                format!("merge {} ({})", sha.short(), method.as_str())
            }
            crate::core::gate::Action::Wake { pr } => {
                format!("look at #{pr} again (an environment it waits for was freed)")
            }
            crate::core::gate::Action::React {
                comment_id,
                reaction,
            } => format!("react {} on comment {comment_id}", reaction.content()),
            crate::core::gate::Action::Reply { .. } => "post a reply".into(),
            crate::core::gate::Action::RecordDeploy { deploy } => {
                format!("record deploy {} in the history", deploy.dispatch_id)
            }
        };
        let queued = p
            .queued_at
            .map(|t| format!(", queued {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
            .unwrap_or_default();
        let tried = p
            .last_attempt
            .map(|t| format!(", last tried {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
            .unwrap_or_default();
        let delivery = p
            .delivery
            .as_deref()
            .map(|d| format!(", delivery {d}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "  #{} {what}: {} failed attempts{queued}{tried}{delivery}\n",
            p.id, p.attempts
        ));
    }
    stdout::print(&text);
    Ok(())
}

pub(super) async fn audit(
    repo: &str,
    pr: Option<u64>,
    store: Option<&str>,
    limit: usize,
) -> anyhow::Result<()> {
    let repo = RepoName::parse(repo)?;
    let store = open_store(store, &Aws::default()).await?;
    for e in store.audit(&repo, pr, limit).await? {
        let more = stdout::line(&format!(
            "{} {}#{} [{}] {}{}",
            e.at.format("%Y-%m-%dT%H:%M:%SZ"),
            e.repo,
            e.pr.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            e.kind,
            e.actor.map(|a| format!("@{a} ")).unwrap_or_default(),
            e.detail
        ));
        if !more {
            break;
        }
    }
    Ok(())
}
