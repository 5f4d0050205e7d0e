//! Server Administration: an org admin switches the webhook feature on or off and registers
//! the target URLs that may receive data — each change with its consequences (pending
//! deliveries stopped, subscriptions whose target lost its registration switched off) and its
//! audit entry, in one transaction.

use crate::db::Conn;
use serde_json::json;

use crate::{
    audit::{self, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    deliveries::queue::{cancel_pending, Pending, FEATURE_OFF},
    domain::{target_url::RegisteredUrl, TimeZoneName},
    error::ResultExt,
    settings::{self, RegisteredEntry},
    subscriptions, AppState, Error, Result,
};

/// Switches the webhook feature on or off. While it is off nothing is delivered, and the
/// events of that time are never delivered later: the dispatcher only fans out events that
/// happened after `webhooks_enabled_since`.
pub async fn set_webhooks_enabled(
    state: &AppState,
    admin: &CurrentUser,
    enabled: bool,
) -> Result<()> {
    admin.require_org_admin()?;
    let admin = admin.clone();
    state
        .write_revoking(move |conn| {
            Box::pin(async move { set_webhooks_enabled_in(conn, &admin, enabled).await })
        })
        .await?;
    state.housekeeping_due.notify_one();
    Ok(())
}

async fn set_webhooks_enabled_in(
    conn: &mut Conn,
    admin: &CurrentUser,
    enabled: bool,
) -> Result<()> {
    let was: bool = crate::db::with_db!(conn, db => sqlx::query_scalar("SELECT webhooks_enabled FROM organisations WHERE id = $1")
        .bind(admin.organisation_id)
        .fetch_one(db)
        .await)?;
    if was == enabled {
        return Ok(());
    }
    crate::db::with_db!(conn, db => sqlx::query(
        "UPDATE organisations SET webhooks_enabled = $1,
             webhooks_enabled_since = CASE WHEN $2 THEN $3 ELSE webhooks_enabled_since END
         WHERE id = $4",
    )
    .bind(enabled)
    .bind(enabled)
    .bind(now_ms())
    .bind(admin.organisation_id)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    if !enabled {
        // A first window now; housekeeping stops the rest, and nothing of it is sent
        // meanwhile (the send-time check sees the feature off, and after switching on again
        // what was waiting from before is not sent either).
        cancel_pending(
            &mut *conn,
            Pending::OfOrganisation(admin.organisation_id),
            FEATURE_OFF,
        )
        .await?;
    }
    audit::record_by(
        conn,
        admin,
        Entry {
            kind: AuditKind::Settings,
            action: if enabled { "enabled" } else { "disabled" },
            subject: "Webhook Subscriptions".into(),
            before: Some(json!({ "webhooks_enabled": was })),
            after: Some(json!({ "webhooks_enabled": enabled })),
        },
    )
    .await
}

pub async fn register_url(
    state: &AppState,
    admin: &CurrentUser,
    url: &str,
    note: &str,
) -> Result<RegisteredEntry> {
    admin.require_org_admin()?;
    let url = RegisteredUrl::parse(url).map_err(|e| Error::invalid("url", e.to_string()))?;
    let note = note.trim().to_owned();
    if note.chars().count() > 200 || note.contains(['\r', '\n']) {
        return Err(Error::invalid(
            "note",
            "The note is one line of at most 200 characters.",
        ));
    }
    let admin = admin.clone();
    state
        .write(move |conn| Box::pin(async move { register_url_in(conn, &admin, url, note).await }))
        .await
}

async fn register_url_in(
    conn: &mut Conn,
    admin: &CurrentUser,
    url: RegisteredUrl,
    note: String,
) -> Result<RegisteredEntry> {
    let now = now_ms();
    let id: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "INSERT INTO registered_urls (organisation_id, url, note, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(admin.organisation_id)
    .bind(url.as_str())
    .bind(&note)
    .bind(now)
    .bind(admin.id)
    .fetch_one(db)
    .await)
    .on_unique_violation("registered_urls.organisation_id", || {
        Error::invalid("url", format!("{url} is registered already."))
    })?;
    audit::record_by(
        conn,
        admin,
        Entry {
            kind: AuditKind::RegisteredUrl,
            action: "registered",
            subject: url.to_string(),
            before: None,
            after: Some(json!({ "url": url.as_str(), "note": &note })),
        },
    )
    .await?;
    Ok(RegisteredEntry {
        id,
        url: url.to_string(),
        note,
        created_at: now,
        created_by: Some(admin.name.clone()),
    })
}

/// Removes a registered URL. Subscriptions whose target no longer matches any registered URL
/// are switched off (not deleted) and marked "target not registered", in the same transaction.
pub async fn remove_url(state: &AppState, admin: &CurrentUser, id: i64) -> Result<()> {
    admin.require_org_admin()?;
    let admin = admin.clone();
    state
        .write_revoking(move |conn| Box::pin(async move { remove_url_in(conn, &admin, id).await }))
        .await
}

async fn remove_url_in(conn: &mut Conn, admin: &CurrentUser, id: i64) -> Result<()> {
    let row: Option<(String, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
        "DELETE FROM registered_urls WHERE id = $1 AND organisation_id = $2 RETURNING url, note",
    )
    .bind(id)
    .bind(admin.organisation_id)
    .fetch_optional(db)
    .await)?;
    let (url, note) = row.ok_or_else(|| Error::not_found("Registered URL"))?;
    audit::record_by(
        &mut *conn,
        admin,
        Entry {
            kind: AuditKind::RegisteredUrl,
            action: "removed",
            subject: url.clone(),
            before: Some(json!({ "url": url, "note": note })),
            after: None,
        },
    )
    .await?;
    subscriptions::deactivate_unregistered_targets(conn, admin).await?;
    Ok(())
}

/// Requires a reason for every change in the organisation, or stops requiring one. Recorded
/// under the rule as it was: requiring reasons needs none, no longer requiring them needs one.
pub async fn set_reasons_required(
    state: &AppState,
    admin: &CurrentUser,
    required: bool,
) -> Result<()> {
    admin.require_org_admin()?;
    let admin = admin.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let was = audit::reasons_required(conn, admin.organisation_id).await?;
                if was == required {
                    return Ok(());
                }
                audit::record_by(
                    conn,
                    &admin,
                    Entry {
                        kind: AuditKind::Settings,
                        action: if required {
                            "required"
                        } else {
                            "no longer required"
                        },
                        subject: "Reasons for changes".into(),
                        before: Some(json!({ "reasons_required": was })),
                        after: Some(json!({ "reasons_required": required })),
                    },
                )
                .await?;
                crate::db::with_db!(conn, db => sqlx::query(
                    "UPDATE organisations SET reasons_required = $1 WHERE id = $2",
                )
                .bind(required)
                .bind(admin.organisation_id)
                .execute(db)
                .await
                .map(crate::db::Done::from))?;
                Ok(())
            })
        })
        .await
}

/// Sets the organisation's time zone, in which the records' readable copies show times.
pub async fn set_time_zone(state: &AppState, admin: &CurrentUser, zone: &str) -> Result<()> {
    admin.require_org_admin()?;
    let zone = TimeZoneName::parse(zone)?;
    let admin = admin.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let was = settings::time_zone(conn, admin.organisation_id).await?;
                if was == zone {
                    return Ok(());
                }
                crate::db::with_db!(conn, db => sqlx::query(
                    "UPDATE organisations SET time_zone = $1 WHERE id = $2",
                )
                .bind(zone.as_str())
                .bind(admin.organisation_id)
                .execute(db)
                .await
                .map(crate::db::Done::from))?;
                audit::record_by(
                    conn,
                    &admin,
                    Entry {
                        kind: AuditKind::Settings,
                        action: "changed",
                        subject: "Time zone".into(),
                        before: Some(json!({ "time_zone": was.as_str() })),
                        after: Some(json!({ "time_zone": zone.as_str() })),
                    },
                )
                .await
            })
        })
        .await
}
