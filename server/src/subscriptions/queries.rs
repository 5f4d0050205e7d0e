//! Reading subscriptions: the overview, one subscription, and what may be subscribed to.
//! Lab users see their own; org admins all of their organisation's.

use crate::db::{Conn, Pool};

use super::model::{Subscription, TriggerRow};
use crate::{
    auth::{
        scope::{self, Scoped},
        CurrentUser,
    },
    deliveries,
    devices::{self, DeviceWithChannels},
    domain::{
        delivery::InactiveReason,
        headers::Headers,
        sealed::SecretsKey,
        target_url::{is_allowed, TargetUrl},
        EventType,
    },
    paging::{Page, PageRequest},
    settings::{registered_urls, require_webhooks_enabled},
    AppState, Error, Result,
};

/// Rows per page on the overview.
pub const PER_PAGE: u32 = 50;

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    owner_id: i64,
    owner_name: String,
    display_name: String,
    url: String,
    headers: String,
    active: bool,
    use_replies: bool,
    inactive_reason: Option<String>,
    overflowed: i64,
    overflow_since: Option<i64>,
    failing_since: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const SELECT: &str =
    "SELECT s.id, s.owner_id, u.name AS owner_name, s.display_name, s.url, s.headers,
        s.active, s.use_replies, s.inactive_reason, s.overflowed, s.overflow_since, s.failing_since, s.created_at, s.updated_at
     FROM subscriptions s JOIN users u ON u.id = s.owner_id";

/// Rows made whole: triggers, last delivery, whether the target is still registered.
async fn complete(
    conn: &mut Conn,
    key: &SecretsKey,
    organisation_id: i64,
    rows: Vec<Row>,
) -> Result<Vec<Subscription>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let subscription_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let ids = serde_json::to_string(&subscription_ids).expect("BUG: ids serialise");
    let triggers: Vec<TriggerRow> = crate::db::with_db!(conn, db, engine => sqlx::query_as(
        &format!("SELECT t.subscription_id, t.device_id, d.name AS device_name, t.channel_id,
                c.name AS channel_name, t.event_type, t.lost_access_reason, t.lost_access_at,
                d.archived_at IS NOT NULL AS device_archived, t.options, c.unit
         FROM subscription_triggers t
         JOIN devices d ON d.id = t.device_id
         JOIN channels c ON c.id = t.channel_id
         WHERE t.subscription_id IN {ids1}
         ORDER BY {nc_d_name}, c.id, t.event_type", ids1 = crate::db::dialect::ids(engine, 1), nc_d_name = crate::db::dialect::nocase(engine, "d.name")),
    )
    .bind(&ids)
    .fetch_all(db)
    .await)?;
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
    let last = deliveries::last_of(&mut *conn, &subscription_ids).await?;
    let day_ago = crate::clock::now_ms() - 24 * 3_600_000;
    let health = deliveries::health_of(&mut *conn, &subscription_ids, day_ago).await?;
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
            health: health.iter().find(|h| h.subscription_id == r.id).cloned(),
            headers: Headers::from_stored(&r.headers, key),
            inactive_reason: r.inactive_reason.as_deref().and_then(InactiveReason::parse),
            id: r.id,
            owner_id: r.owner_id,
            owner_name: r.owner_name,
            display_name: r.display_name,
            url: r.url,
            active: r.active,
            use_replies: r.use_replies,
            overflowed: r.overflowed,
            overflow_since: r.overflow_since,
            failing_since: r.failing_since,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// The overview: newest first, `PER_PAGE` at a time.
pub async fn list(state: &AppState, user: &CurrentUser, page: u32) -> Result<Page<Subscription>> {
    list_page(state, user, PageRequest::new(page, PER_PAGE), false).await
}

/// Any page of the subscriptions the user may see, newest or oldest first (the API's).
pub async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    page: PageRequest,
    oldest_first: bool,
) -> Result<Page<Subscription>> {
    let pool = &state.pool;
    require_webhooks_enabled(pool, user).await?;
    let mut conn = pool.acquire().await?;
    let total: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM subscriptions s WHERE {}",
        scope::SUBSCRIPTION
    ))
    .scoped(user)
    .fetch_one(db)
    .await)?;
    // The order written out, not chosen by a parameter: an expression would sort every row.
    let rows: Vec<Row> = crate::db::with_db!(conn, db => sqlx::query_as(&format!(
        "{SELECT} WHERE {} ORDER BY s.id {} LIMIT $4 OFFSET $5",
        scope::SUBSCRIPTION,
        if oldest_first { "ASC" } else { "DESC" },
    ))
    .scoped(user)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await)?;
    let items = complete(&mut conn, &state.secrets, user.organisation_id, rows).await?;
    Ok(page.of(items, total))
}

/// A subscription the user may see, inside a transaction.
pub(super) async fn find(
    conn: &mut Conn,
    key: &SecretsKey,
    user: &CurrentUser,
    id: i64,
) -> Result<Subscription> {
    let row: Option<Row> = crate::db::with_db!(conn, db => sqlx::query_as(&format!(
        "{SELECT} WHERE s.id = $4 AND {}",
        scope::SUBSCRIPTION
    ))
    .scoped(user)
    .bind(id)
    .fetch_optional(db)
    .await)?;
    let row = row.ok_or_else(|| Error::not_found("Subscription"))?;
    Ok(complete(conn, key, user.organisation_id, vec![row])
        .await?
        .pop()
        .expect("BUG: one row in, one subscription out"))
}

/// A subscription the user may see (their own; any of the organisation's for an org admin).
pub async fn get(state: &AppState, user: &CurrentUser, id: i64) -> Result<Subscription> {
    require_webhooks_enabled(&state.pool, user).await?;
    let mut conn = state.pool.acquire().await?;
    find(&mut conn, &state.secrets, user, id).await
}

/// A subscription opened for editing: only its owner may.
pub async fn get_for_edit(state: &AppState, user: &CurrentUser, id: i64) -> Result<Subscription> {
    let s = get(state, user, id).await?;
    require_owner(user, &s)?;
    Ok(s)
}

/// Only the owner edits a subscription (its channels are chosen from what the owner may see).
pub(super) fn require_owner(user: &CurrentUser, s: &Subscription) -> Result<()> {
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
pub async fn catalogue(pool: &Pool, user: &CurrentUser) -> Result<Vec<DeviceWithChannels>> {
    require_webhooks_enabled(pool, user).await?;
    devices::visible_devices(pool, user).await
}

/// Event types as the overview summarises them.
pub fn event_label(raw: &str) -> &str {
    EventType::parse(raw).map(EventType::label).unwrap_or(raw)
}
