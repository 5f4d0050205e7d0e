//! Signing in, as the audit trail sees it: every attempt on an account — a sign-in, a wrong
//! password, a deactivated account refused — is recorded in its organisation (attempts on
//! unknown addresses belong to no organisation). And the operator's password reset from the
//! command line, audited like an administrator's.

use std::net::IpAddr;

use crate::db::Pool;

use crate::{
    api_tokens,
    audit::{self, Actor, AuditKind, Entry},
    auth::{self, end_all_sessions, CurrentUser, Hashing, SessionToken},
    domain::{Email, Password, Reason},
    AppState, Error, Result,
};

/// Signs in (see [`auth::sign_in`]) and records the attempt when it was on an account.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<(CurrentUser, SessionToken)> {
    let attempt = auth::attempt(state, email, password, client).await;
    let action = match &attempt.outcome {
        Ok(_) => "signed in",
        Err(Error::InvalidCredentials) => "sign-in failed",
        Err(Error::Forbidden(_)) => "sign-in refused (deactivated)",
        // Throttled or busy: nothing was checked.
        Err(_) => return attempt.outcome,
    };
    if let Some(account) = attempt.account {
        state
            .write(move |conn| {
                Box::pin(async move {
                    audit::record(
                        conn,
                        account.organisation_id,
                        Actor::Account(account.id, &account.name),
                        Entry {
                            kind: AuditKind::SignIn,
                            action,
                            subject: account.name.clone(),
                            before: None,
                            after: None,
                        },
                    )
                    .await
                })
            })
            .await?;
    }
    attempt.outcome
}

/// Sets a new password from the command line (`labhook reset-password`), ends the person's
/// sessions and forgets their password links; audited.
pub async fn reset_password_from_command_line(
    pool: &Pool,
    email: &Email,
    password: &Password,
    reason: Option<&Reason>,
) -> Result<()> {
    let hash = Hashing::one_at_a_time().hash(password).await?;
    let mut tx = pool.begin_write().await?;
    let row: Option<(i64, i64, String)> = crate::db::with_db!(tx, db => sqlx::query_as(
        "UPDATE users SET password_hash = $1 WHERE email = $2 RETURNING id, organisation_id, name",
    )
    .bind(hash)
    .bind(email.as_str())
    .fetch_optional(db)
    .await)?;
    let (id, organisation_id, name) = row.ok_or_else(|| Error::not_found("User"))?;
    end_all_sessions(&mut tx, id).await?;
    let tokens_ended = api_tokens::revoke_all_of_user(&mut tx, id, crate::clock::now_ms()).await?;
    crate::db::with_db!(tx, db => sqlx::query("DELETE FROM password_links WHERE user_id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    audit::record(
        &mut tx,
        organisation_id,
        Actor::CommandLine(reason),
        Entry {
            kind: AuditKind::User,
            action: "password reset",
            subject: name,
            before: None,
            after: Some(
                serde_json::json!({ "sessions": "ended", "API tokens revoked": tokens_ended }),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
