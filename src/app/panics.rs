//! Containing a panic to the delivery, or the PR of a reconcile pass, it
//! happened in. A bug or a record no one foresaw must never take down the
//! process, nor stop another repository's work: the request is answered
//! 500 (GitHub records the failure, and the reconciler redelivers it a
//! bounded number of times) and the pass goes on to the next PR.
//!
//! This needs panics to unwind: no build profile of gatebot sets
//! `panic = "abort"` (the Lambda's included, see `.cargo/lambda-release.toml`).

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

/// A panic caught by [`contain`]: what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("gatebot panicked: {0}")]
pub struct Panicked(pub String);

/// Runs `work`; a panic in it is caught, counted in
/// `gatebot_panics_total{where}`, logged with `context`, and returned as
/// [`Panicked`].
///
/// `AssertUnwindSafe` is sound here: what a panicking piece of work
/// shares with others is the store (whose writes are transactions: a write
/// interrupted by a panic is not half made) and caches of GitHub answers
/// behind mutexes, which a panic poisons and whose users treat a poisoned
/// lock as a miss.
pub(crate) async fn contain<T>(
    place: &'static str,
    context: &str,
    work: impl Future<Output = T>,
) -> Result<T, Panicked> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(value) => Ok(value),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            metrics::counter!("gatebot_panics_total", "where" => place).increment(1);
            tracing::error!(place, context, panic = %message, "panic contained");
            Err(Panicked(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_returned_not_propagated() {
        let r = contain("test", "pr #1", async {
            let v: Vec<u32> = Vec::new();
            #[allow(clippy::indexing_slicing)]
            v[3]
        })
        .await;
        assert!(matches!(r, Err(Panicked(m)) if m.contains("out of bounds")));
        assert_eq!(contain("test", "pr #2", async { 7 }).await, Ok(7));
    }
}
