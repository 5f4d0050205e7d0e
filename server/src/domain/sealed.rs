//! Secrets at rest: signing secrets and secret header values are stored sealed with
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`), under a key kept outside the database,
//! so that a copied database file neither forges webhooks nor reads receivers' API keys.
//!
//! Stored form: `sealed:v1:` + base64url(24-byte random nonce ‖ ciphertext ‖ tag). The
//! version lets a later key or algorithm live beside this one.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    XChaCha20Poly1305, XNonce,
};

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;

/// The key that seals and opens stored secrets.
#[derive(Clone)]
pub struct SecretsKey {
    cipher: XChaCha20Poly1305,
    /// Names the key without revealing it (see [`SecretsKey::id`]).
    id: String,
    /// The seed of the records' signing key (see [`SecretsKey::records_seed`]).
    records_seed: [u8; 32],
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(…)")
    }
}

/// Why a stored value cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the value is not sealed")]
    NotSealed,
    #[error("the sealed value is damaged, or was sealed with another key")]
    WrongKeyOrDamaged,
}

/// Why a key file's contents are not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a secrets key is 32 bytes written as base64 on one line")]
pub struct BadKey;

impl SecretsKey {
    pub fn generate() -> Self {
        Self::from_bytes(&XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"labhook secrets key id\0")
            .chain_update(bytes)
            .finalize();
        let records_seed = Sha256::new()
            .chain_update(b"labhook records signing key\0")
            .chain_update(bytes)
            .finalize()
            .into();
        Self {
            cipher: XChaCha20Poly1305::new_from_slice(bytes).expect("BUG: the key is 32 bytes"),
            id: digest[..8].iter().map(|b| format!("{b:02x}")).collect(),
            records_seed,
        }
    }

    /// A short name for the key (16 hex digits of a hash of it, which reveals nothing of it):
    /// the database records it, so that an instance started with another key is refused.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The seed of the Ed25519 key that signs the records' checkpoints, derived from this key:
    /// every instance that shares the secrets key file signs with the same key, and one file
    /// stays the one thing an operator keeps safe (docs/records.md).
    pub fn records_seed(&self) -> [u8; 32] {
        self.records_seed
    }

    /// Reads a key file's contents (base64, surrounding white space ignored); returns the key
    /// and what a new file should contain.
    pub fn parse(contents: &str) -> Result<Self, BadKey> {
        let bytes = URL_SAFE_NO_PAD
            .decode(contents.trim().trim_end_matches('='))
            .map_err(|_| BadKey)?;
        if bytes.len() != 32 {
            return Err(BadKey);
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// A new key and the contents of its file.
    pub fn generate_file_contents() -> (Self, String) {
        let bytes = XChaCha20Poly1305::generate_key(&mut OsRng);
        (
            Self::from_bytes(&bytes),
            format!("{}\n", URL_SAFE_NO_PAD.encode(bytes)),
        )
    }

    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// Seals a secret for storage; a fresh random nonce each time.
    pub fn seal(&self, plain: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .expect("BUG: sealing in memory cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a stored secret.
    pub fn open(&self, stored: &str) -> Result<String, Unreadable> {
        let encoded = stored.strip_prefix(PREFIX).ok_or(Unreadable::NotSealed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| Unreadable::WrongKeyOrDamaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(Unreadable::WrongKeyOrDamaged);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| Unreadable::WrongKeyOrDamaged)?;
        String::from_utf8(plain).map_err(|_| Unreadable::WrongKeyOrDamaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_their_key_only_and_never_repeat() {
        let key = SecretsKey::generate();
        let a = key.seal("whsec_abc");
        let b = key.seal("whsec_abc");
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(SecretsKey::is_sealed(&a) && !a.contains("whsec_abc"));
        assert_eq!(key.open(&a).unwrap(), "whsec_abc");
        assert_eq!(
            SecretsKey::generate().open(&a),
            Err(Unreadable::WrongKeyOrDamaged)
        );
        assert_eq!(key.open("whsec_abc"), Err(Unreadable::NotSealed));
        let mut tampered = a.clone();
        tampered.pop();
        tampered.push(if a.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open(&tampered), Err(Unreadable::WrongKeyOrDamaged));
    }

    #[test]
    fn a_key_is_named_by_an_id_that_differs_between_keys() {
        let (key, contents) = SecretsKey::generate_file_contents();
        assert_eq!(key.id().len(), 16);
        assert_eq!(SecretsKey::parse(&contents).unwrap().id(), key.id());
        assert_ne!(SecretsKey::generate().id(), key.id());
        assert!(!contents.contains(key.id()));
    }

    #[test]
    fn key_files_round_trip_and_bad_ones_are_refused() {
        let (key, contents) = SecretsKey::generate_file_contents();
        let again = SecretsKey::parse(&contents).unwrap();
        assert_eq!(again.open(&key.seal("x")).unwrap(), "x");
        assert_eq!(SecretsKey::parse("short").unwrap_err(), BadKey);
        assert_eq!(SecretsKey::parse("").unwrap_err(), BadKey);
    }
}
