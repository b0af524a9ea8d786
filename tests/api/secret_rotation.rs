//! Secrets rotate without a redeploy: on Lambda the Secrets Manager secret
//! is read again once its short cache expires (moto stands in for Secrets
//! Manager), the last good secret is kept when a re-read fails, and a
//! changed App key gives new GitHub clients.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gatebot::testing::github::GitHub;
use gatebot::testing::github::octo::OctoGitHub;
use gatebot::testing::secrets::AppCredentials;
use gatebot::testing::secrets::{SecretSource, SecretsError, SecretsManagerSource};
use gatebot::testing::signature::{WebhookSecrets, sign_with};
use serde_json::json;

use crate::fake_github::{FakeGitHub, INSTALLATION};

fn key_pem() -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/test-app-key.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("key")
}

fn secrets_manager() -> aws_sdk_secretsmanager::Client {
    let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT").expect(
        "DYNAMODB_TEST_ENDPOINT is not set: `make test` starts moto, which also serves Secrets Manager",
    );
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .http_client(gatebot::testing::aws::http_client())
        .endpoint_url(endpoint)
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "local", "local", None, None, "static",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

fn secret_json(webhook: &str) -> String {
    json!({"webhook_secret": webhook, "app_id": "777", "private_key": key_pem()}).to_string()
}

/// Whether a body signed with `secret` verifies against what the source has.
async fn verifies(source: &SecretsManagerSource, secret: &str) -> bool {
    let body = b"{}";
    let header = sign_with(secret.as_bytes(), body);
    source
        .webhook_secrets()
        .await
        .unwrap()
        .verify(body, Some(header.as_bytes()))
        .is_ok()
}

#[tokio::test]
async fn a_rotated_secret_is_used_once_the_cache_expires() {
    let client = secrets_manager();
    let name = format!("gatebot-rotation-{}", std::process::id());
    let arn = client
        .create_secret()
        .name(&name)
        .secret_string(secret_json("first"))
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let source = SecretsManagerSource::new(client.clone(), arn.clone(), Duration::from_secs(1))
        .await
        .unwrap();
    assert!(verifies(&source, "first").await);
    // Rotation, step one: the new secret and the old one, side by side.
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(secret_json("second,first"))
        .send()
        .await
        .unwrap();
    assert!(!verifies(&source, "second").await, "cached for the TTL");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        verifies(&source, "second").await,
        "read again after the TTL"
    );
    assert!(verifies(&source, "first").await, "the old one still works");
    assert_eq!(source.app_credentials().await.unwrap().app_id, 777);

    // Secrets Manager answers no more: the last good secret is kept.
    client
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        verifies(&source, "second").await,
        "kept when a re-read fails"
    );
}

#[tokio::test]
async fn a_missing_secret_fails_the_cold_start() {
    let client = secrets_manager();
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf".to_string();
    assert!(
        SecretsManagerSource::new(client, missing, Duration::from_secs(60))
            .await
            .is_err()
    );
}

/// A source whose App credentials a test changes.
struct Rotating(Mutex<AppCredentials>);

#[async_trait]
impl SecretSource for Rotating {
    async fn webhook_secrets(&self) -> Result<WebhookSecrets, SecretsError> {
        Err(SecretsError::NoWebhookSecret)
    }
    async fn app_credentials(&self) -> Result<AppCredentials, SecretsError> {
        Ok(self.0.lock().unwrap().clone())
    }
}

#[tokio::test]
async fn changed_app_credentials_give_new_github_clients() {
    let github = FakeGitHub::start().await;
    let source = Arc::new(Rotating(Mutex::new(AppCredentials {
        app_id: 777,
        private_key_pem: key_pem(),
    })));
    let gh = OctoGitHub::from_source(&github.uri(), source.clone())
        .await
        .unwrap();
    let repo = gatebot::testing::github::RepoRef {
        name: gatebot::testing::domain::RepoName::parse("acme/widgets").unwrap(),
        installation: Some(INSTALLATION),
    };
    // Reads that need the installation token.
    let read = || async { gh.file(&repo, ".github/gatebot.yml", "main").await.unwrap() };
    read().await;
    read().await;
    assert_eq!(github.world().tokens_issued, 1, "the token is cached");
    source.0.lock().unwrap().app_id = 778;
    read().await;
    assert_eq!(
        github.world().tokens_issued,
        2,
        "new credentials, new client and token"
    );
    assert_eq!(gh.app_id(), Some(778));
}

/// `gatebot serve` builds its secrets as the Lambda does: with
/// `GATEBOT_SECRET_ARN` set, the webhook secret comes from Secrets Manager
/// (and a `GITHUB_WEBHOOK_SECRET` left in the environment is not used).
#[tokio::test]
async fn serve_reads_the_webhook_secret_from_secrets_manager() {
    let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT").expect("moto: `make test` starts it");
    let client = secrets_manager();
    let arn = client
        .create_secret()
        .name(format!("gatebot-serve-{}", std::process::id()))
        .secret_string(secret_json("from-secrets-manager"))
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("serve.db").display());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatebot"))
        .args(["serve", "--dry-run", "--store", &store, "--addr", &addr])
        .env("GATEBOT_SECRET_ARN", &arn)
        .env("GITHUB_WEBHOOK_SECRET", "from-the-environment")
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://{addr}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ping = |secret: &str| {
        let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_vec();
        http.post(format!("{url}/webhook"))
            .header("X-GitHub-Event", "ping")
            .header("X-GitHub-Delivery", format!("serve-secret-{secret}"))
            .header("X-Hub-Signature-256", sign_with(secret.as_bytes(), &body))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let from_manager = ping("from-secrets-manager")
        .await
        .map(|r| r.status().as_u16());
    let from_env = ping("from-the-environment")
        .await
        .map(|r| r.status().as_u16());
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "gatebot serve did not become ready");
    assert_eq!(from_manager.unwrap(), 200);
    assert_eq!(from_env.unwrap(), 401);
}
