//! Bounded retries for idempotent GitHub reads: 5xx, transport errors and
//! rate limits (honouring `retry-after` / `x-ratelimit-reset`, capped).
//! Writes are never passed through here blindly.

use std::future::Future;
use std::time::Duration;

use super::{GhResult, GitHubError};

/// How many times a read is tried in all.
pub const ATTEMPTS: u32 = 3;
/// The longest single pause (a Lambda invocation must not wait for an hour
/// of rate-limit reset).
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(10);

fn pause(attempt: u32, err: &GitHubError) -> Duration {
    let backoff = Duration::from_millis(200 * 2u64.pow(attempt));
    match err {
        GitHubError::RateLimited {
            retry_after_secs: Some(s),
        } => Duration::from_secs(*s).min(MAX_PAUSE),
        _ => backoff.min(MAX_PAUSE),
    }
}

pub(crate) async fn read<T, F, Fut>(what: &str, mut call: F) -> GhResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = GhResult<T>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.is_transient() && attempt + 1 < ATTEMPTS => {
                let wait = pause(attempt, &e);
                tracing::warn!(what, error = %e, wait_ms = wait.as_millis() as u64, "GitHub read failed; retrying");
                metrics::counter!("gatebot_github_retries_total").increment(1);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_a_bounded_number_of_times() {
        let calls = AtomicU32::new(0);
        let r: GhResult<()> = read("x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(GitHubError::Status {
                status: 502,
                message: "bad gateway".into(),
            })
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_client_errors() {
        let calls = AtomicU32::new(0);
        let r: GhResult<()> = read("x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(GitHubError::Status {
                status: 404,
                message: "nope".into(),
            })
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn succeeds_after_a_transient_failure() {
        let calls = AtomicU32::new(0);
        let r = read("x", || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(GitHubError::RateLimited {
                    retry_after_secs: Some(1),
                })
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 7);
    }

    #[test]
    fn pauses_are_capped() {
        let e = GitHubError::RateLimited {
            retry_after_secs: Some(3600),
        };
        assert_eq!(pause(0, &e), MAX_PAUSE);
    }
}
