//! Replay: "send again everything this subscription would have received between A and B" —
//! for the day a LIMS was down longer than the retry window. The events are matched as
//! fan-out matches them (the subscription's triggers, its owner's access), optionally narrowed
//! to one channel or event type, counted before confirming, and then fed into the queue in
//! small steps: a replay never has more than [`AHEAD`] deliveries waiting for its subscription,
//! so live events are never stuck behind it, and the per-subscription in-flight limit keeps
//! its share of the senders small. It shows its progress and can be cancelled. Events older
//! than the delivery retention are gone and cannot be replayed.
//!
//! Nothing of it grows with the data inside the writer: the events are counted on a reader,
//! the time range becomes a range of the organisation's event ids once (by bisection on an
//! index), and each step looks at no more than [`WINDOW`] of those ids, one writer job per
//! replay. A subscription replays one range at a time, an organisation at most
//! [`MAX_RUNNING_PER_ORGANISATION`] at once and [`STARTS_PER_MINUTE`] counts or starts a minute,
//! and the replays of every organisation are fed in turn, least recently fed first.

mod feed;

use std::time::Duration;

pub use feed::feed;

use crate::db::Pool;
use serde_json::json;

use super::queries::get;
use crate::{
    audit::{self, AuditKind, Entry},
    auth::{
        scope::{self, Scoped, OWNER_SEES_EVENT_DEVICE},
        CurrentUser,
    },
    clock::now_ms,
    db::dialect,
    deliveries::queue::{cancel_pending, Pending},
    domain::EventType,
    error::ResultExt,
    rate::KeyedLimit,
    AppState, Error, FieldError, Result,
};

/// Most deliveries of a replay waiting in the queue for its subscription at any time.
pub const AHEAD: i64 = 32;
/// Most of an organisation's event ids one step of a replay looks at.
pub const WINDOW: i64 = 2000;
/// Replays one organisation may have running at once.
pub const MAX_RUNNING_PER_ORGANISATION: i64 = 3;
/// Replays counted (previews) or started per organisation and minute: each count reads the
/// whole range.
pub const STARTS_PER_MINUTE: u32 = 20;
/// Replays fed per round of the dispatcher, each in a writer job of its own.
const FED_PER_ROUND: i64 = 16;

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

/// The events a replay sends with ids after `$5` up to `$8`, as fan-out would have matched
/// them: $1 subscription, $2 since, $3 until, $4 channel or NULL, $6 event type or NULL, $7
/// device-level event types, $9 the subscription's organisation.
pub(super) fn matching(engine: crate::db::Engine) -> String {
    let by_organisation = dialect::indexed_by(engine, "events_by_organisation");
    let device_level = dialect::texts(engine, 7);
    format!(
        "FROM events e {by_organisation}
     JOIN subscriptions s ON s.id = $1 JOIN users u ON u.id = s.owner_id
     WHERE e.organisation_id = $9 AND e.id > $5 AND e.id <= $8
       AND e.created_at >= $2 AND e.created_at < $3 AND e.caused_by_subscription IS DISTINCT FROM s.id
       AND ($4 IS NULL OR e.channel_id = $4) AND ($6 IS NULL OR e.event_type = $6)
       AND {OWNER_SEES_EVENT_DEVICE}
       AND (EXISTS (SELECT 1 FROM subscription_triggers t
                    WHERE t.subscription_id = s.id AND t.lost_access_at IS NULL
                      AND t.channel_id = e.channel_id AND t.event_type = e.event_type)
            OR (e.event_type IN {device_level}
                AND EXISTS (SELECT 1 FROM subscription_triggers t
                            WHERE t.subscription_id = s.id AND t.lost_access_at IS NULL
                              AND t.device_id = e.device_id AND t.event_type = e.event_type)))"
    )
}

pub(super) fn device_level() -> String {
    let types: Vec<&str> = EventType::ALL
        .into_iter()
        .filter(|t| t.is_device_level())
        .map(EventType::as_str)
        .collect();
    serde_json::to_string(&types).expect("BUG: strings serialise")
}

/// The ids of the organisation's events recorded in `[since, until)`: (after, up to) — the
/// events lie in `after < id <= up_to`. Ids grow with the time events are recorded, so each
/// end is found by bisection over the organisation's ids (a few indexed reads).
async fn id_range(pool: &Pool, organisation_id: i64, since: i64, until: i64) -> Result<(i64, i64)> {
    let (min, max): (Option<i64>, Option<i64>) = crate::db::with_db!(pool, db, engine => sqlx::query_as(
        &format!("SELECT MIN(id), MAX(id) FROM events {ix_events_by_organisation}
         WHERE organisation_id = $1", ix_events_by_organisation = crate::db::dialect::indexed_by(engine, "events_by_organisation")),
    )
    .bind(organisation_id)
    .fetch_one(db)
    .await)
    .context("reading an organisation's event ids")?;
    let (Some(min), Some(max)) = (min, max) else {
        return Ok((0, 0));
    };
    let after = first_at_or_after(pool, organisation_id, since, min, max).await? - 1;
    let up_to = first_at_or_after(pool, organisation_id, until, min, max).await? - 1;
    Ok((after, up_to.max(after)))
}

/// The smallest id in `min..=max + 1` from which the organisation's events were recorded at or
/// after `at` (`max + 1` when none was).
async fn first_at_or_after(
    pool: &Pool,
    organisation_id: i64,
    at: i64,
    min: i64,
    max: i64,
) -> Result<i64> {
    // The creation time of the organisation's first event at or after `id`.
    let created_at = |id: i64| async move {
        crate::db::with_db!(pool, db, engine => sqlx::query_scalar::<_, i64>(
            &format!("SELECT created_at FROM events {ix_events_by_organisation}
             WHERE organisation_id = $1 AND id >= $2 ORDER BY id LIMIT 1", ix_events_by_organisation = crate::db::dialect::indexed_by(engine, "events_by_organisation")),
        )
        .bind(organisation_id)
        .bind(id)
        .fetch_optional(db)
        .await)
        .context("reading an event's time")
    };
    // Invariant: events from `hi` on are at or after `at`; those before `lo` are not.
    let (mut lo, mut hi) = (min, max + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match created_at(mid).await? {
            Some(t) if t >= at => hi = mid,
            Some(_) => lo = mid + 1,
            None => hi = mid,
        }
    }
    Ok(hi)
}

/// Counts what a replay would send, on a reader: the writer is never held by a count.
async fn count(
    pool: &Pool,
    subscription_id: i64,
    organisation_id: i64,
    r: &ReplayInput,
) -> Result<(i64, (i64, i64))> {
    let (after, up_to) = id_range(pool, organisation_id, r.since, r.until).await?;
    if up_to <= after {
        return Ok((0, (after, up_to)));
    }
    let n =
        crate::db::with_db!(pool, db, engine => sqlx::query_scalar(&format!("SELECT COUNT(*) {}", matching(engine)))
        .bind(subscription_id)
        .bind(r.since)
        .bind(r.until)
        .bind(r.channel_id)
        .bind(after)
        .bind(&r.event_type)
        .bind(device_level())
        .bind(up_to)
        .bind(organisation_id)
        .fetch_one(db)
        .await)
        .context("counting the events of a replay")?;
    Ok((n, (after, up_to)))
}

/// Counts one preview or start of the organisation's replays.
fn admit(state: &AppState, organisation_id: i64) -> Result<()> {
    struct Starts(KeyedLimit<i64>);
    let starts = state.part(|_| {
        Starts(KeyedLimit::per_minute(
            STARTS_PER_MINUTE,
            STARTS_PER_MINUTE / 2,
        ))
    });
    starts
        .0
        .check(&organisation_id)
        .map_err(|retry_after| Error::RateLimited {
            message: format!(
                "Your organisation counted or started {STARTS_PER_MINUTE} replays in the last minute, the most Labhook takes. Try again in {} seconds.",
                retry_after.as_secs().max(1)
            ),
            retry_after: retry_after.max(Duration::from_secs(1)),
        })
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
    admit(state, user.organisation_id)?;
    Ok(count(&state.pool, id, user.organisation_id, r).await?.0)
}

/// Starts a replay; answers its id. Its deliveries are fed in by the dispatcher.
pub async fn start(state: &AppState, user: &CurrentUser, id: i64, r: &ReplayInput) -> Result<i64> {
    check(state, user, id, r).await?;
    admit(state, user.organisation_id)?;
    let s = get(state, user, id).await?;
    let (total, (after, up_to)) = count(&state.pool, id, user.organisation_id, r).await?;
    if total == 0 {
        return Err(Error::Conflict(
            "There is nothing to replay in this range.".into(),
        ));
    }
    let (user, r, subject) = (user.clone(), r.clone(), s.subject());
    let replay = state
        .write(move |conn| {
            Box::pin(async move {
                let (this_one, organisation): (bool, i64) = crate::db::with_db!(conn, db => sqlx::query_as(
                    "SELECT COUNT(*) FILTER (WHERE r.subscription_id = $1) > 0, COUNT(*)
                     FROM replays r JOIN subscriptions s ON s.id = r.subscription_id
                     WHERE r.status = 'running' AND s.organisation_id = $2",
                )
                .bind(id)
                .bind(user.organisation_id)
                .fetch_one(db)
                .await)?;
                if this_one {
                    return Err(Error::Conflict(
                        "A replay of this subscription is running: wait until it is done, or cancel it first.".into(),
                    ));
                }
                if organisation >= MAX_RUNNING_PER_ORGANISATION {
                    return Err(Error::Conflict(format!(
                        "Your organisation has {organisation} replays running, the most at once: wait until one is done, or cancel one first."
                    )));
                }
                let replay: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
                    "INSERT INTO replays (subscription_id, requested_by, since, until, channel_id,
                         event_type, total, status, created_at, cursor_event_id, until_event_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9, $10) RETURNING id",
                )
                .bind(id)
                .bind(user.id)
                .bind(r.since)
                .bind(r.until)
                .bind(r.channel_id)
                .bind(&r.event_type)
                .bind(total)
                .bind(now_ms())
                .bind(after)
                .bind(up_to)
                .fetch_one(db)
                .await)?;
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
    Ok(crate::db::with_db!(&state.pool, db => sqlx::query_as(
        "SELECT id, subscription_id, since, until, channel_id, event_type, total, queued, status,
                created_at, finished_at
         FROM replays WHERE subscription_id = $1 ORDER BY id DESC LIMIT 20",
    )
    .bind(id)
    .fetch_all(db)
    .await)?)
}

/// Stops a replay: nothing more is queued, and what waits is cancelled.
pub async fn cancel(state: &AppState, user: &CurrentUser, replay_id: i64) -> Result<()> {
    let user = user.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let found: Option<(i64, String)> = crate::db::with_db!(conn, db => sqlx::query_as(&format!(
                    "SELECT r.subscription_id, r.status FROM replays r
                     JOIN subscriptions s ON s.id = r.subscription_id
                     WHERE r.id = $4 AND {}",
                    scope::SUBSCRIPTION
                ))
                .scoped(&user)
                .bind(replay_id)
                .fetch_optional(db)
                .await)?;
                let (subscription_id, status) = found.ok_or_else(|| Error::not_found("Replay"))?;
                if status != "running" {
                    return Ok(());
                }
                let now = now_ms();
                crate::db::with_db!(conn, db => sqlx::query(
                    "UPDATE replays SET status = 'cancelled', finished_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(replay_id)
                .execute(db)
                .await
                .map(crate::db::Done::from))?;
                cancel_pending(&mut *conn, Pending::OfReplay(replay_id), "replay cancelled")
                    .await?;
                let (name, url): (String, String) =
                    crate::db::with_db!(conn, db => sqlx::query_as("SELECT display_name, url FROM subscriptions WHERE id = $1")
                        .bind(subscription_id)
                        .fetch_one(db)
                        .await)?;
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
