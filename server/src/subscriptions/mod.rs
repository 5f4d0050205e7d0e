//! Webhook subscriptions: a target URL, custom headers, and the channels and trigger events to
//! deliver. Lab users manage their own; org admins see all of their organisation's and may
//! (de)activate or delete any. Every change is audited in its own transaction.

mod changes;
pub mod rules;

pub use changes::{
    create, deactivate_unregistered_targets, delete, rotate_secret, set_active, update,
    ROTATION_OVERLAP_MS,
};

use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;
use serde_json::{json, Value as Json};
use sqlx::{SqliteConnection, SqlitePool};

use crate::{
    auth::CurrentUser,
    devices::{self, DeviceWithChannels},
    domain::{
        headers::Headers,
        target_url::{is_allowed, TargetUrl},
        EventType,
    },
    settings::{registered_urls, require_webhooks_enabled},
    Error, Result,
};

/// Rows per page on the overview.
pub const PER_PAGE: u32 = 50;

/// Why a subscription is inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactiveReason {
    /// Switched off with its toggle.
    User,
    /// Its target URL no longer matches a registered URL.
    TargetNotRegistered,
    /// The receiver answered 410 Gone.
    Gone,
}

impl InactiveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            InactiveReason::User => "user",
            InactiveReason::TargetNotRegistered => "target_not_registered",
            InactiveReason::Gone => "gone",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "user" => Some(InactiveReason::User),
            "target_not_registered" => Some(InactiveReason::TargetNotRegistered),
            "gone" => Some(InactiveReason::Gone),
            _ => None,
        }
    }
}

/// One selected trigger event, with names for people.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TriggerRow {
    pub subscription_id: i64,
    pub device_id: i64,
    pub device_name: String,
    pub channel_id: i64,
    pub channel_name: String,
    pub event_type: String,
}

/// The outcome of the most recent delivery, for the overview.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LastDelivery {
    pub subscription_id: i64,
    pub status: String,
    pub at: i64,
    pub http_status: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub owner_id: i64,
    pub owner_name: String,
    pub display_name: String,
    pub url: String,
    pub headers: Headers,
    pub active: bool,
    pub inactive_reason: Option<InactiveReason>,
    /// Whether the target still matches a registered URL.
    pub target_registered: bool,
    pub triggers: Vec<TriggerRow>,
    pub last_delivery: Option<LastDelivery>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Subscription {
    /// What people call it: the display name, or the URL when there is none.
    pub fn name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.url
        } else {
            &self.display_name
        }
    }

    /// The audit trail's picture of it (header secrets are masked by the audit module).
    fn snapshot(&self) -> Json {
        json!({
            "display_name": self.display_name,
            "url": self.url,
            "active": self.active,
            "headers": self.headers.to_json(),
            "triggers": self.triggers.iter().map(|t| json!({
                "device": t.device_name, "channel": t.channel_name, "event": t.event_type,
            })).collect::<Vec<_>>(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionPage {
    pub items: Vec<Subscription>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

/// A subscription just created, with its signing secret: the only time it is shown.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: i64,
    pub name: String,
    pub secret: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    owner_id: i64,
    owner_name: String,
    display_name: String,
    url: String,
    headers: String,
    active: bool,
    inactive_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const SELECT: &str =
    "SELECT s.id, s.owner_id, u.name AS owner_name, s.display_name, s.url, s.headers,
        s.active, s.inactive_reason, s.created_at, s.updated_at
     FROM subscriptions s JOIN users u ON u.id = s.owner_id";

/// "Subscription `s` is visible to the user bound as ?1 (organisation), ?2 (is org admin),
/// ?3 (user id)": admins see the organisation's, lab users their own.
const VISIBLE: &str = "s.organisation_id = ?1 AND (?2 OR s.owner_id = ?3)";

/// Generates a Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

async fn complete(
    conn: &mut SqliteConnection,
    organisation_id: i64,
    rows: Vec<Row>,
) -> Result<Vec<Subscription>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let ids = Json::from(rows.iter().map(|r| r.id).collect::<Vec<_>>()).to_string();
    let triggers: Vec<TriggerRow> = sqlx::query_as(
        "SELECT t.subscription_id, t.device_id, d.name AS device_name, t.channel_id,
                c.name AS channel_name, t.event_type
         FROM subscription_triggers t
         JOIN devices d ON d.id = t.device_id
         JOIN channels c ON c.id = t.channel_id
         WHERE t.subscription_id IN (SELECT value FROM json_each(?))
         ORDER BY d.name COLLATE NOCASE, c.id, t.event_type",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    // Within a channel, events in the pop-up's order rather than alphabetically.
    let mut triggers = triggers;
    triggers.sort_by_key(|t| {
        (
            t.subscription_id,
            t.device_name.to_lowercase(),
            t.channel_id,
            EventType::parse(&t.event_type),
        )
    });
    let last: Vec<LastDelivery> = sqlx::query_as(
        "SELECT d.subscription_id, d.status, d.updated_at AS at, d.last_http_status AS http_status
         FROM deliveries d
         WHERE d.id IN (SELECT MAX(id) FROM deliveries
                        WHERE subscription_id IN (SELECT value FROM json_each(?))
                        GROUP BY subscription_id)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let registered = registered_urls(conn, organisation_id).await?;
    Ok(rows
        .into_iter()
        .map(|r| Subscription {
            target_registered: TargetUrl::parse(&r.url)
                .map(|u| is_allowed(&registered, &u))
                .unwrap_or(false),
            triggers: triggers
                .iter()
                .filter(|t| t.subscription_id == r.id)
                .cloned()
                .collect(),
            last_delivery: last.iter().find(|l| l.subscription_id == r.id).cloned(),
            headers: Headers::from_json(&r.headers),
            inactive_reason: r.inactive_reason.as_deref().and_then(InactiveReason::parse),
            id: r.id,
            owner_id: r.owner_id,
            owner_name: r.owner_name,
            display_name: r.display_name,
            url: r.url,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// The overview: newest first, `PER_PAGE` at a time.
pub async fn list(pool: &SqlitePool, user: &CurrentUser, page: u32) -> Result<SubscriptionPage> {
    require_webhooks_enabled(pool, user).await?;
    let page = page.max(1);
    let mut conn = pool.acquire().await?;
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM subscriptions s WHERE {VISIBLE}"
    ))
    .bind(user.organisation_id)
    .bind(user.is_org_admin())
    .bind(user.id)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE {VISIBLE} ORDER BY s.id DESC LIMIT ?4 OFFSET ?5"
    ))
    .bind(user.organisation_id)
    .bind(user.is_org_admin())
    .bind(user.id)
    .bind(PER_PAGE)
    .bind(i64::from(page - 1) * i64::from(PER_PAGE))
    .fetch_all(&mut *conn)
    .await?;
    let items = complete(&mut conn, user.organisation_id, rows).await?;
    Ok(SubscriptionPage {
        items,
        page,
        per_page: PER_PAGE,
        total,
    })
}

async fn find(conn: &mut SqliteConnection, user: &CurrentUser, id: i64) -> Result<Subscription> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE s.id = ?4 AND {VISIBLE}"))
        .bind(user.organisation_id)
        .bind(user.is_org_admin())
        .bind(user.id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let row = row.ok_or_else(|| Error::not_found("Subscription"))?;
    Ok(complete(conn, user.organisation_id, vec![row])
        .await?
        .pop()
        .expect("BUG: one row in, one subscription out"))
}

/// A subscription the user may see (their own; any of the organisation's for an org admin).
pub async fn get(pool: &SqlitePool, user: &CurrentUser, id: i64) -> Result<Subscription> {
    require_webhooks_enabled(pool, user).await?;
    let mut conn = pool.acquire().await?;
    find(&mut conn, user, id).await
}

/// A subscription opened for editing: only its owner may.
pub async fn get_for_edit(pool: &SqlitePool, user: &CurrentUser, id: i64) -> Result<Subscription> {
    let s = get(pool, user, id).await?;
    require_owner(user, &s)?;
    Ok(s)
}

/// Only the owner edits a subscription (its channels are chosen from what the owner may see).
fn require_owner(user: &CurrentUser, s: &Subscription) -> Result<()> {
    if s.owner_id == user.id {
        Ok(())
    } else {
        Err(Error::forbidden(format!(
            "Only {} can change this subscription; you can switch it off or delete it.",
            s.owner_name
        )))
    }
}

/// The devices and channels the user may subscribe to (the Selected Channels pop-up).
pub async fn catalogue(pool: &SqlitePool, user: &CurrentUser) -> Result<Vec<DeviceWithChannels>> {
    require_webhooks_enabled(pool, user).await?;
    devices::visible_devices(pool, user).await
}

/// Event types as the overview summarises them.
pub fn event_label(raw: &str) -> &str {
    EventType::parse(raw).map(EventType::label).unwrap_or(raw)
}
