//! The deterministic fault soak: one scripted world of pull requests —
//! opened, pushed to, CI going green, people commenting `/lgtm`,
//! `/verify-stage` and `/approve` (and commands that must be refused),
//! duplicate and late deliveries, workflow runs completing — driven against
//! the fake GitHub while it injects faults into a seeded share of gatebot's
//! requests (500, 502, 429 and 403 rate limits with `retry-after`, slow
//! answers, an expired token, dispatches that take effect but answer 500),
//! and while the gatebot process is killed at random points: while a
//! dispatch is on its way (after the state was stored, before the dispatch
//! took effect) and after it took effect (before gatebot marked it done).
//! A killed process is restarted on the same store; the deliveries it never
//! answered are redelivered, as GitHub does, in random order.
//!
//! Each process runs on a runtime of its own, and a kill shuts that runtime
//! down: every task of the process stops at whatever `.await` it was at,
//! as a killed Lambda or server would.
//!
//! At the end, with faults off, it settles (redeliveries, reconcile passes,
//! people finishing their reviews) and checks, for every PR:
//! - one successful production deploy of its final, approved head (one
//!   more for each time another PR's production deploy overtook it), and
//!   no second dispatch to an environment of a SHA unless a run of the
//!   first failed (one run in ten fails; people then give the command
//!   again) or another PR's deploy displaced it there (people then
//!   `/retry`);
//! - no dispatch of a SHA that did not pass every gate, judged from what the
//!   world recorded (check runs, who commented what while which SHA was the
//!   head, which runs succeeded, what was dispatched to staging when), not
//!   from gatebot's own records: production only after a `/verify-stage`
//!   given while staging ran that SHA (no other PR's deploy dispatched
//!   there between its deploy and the verification);
//! - every delivery accounted for: processed, or redelivered and then
//!   processed; and the PR deployed at its final head.
//!
//! - over a locked staging (`short_soak_over_a_locked_staging_*`): between
//!   a PR's staging dispatch and the end of its run (or its next push), no
//!   other PR's deploy is dispatched there — and every PR still reaches
//!   production through the queue.
//!
//! It prints the seed and its figures. A broken PR fails the test with its
//! whole history. `SOAK_SEED` replays a seed; `make soak` runs the long
//! version (`SOAK_PRS`, `SOAK_SEEDS`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gatebot::testing::app::App;
use gatebot::testing::domain::{PrKey, RepoName};
use gatebot::testing::gate::{GateState, Stage};
use gatebot::testing::signature::sign_with;
use gatebot::testing::store::Store;
use gatebot::testing::store::dynamo::DynamoStore;
use gatebot::testing::store::sqlite::SqliteStore;
use serde_json::Value;

use crate::fake_github::{ACTIONS_APP_ID, Chaos, CheckRun, FULL, FakeGitHub, Pr, run_json};
use crate::harness::{
    DEFAULT_CONFIG, SECRET, check_run_payload, comment_payload_for, octo, pr_payload_for,
    repository, serve, workflow_run_payload,
};

const QA: &str = "quinn";
const RELEASE: &str = "rita";
const AUTHOR: &str = "alice";
const READER: &str = "randy";

/// How the soak runs.
#[derive(Debug, Clone)]
pub struct Soak {
    pub seed: u64,
    pub prs: u64,
    /// Share of gatebot's requests to GitHub that fail.
    pub fault_rate: f64,
    /// Share of dispatches during which the process is killed.
    pub kill_rate: f64,
    /// Steps of people's work while faults are on, per PR.
    pub steps_per_pr: u64,
    /// The repository's `.github/gatebot.yml`.
    pub config: &'static str,
}

/// The two-stage chain with a locked staging: one PR at a time there.
const LOCKED: &str = "required_checks: [build]
pipeline:
  - {environment: staging, workflow: cd-stage.yml, entry: {command: lgtm, role: qa}, verify: {command: verify-stage, role: qa}, lock: true}
  - {environment: production, workflow: cd-prod.yml, entry: {command: approve, role: release}}
";

impl Soak {
    pub fn short(seed: u64) -> Soak {
        Soak {
            seed,
            prs: 6,
            fault_rate: 0.3,
            kill_rate: 0.25,
            steps_per_pr: 14,
            config: DEFAULT_CONFIG,
        }
    }

    /// [`Soak::short`] over a locked staging.
    pub fn short_locked(seed: u64) -> Soak {
        Soak {
            config: LOCKED,
            ..Soak::short(seed)
        }
    }

    pub fn long(seed: u64, prs: u64) -> Soak {
        Soak {
            seed,
            prs,
            fault_rate: 0.3,
            kill_rate: 0.25,
            steps_per_pr: 20,
            config: DEFAULT_CONFIG,
        }
    }
}

/// Where gatebot keeps its state across restarts.
#[derive(Debug, Clone)]
pub enum StoreKind {
    Sqlite(PathBuf),
    Dynamo { endpoint: String, table: String },
}

impl StoreKind {
    async fn open(&self) -> Arc<dyn Store> {
        match self {
            StoreKind::Sqlite(path) => Arc::new(SqliteStore::open(path).expect("open sqlite")),
            StoreKind::Dynamo { endpoint, table } => {
                Arc::new(DynamoStore::local(endpoint, table.clone()))
            }
        }
    }
}

/// One gatebot process: its own runtime, serving the real router.
struct Process {
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
    app: Arc<App>,
}

impl Process {
    async fn start(github: &str, store: &StoreKind) -> Process {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (github, store) = (github.to_string(), store.clone());
        runtime.spawn(async move {
            let mut app = App::new(store.open().await, Arc::new(octo(&github)));
            app.clock_skew = chrono::Duration::zero();
            // Time passes faster here: what a killed process held is free
            // again after seconds, not minutes.
            app.delivery_lease = Duration::from_secs(2);
            app.effect_claim_ttl = Duration::from_secs(3);
            let app = app.share();
            // The server runs on this process's runtime, and dies with it.
            let url = serve(app.clone()).await;
            let _ = tx.send((url, app));
        });
        let (url, app) = rx.await.expect("the process started");
        Process {
            runtime: Some(runtime),
            url,
            app,
        }
    }

    /// Stops every task of the process wherever it is.
    fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One delivery, as GitHub keeps it for redelivery.
#[derive(Debug, Clone)]
struct Delivery {
    guid: String,
    pr: u64,
    event: &'static str,
    body: Vec<u8>,
    attempts: u32,
    processed: bool,
}

/// What happened to a comment, as the world saw it.
#[derive(Debug, Clone)]
struct Said {
    pr: u64,
    login: &'static str,
    body: &'static str,
    /// The PR's head on GitHub when it was written.
    head: String,
    at: chrono::DateTime<chrono::Utc>,
}

/// A person driving one PR through the gates.
#[derive(Debug)]
struct Person {
    pr: u64,
    opened: bool,
    head: String,
    /// When each head was pushed.
    heads: Vec<(String, chrono::DateTime<chrono::Utc>)>,
    pushes_left: u32,
    done: bool,
    /// Commands given again after a gate failed or was refused.
    retries: u32,
}

/// What the soak found.
#[derive(Debug, Default)]
pub struct Figures {
    pub prs: u64,
    pub deliveries: usize,
    pub attempts: u64,
    pub redelivered: usize,
    /// The most attempts one delivery took.
    pub most_attempts: u32,
    pub faults: BTreeMap<String, usize>,
    pub kills: u32,
    pub reconcile_passes: u32,
    pub dispatches: BTreeMap<String, usize>,
    pub pushes: u32,
    pub retries: u32,
    pub violations: usize,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let faults: usize = self.faults.values().sum();
        writeln!(
            f,
            "PRs {}, pushes {}, deliveries {} ({} attempts, {} redelivered, at most {} for one), faults injected {faults} {:?}, process kills {}, reconcile passes {}, dispatches {:?}, commands given again {}, violations {}",
            self.prs,
            self.pushes,
            self.deliveries,
            self.attempts,
            self.redelivered,
            self.most_attempts,
            self.faults,
            self.kills,
            self.reconcile_passes,
            self.dispatches,
            self.retries,
            self.violations
        )
    }
}

struct World {
    soak: Soak,
    rng: Chaos,
    github: FakeGitHub,
    store: StoreKind,
    /// The soak's own handle on the store: it reads what gatebot recorded,
    /// as people read the check run.
    reader: Arc<dyn Store>,
    process: Process,
    client: reqwest::Client,
    /// The chain of [`DEFAULT_CONFIG`], which people read the record by.
    chain: gatebot::testing::config::Pipeline,
    people: Vec<Person>,
    deliveries: Vec<Delivery>,
    said: Vec<Said>,
    /// (pr, dispatch id, sha, success, when): runs the world completed.
    completed: Vec<(u64, String, String, bool, chrono::DateTime<chrono::Utc>)>,
    log: HashMap<u64, Vec<String>>,
    figures: Figures,
    next: u64,
}

/// Runs the soak on `store`; returns its figures or the history of the PR
/// that broke a guarantee.
pub async fn run(soak: Soak, store: StoreKind) -> Result<Figures, String> {
    let github = FakeGitHub::start().await;
    {
        let mut w = github.world();
        repository(&mut w, soak.config);
        for (login, role) in [
            (AUTHOR, "write"),
            (QA, "write"),
            (RELEASE, "maintain"),
            (READER, "read"),
        ] {
            w.collaborators.insert(login.into(), role.into());
        }
        w.chaos = Some(Chaos::new(soak.seed, soak.fault_rate, soak.kill_rate));
    }
    let process = Process::start(&github.uri(), &store).await;
    let mut rng = Chaos::new(soak.seed.rotate_left(17) ^ 0x5eed, 0.0, 0.0);
    let people = (1..=soak.prs)
        .map(|pr| Person {
            pr,
            opened: false,
            head: sha_for(pr, 0),
            heads: Vec::new(),
            pushes_left: u32::from(rng.next() < 0.5) + u32::from(rng.next() < 0.2),
            done: false,
            retries: 0,
        })
        .collect();
    let mut world = World {
        chain: gatebot::testing::config::parse(soak.config)
            .expect("the soak's config parses")
            .pipeline,
        rng,
        reader: store.open().await,
        store,
        process,
        github,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        people,
        deliveries: Vec::new(),
        said: Vec::new(),
        completed: Vec::new(),
        log: HashMap::new(),
        figures: Figures {
            prs: soak.prs,
            ..Figures::default()
        },
        next: 0,
        soak,
    };
    world.play().await;
    world.settle().await;
    world.check()
}

fn sha_for(pr: u64, push: u32) -> String {
    // Reads as PR and push in the short form: `0004b01` is PR 4's second head.
    format!("{pr:04x}b{push:02x}{:033x}", 0xfeed)
}

impl World {
    fn note(&mut self, pr: u64, what: String) {
        self.log.entry(pr).or_default().push(what);
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.next() < p
    }

    fn pick(&mut self, n: usize) -> usize {
        ((self.rng.next() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// People work while faults are injected.
    async fn play(&mut self) {
        for _ in 0..self.soak.prs * self.soak.steps_per_pr {
            let i = self.pick(self.people.len());
            self.person_step(i).await;
            if self.chance(0.3) {
                self.redeliver_one().await;
            }
            if self.chance(0.08) {
                self.reconcile().await;
            }
        }
    }

    /// Faults off: every delivery is redelivered, reconcile passes run and
    /// people finish, until everything is done or nothing moves.
    async fn settle(&mut self) {
        if let Some(c) = self.github.world().chaos.as_mut() {
            c.rate = 0.0;
            c.kill_rate = 0.0;
        }
        self.kill_if_requested().await;
        for _ in 0..(self.soak.prs * 12).max(60) {
            for _ in 0..self.deliveries.len() {
                if !self.redeliver_one().await {
                    break;
                }
            }
            // A lease a killed process held runs out.
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.reconcile().await;
            for i in 0..self.people.len() {
                self.person_step(i).await;
            }
            if self.people.iter().all(|p| p.done) && self.deliveries.iter().all(|d| d.processed) {
                // One more pass: any queued side effect is performed.
                self.reconcile().await;
                return;
            }
        }
    }

    /// Kills and restarts the process if a fault asked for it.
    async fn kill_if_requested(&mut self) -> bool {
        let requested = self
            .github
            .world()
            .chaos
            .as_ref()
            .is_some_and(|c| c.kill_requested);
        if !requested {
            return false;
        }
        self.process.kill();
        self.figures.kills += 1;
        // What was written before the kill is on disk; a new process opens it.
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.process = Process::start(&self.github.uri(), &self.store).await;
        if let Some(c) = self.github.world().chaos.as_mut() {
            c.kill_requested = false;
        }
        true
    }

    /// Waits for `work`, or for a kill fault, whichever comes first.
    async fn or_killed<T>(&mut self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let github = self.github.clone();
        let killed = async move {
            loop {
                if github
                    .world()
                    .chaos
                    .as_ref()
                    .is_some_and(|c| c.kill_requested)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let out = tokio::select! {
            out = work => Some(out),
            () = killed => None,
        };
        self.kill_if_requested().await;
        out
    }

    async fn reconcile(&mut self) {
        self.kill_if_requested().await;
        self.figures.reconcile_passes += 1;
        let app = self.process.app.clone();
        let Some(rt) = self.process.runtime.as_ref() else {
            return;
        };
        let pass = rt.spawn(async move {
            gatebot::testing::reconcile::run(&app, chrono::Duration::zero())
                .await
                .map(|_| ())
        });
        let _ = self.or_killed(pass).await;
    }

    /// Sends delivery `i` once; true when gatebot answered 2xx.
    async fn attempt(&mut self, i: usize) -> bool {
        self.kill_if_requested().await;
        let d = self.deliveries[i].clone();
        let sig = sign_with(SECRET.as_bytes(), &d.body);
        let request = self
            .client
            .post(format!("{}/webhook", self.process.url))
            .header("x-github-event", d.event)
            .header("x-github-delivery", d.guid.as_str())
            .header("x-hub-signature-256", sig)
            .header("content-type", "application/json")
            .body(d.body.clone())
            .send();
        let answer = self.or_killed(request).await;
        self.figures.attempts += 1;
        self.deliveries[i].attempts += 1;
        let (ok, what) = match answer {
            Some(Ok(r)) => (r.status().is_success(), r.status().as_u16().to_string()),
            Some(Err(e)) => (false, format!("no answer ({e})")),
            None => (false, "process killed".into()),
        };
        if ok {
            self.deliveries[i].processed = true;
        }
        let n = self.deliveries[i].attempts;
        self.note(
            d.pr,
            format!("delivery {} {} attempt {n}: {what}", d.guid, d.event),
        );
        ok
    }

    /// A new delivery of `payload`.
    async fn deliver(&mut self, pr: u64, event: &'static str, payload: &Value) {
        self.next += 1;
        self.deliveries.push(Delivery {
            guid: format!("soak-{}-{}", self.soak.seed, self.next),
            pr,
            event,
            body: serde_json::to_vec(payload).expect("json"),
            attempts: 0,
            processed: false,
        });
        let i = self.deliveries.len() - 1;
        self.attempt(i).await;
    }

    /// GitHub redelivers one delivery that failed (random order); false
    /// when there is none.
    async fn redeliver_one(&mut self) -> bool {
        let waiting: Vec<usize> = (0..self.deliveries.len())
            .filter(|i| !self.deliveries[*i].processed)
            .collect();
        if waiting.is_empty() {
            return false;
        }
        let i = waiting[self.pick(waiting.len())];
        self.attempt(i).await;
        true
    }

    /// A duplicate of one of the PR's deliveries, late.
    async fn duplicate(&mut self, pr: u64) {
        let mine: Vec<usize> = (0..self.deliveries.len())
            .filter(|i| self.deliveries[*i].pr == pr && self.deliveries[*i].processed)
            .collect();
        if mine.is_empty() {
            return;
        }
        let i = mine[self.pick(mine.len())];
        self.note(pr, format!("duplicate of {}", self.deliveries[i].guid));
        self.attempt(i).await;
    }

    async fn stored(&self, pr: u64) -> Option<GateState> {
        let key = PrKey {
            repo: RepoName::parse(FULL).expect("repo"),
            number: pr,
        };
        self.reader
            .load_gate(&key)
            .await
            .ok()
            .flatten()
            .map(|v| v.value.state)
    }

    /// What runs where, as gatebot recorded it (people read it on the
    /// check run).
    async fn environments(&self) -> gatebot::testing::gate::Environments {
        let repo = RepoName::parse(FULL).expect("repo");
        gatebot::testing::gate::Environments {
            records: self
                .reader
                .load_environments(&repo)
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.value)
                .collect(),
        }
    }

    /// Whether the PR whose deploy runs in stage `stage`'s environment
    /// still needs it there (it is deploying or being verified).
    async fn in_use(&self, stage: usize, envs: &gatebot::testing::gate::Environments) -> bool {
        let env = &self.chain.stages[stage].environment;
        let Some(occupant) = envs.get(env).and_then(|r| r.current()).map(|o| o.pr) else {
            return false;
        };
        let Some(state) = self.stored(occupant).await else {
            return false;
        };
        matches!(
            state.stage_in(&self.chain, envs),
            Stage::Deploying(i) | Stage::WaitingForVerification(i) | Stage::Verifying(i)
                | Stage::VerificationFailed(i) if i == stage
        )
    }

    async fn comment(&mut self, pr: u64, login: &'static str, body: &'static str) {
        let head = self.people[pr as usize - 1].head.clone();
        let at = chrono::Utc::now();
        self.said.push(Said {
            pr,
            login,
            body,
            head: head.clone(),
            at,
        });
        self.note(pr, format!("@{login}: {body} (head {})", &head[..7]));
        self.next += 1;
        let p = comment_payload_for(pr, 100_000 + self.next, login, body);
        self.deliver(pr, "issue_comment", &p).await;
    }

    async fn open(&mut self, i: usize) {
        let (pr, sha) = (self.people[i].pr, self.people[i].head.clone());
        self.github.world().prs.insert(
            pr,
            Pr {
                head: sha.clone(),
                author: AUTHOR.into(),
                state: "open".into(),
                base: "main".into(),
                head_ref: format!("feature/{pr}"),
            },
        );
        self.people[i].opened = true;
        self.people[i].heads.push((sha.clone(), chrono::Utc::now()));
        self.note(pr, format!("opened at {}", &sha[..7]));
        let p = pr_payload_for(pr, "opened", &sha);
        self.deliver(pr, "pull_request", &p).await;
    }

    async fn push(&mut self, i: usize) {
        let pr = self.people[i].pr;
        let n = self.people[i].heads.len() as u32;
        let sha = sha_for(pr, n);
        self.github.world().prs.get_mut(&pr).expect("pr").head = sha.clone();
        let p = &mut self.people[i];
        p.head = sha.clone();
        p.heads.push((sha.clone(), chrono::Utc::now()));
        p.pushes_left -= 1;
        p.done = false;
        self.figures.pushes += 1;
        self.note(pr, format!("pushed {}", &sha[..7]));
        let p = pr_payload_for(pr, "synchronize", &sha);
        self.deliver(pr, "pull_request", &p).await;
    }

    async fn ci_green(&mut self, pr: u64, sha: &str) {
        let id = {
            let mut w = self.github.world();
            let id = 50_000 + w.check_runs.len() as u64;
            w.check_runs.push(CheckRun {
                id,
                app_id: ACTIONS_APP_ID,
                sha: sha.into(),
                name: "build".into(),
                status: "completed".into(),
                conclusion: Some("success".into()),
                title: None,
                summary: None,
            });
            id
        };
        self.note(pr, format!("CI green on {}", &sha[..7]));
        let p = check_run_payload(id, "build", sha, "success", &[pr]);
        self.deliver(pr, "check_run", &p).await;
    }

    fn has_green(&self, sha: &str) -> bool {
        self.github.world().check_runs.iter().any(|c| {
            c.sha == sha && c.name == "build" && c.conclusion.as_deref() == Some("success")
        })
    }

    /// Completes the run of `dispatch_id` (one in ten fails), if GitHub has
    /// one that is not complete, and sends its `workflow_run.completed`.
    async fn complete_run(&mut self, pr: u64, dispatch_id: &gatebot::testing::domain::DispatchId) {
        let success = !self.chance(0.1);
        let conclusion = if success { "success" } else { "failure" };
        let found = {
            let mut w = self.github.world();
            let run = w
                .runs
                .iter()
                .find(|r| r.display_title.ends_with(&format!("[{dispatch_id}]")))
                .map(|r| (r.id, r.status.clone()));
            match run {
                Some((id, status)) if status != "completed" => {
                    w.complete_run(id, conclusion, chrono::Utc::now());
                    let sha = w
                        .dispatches
                        .iter()
                        .find(|d| d.run_id == Some(id))
                        .map(|d| d.input("sha").to_string())
                        .unwrap_or_default();
                    Some((id, sha))
                }
                // Completed before: GitHub sends its delivery again.
                Some((id, _)) => Some((id, String::new())),
                None => None,
            }
        };
        let Some((run_id, sha)) = found else {
            return;
        };
        if !sha.is_empty() {
            self.completed.push((
                pr,
                dispatch_id.to_string(),
                sha,
                success,
                chrono::Utc::now(),
            ));
            self.note(pr, format!("run {run_id} of {dispatch_id}: {conclusion}"));
        }
        let run = {
            let w = self.github.world();
            let r = w.runs.iter().find(|r| r.id == run_id).expect("run");
            run_json(r)
        };
        let conclusion = run["conclusion"].as_str().unwrap_or("success").to_string();
        let p = workflow_run_payload(&run, &conclusion);
        self.deliver(pr, "workflow_run", &p).await;
    }

    /// The person behind PR `i` looks at where it stands and does the next
    /// thing, as they would from the check run and gatebot's replies.
    async fn person_step(&mut self, i: usize) {
        if self.people[i].done {
            return;
        }
        if !self.people[i].opened {
            self.open(i).await;
            return;
        }
        let pr = self.people[i].pr;
        // Noise: a late duplicate, a command that must be refused, a look.
        if self.chance(0.1) {
            match self.pick(4) {
                0 => self.duplicate(pr).await,
                1 => self.comment(pr, READER, "/lgtm").await,
                2 => self.comment(pr, AUTHOR, "/approve").await,
                _ => self.comment(pr, QA, "/gates").await,
            }
            return;
        }
        let head = self.people[i].head.clone();
        if !self.has_green(&head) {
            self.ci_green(pr, &head).await;
            return;
        }
        let Some(state) = self.stored(pr).await else {
            return;
        };
        if state.head_sha.as_str() != head {
            // gatebot has not heard of the push yet.
            return;
        }
        if self.people[i].pushes_left > 0 && self.chance(0.12) {
            self.push(i).await;
            return;
        }
        let pending = state
            .deploys()
            .find(|d| d.status == gatebot::testing::gate::DeployStatus::Pending)
            .map(|d| d.dispatch_id.clone());
        if let Some(id) = pending {
            self.complete_run(pr, &id).await;
            return;
        }
        let envs = self.environments().await;
        match state.stage_in(&self.chain, &envs) {
            // Another PR's deploy runs there now: deploy this head again,
            // once that PR is done with it (people take turns, as they
            // would without a lock; else they redeploy over each other
            // for ever).
            Stage::Displaced(stage) => {
                // Someone who did not look at the check run verifies
                // anyway: it must be refused.
                if stage == 0 && self.chance(0.3) {
                    return self.comment(pr, QA, "/verify-stage").await;
                }
                if self.in_use(stage, &envs).await {
                    return;
                }
                self.people[i].retries += 1;
                let retry = if stage == 0 {
                    "/retry staging"
                } else {
                    "/retry production"
                };
                let who = if stage == 0 { QA } else { RELEASE };
                self.comment(pr, who, retry).await
            }
            Stage::WaitingForEntry(0) => self.comment(pr, QA, "/lgtm").await,
            Stage::DeployFailed(0) => {
                self.people[i].retries += 1;
                self.comment(pr, QA, "/lgtm").await
            }
            Stage::WaitingForVerification(_) | Stage::VerificationFailed(_) => {
                self.comment(pr, QA, "/verify-stage").await
            }
            Stage::WaitingForEntry(_) => self.comment(pr, RELEASE, "/approve").await,
            Stage::DeployFailed(_) => {
                self.people[i].retries += 1;
                self.comment(pr, RELEASE, "/approve").await
            }
            Stage::Deployed if self.people[i].pushes_left > 0 => self.push(i).await,
            Stage::Deployed => {
                self.people[i].done = true;
                self.note(pr, format!("deployed {}", &head[..7]));
            }
            // CI is read again on the next delivery or reconcile pass.
            Stage::WaitingForCi => {}
            other => self.note(pr, format!("stands at {other:?}")),
        }
    }

    /// The guarantees, judged from what the world recorded.
    fn check(mut self) -> Result<Figures, String> {
        let dispatches: Vec<(u64, String, String, String, chrono::DateTime<chrono::Utc>)> = {
            let w = self.github.world();
            for (_, f) in w.chaos.iter().flat_map(|c| c.injected.iter()) {
                *self.figures.faults.entry(format!("{f:?}")).or_default() += 1;
            }
            w.dispatches
                .iter()
                .map(|d| {
                    (
                        d.input("pr").parse().unwrap_or(0),
                        d.input("dispatch_id").to_string(),
                        d.input("environment").to_string(),
                        d.input("sha").to_string(),
                        d.at,
                    )
                })
                .collect()
        };
        self.figures.deliveries = self.deliveries.len();
        self.figures.redelivered = self.deliveries.iter().filter(|d| d.attempts > 1).count();
        self.figures.most_attempts = self
            .deliveries
            .iter()
            .map(|d| d.attempts)
            .max()
            .unwrap_or(0);
        self.figures.retries = self.people.iter().map(|p| p.retries).sum();
        let mut broken: Vec<(u64, String)> = Vec::new();
        for d in &self.deliveries {
            if !d.processed {
                broken.push((d.pr, format!("delivery {} was never processed", d.guid)));
            }
        }
        // Times another PR's deploy was dispatched to the same environment
        // after one of this (PR, environment, SHA), before its next one.
        let mut displaced: BTreeMap<(u64, String, String), usize> = BTreeMap::new();
        for (i, (pr, id, env, sha, _)) in dispatches.iter().enumerate() {
            if id.contains("-verify-") {
                continue;
            }
            let later = &dispatches[i + 1..];
            let until = later
                .iter()
                .position(|d| d.0 == *pr && d.2 == *env && !d.1.contains("-verify-"))
                .unwrap_or(later.len());
            if later[..until]
                .iter()
                .any(|d| d.0 != *pr && d.2 == *env && !d.1.contains("-verify-"))
            {
                *displaced
                    .entry((*pr, env.clone(), sha.clone()))
                    .or_default() += 1;
            }
        }
        let mut per: BTreeMap<(u64, String, String), usize> = BTreeMap::new();
        for (pr, id, env, sha, _) in &dispatches {
            let kind = if id.contains("-verify-") {
                "verify".to_string()
            } else {
                env.clone()
            };
            *self.figures.dispatches.entry(kind.clone()).or_default() += 1;
            *per.entry((*pr, kind.clone(), sha.clone())).or_default() += 1;
            if let Some(why) = self.ungated(*pr, &kind, sha, &dispatches) {
                broken.push((
                    *pr,
                    format!("{id} dispatched {kind} of {}: {why}", &sha[..7]),
                ));
            }
        }
        // A dispatch again is allowed only after a failed run of the same.
        let runs = |pr: u64, kind: &str, sha: &str, success: bool| {
            self.completed
                .iter()
                .filter(|(p, id, s, ok, _)| {
                    *p == pr && id.contains(&format!("-{kind}-")) && s == sha && *ok == success
                })
                .count()
        };
        let displaced_n = |pr: u64, env: &str, sha: &str| {
            displaced
                .get(&(pr, env.to_string(), sha.to_string()))
                .copied()
                .unwrap_or(0)
        };
        for ((pr, kind, sha), n) in &per {
            let failed = runs(*pr, kind, sha, false);
            let moved = displaced_n(*pr, kind, sha);
            if *n > 1 + failed + moved {
                broken.push((
                    *pr,
                    format!(
                        "{kind} of {} dispatched {n} times after {failed} failed run(s) and {moved} displacement(s)",
                        &sha[..7]
                    ),
                ));
            }
        }
        // A locked staging runs one PR's deploy at a time: between a
        // PR's staging dispatch and its run's end (or its next push, which
        // ends its hold), no other PR's deploy is dispatched there.
        if self.chain.stages.first().is_some_and(|s| s.lock) {
            for (pr, id, env, sha, sent) in &dispatches {
                if env != "staging" || id.contains("-verify-") {
                    continue;
                }
                let finished = self
                    .completed
                    .iter()
                    .filter(|(p, i, _, _, at)| p == pr && i == id && at >= sent)
                    .map(|(_, _, _, _, at)| *at)
                    .min();
                let pushed = self.people[*pr as usize - 1]
                    .heads
                    .iter()
                    .map(|(_, at)| *at)
                    .filter(|at| at > sent)
                    .min();
                let end = match (finished, pushed) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let Some(end) = end else { continue };
                if let Some(other) = dispatches.iter().find(|d| {
                    d.0 != *pr
                        && d.2 == "staging"
                        && !d.1.contains("-verify-")
                        && d.4 > *sent
                        && d.4 < end
                }) {
                    broken.push((
                        *pr,
                        format!(
                            "{id} ({}) was still running on the locked staging when #{} was dispatched there ({})",
                            &sha[..7],
                            other.0,
                            other.1
                        ),
                    ));
                }
            }
        }
        for p in &self.people {
            let n = runs(p.pr, "production", &p.head, true);
            let moved = displaced_n(p.pr, "production", &p.head);
            if n == 0 || n > 1 + moved {
                broken.push((
                    p.pr,
                    format!(
                        "its approved head {} was deployed to production {n} times ({moved} displacement(s))",
                        &p.head[..7]
                    ),
                ));
            }
            if !p.done {
                broken.push((p.pr, "it never reached production".into()));
            }
        }
        self.figures.violations = broken.len();
        let Some((pr, _)) = broken.first() else {
            return Ok(self.figures);
        };
        let mut out = format!(
            "soak seed {} broke {} guarantee(s):\n",
            self.soak.seed,
            broken.len()
        );
        for (pr, why) in &broken {
            let _ = writeln!(out, "  PR #{pr}: {why}");
        }
        let _ = writeln!(out, "history of PR #{pr}:");
        for line in self.log.get(pr).into_iter().flatten() {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "what GitHub received for PR #{pr}, in order:");
        let w = self.github.world();
        for (id, env, sha) in dispatches
            .iter()
            .filter(|d| d.0 == *pr)
            .map(|d| (&d.1, &d.2, &d.3))
        {
            let _ = writeln!(out, "  dispatch {id}: {env} {}", &sha[..7]);
        }
        let mine = [format!("/pulls/{pr}"), format!("/issues/{pr}/")];
        for (what, fault) in w.chaos.iter().flat_map(|c| c.injected.iter()) {
            if mine.iter().any(|m| what.contains(m.as_str())) || what.ends_with("/dispatches") {
                let _ = writeln!(out, "  fault {fault:?} on {what}");
            }
        }
        drop(w);
        let _ = writeln!(out, "{}", self.figures);
        Err(out)
    }

    /// Why dispatching `kind` of `sha` on `pr` was not allowed by what
    /// people and CI gave, if it was not. `dispatches` is everything GitHub
    /// received, in order: (pr, dispatch id, environment, sha, when).
    fn ungated(
        &self,
        pr: u64,
        kind: &str,
        sha: &str,
        dispatches: &[(u64, String, String, String, chrono::DateTime<chrono::Utc>)],
    ) -> Option<String> {
        if !self.has_green(sha) {
            return Some("CI was never green on it".into());
        }
        let person = &self.people[pr as usize - 1];
        let Some(since) = person
            .heads
            .iter()
            .find(|(s, _)| s == sha)
            .map(|(_, at)| *at)
        else {
            return Some("it was never the PR's head".into());
        };
        let said = |login: &str, body: &str, after: chrono::DateTime<chrono::Utc>| {
            self.said.iter().any(|s| {
                s.pr == pr && s.login == login && s.body == body && s.head == sha && s.at >= after
            })
        };
        if !said(QA, "/lgtm", since) {
            return Some("no /lgtm by QA while it was the head".into());
        }
        if kind == "staging" {
            return None;
        }
        let staged: Vec<_> = self
            .completed
            .iter()
            .filter(|(p, id, s, ok, _)| *p == pr && id.contains("-staging-") && s == sha && *ok)
            .collect();
        if staged.is_empty() {
            return Some("no successful staging deploy of it".into());
        }
        if kind == "verify" {
            return None;
        }
        // A /verify-stage after one of its staging deploys succeeded, with
        // no other PR's deploy dispatched to staging between that deploy's
        // dispatch and the verification: staging ran this SHA.
        let verified_while_running = staged.iter().any(|(_, id, _, _, done_at)| {
            let Some(sent) = dispatches.iter().find(|d| d.1 == *id).map(|d| d.4) else {
                return false;
            };
            self.said.iter().any(|s| {
                s.pr == pr
                    && s.login == QA
                    && s.body == "/verify-stage"
                    && s.head == sha
                    && s.at >= *done_at
                    && !dispatches.iter().any(|d| {
                        d.0 != pr
                            && d.2 == "staging"
                            && !d.1.contains("-verify-")
                            && d.4 > sent
                            && d.4 < s.at
                    })
            })
        });
        if !verified_while_running {
            return Some("no /verify-stage while staging ran it".into());
        }
        if !said(RELEASE, "/approve", since) {
            return Some("no /approve by release while it was the head".into());
        }
        None
    }
}

fn seed_from_env(default: u64) -> u64 {
    std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

async fn report(soak: Soak, store: StoreKind, name: &str) {
    let seed = soak.seed;
    eprintln!("soak on {name}: seed {seed} (replay with SOAK_SEED={seed})");
    match run(soak, store).await {
        Ok(figures) => eprintln!("soak on {name}, seed {seed}: {figures}"),
        Err(history) => panic!("{history}"),
    }
}

fn sqlite_file() -> (tempfile::TempDir, StoreKind) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gatebot.db");
    (dir, StoreKind::Sqlite(path))
}

async fn dynamo(seed: u64) -> StoreKind {
    let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT").expect(
        "DYNAMODB_TEST_ENDPOINT is not set: the soak needs a DynamoDB-compatible server; `make test` starts one (moto)",
    );
    let table = format!("gatebot-soak-{}-{seed}", std::process::id());
    DynamoStore::local(&endpoint, table.clone())
        .ensure_table()
        .await
        .expect("create the soak table");
    StoreKind::Dynamo { endpoint, table }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_on_sqlite() {
    let (_dir, store) = sqlite_file();
    report(Soak::short(seed_from_env(20261201)), store, "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_over_a_locked_staging_on_sqlite() {
    let (_dir, store) = sqlite_file();
    report(
        Soak::short_locked(seed_from_env(20261203)),
        store,
        "SQLite, locked staging",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_over_a_locked_staging_on_dynamodb() {
    let seed = seed_from_env(20261204);
    report(
        Soak::short_locked(seed),
        dynamo(seed).await,
        "DynamoDB, locked staging",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_on_dynamodb() {
    let seed = seed_from_env(20261202);
    report(Soak::short(seed), dynamo(seed).await, "DynamoDB").await;
}

/// `make soak`: about 20 PRs per seed, on both stores, for each seed in
/// `SOAK_SEEDS` (default: 1 2 3) or the one `SOAK_SEED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the long soak: make soak"]
async fn long_soak() {
    let prs = std::env::var("SOAK_PRS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seeds: Vec<u64> = match std::env::var("SOAK_SEED") {
        Ok(s) => vec![s.parse().expect("SOAK_SEED is a number")],
        Err(_) => std::env::var("SOAK_SEEDS")
            .unwrap_or_else(|_| "1 2 3".into())
            .split_whitespace()
            .map(|s| s.parse().expect("SOAK_SEEDS are numbers"))
            .collect(),
    };
    for seed in seeds {
        let (_dir, store) = sqlite_file();
        report(Soak::long(seed, prs), store, "SQLite").await;
        report(Soak::long(seed, prs), dynamo(seed).await, "DynamoDB").await;
    }
}
