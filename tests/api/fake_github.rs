//! A stateful fake GitHub on wiremock: repositories with branches and
//! files, pull requests, collaborators with permissions, teams, check runs,
//! workflow runs created by dispatches, comments, reactions and protection
//! rule reviews. gatebot talks to it through the real octocrab client; tests
//! assert on what it received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const OWNER: &str = "acme";
pub const REPO: &str = "widgets";
pub const FULL: &str = "acme/widgets";
pub const INSTALLATION: u64 = 4242;
pub const MAIN_HEAD: &str = "e5bd3914e2e596debea16f433f57875b5b90bcd6";
pub const TOKEN: &str = "ghs_fake_installation_token";
/// gatebot's App in this world: id 777, slug `gatebot`; its bot is
/// `gatebot[bot]`, the actor of the runs its dispatches start.
pub const APP_ID: u64 = 777;
pub const APP_SLUG: &str = "gatebot";
pub const BOT: &str = "gatebot[bot]";
/// The App GitHub Actions' check runs come from.
pub const ACTIONS_APP_ID: u64 = 15368;

#[derive(Debug, Clone)]
pub struct Pr {
    pub head: String,
    pub author: String,
    pub state: String,
    pub base: String,
    pub head_ref: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckRun {
    pub id: u64,
    /// The App that made it.
    pub app_id: u64,
    pub sha: String,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Dispatch {
    pub workflow: String,
    pub body: Value,
    /// The run it started (whether or not its id was returned).
    pub run_id: Option<u64>,
    /// Whether the answer carried the run's id (`return_run_details`).
    pub returned_run: bool,
    /// When GitHub took it.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Dispatch {
    pub fn input(&self, name: &str) -> &str {
        self.body["inputs"][name].as_str().unwrap_or("<missing>")
    }
}

#[derive(Debug, Clone)]
pub struct Run {
    pub id: u64,
    pub workflow: String,
    pub display_title: String,
    pub status: String,
    pub conclusion: Option<String>,
    /// `workflow_dispatch` for dispatched runs.
    pub event: String,
    /// The branch the workflow ran from.
    pub head_branch: String,
    /// `head_repository.full_name` (another for a fork).
    pub head_repository: String,
    pub actor: String,
    pub triggering_actor: String,
    /// Last change (for a completed run, when it completed).
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Run {
    /// A run someone started by hand: `workflow_dispatch` of `workflow`
    /// on `main` by `actor`, named `title`.
    pub fn manual(id: u64, workflow: &str, title: &str, actor: &str) -> Run {
        Run {
            id,
            workflow: workflow.into(),
            display_title: title.into(),
            status: "waiting".into(),
            conclusion: None,
            event: "workflow_dispatch".into(),
            head_branch: "main".into(),
            head_repository: FULL.into(),
            actor: actor.into(),
            triggering_actor: actor.into(),
            updated_at: chrono::Utc::now(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub issue: u64,
    pub body: String,
}

/// (path fragment, status, response headers)
pub type InjectedFailure = (String, u16, Vec<(String, String)>);

/// The user id GitHub gives `login` in this world, unless the world says
/// otherwise ([`World::users`]): stable, and distinct per login.
pub fn user_id(login: &str) -> u64 {
    let lower = login.to_ascii_lowercase();
    // The ids the sample deliveries under `events/` and the fixtures use.
    match lower.as_str() {
        "alice" => 1_843_291,
        "quinn" => 2_719_403,
        "rita" => 3_307_765,
        _ => {
            lower
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
                % 90_000_000
                + 10_000_000
        }
    }
}

#[derive(Debug, Default)]
pub struct World {
    pub default_branch: String,
    /// login → user id, for accounts whose id is not [`user_id`] of their
    /// login (a renamed account keeps its id under its new login).
    pub users: HashMap<String, u64>,
    /// The repository's activity log of pushes: (branch, SHA it made the
    /// head, login of who pushed), oldest first.
    pub activity: Vec<(String, String, String)>,
    /// Merges made: (PR, sha, merge_method).
    pub merges: Vec<(u64, String, String)>,
    /// The next merge is made, and then answered 502 (GitHub acted, the
    /// answer was lost).
    pub merge_acts_then_fails: bool,
    /// The next merge is refused with this status and message (405: not
    /// mergeable, 409: the head moved, as GitHub answers).
    pub merge_refusal: Option<(u16, String)>,
    /// head SHA → how many commits of the base branch it lacks (0 unless
    /// a test says otherwise), as the compare API reports it.
    pub behind: HashMap<String, u64>,
    /// (branch, path) → text
    pub files: HashMap<(String, String), String>,
    /// Check run id → the annotations its output carried.
    pub annotations: HashMap<u64, Vec<Value>>,
    /// Files of the organisation's `.github` repository (path → text), on
    /// its default branch; `None`: gatebot is not installed there (404).
    pub org_files: Option<HashMap<String, String>>,
    /// login → role_name (admin, maintain, write, triage, read)
    pub collaborators: HashMap<String, String>,
    /// (org, team) → login → state (active/pending)
    pub teams: HashMap<(String, String), HashMap<String, String>>,
    pub prs: HashMap<u64, Pr>,
    pub check_runs: Vec<CheckRun>,
    pub dispatches: Vec<Dispatch>,
    pub runs: Vec<Run>,
    pub comments: Vec<Comment>,
    pub reactions: Vec<(u64, String)>,
    pub reviews: Vec<(u64, Value)>,
    pub tokens_issued: u32,
    /// One-off failures: the next request whose path contains the string
    /// gets this status and these headers (then it is forgotten).
    pub fail_next: Vec<InjectedFailure>,
    /// Answer the permission API with 500.
    pub permission_api_down: bool,
    /// Refuse `return_run_details` like an older server.
    pub refuse_run_details: bool,
    /// The next dispatch answers 502; `Some(true)`: after creating the run.
    pub dispatch_outage: Option<bool>,
    /// Requests whose path contains the string are refused with this
    /// status, every time (an outage of one API), before they take effect.
    pub broken: Vec<(String, u16)>,
    /// Requests whose path contains the string are answered this much
    /// later (after they took effect).
    pub slow: Vec<(String, std::time::Duration)>,
    /// Serve every repository of `acme` (but its `.github`) as if it were
    /// acme/widgets, one world for all: the load benchmark's 50
    /// repositories. PR numbers, SHAs and ids stay distinct across them.
    pub any_repository: bool,
    /// Every answer this much later (a round trip to github.com).
    pub latency: Option<std::time::Duration>,
    /// When each request arrived, as `METHOD /path` (for the latency
    /// report).
    pub arrivals: Vec<(std::time::Instant, String)>,
    /// The App's webhook delivery log: (id, guid, status_code).
    pub hook_deliveries: Vec<(u64, String, u16)>,
    /// Attempts gatebot asked to redeliver.
    pub redelivered: Vec<u64>,
    /// Requests without the installation token.
    pub unauthenticated: Vec<String>,
    /// How often `GET /app` was read.
    pub app_reads: u32,
    /// Every request, as `METHOD /path`.
    pub requests: Vec<String>,
    /// The requests GitHub counts against the rate limit (every answer but
    /// a `304`), as `METHOD /path`.
    pub counted: Vec<String>,
    /// The requests answered `304 Not Modified` (free).
    pub not_modified: Vec<String>,
    /// The installation's hourly limit (5,000 unless a test says), and
    /// when the hour ends (unix seconds).
    pub rate_limit: Option<u64>,
    pub rate_limit_reset: u64,
    /// PR number → comments written on it: each moves the PR's
    /// `updated_at`, and so its `ETag`, as on GitHub.
    pub pr_comments: HashMap<u64, u64>,
    /// Seeded random faults on every request (the fault soak).
    pub chaos: Option<Chaos>,
    next_id: u64,
}

/// What [`Chaos`] did to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// 500 or 502 before acting.
    ServerError(u16),
    /// 429 with `retry-after: 1`.
    RateLimited,
    /// 403 "secondary rate limit" with `retry-after: 1`.
    SecondaryRateLimit,
    /// Answered 400 ms late (after acting).
    Slow,
    /// 401 "Bad credentials", as for an expired installation token.
    ExpiredToken,
    /// A dispatch that took effect, answered 500.
    ActedThen500,
    /// The process is killed while it waits for this dispatch, before it
    /// took effect: after gatebot stored the state, before the dispatch.
    KillBeforeDispatch,
    /// The process is killed after this dispatch took effect, before
    /// gatebot heard the answer and marked it done.
    KillAfterDispatch,
}

/// Seeded fault injection: each request is faulted with probability
/// `rate`; each dispatch also kills the process with probability `kill_rate`.
#[derive(Debug)]
pub struct Chaos {
    seed: u64,
    rng: u64,
    /// How often each `METHOD /path` was drawn for: the draws of one path
    /// depend only on the seed and how often it was asked for, not on how
    /// requests to different paths interleave.
    seen: HashMap<String, u64>,
    pub rate: f64,
    pub kill_rate: f64,
    /// Set when a kill fault fired; the soak kills the process and clears it.
    pub kill_requested: bool,
    /// Every fault injected: (`METHOD /path`, fault).
    pub injected: Vec<(String, Fault)>,
}

impl Chaos {
    pub fn new(seed: u64, rate: f64, kill_rate: f64) -> Chaos {
        Chaos {
            seed,
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            seen: HashMap::new(),
            rate,
            kill_rate,
            kill_requested: false,
            injected: Vec::new(),
        }
    }

    /// SplitMix64: a uniform number in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn draw(&mut self, method: &str, path: &str) -> Option<Fault> {
        use std::hash::{Hash, Hasher};
        let what = format!("{method} {path}");
        let n = self.seen.entry(what.clone()).or_default();
        *n += 1;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.seed, what, *n).hash(&mut h);
        self.rng = h.finish();
        let dispatch = method == "POST" && path.ends_with("/dispatches");
        if dispatch && !self.kill_requested && self.next() < self.kill_rate {
            return Some(if self.next() < 0.5 {
                Fault::KillBeforeDispatch
            } else {
                Fault::KillAfterDispatch
            });
        }
        if self.next() >= self.rate {
            return None;
        }
        // Half the faults on a dispatch are the worst kind: it took effect.
        if dispatch && self.next() < 0.5 {
            return Some(Fault::ActedThen500);
        }
        Some(match (self.next() * 6.0) as u32 {
            0 => Fault::ServerError(500),
            1 => Fault::ServerError(502),
            2 => Fault::RateLimited,
            3 => Fault::SecondaryRateLimit,
            4 => Fault::Slow,
            _ => Fault::ExpiredToken,
        })
    }
}

impl World {
    /// The id of the account called `login` now.
    pub fn id_of(&self, login: &str) -> u64 {
        self.users
            .get(&login.to_ascii_lowercase())
            .copied()
            .unwrap_or_else(|| user_id(login))
    }

    /// The login of account `id` now, if it exists.
    pub fn login_of(&self, id: u64) -> Option<String> {
        if let Some((login, _)) = self.users.iter().find(|(_, i)| **i == id) {
            return Some(login.clone());
        }
        let known = self
            .collaborators
            .keys()
            .chain(self.prs.values().map(|p| &p.author));
        known
            .filter(|l| !self.users.contains_key(*l))
            .find(|l| user_id(l) == id)
            .cloned()
    }

    /// `from` renames their account to `to`: same id, new login.
    pub fn rename(&mut self, from: &str, to: &str) {
        let id = self.id_of(from);
        self.users.remove(&from.to_ascii_lowercase());
        self.users.insert(to.to_ascii_lowercase(), id);
        if let Some(role) = self.collaborators.remove(from) {
            self.collaborators.insert(to.to_string(), role);
        }
        for pr in self.prs.values_mut() {
            if pr.author == from {
                pr.author = to.to_string();
            }
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// How many calls so far began with `prefix` (`"GET /repos/…"`).
    pub fn calls(&self, prefix: &str) -> usize {
        self.requests
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }

    /// gatebot's check runs on `sha`.
    pub fn gatebot_runs(&self, sha: &str) -> Vec<&CheckRun> {
        self.check_runs
            .iter()
            .filter(|c| c.sha == sha && c.name == "gatebot")
            .collect()
    }

    /// Run `run_id` completed with `conclusion` at `at` (no delivery sent).
    pub fn complete_run(
        &mut self,
        run_id: u64,
        conclusion: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let run = self
            .runs
            .iter_mut()
            .find(|r| r.id == run_id)
            .expect("run exists");
        run.status = "completed".into();
        run.conclusion = Some(conclusion.into());
        run.updated_at = at;
    }

    pub fn reactions_on(&self, comment: u64) -> Vec<&str> {
        self.reactions
            .iter()
            .filter(|(c, _)| *c == comment)
            .map(|(_, r)| r.as_str())
            .collect()
    }
}

#[derive(Clone)]
pub struct FakeGitHub {
    pub server: Arc<MockServer>,
    world: Arc<Mutex<World>>,
}

/// An answer before it is sent: the fake decides on `ETag`s, `304`s and
/// rate-limit headers from it, as GitHub does.
struct Reply {
    status: u16,
    body: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn new(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    fn insert_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// GitHub's entity tag of a body: weak, over the representation.
    fn etag(&self) -> Option<String> {
        use sha2::Digest;
        let body = self.body.as_ref()?;
        let digest = sha2::Sha256::digest(body);
        Some(format!("W/\"{}\"", hex::encode(&digest[..16])))
    }

    fn template(self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        for (k, v) in &self.headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        match self.body {
            Some(b) => t.set_body_raw(b, "application/json; charset=utf-8"),
            None => t,
        }
    }
}

fn json_response(status: u16, body: Value) -> Reply {
    Reply {
        status,
        body: Some(serde_json::to_vec(&body).unwrap_or_default()),
        headers: Vec::new(),
    }
}

fn not_found() -> Reply {
    json_response(404, json!({"message": "Not Found"}))
}

struct Responder {
    world: Arc<Mutex<World>>,
    base: String,
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut w = self.world.lock().unwrap();
        w.requests
            .push(format!("{} {}", req.method.as_str(), req.url.path()));
        if w.latency.is_some() {
            let what = format!("{} {}", req.method.as_str(), req.url.path());
            w.arrivals.push((std::time::Instant::now(), what));
        }
        let delay = w
            .slow
            .iter()
            .find(|(p, _)| req.url.path().contains(p.as_str()))
            .map(|(_, d)| *d)
            .or(w.latency);
        let what = format!("{} {}", req.method.as_str(), req.url.path());
        let fault = w
            .chaos
            .as_mut()
            .and_then(|c| c.draw(req.method.as_str(), req.url.path()));
        if let (Some(f), Some(c)) = (fault, w.chaos.as_mut()) {
            c.injected.push((what.clone(), f));
        }
        let failure =
            |status: u16, message: &str| json_response(status, json!({ "message": message }));
        // Longer than the soak takes to notice a kill, shorter than the
        // client's read timeout.
        let hang = std::time::Duration::from_secs(15);
        let mut late = None;
        let answer = match fault {
            None => route(&mut w, req, &self.base),
            Some(Fault::ServerError(code)) => failure(code, "injected server error"),
            Some(Fault::RateLimited) => {
                failure(429, "API rate limit exceeded").insert_header("retry-after", "1")
            }
            Some(Fault::SecondaryRateLimit) => failure(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            )
            .insert_header("retry-after", "1"),
            Some(Fault::Slow) => {
                late = Some(std::time::Duration::from_millis(400));
                route(&mut w, req, &self.base)
            }
            Some(Fault::ExpiredToken) => failure(401, "Bad credentials"),
            Some(Fault::ActedThen500) => {
                let _ = route(&mut w, req, &self.base);
                failure(500, "injected server error after acting")
            }
            Some(Fault::KillBeforeDispatch) => {
                if let Some(c) = w.chaos.as_mut() {
                    c.kill_requested = true;
                }
                late = Some(hang);
                failure(500, "killed")
            }
            Some(Fault::KillAfterDispatch) => {
                let answer = route(&mut w, req, &self.base);
                if let Some(c) = w.chaos.as_mut() {
                    c.kill_requested = true;
                }
                late = Some(hang);
                answer
            }
        };
        let answer = w.conditional(req, &what, answer).template();
        match delay.or(late) {
            Some(d) => answer.set_delay(d),
            None => answer,
        }
    }
}

impl World {
    /// What GitHub adds to every answer: a `GET`'s `ETag`, `304 Not
    /// Modified` (no body) when the request's `If-None-Match` names the
    /// current one, and the rate-limit headers, where a `304` is free.
    fn conditional(&mut self, req: &Request, what: &str, mut answer: Reply) -> Reply {
        let get = req.method.as_str() == "GET";
        if let Some(etag) = answer.etag().filter(|_| get && answer.status == 200) {
            let asked = req
                .headers
                .get("if-none-match")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
            answer = if asked { Reply::new(304) } else { answer };
            answer = answer.insert_header("etag", &etag);
        }
        if answer.status == 304 {
            self.not_modified.push(what.to_string());
        } else {
            self.counted.push(what.to_string());
        }
        let used = self.counted.len() as u64;
        let limit = self.rate_limit.unwrap_or(5_000);
        let headers = [
            ("x-ratelimit-limit", limit.to_string()),
            (
                "x-ratelimit-remaining",
                limit.saturating_sub(used).to_string(),
            ),
            ("x-ratelimit-used", used.to_string()),
            ("x-ratelimit-reset", self.rate_limit_reset.to_string()),
            ("x-ratelimit-resource", "core".to_string()),
        ];
        for (name, value) in headers {
            // A test's injected rate-limit answer says its own.
            if !answer
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
            {
                answer = answer.insert_header(name, &value);
            }
        }
        answer
    }
}

fn body_json(req: &Request) -> Value {
    serde_json::from_slice(&req.body).unwrap_or(Value::Null)
}

fn route(w: &mut World, req: &Request, base: &str) -> Reply {
    let method = req.method.as_str().to_string();
    let path = req.url.path().to_string();
    let query: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();

    // An App JWT is three dot-separated parts.
    let app_jwt = auth
        .strip_prefix("Bearer ")
        .unwrap_or("")
        .split('.')
        .count()
        == 3;
    if segs.as_slice() == ["app"] {
        if !app_jwt {
            return json_response(401, json!({"message": "App JWT required"}));
        }
        w.app_reads += 1;
        return json_response(
            200,
            json!({"id": APP_ID, "slug": APP_SLUG, "name": "gatebot"}),
        );
    }
    // App JWT → installation token.
    if let ["app", "installations", id, "access_tokens"] = segs.as_slice() {
        if method != "POST" || !app_jwt || *id != INSTALLATION.to_string() {
            return json_response(
                401,
                json!({"message": "A JSON web token could not be decoded"}),
            );
        }
        w.tokens_issued += 1;
        let expires = chrono::Utc::now() + chrono::Duration::hours(1);
        return json_response(
            201,
            json!({
                "token": TOKEN,
                "expires_at": expires.to_rfc3339(),
                "permissions": {"actions": "write", "checks": "write", "contents": "read", "pull_requests": "write", "issues": "write", "metadata": "read", "members": "read", "deployments": "write"},
                "repository_selection": "selected",
            }),
        );
    }
    if let ["app", "hook", "deliveries", rest @ ..] = segs.as_slice() {
        if !app_jwt {
            return json_response(401, json!({"message": "App JWT required"}));
        }
        return match (method.as_str(), rest) {
            ("GET", []) => {
                let now = chrono::Utc::now();
                let items: Vec<Value> = w
                    .hook_deliveries
                    .iter()
                    .rev()
                    .map(|(id, guid, code)| json!({"id": id, "guid": guid, "status_code": code, "delivered_at": now.to_rfc3339(), "redelivery": false, "event": "issue_comment", "status": "x"}))
                    .collect();
                json_response(200, json!(items))
            }
            ("POST", [id, "attempts"]) => {
                w.redelivered.push(id.parse().unwrap_or(0));
                json_response(202, json!({}))
            }
            _ => not_found(),
        };
    }
    if let Some((_, status)) = w.broken.iter().find(|(p, _)| path.contains(p.as_str())) {
        return json_response(*status, json!({"message": "injected outage"}));
    }
    if let Some(i) = w
        .fail_next
        .iter()
        .position(|(p, _, _)| path.contains(p.as_str()))
    {
        let (_, status, headers) = w.fail_next.remove(i);
        let mut r = json_response(status, json!({"message": "injected failure"}));
        for (k, v) in headers {
            r = r.insert_header(k.as_str(), v.as_str());
        }
        return r;
    }
    if auth != format!("Bearer {TOKEN}") {
        w.unauthenticated.push(format!("{method} {path}"));
        return json_response(401, json!({"message": "Bad credentials"}));
    }

    match (method.as_str(), segs.as_slice()) {
        ("GET", ["user", id]) => match id.parse().ok().and_then(|id| w.login_of(id)) {
            Some(login) => {
                let id = w.id_of(&login);
                json_response(200, json!({"login": login, "id": id, "type": "User"}))
            }
            None => not_found(),
        },
        ("GET", ["orgs", org, "teams", team, "memberships", login]) => {
            match w
                .teams
                .get(&(org.to_string(), team.to_string()))
                .and_then(|t| t.get(*login))
            {
                Some(state) => json_response(200, json!({"state": state, "role": "member"})),
                None => not_found(),
            }
        }
        (_, ["repos", o, r, rest @ ..])
            if *o == OWNER && (*r == REPO || (w.any_repository && *r != ".github")) =>
        {
            repo_route(w, &method, rest, &query, req, base)
        }
        ("GET", ["repos", o, ".github", "contents", path @ ..]) if *o == OWNER => {
            let on_default = query.get("ref").is_none_or(|r| r == "main");
            match w.org_files.as_ref().and_then(|f| f.get(&path.join("/"))) {
                Some(text) if on_default => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                    json_response(
                        200,
                        json!({"type": "file", "encoding": "base64", "content": b64}),
                    )
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn repo_route(
    w: &mut World,
    method: &str,
    rest: &[&str],
    query: &HashMap<String, String>,
    req: &Request,
    base: &str,
) -> Reply {
    match (method, rest) {
        ("GET", ["pulls"]) => {
            let mut open: Vec<u64> = w
                .prs
                .iter()
                .filter(|(_, p)| p.state == "open")
                .map(|(n, _)| *n)
                .collect();
            open.sort_unstable_by(|a, b| b.cmp(a));
            let list: Vec<Value> = open.iter().map(|n| json!({"number": n})).collect();
            json_response(200, json!(list))
        }
        ("GET", ["pulls", n]) => {
            let Some(pr) = n.parse().ok().and_then(|n: u64| w.prs.get(&n)) else {
                return not_found();
            };
            let number = n.parse::<u64>().unwrap_or(0);
            let comments = w.pr_comments.get(&number).copied().unwrap_or(0);
            let updated = chrono::DateTime::from_timestamp(1_780_000_000 + comments as i64, 0)
                .unwrap_or_default();
            json_response(
                200,
                json!({
                    "number": number,
                    "updated_at": updated.to_rfc3339(),
                    "state": pr.state,
                    "user": {"login": pr.author, "id": w.id_of(&pr.author), "type": "User"},
                    "head": {"sha": pr.head, "ref": pr.head_ref, "repo": {"full_name": FULL}},
                    "base": {
                        "sha": MAIN_HEAD,
                        "ref": pr.base,
                        "repo": {"id": 1296269, "full_name": FULL, "default_branch": w.default_branch},
                    },
                }),
            )
        }
        // `PUT /repos/{owner}/{repo}/pulls/{n}/merge`, as GitHub's REST
        // description has it: 200 with `sha`, `merged` and `message`; 405
        // when it is not mergeable; 409 when `sha` is not the head.
        ("PUT", ["pulls", n, "merge"]) => {
            let Some(n) = n.parse::<u64>().ok().filter(|n| w.prs.contains_key(n)) else {
                return not_found();
            };
            if let Some((status, message)) = w.merge_refusal.take() {
                return json_response(
                    status,
                    json!({"message": message, "documentation_url": "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"}),
                );
            }
            let b: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let sha = b["sha"].as_str().unwrap_or_default().to_string();
            let method = b["merge_method"].as_str().unwrap_or("merge").to_string();
            let pr = w.prs.get_mut(&n).expect("checked above");
            if pr.state != "open" || w.merges.iter().any(|m| m.0 == n) {
                return json_response(405, json!({"message": "Pull Request is not mergeable"}));
            }
            if !sha.is_empty() && sha != pr.head {
                return json_response(
                    409,
                    json!({"message": "Head branch was modified. Review and try the merge again."}),
                );
            }
            pr.state = "closed".into();
            w.merges.push((n, sha, method));
            if std::mem::take(&mut w.merge_acts_then_fails) {
                return json_response(502, json!({"message": "Bad Gateway"}));
            }
            json_response(
                200,
                json!({"sha": MAIN_HEAD, "merged": true, "message": "Pull Request successfully merged"}),
            )
        }
        ("GET", ["pulls", n, "merge"]) => {
            let merged = n
                .parse::<u64>()
                .is_ok_and(|n| w.merges.iter().any(|m| m.0 == n));
            if merged { Reply::new(204) } else { not_found() }
        }
        // `GET /repos/{owner}/{repo}/compare/{basehead}`, `basehead` being
        // `BASE...HEAD`: shaped as GitHub's REST description says (the
        // fields gatebot reads, and a few around them).
        ("GET", ["compare", basehead]) => {
            let Some((base_ref, head)) = basehead.split_once("...") else {
                return not_found();
            };
            let behind = w.behind.get(head).copied().unwrap_or(0);
            let status = if behind == 0 { "ahead" } else { "diverged" };
            // The files the head has that differ from the base's (the
            // world keeps a PR's files under its head SHA).
            let mut changed: Vec<Value> = w
                .files
                .iter()
                .filter(|((at, _), _)| at == head)
                .filter(|((_, path), text)| {
                    w.files.get(&(base_ref.to_string(), path.clone())) != Some(*text)
                })
                .map(|((_, path), _)| json!({"filename": path, "status": "modified"}))
                .collect();
            changed.sort_by(|a, b| a["filename"].as_str().cmp(&b["filename"].as_str()));
            json_response(
                200,
                json!({
                    "url": format!("{base}/repos/{FULL}/compare/{basehead}"),
                    "html_url": format!("https://github.com/{FULL}/compare/{basehead}"),
                    "base_commit": {"sha": MAIN_HEAD},
                    "merge_base_commit": {"sha": MAIN_HEAD},
                    "status": status,
                    "ahead_by": 1,
                    "behind_by": behind,
                    "total_commits": 1,
                    "commits": [],
                    "files": changed,
                    "base_ref_seen": base_ref,
                }),
            )
        }
        ("GET", ["activity"]) => {
            let wanted = query.get("ref").cloned().unwrap_or_default();
            let branch = wanted.strip_prefix("refs/heads/").unwrap_or(&wanted);
            let items: Vec<Value> = w
                .activity
                .iter()
                .rev()
                .filter(|(b, _, _)| b == branch)
                .enumerate()
                .map(|(i, (b, sha, login))| {
                    json!({
                        "id": i + 1,
                        "before": "0000000000000000000000000000000000000000",
                        "after": sha,
                        "ref": format!("refs/heads/{b}"),
                        "timestamp": chrono::Utc::now().to_rfc3339(),
                        "activity_type": "push",
                        "actor": {"login": login, "id": w.id_of(login), "type": "User"},
                    })
                })
                .collect();
            json_response(200, json!(items))
        }
        ("GET", ["collaborators", login, "permission"]) => {
            if w.permission_api_down {
                return json_response(500, json!({"message": "Server Error"}));
            }
            let role = w
                .collaborators
                .get(*login)
                .cloned()
                .unwrap_or_else(|| "none".into());
            // GitHub's `permission` field folds maintain→write, triage→read.
            let permission = match role.as_str() {
                "admin" => "admin",
                "maintain" | "write" => "write",
                "triage" | "read" => "read",
                _ => "none",
            };
            json_response(
                200,
                json!({"permission": permission, "role_name": role, "user": {"login": login}}),
            )
        }
        ("GET", ["contents", path @ ..]) => {
            let branch = query
                .get("ref")
                .cloned()
                .unwrap_or_else(|| w.default_branch.clone());
            match w.files.get(&(branch, path.join("/"))) {
                Some(text) => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                    // GitHub wraps base64 at 60 columns.
                    let wrapped: Vec<String> = b64
                        .as_bytes()
                        .chunks(60)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    json_response(
                        200,
                        json!({"type": "file", "encoding": "base64", "content": wrapped.join("\n")}),
                    )
                }
                None => not_found(),
            }
        }
        ("GET", ["commits", sha, "check-runs"]) => {
            let runs: Vec<Value> = w
                .check_runs
                .iter()
                .filter(|c| c.sha == *sha)
                .filter(|c| query.get("check_name").is_none_or(|n| *n == c.name))
                // As GitHub lists them: with their output, so that any
                // update of any check run on the commit (gatebot's own
                // too) changes the listing and its ETag.
                .map(|c| json!({"id": c.id, "name": c.name, "status": c.status, "conclusion": c.conclusion, "head_sha": c.sha, "app": {"id": c.app_id, "slug": app_slug(c.app_id)}, "output": {"title": c.title, "summary": c.summary}}))
                .collect();
            json_response(200, json!({"total_count": runs.len(), "check_runs": runs}))
        }
        ("POST", ["check-runs"]) => {
            let b = body_json(req);
            let id = w.id();
            if let Some(a) = b["output"]["annotations"].as_array() {
                w.annotations.insert(id, a.clone());
            }
            w.check_runs.push(CheckRun {
                id,
                app_id: APP_ID,
                sha: b["head_sha"].as_str().unwrap_or_default().to_string(),
                name: b["name"].as_str().unwrap_or_default().to_string(),
                status: b["status"].as_str().unwrap_or("queued").to_string(),
                conclusion: b["conclusion"].as_str().map(String::from),
                title: b["output"]["title"].as_str().map(String::from),
                summary: b["output"]["summary"].as_str().map(String::from),
            });
            json_response(201, json!({"id": id}))
        }
        ("PATCH", ["check-runs", id]) => {
            let b = body_json(req);
            let Some(run) = id
                .parse()
                .ok()
                .and_then(|id: u64| w.check_runs.iter_mut().find(|c| c.id == id))
            else {
                return not_found();
            };
            // An App may only update its own check runs.
            if run.app_id != APP_ID {
                return json_response(
                    403,
                    json!({"message": "Invalid app_id `777` - check run can only be modified by the GitHub App that created it."}),
                );
            }
            if let Some(s) = b["status"].as_str() {
                run.status = s.to_string();
            }
            run.conclusion = b["conclusion"].as_str().map(String::from);
            run.title = b["output"]["title"].as_str().map(String::from);
            run.summary = b["output"]["summary"].as_str().map(String::from);
            json_response(200, json!({"id": run.id}))
        }
        ("POST", ["actions", "workflows", file, "dispatches"]) => {
            let b = body_json(req);
            if !w.files.contains_key(&(
                w.default_branch.clone(),
                format!(".github/workflows/{file}"),
            )) {
                return json_response(404, json!({"message": "Not Found"}));
            }
            if w.dispatch_outage == Some(false) {
                w.dispatch_outage = None;
                return json_response(502, json!({"message": "Bad Gateway"}));
            }
            if w.refuse_run_details && b.get("return_run_details").is_some() {
                return json_response(
                    422,
                    json!({"message": "Invalid request.\n\n\"return_run_details\" is not a permitted key."}),
                );
            }
            let id = w.id() + 9000;
            let inputs = &b["inputs"];
            // What the templates' run-name renders to.
            let title = format!(
                "{} {} [{}]",
                inputs["environment"].as_str().unwrap_or(""),
                inputs["sha"].as_str().unwrap_or(""),
                inputs["dispatch_id"].as_str().unwrap_or("")
            );
            w.runs.push(Run {
                id,
                workflow: file.to_string(),
                display_title: title,
                status: "queued".into(),
                conclusion: None,
                event: "workflow_dispatch".into(),
                head_branch: b["ref"].as_str().unwrap_or_default().to_string(),
                head_repository: FULL.into(),
                actor: BOT.into(),
                triggering_actor: BOT.into(),
                updated_at: chrono::Utc::now(),
            });
            let details = b["return_run_details"].as_bool() == Some(true);
            if w.dispatch_outage.take() == Some(true) {
                w.dispatches.push(Dispatch {
                    workflow: file.to_string(),
                    body: b,
                    run_id: Some(id),
                    returned_run: false,
                    at: chrono::Utc::now(),
                });
                return json_response(502, json!({"message": "Bad Gateway"}));
            }
            w.dispatches.push(Dispatch {
                workflow: file.to_string(),
                body: b,
                run_id: Some(id),
                returned_run: details,
                at: chrono::Utc::now(),
            });
            if details {
                json_response(
                    200,
                    json!({
                        "workflow_run_id": id,
                        "run_url": format!("{base}/repos/{FULL}/actions/runs/{id}"),
                        "html_url": format!("https://github.com/{FULL}/actions/runs/{id}"),
                    }),
                )
            } else {
                Reply::new(204)
            }
        }
        ("GET", ["actions", "workflows", file, "runs"]) => {
            let runs: Vec<Value> = w
                .runs
                .iter()
                .rev()
                .filter(|r| r.workflow == *file)
                .filter(|r| query.get("event").is_none_or(|e| *e == r.event))
                .filter(|r| query.get("branch").is_none_or(|b| *b == r.head_branch))
                .map(run_json)
                .collect();
            json_response(
                200,
                json!({"total_count": runs.len(), "workflow_runs": runs}),
            )
        }
        ("GET", ["actions", "runs", id]) => match id
            .parse()
            .ok()
            .and_then(|id: u64| w.runs.iter().find(|r| r.id == id))
        {
            Some(r) => json_response(200, run_json(r)),
            None => not_found(),
        },
        ("POST", ["actions", "runs", id, "deployment_protection_rule"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            w.reviews.push((id, body_json(req)));
            Reply::new(204)
        }
        ("POST", ["issues", n, "comments"]) => {
            let b = body_json(req);
            w.comments.push(Comment {
                issue: n.parse().unwrap_or(0),
                body: b["body"].as_str().unwrap_or_default().to_string(),
            });
            let id = w.id();
            json_response(201, json!({"id": id}))
        }
        ("POST", ["issues", "comments", id, "reactions"]) => {
            let b = body_json(req);
            w.reactions.push((
                id.parse().unwrap_or(0),
                b["content"].as_str().unwrap_or_default().to_string(),
            ));
            json_response(201, json!({"id": 1}))
        }
        _ => not_found(),
    }
}

/// The slug of App `id` in this world.
pub fn app_slug(id: u64) -> String {
    match id {
        APP_ID => APP_SLUG.into(),
        ACTIONS_APP_ID => "github-actions".into(),
        other => format!("app-{other}"),
    }
}

pub fn run_json(r: &Run) -> Value {
    json!({
        "id": r.id,
        "run_attempt": 1,
        "name": r.workflow.trim_end_matches(".yml"),
        "path": format!(".github/workflows/{}", r.workflow),
        "display_title": r.display_title,
        "status": r.status,
        "conclusion": r.conclusion,
        "event": r.event,
        "head_branch": r.head_branch,
        "head_sha": MAIN_HEAD,
        "head_repository": {"full_name": r.head_repository},
        "repository": {"full_name": FULL},
        "actor": {"login": r.actor, "type": if r.actor.ends_with("[bot]") { "Bot" } else { "User" }},
        "triggering_actor": {"login": r.triggering_actor, "type": if r.triggering_actor.ends_with("[bot]") { "Bot" } else { "User" }},
        "updated_at": r.updated_at.to_rfc3339(),
        "html_url": format!("https://github.com/{FULL}/actions/runs/{}", r.id),
    })
}

impl FakeGitHub {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let world = Arc::new(Mutex::new(World {
            default_branch: "main".into(),
            rate_limit_reset: (chrono::Utc::now() + chrono::Duration::hours(1))
                .timestamp()
                .max(0) as u64,
            ..World::default()
        }));
        Mock::given(any())
            .respond_with(Responder {
                world: world.clone(),
                base: server.uri(),
            })
            .mount(&server)
            .await;
        FakeGitHub {
            server: Arc::new(server),
            world,
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }
}
