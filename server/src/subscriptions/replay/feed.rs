//! Feeding running replays into the queue: a step per replay, in turn across organisations,
//! each a short writer job that tops its subscription's waiting deliveries up to [`AHEAD`].

use crate::db::Conn;

use super::{device_level, matching, AHEAD, FED_PER_ROUND, WINDOW};
use crate::{
    deliveries::queue::{enqueue, NewDelivery},
    error::ResultExt,
    AppState, Result,
};

/// A running replay.
#[derive(sqlx::FromRow)]
struct Running {
    id: i64,
    subscription_id: i64,
    organisation_id: i64,
    since: i64,
    until: i64,
    channel_id: Option<i64>,
    event_type: Option<String>,
    cursor_event_id: i64,
    until_event_id: i64,
}

/// One step of the running replays of active subscriptions, least recently fed first and at
/// most two per organisation a round: each tops its subscription's waiting deliveries up to
/// [`AHEAD`], looking at no more than [`WINDOW`] event ids, in a writer job of its own.
/// Answers how many deliveries were queued.
pub async fn feed(state: &AppState, now: i64) -> Result<usize> {
    // A read first: most of the time nothing is replaying, and the writer is left alone.
    let running: Vec<Running> = crate::db::with_db!(&state.pool, db => sqlx::query_as(
        "SELECT id, subscription_id, organisation_id, since, until, channel_id, event_type,
                cursor_event_id, until_event_id
         FROM (SELECT r.*, s.organisation_id,
                      ROW_NUMBER() OVER (PARTITION BY s.organisation_id ORDER BY r.fed_at, r.id)
                        AS turn
               FROM replays r JOIN subscriptions s ON s.id = r.subscription_id
               WHERE r.status = 'running' AND s.active) AS running
         WHERE turn <= 2 ORDER BY fed_at, id LIMIT $1",
    )
    .bind(FED_PER_ROUND)
    .fetch_all(db)
    .await)
    .context("reading the running replays")?;
    let mut queued = 0;
    for replay in running {
        queued += state
            .write(move |conn| Box::pin(async move { step(conn, &replay, now).await }))
            .await?;
    }
    Ok(queued)
}

/// One step of one replay, in the writer's transaction.
async fn step(conn: &mut Conn, r: &Running, now: i64) -> Result<usize> {
    // Cancelled, or its subscription switched off, since it was read — and where it stands
    // now: on Postgres another instance may have fed it meanwhile. The row stays locked until
    // this job commits, and one another instance is feeding right now is left to it: two
    // instances never feed the same events.
    let cursor: Option<i64> = crate::db::with_db!(conn, db, engine => sqlx::query_scalar(&format!(
        "SELECT r.cursor_event_id FROM replays r JOIN subscriptions s ON s.id = r.subscription_id
         WHERE r.id = $1 AND r.status = 'running' AND s.active {lock}",
        lock = crate::db::dialect::lock_rows_of(engine, "r"),
    ))
    .bind(r.id)
    .fetch_optional(db)
    .await)?;
    let Some(cursor_event_id) = cursor else {
        return Ok(0);
    };
    let r = &Running {
        cursor_event_id,
        event_type: r.event_type.clone(),
        ..*r
    };
    let waiting: i64 = crate::db::with_db!(conn, db, engine => sqlx::query_scalar(
        &format!("SELECT COUNT(*) FROM deliveries {ix_deliveries_pending_by_subscription}
         WHERE subscription_id = $1 AND next_attempt_at IS NOT NULL", ix_deliveries_pending_by_subscription = crate::db::dialect::indexed_by(engine, "deliveries_pending_by_subscription")),
    )
    .bind(r.subscription_id)
    .fetch_one(db)
    .await)
    .context("counting a replay's waiting deliveries")?;
    let room = AHEAD - waiting;
    if room <= 0 {
        crate::db::with_db!(conn, db => sqlx::query("UPDATE replays SET fed_at = $1 WHERE id = $2")
            .bind(now)
            .bind(r.id)
            .execute(db)
            .await
            .map(crate::db::Done::from))?;
        return Ok(0);
    }
    let window_end = r.until_event_id.min(r.cursor_event_id + WINDOW);
    let events: Vec<i64> = crate::db::with_db!(conn, db, engine => sqlx::query_scalar(&format!(
        "SELECT e.id {} ORDER BY e.id LIMIT $10",
        matching(engine)
    ))
    .bind(r.subscription_id)
    .bind(r.since)
    .bind(r.until)
    .bind(r.channel_id)
    .bind(r.cursor_event_id)
    .bind(&r.event_type)
    .bind(device_level())
    .bind(window_end)
    .bind(r.organisation_id)
    .bind(room)
    .fetch_all(db)
    .await)
    .context("reading a replay's next events")?;
    let deliveries: Vec<NewDelivery> = events
        .iter()
        .map(|&event_id| NewDelivery {
            subscription_id: r.subscription_id,
            event_id,
            lease_until: None,
            replay_id: Some(r.id),
        })
        .collect();
    enqueue(&mut *conn, &deliveries, now).await?;
    // A full room may leave more in this window; otherwise the whole window was looked at.
    let cursor = if (events.len() as i64) == room {
        events.last().copied().unwrap_or(window_end)
    } else {
        window_end
    };
    let done = cursor >= r.until_event_id;
    crate::db::with_db!(conn, db => sqlx::query(
        "UPDATE replays SET queued = queued + $1, cursor_event_id = $2, fed_at = $3,
             status = CASE WHEN $4 THEN 'done' ELSE status END,
             finished_at = CASE WHEN $5 THEN $6 ELSE finished_at END
         WHERE id = $7 AND status = 'running'",
    )
    .bind(events.len() as i64)
    .bind(cursor)
    .bind(now)
    .bind(done)
    .bind(done)
    .bind(now)
    .bind(r.id)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(deliveries.len())
}
