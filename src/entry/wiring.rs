//! Builds what every entry point runs on, one way for all of them: the
//! secrets, the store and the GitHub client. `gatebot serve`, the Lambda
//! function and the one-shot commands (`reconcile`, `status`, `audit`)
//! differ only in which of these they need.

use std::sync::Arc;

use anyhow::Context;
use aws_config::SdkConfig;
use tokio::sync::OnceCell;

use crate::adapters::github::GitHub;
use crate::adapters::github::octo::OctoGitHub;
use crate::adapters::secrets::{DEFAULT_TTL, SecretSource, SecretsManagerSource, StaticSecrets};
use crate::adapters::store::Store;
use crate::adapters::store::dynamo::DynamoStore;
use crate::adapters::store::sqlite::SqliteStore;
use crate::entry::settings::{self, StoreUrl};

/// The AWS configuration, loaded the first time a part needs it (a local
/// server on SQLite with secrets in its environment never does).
#[derive(Default)]
pub(crate) struct Aws(OnceCell<SdkConfig>);

impl Aws {
    pub(crate) async fn config(&self) -> &SdkConfig {
        self.0.get_or_init(crate::adapters::aws::sdk_config).await
    }
}

/// Which secrets a part needs besides the webhook secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppKey {
    /// The App's id and private key (to call GitHub).
    Needed,
    /// None: `serve --dry-run` sends nothing to GitHub.
    NotNeeded,
}

/// The secrets: from the Secrets Manager secret `GATEBOT_SECRET_ARN` names
/// (re-read every `GATEBOT_SECRET_TTL_SECS`, so a rotation needs no
/// restart), else from `GITHUB_WEBHOOK_SECRET`, `GITHUB_APP_ID` and
/// `GITHUB_APP_PRIVATE_KEY[_PATH]`.
pub(crate) async fn secrets(aws: &Aws, app_key: AppKey) -> anyhow::Result<Arc<dyn SecretSource>> {
    let Some(arn) = settings::secret_arn() else {
        let app = match app_key {
            AppKey::Needed => Some(settings::app_credentials()?),
            AppKey::NotNeeded => None,
        };
        return Ok(StaticSecrets::source(
            Some(settings::webhook_secrets()?),
            app,
        ));
    };
    let ttl = settings::secret_ttl()?.unwrap_or(DEFAULT_TTL);
    let client = aws_sdk_secretsmanager::Client::new(aws.config().await);
    let source = SecretsManagerSource::new(client, arn.clone(), ttl)
        .await
        .with_context(|| format!("reading the secret {arn}"))?;
    Ok(Arc::new(source))
}

/// The store `url` names. A DynamoDB table on a local endpoint
/// (`AWS_ENDPOINT_URL_DYNAMODB`) is created if missing, as the template
/// creates it in AWS.
pub(crate) async fn store(url: StoreUrl, aws: &Aws) -> anyhow::Result<Arc<dyn Store>> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Arc::new(
            SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))?,
        )),
        StoreUrl::Dynamodb(table) => {
            let client = crate::adapters::store::dynamo::client(aws.config().await);
            let store = DynamoStore::new(client, table);
            if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
                store.ensure_table().await?;
            }
            Ok(Arc::new(store))
        }
    }
}

/// The GitHub App client on `GITHUB_API_URL`, its credentials read from
/// `secrets` (and the client rebuilt when they change).
pub(crate) async fn github(secrets: Arc<dyn SecretSource>) -> anyhow::Result<Arc<dyn GitHub>> {
    let floor = settings::rate_limit_floor()?;
    Ok(Arc::new(
        OctoGitHub::from_source(&settings::api_url(), secrets)
            .await?
            .with_rate_limit_floor(floor),
    ))
}
