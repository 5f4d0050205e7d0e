//! The audit trail: who changed what, when, with the state before and after. Written in the
//! same transaction as the change it describes; never edited or deleted (the database refuses).

use serde_json::Value as Json;
use sqlx::{SqliteConnection, SqlitePool};

use crate::{auth::CurrentUser, clock::now_ms, domain::headers::looks_secret, Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Settings,
    RegisteredUrl,
    Device,
    Subscription,
}

impl AuditKind {
    pub const ALL: [AuditKind; 4] = [
        AuditKind::Settings,
        AuditKind::RegisteredUrl,
        AuditKind::Device,
        AuditKind::Subscription,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Settings => "settings",
            AuditKind::RegisteredUrl => "registered_url",
            AuditKind::Device => "device",
            AuditKind::Subscription => "subscription",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AuditKind::Settings => "Organisation settings",
            AuditKind::RegisteredUrl => "Registered URLs",
            AuditKind::Device => "Devices",
            AuditKind::Subscription => "Subscriptions",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// One change, as the code that makes it describes it.
pub struct Entry {
    pub kind: AuditKind,
    /// What happened, as a verb: "enabled", "registered", "updated", "deleted", …
    pub action: &'static str,
    /// What it happened to, for people: a URL, "Subscription #3 (QC LIMS)", a device name.
    pub subject: String,
    pub before: Option<Json>,
    pub after: Option<Json>,
}

/// Appends an entry, inside the transaction of the change. Secret header values are masked.
pub async fn record(conn: &mut SqliteConnection, actor: &CurrentUser, entry: Entry) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (organisation_id, actor_id, actor_name, at, kind, action, subject, before, after)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(actor.organisation_id)
    .bind(actor.id)
    .bind(&actor.name)
    .bind(now_ms())
    .bind(entry.kind.as_str())
    .bind(entry.action)
    .bind(entry.subject)
    .bind(entry.before.map(|j| mask_secrets(j).to_string()))
    .bind(entry.after.map(|j| mask_secrets(j).to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Appends an entry for a change Labhook made by itself (the dispatcher deactivating a
/// subscription whose receiver answered 410 Gone).
pub async fn record_system(
    conn: &mut SqliteConnection,
    organisation_id: i64,
    entry: Entry,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (organisation_id, actor_id, actor_name, at, kind, action, subject, before, after)
         VALUES (?, NULL, 'Labhook (dispatcher)', ?, ?, ?, ?, ?, ?)",
    )
    .bind(organisation_id)
    .bind(now_ms())
    .bind(entry.kind.as_str())
    .bind(entry.action)
    .bind(entry.subject)
    .bind(entry.before.map(|j| mask_secrets(j).to_string()))
    .bind(entry.after.map(|j| mask_secrets(j).to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

pub const MASK: &str = "•••••";

/// Replaces the values of headers that are marked secret, or whose names look secret
/// (Authorization, X-Api-Key, …), wherever a `headers` list appears.
pub fn mask_secrets(mut json: Json) -> Json {
    fn walk(v: &mut Json) {
        match v {
            Json::Object(map) => {
                if let Some(Json::Array(headers)) = map.get_mut("headers") {
                    for h in headers.iter_mut() {
                        let secret = h.get("secret").and_then(Json::as_bool).unwrap_or(false)
                            || h.get("name")
                                .and_then(Json::as_str)
                                .is_some_and(looks_secret);
                        if secret {
                            if let Some(value) = h.get_mut("value") {
                                *value = Json::String(MASK.into());
                            }
                        }
                    }
                }
                for (_, child) in map.iter_mut() {
                    walk(child);
                }
            }
            Json::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut json);
    json
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor_name: String,
    pub kind: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

pub const PER_PAGE: u32 = 25;

/// The organisation's audit trail, newest first, optionally of one kind.
pub async fn list(
    pool: &SqlitePool,
    admin: &CurrentUser,
    kind: Option<AuditKind>,
    page: u32,
) -> Result<AuditPage> {
    admin.require_org_admin()?;
    let page = page.max(1);
    let kind = kind.map(AuditKind::as_str);
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE organisation_id = ? AND (?2 IS NULL OR kind = ?2)",
    )
    .bind(admin.organisation_id)
    .bind(kind)
    .fetch_one(pool)
    .await?;
    let records = sqlx::query_as(
        "SELECT id, at, actor_name, kind, action, subject, before, after FROM audit_log
         WHERE organisation_id = ?1 AND (?2 IS NULL OR kind = ?2)
         ORDER BY id DESC LIMIT ?3 OFFSET ?4",
    )
    .bind(admin.organisation_id)
    .bind(kind)
    .bind(PER_PAGE)
    .bind(i64::from(page - 1) * i64::from(PER_PAGE))
    .fetch_all(pool)
    .await
    .map_err(Error::from)?;
    Ok(AuditPage {
        records,
        page,
        per_page: PER_PAGE,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_secret_and_secret_looking_headers_only() {
        let masked = mask_secrets(json!({
            "url": "https://lims.example.org/",
            "headers": [
                {"name": "X-Lab", "value": "QC", "secret": false},
                {"name": "X-Custom", "value": "hidden", "secret": true},
                {"name": "Authorization", "value": "Bearer abc", "secret": false},
                {"name": "X-Api-Key", "value": "k", "secret": false}
            ]
        }));
        let values: Vec<&str> = masked["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["QC", MASK, MASK, MASK]);
    }
}
