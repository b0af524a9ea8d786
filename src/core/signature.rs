//! Webhook signature verification: HMAC-SHA256 of the raw body, compared in
//! constant time against `X-Hub-Signature-256`, with several secrets
//! accepted at once so a secret can be rotated without dropping deliveries.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery's signature was refused. Never says which secret matched
/// or how close a guess was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("malformed X-Hub-Signature-256 header")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
}

/// The webhook secrets currently accepted (comma-separated in
/// `GITHUB_WEBHOOK_SECRET`; blanks are dropped).
#[derive(Clone)]
pub struct WebhookSecrets(Vec<Vec<u8>>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} configured)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("GITHUB_WEBHOOK_SECRET holds no secret")]
pub struct NoSecrets;

impl WebhookSecrets {
    pub fn parse(value: &str) -> Result<Self, NoSecrets> {
        let secrets: Vec<Vec<u8>> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect();
        if secrets.is_empty() {
            Err(NoSecrets)
        } else {
            Ok(WebhookSecrets(secrets))
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks `header` (`sha256=<hex>`) against every secret. Each
    /// comparison is constant-time (`Mac::verify_slice`).
    pub fn verify(&self, body: &[u8], header: Option<&[u8]>) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex_sig = header
            .strip_prefix(b"sha256=")
            .ok_or(SignatureError::Malformed)?;
        let expected = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
        if expected.len() != 32 {
            return Err(SignatureError::Malformed);
        }
        let mut ok = false;
        for secret in &self.0 {
            // Hmac accepts keys of any length; this cannot fail.
            let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
                continue;
            };
            mac.update(body);
            // Check every secret so timing does not reveal which one matched.
            ok |= mac.verify_slice(&expected).is_ok();
        }
        if ok {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// The header value GitHub would send for `body` under the first secret
    /// (used by `gatebot send` and tests).
    pub fn sign(&self, body: &[u8]) -> String {
        sign_with(&self.0[0], body)
    }
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn sign_with(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented test vector ("Validating webhook deliveries").
    const GH_SECRET: &str = "It's a Secret to Everybody";
    const GH_BODY: &[u8] = b"Hello, World!";
    const GH_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_documented_test_vector() {
        let secrets = WebhookSecrets::parse(GH_SECRET).unwrap();
        assert_eq!(secrets.sign(GH_BODY), GH_SIG);
        assert_eq!(secrets.verify(GH_BODY, Some(GH_SIG.as_bytes())), Ok(()));
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let secrets = WebhookSecrets::parse(&format!("new-secret, {GH_SECRET}")).unwrap();
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets.verify(GH_BODY, Some(GH_SIG.as_bytes())), Ok(()));
        let new_sig = sign_with(b"new-secret", GH_BODY);
        assert_eq!(secrets.verify(GH_BODY, Some(new_sig.as_bytes())), Ok(()));
    }

    #[test]
    fn refusals() {
        let secrets = WebhookSecrets::parse(GH_SECRET).unwrap();
        assert_eq!(secrets.verify(GH_BODY, None), Err(SignatureError::Missing));
        assert_eq!(
            secrets.verify(GH_BODY, Some(b"sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            secrets.verify(GH_BODY, Some(b"sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            secrets.verify(GH_BODY, Some(b"sha256=abcd")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            secrets.verify(b"Hello, World?", Some(GH_SIG.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        let wrong = sign_with(b"wrong", GH_BODY);
        assert_eq!(
            secrets.verify(GH_BODY, Some(wrong.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn empty_secret_list_is_an_error() {
        assert!(WebhookSecrets::parse("").is_err());
        assert!(WebhookSecrets::parse(" , ").is_err());
    }
}
