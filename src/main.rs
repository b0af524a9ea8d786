//! The `gatebot` binary.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gatebot::telemetry::init_logging(
        &gatebot::settings::log_level(),
        &gatebot::settings::log_format(),
    );
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return match gatebot::lambda::run().await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "gatebot lambda failed to start");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let cli = gatebot::cli::Cli::parse();
    match gatebot::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatebot: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
