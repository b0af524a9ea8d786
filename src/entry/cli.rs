//! The `gatebot` command line: `serve`, `send`, `status`, `audit`,
//! `reconcile`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde::Deserialize;

use crate::adapters::github::GitHub;
use crate::adapters::github::dry_run::DryRunGitHub;
use crate::adapters::store::Store;
use crate::app::App;
use crate::core::domain::{PrKey, RepoName};
use crate::core::signature::WebhookSecrets;
use crate::entry::http::{HttpState, router};
use crate::entry::settings::{self, StoreUrl};
use crate::entry::wiring::{self, AppKey, Aws};

#[derive(Debug, Parser)]
#[command(
    name = "gatebot",
    version,
    about = "Human verification gates between a pull request and production"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: CliCommand,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Serve the webhook (POST /webhook, /healthz, /readyz, /metrics).
    Serve {
        /// Listen address; default APP_HOST:APP_PORT (127.0.0.1:8080).
        #[arg(long)]
        addr: Option<String>,
        /// Store URL (sqlite:PATH or dynamodb:TABLE); default GATEBOT_STORE.
        #[arg(long)]
        store: Option<String>,
        /// Send nothing to GitHub: log and audit writes instead. Not for production.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: the .github/gatebot.yml to use.
        #[arg(long, requires = "dry_run")]
        config: Option<PathBuf>,
        /// Seconds between reconcile passes (0: never).
        #[arg(long, default_value_t = 60)]
        reconcile_every: u64,
    },
    /// Sign and POST delivery files (see events/README.md) to a gatebot.
    Send {
        /// The webhook URL.
        #[arg(long, default_value = "http://127.0.0.1:8080/webhook")]
        url: String,
        /// Delivery files, sent in the order given.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Send `comment.created_at` as the file has it. By default a
        /// comment is stamped with the time it is sent, as GitHub stamps a
        /// comment written now: gatebot refuses a gate command written
        /// before it learned of the PR's head (a replayed old file).
        #[arg(long)]
        keep_times: bool,
    },
    /// Show a pull request's gates from the store.
    /// What runs in each environment of a repository's chain, who holds
    /// it and who waits for it (as `/envs` replies).
    Envs {
        /// OWNER/REPO
        repo: String,
        #[arg(long)]
        store: Option<String>,
        /// The repository's `.github/gatebot.yml`, for its chain of stages
        /// (the two-stage default when not given).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    Status {
        /// OWNER/REPO#N
        pr: String,
        #[arg(long)]
        store: Option<String>,
        /// The repository's `.github/gatebot.yml`, for its chain of stages
        /// (the two-stage default when not given).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the stored record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the audit log of a repository (or one PR).
    Audit {
        /// OWNER/REPO
        repo: String,
        #[arg(long)]
        pr: Option<u64>,
        #[arg(long)]
        store: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Run one reconcile pass: finish pending side effects.
    Reconcile {
        #[arg(long)]
        store: Option<String>,
    },
}

/// The store `--store` names, else `GATEBOT_STORE`'s.
async fn open_store(url: Option<&str>, aws: &Aws) -> anyhow::Result<Arc<dyn Store>> {
    let url = match url {
        Some(u) => StoreUrl::parse(u)?,
        None => StoreUrl::from_env()?,
    };
    wiring::store(url, aws).await
}

/// The GitHub client, with the secrets it reads its key from.
async fn github(aws: &Aws) -> anyhow::Result<Arc<dyn GitHub>> {
    wiring::github(wiring::secrets(aws, AppKey::Needed).await?).await
}

/// `--dry-run`'s GitHub: writes logged, the config read from `--config`.
fn dry_run_github(config: Option<&Path>) -> anyhow::Result<Arc<dyn GitHub>> {
    let text = match config {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    Ok(Arc::new(DryRunGitHub::new(text)))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        CliCommand::Serve {
            addr,
            store,
            dry_run,
            config,
            reconcile_every,
        } => serve(addr, store, dry_run, config, reconcile_every).await,
        CliCommand::Send {
            url,
            files,
            keep_times,
        } => send(&url, &files, keep_times).await,
        CliCommand::Status {
            pr,
            store,
            config,
            json,
        } => status(&pr, store.as_deref(), config.as_deref(), json).await,
        CliCommand::Audit {
            repo,
            pr,
            store,
            limit,
        } => audit(&repo, pr, store.as_deref(), limit).await,
        CliCommand::Envs {
            repo,
            store,
            config,
        } => envs(&repo, store.as_deref(), config.as_deref()).await,
        CliCommand::Reconcile { store } => {
            let aws = Aws::default();
            let app = App::new(
                open_store(store.as_deref(), &aws).await?,
                github(&aws).await?,
            );
            let report = crate::app::reconcile::run_once(&app).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

async fn serve(
    addr: Option<String>,
    store: Option<String>,
    dry_run: bool,
    config: Option<PathBuf>,
    reconcile_every: u64,
) -> anyhow::Result<()> {
    let aws = Aws::default();
    let app_key = if dry_run {
        AppKey::NotNeeded
    } else {
        AppKey::Needed
    };
    let secrets = wiring::secrets(&aws, app_key).await?;
    let store = open_store(store.as_deref(), &aws).await?;
    let gh = if dry_run {
        dry_run_github(config.as_deref())?
    } else {
        wiring::github(secrets.clone()).await?
    };
    if dry_run {
        tracing::warn!(
            "DRY RUN: nothing is sent to GitHub; roles come only from logins in --config. NOT FOR PRODUCTION."
        );
        eprintln!(
            "*** gatebot --dry-run: GitHub writes are logged, not sent. NOT FOR PRODUCTION. ***"
        );
    }
    let mut app = App::new(store, gh);
    if dry_run {
        // No GitHub: comment times come from `gatebot send` on this very
        // clock, so there is no skew between two clocks to allow for.
        app.clock_skew = chrono::Duration::zero();
    }
    let app = app.share();
    let state = Arc::new(HttpState {
        app: app.clone(),
        secrets,
        metrics: crate::adapters::telemetry::metrics(),
    });
    let addr = addr.unwrap_or_else(settings::listen_addr);
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("invalid listen address {addr}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, dry_run, "gatebot listening");
    if reconcile_every > 0 {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(reconcile_every));
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = crate::app::reconcile::run_once(&app).await {
                    tracing::error!(error = %e, "reconcile pass failed");
                }
            }
        });
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// A delivery file: GitHub's headers and the raw payload.
#[derive(Deserialize)]
struct DeliveryFile {
    headers: std::collections::BTreeMap<String, String>,
    body: Box<serde_json::value::RawValue>,
}

/// The body to send: the file's bytes, or for an `issue_comment` (unless
/// `keep_times`) the same payload with `comment.created_at` set to now.
fn body_to_send(file: &DeliveryFile, keep_times: bool) -> anyhow::Result<Vec<u8>> {
    let event = file
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-github-event"))
        .map(|(_, v)| v.as_str());
    if keep_times || event != Some("issue_comment") {
        return Ok(file.body.get().as_bytes().to_vec());
    }
    let mut body: serde_json::Value = serde_json::from_str(file.body.get())?;
    if let Some(comment) = body.get_mut("comment").and_then(|c| c.as_object_mut()) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        comment.insert("created_at".into(), serde_json::Value::String(now));
    }
    Ok(serde_json::to_vec(&body)?)
}

async fn send(url: &str, files: &[PathBuf], keep_times: bool) -> anyhow::Result<()> {
    let secrets: WebhookSecrets = settings::webhook_secrets()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut failed = 0;
    for path in files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: DeliveryFile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a delivery file ({{\"headers\":…,\"body\":…}})",
                path.display()
            )
        })?;
        let body = body_to_send(&file, keep_times)?;
        let mut req = client.post(url).header("content-type", "application/json");
        for (k, v) in &file.headers {
            if !k.eq_ignore_ascii_case("x-hub-signature-256")
                && !k.eq_ignore_ascii_case("x-hub-signature")
                && !k.eq_ignore_ascii_case("content-type")
            {
                req = req.header(k, v);
            }
        }
        req = req.header("x-hub-signature-256", secrets.sign(&body));
        let resp = req
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let answer = resp.text().await.unwrap_or_default();
        println!("{} → {} {}", path.display(), status.as_u16(), answer.trim());
        if !status.is_success() {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} of {} deliveries were not accepted", files.len());
    }
    Ok(())
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

async fn envs(repo: &str, store: Option<&str>, config: Option<&Path>) -> anyhow::Result<()> {
    let repo = RepoName::parse(repo)?;
    let config = config_file(config)?;
    let store = open_store(store, &Aws::default()).await?;
    let envs = environments(store.as_ref(), &repo).await?;
    print!(
        "{}",
        crate::core::gate::envs_table(&config.pipeline, &envs, chrono::Utc::now())
    );
    Ok(())
}

async fn status(
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
        println!("{}", serde_json::to_string_pretty(&v.value)?);
        return Ok(());
    }
    let envs = environments(store.as_ref(), &key.repo).await?;
    print!(
        "{}",
        crate::core::gate::summary::status_text(&v.value.state, &config.pipeline, &envs)
    );
    if !v.value.pending.is_empty() {
        println!("pending side effects: {}", v.value.pending.len());
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
        println!(
            "  #{} {what}: {} failed attempts{queued}{tried}{delivery}",
            p.id, p.attempts
        );
    }
    Ok(())
}

async fn audit(
    repo: &str,
    pr: Option<u64>,
    store: Option<&str>,
    limit: usize,
) -> anyhow::Result<()> {
    let repo = RepoName::parse(repo)?;
    let store = open_store(store, &Aws::default()).await?;
    for e in store.audit(&repo, pr, limit).await? {
        println!(
            "{} {}#{} [{}] {}{}",
            e.at.format("%Y-%m-%dT%H:%M:%SZ"),
            e.repo,
            e.pr.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            e.kind,
            e.actor.map(|a| format!("@{a} ")).unwrap_or_default(),
            e.detail
        );
    }
    Ok(())
}
