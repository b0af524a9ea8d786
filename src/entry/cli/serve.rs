//! `gatebot serve`: the webhook server, its reconciler, and its stop on
//! SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::adapters::github::GitHub;
use crate::adapters::github::dry_run::DryRunGitHub;
use crate::app::App;
use crate::entry::http::{HttpState, router};
use crate::entry::settings::{self, StoreUrl};
use crate::entry::wiring::{self, AppKey, Aws};

/// `--dry-run`'s GitHub: writes logged, the config read from `--config`,
/// which must be valid (the server does not start on a broken one). Beside
/// a SQLite store it remembers what it saw in `<database>.dry-run.json`,
/// so that a restart on the same database carries on.
fn dry_run_github(config: Option<&Path>, store: &StoreUrl) -> anyhow::Result<Arc<dyn GitHub>> {
    let text = match config {
        Some(p) => {
            let (_, text) = crate::entry::check_config::read(p)
                .with_context(|| format!("--config {} is not a valid gatebot.yml", p.display()))?;
            Some(text)
        }
        None => None,
    };
    Ok(match store {
        StoreUrl::Sqlite(db) if db.as_os_str() != ":memory:" => {
            let memory = PathBuf::from(format!("{}.dry-run.json", db.display()));
            Arc::new(DryRunGitHub::remembering(text, memory).map_err(anyhow::Error::msg)?)
        }
        _ => Arc::new(DryRunGitHub::new(text)),
    })
}

/// `gatebot serve`'s flags.
#[derive(Debug, clap::Args)]
#[command(after_help = SERVE_HELP)]
pub struct ServeArgs {
    /// Listen address [default: APP_HOST:APP_PORT, else 127.0.0.1:8080].
    #[arg(long)]
    addr: Option<String>,
    /// Store URL, sqlite:PATH or dynamodb:TABLE (a SQLite file is created
    /// if missing) [default: GATEBOT_STORE, else sqlite:gatebot.db].
    #[arg(long)]
    store: Option<String>,
    /// Send nothing to GitHub: log and audit writes instead. Not for
    /// production.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: the .github/gatebot.yml to use (checked first: the
    /// server does not start on an invalid one).
    #[arg(long, requires = "dry_run")]
    config: Option<PathBuf>,
    /// Seconds between reconcile passes (0: never).
    #[arg(long, default_value_t = 60)]
    reconcile_every: u64,
    /// On SIGTERM or Ctrl-C, how long in-flight deliveries may take to
    /// finish before gatebot exits anyway: 10s, 1m, or plain seconds.
    #[arg(long, env = "GATEBOT_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = seconds)]
    shutdown_timeout: Duration,
}

const SERVE_HELP: &str = "\
Environment:
  GITHUB_WEBHOOK_SECRET   the webhook secret (several, comma-separated, while rotating)
  GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH
                          the App's credentials (not with --dry-run)
  GATEBOT_SECRET_ARN      read all three from AWS Secrets Manager instead
  GATEBOT_STORE           the store, when --store is not given
  APP_HOST, APP_PORT      the listen address, when --addr is not given
  GATEBOT_SHUTDOWN_TIMEOUT  as --shutdown-timeout
  LOG_LEVEL, LOG_FORMAT   info (or debug, warn…); pretty or json

Example:
  gatebot serve --dry-run --config events/gatebot.yml --store sqlite:gatebot-dev.db";

/// `10s`, `2m` or plain seconds.
fn seconds(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (n, unit) = match s.strip_suffix('s') {
        Some(n) => (n, 1),
        None => match s.strip_suffix('m') {
            Some(n) => (n, 60),
            None => (s, 1),
        },
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{s}` is not a duration such as 10s or 1m"))
}

/// SIGTERM (Kubernetes, systemd, `docker stop`) or Ctrl-C.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// Serves until SIGTERM or Ctrl-C, then drains: deliveries in flight get
/// their answer, for at most `--shutdown-timeout`; the reconciler stops;
/// gatebot exits 0.
pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        addr,
        store,
        dry_run,
        config,
        reconcile_every,
        shutdown_timeout,
    } = args;
    // Everything read at start is checked before anything is opened or
    // created: a broken setting stops the server, never a delivery.
    let addr = addr.unwrap_or_else(settings::listen_addr);
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("--addr {addr} is not an address such as 127.0.0.1:8080"))?;
    let (store_url, _) = StoreUrl::chosen(store.as_deref())?;
    let dry_run_gh = if dry_run {
        Some(dry_run_github(config.as_deref(), &store_url)?)
    } else {
        None
    };
    let aws = Aws::default();
    let app_key = if dry_run {
        AppKey::NotNeeded
    } else {
        AppKey::Needed
    };
    let secrets = wiring::secrets(&aws, app_key).await?;
    let store = wiring::store(store_url, &aws).await?;
    let gh = match dry_run_gh {
        Some(gh) => gh,
        None => wiring::github(secrets.clone()).await?,
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
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, dry_run, "gatebot listening");
    let reconciler = (reconcile_every > 0).then(|| {
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
        })
    });
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        let signal = stop_signal().await;
        tracing::info!(
            signal,
            timeout_secs = shutdown_timeout.as_secs(),
            "stopping: finishing the deliveries in flight"
        );
        let _ = stopping.send(());
    });
    let deadline = async move {
        if stopped.await.is_ok() {
            tokio::time::sleep(shutdown_timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server.into_future() => served?,
        () = deadline => tracing::warn!(
            timeout_secs = shutdown_timeout.as_secs(),
            "stopping: deliveries still in flight after the shutdown timeout; exiting anyway"
        ),
    }
    if let Some(task) = reconciler {
        task.abort();
    }
    tracing::info!("gatebot stopped");
    Ok(())
}
