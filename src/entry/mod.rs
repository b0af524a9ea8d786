//! The ways in: the HTTP router (served locally and on Lambda), the Lambda
//! handler, the command line, the settings they read at start, and the
//! wiring that builds the same parts for each of them.

mod check_config;
pub(crate) mod cli;
pub(crate) mod fuzzing;
pub(crate) mod http;
pub(crate) mod lambda;
pub(crate) mod settings;
mod stdout;
mod wiring;

use clap::Parser;

/// The `gatebot` binary: the Lambda function when `AWS_LAMBDA_RUNTIME_API`
/// is set, else the command line (`serve`, `send`, `status`, …).
pub async fn main() -> std::process::ExitCode {
    crate::adapters::telemetry::init_logging(&settings::log_level(), &settings::log_format());
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return match lambda::run().await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "gatebot lambda failed to start");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let cli = cli::Cli::parse();
    match cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatebot: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
