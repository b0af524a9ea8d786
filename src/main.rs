//! The `gatebot` binary (see [`gatebot::main`]).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gatebot::main().await
}
