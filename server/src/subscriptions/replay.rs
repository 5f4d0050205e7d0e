//! Replay: "send again everything this subscription would have received between A and B" —
//! for the day a LIMS was down longer than the retry window. The events are matched as
//! fan-out matches them (the subscription's triggers, its owner's access), optionally narrowed
//! to one channel or event type, counted before confirming, and then fed into the queue in
//! small steps: a replay never has more than [`AHEAD`] deliveries waiting for its subscription,
//! so live events are never stuck behind it, and the per-subscription in-flight limit keeps
//! its share of the senders small. It shows its progress and can be cancelled. Events older
//! than the delivery retention are gone and cannot be replayed.

use serde_json::json;
use sqlx::SqliteConnection;

use super::queries::get;
use crate::{
    audit::{self, AuditKind, Entry},
    auth::{
        scope::{self, Scoped, OWNER_SEES_EVENT_DEVICE},
        CurrentUser,
    },
    clock::now_ms,
    deliveries::queue::{enqueue, NewDelivery},
    domain::EventType,
    AppState, Error, FieldError, Result,
};

/// Most deliveries of a replay waiting in the queue for its subscription at any time.
pub const AHEAD: i64 = 32;

/// What to replay, as asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayInput {
    /// From (inclusive) and to (exclusive), ms since the epoch, by when the events happened
    /// (were recorded).
    pub since: i64,
    pub until: i64,
    pub channel_id: Option<i64>,
    pub event_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Replay {
    pub id: i64,
    pub subscription_id: i64,
    pub since: i64,
    pub until: i64,
    pub channel_id: Option<i64>,
    pub event_type: Option<String>,
    pub total: i64,
    pub queued: i64,
    pub status: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// The events a replay sends, after `?5`, as fan-out would have matched them: ?1 subscription,
/// ?2 since, ?3 until, ?4 channel or NULL, ?6 event type or NULL, ?7 device-level event types.
fn matching() -> String {
    format!(
        "FROM events e
     JOIN subscriptions s ON s.id = ?1 JOIN users u ON u.id = s.owner_id
     WHERE e.id > ?5 AND e.created_at >= ?2 AND e.created_at < ?3
       AND e.organisation_id = s.organisation_id AND e.caused_by_subscription IS NOT s.id
       AND (?4 IS NULL OR e.channel_id = ?4) AND (?6 IS NULL OR e.event_type = ?6)
       AND {OWNER_SEES_EVENT_DEVICE}
       AND (EXISTS (SELECT 1 FROM subscription_triggers t
                    WHERE t.subscription_id = s.id AND t.lost_access_at IS NULL
                      AND t.channel_id = e.channel_id AND t.event_type = e.event_type)
            OR (e.event_type IN (SELECT value FROM json_each(?7))
                AND EXISTS (SELECT 1 FROM subscription_triggers t
                            WHERE t.subscription_id = s.id AND t.lost_access_at IS NULL
                              AND t.device_id = e.device_id AND t.event_type = e.event_type)))"
    )
}

fn device_level() -> String {
    let types: Vec<&str> = EventType::ALL
        .into_iter()
        .filter(|t| t.is_device_level())
        .map(EventType::as_str)
        .collect();
    serde_json::to_string(&types).expect("BUG: strings serialise")
}

async fn count(conn: &mut SqliteConnection, subscription_id: i64, r: &ReplayInput) -> Result<i64> {
    Ok(
        sqlx::query_scalar(&format!("SELECT COUNT(*) {}", matching()))
            .bind(subscription_id)
            .bind(r.since)
            .bind(r.until)
            .bind(r.channel_id)
            .bind(0)
            .bind(&r.event_type)
            .bind(device_level())
            .fetch_one(conn)
            .await?,
    )
}

/// Checks what was asked against the subscription and the retention.
async fn check(state: &AppState, user: &CurrentUser, id: i64, r: &ReplayInput) -> Result<()> {
    let s = get(state, user, id).await?;
    let now = now_ms();
    let kept_since = now - state.config.dispatcher.retention.as_millis() as i64;
    let mut errors = Vec::new();
    if r.since >= r.until {
        errors.push(FieldError::new(
            "until",
            "The end must come after the start.",
        ));
    }
    if r.since < kept_since {
        let days = state.config.dispatcher.retention.as_secs() / 86_400;
        errors.push(FieldError::new(
            "since",
            format!("Events older than {days} days are no longer kept and cannot be replayed: start later."),
        ));
    }
    if r.since > now {
        errors.push(FieldError::new("since", "The start is in the future."));
    }
    if let Some(channel) = r.channel_id {
        if !s.triggers.iter().any(|t| t.channel_id == channel) {
            errors.push(FieldError::new(
                "channel_id",
                "Choose one of the channels this subscription selected.",
            ));
        }
    }
    if let Some(t) = r.event_type.as_deref() {
        if EventType::parse(t).is_none() {
            errors.push(FieldError::new("event_type", "Unknown event type."));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    if !s.active {
        return Err(Error::Conflict(
            "The subscription is switched off: switch it on before replaying.".into(),
        ));
    }
    Ok(())
}

/// How many events a replay would send.
pub async fn preview(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    r: &ReplayInput,
) -> Result<i64> {
    check(state, user, id, r).await?;
    let mut conn = state.pool.acquire().await?;
    count(&mut conn, id, r).await
}

/// Starts a replay; answers its id. Its deliveries are fed in by the dispatcher.
pub async fn start(state: &AppState, user: &CurrentUser, id: i64, r: &ReplayInput) -> Result<i64> {
    check(state, user, id, r).await?;
    let s = get(state, user, id).await?;
    let (user, r, subject) = (user.clone(), r.clone(), s.subject());
    let replay = state
        .write(move |conn| {
            Box::pin(async move {
                let total = count(conn, id, &r).await?;
                if total == 0 {
                    return Err(Error::Conflict(
                        "There is nothing to replay in this range.".into(),
                    ));
                }
                let replay: i64 = sqlx::query_scalar(
                    "INSERT INTO replays (subscription_id, requested_by, since, until, channel_id,
                         event_type, total, status, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?) RETURNING id",
                )
                .bind(id)
                .bind(user.id)
                .bind(r.since)
                .bind(r.until)
                .bind(r.channel_id)
                .bind(&r.event_type)
                .bind(total)
                .bind(now_ms())
                .fetch_one(&mut *conn)
                .await?;
                audit::record_by(
                    conn,
                    &user,
                    Entry {
                        kind: AuditKind::Subscription,
                        action: "replay started",
                        subject,
                        before: None,
                        after: Some(json!({
                            "replay": replay, "since": r.since, "until": r.until,
                            "channel_id": r.channel_id, "event_type": r.event_type, "events": total,
                        })),
                    },
                )
                .await?;
                Ok(replay)
            })
        })
        .await?;
    state.events_added.notify_one();
    Ok(replay)
}

/// A subscription's replays, newest first.
pub async fn list(state: &AppState, user: &CurrentUser, id: i64) -> Result<Vec<Replay>> {
    get(state, user, id).await?;
    Ok(sqlx::query_as(
        "SELECT id, subscription_id, since, until, channel_id, event_type, total, queued, status,
                created_at, finished_at
         FROM replays WHERE subscription_id = ? ORDER BY id DESC LIMIT 20",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?)
}

/// Stops a replay: nothing more is queued, and what waits is cancelled.
pub async fn cancel(state: &AppState, user: &CurrentUser, replay_id: i64) -> Result<()> {
    let user = user.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let found: Option<(i64, String)> = sqlx::query_as(&format!(
                    "SELECT r.subscription_id, r.status FROM replays r
                     JOIN subscriptions s ON s.id = r.subscription_id
                     WHERE r.id = ?4 AND {}",
                    scope::SUBSCRIPTION
                ))
                .scoped(&user)
                .bind(replay_id)
                .fetch_optional(&mut *conn)
                .await?;
                let (subscription_id, status) = found.ok_or_else(|| Error::not_found("Replay"))?;
                if status != "running" {
                    return Ok(());
                }
                let now = now_ms();
                sqlx::query(
                    "UPDATE replays SET status = 'cancelled', finished_at = ? WHERE id = ?",
                )
                .bind(now)
                .bind(replay_id)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL,
                         last_error = 'replay cancelled', updated_at = ?
                     WHERE replay_id = ? AND next_attempt_at IS NOT NULL AND lease_until IS NULL",
                )
                .bind(now)
                .bind(replay_id)
                .execute(&mut *conn)
                .await?;
                let (name, url): (String, String) =
                    sqlx::query_as("SELECT display_name, url FROM subscriptions WHERE id = ?")
                        .bind(subscription_id)
                        .fetch_one(&mut *conn)
                        .await?;
                audit::record_by(
                    conn,
                    &user,
                    Entry {
                        kind: AuditKind::Subscription,
                        action: "replay cancelled",
                        subject: super::model::subject(
                            subscription_id,
                            &super::model::display_name_or_url(&name, &url),
                        ),
                        before: Some(json!({ "replay": replay_id, "status": "running" })),
                        after: Some(json!({ "replay": replay_id, "status": "cancelled" })),
                    },
                )
                .await
            })
        })
        .await
}

/// A running replay, with how many deliveries its subscription has waiting.
#[derive(sqlx::FromRow)]
struct Running {
    id: i64,
    subscription_id: i64,
    since: i64,
    until: i64,
    channel_id: Option<i64>,
    event_type: Option<String>,
    cursor_event_id: i64,
    waiting: i64,
}

/// One step of every running replay of an active subscription: tops its waiting deliveries up
/// to [`AHEAD`]. Answers how many deliveries were queued.
pub async fn feed(state: &AppState, now: i64) -> Result<usize> {
    // A read first: most of the time nothing is replaying, and the writer is left alone.
    let any: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM replays WHERE status = 'running')")
            .fetch_one(&state.pool)
            .await?;
    if !any {
        return Ok(0);
    }
    state
        .write(move |conn| {
            Box::pin(async move {
                let running: Vec<Running> = sqlx::query_as(
                    "SELECT r.id, r.subscription_id, r.since, r.until, r.channel_id, r.event_type,
                                r.cursor_event_id,
                                (SELECT COUNT(*) FROM deliveries d
                                 WHERE d.subscription_id = r.subscription_id
                                   AND d.next_attempt_at IS NOT NULL) AS waiting
                         FROM replays r JOIN subscriptions s ON s.id = r.subscription_id
                         WHERE r.status = 'running' AND s.active
                         ORDER BY r.id LIMIT 16",
                )
                .fetch_all(&mut *conn)
                .await?;
                let mut queued = 0;
                for Running {
                    id,
                    subscription_id,
                    since,
                    until,
                    channel_id,
                    event_type,
                    cursor_event_id: cursor,
                    waiting,
                } in running
                {
                    let room = AHEAD - waiting;
                    if room <= 0 {
                        continue;
                    }
                    let events: Vec<i64> = sqlx::query_scalar(&format!(
                        "SELECT e.id {} ORDER BY e.id LIMIT ?8",
                        matching()
                    ))
                    .bind(subscription_id)
                    .bind(since)
                    .bind(until)
                    .bind(channel_id)
                    .bind(cursor)
                    .bind(&event_type)
                    .bind(device_level())
                    .bind(room)
                    .fetch_all(&mut *conn)
                    .await?;
                    let deliveries: Vec<NewDelivery> = events
                        .iter()
                        .map(|&event_id| NewDelivery {
                            subscription_id,
                            event_id,
                            lease_until: None,
                            replay_id: Some(id),
                        })
                        .collect();
                    enqueue(&mut *conn, &deliveries, now).await?;
                    queued += deliveries.len();
                    let done = (events.len() as i64) < room;
                    sqlx::query(
                        "UPDATE replays SET queued = queued + ?, cursor_event_id = ?,
                             status = CASE WHEN ? THEN 'done' ELSE status END,
                             finished_at = CASE WHEN ? THEN ? ELSE finished_at END
                         WHERE id = ?",
                    )
                    .bind(events.len() as i64)
                    .bind(events.last().copied().unwrap_or(cursor))
                    .bind(done)
                    .bind(done)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(queued)
            })
        })
        .await
}
