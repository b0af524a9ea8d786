//! The AWS Lambda entry: the same binary, when `AWS_LAMBDA_RUNTIME_API` is
//! set, answers Function URL requests with the same axum router (through
//! `lambda_http`'s own request and response types) and the EventBridge
//! schedule with one reconcile pass.
//!
//! Metrics are the same as `/metrics` serves locally (same names and
//! labels), written after every invocation as CloudWatch Embedded Metric
//! Format lines on stdout (`metrics_cloudwatch_embedded`), so CloudWatch
//! turns them into metrics without an agent.
//!
//! What is slow happens once, at init (cold start): the AWS clients, the
//! store, the GitHub App client. Secrets are re-read from Secrets Manager
//! when their short cache expires (see [`crate::adapters::secrets`]), so a rotation
//! needs no redeploy.

use std::sync::Arc;

use axum::Router;
use lambda_http::request::LambdaRequest;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

use crate::adapters::secrets::SecretSource;
use crate::app::App;
use crate::app::reconcile::Report;
use crate::entry::http::{HttpState, router};

/// What the function holds between invocations.
pub struct LambdaApp {
    pub app: Arc<App>,
    pub router: Router,
}

impl LambdaApp {
    pub fn new(app: Arc<App>, secrets: Arc<dyn SecretSource>) -> Self {
        let router = router(Arc::new(HttpState {
            app: app.clone(),
            secrets,
            metrics: None,
        }));
        LambdaApp { app, router }
    }
}

/// The EventBridge schedule's event (`source: aws.events`).
#[derive(Debug, Deserialize)]
pub struct ScheduledEvent {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
}

/// One invocation's payload: the reconcile schedule, or an HTTP request
/// (a Function URL event, read by `lambda_http`'s own deserializer).
#[derive(Debug)]
pub enum Invocation {
    Scheduled(ScheduledEvent),
    Http(Box<LambdaRequest>),
}

impl<'de> Deserialize<'de> for Invocation {
    /// The payload as JSON text (`lambda_http` reads requests from the raw
    /// text): the schedule's event when it has `source` and `detail-type`,
    /// else whatever `lambda_http` makes of it (an error for anything but
    /// an HTTP event).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        if let Ok(scheduled) = serde_json::from_str::<ScheduledEvent>(raw.get()) {
            return Ok(Invocation::Scheduled(scheduled));
        }
        serde_json::from_str::<LambdaRequest>(raw.get())
            .map(|r| Invocation::Http(Box::new(r)))
            .map_err(serde::de::Error::custom)
    }
}

/// What an invocation answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// The Function URL response, as `lambda_http` builds it (its type is
    /// not public, so it is held as the JSON it serializes to).
    Http(serde_json::Value),
    /// The reconcile pass's figures.
    Reconciled(Report),
}

/// Cold start: everything the handler needs.
pub(crate) async fn init() -> anyhow::Result<LambdaApp> {
    use crate::entry::wiring::{self, AppKey, Aws};
    let aws = Aws::default();
    let secrets = wiring::secrets(&aws, AppKey::Needed).await?;
    let store = wiring::store(crate::entry::settings::StoreUrl::from_env()?, &aws).await?;
    let github = wiring::github(secrets.clone()).await?;
    Ok(LambdaApp::new(App::new(store, github).share(), secrets))
}

/// Runs the function: every invocation is handled, then its metrics are
/// flushed as EMF lines.
pub async fn run() -> anyhow::Result<()> {
    let metrics = crate::adapters::telemetry::emf_metrics()?;
    let state = Arc::new(init().await?);
    let service = lambda_runtime::service_fn(move |event: LambdaEvent<Invocation>| {
        let state = state.clone();
        async move { handle(&state, event).await }
    });
    metrics_cloudwatch_embedded::lambda::service::run(metrics, service)
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// Answers one invocation.
pub async fn handle(
    state: &LambdaApp,
    event: LambdaEvent<Invocation>,
) -> Result<Answer, lambda_runtime::Error> {
    let LambdaEvent { payload, context } = event;
    match payload {
        // A pass that fails is a failed invocation: Lambda's own error
        // metric, and gatebot's `gatebot_reconcile_passes_total`, show it.
        Invocation::Scheduled(_) => Ok(Answer::Reconciled(
            crate::app::reconcile::run_once(&state.app).await?,
        )),
        Invocation::Http(request) => {
            let adapter = lambda_http::Adapter::from(state.router.clone());
            let response = adapter.oneshot(LambdaEvent::new(*request, context)).await?;
            Ok(Answer::Http(serde_json::to_value(response)?))
        }
    }
}
