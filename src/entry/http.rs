//! The HTTP surface, the same router locally and on Lambda:
//! `POST /webhook`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
//!
//! The signature is verified over the raw bytes before anything is parsed.
//! Answers on this public URL never carry internal error text (store or
//! GitHub errors, which may name tables, endpoints or tokens' scopes): that
//! goes to the log, next to the delivery id the answer gives.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tracing::Instrument;

use crate::adapters::secrets::SecretSource;
use crate::app::{App, AppError, Delivery};
use crate::core::events;

/// The Lambda request limit: larger deliveries are refused with 413.
pub(crate) const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

pub struct HttpState {
    pub app: Arc<App>,
    /// The webhook secret(s), as the source has them now (they rotate).
    pub secrets: Arc<dyn SecretSource>,
    /// Renders `/metrics`; `None` where metrics are not served.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Any other path: one JSON line naming the routes there are.
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "error": "no such route",
            "routes": ["POST /webhook", "GET /healthz", "GET /readyz", "GET /metrics"],
        })),
    )
        .into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn valid_delivery_id(id: &str) -> bool {
    id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

async fn webhook(State(state): State<Arc<HttpState>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let delivery = header(&headers, "x-github-delivery").unwrap_or("-");
    let response = match crate::app::panics::contain(
        "webhook",
        delivery,
        webhook_inner(&state, &headers, &body),
    )
    .await
    {
        Ok(response) => response,
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error; the logs of delivery {delivery} say why"),
        ),
    };
    let status = response.status().as_u16().to_string();
    metrics::counter!("gatebot_webhook_requests_total", "status" => status).increment(1);
    metrics::histogram!("gatebot_webhook_duration_seconds").record(started.elapsed().as_secs_f64());
    response
}

async fn webhook_inner(state: &HttpState, headers: &HeaderMap, body: &Bytes) -> Response {
    let secrets = match state.secrets.webhook_secrets().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "no webhook secret: nothing can be verified");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "gatebot cannot verify deliveries right now",
            );
        }
    };
    let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
    if let Err(e) = secrets.verify(body, signature) {
        tracing::warn!(error = %e, "webhook refused: bad signature");
        return error(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let Some(event_name) = header(headers, "x-github-event") else {
        return error(StatusCode::BAD_REQUEST, "missing X-GitHub-Event header");
    };
    let Some(delivery_id) = header(headers, "x-github-delivery") else {
        return error(StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery header");
    };
    if !valid_delivery_id(delivery_id) {
        return error(
            StatusCode::BAD_REQUEST,
            "malformed X-GitHub-Delivery header",
        );
    }
    let span = tracing::info_span!("delivery", delivery = %delivery_id, event = %event_name);
    async {
        let event = match events::parse(event_name, body) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "malformed payload");
                return error(StatusCode::BAD_REQUEST, e.to_string());
            }
        };
        let delivery = Delivery::new(delivery_id);
        match state.app.handle(&delivery, &event).await {
            Ok(outcome) => {
                tracing::info!(status = ?outcome.status, detail = %outcome.detail, "delivery handled");
                metrics::counter!("gatebot_deliveries_total", "event" => event.kind(), "status" => format!("{:?}", outcome.status).to_lowercase())
                    .increment(1);
                (
                    StatusCode::OK,
                    axum::Json(json!({
                        "delivery": delivery_id,
                        "event": event_name,
                        "status": outcome.status,
                        "detail": outcome.detail,
                    })),
                )
                    .into_response()
            }
            Err(AppError::BadInput(m)) => {
                tracing::warn!(error = %m, "bad delivery");
                error(StatusCode::BAD_REQUEST, m)
            }
            // Not 200: GitHub records a failed attempt, so the reconciler
            // redelivers it if the attempt in progress fails.
            Err(AppError::InProgress) => {
                tracing::info!("delivery already being handled: answered 503");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "60")],
                    axum::Json(json!({
                        "delivery": delivery_id,
                        "status": "in_progress",
                        "error": "this delivery is being handled by another attempt; retry later",
                    })),
                )
                    .into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, "delivery failed; GitHub may redeliver it");
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error; the logs of delivery {delivery_id} say why"),
                )
            }
        }
    }
    .instrument(span)
    .await
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

async fn readyz(State(state): State<Arc<HttpState>>) -> Response {
    let store = state.app.store.ping().await;
    if let Err(e) = &store {
        tracing::error!(error = %e, "readiness: store unreachable");
    }
    let secrets = state
        .secrets
        .webhook_secrets()
        .await
        .is_ok_and(|s| !s.is_empty());
    let ready = store.is_ok() && secrets;
    let body = json!({
        "ready": ready,
        "store": if store.is_ok() { "ok" } else { "unreachable (see the logs)" },
        "secrets": if secrets { "loaded" } else { "missing" },
        "dry_run": state.app.github.is_dry_run(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics_text(State(state): State<Arc<HttpState>>) -> Response {
    match &state.metrics {
        Some(h) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "metrics are not served here"),
    }
}
