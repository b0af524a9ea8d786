//! The `gatebot` command line: `serve`, `send`, `status`, `audit`,
//! `envs`, `reconcile`, `check-config`. The commands and their flags are
//! here; each command's work is in its own file.

mod inspect;
mod send;
mod serve;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::adapters::github::GitHub;
use crate::app::App;
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
    Serve(serve::ServeArgs),
    /// Sign and POST delivery files (see events/README.md) to a gatebot.
    #[command(after_help = "\
Environment:
  GITHUB_WEBHOOK_SECRET   the secret to sign with (the server's)

Example:
  gatebot send events/lifecycle/*.json")]
    Send {
        /// The webhook URL of a running gatebot (`make run`).
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
    /// What runs in each environment of a repository's chain, who holds
    /// it and who waits for it (as `/envs` replies).
    #[command(after_help = READ_HELP_ENVS)]
    Envs {
        /// OWNER/REPO
        repo: String,
        /// The store to read, sqlite:PATH or dynamodb:TABLE [default:
        /// GATEBOT_STORE, else sqlite:gatebot.db]; never created.
        #[arg(long)]
        store: Option<String>,
        /// The repository's `.github/gatebot.yml`, for its chain of stages
        /// (the two-stage default when not given).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Show a pull request's gates from the store.
    #[command(after_help = READ_HELP_STATUS)]
    Status {
        /// OWNER/REPO#N
        pr: String,
        /// The store to read, sqlite:PATH or dynamodb:TABLE [default:
        /// GATEBOT_STORE, else sqlite:gatebot.db]; never created.
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
    #[command(after_help = READ_HELP_AUDIT)]
    Audit {
        /// OWNER/REPO
        repo: String,
        /// Only this pull request's lines.
        #[arg(long)]
        pr: Option<u64>,
        /// The store to read, sqlite:PATH or dynamodb:TABLE [default:
        /// GATEBOT_STORE, else sqlite:gatebot.db]; never created.
        #[arg(long)]
        store: Option<String>,
        /// At most this many lines.
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Run one reconcile pass: finish pending side effects, look again at
    /// PRs waiting for time, a run or a lock; print what it did as JSON.
    #[command(after_help = "\
Environment:
  GATEBOT_STORE           the store, when --store is not given
  GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH,
  GATEBOT_SECRET_ARN      the App's credentials (it calls GitHub)
  GITHUB_API_URL          GitHub's API [default: https://api.github.com]

Example:
  gatebot reconcile --store dynamodb:gatebot")]
    Reconcile {
        /// The store, sqlite:PATH or dynamodb:TABLE [default:
        /// GATEBOT_STORE, else sqlite:gatebot.db]; never created.
        #[arg(long)]
        store: Option<String>,
    },
    /// Check a .github/gatebot.yml offline: every problem with its line,
    /// column and key, or a summary of the chain it defines. Exits 1 when
    /// the file is invalid, so a repository can run it in its own CI.
    ///
    /// Example: gatebot check-config .github/gatebot.yml
    CheckConfig {
        /// The file to check.
        #[arg(default_value = crate::core::config::CONFIG_PATH)]
        file: PathBuf,
        /// Print the file's JSON Schema instead (as schema/gatebot.schema.json
        /// has it), for editors and other validators.
        #[arg(long)]
        schema: bool,
    },
}

const READ_HELP_ENVS: &str = "\
Environment:
  GATEBOT_STORE           the store, when --store is not given

Example:
  gatebot envs acme/widgets --store sqlite:gatebot-dev.db --config events/gatebot.yml";

const READ_HELP_STATUS: &str = "\
Environment:
  GATEBOT_STORE           the store, when --store is not given

Example:
  gatebot status acme/widgets#42 --store sqlite:gatebot-dev.db";

const READ_HELP_AUDIT: &str = "\
Environment:
  GATEBOT_STORE           the store, when --store is not given

Example:
  gatebot audit acme/widgets --pr 42 --store sqlite:gatebot-dev.db";

/// The GitHub client, with the secrets it reads its key from.
async fn github(aws: &Aws) -> anyhow::Result<Arc<dyn GitHub>> {
    wiring::github(wiring::secrets(aws, AppKey::Needed).await?).await
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        CliCommand::Serve(args) => serve::serve(args).await,
        CliCommand::Send {
            url,
            files,
            keep_times,
        } => send::send(&url, &files, keep_times).await,
        CliCommand::Status {
            pr,
            store,
            config,
            json,
        } => inspect::status(&pr, store.as_deref(), config.as_deref(), json).await,
        CliCommand::Audit {
            repo,
            pr,
            store,
            limit,
        } => inspect::audit(&repo, pr, store.as_deref(), limit).await,
        CliCommand::Envs {
            repo,
            store,
            config,
        } => inspect::envs(&repo, store.as_deref(), config.as_deref()).await,
        CliCommand::CheckConfig { schema: true, .. } => crate::entry::check_config::schema(),
        CliCommand::CheckConfig { file, .. } => crate::entry::check_config::run(&file),
        CliCommand::Reconcile { store } => {
            let aws = Aws::default();
            let app = App::new(
                inspect::open_store(store.as_deref(), &aws).await?,
                github(&aws).await?,
            );
            let report = crate::app::reconcile::run_once(&app).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}
