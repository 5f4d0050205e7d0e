//! The delivery log (Laboperator's `webhook_logs`): every delivery of a subscription with its
//! status, and every attempt with the request sent and the response (or error) received.
//! Visible to whoever may see the subscription.

use crate::db::{Conn, Pool};

use crate::{
    auth::{
        scope::{self, Scoped},
        CurrentUser,
    },
    domain::webhook::webhook_body,
    paging::{Keyset, Page, PageRequest, Slice},
    settings::require_webhooks_enabled,
    Error, Result,
};

pub const PER_PAGE: u32 = 25;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub subscription_id: i64,
    pub event_id: i64,
    pub event_type: String,
    pub device_name: String,
    pub channel_name: Option<String>,
    pub webhook_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_http_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A test event's delivery ("Send test event").
    pub test: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub number: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub request_headers: String,
    pub response_status: Option<i64>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    /// What became of the receiver's reply, for subscriptions that use it: `stored`,
    /// `checked` (a test event's) or `refused`, with the words saying what or why.
    pub reply_outcome: Option<String>,
    pub reply_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDetail {
    pub delivery: DeliveryRow,
    /// The body every attempt sent.
    pub request_body: String,
    pub attempts: Vec<AttemptRow>,
}

/// The outcome of a subscription's most recent delivery, for the overview.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LastDelivery {
    pub subscription_id: i64,
    pub status: String,
    pub at: i64,
    pub http_status: Option<i64>,
}

/// `{channel_name}`: see [`select`].
const SELECT: &str =
    "SELECT d.id, d.subscription_id, d.event_id, e.event_type, dv.name AS device_name,
        COALESCE(c.name, {channel_name}) AS channel_name, d.webhook_id, d.status, d.attempts, d.next_attempt_at,
        d.last_http_status, d.last_error, d.last_duration_ms, d.created_at, d.updated_at, d.test
     FROM deliveries d
     JOIN subscriptions s ON s.id = d.subscription_id
     JOIN events e ON e.id = d.event_id
     JOIN devices dv ON dv.id = e.device_id
     LEFT JOIN channels c ON c.id = e.channel_id AND c.removed_at IS NULL";

/// Which deliveries the log shows; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// pending, retrying, delivered, failed or cancelled (or several, separated by commas).
    pub status: Option<String>,
    /// An event type as receivers see it (`channel.out_of_range`, or a test's `….test`).
    pub event_type: Option<String>,
    pub device_id: Option<i64>,
    pub channel_id: Option<i64>,
    /// Made at or after / before (ms since the epoch).
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// The delivery columns (a removed channel's name from the event) on `engine`.
fn select(engine: crate::db::Engine) -> String {
    SELECT.replace(
        "{channel_name}",
        &crate::db::dialect::json_text_at(engine, "e.payload", "channel.name"),
    )
}

/// The filter's conditions, on `d` (deliveries) and `e` (events), binding ?7 to ?12.
fn filtered(engine: crate::db::Engine) -> String {
    FILTERED.replace("{statuses}", &crate::db::dialect::texts(engine, 7))
}

/// `{statuses}`: see [`filtered`].
const FILTERED: &str =
    "($7 IS NULL OR d.status IN {statuses}) AND ($8 IS NULL OR e.event_type = $8)
     AND ($9 IS NULL OR e.device_id = $9) AND ($10 IS NULL OR e.channel_id = $10)
     AND ($11 IS NULL OR d.created_at >= $11) AND ($12 IS NULL OR d.created_at < $12)";

/// A slice of a subscription's deliveries, newest first, as the filter narrows them: the page's
/// log, which may hold millions — read from the index at the slice's place, never counted.
pub async fn list(
    pool: &Pool,
    user: &CurrentUser,
    subscription_id: i64,
    filter: &LogFilter,
    at: Keyset,
) -> Result<Slice<DeliveryRow>> {
    let statuses = statuses(filter)?;
    require_visible(pool, user, Some(subscription_id)).await?;
    let f = filter;
    // ?5 and ?6 (an offset's page) are not used here; SQLite allows numbered parameters to skip.
    let rows = crate::db::with_db!(pool, db, engine => sqlx::query_as(&slice_statement(engine, at))
    .scoped(user)
    .bind(subscription_id)
    .bind(Keyset::limit(PER_PAGE))
    .bind(0)
    .bind(&statuses)
    .bind(&f.event_type)
    .bind(f.device_id)
    .bind(f.channel_id)
    .bind(f.since)
    .bind(f.until)
    .bind(at.id())
    .fetch_all(db)
    .await)?;
    Ok(at.slice(rows, PER_PAGE))
}

/// [`list`]'s statement: $4 the subscription, $5 the limit, the filter's ?7 to ?12, $13 the
/// keyset's id.
pub(crate) fn slice_statement(engine: crate::db::Engine, at: Keyset) -> String {
    // SQLite's planner (3.46, with the statistics of a big table) read the newest slice by
    // walking the whole table down from the largest id — 45 ms for a log whose deliveries are
    // older than the rest — where this index finds them at once.
    let select = match engine {
        crate::db::Engine::Sqlite => select(engine).replacen(
            "FROM deliveries d",
            "FROM deliveries d INDEXED BY deliveries_by_subscription",
            1,
        ),
        crate::db::Engine::Postgres => select(engine),
    };
    format!(
        "{select} WHERE d.subscription_id = $4 AND {} AND {filtered} AND {keyset}
         ORDER BY {order} LIMIT $5",
        scope::SUBSCRIPTION,
        filtered = filtered(engine),
        keyset = at.condition("d.id", 13),
        order = at.order("d.id"),
    )
}

/// The statuses asked for, as a JSON array for `{statuses}`.
fn statuses(filter: &LogFilter) -> Result<Option<String>> {
    let statuses: Option<Vec<&str>> = filter
        .status
        .as_deref()
        .map(|s| s.split(',').map(str::trim).collect());
    if let Some(statuses) = &statuses {
        if statuses
            .iter()
            .any(|s| crate::domain::delivery::DeliveryStatus::parse(s).is_none())
        {
            return Err(Error::invalid(
                "status",
                "The status must be pending, retrying, delivered, failed or cancelled.",
            ));
        }
    }
    Ok(statuses.map(|s| serde_json::to_string(&s).expect("BUG: words serialise")))
}

/// Webhooks on, and the subscription (if one is named) one the user may see — not found
/// otherwise, even when it has no deliveries.
async fn require_visible(
    pool: &Pool,
    user: &CurrentUser,
    subscription_id: Option<i64>,
) -> Result<()> {
    require_webhooks_enabled(pool, user).await?;
    if let Some(subscription_id) = subscription_id {
        let visible: Option<i64> = crate::db::with_db!(pool, db => sqlx::query_scalar(&format!(
            "SELECT s.id FROM subscriptions s WHERE s.id = $4 AND {}",
            scope::SUBSCRIPTION
        ))
        .scoped(user)
        .bind(subscription_id)
        .fetch_optional(db)
        .await)?;
        visible.ok_or_else(|| Error::not_found("Subscription"))?;
    }
    Ok(())
}

/// The deliveries of one subscription, or of every subscription the user may see (the
/// API's `webhook_logs`, paged by number with a total), newest or oldest first.
pub async fn list_of(
    pool: &Pool,
    user: &CurrentUser,
    subscription_id: Option<i64>,
    filter: &LogFilter,
    page: PageRequest,
    oldest_first: bool,
) -> Result<Page<DeliveryRow>> {
    let statuses = statuses(filter)?;
    require_visible(pool, user, subscription_id).await?;
    let f = filter;
    // ?5 and ?6 (the page) are not used here; SQLite allows numbered parameters to skip.
    let total: i64 = crate::db::with_db!(pool, db, engine => sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM deliveries d
         JOIN subscriptions s ON s.id = d.subscription_id JOIN events e ON e.id = d.event_id
         WHERE ($4 IS NULL OR d.subscription_id = $4) AND {} AND {filtered}",
        scope::SUBSCRIPTION,
        filtered = filtered(engine),
    ))
    .scoped(user)
    .bind(subscription_id)
    .bind(0)
    .bind(0)
    .bind(&statuses)
    .bind(&f.event_type)
    .bind(f.device_id)
    .bind(f.channel_id)
    .bind(f.since)
    .bind(f.until)
    .fetch_one(db)
    .await)?;
    // The order written out, not chosen by a parameter: an expression would sort every row.
    let items = crate::db::with_db!(pool, db, engine => sqlx::query_as(&format!(
        "{select} WHERE ($4 IS NULL OR d.subscription_id = $4) AND {} AND {filtered}
         ORDER BY d.id {direction} LIMIT $5 OFFSET $6",
        scope::SUBSCRIPTION,
        select = select(engine),
        filtered = filtered(engine),
        direction = if oldest_first { "ASC" } else { "DESC" },
    ))
    .scoped(user)
    .bind(subscription_id)
    .bind(page.limit())
    .bind(page.offset())
    .bind(&statuses)
    .bind(&f.event_type)
    .bind(f.device_id)
    .bind(f.channel_id)
    .bind(f.since)
    .bind(f.until)
    .fetch_all(db)
    .await)?;
    Ok(page.of(items, total))
}

/// One delivery with every attempt.
pub async fn detail(pool: &Pool, user: &CurrentUser, delivery_id: i64) -> Result<DeliveryDetail> {
    require_webhooks_enabled(pool, user).await?;
    let delivery: DeliveryRow = crate::db::with_db!(pool, db, engine => sqlx::query_as(&format!(
        "{select} WHERE d.id = $4 AND {}",
        scope::SUBSCRIPTION,
        select = select(engine),
    ))
    .scoped(user)
    .bind(delivery_id)
    .fetch_optional(db)
    .await)?
    .ok_or_else(|| Error::not_found("Delivery"))?;
    let (event_type, occurred_at, payload): (String, i64, String) = crate::db::with_db!(pool, db => sqlx::query_as("SELECT event_type, occurred_at, payload FROM events WHERE id = $1")
            .bind(delivery.event_id)
            .fetch_one(db)
            .await)?;
    let attempts = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT number, started_at, duration_ms, request_headers, response_status, response_headers,
                response_body, error_kind, error_message, reply_outcome, reply_message
         FROM delivery_attempts WHERE delivery_id = $1 ORDER BY number",
    )
    .bind(delivery_id)
    .fetch_all(db)
    .await)?;
    Ok(DeliveryDetail {
        request_body: webhook_body(&event_type, occurred_at, &payload),
        delivery,
        attempts,
    })
}

/// [`last_of`]'s statement: each subscription's newest delivery found in the index on its own,
/// not the largest id of all their deliveries (which read every one).
pub(crate) fn last_of_statement(engine: crate::db::Engine) -> String {
    format!(
        "SELECT d.subscription_id, d.status, d.updated_at AS at, d.last_http_status AS http_status
         FROM deliveries d
         WHERE d.id IN (SELECT (SELECT MAX(x.id) FROM deliveries x WHERE x.subscription_id = s.id)
                        FROM subscriptions s WHERE s.id IN {ids1})",
        ids1 = crate::db::dialect::ids(engine, 1)
    )
}

/// The most recent delivery of each of these subscriptions (the caller has checked that they
/// are visible).
pub async fn last_of(conn: &mut Conn, subscription_ids: &[i64]) -> Result<Vec<LastDelivery>> {
    Ok(
        crate::db::with_db!(conn, db, engine => sqlx::query_as(&last_of_statement(engine))
    .bind(serde_json::to_string(subscription_ids).expect("BUG: ids serialise"))
    .fetch_all(db)
    .await)?,
    )
}
