//! The `gatebot` binary.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gatebot::telemetry::init_logging(
        &gatebot::settings::log_level(),
        &gatebot::settings::log_format(),
    );
    let cli = gatebot::cli::Cli::parse();
    match gatebot::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatebot: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
