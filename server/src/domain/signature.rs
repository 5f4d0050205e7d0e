//! Standard Webhooks signatures (https://www.standardwebhooks.com/): `v1,` + base64 of
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the secret's bytes.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A subscription's signing secret, decoded from its `whsec_…` form.
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    pub fn parse(whsec: &str) -> Option<Self> {
        let raw = whsec.strip_prefix(PREFIX).unwrap_or(whsec);
        STANDARD
            .decode(raw)
            .ok()
            .filter(|b| !b.is_empty())
            .map(Self)
    }

    /// One signature: `v1,<base64>`.
    pub fn sign(&self, webhook_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
        let mac = self.mac(webhook_id, timestamp_secs, body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// Whether one of the `v1,` signatures of a `webhook-signature` header is this secret's
    /// (compared in constant time), as a receiver checks it.
    pub fn verifies(
        &self,
        webhook_id: &str,
        timestamp_secs: i64,
        body: &[u8],
        header: &str,
    ) -> bool {
        header.split(' ').any(|entry| {
            entry
                .strip_prefix("v1,")
                .and_then(|s| STANDARD.decode(s).ok())
                .is_some_and(|signature| {
                    self.mac(webhook_id, timestamp_secs, body)
                        .verify_slice(&signature)
                        .is_ok()
                })
        })
    }

    /// HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`.
    fn mac(&self, webhook_id: &str, timestamp_secs: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("BUG: HMAC takes any key length");
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_secs.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(•••)")
    }
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` header: the current secret's signature and, during a rotation, the
/// previous secret's too, space-separated as the specification allows.
pub fn signature_header(
    current: &SigningSecret,
    previous: Option<&SigningSecret>,
    webhook_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> String {
    let mut header = current.sign(webhook_id, timestamp_secs, body);
    if let Some(previous) = previous {
        header.push(' ');
        header.push_str(&previous.sign(webhook_id, timestamp_secs, body));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_verifies_any_of_the_signatures_and_nothing_else() {
        let secret = SigningSecret::parse(&generate_secret()).unwrap();
        let other = SigningSecret::parse(&generate_secret()).unwrap();
        let header = signature_header(&other, Some(&secret), "msg_1", 1_700_000_000, b"{}");
        assert!(secret.verifies("msg_1", 1_700_000_000, b"{}", &header));
        assert!(!secret.verifies("msg_1", 1_700_000_001, b"{}", &header));
        assert!(!secret.verifies("msg_1", 1_700_000_000, b"{ }", &header));
        assert!(!secret.verifies("msg_1", 1_700_000_000, b"{}", "v1,bm9wZQ== v2,x"));
    }

    #[test]
    fn matches_the_specifications_example() {
        // The example of the Standard Webhooks specification.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let a = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let b = SigningSecret::parse(&generate_secret()).unwrap();
        let h = signature_header(&b, Some(&a), "msg_1", 1, b"{}");
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(
            parts,
            [b.sign("msg_1", 1, b"{}"), a.sign("msg_1", 1, b"{}")]
        );
    }

    #[test]
    fn refuses_secrets_that_are_not_base64() {
        assert!(SigningSecret::parse("whsec_not base64!").is_none());
        assert!(SigningSecret::parse("whsec_").is_none());
    }
}
