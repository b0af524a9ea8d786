//! Criterion benchmarks of the request path's pure work: signature check,
//! event parsing, command parsing, one gate transition, the check-run
//! summary. `cargo bench --bench core`; numbers go to BENCHMARKS.md.

use std::hint::black_box;

use chrono::Utc;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gatebot::testing::commands::{Command, parse_comment};
use gatebot::testing::config::RepoConfig;
use gatebot::testing::domain::{Person, PrKey, RepoName, Sha, UserId};
use gatebot::testing::gate::ci::CiStatus;
use gatebot::testing::gate::{Actor, Context, Fact, GateState, Grant, apply, summary};
use gatebot::testing::signature::{WebhookSecrets, sign_with};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The signature check, and in the same run its floor: one HMAC-SHA256 of
/// the body (what verifying against one secret cannot go below) and one
/// plain SHA-256.
fn signature(c: &mut Criterion) {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    let body = fixture("pull_request.opened");
    let one = WebhookSecrets::parse("old-secret").unwrap();
    let two = WebhookSecrets::parse("new-secret,old-secret").unwrap();
    let header = sign_with(b"old-secret", &body);
    let mut g = c.benchmark_group("signature");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("verify pull_request.opened (1 secret)", |b| {
        b.iter(|| {
            one.verify(black_box(&body), Some(header.as_bytes()))
                .unwrap()
        })
    });
    g.bench_function("verify pull_request.opened (2 secrets)", |b| {
        b.iter(|| {
            two.verify(black_box(&body), Some(header.as_bytes()))
                .unwrap()
        })
    });
    g.bench_function("floor: one HMAC-SHA256 of pull_request.opened", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"old-secret").unwrap();
            mac.update(black_box(&body));
            mac.finalize().into_bytes()
        })
    });
    g.bench_function("floor: one SHA-256 of pull_request.opened", |b| {
        b.iter(|| Sha256::digest(black_box(&body)))
    });
    g.finish();
}

fn events(c: &mut Criterion) {
    let mut g = c.benchmark_group("events::parse");
    for (event, name) in [
        ("pull_request", "pull_request.opened"),
        ("issue_comment", "issue_comment.created"),
        ("workflow_run", "workflow_run.completed"),
        ("check_run", "check_run.completed"),
    ] {
        let body = fixture(name);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| gatebot::testing::events::parse(event, black_box(&body)).unwrap())
        });
    }
    // A 5 MiB delivery: a comment whose body is a 5 MiB log paste (the
    // most GitHub's 25 MB limit and Lambda's 6 MB payload leave room for).
    let mut big: serde_json::Value =
        serde_json::from_slice(&fixture("issue_comment.created")).unwrap();
    let line = "2026-12-02T10:00:00Z INFO request handled in 3 ms \"GET /api\" 200\n";
    big["comment"]["body"] = serde_json::json!(line.repeat(5 * 1024 * 1024 / line.len()));
    let big = serde_json::to_vec(&big).unwrap();
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(20);
    g.bench_function("issue_comment.created with a 5 MiB body", |b| {
        b.iter(|| gatebot::testing::events::parse("issue_comment", black_box(&big)).unwrap())
    });
    g.finish();
}

/// What `@octokit/webhooks`' `verifyAndReceive` does per delivery, for
/// `bench/peers.py`: check the signature against one secret, then parse the
/// event. The 5 MiB comment is the one of `events`.
fn verify_and_parse(c: &mut Criterion) {
    let secrets = WebhookSecrets::parse("peer-secret").unwrap();
    let mut big: serde_json::Value =
        serde_json::from_slice(&fixture("issue_comment.created")).unwrap();
    let line = "2026-12-02T10:00:00Z INFO request handled in 3 ms \"GET /api\" 200\n";
    big["comment"]["body"] = serde_json::json!(line.repeat(5 * 1024 * 1024 / line.len()));
    let mut g = c.benchmark_group("verify + parse");
    for (event, name, body) in [
        (
            "pull_request",
            "pull_request.opened",
            fixture("pull_request.opened"),
        ),
        (
            "issue_comment",
            "issue_comment.created",
            fixture("issue_comment.created"),
        ),
        (
            "issue_comment",
            "issue_comment.created with a 5 MiB body",
            serde_json::to_vec(&big).unwrap(),
        ),
    ] {
        let header = sign_with(b"peer-secret", &body);
        g.throughput(Throughput::Bytes(body.len() as u64));
        if body.len() > 1 << 20 {
            g.sample_size(20);
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                secrets
                    .verify(black_box(&body), Some(header.as_bytes()))
                    .unwrap();
                gatebot::testing::events::parse(event, black_box(&body)).unwrap()
            })
        });
    }
    g.finish();
}

fn commands(c: &mut Criterion) {
    let typical = "Looks good on staging, checked the dashboards.\n\n> /lgtm from yesterday\n\n/verify-stage\n";
    let mut big = String::new();
    for i in 0..2000 {
        big.push_str(&format!(
            "line {i} with `code` and > quotes\n```\n/lgtm\n```\n"
        ));
    }
    big.push_str("/approve\n");
    let chain = RepoConfig::default().pipeline;
    let mut g = c.benchmark_group("commands::parse_comment");
    g.throughput(Throughput::Bytes(typical.len() as u64));
    g.bench_function("typical comment", |b| {
        b.iter(|| parse_comment(black_box(typical), &chain))
    });
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("64 KiB of markdown", |b| {
        b.iter(|| parse_comment(black_box(&big), &chain))
    });
    g.finish();
}

fn gate(c: &mut Criterion) {
    let config = RepoConfig::default();
    let now = Utc::now();
    let policy = Context::new(&config, now);
    let sha = Sha::parse("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c").unwrap();
    let pr = PrKey {
        repo: RepoName::parse("acme/widgets").unwrap(),
        number: 42,
    };
    let alice = Person::new(1_843_291, "alice");
    let mut state = GateState::new(pr, &alice, sha.clone(), "main", Some(1), now);
    state = apply(
        &state,
        &Fact::Ci {
            sha: sha.clone(),
            status: CiStatus::Green,
        },
        &policy,
    )
    .state;
    let lgtm = Fact::Command {
        comment_id: 1,
        actor: Actor {
            id: UserId(2_719_403),
            login: "quinn".into(),
            grant: Grant::Holds,
        },
        command: Command::Entry {
            word: "lgtm".into(),
            env: gatebot::testing::domain::Environment::staging(),
            cancel: false,
        },
        written_at: Some(now),
        rollback_target: None,
    };
    c.bench_function("gate::apply /lgtm → stage dispatch", |b| {
        b.iter(|| apply(black_box(&state), black_box(&lgtm), &policy))
    });
    let dispatched = apply(&state, &lgtm, &policy).state;
    c.bench_function("summary::render check run", |b| {
        b.iter(|| summary::render(black_box(&dispatched), &policy))
    });
    c.bench_function("GateState JSON round trip", |b| {
        b.iter(|| {
            let text = serde_json::to_string(black_box(&dispatched)).unwrap();
            serde_json::from_str::<GateState>(&text).unwrap()
        })
    });
}

/// A whole delivery through the real router: signature, parsing, dedupe,
/// config, permissions, one SQLite transition and its side effects (the
/// dry-run GitHub answers reads from memory and logs writes).
fn webhook_end_to_end(c: &mut Criterion) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tower::ServiceExt;

    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        gatebot::testing::store::sqlite::SqliteStore::open(dir.path().join("bench.db")).unwrap(),
    );
    let config =
        std::fs::read_to_string(format!("{}/events/gatebot.yml", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let github = Arc::new(gatebot::testing::github::dry_run::DryRunGitHub::new(Some(
        config,
    )));
    let app = Arc::new(gatebot::testing::app::App::new(store, github));
    let secrets = WebhookSecrets::parse("bench").unwrap();
    let router = gatebot::testing::http::router(Arc::new(gatebot::testing::http::HttpState {
        app,
        secrets: gatebot::testing::secrets::StaticSecrets::source(Some(secrets.clone()), None),
        metrics: None,
    }));
    let send = |event: &str, delivery: String, body: Vec<u8>| {
        let req = http::Request::post("/webhook")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", secrets.sign(&body))
            .body(axum::body::Body::from(body))
            .unwrap();
        router.clone().oneshot(req)
    };
    let opened = fixture("pull_request.opened");
    let resp = rt
        .block_on(send("pull_request", "open".into(), opened.clone()))
        .unwrap();
    assert_eq!(resp.status(), 200);
    let template: serde_json::Value =
        serde_json::from_slice(&fixture("issue_comment.created")).unwrap();
    let n = AtomicU64::new(0);
    // Each iteration's delivery is built (and signed) untimed: the time is
    // gatebot's, from the request to the answer.
    let comment = |body: &str| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        let mut p = template.clone();
        p["comment"]["id"] = serde_json::json!(100_000 + i);
        p["comment"]["body"] = serde_json::json!(body);
        (format!("bench-{i}"), serde_json::to_vec(&p).unwrap())
    };
    let mut g = c.benchmark_group("webhook end to end");
    g.bench_function("duplicate delivery (dry-run, SQLite file)", |b| {
        let body = opened.clone();
        b.iter(|| {
            let resp = rt
                .block_on(send("pull_request", "open".into(), body.clone()))
                .unwrap();
            assert_eq!(resp.status(), 200);
        })
    });
    g.bench_function("comment without a command (dry-run, SQLite file)", |b| {
        b.iter_batched(
            || comment("Looks good to me, thanks!"),
            |(id, body)| {
                let resp = rt.block_on(send("issue_comment", id, body)).unwrap();
                assert_eq!(resp.status(), 200);
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("/gates comment (dry-run, SQLite file)", |b| {
        b.iter_batched(
            || comment("/gates"),
            |(id, body)| {
                let resp = rt.block_on(send("issue_comment", id, body)).unwrap();
                assert_eq!(resp.status(), 200);
            },
            BatchSize::PerIteration,
        )
    });
    // Gate-moving: a new pull request opened (its record created, CI read,
    // the check run queued and made).
    let pr_template: serde_json::Value = serde_json::from_slice(&opened).unwrap();
    g.bench_function("pull request opened (dry-run, SQLite file)", |b| {
        b.iter_batched(
            || {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let mut p = pr_template.clone();
                p["number"] = serde_json::json!(1_000 + i);
                p["pull_request"]["number"] = serde_json::json!(1_000 + i);
                (format!("bench-{i}"), serde_json::to_vec(&p).unwrap())
            },
            |(id, body)| {
                let resp = rt.block_on(send("pull_request", id, body)).unwrap();
                assert_eq!(resp.status(), 200);
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    // One comment of 2,500 command lines anyone may use: gatebot acts on
    // the first few, answers the rest with one note, in one reply.
    let flood: String = (0..2500)
        .map(|i| if i % 2 == 0 { "/gates\n" } else { "/help\n" })
        .collect();
    c.bench_function(
        "webhook end to end: 2,500-line /gates + /help comment (dry-run, SQLite file)",
        |b| {
            b.iter_batched(
                || comment(&flood),
                |(id, body)| {
                    let resp = rt.block_on(send("issue_comment", id, body)).unwrap();
                    assert_eq!(resp.status(), 200);
                },
                BatchSize::PerIteration,
            )
        },
    );
    c.bench_function("webhook end to end: bad signature (401)", |b| {
        b.iter(|| {
            let req = http::Request::post("/webhook")
                .header("x-github-event", "ping")
                .header("x-github-delivery", "x")
                .header("x-hub-signature-256", "sha256=00")
                .body(axum::body::Body::from(fixture("ping")))
                .unwrap();
            let resp = rt.block_on(router.clone().oneshot(req)).unwrap();
            assert_eq!(resp.status(), 401);
        })
    });
}

criterion_group!(
    benches,
    signature,
    events,
    verify_and_parse,
    commands,
    gate,
    webhook_end_to_end
);
criterion_main!(benches);
