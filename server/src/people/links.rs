//! One-time links to set a password: a new user's first, or after an org admin reset it.
//! The link is shown once to the admin, who hands it over; only a hash of its token is
//! stored, it works once, for [`LINK_TTL_MS`], and a newer link replaces the older one.

use std::net::IpAddr;

use crate::db::Conn;
use serde_json::json;

use crate::{
    audit::{self, Actor, AuditKind, Entry},
    auth::{admit_password_link, end_all_sessions, Hashing, SessionToken},
    clock::now_ms,
    domain::Password,
    AppState, Error, Result,
};

/// How long a link works: a week, long enough to reach someone on leave for a few days.
pub const LINK_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Where the set-password page is; the token follows as `?token=`.
pub const SET_PASSWORD_PATH: &str = "/set-password";

/// A link just made: shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordLink {
    /// `/set-password?token=…` (the page prefixes its own address).
    pub path: String,
    pub expires_at: i64,
}

/// Makes a new link for the user, replacing any older one, in the caller's transaction.
pub(super) async fn issue(conn: &mut Conn, user_id: i64) -> Result<PasswordLink> {
    let token = SessionToken::generate();
    let now = now_ms();
    crate::db::with_db!(conn, db => sqlx::query("DELETE FROM password_links WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    crate::db::with_db!(conn, db => sqlx::query(
        "INSERT INTO password_links (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token.hashed())
    .bind(user_id)
    .bind(now)
    .bind(now + LINK_TTL_MS)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(PasswordLink {
        path: format!("{SET_PASSWORD_PATH}?token={}", token.expose()),
        expires_at: now + LINK_TTL_MS,
    })
}

fn link_not_valid() -> Error {
    Error::invalid(
        "token",
        "This link is not valid any more: it was used, replaced by a newer one, or it expired. Ask an organisation administrator for a new one.",
    )
}

/// Whose link this is, if it still works: the set-password page greets them by name. Anyone
/// may ask, so it counts against the client's per-address limit.
pub async fn link_owner(state: &AppState, token: &str, client: Option<IpAddr>) -> Result<String> {
    admit_password_link(state, client)?;
    owner_of(state, token).await
}

async fn owner_of(state: &AppState, token: &str) -> Result<String> {
    let token = SessionToken::from_cookie_value(token.trim()).ok_or_else(link_not_valid)?;
    crate::db::with_db!(&state.pool, db => sqlx::query_scalar(
        "SELECT u.name FROM password_links l JOIN users u ON u.id = l.user_id
         WHERE l.token_hash = $1 AND l.expires_at > $2 AND u.deactivated_at IS NULL",
    )
    .bind(token.hashed())
    .bind(now_ms())
    .fetch_optional(db)
    .await)?
    .ok_or_else(link_not_valid)
}

/// Sets the password of the link's user; the link is used up and their sessions end.
///
/// Anyone may call this, so it costs little until the link is known to work: the client's
/// per-address limit first, then the link is looked up (one indexed read), and only then is
/// the password hashed — in the server's bounded hashing pool, before taking the writer's
/// turn. The link is checked again when it is used up, in the write.
pub async fn set_password(
    state: &AppState,
    token: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<()> {
    admit_password_link(state, client)?;
    owner_of(state, token).await?;
    let token = SessionToken::from_cookie_value(token.trim()).ok_or_else(link_not_valid)?;
    let password = Password::parse(password)?;
    let hash = Hashing::of(state).hash(&password).await?;
    state
        .write(move |conn| {
            Box::pin(async move {
                let row: Option<(i64, i64, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
                    "DELETE FROM password_links WHERE token_hash = $1 AND expires_at > $2
                       AND user_id IN (SELECT id FROM users WHERE deactivated_at IS NULL)
                     RETURNING user_id,
                       (SELECT organisation_id FROM users WHERE id = user_id),
                       (SELECT name FROM users WHERE id = user_id)",
                )
                .bind(token.hashed())
                .bind(now_ms())
                .fetch_optional(db)
                .await)?;
                let (user_id, organisation_id, name) = row.ok_or_else(link_not_valid)?;
                crate::db::with_db!(conn, db => sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(&hash)
                    .bind(user_id)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?;
                end_all_sessions(conn, user_id).await?;
                audit::record(
                    conn,
                    organisation_id,
                    Actor::Account(user_id, &name),
                    Entry {
                        kind: AuditKind::SignIn,
                        action: "password set with a link",
                        subject: name.clone(),
                        before: None,
                        after: Some(json!({ "sessions": "ended" })),
                    },
                )
                .await
            })
        })
        .await
}
