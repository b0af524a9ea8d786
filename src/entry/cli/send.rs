//! `gatebot send`: signs delivery files as GitHub would and POSTs them
//! to a running gatebot.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::core::signature::WebhookSecrets;
use crate::entry::settings;

/// A delivery file: GitHub's headers and the raw payload.
#[derive(Deserialize)]
struct DeliveryFile {
    headers: std::collections::BTreeMap<String, String>,
    body: Box<serde_json::value::RawValue>,
}

/// The body to send: the file's bytes, or for an `issue_comment` (unless
/// `keep_times`) the same payload with `comment.created_at` set to now.
fn body_to_send(file: &DeliveryFile, keep_times: bool) -> anyhow::Result<Vec<u8>> {
    let event = file
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-github-event"))
        .map(|(_, v)| v.as_str());
    if keep_times || event != Some("issue_comment") {
        return Ok(file.body.get().as_bytes().to_vec());
    }
    let mut body: serde_json::Value = serde_json::from_str(file.body.get())?;
    if let Some(comment) = body.get_mut("comment").and_then(|c| c.as_object_mut()) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        comment.insert("created_at".into(), serde_json::Value::String(now));
    }
    Ok(serde_json::to_vec(&body)?)
}

pub(super) async fn send(url: &str, files: &[PathBuf], keep_times: bool) -> anyhow::Result<()> {
    let secrets: WebhookSecrets = settings::webhook_secrets()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut failed = 0;
    for path in files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: DeliveryFile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a delivery file ({{\"headers\":…,\"body\":…}})",
                path.display()
            )
        })?;
        let body = body_to_send(&file, keep_times)?;
        let mut req = client.post(url).header("content-type", "application/json");
        for (k, v) in &file.headers {
            if !k.eq_ignore_ascii_case("x-hub-signature-256")
                && !k.eq_ignore_ascii_case("x-hub-signature")
                && !k.eq_ignore_ascii_case("content-type")
            {
                req = req.header(k, v);
            }
        }
        req = req.header("x-hub-signature-256", secrets.sign(&body));
        let resp = match req.body(body).send().await {
            Ok(resp) => resp,
            Err(e) if e.is_connect() || e.is_timeout() => bail!(
                "cannot reach gatebot at {url} ({e}): is it running? Start it with `make run` \
                 (gatebot serve), or point --url at it"
            ),
            Err(e) => return Err(e).with_context(|| format!("POST {url}")),
        };
        let status = resp.status();
        let answer = resp.text().await.unwrap_or_default();
        println!("{} → {} {}", path.display(), status.as_u16(), answer.trim());
        if !status.is_success() {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} of {} deliveries were not accepted", files.len());
    }
    Ok(())
}
