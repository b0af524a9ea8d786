//! `TestApp`: the real router served on a loopback port, with the real
//! octocrab adapter pointed at the fake GitHub and a real SQLite store; and
//! signed deliveries built from GitHub's own example payloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gatebot::testing::app::App;
use gatebot::testing::github::octo::OctoGitHub;
use gatebot::testing::http::{HttpState, router};
use gatebot::testing::secrets::AppCredentials;
use gatebot::testing::signature::{WebhookSecrets, sign_with};
use gatebot::testing::store::Store;
use gatebot::testing::store::sqlite::SqliteStore;
use serde_json::{Value, json};

use crate::fake_github::{FULL, FakeGitHub, INSTALLATION, MAIN_HEAD, Pr};

pub const SECRET: &str = "test-webhook-secret";
pub const SHA1: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
pub const SHA2: &str = "7c9d1b3a0e5f42d8b6a1c3e9f0d2b4a6c8e1f3a5";
pub const PR: u64 = 42;

/// Default config on `main`: CI is the `build` check; roles from permissions.
pub const DEFAULT_CONFIG: &str = "required_checks: [build]\n";

static NEXT_TABLE: AtomicU64 = AtomicU64::new(0);

/// Settings of gatebot that tests change.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// The fake GitHub stamps times with this process's clock, so by
    /// default there is no skew between two clocks to allow for (the
    /// production margin is tested in `stale_commands`).
    pub clock_skew: chrono::Duration,
    pub effects_budget: std::time::Duration,
    pub refusal_ttl: std::time::Duration,
    /// `GATEBOT_RATE_LIMIT_FLOOR` (0 here unless a test says: never low).
    pub rate_limit_floor: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            clock_skew: chrono::Duration::zero(),
            effects_budget: gatebot::testing::app::EFFECTS_BUDGET,
            refusal_ttl: gatebot::testing::app::refusals::REFUSAL_TTL,
            rate_limit_floor: 0,
        }
    }
}

pub struct TestApp {
    pub url: String,
    app: Arc<App>,
    pub github: FakeGitHub,
    pub store: Arc<dyn Store>,
    /// The store, when it is a local DynamoDB one (its own request tally).
    pub dynamodb: Option<gatebot::testing::store::dynamo::DynamoStore>,
    client: reqwest::Client,
    next: AtomicU64,
}

/// The current time as GitHub writes it (RFC 3339, UTC).
pub fn now_stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists"))
        .expect("fixture is JSON")
}

/// acme/widgets on `main`: the deploy and verify workflows, and `config`
/// as `.github/gatebot.yml`.
pub fn repository(w: &mut crate::fake_github::World, config: &str) {
    for wf in [
        "cd-dev.yml",
        "cd-stage.yml",
        "cd-prod.yml",
        "cd-prod-eu.yml",
        "cd-prod-us.yml",
        "smoke.yml",
    ] {
        w.files.insert(
            ("main".into(), format!(".github/workflows/{wf}")),
            "on: workflow_dispatch".into(),
        );
    }
    w.files
        .insert(("main".into(), ".github/gatebot.yml".into()), config.into());
}

/// gatebot's octocrab client for the fake GitHub at `uri`, as App 777.
pub fn octo(uri: &str) -> OctoGitHub {
    let key = std::fs::read_to_string(format!(
        "{}/tests/fixtures/test-app-key.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("key");
    OctoGitHub::new(
        uri,
        &AppCredentials {
            app_id: 777,
            private_key_pem: key,
        },
    )
    .expect("octocrab")
}

/// What the router serves `app` with: the test secret (and an old one, as
/// during a rotation) and the metrics.
fn http_state(app: Arc<App>) -> Arc<HttpState> {
    Arc::new(HttpState {
        app,
        secrets: gatebot::testing::secrets::StaticSecrets::source(
            Some(WebhookSecrets::parse(&format!("old-secret,{SECRET}")).expect("secrets")),
            None,
        ),
        metrics: gatebot::testing::telemetry::metrics(),
    })
}

/// Serves the real router for `app` on a loopback port, on the current
/// runtime; returns its base URL.
pub async fn serve(app: Arc<App>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = http_state(app);
    tokio::spawn(async move {
        axum::serve(listener, router(state)).await.expect("serve");
    });
    format!("http://{addr}")
}

/// `pull_request.<action>` for PR `number` by alice at `sha`.
pub fn pr_payload_for(number: u64, action: &str, sha: &str) -> Value {
    let mut p = fixture(&format!(
        "pull_request.{}",
        if action == "synchronize" {
            "synchronize"
        } else {
            "opened"
        }
    ));
    p["action"] = json!(action);
    p["number"] = json!(number);
    p["pull_request"]["number"] = json!(number);
    p["pull_request"]["head"]["sha"] = json!(sha);
    p["pull_request"]["user"]["login"] = json!("alice");
    p["pull_request"]["user"]["id"] = json!(crate::fake_github::user_id("alice"));
    // The author opened it, and pushed its heads (unless a test says
    // otherwise).
    p["sender"]["login"] = json!("alice");
    p["sender"]["id"] = json!(crate::fake_github::user_id("alice"));
    p["pull_request"]["state"] = json!(if action == "closed" { "closed" } else { "open" });
    p["installation"] = json!({"id": INSTALLATION});
    p
}

/// `issue_comment.created` of comment `id` by `login` on PR `number`,
/// written now.
pub fn comment_payload_for(number: u64, id: u64, login: &str, body: &str) -> Value {
    let mut p = fixture("issue_comment.created");
    p["issue"]["number"] = json!(number);
    p["comment"]["id"] = json!(id);
    p["comment"]["body"] = json!(body);
    p["comment"]["user"]["login"] = json!(login);
    p["comment"]["user"]["id"] = json!(crate::fake_github::user_id(login));
    p["comment"]["user"]["type"] = json!("User");
    // Written now, as GitHub stamps it.
    p["comment"]["created_at"] = json!(now_stamp());
    p["sender"]["login"] = json!(login);
    p["sender"]["id"] = json!(crate::fake_github::user_id(login));
    p["installation"] = json!({"id": INSTALLATION});
    p
}

/// `check_run.completed` of check run `id`, listing the open PRs `prs`
/// whose head is `sha`, as GitHub does.
pub fn check_run_payload(id: u64, name: &str, sha: &str, conclusion: &str, prs: &[u64]) -> Value {
    let mut p = fixture("check_run.completed");
    p["check_run"]["id"] = json!(id);
    p["check_run"]["name"] = json!(name);
    p["check_run"]["head_sha"] = json!(sha);
    p["check_run"]["conclusion"] = json!(conclusion);
    let template = p["check_run"]["pull_requests"][0].clone();
    let entries: Vec<Value> = prs
        .iter()
        .map(|n| {
            let mut e = template.clone();
            e["number"] = json!(n);
            e
        })
        .collect();
    p["check_run"]["pull_requests"] = json!(entries);
    p["installation"] = json!({"id": INSTALLATION});
    p
}

/// `workflow_run.completed` for `run` (as [`crate::fake_github::run_json`]
/// renders the fake's run), carrying the run's identifying fields.
pub fn workflow_run_payload(run: &Value, conclusion: &str) -> Value {
    let mut p = fixture("workflow_run.completed");
    for field in [
        "id",
        "name",
        "path",
        "display_title",
        "event",
        "head_branch",
        "head_repository",
        "actor",
        "triggering_actor",
        "updated_at",
        "html_url",
    ] {
        let value = run[field].clone();
        if field == "head_repository" || field == "actor" || field == "triggering_actor" {
            // Keep the fixture's other fields; change the identifying ones.
            for (k, v) in value.as_object().into_iter().flatten() {
                p["workflow_run"][field][k] = v.clone();
            }
        } else {
            p["workflow_run"][field] = value;
        }
    }
    p["workflow_run"]["status"] = json!("completed");
    p["workflow_run"]["conclusion"] = json!(conclusion);
    p["workflow_run"]["head_sha"] = json!(MAIN_HEAD);
    p["installation"] = json!({"id": INSTALLATION});
    p
}

impl TestApp {
    /// A world with acme/widgets (default branch `main`, the workflows and
    /// `.github/gatebot.yml` on it), PR #42 by alice at SHA1, and users:
    /// alice (write, the author), quinn (write), rita and rob (maintain),
    /// randy (read).
    pub async fn spawn() -> TestApp {
        Self::spawn_with_config(DEFAULT_CONFIG).await
    }

    pub async fn spawn_with_config(config: &str) -> TestApp {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("sqlite"));
        Self::spawn_with_store(config, store).await
    }

    /// The same world on a DynamoDB store (a fresh table on the server
    /// `make test` starts; fails loudly without one).
    pub async fn spawn_on_dynamodb() -> TestApp {
        let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT").expect(
            "DYNAMODB_TEST_ENDPOINT is not set: this test needs a DynamoDB-compatible server; `make test` starts one (moto)",
        );
        let table = format!(
            "gatebot-api-{}-{}",
            std::process::id(),
            NEXT_TABLE.fetch_add(1, Ordering::SeqCst)
        );
        let store = gatebot::testing::store::dynamo::DynamoStore::local(&endpoint, table);
        store.ensure_table().await.expect("create the test table");
        let mut app = Self::spawn_with_store(DEFAULT_CONFIG, Arc::new(store.clone())).await;
        app.dynamodb = Some(store);
        app
    }

    pub async fn spawn_with_store(config: &str, store: Arc<dyn Store>) -> TestApp {
        let github = FakeGitHub::start().await;
        {
            let mut w = github.world();
            repository(&mut w, config);
            for (login, role) in [
                ("alice", "write"),
                ("quinn", "write"),
                ("rita", "maintain"),
                ("rob", "maintain"),
                ("randy", "read"),
            ] {
                w.collaborators.insert(login.into(), role.into());
            }
            w.prs.insert(
                PR,
                Pr {
                    head: SHA1.into(),
                    author: "alice".into(),
                    state: "open".into(),
                    base: "main".into(),
                    head_ref: "feature/widgets".into(),
                },
            );
        }
        Self::spawn_on(github, store).await
    }

    pub async fn spawn_on(github: FakeGitHub, store: Arc<dyn Store>) -> TestApp {
        Self::spawn_on_tuned(github, store, Tuning::default()).await
    }

    /// The default world, with gatebot tuned otherwise.
    pub async fn spawn_tuned(tuning: Tuning) -> TestApp {
        let app = Self::spawn().await;
        Self::spawn_on_tuned(app.github.clone(), app.store.clone(), tuning).await
    }

    async fn spawn_on_tuned(github: FakeGitHub, store: Arc<dyn Store>, tuning: Tuning) -> TestApp {
        let github_client = octo(&github.uri()).with_rate_limit_floor(tuning.rate_limit_floor);
        let mut app = App::new(store.clone(), Arc::new(github_client));
        app.clock_skew = tuning.clock_skew;
        app.effects_budget = tuning.effects_budget;
        app.refusals = gatebot::testing::app::refusals::Refusals::new(tuning.refusal_ttl);
        let app = app.share();
        let url = serve(app.clone()).await;
        TestApp {
            app,
            url,
            github,
            store,
            dynamodb: None,
            // GitHub gives up on a delivery after 10 seconds.
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("client"),
            next: AtomicU64::new(1),
        }
    }

    /// The application behind the router (for reconcile passes).
    pub fn app(&self) -> Arc<App> {
        self.app.clone()
    }

    /// A reconcile pass as if the settle time had passed.
    pub async fn reconcile_settled(&self) -> gatebot::testing::reconcile::Report {
        gatebot::testing::reconcile::run(&self.app, chrono::Duration::zero())
            .await
            .expect("reconcile pass")
    }

    /// Where PR #42 stands, in the chain of the config the world holds on
    /// the default branch.
    pub async fn stage(&self) -> gatebot::testing::gate::Stage {
        let yaml = self
            .github
            .world()
            .files
            .get(&("main".to_string(), ".github/gatebot.yml".to_string()))
            .cloned()
            .unwrap_or_default();
        let config = gatebot::testing::config::parse(&yaml).expect("the test config parses");
        self.state().await.stage(&config.pipeline)
    }

    /// PR #42's gate state as stored.
    pub async fn state(&self) -> gatebot::testing::gate::GateState {
        let key = gatebot::testing::domain::PrKey {
            repo: gatebot::testing::domain::RepoName::parse(FULL).expect("repo"),
            number: PR,
        };
        self.store
            .load_gate(&key)
            .await
            .expect("store")
            .expect("a record for #42")
            .value
            .state
    }

    /// The answers to the protection-rule reviews, in order: (run, state, comment).
    pub fn reviews(&self) -> Vec<(u64, String, String)> {
        self.github
            .world()
            .reviews
            .iter()
            .map(|(run, b)| {
                (
                    *run,
                    b["state"].as_str().unwrap_or_default().to_string(),
                    b["comment"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn delivery_id(&self) -> String {
        format!(
            "d-{}-{}",
            std::process::id(),
            self.next.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// POSTs raw bytes with the given headers.
    pub async fn post(&self, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
        let mut req = self.client.post(format!("{}/webhook", self.url)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Signs and sends `payload` as `event` with a given delivery id.
    pub async fn send_as(&self, event: &str, delivery: &str, payload: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(payload).expect("json");
        let sig = sign_with(SECRET.as_bytes(), &body);
        self.post(
            &[
                ("x-github-event", event.to_string()),
                ("x-github-delivery", delivery.to_string()),
                ("x-hub-signature-256", sig),
                ("content-type", "application/json".into()),
            ],
            body,
        )
        .await
    }

    /// Signs and sends `payload`; asserts a 200 and returns the status field.
    pub async fn send(&self, event: &str, payload: &Value) -> String {
        let (code, body) = self.send_as(event, &self.delivery_id(), payload).await;
        assert_eq!(code, 200, "{event} answered {code}: {body}");
        body["status"].as_str().unwrap_or_default().to_string()
    }

    // ---- deliveries built from GitHub's example payloads ----

    pub fn pr_payload(&self, action: &str, sha: &str) -> Value {
        pr_payload_for(PR, action, sha)
    }

    pub async fn open_pr(&self) {
        assert_eq!(
            self.send("pull_request", &self.pr_payload("opened", SHA1))
                .await,
            "processed"
        );
    }

    /// Pushes `sha` to the PR branch (GitHub state, then the delivery).
    pub async fn push(&self, sha: &str) {
        {
            let mut w = self.github.world();
            let pr = w.prs.get_mut(&PR).expect("pr");
            pr.head = sha.into();
            let branch = pr.head_ref.clone();
            w.activity.push((branch, sha.into(), "alice".into()));
        }
        assert_eq!(
            self.send("pull_request", &self.pr_payload("synchronize", sha))
                .await,
            "processed"
        );
    }

    /// GitHub Actions completed check `name` on `sha`, with no delivery
    /// (yet); returns the check run's id, newer than any before it.
    pub fn add_check_run(&self, sha: &str, name: &str, conclusion: &str) -> u64 {
        let mut w = self.github.world();
        let id = 5000 + w.check_runs.len() as u64;
        w.check_runs.push(crate::fake_github::CheckRun {
            id,
            app_id: crate::fake_github::ACTIONS_APP_ID,
            sha: sha.into(),
            name: name.into(),
            status: "completed".into(),
            conclusion: Some(conclusion.into()),
            title: None,
            summary: None,
        });
        id
    }

    /// Completes check `name` on `sha` in GitHub, then sends `check_run.completed`.
    pub async fn check(&self, sha: &str, name: &str, conclusion: &str) {
        let id = self.add_check_run(sha, name, conclusion);
        // As GitHub does: the open PRs whose head is `sha`.
        let prs: Vec<u64> = {
            let w = self.github.world();
            let mut numbers: Vec<u64> = w
                .prs
                .iter()
                .filter(|(_, pr)| pr.head == sha && pr.state == "open")
                .map(|(n, _)| *n)
                .collect();
            numbers.sort_unstable();
            numbers
        };
        let p = check_run_payload(id, name, sha, conclusion, &prs);
        self.send("check_run", &p).await;
    }

    pub async fn ci_green(&self, sha: &str) {
        self.check(sha, "build", "success").await;
    }

    /// A comment by the account called `login` now (its id as the world
    /// has it: a renamed account keeps its id).
    pub fn comment_payload(&self, id: u64, login: &str, body: &str) -> Value {
        let mut p = comment_payload_for(PR, id, login, body);
        let user = self.github.world().id_of(login);
        p["comment"]["user"]["id"] = json!(user);
        p["sender"]["id"] = json!(user);
        p
    }

    /// Opens another PR `number` by alice at `sha` (GitHub, then the delivery).
    pub async fn open_other_pr(&self, number: u64, sha: &str) {
        self.github.world().prs.insert(
            number,
            Pr {
                head: sha.into(),
                author: "alice".into(),
                state: "open".into(),
                base: "main".into(),
                head_ref: format!("feature/{number}"),
            },
        );
        let mut p = self.pr_payload("opened", sha);
        p["number"] = json!(number);
        p["pull_request"]["number"] = json!(number);
        assert_eq!(self.send("pull_request", &p).await, "processed");
    }

    /// Posts a comment on PR `number`; returns its id and the delivery status.
    pub async fn comment_on(&self, number: u64, login: &str, body: &str) -> (u64, String) {
        let id = 1000 + self.next.fetch_add(1, Ordering::SeqCst);
        let mut p = self.comment_payload(id, login, body);
        p["issue"]["number"] = json!(number);
        *self.github.world().pr_comments.entry(number).or_default() += 1;
        (id, self.send("issue_comment", &p).await)
    }

    /// Posts a comment; returns its id and the delivery status.
    pub async fn comment(&self, login: &str, body: &str) -> (u64, String) {
        let id = 1000 + self.next.fetch_add(1, Ordering::SeqCst);
        let payload = self.comment_payload(id, login, body);
        let number = payload["issue"]["number"].as_u64().unwrap_or(0);
        *self.github.world().pr_comments.entry(number).or_default() += 1;
        let status = self.send("issue_comment", &payload).await;
        (id, status)
    }

    /// A `workflow_run.completed` delivery for the fake's run `run_id`,
    /// carrying the run's fields as GitHub would.
    pub fn run_payload(&self, run_id: u64, conclusion: &str) -> Value {
        let run = {
            let w = self.github.world();
            let r = w.runs.iter().find(|r| r.id == run_id).expect("run exists");
            crate::fake_github::run_json(r)
        };
        workflow_run_payload(&run, conclusion)
    }

    /// Completes the run of dispatch number `index` (0-based) at `at`.
    pub async fn finish_dispatch_at(
        &self,
        index: usize,
        conclusion: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let run_id = {
            let mut w = self.github.world();
            let run_id = w.dispatches[index].run_id.expect("dispatch has a run");
            w.complete_run(run_id, conclusion, at);
            run_id
        };
        assert_eq!(
            self.send("workflow_run", &self.run_payload(run_id, conclusion))
                .await,
            "processed"
        );
    }

    /// Completes the run of dispatch number `index` (0-based) now.
    pub async fn finish_dispatch(&self, index: usize, conclusion: &str) {
        self.finish_dispatch_at(index, conclusion, chrono::Utc::now())
            .await;
    }

    pub fn protection_payload(&self, run_id: u64, environment: &str) -> Value {
        let mut p = fixture("deployment_protection_rule.requested");
        p["environment"] = json!(environment);
        p["deployment_callback_url"] = json!(format!(
            "https://api.github.com/repos/{FULL}/actions/runs/{run_id}/deployment_protection_rule"
        ));
        p["installation"] = json!({"id": INSTALLATION});
        p
    }

    /// The deployment of run `run_id` to production asks gatebot's
    /// protection rule; returns the delivery's status.
    pub async fn ask_production(&self, run_id: u64) -> String {
        self.send(
            "deployment_protection_rule",
            &self.protection_payload(run_id, "production"),
        )
        .await
    }

    pub fn dispatch_count(&self) -> usize {
        self.github.world().dispatches.len()
    }

    /// The last reply gatebot posted on the PR.
    pub fn last_reply(&self) -> String {
        let w = self.github.world();
        let Some(c) = w.comments.last() else {
            return String::new();
        };
        assert_eq!(c.issue, PR, "gatebot replied on another issue");
        c.body.clone()
    }

    /// Brings the PR to "waiting for production approval" at SHA1.
    pub async fn through_staging(&self) {
        self.open_pr().await;
        self.ci_green(SHA1).await;
        self.comment("quinn", "/lgtm").await;
        assert_eq!(self.dispatch_count(), 1, "stage dispatched");
        self.finish_dispatch(0, "success").await;
        self.comment("quinn", "/verify-stage").await;
    }
}
