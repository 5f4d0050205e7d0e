//! People from the server's command line (`labhook create-user`, `reset-password`): audited
//! like an administrator's changes, with the operator's `--reason`.

use crate::{
    api_tokens,
    audit::{self, Actor, AuditKind, Entry},
    auth::{end_all_sessions, Hashing},
    db::Pool,
    domain::{Email, Password, Reason},
    orgs::{self, NewUser},
    Error, Result,
};

/// Adds a user from the command line (`labhook create-user`), with the password given there;
/// audited like a person added on the Users page.
pub async fn create_user_from_command_line(
    pool: &Pool,
    user: NewUser,
    reason: Option<&Reason>,
) -> Result<i64> {
    let hash = Hashing::one_at_a_time().hash(&user.password).await?;
    let mut tx = pool.begin_write().await?;
    let id = orgs::insert_user(&mut tx, &user, hash).await?;
    audit::record(
        &mut tx,
        user.organisation_id,
        Actor::CommandLine(reason),
        Entry {
            kind: AuditKind::User,
            action: "added",
            subject: user.name.clone(),
            before: None,
            after: Some(
                serde_json::json!({ "email": user.email.as_str(), "role": user.role.as_str() }),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
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
