//! The GitHub adapter over octocrab: GitHub App auth (JWT → installation
//! token, cached by octocrab until shortly before expiry), `GITHUB_API_URL`
//! respected, bounded retries for reads only. octocrab is built without its
//! own retry layer so that a `workflow_dispatch` is never repeated blindly.
//!
//! The App's credentials come from a [`SecretSource`]; when they change (a
//! rotated private key), the clients are built anew on the next call.
//!
//! Every `GET` is conditional once GitHub gave its route an `ETag`
//! ([`EtagCache`]), and every answer's rate-limit headers are noted
//! ([`RateBudget`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use http::{HeaderMap, StatusCode};
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::etag_cache::{APP_SCOPE, EtagCache, Scope};
use super::rate_budget::RateBudget;
use super::retry;
use super::{
    BranchPush, DispatchInputs, DispatchedRun, GhResult, GitHub, GitHubError, HookDelivery,
    Permission, PullRequestInfo, RepoRef, RunInfo,
};
use crate::adapters::secrets::{AppCredentials, SecretSource, StaticSecrets};
use crate::core::domain::{Person, Sha, UserId};
use crate::core::gate::ci::{CheckRunInfo, GATEBOT_CHECK};
use crate::core::gate::summary::CheckRunView;

pub struct OctoGitHub {
    api_url: String,
    credentials: Arc<dyn SecretSource>,
    /// The App's id, as the credentials last said.
    app_id: AtomicU64,
    /// The App's slug, read once from `GET /app`.
    slug: tokio::sync::OnceCell<String>,
    /// The clients for the current credentials.
    clients: Mutex<Option<Clients>>,
    /// GitHub's last answers with their `ETag`s, for conditional `GET`s.
    cache: Arc<EtagCache>,
    /// What GitHub said is left of each installation's rate limit.
    budget: Arc<RateBudget>,
    /// Below this many requests left, [`GitHub::budget_low`].
    floor: u64,
}

/// An octocrab client with what it asks on behalf of ([`Scope`]), the
/// cache of conditional requests and the rate budget it reports to.
struct Client {
    octo: Arc<Octocrab>,
    scope: Scope,
    cache: Arc<EtagCache>,
    budget: Arc<RateBudget>,
}

/// The App client and one client per installation, for one set of
/// credentials. Shared, not cloned: a cloned octocrab client copies its
/// token cache instead of sharing it.
struct Clients {
    credentials: AppCredentials,
    app: Arc<Octocrab>,
    installations: HashMap<u64, Arc<Octocrab>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("GITHUB_APP_PRIVATE_KEY is not a valid RSA PEM key: {0}")]
    Key(String),
    #[error("GITHUB_API_URL is not a valid URL: {0}")]
    Url(String),
    #[error("cannot build the GitHub client: {0}")]
    Client(String),
}

impl OctoGitHub {
    /// A file's text from the contents API, on `branch` or (`None`) the
    /// default branch; `None` when it does not exist.
    async fn contents(
        &self,
        repo: &RepoRef,
        path: &str,
        branch: Option<&str>,
    ) -> GhResult<Option<String>> {
        #[derive(Deserialize)]
        struct Content {
            #[serde(default)]
            content: Option<String>,
            #[serde(default)]
            encoding: Option<String>,
        }
        let c = self.client(repo).await?;
        let path = path.split('/').map(enc).collect::<Vec<_>>().join("/");
        let route = match branch {
            Some(b) => format!("{}/contents/{path}?ref={}", repo_path(repo), enc(b)),
            None => format!("{}/contents/{path}", repo_path(repo)),
        };
        let content = match get_json::<Content>(&c, &route).await {
            Ok(c) => c,
            Err(GitHubError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if content.encoding.as_deref() != Some("base64") {
            return Err(GitHubError::Decode(format!("{path} is not a base64 file")));
        }
        let raw: String = content
            .content
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| GitHubError::Decode(e.to_string()))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| GitHubError::Decode(e.to_string()))
    }

    /// `GET …/commits/{sha}/check-runs`, every page (at most 1,000 runs),
    /// of the runs called `name` when given.
    async fn list_check_runs(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        name: Option<&str>,
    ) -> GhResult<Vec<CheckRunInfo>> {
        #[derive(Deserialize)]
        struct CheckApp {
            id: u64,
            #[serde(default)]
            slug: Option<String>,
        }
        #[derive(Deserialize)]
        struct Run {
            id: u64,
            name: String,
            status: String,
            #[serde(default)]
            conclusion: Option<String>,
            #[serde(default)]
            app: Option<CheckApp>,
        }
        #[derive(Deserialize)]
        struct Page {
            total_count: u64,
            check_runs: Vec<Run>,
        }
        let c = self.client(repo).await?;
        let mut out = Vec::new();
        for page in 1..=10u32 {
            let named = name
                .map(|n| format!("&check_name={}", enc(n)))
                .unwrap_or_default();
            let route = format!(
                "{}/commits/{sha}/check-runs?per_page=100&page={page}{named}",
                repo_path(repo)
            );
            let p: Page = get_json(&c, &route).await?;
            let got = p.check_runs.len();
            out.extend(p.check_runs.into_iter().map(|r| CheckRunInfo {
                id: r.id,
                name: r.name,
                status: r.status,
                conclusion: r.conclusion,
                app_id: r.app.as_ref().map(|a| a.id),
                app_slug: r.app.and_then(|a| a.slug),
            }));
            if got < 100 || out.len() as u64 >= p.total_count {
                break;
            }
        }
        Ok(out)
    }

    /// A client for fixed credentials.
    pub fn new(api_url: &str, creds: &AppCredentials) -> Result<Self, SetupError> {
        build_app(api_url, creds)?;
        Ok(Self::with_source(
            api_url,
            StaticSecrets::source(None, Some(creds.clone())),
            creds.app_id,
        ))
    }

    /// A client whose credentials are read from `source` on every call
    /// (the source caches them), rebuilt when they change.
    pub async fn from_source(
        api_url: &str,
        source: Arc<dyn SecretSource>,
    ) -> Result<Self, SetupError> {
        let creds = source
            .app_credentials()
            .await
            .map_err(|e| SetupError::Client(e.to_string()))?;
        build_app(api_url, &creds)?;
        Ok(Self::with_source(api_url, source, creds.app_id))
    }

    fn with_source(api_url: &str, credentials: Arc<dyn SecretSource>, app_id: u64) -> Self {
        OctoGitHub {
            api_url: api_url.to_string(),
            credentials,
            app_id: AtomicU64::new(app_id),
            slug: tokio::sync::OnceCell::new(),
            clients: Mutex::new(None),
            cache: Arc::default(),
            budget: Arc::default(),
            floor: 0,
        }
    }

    /// Sets the floor of [`GitHub::budget_low`] (0: never low).
    pub fn with_rate_limit_floor(mut self, floor: u64) -> Self {
        self.floor = floor;
        self
    }

    fn wrap(&self, octo: Arc<Octocrab>, scope: Scope) -> Client {
        Client {
            octo,
            scope,
            cache: self.cache.clone(),
            budget: self.budget.clone(),
        }
    }

    /// The clients for the current credentials (built anew when they
    /// changed), as `(app, installation)` for `installation`.
    async fn clients(
        &self,
        installation: Option<u64>,
    ) -> GhResult<(Arc<Octocrab>, Option<Arc<Octocrab>>)> {
        let creds = self
            .credentials
            .app_credentials()
            .await
            .map_err(|e| GitHubError::Transport(e.to_string()))?;
        let mut guard = self
            .clients
            .lock()
            .map_err(|_| GitHubError::Transport("client cache poisoned".into()))?;
        if guard.as_ref().is_none_or(|c| c.credentials != creds) {
            if guard.is_some() {
                tracing::info!(
                    app_id = creds.app_id,
                    "GitHub App credentials changed: new clients"
                );
            }
            let app = build_app(&self.api_url, &creds)
                .map_err(|e| GitHubError::Transport(e.to_string()))?;
            self.app_id.store(creds.app_id, Ordering::Relaxed);
            *guard = Some(Clients {
                credentials: creds,
                app: Arc::new(app),
                installations: HashMap::new(),
            });
        }
        let Some(clients) = guard.as_mut() else {
            return Err(GitHubError::Transport("no GitHub client".into()));
        };
        let app = clients.app.clone();
        let Some(id) = installation else {
            return Ok((app, None));
        };
        if let Some(c) = clients.installations.get(&id) {
            return Ok((app, Some(c.clone())));
        }
        let c = Arc::new(
            clients
                .app
                .installation(InstallationId(id))
                .map_err(|e| GitHubError::Transport(e.to_string()))?,
        );
        clients.installations.insert(id, c.clone());
        Ok((app, Some(c)))
    }

    /// The App's own client (App JWT).
    async fn app_client(&self) -> GhResult<Client> {
        Ok(self.wrap(self.clients(None).await?.0, APP_SCOPE))
    }

    /// The client of the installation `repo` belongs to.
    async fn client(&self, repo: &RepoRef) -> GhResult<Client> {
        let id = repo
            .installation
            .ok_or_else(|| GitHubError::NoInstallation(repo.name.to_string()))?;
        let (_, c) = self.clients(Some(id)).await?;
        let c = c.ok_or_else(|| GitHubError::NoInstallation(repo.name.to_string()))?;
        Ok(self.wrap(c, id))
    }
}

/// The App client for `creds`, without octocrab's retry layer.
fn build_app(api_url: &str, creds: &AppCredentials) -> Result<Octocrab, SetupError> {
    let key = octocrab::EncodingKey::from_rsa_pem(creds.private_key_pem.as_bytes())
        .map_err(|e| SetupError::Key(e.to_string()))?;
    Octocrab::builder()
        .base_uri(api_url)
        .map_err(|e| SetupError::Url(e.to_string()))?
        .app(AppId(creds.app_id), key)
        .set_connect_timeout(Some(Duration::from_secs(5)))
        .set_read_timeout(Some(Duration::from_secs(20)))
        .set_write_timeout(Some(Duration::from_secs(20)))
        .build()
        .map_err(|e| SetupError::Client(e.to_string()))
}

/// A raw answer: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

enum Method<'a> {
    Get,
    Post(&'a serde_json::Value),
    Patch(&'a serde_json::Value),
    Put(&'a serde_json::Value),
}

/// An error with the errors under it, as one line: octocrab's own text
/// ("client error (Connect)") hides why, such as a certificate signed by
/// an issuer the machine's CA bundle lacks. Each cause once.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// One request. A `GET` carries `If-None-Match` when GitHub gave its route
/// an `ETag` before; a `304` is answered with the body remembered with it
/// (GitHub just confirmed it), a `200` with an `ETag` is remembered.
async fn call(client: &Client, route: &str, method: Method<'_>) -> GhResult<Answer> {
    let started = Instant::now();
    let remembered = match method {
        Method::Get => client.cache.get(client.scope, route),
        _ => None,
    };
    let octo = &client.octo;
    let (verb, result) = match method {
        Method::Get => {
            let condition = remembered.as_ref().and_then(|r| {
                let mut h = HeaderMap::new();
                h.insert(http::header::IF_NONE_MATCH, r.etag.parse().ok()?);
                Some(h)
            });
            ("GET", octo._get_with_headers(route, condition).await)
        }
        Method::Post(b) => ("POST", octo._post(route, Some(b)).await),
        Method::Patch(b) => ("PATCH", octo._patch(route, Some(b)).await),
        Method::Put(b) => ("PUT", octo._put(route, Some(b)).await),
    };
    let response = result.map_err(|e| GitHubError::Transport(error_chain(&e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = octo
        .body_to_string(response)
        .await
        .map_err(|e| GitHubError::Transport(error_chain(&e)))?;
    metrics::counter!("gatebot_github_requests_total", "method" => verb, "status" => status.as_u16().to_string())
        .increment(1);
    client.budget.observe(client.scope, &headers);
    tracing::debug!(
        verb,
        route,
        status = status.as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "GitHub call"
    );
    if verb == "GET" {
        if status == StatusCode::NOT_MODIFIED {
            let Some(r) = remembered else {
                // Asked without a condition: GitHub cannot mean it.
                return Err(GitHubError::Decode(format!(
                    "304 Not Modified for {route}, which was not asked conditionally"
                )));
            };
            return Ok(Answer {
                status: StatusCode::OK,
                headers,
                body: r.body.to_string(),
            });
        }
        let etag = headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok());
        match etag {
            Some(etag) if status == StatusCode::OK => {
                client.cache.put(client.scope, route, etag, &body)
            }
            _ => client.cache.forget(client.scope, route),
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Turns a non-2xx answer into an error (rate limits recognised).
fn check(a: Answer) -> GhResult<Answer> {
    if a.status.is_success() {
        return Ok(a);
    }
    let limited = a.status == StatusCode::TOO_MANY_REQUESTS
        || (a.status == StatusCode::FORBIDDEN
            && (a.headers.contains_key("retry-after")
                || header_u64(&a.headers, "x-ratelimit-remaining") == Some(0)));
    if limited {
        let retry_after_secs = header_u64(&a.headers, "retry-after").or_else(|| {
            let reset = header_u64(&a.headers, "x-ratelimit-reset")?;
            let now = chrono::Utc::now().timestamp().max(0) as u64;
            Some(reset.saturating_sub(now))
        });
        return Err(GitHubError::RateLimited { retry_after_secs });
    }
    #[derive(Deserialize)]
    struct Message {
        message: Option<String>,
    }
    let message = serde_json::from_str::<Message>(&a.body)
        .ok()
        .and_then(|m| m.message)
        .unwrap_or_else(|| a.body.chars().take(200).collect());
    Err(GitHubError::Status {
        status: a.status.as_u16(),
        message,
    })
}

fn decode<T: DeserializeOwned>(a: &Answer) -> GhResult<T> {
    serde_json::from_str(&a.body).map_err(|e| GitHubError::Decode(e.to_string()))
}

async fn get_json<T: DeserializeOwned>(client: &Client, route: &str) -> GhResult<T> {
    retry::read(route, || async {
        decode(&check(call(client, route, Method::Get).await?)?)
    })
    .await
}

/// A write whose failure is ambiguous unless GitHub answered 4xx.
async fn write(client: &Client, route: &str, method: Method<'_>) -> GhResult<Answer> {
    match call(client, route, method).await {
        Err(GitHubError::Transport(e)) => Err(GitHubError::Ambiguous(e)),
        Err(e) => Err(e),
        Ok(a) if a.status.is_server_error() => Err(GitHubError::Ambiguous(format!(
            "GitHub answered {}",
            a.status.as_u16()
        ))),
        Ok(a) => check(a),
    }
}

/// The `cursor` of the `rel="next"` link in a `Link` header.
fn next_cursor(link: &str) -> Option<String> {
    link.split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| {
            let url = part
                .split(';')
                .next()?
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>');
            let query = url.split_once('?')?.1;
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix("cursor="))
                .map(str::to_string)
        })
}

fn enc(segment: &str) -> String {
    // Path segments we build come from validated names; escape the rest.
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// GitHub lists at most this many changed files in a comparison.
const COMPARE_FILES_MAX: usize = 300;

/// `GET …/compare/{base}...{head}`, one page of one commit: `behind_by` and
/// the changed files (all on the first page) are what gatebot reads.
fn compare_route(repo: &RepoRef, base: &str, head: &Sha) -> String {
    format!(
        "{}/compare/{}...{}?per_page=1",
        repo_path(repo),
        enc(base),
        head
    )
}

fn repo_path(repo: &RepoRef) -> String {
    format!(
        "/repos/{}/{}",
        enc(repo.name.owner()),
        enc(repo.name.name())
    )
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct FullName {
    full_name: String,
}

#[derive(Deserialize)]
struct RunJson {
    id: u64,
    #[serde(default)]
    run_attempt: Option<u64>,
    #[serde(default)]
    display_title: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    head_branch: Option<String>,
    #[serde(default)]
    head_repository: Option<FullName>,
    #[serde(default)]
    repository: Option<FullName>,
    #[serde(default)]
    actor: Option<Login>,
    #[serde(default)]
    triggering_actor: Option<Login>,
    #[serde(default)]
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<RunJson> for RunInfo {
    fn from(r: RunJson) -> Self {
        RunInfo {
            id: r.id,
            run_attempt: r.run_attempt.unwrap_or(1),
            display_title: r.display_title.unwrap_or_default(),
            status: r.status.unwrap_or_default(),
            conclusion: r.conclusion,
            html_url: r.html_url,
            event: r.event,
            path: r.path,
            head_branch: r.head_branch,
            head_repository: r.head_repository.map(|r| r.full_name),
            repository: r.repository.map(|r| r.full_name),
            actor: r.actor.map(|a| a.login),
            triggering_actor: r.triggering_actor.map(|a| a.login),
            updated_at: r.updated_at,
        }
    }
}

fn check_run_body(view: &CheckRunView) -> serde_json::Value {
    let mut body = json!({
        "name": GATEBOT_CHECK,
        "status": view.status,
        "output": { "title": view.title, "summary": view.text },
    });
    if let Some(c) = view.conclusion {
        body["conclusion"] = json!(c);
    }
    body
}

#[async_trait]
impl GitHub for OctoGitHub {
    fn budget_low(&self, repo: &RepoRef) -> bool {
        let Some(id) = repo.installation else {
            return false;
        };
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        self.budget.below(id, self.floor, now)
    }

    fn app_id(&self) -> Option<u64> {
        Some(self.app_id.load(Ordering::Relaxed))
    }

    async fn app_slug(&self) -> GhResult<String> {
        #[derive(Deserialize)]
        struct AppJson {
            slug: String,
        }
        self.slug
            .get_or_try_init(|| async {
                let app = self.app_client().await?;
                let a: AppJson = get_json(&app, "/app").await?;
                Ok(a.slug)
            })
            .await
            .cloned()
    }

    async fn open_pull_requests(&self, repo: &RepoRef) -> GhResult<Vec<u64>> {
        #[derive(Deserialize)]
        struct Pr {
            number: u64,
        }
        let c = self.client(repo).await?;
        let prs: Vec<Pr> = get_json(
            &c,
            &format!("{}/pulls?state=open&per_page=100", repo_path(repo)),
        )
        .await?;
        Ok(prs.into_iter().map(|p| p.number).collect())
    }

    async fn pull_request(&self, repo: &RepoRef, number: u64) -> GhResult<PullRequestInfo> {
        #[derive(Deserialize)]
        struct HeadRepo {
            full_name: String,
        }
        #[derive(Deserialize)]
        struct Ref {
            sha: String,
            #[serde(rename = "ref")]
            git_ref: String,
            #[serde(default)]
            repo: Option<HeadRepo>,
        }
        #[derive(Deserialize)]
        struct User {
            id: u64,
            login: String,
        }
        #[derive(Deserialize)]
        struct Repo {
            default_branch: String,
        }
        #[derive(Deserialize)]
        struct Base {
            #[serde(rename = "ref")]
            git_ref: String,
            repo: Repo,
        }
        #[derive(Deserialize)]
        struct Pr {
            number: u64,
            state: String,
            user: User,
            head: Ref,
            base: Base,
        }
        let c = self.client(repo).await?;
        let pr: Pr = get_json(&c, &format!("{}/pulls/{number}", repo_path(repo))).await?;
        Ok(PullRequestInfo {
            number: pr.number,
            head_sha: Sha::parse(&pr.head.sha).map_err(|e| GitHubError::Decode(e.to_string()))?,
            author: Person::new(pr.user.id, &pr.user.login),
            open: pr.state == "open",
            base_ref: pr.base.git_ref,
            default_branch: pr.base.repo.default_branch,
            head_ref: pr.head.git_ref,
            head_repo: pr.head.repo.map(|r| r.full_name),
        })
    }

    async fn branch_pushes(&self, repo: &RepoRef, branch: &str) -> GhResult<Vec<BranchPush>> {
        #[derive(Deserialize)]
        struct Actor {
            id: u64,
            login: String,
        }
        #[derive(Deserialize)]
        struct Activity {
            after: String,
            activity_type: String,
            #[serde(default)]
            actor: Option<Actor>,
        }
        let c = self.client(repo).await?;
        let route = format!(
            "{}/activity?ref={}&per_page=100",
            repo_path(repo),
            enc(&format!("refs/heads/{branch}"))
        );
        let items: Vec<Activity> = get_json(&c, &route).await?;
        Ok(items
            .into_iter()
            .filter(|a| {
                matches!(
                    a.activity_type.as_str(),
                    "push" | "force_push" | "branch_creation"
                )
            })
            .filter_map(|a| {
                let actor = a.actor?;
                Some(BranchPush {
                    sha: Sha::parse(&a.after).ok()?,
                    by: Person::new(actor.id, &actor.login),
                })
            })
            .collect())
    }

    async fn merge(&self, repo: &RepoRef, number: u64, sha: &Sha, method: &str) -> GhResult<()> {
        let c = self.client(repo).await?;
        let route = format!("{}/pulls/{number}/merge", repo_path(repo));
        let body = json!({ "sha": sha.as_str(), "merge_method": method });
        write(&c, &route, Method::Put(&body)).await?;
        Ok(())
    }

    async fn merged(&self, repo: &RepoRef, number: u64) -> GhResult<bool> {
        let c = self.client(repo).await?;
        let route = format!("{}/pulls/{number}/merge", repo_path(repo));
        retry::read(&route, || async {
            let a = call(&c, &route, Method::Get).await?;
            match a.status.as_u16() {
                204 => Ok(true),
                404 => Ok(false),
                _ => check(a).map(|_| false),
            }
        })
        .await
    }

    async fn behind_by(&self, repo: &RepoRef, base: &str, head: &Sha) -> GhResult<u64> {
        #[derive(Deserialize)]
        struct Comparison {
            behind_by: u64,
        }
        let c = self.client(repo).await?;
        Ok(get_json::<Comparison>(&c, &compare_route(repo, base, head))
            .await?
            .behind_by)
    }

    async fn changes_path(
        &self,
        repo: &RepoRef,
        base: &str,
        head: &Sha,
        path: &str,
    ) -> GhResult<Option<bool>> {
        #[derive(Deserialize)]
        struct File {
            filename: String,
            #[serde(default)]
            previous_filename: Option<String>,
        }
        #[derive(Deserialize)]
        struct Comparison {
            #[serde(default)]
            files: Vec<File>,
        }
        let c = self.client(repo).await?;
        let files = get_json::<Comparison>(&c, &compare_route(repo, base, head))
            .await?
            .files;
        if files.len() >= COMPARE_FILES_MAX {
            return Ok(None);
        }
        Ok(Some(files.iter().any(|f| {
            f.filename == path || f.previous_filename.as_deref() == Some(path)
        })))
    }

    async fn user_login(&self, repo: &RepoRef, id: UserId) -> GhResult<Option<String>> {
        #[derive(Deserialize)]
        struct User {
            login: String,
        }
        let c = self.client(repo).await?;
        match get_json::<User>(&c, &format!("/user/{}", id.0)).await {
            Ok(u) => Ok(Some(u.login.to_ascii_lowercase())),
            Err(GitHubError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn permission(&self, repo: &RepoRef, login: &str) -> GhResult<Permission> {
        // Read into our own struct: GitHub answers admin/write/read/none
        // plus `role_name` (maintain, triage, custom roles).
        #[derive(Deserialize)]
        struct Answer {
            permission: String,
            #[serde(default)]
            role_name: Option<String>,
        }
        let c = self.client(repo).await?;
        let route = format!(
            "{}/collaborators/{}/permission",
            repo_path(repo),
            enc(login)
        );
        let a: Answer = get_json(&c, &route).await?;
        let by_role = a.role_name.as_deref().map(Permission::parse);
        let by_permission = Permission::parse(&a.permission);
        // A custom role name parses to None: fall back to the base permission.
        Ok(match by_role {
            Some(p) if p != Permission::None => p,
            _ => by_permission,
        })
    }

    async fn is_team_member(
        &self,
        repo: &RepoRef,
        org: &str,
        team: &str,
        login: &str,
    ) -> GhResult<bool> {
        #[derive(Deserialize)]
        struct Membership {
            state: String,
        }
        let c = self.client(repo).await?;
        let route = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            enc(org),
            enc(team),
            enc(login)
        );
        match get_json::<Membership>(&c, &route).await {
            Ok(m) => Ok(m.state == "active"),
            Err(GitHubError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn file(&self, repo: &RepoRef, path: &str, branch: &str) -> GhResult<Option<String>> {
        self.contents(repo, path, Some(branch)).await
    }

    async fn default_branch_file(&self, repo: &RepoRef, path: &str) -> GhResult<Option<String>> {
        self.contents(repo, path, None).await
    }

    async fn check_runs(&self, repo: &RepoRef, sha: &Sha) -> GhResult<Vec<CheckRunInfo>> {
        self.list_check_runs(repo, sha, None).await
    }

    async fn check_runs_named(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        name: &str,
    ) -> GhResult<Vec<CheckRunInfo>> {
        self.list_check_runs(repo, sha, Some(name)).await
    }

    async fn dispatch(
        &self,
        repo: &RepoRef,
        workflow: &str,
        git_ref: &str,
        inputs: &DispatchInputs,
    ) -> GhResult<Option<DispatchedRun>> {
        #[derive(Deserialize)]
        struct Details {
            workflow_run_id: u64,
            #[serde(default)]
            html_url: Option<String>,
        }
        let c = self.client(repo).await?;
        let route = format!(
            "{}/actions/workflows/{}/dispatches",
            repo_path(repo),
            enc(workflow)
        );
        let body = json!({ "ref": git_ref, "inputs": inputs, "return_run_details": true });
        let answer = match write(&c, &route, Method::Post(&body)).await {
            // The server refused the parameter (older GHES): nothing was
            // dispatched, so asking again without it is safe.
            Err(GitHubError::Status {
                status: 400 | 422,
                message,
            }) if message.contains("return_run_details") => {
                tracing::info!("return_run_details refused; dispatching without it");
                let body = json!({ "ref": git_ref, "inputs": inputs });
                write(&c, &route, Method::Post(&body)).await?
            }
            other => other?,
        };
        if answer.status == StatusCode::NO_CONTENT || answer.body.trim().is_empty() {
            return Ok(None);
        }
        Ok(serde_json::from_str::<Details>(&answer.body)
            .ok()
            .map(|d| DispatchedRun {
                run_id: d.workflow_run_id,
                html_url: d.html_url,
            }))
    }

    async fn dispatched_runs(
        &self,
        repo: &RepoRef,
        workflow: &str,
        branch: &str,
    ) -> GhResult<Vec<RunInfo>> {
        #[derive(Deserialize)]
        struct Page {
            workflow_runs: Vec<RunJson>,
        }
        let c = self.client(repo).await?;
        let route = format!(
            "{}/actions/workflows/{}/runs?event=workflow_dispatch&branch={}&per_page=100",
            repo_path(repo),
            enc(workflow),
            enc(branch)
        );
        let p: Page = get_json(&c, &route).await?;
        Ok(p.workflow_runs.into_iter().map(RunInfo::from).collect())
    }

    async fn workflow_run(&self, repo: &RepoRef, run_id: u64) -> GhResult<RunInfo> {
        let c = self.client(repo).await?;
        let r: RunJson =
            get_json(&c, &format!("{}/actions/runs/{run_id}", repo_path(repo))).await?;
        Ok(r.into())
    }

    async fn create_check_run(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        view: &CheckRunView,
    ) -> GhResult<u64> {
        #[derive(Deserialize)]
        struct Created {
            id: u64,
        }
        let c = self.client(repo).await?;
        let mut body = check_run_body(view);
        body["head_sha"] = json!(sha.as_str());
        let a = write(
            &c,
            &format!("{}/check-runs", repo_path(repo)),
            Method::Post(&body),
        )
        .await?;
        Ok(decode::<Created>(&a)?.id)
    }

    async fn create_config_check(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        view: &crate::core::config::ConfigCheckView,
    ) -> GhResult<()> {
        let c = self.client(repo).await?;
        let annotations: Vec<serde_json::Value> = view
            .annotations
            .iter()
            .map(|a| {
                json!({
                    "path": crate::core::config::CONFIG_PATH,
                    "start_line": a.line,
                    "end_line": a.line,
                    "annotation_level": "failure",
                    "message": a.message,
                })
            })
            .collect();
        let body = json!({
            "name": crate::core::config::CONFIG_CHECK,
            "head_sha": sha.as_str(),
            "status": "completed",
            "conclusion": view.conclusion,
            "output": { "title": view.title, "summary": view.summary, "annotations": annotations },
        });
        write(
            &c,
            &format!("{}/check-runs", repo_path(repo)),
            Method::Post(&body),
        )
        .await?;
        Ok(())
    }

    async fn update_check_run(&self, repo: &RepoRef, id: u64, view: &CheckRunView) -> GhResult<()> {
        let c = self.client(repo).await?;
        let body = check_run_body(view);
        write(
            &c,
            &format!("{}/check-runs/{id}", repo_path(repo)),
            Method::Patch(&body),
        )
        .await?;
        Ok(())
    }

    async fn comment(&self, repo: &RepoRef, issue: u64, body: &str) -> GhResult<()> {
        let c = self.client(repo).await?;
        let b = json!({ "body": body });
        write(
            &c,
            &format!("{}/issues/{issue}/comments", repo_path(repo)),
            Method::Post(&b),
        )
        .await?;
        Ok(())
    }

    async fn react(&self, repo: &RepoRef, comment_id: u64, content: &str) -> GhResult<()> {
        let c = self.client(repo).await?;
        let b = json!({ "content": content });
        write(
            &c,
            &format!("{}/issues/comments/{comment_id}/reactions", repo_path(repo)),
            Method::Post(&b),
        )
        .await?;
        Ok(())
    }

    async fn hook_deliveries(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> GhResult<Vec<HookDelivery>> {
        #[derive(Deserialize)]
        struct Item {
            id: u64,
            guid: String,
            delivered_at: chrono::DateTime<chrono::Utc>,
            status_code: u16,
        }
        let app = self.app_client().await?;
        let mut out = Vec::new();
        let mut route = "/app/hook/deliveries?per_page=100".to_string();
        for _ in 0..20 {
            let answer = retry::read(&route, || async {
                check(call(&app, &route, Method::Get).await?)
            })
            .await?;
            let page: Vec<Item> = decode(&answer)?;
            let done = page.is_empty() || page.iter().any(|d| d.delivered_at < since);
            out.extend(
                page.into_iter()
                    .filter(|d| d.delivered_at >= since)
                    .map(|d| HookDelivery {
                        id: d.id,
                        guid: d.guid,
                        delivered_at: d.delivered_at,
                        status_code: d.status_code,
                    }),
            );
            let next = answer
                .headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_cursor);
            match next {
                Some(cursor) if !done => {
                    route = format!("/app/hook/deliveries?per_page=100&cursor={}", enc(&cursor))
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn redeliver(&self, id: u64) -> GhResult<()> {
        let app = self.app_client().await?;
        write(
            &app,
            &format!("/app/hook/deliveries/{id}/attempts"),
            Method::Post(&json!({})),
        )
        .await?;
        Ok(())
    }

    async fn review_deployment(
        &self,
        repo: &RepoRef,
        run_id: u64,
        environment: &str,
        approve: bool,
        comment: &str,
    ) -> GhResult<()> {
        let c = self.client(repo).await?;
        let b = json!({
            "environment_name": environment,
            "state": if approve { "approved" } else { "rejected" },
            "comment": comment,
        });
        write(
            &c,
            &format!(
                "{}/actions/runs/{run_id}/deployment_protection_rule",
                repo_path(repo)
            ),
            Method::Post(&b),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_what_is_under_it_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("invalid peer certificate: UnknownIssuer")]
        struct Inner;
        assert_eq!(
            error_chain(&Outer(Inner)),
            "client error (Connect): invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(
            error_chain(&Inner),
            "invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn next_cursor_from_link_header() {
        let link = r#"<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_123>; rel="next", <https://api.github.com/app/hook/deliveries?per_page=100>; rel="first""#;
        assert_eq!(next_cursor(link).as_deref(), Some("v1_123"));
        assert_eq!(
            next_cursor(r#"<https://x/y?per_page=1>; rel="first""#),
            None
        );
    }

    #[test]
    fn rate_limits_are_recognised() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("retry-after", "7".parse().unwrap());
        let a = Answer {
            status: StatusCode::FORBIDDEN,
            headers,
            body: String::new(),
        };
        assert!(matches!(
            check(a),
            Err(GitHubError::RateLimited {
                retry_after_secs: Some(7)
            })
        ));
        let a = Answer {
            status: StatusCode::FORBIDDEN,
            headers: HeaderMap::new(),
            body: r#"{"message":"Resource not accessible by integration"}"#.into(),
        };
        match check(a) {
            Err(GitHubError::Status {
                status: 403,
                message,
            }) => assert!(message.contains("not accessible")),
            other => panic!("{:?}", other.err()),
        }
    }
}
