//! Fan-out's filter for noisy channels: of the (subscription, event) pairs fan-out matched,
//! those whose trigger has advanced options go through [`decide`] in event order, and the
//! triggers' memory is written back in the same transaction. Triggers without options — the
//! default — are not looked at beyond one indexed query per batch. Nothing here reads the
//! channel's history: "settled" moves a running state on ([`Run`]), so an event costs the same
//! whatever the settling time and the channel's rate.

use std::collections::HashMap;

use crate::db::Conn;
use serde_json::Value as Json;

use crate::{
    domain::debounce::{decide, Options, Run, Seen, State},
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
    settle_since: Option<i64>,
    settle_low: Option<f64>,
    settle_high: Option<f64>,
    settle_last_at: Option<i64>,
    settle_last_value: Option<f64>,
}

impl TriggerRow {
    fn run(&self) -> Option<Run> {
        Some(Run {
            since: self.settle_since?,
            low: self.settle_low?,
            high: self.settle_high?,
            last_at: self.settle_last_at?,
            last_value: self.settle_last_value?,
        })
    }
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
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn filter(tx: &mut Conn, rows: Vec<(i64, i64)>) -> Result<Vec<(i64, i64)>> {
    let mut subscriptions: Vec<i64> = rows.iter().map(|r| r.0).collect();
    subscriptions.sort_unstable();
    subscriptions.dedup();
    if subscriptions.is_empty() {
        return Ok(rows);
    }
    let triggers: Vec<TriggerRow> = crate::db::with_db!(tx, db, engine => sqlx::query_as(
        &format!("SELECT subscription_id, channel_id, event_type, options, last_sent_at, last_sent_value,
                settled_sent, settle_since, settle_low, settle_high, settle_last_at,
                settle_last_value
         FROM subscription_triggers
         WHERE subscription_id IN {ids1} AND options IS NOT NULL", ids1 = crate::db::dialect::ids(engine, 1)),
    )
    .bind(serde_json::to_string(&subscriptions).expect("BUG: ids serialise"))
    .fetch_all(db)
    .await)
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
                run: t.run(),
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
    let events: HashMap<i64, EventRow> =
        crate::db::with_db!(tx, db, engine => sqlx::query_as::<_, EventRow>(
        &format!("SELECT id, channel_id, event_type, occurred_at, payload FROM events
         WHERE id IN {ids1}", ids1 = crate::db::dialect::ids(engine, 1)),
    )
    .bind(serde_json::to_string(&with_options).expect("BUG: ids serialise"))
    .fetch_all(db)
    .await)
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
        let seen = Seen {
            at: e.occurred_at,
            value: number_of(&e.payload),
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
        let run = state.run;
        crate::db::with_db!(tx, db => sqlx::query(
            "UPDATE subscription_triggers SET last_sent_at = $1, last_sent_value = $2, settled_sent = $3,
                 settle_since = $4, settle_low = $5, settle_high = $6, settle_last_at = $7,
                 settle_last_value = $8
             WHERE subscription_id = $9 AND channel_id = $10 AND event_type = $11",
        )
        .bind(state.last_sent_at)
        .bind(state.last_sent_value)
        .bind(state.settled_sent)
        .bind(run.map(|r| r.since))
        .bind(run.map(|r| r.low))
        .bind(run.map(|r| r.high))
        .bind(run.map(|r| r.last_at))
        .bind(run.map(|r| r.last_value))
        .bind(subscription)
        .bind(channel)
        .bind(event_type)
        .execute(db)
        .await
        .map(crate::db::Done::from))
        .context("remembering the triggers' last webhooks")?;
    }
    Ok(kept)
}

/// The event's number value (`data.data_point.value`), if it has one.
fn number_of(payload: &str) -> Option<f64> {
    serde_json::from_str::<Json>(payload).ok()?["data_point"]["value"].as_f64()
}
