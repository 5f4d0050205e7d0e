//! The installation's records key: Ed25519, derived from the secrets key (so every instance
//! that shares the key file signs alike), and its public half for whoever verifies.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::domain::sealed::SecretsKey;

/// What the public key looks like written down.
const PREFIX: &str = "lhrk_";

/// Signs checkpoints and removals.
#[derive(Clone)]
pub struct RecordsKey(SigningKey);

impl std::fmt::Debug for RecordsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordsKey({})", self.public())
    }
}

impl RecordsKey {
    pub fn of(secrets: &SecretsKey) -> Self {
        Self(SigningKey::from_bytes(&secrets.records_seed()))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The signature of `message`, base64.
    pub fn sign(&self, message: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.0.sign(message.as_bytes()).to_bytes())
    }
}

/// The public half: all `verify-records` and `verify-export` need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// Why a text is not a records public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a records public key looks like lhrk_ followed by 43 characters of base64 (`labhook records-key` prints it)")]
pub struct BadPublicKey;

impl PublicKey {
    pub fn parse(text: &str) -> Result<Self, BadPublicKey> {
        let bytes = text
            .trim()
            .strip_prefix(PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .ok_or(BadPublicKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| BadPublicKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| BadPublicKey)
    }

    /// Whether `signature` (base64) is this key's signature of `message`.
    pub fn verifies(&self, message: &str, signature: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.0.verify(message.as_bytes(), &signature).is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_public_key_only() {
        let key = RecordsKey::of(&SecretsKey::generate());
        let public = PublicKey::parse(&key.public().to_string()).unwrap();
        let signature = key.sign("head 1");
        assert!(public.verifies("head 1", &signature));
        assert!(!public.verifies("head 2", &signature));
        let other = RecordsKey::of(&SecretsKey::generate()).public();
        assert!(!other.verifies("head 1", &signature));
        assert!(!public.verifies("head 1", "not base64!"));
        assert_eq!(PublicKey::parse("lhrk_short"), Err(BadPublicKey));
    }

    #[test]
    fn the_same_secrets_key_gives_the_same_records_key() {
        let (secrets, file) = SecretsKey::generate_file_contents();
        let again = SecretsKey::parse(&file).unwrap();
        assert_eq!(
            RecordsKey::of(&secrets).public(),
            RecordsKey::of(&again).public()
        );
    }
}
