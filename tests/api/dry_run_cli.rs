//! The local walkthroughs as a user runs them: `gatebot serve --dry-run`,
//! `gatebot send events/lifecycle/*.json` (the two-stage default) or
//! `events/pipeline/*.json` (the platform's dev → staging → production),
//! `events/shared/*.json` (two PRs sharing a locked staging), `gatebot
//! status`, `gatebot audit`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `gatebot serve`, killed when dropped.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatebot"));
    c.env("GITHUB_WEBHOOK_SECRET", "walkthrough-secret")
        .env("LOG_LEVEL", "warn")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One walkthrough: its deliveries, its config, and what it ends with.
struct Walk {
    /// `events/<dir>/*.json`.
    dir: &'static str,
    config: &'static str,
    deliveries: usize,
    /// `(workflow@ref environment)` of every dispatch, in order.
    dispatches: &'static [&'static str],
    /// The production dispatch's id.
    production: &'static str,
    /// Other PRs: (`OWNER/REPO#N`, what `gatebot status` says of each).
    others: &'static [(&'static str, &'static [&'static str])],
    /// What `gatebot envs acme/widgets` prints, line by line (in part).
    envs: &'static [&'static str],
}

const LIFECYCLE: Walk = Walk {
    dir: "lifecycle",
    config: "events/gatebot.yml",
    deliveries: 7,
    dispatches: &["cd-stage.yml@main staging", "cd-prod.yml@main production"],
    production: "42-production-0d1a26e-2",
    others: &[],
    envs: &[],
};

const PIPELINE: Walk = Walk {
    dir: "pipeline",
    config: "events/pipeline/gatebot.yml",
    deliveries: 8,
    dispatches: &[
        "cd-dev.yml@main dev",
        "cd-stage.yml@main staging",
        "cd-prod.yml@main production",
    ],
    production: "42-production-0d1a26e-3",
    others: &[],
    envs: &[],
};

/// #42 holds the locked staging; #43's `/lgtm` queues; #42's production
/// dispatch releases staging, and #43 is dispatched there at once.
const SHARED: Walk = Walk {
    dir: "shared",
    config: "events/shared/gatebot.yml",
    deliveries: 11,
    dispatches: &["cd-stage.yml@main staging", "cd-prod.yml@main production"],
    production: "42-production-0d1a26e-2",
    others: &[(
        "acme/widgets#43",
        &[
            "waiting for staging verification",
            "Succeeded 43-staging-7c9d1b3-1 by @quinn",
        ],
    )],
    envs: &[
        "| staging | #43 `7c9d1b3` |",
        "✅ succeeded ([run](https://github.com/acme/widgets/actions/runs/9101)) | #43 since",
        "| production | #42 `0d1a26e` |",
        "| no lock | — |",
    ],
};

#[tokio::test]
async fn the_lifecycle_events_walk_a_pr_to_production_in_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("gatebot.db").display());
    walkthrough(&LIFECYCLE, &store, &[]).await;
}

#[tokio::test]
async fn the_shared_events_walk_two_prs_through_a_locked_staging() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("gatebot.db").display());
    walkthrough(&SHARED, &store, &[]).await;
}

#[tokio::test]
async fn the_pipeline_events_walk_a_pr_through_dev_staging_and_production() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("gatebot.db").display());
    walkthrough(&PIPELINE, &store, &[]).await;
}

/// The same walkthrough with `GATEBOT_STORE`-style `dynamodb:TABLE` and
/// `AWS_ENDPOINT_URL_DYNAMODB` pointing at the local server.
#[tokio::test]
async fn the_walkthrough_also_runs_on_a_local_dynamodb() {
    let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT").expect(
        "DYNAMODB_TEST_ENDPOINT is not set: this test needs a DynamoDB-compatible server; `make test` starts one (moto)",
    );
    let store = format!("dynamodb:gatebot-walkthrough-{}", std::process::id());
    let env = [
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
    ];
    walkthrough(&LIFECYCLE, &store, &env).await;
}

async fn walkthrough(walk: &Walk, store: &str, env: &[(&str, &str)]) {
    let bin = || {
        let mut c = bin();
        c.envs(env.iter().copied());
        c
    };
    let store = store.to_string();
    let addr = format!("127.0.0.1:{}", free_port());
    let _server = Server(
        bin()
            .args([
                "serve",
                "--dry-run",
                "--config",
                walk.config,
                "--store",
                &store,
                "--addr",
                &addr,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{addr}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("{url}/readyz")).await
            && r.status() == 200
        {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["dry_run"], true);
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "gatebot serve did not become ready");

    let mut files: Vec<String> = std::fs::read_dir(format!(
        "{}/events/{}",
        env!("CARGO_MANIFEST_DIR"),
        walk.dir
    ))
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .filter(|name| name.ends_with(".json"))
    .map(|name| format!("events/{}/{name}", walk.dir))
    .collect();
    files.sort();
    assert_eq!(files.len(), walk.deliveries);
    let out = bin()
        .args(["send", "--url", &format!("{url}/webhook")])
        .args(&files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "send failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("\"status\":\"processed\"").count(),
        walk.deliveries,
        "{stdout}"
    );

    // Sending again: every delivery is a duplicate.
    let again = bin()
        .args(["send", "--url", &format!("{url}/webhook")])
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stdout)
            .matches("\"status\":\"duplicate\"")
            .count(),
        walk.deliveries
    );

    let status = bin()
        .args(["status", "acme/widgets#42", "--store", &store])
        .args(["--config", walk.config])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("deployed to production"), "{status}");
    assert!(status.contains(walk.production), "{status}");

    let audit = bin()
        .args(["audit", "acme/widgets", "--pr", "42", "--store", &store])
        .output()
        .unwrap();
    let audit = String::from_utf8_lossy(&audit.stdout);
    assert_eq!(
        audit.matches("[dispatch]").count(),
        walk.dispatches.len(),
        "{audit}"
    );
    assert!(audit.contains("(dry-run: not sent)"), "{audit}");
    let mut from = 0;
    for dispatch in walk.dispatches {
        let at = audit[from..]
            .find(dispatch)
            .unwrap_or_else(|| panic!("{dispatch} missing or out of order\n{audit}"));
        from += at + dispatch.len();
    }

    if !walk.envs.is_empty() {
        let envs = bin()
            .args(["envs", "acme/widgets", "--store", &store])
            .args(["--config", walk.config])
            .output()
            .unwrap();
        let envs = String::from_utf8_lossy(&envs.stdout);
        for said in walk.envs {
            assert!(envs.contains(said), "{said}\n{envs}");
        }
    }

    for (pr, says) in walk.others {
        let status = bin()
            .args(["status", pr, "--store", &store])
            .args(["--config", walk.config])
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&status.stdout);
        for said in *says {
            assert!(status.contains(said), "{pr}: {said}\n{status}");
        }
    }
}

#[test]
fn send_refuses_without_a_secret_and_serve_without_app_credentials() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatebot"))
        .args(["send", "events/lifecycle/01-pull_request-opened.json"])
        .env_remove("GITHUB_WEBHOOK_SECRET")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITHUB_WEBHOOK_SECRET is required"));
    let out = bin()
        .args(["serve", "--store", "sqlite::memory:"])
        .env_remove("GITHUB_APP_ID")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITHUB_APP_ID is required"));
}
