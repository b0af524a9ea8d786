//! The SQLite store's checkpointer: a thread with its own connection that
//! moves the write-ahead log into the database file every
//! [`CHECKPOINT_EVERY`], fsyncing both, so that no delivery pays for it.
//! Often enough that the log stays small under load (a few hundred pages
//! at 500 deliveries a second): the writers' own checkpoint, a stall of
//! tens of milliseconds at 10,000 pages, is then never reached.
//!
//! With `synchronous = NORMAL` a commit is safe from a crash of gatebot at
//! once, and from a power loss or an OS crash once a checkpoint has
//! synced it. SQLite's own automatic checkpoint runs in the writer that
//! fills the log past a size (1,000 pages by default): it costs that
//! delivery the fsyncs, and under light traffic it may not run for hours,
//! leaving every commit since the last one exposed. The checkpointer
//! bounds that exposure to about 100 ms, off the request path; the
//! automatic checkpoint stays, at [`AUTOCHECKPOINT_PAGES`], as a backstop
//! should the checkpointer fall behind or stop.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use rusqlite::Connection;

/// How often the log is checkpointed: the most a power loss can take back.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// The log size (pages) at which a writer checkpoints by itself.
pub(crate) const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Runs while it lives; dropping it stops the thread.
pub(crate) struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` every `every`.
    pub(crate) fn start(path: &Path, every: Duration) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let path: PathBuf = path.to_path_buf();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let conn = match Connection::open(&path) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "checkpointer cannot open the database; writers checkpoint by themselves");
                        return;
                    }
                };
                let _ = conn.busy_timeout(Duration::from_secs(5));
                loop {
                    match stopped.recv_timeout(every) {
                        Err(RecvTimeoutError::Timeout) => checkpoint(&conn),
                        // The store is gone (or sent a stop): a last one.
                        _ => {
                            checkpoint(&conn);
                            return;
                        }
                    }
                }
            })?;
        Ok(Checkpointer { _stop: stop })
    }
}

/// A passive checkpoint: copies what it can without waiting on writers.
fn checkpoint(conn: &Connection) {
    let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    });
    match r {
        Ok((_, log, done)) if log > done => {
            tracing::debug!(log, done, "checkpoint left frames for the next one");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "checkpoint failed; retried next time"),
    }
}
