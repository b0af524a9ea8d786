//! The bodies of the fuzz targets under `fuzz/` (cargo-fuzz), kept in the
//! library so that they build with every `cargo test` and so that
//! `tests/fuzz_corpus.rs` replays their seed corpus and every crash ever
//! found on each run. Each takes arbitrary bytes and must not panic; what
//! a target checks beyond that is written at the target.

use std::sync::{Arc, OnceLock};

use crate::core::signature::{WebhookSecrets, sign_with};

/// The secret deliveries are signed with in [`delivery`].
const SECRET: &str = "fuzz-secret";

/// Splits `data` at the first NUL: (head, rest).
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// `X-Hub-Signature-256` header (before the first NUL) against the body
/// (after it), with two secrets. A header that verifies must be the body's
/// true signature under one of them.
pub fn signature(data: &[u8]) {
    let (header, body) = split(data);
    let Ok(secrets) = WebhookSecrets::parse("old-secret,fuzz-secret") else {
        return;
    };
    if secrets.verify(body, Some(header)).is_ok() {
        let good = [
            sign_with(b"old-secret", body),
            sign_with(b"fuzz-secret", body),
        ];
        assert!(
            good.iter()
                .any(|g| g.as_bytes().eq_ignore_ascii_case(header.trim_ascii())),
            "a header that is not the body's signature verified"
        );
    }
    let _ = secrets.verify(body, None);
}

/// The event names `events::parse` acts on (any other parses to
/// `Event::Ignored`).
const EVENTS: [&str; 8] = [
    "pull_request",
    "issue_comment",
    "check_run",
    "check_suite",
    "workflow_run",
    "deployment_protection_rule",
    "installation",
    "ping",
];

/// `events::parse` of the body (after the first byte) as the event the
/// first byte picks.
pub fn events(data: &[u8]) {
    let Some((pick, body)) = data.split_first() else {
        return;
    };
    let event = EVENTS[usize::from(*pick) % EVENTS.len()];
    if let Ok(e) = crate::core::events::parse(event, body) {
        let _ = e.kind();
    }
}

/// A four-stage chain where `approve` gates two stages, so that the
/// parser's resolution of shared words is fuzzed too.
const SHARED_WORDS_CHAIN: &str = include_str!("../../tests/fixtures/chains/shared-words.yml");

/// The command parser on any text, with the per-comment bound, against
/// the two-stage chain and one whose stages share a word.
pub fn commands(data: &[u8]) {
    static CHAINS: OnceLock<Vec<crate::core::config::Pipeline>> = OnceLock::new();
    let chains = CHAINS.get_or_init(|| {
        let default = crate::core::config::RepoConfig::default().pipeline;
        // `shared_words_chain_parses` keeps this from falling back.
        let shared = crate::core::config::parse(SHARED_WORDS_CHAIN)
            .map(|c| c.pipeline)
            .unwrap_or_else(|_| default.clone());
        vec![default, shared]
    });
    let text = String::from_utf8_lossy(data);
    for chain in chains {
        let (parsed, _skipped) =
            crate::core::gate::commands::parse_comment_bounded(&text, 5, chain);
        assert!(parsed.len() <= 5, "more commands kept than the bound");
        for p in &parsed {
            match p {
                // The reply quotes it: it must render.
                Err(e) => drop(e.to_string()),
                // A gate command names a stage of the chain.
                Ok(crate::core::gate::commands::Command::Entry { env, .. })
                | Ok(crate::core::gate::commands::Command::Verify { env, .. })
                | Ok(crate::core::gate::commands::Command::Rollback(env))
                | Ok(crate::core::gate::commands::Command::Retry(env))
                | Ok(crate::core::gate::commands::Command::Lock { env, .. })
                | Ok(crate::core::gate::commands::Command::Unlock(env)) => {
                    assert!(chain.find(env).is_some(), "{env} is not in the chain")
                }
                Ok(_) => {}
            }
        }
    }
}

/// The repository config parser on any text.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = crate::core::config::parse(&text) {
        let stages = &c.pipeline.stages;
        assert!(
            (1..=10).contains(&stages.len()),
            "a chain of {} stages parsed",
            stages.len()
        );
        for s in stages {
            if let crate::core::config::Entry::Command(g) = &s.entry {
                assert!(
                    (1..=20).contains(&g.approvals),
                    "a quorum of {} parsed",
                    g.approvals
                );
            }
        }
    }
}

struct Router {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

fn router() -> Option<&'static Router> {
    static ROUTER: OnceLock<Option<Router>> = OnceLock::new();
    ROUTER
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let store = crate::adapters::store::sqlite::SqliteStore::in_memory().ok()?;
            let github = crate::adapters::github::dry_run::DryRunGitHub::new(None);
            let app = Arc::new(crate::app::App::new(Arc::new(store), Arc::new(github)));
            let state = Arc::new(crate::entry::http::HttpState {
                app,
                secrets: crate::adapters::secrets::StaticSecrets::source(
                    WebhookSecrets::parse(SECRET).ok(),
                    None,
                ),
                metrics: None,
            });
            Some(Router {
                runtime,
                router: crate::entry::http::router(state),
            })
        })
        .as_ref()
}

/// A whole delivery through the router, on a dry-run GitHub and an
/// in-memory store that live across runs: the first byte picks the event
/// (and whether the body is signed), the rest is the body. gatebot must
/// answer and never panic: an unsigned delivery with `401`, a signed one it
/// cannot parse with a `4xx`, a parsed one never with a `5xx`: the dry-run
/// GitHub answers 404 for a PR or run it has not seen, as GitHub would for
/// one that does not exist, and such a delivery is done (`200`
/// `not_found`), not left for a redelivery that cannot succeed.
pub fn delivery(data: &[u8]) {
    use tower::ServiceExt;
    let Some((pick, body)) = data.split_first() else {
        return;
    };
    let Some(r) = router() else {
        return;
    };
    let event = EVENTS[usize::from(*pick) % EVENTS.len()];
    let signed = pick & 0x80 == 0;
    let signature = if signed {
        sign_with(SECRET.as_bytes(), body)
    } else {
        "sha256=00".into()
    };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Ok(request) = http::Request::post("/webhook")
        .header("x-github-event", event)
        .header("x-github-delivery", format!("fuzz-{id}"))
        .header("x-hub-signature-256", signature)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_vec()))
    else {
        return;
    };
    // The router's error type is `Infallible`.
    let Ok(response) = r
        .runtime
        .block_on(async { r.router.clone().oneshot(request).await });
    let status = response.status().as_u16();
    if !signed {
        assert_eq!(status, 401, "an unsigned delivery answered {status}");
    } else if crate::core::events::parse(event, body).is_err() {
        assert!(
            (400..500).contains(&status),
            "a signed delivery that does not parse answered {status}"
        );
    } else {
        assert!(
            status < 500,
            "a signed {event} delivery that parses answered {status}"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_words_chain_parses() {
        let config = crate::core::config::parse(super::SHARED_WORDS_CHAIN).unwrap();
        assert_eq!(config.pipeline.stages.len(), 4);
        assert_eq!(config.pipeline.gates_of("approve").len(), 2);
    }
}
