//! Server-side sessions: the browser holds a random token, the database a hash of it.

use std::{fmt, time::Duration};

use crate::db::{Conn, Pool};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::CurrentUser;
use crate::Result;

/// The secret a browser presents to prove its session.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The stored form: a hash, so that a copy of the database opens nothing.
    pub(crate) fn hashed(&self) -> Vec<u8> {
        self.hash()
    }

    /// Accepts what a cookie carries; anything that is not one of our tokens is refused
    /// before it reaches the database.
    pub fn from_cookie_value(raw: &str) -> Option<Self> {
        let ok = raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(•••)")
    }
}

pub(super) async fn create(
    conn: &mut Conn,
    user_id: i64,
    now: i64,
    ttl: Duration,
) -> Result<SessionToken> {
    let token = SessionToken::generate();
    crate::db::with_db!(conn, db => sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token.hash())
    .bind(user_id)
    .bind(now)
    .bind(now + ttl.as_millis() as i64)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(token)
}

pub(super) async fn user_for(
    pool: &Pool,
    token: &SessionToken,
    now: i64,
) -> Result<Option<CurrentUser>> {
    let user = crate::db::with_db!(pool, db => sqlx::query_as::<_, CurrentUser>(
        "SELECT u.id, u.organisation_id, o.name AS organisation_name, u.email, u.name, u.role
         FROM sessions s
         JOIN users u ON u.id = s.user_id
         JOIN organisations o ON o.id = u.organisation_id
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.deactivated_at IS NULL",
    )
    .bind(token.hash())
    .bind(now)
    .fetch_optional(db)
    .await)?;
    Ok(user)
}

pub(super) async fn delete(conn: &mut Conn, token: &SessionToken) -> Result<()> {
    crate::db::with_db!(conn, db => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token.hash())
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    Ok(())
}

pub(super) async fn delete_expired(conn: &mut Conn, now: i64) -> Result<()> {
    crate::db::with_db!(conn, db => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    Ok(())
}

/// Ends every session of a user (after a password reset, when deactivated).
pub(crate) async fn delete_all_for_user(conn: &mut Conn, user_id: i64) -> Result<()> {
    crate::db::with_db!(conn, db => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_round_trip_through_the_cookie_parser() {
        let t = SessionToken::generate();
        assert_eq!(SessionToken::from_cookie_value(t.expose()), Some(t));
    }

    #[test]
    fn refuses_foreign_cookie_values() {
        assert!(SessionToken::from_cookie_value("").is_none());
        assert!(SessionToken::from_cookie_value("abc").is_none());
        assert!(SessionToken::from_cookie_value(&"a".repeat(42)).is_none());
        assert!(SessionToken::from_cookie_value(&format!("{}=", "a".repeat(42))).is_none());
    }
}
