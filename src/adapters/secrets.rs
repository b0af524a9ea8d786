//! Where the webhook secret(s) and the GitHub App's credentials come from.
//!
//! * [`StaticSecrets`]: read once from the environment (`gatebot serve`,
//!   tests). Rotating them means restarting the process.
//! * [`SecretsManagerSource`]: on Lambda, the Secrets Manager secret named
//!   by `GATEBOT_SECRET_ARN`, kept for a short time (`GATEBOT_SECRET_TTL_SECS`,
//!   default 300) and then read again — so a rotation reaches every warm
//!   function within that time, without a redeploy or a cold start. If a
//!   re-read fails, the last good value is kept (and the failure logged):
//!   Secrets Manager being down must not take gatebot down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::core::signature::WebhookSecrets;

/// How long a secret read from Secrets Manager is used before it is read again.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// GitHub App credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct AppCredentials {
    pub app_id: u64,
    pub private_key_pem: String,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppCredentials(app {})", self.app_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("no GitHub App credentials are configured")]
    NoAppCredentials,
    #[error("no webhook secret is configured")]
    NoWebhookSecret,
    #[error("the secrets cannot be read: {0}")]
    Unreadable(String),
}

/// The current secrets.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn webhook_secrets(&self) -> Result<WebhookSecrets, SecretsError>;
    async fn app_credentials(&self) -> Result<AppCredentials, SecretsError>;
}

/// Secrets fixed for the life of the process (either may be absent: a
/// dry run has no App, a GitHub client needs no webhook secret).
pub struct StaticSecrets {
    webhook: Option<WebhookSecrets>,
    app: Option<AppCredentials>,
}

impl StaticSecrets {
    /// The source of these secrets.
    pub fn source(
        webhook: Option<WebhookSecrets>,
        app: Option<AppCredentials>,
    ) -> Arc<dyn SecretSource> {
        Arc::new(StaticSecrets { webhook, app })
    }
}

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn webhook_secrets(&self) -> Result<WebhookSecrets, SecretsError> {
        self.webhook.clone().ok_or(SecretsError::NoWebhookSecret)
    }

    async fn app_credentials(&self) -> Result<AppCredentials, SecretsError> {
        self.app.clone().ok_or(SecretsError::NoAppCredentials)
    }
}

/// Both secrets, as one Secrets Manager value holds them.
#[derive(Clone)]
struct Loaded {
    webhook: WebhookSecrets,
    app: AppCredentials,
}

/// The Secrets Manager secret's JSON.
#[derive(Deserialize)]
struct SecretJson {
    webhook_secret: String,
    app_id: Value,
    private_key: String,
}

fn parse_secret(text: &str) -> anyhow::Result<Loaded> {
    let parsed: SecretJson = serde_json::from_str(text)
        .context("the secret must be JSON with webhook_secret, app_id and private_key")?;
    let app_id = match &parsed.app_id {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .context("app_id in the secret is not a number")?;
    Ok(Loaded {
        webhook: WebhookSecrets::parse(&parsed.webhook_secret)?,
        app: AppCredentials {
            app_id,
            private_key_pem: parsed.private_key.replace("\\n", "\n"),
        },
    })
}

/// The Lambda's secrets, re-read from Secrets Manager every `ttl`.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    ttl: Duration,
    cache: tokio::sync::Mutex<Option<(Instant, Loaded)>>,
}

impl SecretsManagerSource {
    /// Reads the secret once (so a misconfiguration fails the cold start).
    pub async fn new(
        client: aws_sdk_secretsmanager::Client,
        arn: String,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let source = SecretsManagerSource {
            client,
            arn,
            ttl,
            cache: tokio::sync::Mutex::new(None),
        };
        let first = source.read().await?;
        *source.cache.lock().await = Some((Instant::now(), first));
        Ok(source)
    }

    async fn read(&self) -> anyhow::Result<Loaded> {
        let value = self
            .client
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await
            .with_context(|| format!("reading secret {}", self.arn))?;
        parse_secret(
            value
                .secret_string()
                .context("the secret has no string value")?,
        )
    }

    async fn current(&self) -> Result<Loaded, SecretsError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, loaded)) = cache.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(loaded.clone());
        }
        match self.read().await {
            Ok(loaded) => {
                *cache = Some((Instant::now(), loaded.clone()));
                Ok(loaded)
            }
            Err(e) => match cache.as_mut() {
                Some((at, loaded)) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "cannot re-read the secret: keeping the last one"
                    );
                    // Try again after another `ttl`, not on every request.
                    *at = Instant::now();
                    Ok(loaded.clone())
                }
                None => Err(SecretsError::Unreadable(format!("{e:#}"))),
            },
        }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn webhook_secrets(&self) -> Result<WebhookSecrets, SecretsError> {
        Ok(self.current().await?.webhook)
    }

    async fn app_credentials(&self) -> Result<AppCredentials, SecretsError> {
        Ok(self.current().await?.app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_json_is_read_with_app_id_as_number_or_string() {
        let a = parse_secret(
            r#"{"webhook_secret":"new,old","app_id":"123","private_key":"-----BEGIN\\nKEY"}"#,
        )
        .unwrap();
        assert_eq!(a.webhook.len(), 2);
        assert_eq!(a.app.app_id, 123);
        assert_eq!(a.app.private_key_pem, "-----BEGIN\nKEY");
        let b = parse_secret(r#"{"webhook_secret":"s","app_id":7,"private_key":"k"}"#).unwrap();
        assert_eq!(b.app.app_id, 7);
        assert!(parse_secret(r#"{"webhook_secret":"s","app_id":"x","private_key":"k"}"#).is_err());
        assert!(parse_secret(r#"{"webhook_secret":"s"}"#).is_err());
    }
}
