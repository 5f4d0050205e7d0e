//! Signing in and out, sessions, and who the caller is.

mod passwords;
pub mod scope;
mod sessions;
mod throttle;

pub use passwords::Hashing;
pub use sessions::SessionToken;

use std::{net::IpAddr, sync::Arc};

use crate::db::Pool;

use crate::{
    clock::now_ms,
    domain::{Email, Reason, Role},
    rate::AddressLimit,
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
    /// Why this request changes what it changes, when its caller said: every door (pages, API,
    /// command line) attaches it here, so that it reaches the audit trail with the change
    /// however deep the change is made (see [`crate::audit::record`]).
    #[sqlx(skip)]
    pub reason: Option<Reason>,
}

impl TryFrom<String> for Role {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Role::parse(&s)
    }
}

impl CurrentUser {
    /// The same caller, giving `reason` for the changes it makes.
    pub fn because(mut self, reason: Option<Reason>) -> Self {
        self.reason = reason;
        self
    }

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
///
/// Each password check takes ~19 MiB for ~50 ms, so at most [`SignInLimits`] checks run at
/// once (about one per core) and a request waits at most a moment for its turn, else it is
/// told to come back (429); one client address gets a limited number of tries a minute.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<(CurrentUser, SessionToken)> {
    attempt(state, email, password, client).await.outcome
}

/// A sign-in attempt: its outcome, and the account the email belongs to when it belongs to
/// one — the audit trail (kept by `people`, a layer above) records attempts on accounts.
pub struct Attempt {
    pub account: Option<KnownAccount>,
    pub outcome: Result<(CurrentUser, SessionToken)>,
}

/// The account an attempt was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownAccount {
    pub id: i64,
    pub organisation_id: i64,
    pub name: String,
}

/// [`sign_in`], telling whose account was tried.
pub async fn attempt(
    state: &AppState,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Attempt {
    let mut account = None;
    let outcome = attempt_for(state, email, password, client, &mut account).await;
    Attempt { account, outcome }
}

async fn attempt_for(
    state: &AppState,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
    known: &mut Option<KnownAccount>,
) -> Result<(CurrentUser, SessionToken)> {
    let pool = &state.pool;
    if let Some(address) = client {
        SignInLimits::of(state).check(address, "sign-ins")?;
    }
    let email = Email::parse(email).map_err(|_| Error::InvalidCredentials)?;
    // The turn first: an attempt refused because the server is busy is not counted.
    let turn = Hashing::of(state).turn().await?;
    let now = now_ms();
    let admitted = {
        let email = email.clone();
        state
            .write(move |conn| Box::pin(async move { throttle::admit(conn, &email, now).await }))
            .await?
    };
    if let Some(retry_after) = admitted {
        return Err(Error::TooManyAttempts { retry_after });
    }

    let row: Option<Account> = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT id, organisation_id, name, password_hash, deactivated_at IS NOT NULL AS deactivated
         FROM users WHERE email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(db)
    .await)?;
    let password_ok = Hashing::verify_in(
        turn,
        password,
        row.as_ref().map(|a| a.password_hash.clone()),
    )
    .await?;
    *known = row.as_ref().map(|a| KnownAccount {
        id: a.id,
        organisation_id: a.organisation_id,
        name: a.name.clone(),
    });
    // The attempt is counted as a failure already (see `throttle::admit`).
    let account = match row {
        Some(account) if password_ok && !account.deactivated => account,
        Some(_) if password_ok => {
            return Err(Error::forbidden(
                "This account was deactivated. Ask an organisation administrator of your lab.",
            ))
        }
        _ => return Err(Error::InvalidCredentials),
    };

    let ttl = state.config.session_ttl;
    let token = state
        .write(move |conn| {
            Box::pin(async move {
                throttle::clear(conn, &email).await?;
                crate::db::with_db!(conn, db => sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(account.id)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?;
                sessions::create(conn, account.id, now, ttl).await
            })
        })
        .await?;
    let user = sessions::user_for(pool, &token, now)
        .await?
        .ok_or_else(|| anyhow::anyhow!("session vanished right after it was created"))?;
    Ok((user, token))
}

/// What signing in needs to know of an account.
#[derive(sqlx::FromRow)]
struct Account {
    id: i64,
    organisation_id: i64,
    name: String,
    password_hash: String,
    deactivated: bool,
}

/// How often one client address may try a password or a password link: signing in and
/// setting a password with a link are doors anyone can knock on, in a loop.
pub struct SignInLimits(AddressLimit);

impl SignInLimits {
    fn of(state: &AppState) -> Arc<Self> {
        state.part(|state| {
            let per_minute = state.config.sign_ins_per_minute;
            SignInLimits(AddressLimit::per_minute(per_minute, per_minute))
        })
    }

    /// Counts one try of `what` ("sign-ins", "password links") from `address`.
    fn check(&self, address: IpAddr, what: &str) -> Result<()> {
        self.0
            .check(address)
            .map_err(|retry_after| Error::RateLimited {
                message: format!(
                    "Too many {what} from your address. Try again in {} seconds.",
                    retry_after.as_secs().max(1)
                ),
                retry_after,
            })
    }
}

/// Counts one use of a password link from `client` against the same per-address limit as
/// signing in (a made-up link costs one indexed read, but nobody may try them in a loop).
pub fn admit_password_link(state: &AppState, client: Option<IpAddr>) -> Result<()> {
    match client {
        Some(address) => SignInLimits::of(state).check(address, "password links"),
        None => Ok(()),
    }
}

/// Forgets idle addresses of the sign-in limit (housekeeping).
pub fn forget_idle_addresses(state: &AppState) {
    SignInLimits::of(state).0.forget_idle();
}

/// Ends the session. Unknown or expired tokens are fine: the result is the same.
pub async fn sign_out(state: &AppState, token: &SessionToken) -> Result<()> {
    let token = token.clone();
    state
        .write(move |conn| Box::pin(async move { sessions::delete(conn, &token).await }))
        .await
}

/// The user a session token belongs to, if the session is still valid.
pub async fn user_for_session(pool: &Pool, token: &SessionToken) -> Result<Option<CurrentUser>> {
    sessions::user_for(pool, token, now_ms()).await
}

/// Signs a user out everywhere, in the caller's transaction.
pub async fn end_all_sessions(conn: &mut crate::db::Conn, user_id: i64) -> Result<()> {
    sessions::delete_all_for_user(conn, user_id).await
}

/// Removes expired sessions and stale failure counters; run now and then.
pub async fn prune(state: &AppState) -> Result<()> {
    forget_idle_addresses(state);
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
