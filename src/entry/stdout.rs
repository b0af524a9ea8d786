//! The CLI's standard output: a reader that went away (`gatebot audit |
//! head -1`) ends the output quietly instead of a broken-pipe panic.

use std::io::Write as _;

/// Writes `text`; `false` once stdout is closed (stop writing), and any
/// other write error is reported the same way, once, on stderr.
pub(crate) fn print(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => false,
        Err(e) => {
            eprintln!("gatebot: cannot write to stdout: {e}");
            false
        }
    }
}

/// Writes `text` and a newline, as [`print`].
pub(crate) fn line(text: &str) -> bool {
    print(&format!("{text}\n"))
}
