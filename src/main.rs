//! The `gatebot` binary (see [`gatebot::main`]).

/// Stack for each runtime thread: the async call chain of one delivery
/// (webhook → transition → effects → GitHub and store clients) is deep;
/// 8 MiB leaves it room to spare (the default is 2 MiB).
const THREAD_STACK: usize = 8 << 20;

fn main() -> std::process::ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK)
        .build()
    {
        Ok(runtime) => runtime.block_on(gatebot::main()),
        Err(e) => {
            eprintln!("gatebot: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
