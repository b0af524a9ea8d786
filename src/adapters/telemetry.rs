//! Logging (`tracing`, `LOG_LEVEL`, `LOG_FORMAT=json|pretty`) and the
//! metrics recorder: Prometheus for `gatebot serve` (`/metrics`), CloudWatch
//! Embedded Metric Format on Lambda. Both record the same `metrics` calls, so
//! names and labels are the same everywhere; on CloudWatch the labels are
//! the dimensions.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `format` is `json` or `pretty`.
pub fn init_logging(level: &str, format: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: not in a file, a pipe or
    // a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = if format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        // Already installed (tests): keep the first.
    }
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide metrics recorder (installed on first use).
pub fn metrics() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// The CloudWatch namespace of gatebot's metrics on Lambda:
/// `GATEBOT_METRICS_NAMESPACE` (the template sets `gatebot/<stack name>`),
/// else `gatebot`.
pub(crate) fn emf_namespace() -> String {
    std::env::var("GATEBOT_METRICS_NAMESPACE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "gatebot".to_string())
}

/// Installs the Embedded Metric Format recorder (Lambda): metrics are
/// written to stdout as EMF lines after every invocation.
pub(crate) fn emf_metrics() -> anyhow::Result<&'static metrics_cloudwatch_embedded::Collector> {
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(emf_namespace())
        .lambda_cold_start_metric("gatebot_cold_starts_total")
        .with_lambda_request_id("RequestId")
        .init()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))
}
