//! Signing in and out, sessions, and who the caller is.

mod passwords;
pub mod scope;
mod sessions;
mod throttle;

pub use passwords::hash_password;
pub use sessions::SessionToken;

use sqlx::SqlitePool;

use crate::{
    clock::now_ms,
    domain::{Email, Role},
    AppState, Error, Result,
};

/// The signed-in user, as every service sees the caller.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CurrentUser {
    pub id: i64,
    pub organisation_id: i64,
    pub organisation_name: String,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
}

impl TryFrom<String> for Role {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Role::parse(&s)
    }
}

impl CurrentUser {
    pub fn is_org_admin(&self) -> bool {
        self.role == Role::OrgAdmin
    }

    /// Refuses callers who are not organisation administrators.
    pub fn require_org_admin(&self) -> Result<()> {
        if self.is_org_admin() {
            Ok(())
        } else {
            Err(Error::forbidden(
                "Only an organisation administrator can do this.",
            ))
        }
    }
}

/// Checks the credentials and opens a session. Wrong email and wrong password give the same
/// error and take the same time; repeated failures for one address are slowed down.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<(CurrentUser, SessionToken)> {
    let pool = &state.pool;
    let email = Email::parse(email).map_err(|_| Error::InvalidCredentials)?;
    let now = now_ms();
    if let Some(retry_after) = throttle::wait_required(pool, &email, now).await? {
        return Err(Error::TooManyAttempts { retry_after });
    }

    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = ?")
            .bind(email.as_str())
            .fetch_optional(pool)
            .await?;
    let (user_id, hash) = match row {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    let password_ok = passwords::verify(password, hash).await?;
    let user_id = match (user_id, password_ok) {
        (Some(id), true) => id,
        _ => {
            state
                .write(move |conn| {
                    Box::pin(async move { throttle::record_failure(conn, &email, now).await })
                })
                .await?;
            return Err(Error::InvalidCredentials);
        }
    };

    let ttl = state.config.session_ttl;
    let token = state
        .write(move |conn| {
            Box::pin(async move {
                throttle::clear(conn, &email).await?;
                sessions::create(conn, user_id, now, ttl).await
            })
        })
        .await?;
    let user = sessions::user_for(pool, &token, now)
        .await?
        .ok_or_else(|| anyhow::anyhow!("session vanished right after it was created"))?;
    Ok((user, token))
}

/// Ends the session. Unknown or expired tokens are fine: the result is the same.
pub async fn sign_out(state: &AppState, token: &SessionToken) -> Result<()> {
    let token = token.clone();
    state
        .write(move |conn| Box::pin(async move { sessions::delete(conn, &token).await }))
        .await
}

/// The user a session token belongs to, if the session is still valid.
pub async fn user_for_session(
    pool: &SqlitePool,
    token: &SessionToken,
) -> Result<Option<CurrentUser>> {
    sessions::user_for(pool, token, now_ms()).await
}

/// Signs a user out everywhere.
pub async fn end_all_sessions(pool: &SqlitePool, user_id: i64) -> Result<()> {
    sessions::delete_all_for_user(pool, user_id).await
}

/// Removes expired sessions and stale failure counters; run now and then.
pub async fn prune(state: &AppState) -> Result<()> {
    let now = now_ms();
    state
        .write(move |conn| {
            Box::pin(async move {
                sessions::delete_expired(conn, now).await?;
                throttle::forget_older_than(conn, now - 24 * 3600 * 1000).await
            })
        })
        .await
}
