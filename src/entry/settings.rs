//! Settings from the environment (see the README's table), parsed once at
//! start-up into typed values with clear errors.

use std::path::PathBuf;

use crate::adapters::secrets::AppCredentials;
use crate::core::signature::WebhookSecrets;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Where state is kept: `sqlite:PATH` or `dynamodb:TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    Sqlite(PathBuf),
    Dynamodb(String),
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreUrl::Dynamodb(table) => write!(f, "dynamodb:{table}"),
        }
    }
}

impl StoreUrl {
    /// A store URL given by `name` (`--store` or `GATEBOT_STORE`), which
    /// its error names.
    pub(crate) fn parse_from(s: &str, name: &'static str) -> Result<Self, SettingsError> {
        match s.split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => Ok(StoreUrl::Sqlite(PathBuf::from(path))),
            Some(("dynamodb", table)) if !table.is_empty() => {
                Ok(StoreUrl::Dynamodb(table.to_string()))
            }
            _ => {
                // A bare file name is the usual slip: say what was meant.
                let hint = if !s.contains(':') && !s.trim().is_empty() {
                    format!("; for a SQLite file, write sqlite:{s}")
                } else {
                    String::new()
                };
                Err(SettingsError::Invalid {
                    name,
                    why: format!(
                        "unknown store {s:?}: expected sqlite:PATH or dynamodb:TABLE{hint}"
                    ),
                })
            }
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, SettingsError> {
        Self::parse_from(s, "GATEBOT_STORE")
    }

    /// `GATEBOT_STORE`, else `dynamodb:$TABLE_NAME` on Lambda, else
    /// `sqlite:gatebot.db`.
    pub(crate) fn from_env() -> Result<Self, SettingsError> {
        Ok(Self::chosen(None)?.0)
    }

    /// The store `flag` (`--store`) names, else as [`Self::from_env`]
    /// says, with where the choice came from.
    pub(crate) fn chosen(flag: Option<&str>) -> Result<(Self, &'static str), SettingsError> {
        if let Some(s) = flag {
            return Ok((Self::parse_from(s, "--store")?, "--store"));
        }
        if let Some(s) = var("GATEBOT_STORE") {
            return Ok((Self::parse(&s)?, "GATEBOT_STORE"));
        }
        if var("AWS_LAMBDA_RUNTIME_API").is_some()
            && let Some(table) = var("TABLE_NAME")
        {
            return Ok((StoreUrl::Dynamodb(table), "TABLE_NAME"));
        }
        Ok((StoreUrl::Sqlite(PathBuf::from("gatebot.db")), "the default"))
    }
}

pub(crate) fn webhook_secrets() -> Result<WebhookSecrets, SettingsError> {
    let raw =
        var("GITHUB_WEBHOOK_SECRET").ok_or(SettingsError::Missing("GITHUB_WEBHOOK_SECRET"))?;
    WebhookSecrets::parse(&raw).map_err(|e| SettingsError::Invalid {
        name: "GITHUB_WEBHOOK_SECRET",
        why: e.to_string(),
    })
}

pub(crate) fn api_url() -> String {
    var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_string())
}

pub(crate) fn app_credentials() -> Result<AppCredentials, SettingsError> {
    let id = var("GITHUB_APP_ID").ok_or(SettingsError::Missing("GITHUB_APP_ID"))?;
    let app_id = id.trim().parse().map_err(|_| SettingsError::Invalid {
        name: "GITHUB_APP_ID",
        why: "not a number".into(),
    })?;
    let private_key_pem = match (
        var("GITHUB_APP_PRIVATE_KEY"),
        var("GITHUB_APP_PRIVATE_KEY_PATH"),
    ) {
        (Some(pem), _) => pem.replace("\\n", "\n"),
        (None, Some(path)) => {
            std::fs::read_to_string(&path).map_err(|e| SettingsError::Invalid {
                name: "GITHUB_APP_PRIVATE_KEY_PATH",
                why: format!("{path}: {e}"),
            })?
        }
        (None, None) => {
            return Err(SettingsError::Missing(
                "GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH",
            ));
        }
    };
    Ok(AppCredentials {
        app_id,
        private_key_pem,
    })
}

pub(crate) fn listen_addr() -> String {
    format!(
        "{}:{}",
        var("APP_HOST").unwrap_or_else(|| "127.0.0.1".into()),
        var("APP_PORT").unwrap_or_else(|| "8080".into())
    )
}

pub fn log_level() -> String {
    var("LOG_LEVEL").unwrap_or_else(|| "info".into())
}

pub fn log_format() -> String {
    var("LOG_FORMAT").unwrap_or_else(|| {
        if var("AWS_LAMBDA_RUNTIME_API").is_some() {
            "json".into()
        } else {
            "pretty".into()
        }
    })
}

/// `GATEBOT_SECRET_ARN`: the Secrets Manager secret holding the webhook
/// secret and the App's key, if they are kept there.
pub(crate) fn secret_arn() -> Option<String> {
    var("GATEBOT_SECRET_ARN")
}

/// `GATEBOT_SECRET_TTL_SECS`: how long secrets read from Secrets Manager
/// are kept before they are read again.
pub(crate) fn secret_ttl() -> Result<Option<std::time::Duration>, SettingsError> {
    var("GATEBOT_SECRET_TTL_SECS")
        .map(|s| {
            s.trim()
                .parse()
                .map(std::time::Duration::from_secs)
                .map_err(|_| SettingsError::Invalid {
                    name: "GATEBOT_SECRET_TTL_SECS",
                    why: format!("{s:?} is not a number of seconds"),
                })
        })
        .transpose()
}

/// `GATEBOT_RATE_LIMIT_FLOOR`: below this many requests left of an
/// installation's GitHub rate limit, gatebot defers what can wait (check-run
/// updates that complete nothing, the reconciler's look at PRs in flight).
/// Default 500 (a tenth of the 5,000 an installation gets an hour); 0 never
/// defers.
pub(crate) fn rate_limit_floor() -> Result<u64, SettingsError> {
    match var("GATEBOT_RATE_LIMIT_FLOOR") {
        None => Ok(DEFAULT_RATE_LIMIT_FLOOR),
        Some(s) => s.trim().parse().map_err(|_| SettingsError::Invalid {
            name: "GATEBOT_RATE_LIMIT_FLOOR",
            why: format!("{s:?} is not a number of requests"),
        }),
    }
}

/// See [`rate_limit_floor`].
pub(crate) const DEFAULT_RATE_LIMIT_FLOOR: u64 = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert_eq!(
            StoreUrl::parse("sqlite:/tmp/x.db").unwrap(),
            StoreUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            StoreUrl::parse("dynamodb:gatebot").unwrap(),
            StoreUrl::Dynamodb("gatebot".into())
        );
        for bad in ["", "sqlite:", "postgres:x", "gatebot.db"] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
