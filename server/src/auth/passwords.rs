//! Argon2id password hashes. Hashing is deliberately slow, so it runs on the blocking pool.

use std::sync::OnceLock;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use crate::{domain::Password, Result};

/// Hashes a new password with Argon2id (the crate's default parameters: 19 MiB, 2 passes).
pub async fn hash_password(password: &Password) -> Result<String> {
    let password = password.expose().to_owned();
    let hash = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .map_err(anyhow::Error::new)??;
    Ok(hash)
}

/// Compares `password` with the stored hash. Without a hash (no such user) it still does the
/// full amount of work against a dummy hash, so the answer time does not reveal the account.
pub(super) async fn verify(password: &str, stored: Option<String>) -> Result<bool> {
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        let (hash, exists) = match stored {
            Some(h) => (h, true),
            None => (dummy_hash().to_owned(), false),
        };
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        matches && exists
    })
    .await
    .map_err(anyhow::Error::new)?;
    Ok(ok)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"no such user, no such password", &salt)
            .expect("BUG: hashing a constant cannot fail")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let hash = hash_password(&Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(hash.clone()))
            .await
            .unwrap());
        assert!(!verify("wrong horse battery", Some(hash)).await.unwrap());
        assert!(!verify("anything", None).await.unwrap());
    }
}
