//! End to end under load, on loopback: a release `gatebot serve` process
//! with its real GitHub App client (octocrab) talking to the stateful fake
//! GitHub of the API tests (`tests/api/fake_github.rs`, which answers at
//! once), on SQLite or on a DynamoDB-compatible server.
//!
//! The load generator is open-loop: delivery `i` of a step is due at
//! `start + i / rate` and is sent then, whether or not earlier ones were
//! answered, and its latency counts from when it was due, so a stall shows
//! in the percentiles instead of slowing the generator down (no coordinated
//! omission). Every delivery is distinct and signed, as GitHub sends them:
//! its own delivery id, comment id and `created_at`, which a load tool
//! replaying one request (`oha`, `wrk`) cannot do; replaying one delivery
//! would only measure the duplicate path.
//!
//! The mix per pull request cycles `/hold` (a release manager), `/gates`
//! (QA), `/unhold`, `/gates`: half the deliveries move a gate (state,
//! audit, check run), half read it and reply; each reads the PR, CI and the
//! commenter's permission from GitHub.
//!
//! Each step prints one `LOAD {json}` line (rate, throughput, p50/p90/p99,
//! failures, gatebot's peak RSS and CPU per delivery, GitHub and store
//! requests per delivery from gatebot's own `/metrics`); `bench/load.py`
//! runs this and writes the table in BENCHMARKS.md.
//!
//! With `--repos N`, PR `n` belongs to repository `acme/widgets-{n % N}`
//! (the fake serves every one of them from one world): the records, the
//! config cache and the environments of N repositories.
//!
//! ```text
//! cargo bench --bench load -- --store sqlite [--prs 50] [--repos 1] [--rates 100,250,500] [--secs 5]
//! DYNAMODB_TEST_ENDPOINT=http://127.0.0.1:5000 cargo bench --bench load -- --store dynamodb
//! ```

#[allow(dead_code)]
#[path = "../tests/api/fake_github.rs"]
mod fake_github;
#[path = "../tests/api/metrics_text.rs"]
mod metrics_text;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_github::{ACTIONS_APP_ID, CheckRun, FakeGitHub, INSTALLATION, Pr};
use gatebot::testing::signature::sign_with;
use serde_json::{Value, json};

const SECRET: &str = "load-secret";
const CONFIG: &str = "required_checks: [build]\nroles:\n  qa: [quinn]\n  release: [rita]\n";
const COMMANDS: [(&str, &str); 4] = [
    ("rita", "/hold"),
    ("quinn", "/gates"),
    ("rita", "/unhold"),
    ("quinn", "/gates"),
];

struct Args {
    store: String,
    prs: u64,
    repos: u64,
    rates: Vec<u64>,
    secs: u64,
}

fn args() -> Option<Args> {
    let all: Vec<String> = std::env::args().collect();
    // `cargo test --all-targets` runs benches without `--bench`: nothing to do.
    if !all.iter().any(|a| a == "--bench") {
        return None;
    }
    let value = |name: &str| {
        all.iter()
            .position(|a| a == name)
            .and_then(|i| all.get(i + 1))
            .cloned()
    };
    Some(Args {
        store: value("--store").unwrap_or_else(|| "sqlite".into()),
        prs: value("--prs").and_then(|v| v.parse().ok()).unwrap_or(50),
        repos: value("--repos")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1),
        rates: value("--rates")
            .map(|v| v.split(',').filter_map(|r| r.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![100, 250, 500, 750]),
        secs: value("--secs").and_then(|v| v.parse().ok()).unwrap_or(5),
    })
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sha(pr: u64) -> String {
    format!("{pr:040x}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A signed delivery: (event, delivery id, body, signature).
struct Delivery {
    event: &'static str,
    id: String,
    body: Vec<u8>,
    signature: String,
}

fn delivery(event: &'static str, id: String, payload: &Value) -> Delivery {
    let body = serde_json::to_vec(payload).expect("JSON");
    let signature = sign_with(SECRET.as_bytes(), &body);
    Delivery {
        event,
        id,
        body,
        signature,
    }
}

/// Points payload `p` at PR `pr`'s repository (see `--repos`).
fn in_repository(p: &mut Value, pr: u64, repos: u64) {
    if repos > 1 {
        let name = format!("widgets-{}", pr % repos);
        p["repository"]["name"] = json!(name);
        p["repository"]["full_name"] = json!(format!("acme/{name}"));
        p["repository"]["id"] = json!(2_000_000 + pr % repos);
    }
}

fn opened(pr: u64, repos: u64) -> Delivery {
    let mut p = fixture("pull_request.opened");
    in_repository(&mut p, pr, repos);
    p["number"] = json!(pr);
    p["pull_request"]["number"] = json!(pr);
    p["pull_request"]["head"]["sha"] = json!(sha(pr));
    p["pull_request"]["user"]["login"] = json!("alice");
    p["installation"] = json!({ "id": INSTALLATION });
    delivery("pull_request", format!("open-{pr}"), &p)
}

/// The comments of one step: delivery `i` goes to PR `i % prs`, and each
/// PR cycles through [`COMMANDS`].
fn comments(step: u64, n: u64, prs: u64, repos: u64) -> Vec<Delivery> {
    let template = fixture("issue_comment.created");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (0..n)
        .map(|i| {
            let pr = 1 + i % prs;
            let (login, body) = COMMANDS[((i / prs) % 4) as usize];
            let id = step * 1_000_000 + i;
            let mut p = template.clone();
            in_repository(&mut p, pr, repos);
            p["issue"]["number"] = json!(pr);
            p["comment"]["id"] = json!(id);
            p["comment"]["body"] = json!(body);
            p["comment"]["user"]["login"] = json!(login);
            p["comment"]["user"]["type"] = json!("User");
            p["comment"]["created_at"] = json!(now);
            p["sender"]["login"] = json!(login);
            p["installation"] = json!({ "id": INSTALLATION });
            delivery("issue_comment", format!("load-{id}"), &p)
        })
        .collect()
}

/// The fake GitHub's world: acme/widgets with the config, QA and a
/// release manager, and `prs` open PRs whose head has a green `build`.
fn seed(github: &FakeGitHub, prs: u64) {
    let mut w = github.world();
    for wf in ["cd-stage.yml", "cd-prod.yml"] {
        w.files.insert(
            ("main".into(), format!(".github/workflows/{wf}")),
            "on: workflow_dispatch".into(),
        );
    }
    w.files
        .insert(("main".into(), ".github/gatebot.yml".into()), CONFIG.into());
    for (login, role) in [("alice", "write"), ("quinn", "write"), ("rita", "maintain")] {
        w.collaborators.insert(login.into(), role.into());
    }
    for pr in 1..=prs {
        w.prs.insert(
            pr,
            Pr {
                head: sha(pr),
                author: "alice".into(),
                state: "open".into(),
                base: "main".into(),
                head_ref: format!("feature/{pr}"),
            },
        );
        w.check_runs.push(CheckRun {
            id: 900_000 + pr,
            app_id: ACTIONS_APP_ID,
            sha: sha(pr),
            name: "build".into(),
            status: "completed".into(),
            conclusion: Some("success".into()),
            title: None,
            summary: None,
        });
    }
}

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gatebot(store: &str, github: &str) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatebot"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("GITHUB_APP_ID", "777")
        .env(
            "GITHUB_APP_PRIVATE_KEY_PATH",
            format!(
                "{}/tests/fixtures/test-app-key.pem",
                env!("CARGO_MANIFEST_DIR")
            ),
        )
        .env("GITHUB_API_URL", github)
        .env("LOG_LEVEL", "error")
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--reconcile-every", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    match store {
        "dynamodb" => {
            let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT")
                .expect("DYNAMODB_TEST_ENDPOINT: run under scripts/with-moto.sh");
            let table = format!("gatebot-load-{}", std::process::id());
            cmd.env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
                .env("AWS_ACCESS_KEY_ID", "local")
                .env("AWS_SECRET_ACCESS_KEY", "local")
                .env("AWS_REGION", "us-east-1")
                .args(["--store", &format!("dynamodb:{table}")]);
        }
        _ => {
            cmd.args([
                "--store",
                &format!("sqlite:{}/load.db", dir.path().display()),
            ]);
        }
    }
    let child = cmd.spawn().expect("gatebot starts");
    Server {
        child,
        port,
        _dir: dir,
    }
}

/// gatebot's counters from `/metrics`, summed by name and by `op`.
async fn counters(http: &reqwest::Client, port: u16) -> BTreeMap<String, f64> {
    let text = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    metrics_text::totals(&text)
}

/// (peak RSS in KiB, CPU time in clock ticks) of process `pid`.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name's closing parenthesis; utime and stime
    // are the 14th and 15th fields of the whole line.
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = rest
        .get(11)
        .zip(rest.get(12))
        .and_then(|(u, s)| Some(u.parse::<u64>().ok()? + s.parse::<u64>().ok()?))
        .unwrap_or(0);
    (hwm, ticks)
}

async fn post(http: &reqwest::Client, port: u16, d: &Delivery) -> u16 {
    match http
        .post(format!("http://127.0.0.1:{port}/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", d.event)
        .header("x-github-delivery", &d.id)
        .header("x-hub-signature-256", &d.signature)
        .body(d.body.clone())
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = r.bytes().await;
            status
        }
        Err(_) => 0,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn step(
    http: &reqwest::Client,
    server: &Server,
    args: &Args,
    prs: u64,
    rate: u64,
    number: u64,
) -> Value {
    let n = rate * args.secs;
    let repos = if prs == 1 { 1 } else { args.repos };
    let deliveries = std::sync::Arc::new(comments(number, n, prs, repos));
    let before = counters(http, server.port).await;
    let (_, cpu_before) = usage(server.child.id());
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let started = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
        let (http, deliveries, port) = (http.clone(), deliveries.clone(), server.port);
        tasks.push(tokio::spawn(async move {
            let status = post(&http, port, &deliveries[i as usize]).await;
            (status, due.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut latencies = Vec::with_capacity(n as usize);
    let mut failures = 0;
    for t in tasks {
        let (status, ms) = t.await.expect("request task");
        if status != 200 {
            failures += 1;
        }
        latencies.push(ms);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (rss, cpu_after) = usage(server.child.id());
    let after = counters(http, server.port).await;
    latencies.sort_by(f64::total_cmp);
    let per = |key: &str| {
        (after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0))
            / n as f64
    };
    let ops: BTreeMap<String, f64> = after
        .keys()
        .filter_map(|k| k.strip_prefix("gatebot_dynamodb_requests_total|"))
        .map(|op| {
            (
                op.to_string(),
                per(&format!("gatebot_dynamodb_requests_total|{op}")),
            )
        })
        .collect();
    let ticks_per_sec = 100.0;
    json!({
        "store": args.store,
        "prs": prs,
        "repos": repos,
        "rate": rate,
        "deliveries": n,
        "failures": failures,
        "throughput": n as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.50),
        "p90_ms": percentile(&latencies, 0.90),
        "p99_ms": percentile(&latencies, 0.99),
        "max_ms": latencies.last().copied().unwrap_or(0.0),
        "peak_rss_mib": rss as f64 / 1024.0,
        "cpu_ms_per_delivery": (cpu_after - cpu_before) as f64 / ticks_per_sec * 1000.0 / n as f64,
        "github_per_delivery": per("gatebot_github_requests_total"),
        "store_per_delivery": per("gatebot_store_requests_total"),
        "dynamodb_ops_per_delivery": ops,
    })
}

async fn run(args: Args) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    let mut number = 0;
    // The spread case, then every delivery on one PR (the contention case).
    for prs in [args.prs, 1] {
        let github = FakeGitHub::start().await;
        seed(&github, args.prs);
        github.world().any_repository = args.repos > 1;
        let server = start_gatebot(&args.store, &github.uri());
        let ready = Instant::now();
        loop {
            let healthy = http
                .get(format!("http://127.0.0.1:{}/healthz", server.port))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                break;
            }
            // moto may still be working off the previous step's backlog
            // (it falls behind at these rates): it answers gatebot's
            // start-up table check late.
            assert!(
                ready.elapsed() < Duration::from_secs(120),
                "gatebot did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let repos = if prs == 1 { 1 } else { args.repos };
        for pr in 1..=prs {
            let status = post(&http, server.port, &opened(pr, repos)).await;
            assert_eq!(status, 200, "opening PR #{pr}");
        }
        for &rate in &args.rates {
            number += 1;
            let result = step(&http, &server, &args, prs, rate, number).await;
            println!("LOAD {result}");
        }
    }
}

fn main() {
    let Some(args) = args() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(args));
}
