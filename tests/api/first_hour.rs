//! The first hour of a new user, as they run it: `gatebot check-config`,
//! a dry run that refuses a broken `--config`, the read-only commands that
//! never create a database and say which store they read, errors that say
//! what to do, output cut short by `| head`, an unknown route, help that
//! lists flags, defaults, environment and an example, and a server that
//! stops cleanly on SIGTERM.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dry_run_cli::{Server, free_port};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatebot"));
    c.env("GITHUB_WEBHOOK_SECRET", "first-hour-secret")
        .env_remove("GATEBOT_STORE")
        .env("LOG_LEVEL", "info")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A scratch directory, removed after the test.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("gatebot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, file: &str) -> String {
        self.0.join(file).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BROKEN: &str = "roles:\n  qa: [not a login!]\npipeline:\n  - environment: staging\n    workflow: cd stage.yml\n    entry: { command: lgtm, role: qa }\n    soak: 1x\n  - environment: production\n    workflow: cd-prod.yml\n    entry: { command: approve, role: nobody }\n";

#[test]
fn check_config_names_every_problem_with_its_line_and_exits_1() {
    let dir = Scratch::new("check-config");
    let file = dir.path("gatebot.yml");
    std::fs::write(&file, BROKEN).unwrap();
    let out = bin().args(["check-config", &file]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("4 problem(s)"), "{err}");
    for said in [
        "line 2, column 8: roles.qa[0]: `not a login!` is not a GitHub login",
        "line 5, column 5: pipeline[0].workflow: `cd stage.yml`",
        "line 7, column 5: pipeline[0].soak: `1x` is not a duration",
        "line 10, column 32: pipeline[1].entry.role: unknown role `nobody`",
    ] {
        assert!(err.contains(said), "{said}\n{err}");
    }
}

#[test]
fn check_config_summarises_every_example_and_fixture_chain() {
    let mut files = vec![
        "events/gatebot.yml".to_string(),
        "events/pipeline/gatebot.yml".to_string(),
        "events/shared/gatebot.yml".to_string(),
        "infra/gatebot.example.yml".to_string(),
    ];
    for e in std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chains"
    ))
    .unwrap()
    {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        files.push(format!("tests/fixtures/chains/{name}"));
    }
    for file in files {
        let out = bin().args(["check-config", &file]).output().unwrap();
        let said = text(&out.stdout);
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
        assert!(said.contains(": valid; the chain it defines"), "{said}");
        assert!(said.contains("  1. "), "{said}");
        assert!(said.contains("required checks: "), "{said}");
    }
    // No file: it says which one it looked for.
    let dir = Scratch::new("check-config-missing");
    let out = bin()
        .arg("check-config")
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read .github/gatebot.yml"));
}

#[test]
fn check_config_of_a_file_extending_org_says_the_organisations_part_was_not_read() {
    let dir = Scratch::new("check-config-extends");
    let file = dir.path("gatebot.yml");
    std::fs::write(&file, "extends: org\nrequired_checks: [build]\n").unwrap();
    let out = bin().args(["check-config", &file]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("the organisation's part"), "{said}");
    assert!(said.contains("was not read"), "{said}");
    // Anything else to extend is a problem.
    std::fs::write(&file, "extends: acme/base\n").unwrap();
    let out = bin().args(["check-config", &file]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not `org`"),
        "{}",
        text(&out.stderr)
    );
}

/// The files `scripts/schema-check.py` expects the schema to reject: the
/// parser rejects every one too.
#[test]
fn check_config_rejects_every_invalid_fixture_the_schema_rejects() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/configs/invalid"
    );
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let out = bin().arg("check-config").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{} accepted", path.display());
        assert!(
            text(&out.stderr).contains("problem(s)"),
            "{}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 9, "only {n} invalid fixtures");
}

#[test]
fn check_config_prints_the_committed_schema() {
    let out = bin().args(["check-config", "--schema"]).output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/gatebot.schema.json"
    ))
    .unwrap();
    assert_eq!(text(&out.stdout), committed);
}

#[test]
fn the_dry_run_refuses_to_start_on_a_broken_config_and_creates_nothing() {
    let dir = Scratch::new("dry-run-broken");
    let file = dir.path("gatebot.yml");
    std::fs::write(&file, BROKEN).unwrap();
    let db = dir.path("gatebot.db");
    let addr = format!("127.0.0.1:{}", free_port());
    let out = bin()
        .args(["serve", "--dry-run", "--config", &file])
        .args(["--store", &format!("sqlite:{db}"), "--addr", &addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("is not a valid gatebot.yml"), "{err}");
    assert!(err.contains("pipeline[0].soak"), "{err}");
    assert!(!std::path::Path::new(&db).exists(), "no database created");
    // An address that is not one: named, and nothing created either.
    let out = bin()
        .args(["serve", "--dry-run", "--store", &format!("sqlite:{db}")])
        .args(["--addr", "localhost"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--addr localhost is not an address"));
    assert!(!std::path::Path::new(&db).exists());
}

#[test]
fn the_read_commands_never_create_a_database_and_say_which_they_read() {
    let dir = Scratch::new("read-commands");
    for args in [
        vec!["status", "acme/widgets#42"],
        vec!["audit", "acme/widgets"],
        vec!["envs", "acme/widgets"],
        vec!["reconcile"],
    ] {
        let out = bin().args(&args).current_dir(&dir.0).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("no store at sqlite:gatebot.db (from the default): nothing was created"),
            "{args:?}: {err}"
        );
        assert!(!dir.0.join("gatebot.db").exists(), "{args:?} created it");
    }
    // A bare file name is blamed on the flag, with what was meant.
    let out = bin()
        .args(["audit", "acme/widgets", "--store", "gatebot-dev.db"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains("--store is invalid") && err.contains("write sqlite:gatebot-dev.db"),
        "{err}"
    );
}

#[test]
fn send_to_a_stopped_server_says_where_and_what_to_run() {
    let url = format!("http://127.0.0.1:{}/webhook", free_port());
    let out = bin()
        .args([
            "send",
            "--url",
            &url,
            "events/lifecycle/01-pull_request-opened.json",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach gatebot at {url}")),
        "{err}"
    );
    assert!(err.contains("make run") && err.contains("--url"), "{err}");
}

#[test]
fn every_command_says_its_flags_environment_and_an_example() {
    for command in ["serve", "send", "status", "audit", "reconcile", "envs"] {
        let out = bin().args([command, "--help"]).output().unwrap();
        let help = text(&out.stdout);
        assert!(out.status.success(), "{command}");
        assert!(help.contains("Environment:"), "{command}: {help}");
        assert!(help.contains("Example:\n  gatebot "), "{command}: {help}");
    }
    let serve = text(&bin().args(["serve", "--help"]).output().unwrap().stdout);
    for said in [
        "[default: 60]",
        "[default: 10s]",
        "GATEBOT_STORE",
        "GITHUB_WEBHOOK_SECRET",
    ] {
        assert!(serve.contains(said), "{said}\n{serve}");
    }
}

async fn ready(url: &str) {
    for _ in 0..100 {
        if reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gatebot serve did not become ready");
}

/// `gatebot serve --dry-run` on `events/gatebot.yml` and `store`, ready.
struct DryRun {
    server: Server,
    url: String,
    store: String,
}

impl DryRun {
    async fn start(store: &str, stderr: Stdio) -> DryRun {
        let addr = format!("127.0.0.1:{}", free_port());
        let server = Server(
            bin()
                .args(["serve", "--dry-run", "--config", "events/gatebot.yml"])
                .args(["--store", store, "--addr", &addr])
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap(),
        );
        let url = format!("http://{addr}");
        ready(&url).await;
        DryRun {
            server,
            url,
            store: store.to_string(),
        }
    }

    /// `gatebot send` of `files`, which must all be accepted; its output.
    fn send(&self, files: &[&str]) -> String {
        let out = bin()
            .args(["send", "--url", &format!("{}/webhook", self.url)])
            .args(files)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    }

    /// `gatebot status` of #42.
    fn status(&self) -> String {
        text(
            &bin()
                .args(["status", "acme/widgets#42", "--store", &self.store])
                .output()
                .unwrap()
                .stdout,
        )
    }
}

#[tokio::test]
async fn a_served_dry_run_names_its_routes_cuts_output_quietly_and_stops_on_sigterm() {
    let dir = Scratch::new("served");
    let store = format!("sqlite:{}", dir.path("gatebot.db"));
    let DryRun {
        mut server, url, ..
    } = DryRun::start(&store, Stdio::piped()).await;

    // An unknown path: one JSON line naming the routes.
    let r = reqwest::get(format!("{url}/hooks")).await.unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["routes"][0], "POST /webhook", "{body}");

    let out = bin()
        .args(["send", "--url", &format!("{url}/webhook")])
        .args([
            "events/lifecycle/01-pull_request-opened.json",
            "events/lifecycle/02-check_run-completed.json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let full = bin()
        .args(["audit", "acme/widgets", "--store", &store])
        .output()
        .unwrap();
    assert!(
        text(&full.stdout).lines().count() >= 2,
        "{}",
        text(&full.stdout)
    );
    // `gatebot audit | head -1`: the reader goes away; gatebot exits
    // quietly.
    let mut audit = bin()
        .args(["audit", "acme/widgets", "--store", &store])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(audit.stdout.take());
    let status = audit.wait().unwrap();
    let mut err = String::new();
    audit
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("reading {store} (from --store)")),
        "{err}"
    );

    // SIGTERM: it drains, logs it, and exits 0 in time.
    let pid = server.0.id().to_string();
    // The shell's own `kill` (a minimal Debian has no /bin/kill).
    let term = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(term.success());
    let began = Instant::now();
    let code = loop {
        if let Some(code) = server.0.try_wait().unwrap() {
            break code;
        }
        assert!(began.elapsed() < Duration::from_secs(20), "still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut log = String::new();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(code.success(), "{code}: {log}");
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("gatebot stopped"), "{log}");
    // Not a terminal: no colours in the log.
    assert!(!log.contains('\u{1b}'), "{log}");
}

#[tokio::test]
async fn the_hold_and_unhold_samples_hold_production_then_let_it_go() {
    let dir = Scratch::new("hold-unhold");
    let store = format!("sqlite:{}", dir.path("gatebot.db"));
    let run = DryRun::start(&store, Stdio::null()).await;
    let send = |files: &[&str]| run.send(files);
    let status = || run.status();
    send(&[
        "events/lifecycle/01-pull_request-opened.json",
        "events/lifecycle/02-check_run-completed.json",
        "events/lifecycle/03-issue_comment-lgtm.json",
        "events/lifecycle/04-workflow_run-stage-completed.json",
        "events/lifecycle/05-issue_comment-verify-stage.json",
        "events/samples/issue_comment-hold.json",
        "events/lifecycle/06-issue_comment-approve.json",
    ]);
    let held = status();
    assert!(held.contains("held by @rita"), "{held}");
    assert!(!held.contains("deploying to production"), "{held}");
    send(&["events/samples/issue_comment-unhold.json"]);
    let going = status();
    assert!(going.contains("deploying to production"), "{going}");
}

#[tokio::test]
async fn a_restarted_dry_run_carries_on_where_it_stopped() {
    let dir = Scratch::new("restart");
    let store = format!("sqlite:{}", dir.path("gatebot.db"));
    let first = DryRun::start(&store, Stdio::null()).await;
    first.send(&["events/lifecycle/01-pull_request-opened.json"]);
    first.send(&["events/lifecycle/02-check_run-completed.json"]);
    drop(first);
    let second = DryRun::start(&store, Stdio::null()).await;
    let answer = second.send(&["events/lifecycle/03-issue_comment-lgtm.json"]);
    assert!(answer.contains("\"status\":\"processed\""), "{answer}");
    let status = second.status();
    assert!(status.contains("deploying to staging"), "{status}");
}

#[tokio::test]
async fn the_protection_rule_sample_is_approved_after_approve_and_any_other_run_rejected() {
    let dir = Scratch::new("protection-rule");
    let store = format!("sqlite:{}", dir.path("gatebot.db"));
    let run = DryRun::start(&store, Stdio::null()).await;
    let send = |files: &[&str]| run.send(files);
    send(&[
        "events/lifecycle/01-pull_request-opened.json",
        "events/lifecycle/02-check_run-completed.json",
        "events/lifecycle/03-issue_comment-lgtm.json",
        "events/lifecycle/04-workflow_run-stage-completed.json",
        "events/lifecycle/05-issue_comment-verify-stage.json",
        "events/lifecycle/06-issue_comment-approve.json",
        "events/samples/workflow_run-prod-requested.json",
    ]);
    let approved = send(&["events/samples/deployment_protection_rule-requested.json"]);
    assert!(approved.contains("run 9002 approved"), "{approved}");

    // The same request for a run gatebot never dispatched.
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/samples/deployment_protection_rule-requested.json"
    ))
    .unwrap()
    .replace("runs/9002/", "runs/9999/")
    .replace(
        "d3bffe56-80d7-4079-ae4e-e1d8320ad4e2",
        "d3bffe56-80d7-4079-ae4e-e1d8320ad4e3",
    );
    let other = dir.path("other-run.json");
    std::fs::write(&other, sample).unwrap();
    let rejected = send(&[&other]);
    assert!(
        rejected.contains("200") && rejected.contains("run 9999 rejected"),
        "{rejected}"
    );

    let audit = |args: &[&str]| {
        text(
            &bin()
                .args(["audit", "acme/widgets", "--store", &store])
                .args(args)
                .output()
                .unwrap()
                .stdout,
        )
    };
    let of_42 = audit(&["--pr", "42"]);
    assert!(
        of_42.contains("run 9002 for production approved"),
        "{of_42}"
    );
    let all = audit(&[]);
    assert!(all.contains("acme/widgets#- [protection_rule]"), "{all}");
    assert!(!all.contains("#0 "), "{all}");
}

/// The Lambda reads its settings at cold start, before it asks the runtime
/// API for an invocation: a bad one ends the start with a log line naming
/// it (Lambda reports an init error), and no invocation is taken.
#[test]
fn the_lambda_refuses_to_start_on_a_bad_setting_before_taking_an_invocation() {
    let runtime_api = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    runtime_api.set_nonblocking(true).unwrap();
    let api = runtime_api.local_addr().unwrap().to_string();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/test-app-key.pem"
    );
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[
                ("GITHUB_APP_ID", "777"),
                ("GITHUB_APP_PRIVATE_KEY_PATH", key),
            ],
            "GATEBOT_STORE",
        ),
        (&[("GITHUB_APP_PRIVATE_KEY_PATH", key)], "GITHUB_APP_ID"),
        (
            &[
                ("GITHUB_APP_ID", "seven"),
                ("GITHUB_APP_PRIVATE_KEY_PATH", key),
            ],
            "GITHUB_APP_ID",
        ),
    ];
    for (env, named) in cases {
        let mut c = bin();
        c.env("AWS_LAMBDA_RUNTIME_API", &api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "gatebot")
            .env("GATEBOT_STORE", "postgres:gatebot")
            .env_remove("GITHUB_APP_ID")
            .env_remove("GITHUB_APP_PRIVATE_KEY")
            .env_remove("GITHUB_APP_PRIVATE_KEY_PATH")
            .env_remove("GATEBOT_SECRET_ARN");
        for (k, v) in env {
            c.env(k, v);
        }
        if named != "GATEBOT_STORE" {
            c.env("GATEBOT_STORE", "sqlite::memory:");
        }
        let out = c.output().unwrap();
        let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{named}: {log}");
        assert!(
            log.contains("gatebot lambda failed to start"),
            "{named}: {log}"
        );
        assert!(log.contains(named), "{named}: {log}");
        assert!(
            runtime_api.accept().is_err(),
            "{named}: the runtime API was asked for an invocation"
        );
    }
}
