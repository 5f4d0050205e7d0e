//! An organisation's webhook settings as everything else reads them: whether the feature is
//! on, and which target URLs may receive data. Org admins change them through [`crate::admin`].

use crate::db::{Conn, Pool};

use crate::{
    auth::CurrentUser,
    domain::{target_url::RegisteredUrl, TimeZoneName},
    Error, Result,
};

pub const WEBHOOKS_DISABLED: &str =
    "Webhooks are not enabled for your organisation — ask an organisation administrator.";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RegisteredEntry {
    pub id: i64,
    pub url: String,
    pub note: String,
    pub created_at: i64,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub enabled: bool,
    pub registered: Vec<RegisteredEntry>,
    /// Whether every change needs a reason (see `audit::record`).
    pub reasons_required: bool,
    pub time_zone: TimeZoneName,
}

pub async fn webhooks_enabled(pool: &Pool, organisation_id: i64) -> Result<bool> {
    Ok(
        crate::db::with_db!(pool, db => sqlx::query_scalar("SELECT webhooks_enabled FROM organisations WHERE id = $1")
            .bind(organisation_id)
            .fetch_optional(db)
            .await)?
            .unwrap_or(false),
    )
}

/// Refuses every webhook action of an organisation that has the feature switched off.
pub async fn require_webhooks_enabled(pool: &Pool, user: &CurrentUser) -> Result<()> {
    if webhooks_enabled(pool, user.organisation_id).await? {
        Ok(())
    } else {
        Err(Error::forbidden(WEBHOOKS_DISABLED))
    }
}

/// The organisation's registered URLs, parsed, for matching targets against.
pub async fn registered_urls(conn: &mut Conn, organisation_id: i64) -> Result<Vec<RegisteredUrl>> {
    let rows: Vec<String> = crate::db::with_db!(conn, db => sqlx::query_scalar("SELECT url FROM registered_urls WHERE organisation_id = $1")
            .bind(organisation_id)
            .fetch_all(db)
            .await)?;
    // Stored URLs were normalised on save; one that no longer parses allows nothing.
    Ok(rows
        .iter()
        .filter_map(|u| RegisteredUrl::parse(u).ok())
        .collect())
}

pub async fn webhook_settings(pool: &Pool, admin: &CurrentUser) -> Result<WebhookSettings> {
    admin.require_org_admin()?;
    let enabled = webhooks_enabled(pool, admin.organisation_id).await?;
    let registered = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT r.id, r.url, r.note, r.created_at, u.name AS created_by
         FROM registered_urls r LEFT JOIN users u ON u.id = r.created_by
         WHERE r.organisation_id = $1 ORDER BY r.url",
    )
    .bind(admin.organisation_id)
    .fetch_all(db)
    .await)?;
    let (reasons_required, time_zone): (bool, String) = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT reasons_required, time_zone FROM organisations WHERE id = $1",
    )
    .bind(admin.organisation_id)
    .fetch_one(db)
    .await)?;
    let time_zone = TimeZoneName::from_stored(&time_zone);
    Ok(WebhookSettings {
        enabled,
        registered,
        reasons_required,
        time_zone,
    })
}

/// The organisation's time zone (UTC until an admin sets one).
pub async fn time_zone(conn: &mut Conn, organisation_id: i64) -> Result<TimeZoneName> {
    let name: Option<String> = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "SELECT time_zone FROM organisations WHERE id = $1",
    )
    .bind(organisation_id)
    .fetch_optional(db)
    .await)?;
    Ok(name.map_or_else(TimeZoneName::utc, |n| TimeZoneName::from_stored(&n)))
}
