//! Fan-out's filter for noisy channels: of the (subscription, event) pairs fan-out matched,
//! those whose trigger has advanced options go through [`decide`] in event order, and the
//! triggers' memory is written back in the same transaction. Triggers without options — the
//! default — are not looked at beyond one indexed query per batch.

use std::collections::HashMap;

use serde_json::Value as Json;
use sqlx::SqliteConnection;

use crate::{
    domain::debounce::{decide, Options, Seen, State},
    error::ResultExt,
    Result,
};

#[derive(sqlx::FromRow)]
struct TriggerRow {
    subscription_id: i64,
    channel_id: i64,
    event_type: String,
    options: String,
    last_sent_at: Option<i64>,
    last_sent_value: Option<f64>,
    settled_sent: bool,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    channel_id: Option<i64>,
    event_type: String,
    occurred_at: i64,
    payload: String,
}

type TriggerKey = (i64, i64, String);

/// Keeps the pairs their triggers' options let through, in order.
pub(super) async fn filter(
    tx: &mut SqliteConnection,
    rows: Vec<(i64, i64)>,
) -> Result<Vec<(i64, i64)>> {
    let mut subscriptions: Vec<i64> = rows.iter().map(|r| r.0).collect();
    subscriptions.sort_unstable();
    subscriptions.dedup();
    if subscriptions.is_empty() {
        return Ok(rows);
    }
    let triggers: Vec<TriggerRow> = sqlx::query_as(
        "SELECT subscription_id, channel_id, event_type, options, last_sent_at, last_sent_value, settled_sent
         FROM subscription_triggers
         WHERE subscription_id IN (SELECT value FROM json_each(?)) AND options IS NOT NULL",
    )
    .bind(serde_json::to_string(&subscriptions).expect("BUG: ids serialise"))
    .fetch_all(&mut *tx)
    .await
    .context("reading the triggers' options")?;
    if triggers.is_empty() {
        return Ok(rows);
    }
    let mut triggers: HashMap<TriggerKey, (Options, State, bool)> = triggers
        .into_iter()
        .map(|t| {
            let state = State {
                last_sent_at: t.last_sent_at,
                last_sent_value: t.last_sent_value,
                settled_sent: t.settled_sent,
            };
            (
                (t.subscription_id, t.channel_id, t.event_type),
                (Options::from_stored(Some(&t.options)), state, false),
            )
        })
        .collect();
    let with_options: Vec<i64> = rows
        .iter()
        .filter(|(s, _)| triggers.keys().any(|k| k.0 == *s))
        .map(|r| r.1)
        .collect();
    let events: HashMap<i64, EventRow> = sqlx::query_as::<_, EventRow>(
        "SELECT id, channel_id, event_type, occurred_at, payload FROM events
         WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(serde_json::to_string(&with_options).expect("BUG: ids serialise"))
    .fetch_all(&mut *tx)
    .await
    .context("reading the events of triggers with options")?
    .into_iter()
    .map(|e| (e.id, e))
    .collect();

    let mut kept = Vec::with_capacity(rows.len());
    for (subscription, event_id) in rows {
        let Some(e) = events.get(&event_id) else {
            kept.push((subscription, event_id));
            continue;
        };
        let Some(channel) = e.channel_id else {
            kept.push((subscription, event_id));
            continue;
        };
        let key = (subscription, channel, e.event_type.clone());
        let Some((options, state, dirty)) = triggers.get_mut(&key) else {
            kept.push((subscription, event_id));
            continue;
        };
        let window = match options.settle {
            Some(settle) => window(&mut *tx, channel, e.occurred_at, settle.for_ms).await?,
            None => None,
        };
        let seen = Seen {
            at: e.occurred_at,
            value: number_of(&e.payload),
            window,
        };
        let (send, next) = decide(options, state, &seen);
        if next != *state {
            *state = next;
            *dirty = true;
        }
        if send {
            kept.push((subscription, event_id));
        }
    }
    for ((subscription, channel, event_type), (_, state, dirty)) in triggers {
        if !dirty {
            continue;
        }
        sqlx::query(
            "UPDATE subscription_triggers SET last_sent_at = ?, last_sent_value = ?, settled_sent = ?
             WHERE subscription_id = ? AND channel_id = ? AND event_type = ?",
        )
        .bind(state.last_sent_at)
        .bind(state.last_sent_value)
        .bind(state.settled_sent)
        .bind(subscription)
        .bind(channel)
        .bind(event_type)
        .execute(&mut *tx)
        .await
        .context("remembering the triggers' last webhooks")?;
    }
    Ok(kept)
}

/// The event's number value (`data.data_point.value`), if it has one.
fn number_of(payload: &str) -> Option<f64> {
    serde_json::from_str::<Json>(payload).ok()?["data_point"]["value"].as_f64()
}

/// The channel's lowest and highest value over the `for_ms` up to `at` — counting the value
/// it had at the start of that time — or `None` when it had no value then yet.
async fn window(
    tx: &mut SqliteConnection,
    channel: i64,
    at: i64,
    for_ms: i64,
) -> Result<Option<(f64, f64)>> {
    let (lo, hi): (Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT MIN(value), MAX(value) FROM data_points
         WHERE channel_id = ?1 AND timestamp <= ?2
           AND timestamp >= (SELECT MAX(timestamp) FROM data_points
                             WHERE channel_id = ?1 AND timestamp <= ?2 - ?3)",
    )
    .bind(channel)
    .bind(at)
    .bind(for_ms)
    .fetch_one(&mut *tx)
    .await
    .context("reading a channel's recent values")?;
    Ok(lo.zip(hi))
}
