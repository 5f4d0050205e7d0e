//! The people of an organisation, managed by its org admins (More → Users): who they are,
//! their role and last sign-in; adding someone (with a one-time link to set their password),
//! changing a role, deactivating and reactivating, resetting a password. The organisation
//! always keeps an active org admin, and no admin can lock themself out. Every change is
//! audited.

mod command_line;
pub mod links;
mod sign_in;

use crate::db::{Conn, Pool};
use serde_json::json;

use crate::{
    api_tokens::revoke_all_of_user,
    audit::{self, Actor, AuditKind, Entry},
    auth::{end_all_sessions, CurrentUser},
    clock::now_ms,
    devices::access::AccessChange,
    domain::{delivery::InactiveReason, parse_name, Email, Role},
    error::ResultExt,
    subscriptions::{deactivate, lose_access_in},
    AppState, Error, FieldError, Result,
};

pub use command_line::{create_user_from_command_line, reset_password_from_command_line};
pub use links::{link_owner, set_password, PasswordLink};
pub use sign_in::sign_in;

/// A person of the organisation, as the Users page lists them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    pub deactivated: bool,
    /// Devices granted to them (org admins see every device anyway).
    pub devices: i64,
}

/// A person as [`Person`] reads it, from `users u`.
const PERSON: &str = "SELECT u.id, u.name, u.email, u.role, u.created_at, u.last_sign_in_at,
        u.deactivated_at IS NOT NULL AS deactivated,
        (SELECT COUNT(*) FROM device_access a WHERE a.user_id = u.id) AS devices
     FROM users u";

/// The people of the admin's organisation, active ones first, by name.
pub async fn list(pool: &Pool, admin: &CurrentUser) -> Result<Vec<Person>> {
    admin.require_org_admin()?;
    Ok(
        crate::db::with_db!(pool, db, engine => sqlx::query_as(&format!(
        "{PERSON} WHERE u.organisation_id = $1
         ORDER BY u.deactivated_at IS NOT NULL, {nc_u_name}"
    , nc_u_name = crate::db::dialect::nocase(engine, "u.name")))
    .bind(admin.organisation_id)
    .fetch_all(db)
    .await)?,
    )
}

/// A person as typed on the Add user form.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct PersonInput {
    pub name: String,
    pub email: String,
    pub role: String,
}

/// Adds a person to the admin's organisation. They set their own password with the link
/// answered here (shown once); until then no password opens the account.
pub async fn add(
    state: &AppState,
    admin: &CurrentUser,
    input: &PersonInput,
) -> Result<(i64, PasswordLink)> {
    admin.require_org_admin()?;
    let mut errors = Vec::new();
    let name = parse_name("name", &input.name, 100)
        .map_err(|e| errors.push(e))
        .ok();
    let email = Email::parse(&input.email).map_err(|e| errors.push(e)).ok();
    let role = Role::parse(&input.role).map_err(|e| errors.push(e)).ok();
    let (Some(name), Some(email), Some(role)) = (name, email, role) else {
        return Err(Error::Invalid(
            errors.into_iter().flat_map(fields).collect(),
        ));
    };
    let admin = admin.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let taken = || {
                    Error::Invalid(vec![FieldError::new(
                        "email",
                        format!("Someone with the email {email} has an account already."),
                    )])
                };
                // No password opens it: "!" is not a hash any check accepts.
                let id: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
                    "INSERT INTO users (organisation_id, email, name, role, password_hash, created_at)
                     VALUES ($1, $2, $3, $4, '!unset', $5) RETURNING id",
                )
                .bind(admin.organisation_id)
                .bind(email.as_str())
                .bind(&name)
                .bind(role.as_str())
                .bind(now_ms())
                .fetch_one(db)
                .await)
                .on_unique_violation("users.email", taken)?;
                let link = links::issue(conn, id).await?;
                audit::record_by(
                    conn,
                    &admin,
                    Entry {
                        kind: AuditKind::User,
                        action: "added",
                        subject: name.clone(),
                        before: None,
                        after: Some(json!({ "email": email.as_str(), "role": role.as_str() })),
                    },
                )
                .await?;
                Ok((id, link))
            })
        })
        .await
}

fn fields(e: Error) -> Vec<FieldError> {
    match e {
        Error::Invalid(f) => f,
        other => vec![FieldError::new("", other.to_string())],
    }
}

/// A person of the admin's organisation, or "not found".
async fn person_in(conn: &mut Conn, admin: &CurrentUser, id: i64) -> Result<Person> {
    crate::db::with_db!(conn, db => sqlx::query_as(&format!(
        "{PERSON} WHERE u.id = $1 AND u.organisation_id = $2"
    ))
    .bind(id)
    .bind(admin.organisation_id)
    .fetch_optional(db)
    .await)?
    .ok_or_else(|| Error::not_found("User"))
}

/// Refuses a change that would leave the organisation without an active org admin, or that
/// an admin makes to their own account (they would lock themself out).
async fn require_admin_kept(
    conn: &mut Conn,
    admin: &CurrentUser,
    person: &Person,
    what: &str,
) -> Result<()> {
    if person.id == admin.id {
        return Err(Error::Conflict(format!(
            "You cannot {what} your own account. Ask another organisation administrator."
        )));
    }
    let other_admins: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE organisation_id = $1 AND role = 'org_admin'
           AND deactivated_at IS NULL AND id <> $2",
    )
    .bind(admin.organisation_id)
    .bind(person.id)
    .fetch_one(db)
    .await)?;
    if person.role == Role::OrgAdmin && !person.deactivated && other_admins == 0 {
        return Err(Error::Conflict(format!(
            "{} is the last organisation administrator: make someone else one first.",
            person.name
        )));
    }
    Ok(())
}

/// Changes a person's role. Made a lab user, they keep only the devices granted to them:
/// their subscriptions' triggers on any other device stop at once, as when access is revoked.
pub async fn change_role(
    state: &AppState,
    admin: &CurrentUser,
    user_id: i64,
    role: &str,
) -> Result<()> {
    admin.require_org_admin()?;
    let role = Role::parse(role)?;
    let admin = admin.clone();
    state
        .write_revoking(move |conn| {
            Box::pin(async move {
                let person = person_in(&mut *conn, &admin, user_id).await?;
                if person.role == role {
                    return Ok(());
                }
                require_admin_kept(conn, &admin, &person, "change the role of").await?;
                crate::db::with_db!(conn, db => sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                    .bind(role.as_str())
                    .bind(person.id)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?;
                if role == Role::LabUser {
                    let ungranted: Vec<(i64, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
                        "SELECT DISTINCT d.id, d.name FROM subscription_triggers t
                         JOIN subscriptions s ON s.id = t.subscription_id
                         JOIN devices d ON d.id = t.device_id
                         WHERE s.owner_id = $1 AND t.lost_access_at IS NULL AND s.deleted_at IS NULL
                           AND NOT EXISTS (SELECT 1 FROM device_access a
                                           WHERE a.user_id = $1 AND a.device_id = d.id)",
                    )
                    .bind(person.id)
                    .fetch_all(db)
                    .await)?;
                    for (device_id, device_name) in ungranted {
                        let change = AccessChange {
                            device_id,
                            device_name: device_name.clone(),
                            user_id: person.id,
                            granted: false,
                        };
                        let reason = format!(
                            "{} is a lab user now, without access to {device_name}",
                            person.name
                        );
                        lose_access_in(conn, &change, &reason, Actor::User(&admin)).await?;
                    }
                }
                audit::record_by(
                    conn,
                    &admin,
                    Entry {
                        kind: AuditKind::User,
                        action: "role changed",
                        subject: person.name,
                        before: Some(json!({ "role": person.role.as_str() })),
                        after: Some(json!({ "role": role.as_str() })),
                    },
                )
                .await
            })
        })
        .await
}

/// Deactivates a person — their sessions end at once, their password links stop working, and
/// their active subscriptions are switched off with that reason — or reactivates them (their
/// subscriptions stay off until switched on again).
pub async fn set_deactivated(
    state: &AppState,
    admin: &CurrentUser,
    user_id: i64,
    deactivated: bool,
) -> Result<()> {
    admin.require_org_admin()?;
    let admin = admin.clone();
    state
        .write_revoking(move |conn| {
            Box::pin(async move {
                let person = person_in(&mut *conn, &admin, user_id).await?;
                if person.deactivated == deactivated {
                    return Ok(());
                }
                if deactivated {
                    require_admin_kept(conn, &admin, &person, "deactivate").await?;
                }
                crate::db::with_db!(conn, db => sqlx::query("UPDATE users SET deactivated_at = $1 WHERE id = $2")
                    .bind(deactivated.then(now_ms))
                    .bind(person.id)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?;
                let mut switched_off = 0;
                let mut tokens_ended = 0;
                if deactivated {
                    end_all_sessions(conn, person.id).await?;
                    tokens_ended = revoke_all_of_user(conn, person.id, now_ms()).await?;
                    crate::db::with_db!(conn, db => sqlx::query("DELETE FROM password_links WHERE user_id = $1")
                        .bind(person.id)
                        .execute(db)
                        .await
                        .map(crate::db::Done::from))?;
                    let active: Vec<i64> = crate::db::with_db!(conn, db => sqlx::query_scalar(
                        "SELECT id FROM subscriptions WHERE owner_id = $1 AND active",
                    )
                    .bind(person.id)
                    .fetch_all(db)
                    .await)?;
                    for id in active {
                        if deactivate(
                            conn,
                            id,
                            InactiveReason::OwnerDeactivated,
                            Actor::User(&admin),
                        )
                        .await?
                        {
                            switched_off += 1;
                        }
                    }
                }
                audit::record_by(
                    conn,
                    &admin,
                    Entry {
                        kind: AuditKind::User,
                        action: if deactivated {
                            "deactivated"
                        } else {
                            "reactivated"
                        },
                        subject: person.name,
                        before: Some(json!({ "active": deactivated })),
                        after: Some(if deactivated {
                            json!({
                                "active": false,
                                "subscriptions switched off": switched_off,
                                "API tokens revoked": tokens_ended,
                            })
                        } else {
                            json!({ "active": true })
                        }),
                    },
                )
                .await
            })
        })
        .await
}

/// Resets a person's password: the old one stops working, their sessions end, and a link to
/// set a new one is answered (shown once).
pub async fn reset_password(
    state: &AppState,
    admin: &CurrentUser,
    user_id: i64,
) -> Result<PasswordLink> {
    admin.require_org_admin()?;
    let admin = admin.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let person = person_in(&mut *conn, &admin, user_id).await?;
                if person.deactivated {
                    return Err(Error::Conflict(format!(
                        "{} is deactivated: reactivate them first.",
                        person.name
                    )));
                }
                crate::db::with_db!(conn, db => sqlx::query("UPDATE users SET password_hash = '!reset' WHERE id = $1")
                    .bind(person.id)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?;
                end_all_sessions(conn, person.id).await?;
                let tokens_ended = revoke_all_of_user(conn, person.id, now_ms()).await?;
                let link = links::issue(conn, person.id).await?;
                audit::record_by(
                    conn,
                    &admin,
                    Entry {
                        kind: AuditKind::User,
                        action: "password reset",
                        subject: person.name,
                        before: None,
                        after: Some(json!({
                            "sessions": "ended",
                            "API tokens revoked": tokens_ended,
                            "link expires": link.expires_at,
                        })),
                    },
                )
                .await?;
                Ok(link)
            })
        })
        .await
}

/// One device and whether the person may see it (the person's page shows their access).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceGrant {
    pub device_id: i64,
    pub name: String,
    pub granted: bool,
}

/// The organisation's devices (archived ones left out) and which the person was granted.
pub async fn devices_of(
    pool: &Pool,
    admin: &CurrentUser,
    user_id: i64,
) -> Result<Vec<DeviceGrant>> {
    admin.require_org_admin()?;
    let mut conn = pool.acquire().await?;
    let person = person_in(&mut conn, admin, user_id).await?;
    Ok(crate::db::with_db!(conn, db, engine => sqlx::query_as(
        &format!("SELECT d.id AS device_id, d.name,
                EXISTS (SELECT 1 FROM device_access a WHERE a.user_id = $1 AND a.device_id = d.id)
                  AS granted
         FROM devices d WHERE d.organisation_id = $2 AND d.archived_at IS NULL
         ORDER BY {nc_d_name}", nc_d_name = crate::db::dialect::nocase(engine, "d.name")),
    )
    .bind(person.id)
    .bind(admin.organisation_id)
    .fetch_all(db)
    .await)?)
}
