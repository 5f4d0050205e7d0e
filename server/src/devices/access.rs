//! Which lab users may see which devices. Org admins see everything of their organisation and
//! grant or revoke access for lab users, one device at a time.

use crate::db::{Conn, Pool};
use serde_json::json;

use super::{organisation_device, organisation_device_in};
use crate::{
    audit::{self, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    Error, Result,
};

/// A lab user of the organisation and whether they may see the device.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Grant {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub granted: bool,
}

pub async fn list(pool: &Pool, admin: &CurrentUser, device_id: i64) -> Result<Vec<Grant>> {
    let device = organisation_device(pool, admin, device_id).await?;
    Ok(crate::db::with_db!(pool, db, engine => sqlx::query_as(
        &format!("SELECT u.id AS user_id, u.name, u.email,
                EXISTS (SELECT 1 FROM device_access a WHERE a.user_id = u.id AND a.device_id = $1) AS granted
         FROM users u WHERE u.organisation_id = $2 AND u.role = 'lab_user' AND u.deactivated_at IS NULL
         ORDER BY {nc_u_name}", nc_u_name = crate::db::dialect::nocase(engine, "u.name")),
    )
    .bind(device.id)
    .bind(admin.organisation_id)
    .fetch_all(db)
    .await)?)
}

/// A change of access that happened.
#[derive(Debug, Clone)]
pub struct AccessChange {
    pub user_id: i64,
    pub device_id: i64,
    pub device_name: String,
    pub granted: bool,
}

/// Grants or revokes one lab user's access to one device, in the caller's transaction, with
/// its audit entry. Both must be of the admin's organisation. `None` when nothing changed.
/// What a revocation means for the user's subscriptions is decided above this layer
/// (`subscriptions::set_device_access`), in the same transaction.
pub async fn set_in(
    conn: &mut Conn,
    admin: &CurrentUser,
    device_id: i64,
    user_id: i64,
    granted: bool,
) -> Result<Option<AccessChange>> {
    let device = organisation_device_in(&mut *conn, admin, device_id).await?;
    let lab_user: Option<(i64, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT id, email FROM users WHERE id = $1 AND organisation_id = $2 AND role = 'lab_user'",
    )
    .bind(user_id)
    .bind(admin.organisation_id)
    .fetch_optional(db)
    .await)?;
    let (user_id, email) = lab_user.ok_or_else(|| Error::not_found("Lab user"))?;
    let changed = if granted {
        crate::db::with_db!(conn, db => sqlx::query(
            "INSERT INTO device_access (user_id, device_id, granted_at, granted_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(device.id)
        .bind(now_ms())
        .bind(admin.id)
        .execute(db)
        .await
        .map(crate::db::Done::from))?
    } else {
        crate::db::with_db!(conn, db => sqlx::query("DELETE FROM device_access WHERE user_id = $1 AND device_id = $2")
            .bind(user_id)
            .bind(device.id)
            .execute(db)
            .await
            .map(crate::db::Done::from))?
    };
    if changed.rows_affected() == 0 {
        return Ok(None);
    }
    audit::record_by(
        &mut *conn,
        admin,
        Entry {
            kind: AuditKind::Device,
            action: if granted {
                "access granted"
            } else {
                "access revoked"
            },
            subject: device.name.clone(),
            before: Some(json!({ "user": email, "access": !granted })),
            after: Some(json!({ "user": email, "access": granted })),
        },
    )
    .await?;
    Ok(Some(AccessChange {
        user_id,
        device_id: device.id,
        device_name: device.name,
        granted,
    }))
}

/// Grants access without an acting admin (demo data).
pub async fn grant_initial(pool: &Pool, user_id: i64, device_id: i64) -> Result<()> {
    crate::db::with_db!(pool, db => sqlx::query(
        "INSERT INTO device_access (user_id, device_id, granted_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(device_id)
    .bind(now_ms())
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(())
}
