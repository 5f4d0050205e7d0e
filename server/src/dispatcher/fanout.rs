//! Fan-out: turns new events into deliveries, one per matching subscription, in the same
//! transaction that takes the events as done — moving the cursor over the event log (SQLite)
//! or taking them off `events_to_fan_out` (Postgres, where several instances fan out) — so
//! an event is fanned out exactly once, even across crashes and instances.

use std::collections::HashMap;

use crate::db::{
    dialect,
    shared::{take_turn, Turn},
    Conn, Engine, Pool,
};

use crate::{
    auth::scope::OWNER_SEES_EVENT_DEVICE,
    deliveries::queue::{self, Claimed, NewDelivery},
    domain::EventType,
    error::ResultExt,
    subscriptions, AppState, Result,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanOut {
    pub events: usize,
    pub deliveries: usize,
    /// The new deliveries claimed on the spot (see [`Budget`]).
    pub claimed: Vec<Claimed>,
}

/// How many of the new deliveries fan-out may claim right away, saving a transaction (and a
/// trip round the loop) on the way from event to receiver.
pub struct Budget {
    pub lease_until: i64,
    /// Requests that may still start.
    pub free: usize,
    pub per_subscription: usize,
    /// Requests in flight per subscription.
    pub held: HashMap<i64, usize>,
    /// Most pending deliveries one subscription may have.
    pub max_pending: usize,
}

/// Fans out up to `max_events` new events.
///
/// A subscription receives an event when it is active, was active already when the event
/// happened, selected the event's (channel, event type) — for device-level events, any channel
/// of the device — its organisation had the feature on at that time, and its owner may still
/// see the device (org admins: any of their organisation's; lab users: those granted to them,
/// triggers marked as no longer accessible never fire again). Lookups go through the
/// trigger indexes; no subscription is scanned. An event a subscription's own reply caused
/// never goes back to it (loop protection; chains through others stop at a fixed depth).
#[tracing::instrument(skip_all, err)]
pub async fn fan_out_due(
    state: &AppState,
    now: i64,
    max_events: i64,
    budget: Budget,
) -> Result<FanOut> {
    state
        .write(move |conn| {
            Box::pin(async move { fan_out_in(conn, now, max_events, &budget).await })
        })
        .await
}

async fn fan_out_in(tx: &mut Conn, now: i64, max_events: i64, budget: &Budget) -> Result<FanOut> {
    let Some(batch) = take_new_events(tx, max_events).await? else {
        return Ok(FanOut::default());
    };
    let last = batch.last;

    // One statement for the whole batch. Channel events go to the subscriptions that chose that
    // channel and event type; device-level events to those that chose the event type on any
    // channel of the device (once each). Events of a time when the organisation had the feature
    // off, or before a subscription was (last) switched on, are never delivered. CROSS JOIN
    // keeps SQLite's loop order: the batch's events outside, the trigger indexes inside.
    let device_level: Vec<&str> = EventType::ALL
        .into_iter()
        .filter(|t| t.is_device_level())
        .map(EventType::as_str)
        .collect();
    let statement = |engine: Engine| {
        format!(
        "SELECT t.subscription_id, e.id
         FROM events e
         JOIN organisations o ON o.id = e.organisation_id
         {in_order} subscription_triggers t ON t.channel_id = e.channel_id AND t.event_type = e.event_type
         JOIN subscriptions s ON s.id = t.subscription_id
         JOIN users u ON u.id = s.owner_id
         WHERE {in_batch} AND t.lost_access_at IS NULL
           AND e.caused_by_subscription IS DISTINCT FROM t.subscription_id
           AND {OWNER_SEES_EVENT_DEVICE}
           AND e.event_type NOT IN {texts3}
           AND o.webhooks_enabled AND o.webhooks_enabled_since <= e.created_at
           AND s.active AND s.active_since <= e.created_at
         UNION ALL
         SELECT DISTINCT t.subscription_id, e.id
         FROM events e
         JOIN organisations o ON o.id = e.organisation_id
         {in_order} subscription_triggers t ON t.device_id = e.device_id AND t.event_type = e.event_type
         JOIN subscriptions s ON s.id = t.subscription_id
         JOIN users u ON u.id = s.owner_id
         WHERE {in_batch} AND t.lost_access_at IS NULL
           AND e.caused_by_subscription IS DISTINCT FROM t.subscription_id
           AND {OWNER_SEES_EVENT_DEVICE}
           AND (e.event_type IN {texts3} OR e.channel_id IS NULL)
           AND o.webhooks_enabled AND o.webhooks_enabled_since <= e.created_at
           AND s.active AND s.active_since <= e.created_at
         ORDER BY 2, 1"
    , texts3 = dialect::texts(engine, 3), in_order = dialect::join_in_order(engine),
      in_batch = batch.condition())
    };
    let device_level = serde_json::to_string(&device_level).expect("BUG: strings serialise");
    let rows: Vec<(i64, i64)> = crate::db::with_db!(tx, db, engine => {
        let statement = statement(engine);
        // On Postgres planned for this batch's values, not cached: a cached (generic) plan,
        // made while the tables were small, joined each event of the batch's range with the
        // list of ids row by row (2,000 ids × 16,000 events: 4.5 s a fan-out); planned for the
        // values, the ids are a constant looked up in a hash. Planning costs about a
        // millisecond, once per up to FAN_OUT_BATCH events.
        let query = sqlx::query_as(&statement).persistent(engine == Engine::Sqlite);
        let query = match &batch.taken {
            Taken::AfterCursor(cursor) => query.bind(*cursor),
            Taken::Listed(ids, _) => query.bind(ids.as_str()),
        };
        let query = query.bind(last).bind(device_level.as_str());
        let query = match &batch.taken {
            Taken::AfterCursor(_) => query,
            Taken::Listed(_, first) => query.bind(*first),
        };
        query.fetch_all(db).await
    })
    .context("matching events to subscriptions")?;

    // Triggers with advanced options (noisy channels) let fewer events through.
    let rows = super::debounce::filter(&mut *tx, rows).await?;

    // A subscription whose receiver is down collects pending deliveries; past the cap the
    // oldest are kept and the rest of this batch is not queued, counted on the subscription.
    let rows = cap_pending(&mut *tx, rows, budget.max_pending, now).await?;

    // Claim what may start at once, within the same limits as a claim.
    let mut free = budget.free;
    let mut taken: HashMap<i64, usize> = HashMap::new();
    let deliveries: Vec<NewDelivery> = rows
        .iter()
        .map(|&(subscription_id, event_id)| {
            let n = taken.entry(subscription_id).or_default();
            let room = budget.held.get(&subscription_id).copied().unwrap_or(0) + *n
                < budget.per_subscription;
            let lease_until = (free > 0 && room).then(|| {
                free -= 1;
                *n += 1;
                budget.lease_until
            });
            NewDelivery {
                subscription_id,
                event_id,
                lease_until,
                replay_id: None,
            }
        })
        .collect();
    let claimed = queue::enqueue(&mut *tx, &deliveries, now).await?;
    if let Taken::AfterCursor(_) = batch.taken {
        crate::db::with_db!(tx, db => sqlx::query("UPDATE dispatcher_cursor SET last_event_id = $1 WHERE id = 1")
            .bind(last)
            .execute(db)
            .await
            .map(crate::db::Done::from))
            .context("moving the fan-out cursor")?;
    }
    Ok(FanOut {
        events: batch.events,
        deliveries: rows.len(),
        claimed,
    })
}

/// Keeps the (subscription, event) pairs that fit under each subscription's pending cap;
/// records the ones that do not on their subscription (with an audit entry when a
/// subscription starts overflowing).
#[tracing::instrument(level = "debug", skip_all)]
async fn cap_pending(
    tx: &mut Conn,
    rows: Vec<(i64, i64)>,
    max_pending: usize,
    now: i64,
) -> Result<Vec<(i64, i64)>> {
    // New deliveries per subscription.
    let mut wanted: HashMap<i64, usize> = HashMap::new();
    for (subscription, _) in &rows {
        *wanted.entry(*subscription).or_default() += 1;
    }
    if wanted.is_empty() {
        return Ok(rows);
    }
    let near_cap = near_cap(tx, &wanted, max_pending).await?;
    let pending = count_pending(tx, &near_cap).await?;
    let mut room: HashMap<i64, usize> = wanted
        .keys()
        .map(|id| {
            (
                *id,
                max_pending.saturating_sub(pending.get(id).copied().unwrap_or(0)),
            )
        })
        .collect();
    let mut dropped: HashMap<i64, i64> = HashMap::new();
    let kept = rows
        .into_iter()
        .filter(|(subscription, _)| {
            let left = room.get_mut(subscription).expect("BUG: every id has room");
            if *left == 0 {
                *dropped.entry(*subscription).or_default() += 1;
                false
            } else {
                *left -= 1;
                true
            }
        })
        .collect();
    for (subscription, n) in dropped {
        subscriptions::record_overflow(&mut *tx, subscription, n, max_pending, now).await?;
    }
    Ok(kept)
}

/// The subscriptions of `wanted` whose pending deliveries, with the new ones wanted, might
/// pass `max_pending`. A subscription's pending deliveries all lie between its oldest pending
/// one and the newest delivery of all, so that range bounds their number: two index probes,
/// where counting reads every pending row of a busy subscription.
async fn near_cap(
    tx: &mut Conn,
    wanted: &HashMap<i64, usize>,
    max_pending: usize,
) -> Result<Vec<i64>> {
    let ids: Vec<i64> = wanted.keys().copied().collect();
    let oldest: Vec<(i64, Option<i64>, Option<i64>)> =
        crate::db::with_db!(tx, db, engine => sqlx::query_as(
        &format!("SELECT s.id,
                (SELECT MIN(d.id) FROM deliveries d {ix}
                 WHERE d.subscription_id = s.id AND d.next_attempt_at IS NOT NULL),
                (SELECT MAX(id) FROM deliveries)
         FROM subscriptions s WHERE s.id IN {ids1}",
         ids1 = dialect::ids(engine, 1),
         ix = dialect::indexed_by(engine, "deliveries_pending_by_subscription")),
    )
    .bind(serde_json::to_string(&ids).expect("BUG: ids serialise"))
    .fetch_all(db)
    .await)
        .context("bounding pending deliveries")?;
    Ok(oldest
        .into_iter()
        .filter_map(|(id, oldest, newest)| {
            let at_most = match (oldest, newest) {
                (Some(oldest), Some(newest)) => (newest - oldest + 1).max(0) as usize,
                _ => 0,
            };
            let wanted = wanted.get(&id).copied().unwrap_or(0);
            (at_most + wanted > max_pending).then_some(id)
        })
        .collect())
}

/// How many deliveries of each of `ids` are pending.
async fn count_pending(tx: &mut Conn, ids: &[i64]) -> Result<HashMap<i64, usize>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(crate::db::with_db!(tx, db, engine => sqlx::query_as::<_, (i64, i64)>(
        &format!("SELECT subscription_id, COUNT(*) FROM deliveries {ix}
         WHERE next_attempt_at IS NOT NULL AND subscription_id IN {ids1}
         GROUP BY subscription_id", ids1 = dialect::ids(engine, 1), ix = dialect::indexed_by(engine, "deliveries_pending_by_subscription")),
    )
    .bind(serde_json::to_string(ids).expect("BUG: ids serialise"))
    .fetch_all(db)
    .await)
    .context("counting pending deliveries")?
    .into_iter()
    .map(|(id, n)| (id, n as usize))
    .collect())
}

/// New events taken for one fan-out.
struct Batch {
    /// How many.
    events: usize,
    /// The largest id among them.
    last: i64,
    taken: Taken,
}

/// How a batch's events were taken.
enum Taken {
    /// SQLite: the events after the cursor, up to the batch's last; the cursor moves there.
    AfterCursor(i64),
    /// Postgres: these, off `events_to_fan_out` (an array literal of ids, `{1,2,3}`), and
    /// the smallest of them.
    Listed(String, i64),
}

impl Batch {
    /// The match statement's condition on `e.id`, with `$1` (the cursor, or the ids) and `$2`
    /// (the batch's last id).
    fn condition(&self) -> String {
        match self.taken {
            Taken::AfterCursor(_) => "e.id > $1 AND e.id <= $2".to_owned(),
            // The range too ($4 the smallest): the events are reached through the triggers'
            // channels (`events_by_channel`), and a channel's events must be looked at from the
            // batch's first on, not from its very first event. (The statement is planned for
            // its values each time: see `fan_out_in`.)
            Taken::Listed(..) => {
                "e.id = ANY(CAST($1 AS bigint[])) AND e.id >= $4 AND e.id <= $2".to_owned()
            }
        }
    }
}

/// Whether there are events not yet fanned out, asked of a reader: a fan-out that would find
/// none is not worth a turn of the writer.
pub async fn anything_new(pool: &Pool) -> Result<bool> {
    let statement = match pool.engine() {
        Engine::Sqlite => {
            "SELECT EXISTS (SELECT 1 FROM events
               WHERE id > (SELECT last_event_id FROM dispatcher_cursor WHERE id = 1))"
        }
        Engine::Postgres => "SELECT EXISTS (SELECT 1 FROM events_to_fan_out)",
    };
    crate::db::with_db!(pool, db => sqlx::query_scalar(statement).fetch_one(db).await)
        .context("looking for new events")
}

/// Takes the events to fan out now, oldest first, up to `max`; `None` when there are none.
/// Postgres: only in fan-out's turn — when another instance has it, that one is fanning out
/// and will come back for these too (every instance hears of new events).
#[tracing::instrument(level = "debug", skip_all)]
async fn take_new_events(tx: &mut Conn, max: i64) -> Result<Option<Batch>> {
    match tx.engine() {
        Engine::Sqlite => {
            let cursor: i64 = crate::db::with_db!(tx, db => sqlx::query_scalar("SELECT last_event_id FROM dispatcher_cursor WHERE id = 1")
                .fetch_one(db)
                .await)
                .context("reading the fan-out cursor")?;
            let events: Vec<i64> = crate::db::with_db!(tx, db => sqlx::query_scalar("SELECT id FROM events WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(cursor)
                .bind(max)
                .fetch_all(db)
                .await)
                .context("reading new events")?;
            Ok(events.last().map(|&last| Batch {
                events: events.len(),
                last,
                taken: Taken::AfterCursor(cursor),
            }))
        }
        Engine::Postgres => {
            if !take_turn(tx, Turn::FanOut)
                .await
                .context("taking fan-out's turn")?
            {
                return Ok(None);
            }
            let mut events: Vec<i64> = crate::db::with_db!(tx, db => sqlx::query_scalar(
                "DELETE FROM events_to_fan_out WHERE event_id IN
                   (SELECT event_id FROM events_to_fan_out ORDER BY event_id LIMIT $1)
                 RETURNING event_id",
            )
            .bind(max)
            .fetch_all(db)
            .await)
            .context("taking new events")?;
            events.sort_unstable();
            Ok(events.last().map(|&last| Batch {
                events: events.len(),
                last,
                taken: Taken::Listed(
                    format!(
                        "{{{}}}",
                        events
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    events[0],
                ),
            }))
        }
    }
}
