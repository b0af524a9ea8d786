//! The AWS SDK's configuration, built once for every AWS client gatebot
//! makes (DynamoDB, Secrets Manager).
//!
//! The SDK's default HTTPS client brings its own TLS crypto library
//! (aws-lc). gatebot already ships ring for octocrab's TLS, so the SDK is
//! given a hyper client on rustls with ring instead: one crypto library in
//! the binary, a smaller Lambda package and a shorter cold build. The
//! credential chain, regions and retries are the SDK's own, unchanged.

use aws_smithy_http_client::{
    Builder,
    tls::{Provider, rustls_provider::CryptoMode},
};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The HTTPS client every AWS client uses: hyper, rustls, ring.
pub fn http_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The standard AWS configuration chain (environment, profile, the
/// Lambda's role), with [`http_client`].
pub(crate) async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}

/// Counts every DynamoDB request gatebot sends, by operation, with the
/// bytes of its body: `gatebot_dynamodb_requests_total{op}` and
/// `gatebot_dynamodb_request_bytes_total{op}`, and the write units each
/// write is billed, `gatebot_dynamodb_write_units_total{op}` (estimated by
/// [`crate::adapters::store::write_units`]; the cost table in BENCHMARKS.md is
/// computed from them). Retried attempts count once each.
/// With a tally, it also counts the requests of its own client, by
/// operation (a local store's, which tests read apart from every other
/// store's requests in the process).
#[derive(Debug, Default)]
pub(crate) struct CountRequests {
    pub(crate) tally: Option<std::sync::Arc<Tally>>,
}

/// Requests one client sent, by operation.
#[derive(Debug, Default)]
pub(crate) struct Tally(std::sync::Mutex<std::collections::BTreeMap<String, u64>>);

impl Tally {
    fn add(&self, op: &str) {
        let mut ops = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *ops.entry(op.to_string()).or_default() += 1;
    }

    /// The requests counted so far, by operation.
    pub(crate) fn by_operation(&self) -> std::collections::BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "gatebot::CountRequests"
    }

    fn read_before_serialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some((op, units)) = crate::adapters::store::write_units::of_request(context.input())
        {
            metrics::counter!("gatebot_dynamodb_write_units_total", "op" => op).increment(units);
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let op = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        let bytes = context.request().body().bytes().map_or(0, <[u8]>::len);
        if let Some(tally) = &self.tally {
            tally.add(&op);
        }
        metrics::counter!("gatebot_store_requests_total", "store" => "dynamodb").increment(1);
        metrics::counter!("gatebot_dynamodb_requests_total", "op" => op.clone()).increment(1);
        metrics::counter!("gatebot_dynamodb_request_bytes_total", "op" => op)
            .increment(bytes as u64);
        Ok(())
    }
}
