//! The AWS Lambda entry: the same binary, when `AWS_LAMBDA_RUNTIME_API` is
//! set, answers Function URL events (payload 2.0) with the same axum router
//! and EventBridge scheduled events with one reconcile pass.
//!
//! Everything slow happens once, at init (cold start): secrets from Secrets
//! Manager, the AWS clients, the GitHub App client.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use http_body_util::BodyExt;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::aws_lambda_events::encodings::Body as LambdaBody;
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

use crate::app::App;
use crate::github::octo::{AppCredentials, OctoGitHub};
use crate::http::{HttpState, router};
use crate::signature::WebhookSecrets;
use crate::store::Store;

/// What the function holds between invocations.
pub struct LambdaApp {
    pub app: Arc<App>,
    pub router: Router,
}

impl LambdaApp {
    pub fn new(app: Arc<App>, secrets: WebhookSecrets) -> Self {
        let router = router(Arc::new(HttpState {
            app: app.clone(),
            secrets,
            metrics: None,
        }));
        LambdaApp { app, router }
    }
}

/// The Secrets Manager secret's JSON.
#[derive(Deserialize)]
struct SecretJson {
    webhook_secret: String,
    app_id: serde_json::Value,
    private_key: String,
}

/// Reads the App's secrets: from the Secrets Manager secret named by
/// `GATEBOT_SECRET_ARN`, else from the same variables as the local server.
async fn secrets(
    config: &aws_config::SdkConfig,
) -> anyhow::Result<(WebhookSecrets, AppCredentials)> {
    let Some(arn) = std::env::var("GATEBOT_SECRET_ARN")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        return Ok((
            crate::settings::webhook_secrets()?,
            crate::settings::app_credentials()?,
        ));
    };
    let client = aws_sdk_secretsmanager::Client::new(config);
    let value = client
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .with_context(|| format!("reading secret {arn}"))?;
    let text = value
        .secret_string()
        .context("the secret has no string value")?;
    let parsed: SecretJson = serde_json::from_str(text)
        .context("the secret must be JSON with webhook_secret, app_id and private_key")?;
    let app_id = match &parsed.app_id {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .context("app_id in the secret is not a number")?;
    Ok((
        WebhookSecrets::parse(&parsed.webhook_secret)?,
        AppCredentials {
            app_id,
            private_key_pem: parsed.private_key.replace("\\n", "\n"),
        },
    ))
}

/// Cold start: everything the handler needs.
pub async fn init() -> anyhow::Result<LambdaApp> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let (webhook, creds) = secrets(&config).await?;
    let store: Arc<dyn Store> = match crate::settings::StoreUrl::from_env()? {
        crate::settings::StoreUrl::Dynamodb(table) => Arc::new(
            crate::store::dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table),
        ),
        crate::settings::StoreUrl::Sqlite(path) => {
            Arc::new(crate::store::sqlite::SqliteStore::open(path)?)
        }
    };
    let github = OctoGitHub::new(&crate::settings::api_url(), &creds)?;
    Ok(LambdaApp::new(
        Arc::new(App::new(store, Arc::new(github))),
        webhook,
    ))
}

pub async fn run() -> anyhow::Result<()> {
    let state = Arc::new(init().await?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| {
            let state = state.clone();
            async move { handle(&state, event.payload).await }
        },
    ))
    .await
    .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

fn is_scheduled(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.events")
        || event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// Answers one invocation.
pub async fn handle(state: &LambdaApp, event: Value) -> Result<Value, lambda_runtime::Error> {
    if is_scheduled(&event) {
        let report = crate::reconcile::run_once(&state.app).await?;
        return Ok(serde_json::to_value(report)?);
    }
    if event.get("requestContext").is_none() {
        return Err(
            "unrecognised event: neither a Function URL request nor a scheduled event".into(),
        );
    }
    let request = lambda_http::request::from_str(&event.to_string())?;
    let (parts, body) = request.into_parts();
    let bytes: Vec<u8> = match body {
        LambdaBody::Empty => Vec::new(),
        LambdaBody::Text(t) => t.into_bytes(),
        LambdaBody::Binary(b) => b,
        _ => Vec::new(),
    };
    let request = http::Request::from_parts(parts, axum::body::Body::from(bytes));
    let response = state.router.clone().oneshot(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(parts.status.as_u16());
    response.headers = parts.headers;
    response.body = (!text.is_empty()).then_some(LambdaBody::Text(text));
    response.is_base64_encoded = false;
    Ok(serde_json::to_value(response)?)
}
