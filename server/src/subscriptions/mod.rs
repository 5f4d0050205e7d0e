//! Webhook subscriptions: a target URL, custom headers, and the channels and trigger events to
//! deliver. Lab users manage their own; org admins see all of their organisation's and may
//! (de)activate or delete any. Every change is audited in its own transaction.

pub mod rules;

use std::collections::HashMap;

use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;
use serde_json::{json, Value as Json};
use sqlx::{SqliteConnection, SqlitePool};

use self::rules::{validate, ChoosableChannel, SubscriptionInput, ValidSubscription};
use crate::{
    audit::{self, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    devices::{self, DeviceWithChannels},
    dispatcher::outbox::cancel_pending_of_subscription,
    domain::{
        headers::{HeaderValue, Headers},
        target_url::{is_allowed, TargetUrl},
        EventType,
    },
    settings::{registered_urls, require_webhooks_enabled},
    AppState, Error, Result,
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

async fn check(
    conn: &mut SqliteConnection,
    pool: &SqlitePool,
    user: &CurrentUser,
    input: &SubscriptionInput,
    existing: Option<&Subscription>,
) -> Result<ValidSubscription> {
    let registered = registered_urls(conn, user.organisation_id).await?;
    let choosable: HashMap<i64, ChoosableChannel> = devices::visible_devices(pool, user)
        .await?
        .into_iter()
        .flat_map(|d| d.channels)
        .map(|c| {
            (
                c.id,
                ChoosableChannel {
                    device_id: c.device_id,
                    has_range: c.spec.has_range(),
                },
            )
        })
        .collect();
    // A secret header left untouched in the form keeps its stored value.
    let stored = |name: &str| -> Option<HeaderValue> {
        existing?
            .headers
            .iter()
            .find(|h| h.secret && h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.clone())
    };
    validate(input, &registered, &choosable, stored).map_err(Error::Invalid)
}

async fn store_triggers(conn: &mut SqliteConnection, id: i64, v: &ValidSubscription) -> Result<()> {
    sqlx::query("DELETE FROM subscription_triggers WHERE subscription_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for (channel, device, event) in &v.triggers {
        sqlx::query(
            "INSERT INTO subscription_triggers (subscription_id, channel_id, device_id, event_type) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(channel)
        .bind(device)
        .bind(event.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    user: &CurrentUser,
    input: &SubscriptionInput,
) -> Result<Created> {
    require_webhooks_enabled(&state.pool, user).await?;
    let user = user.clone();
    let input = input.clone();
    let pool = state.pool.clone();
    state
        .write(move |tx| {
            Box::pin(async move {
                let user = &user;
                let input = &input;
                let valid = check(&mut *tx, &pool, user, input, None).await?;
                let now = now_ms();
                let secret = generate_secret();
                let id: i64 = sqlx::query_scalar(
        "INSERT INTO subscriptions (organisation_id, owner_id, display_name, url, headers, active,
                                    active_since, secret, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?) RETURNING id",
    )
    .bind(user.organisation_id)
    .bind(user.id)
    .bind(&valid.display_name)
    .bind(valid.url.as_str())
    .bind(valid.headers.to_json().to_string())
    .bind(now)
    .bind(&secret)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
                store_triggers(&mut *tx, id, &valid).await?;
                let created = find(&mut *tx, user, id).await?;
                audit::record(
                    &mut *tx,
                    user,
                    Entry {
                        kind: AuditKind::Subscription,
                        action: "created",
                        subject: subject(&created),
                        before: None,
                        after: Some(created.snapshot()),
                    },
                )
                .await?;
                Ok(Created {
                    id,
                    name: created.name().to_owned(),
                    secret,
                })
            })
        })
        .await
}

fn subject(s: &Subscription) -> String {
    format!("Subscription #{} ({})", s.id, s.name())
}

pub async fn update(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    input: &SubscriptionInput,
) -> Result<()> {
    require_webhooks_enabled(&state.pool, user).await?;
    let user = user.clone();
    let input = input.clone();
    let pool = state.pool.clone();
    state.write(move |tx| Box::pin(async move {
    let user = &user;
    let input = &input;
    let before = find(&mut *tx, user, id).await?;
    require_owner(user, &before)?;
    let valid = check(&mut *tx, &pool, user, input, Some(&before)).await?;
    sqlx::query(
        "UPDATE subscriptions SET display_name = ?, url = ?, headers = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&valid.display_name)
    .bind(valid.url.as_str())
    .bind(valid.headers.to_json().to_string())
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    store_triggers(&mut *tx, id, &valid).await?;
    let after = find(&mut *tx, user, id).await?;
    audit::record(
        &mut *tx,
        user,
        Entry {
            kind: AuditKind::Subscription,
            action: "updated",
            subject: subject(&after),
            before: Some(before.snapshot()),
            after: Some(after.snapshot()),
        },
    )
    .await?;
    Ok(())
    })).await
}

/// The toggle on the overview. Activating needs a target that is (still) registered;
/// deliveries start with events that happen from now on.
pub async fn set_active(state: &AppState, user: &CurrentUser, id: i64, active: bool) -> Result<()> {
    require_webhooks_enabled(&state.pool, user).await?;
    let user = user.clone();
    state.write(move |tx| Box::pin(async move {
    let user = &user;
    let s = find(&mut *tx, user, id).await?;
    if s.active == active {
        return Ok(());
    }
    if active && !s.target_registered {
        return Err(Error::Conflict(format!(
            "{} is not a registered target URL any more, so the subscription cannot be switched on. Ask an organisation administrator to register it.",
            TargetUrl::parse(&s.url).map(|u| u.host().to_owned()).unwrap_or(s.url.clone())
        )));
    }
    sqlx::query(
        "UPDATE subscriptions SET active = ?, inactive_reason = ?, updated_at = ?,
             active_since = CASE WHEN ? THEN ? ELSE active_since END
         WHERE id = ?",
    )
    .bind(active)
    .bind((!active).then_some(InactiveReason::User.as_str()))
    .bind(now_ms())
    .bind(active)
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if !active {
        cancel_pending_of_subscription(&mut *tx, id, "subscription switched off").await?;
    }
    audit::record(
        &mut *tx,
        user,
        Entry {
            kind: AuditKind::Subscription,
            action: if active { "activated" } else { "deactivated" },
            subject: subject(&s),
            before: Some(json!({ "active": s.active })),
            after: Some(json!({ "active": active })),
        },
    )
    .await?;
    Ok(())
    })).await
}

pub async fn delete(state: &AppState, user: &CurrentUser, id: i64) -> Result<()> {
    require_webhooks_enabled(&state.pool, user).await?;
    let user = user.clone();
    state
        .write(move |tx| {
            Box::pin(async move {
                let user = &user;
                let s = find(&mut *tx, user, id).await?;
                // Its delivery log goes with it (the audit trail keeps the record of the subscription).
                sqlx::query("DELETE FROM subscriptions WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                audit::record(
                    &mut *tx,
                    user,
                    Entry {
                        kind: AuditKind::Subscription,
                        action: "deleted",
                        subject: subject(&s),
                        before: Some(s.snapshot()),
                        after: None,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await
}

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// A new signing secret; the previous one keeps signing alongside for 24 hours, so receivers
/// can switch without losing a delivery. Returns the new secret (shown once).
pub async fn rotate_secret(state: &AppState, user: &CurrentUser, id: i64) -> Result<String> {
    require_webhooks_enabled(&state.pool, user).await?;
    let user = user.clone();
    state.write(move |tx| Box::pin(async move {
    let user = &user;
    let s = find(&mut *tx, user, id).await?;
    require_owner(user, &s)?;
    let secret = generate_secret();
    sqlx::query(
        "UPDATE subscriptions SET previous_secret = secret, previous_secret_until = ?, secret = ?, updated_at = ?
         WHERE id = ?",
    )
    .bind(now_ms() + ROTATION_OVERLAP_MS)
    .bind(&secret)
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        user,
        Entry {
            kind: AuditKind::Subscription,
            action: "secret rotated",
            subject: subject(&s),
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(secret)
    })).await
}

/// After a registered URL was removed: every active subscription of the organisation whose
/// target no longer matches is deactivated and marked "target not registered".
pub async fn deactivate_unregistered_targets(
    conn: &mut SqliteConnection,
    admin: &CurrentUser,
) -> Result<usize> {
    let registered = registered_urls(conn, admin.organisation_id).await?;
    let active: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, url, display_name FROM subscriptions WHERE organisation_id = ? AND active = 1",
    )
    .bind(admin.organisation_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut n = 0;
    for (id, url, display_name) in active {
        let allowed = TargetUrl::parse(&url)
            .map(|u| is_allowed(&registered, &u))
            .unwrap_or(false);
        if allowed {
            continue;
        }
        sqlx::query(
            "UPDATE subscriptions SET active = 0, inactive_reason = ?, updated_at = ? WHERE id = ?",
        )
        .bind(InactiveReason::TargetNotRegistered.as_str())
        .bind(now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        cancel_pending_of_subscription(conn, id, "target not registered any more").await?;
        let name = if display_name.is_empty() {
            url.clone()
        } else {
            display_name
        };
        audit::record(
            conn,
            admin,
            Entry {
                kind: AuditKind::Subscription,
                action: "deactivated",
                subject: format!("Subscription #{id} ({name})"),
                before: Some(json!({ "active": true })),
                after: Some(json!({ "active": false, "reason": "target not registered" })),
            },
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

/// Event types as the overview summarises them.
pub fn event_label(raw: &str) -> &str {
    EventType::parse(raw).map(EventType::label).unwrap_or(raw)
}
