//! Fan-out: turns new events into deliveries, one per matching subscription, in the same
//! transaction that moves the cursor over the event log — an event is fanned out exactly once,
//! even across crashes.

use std::collections::HashMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sqlx::QueryBuilder;

use super::outbox::Claimed;
use crate::{clock::now_ms, domain::EventType, AppState, Result};

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
}

/// The Standard Webhooks message id: the same for every attempt of a delivery.
pub fn new_webhook_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("msg_{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    organisation_id: i64,
    device_id: i64,
    channel_id: Option<i64>,
    event_type: String,
    created_at: i64,
}

/// Fans out up to `max_events` events after the cursor.
///
/// A subscription receives an event when it is active, was active already when the event
/// happened, selected the event's (channel, event type) — for device-level events, any channel
/// of the device — and its organisation had the feature on at that time. Lookups go through the
/// trigger indexes; no subscription is scanned.
pub async fn fan_out(state: &AppState, max_events: i64, budget: Budget) -> Result<FanOut> {
    state.write(move |tx| Box::pin(async move {
    let cursor: i64 =
        sqlx::query_scalar("SELECT last_event_id FROM dispatcher_cursor WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT id, organisation_id, device_id, channel_id, event_type, created_at
         FROM events WHERE id > ? ORDER BY id LIMIT ?",
    )
    .bind(cursor)
    .bind(max_events)
    .fetch_all(&mut *tx)
    .await?;
    let Some(last) = events.last().map(|e| e.id) else {
        return Ok(FanOut::default());
    };

    let now = now_ms();
    let mut enabled_since: HashMap<i64, Option<i64>> = HashMap::new();
    let mut rows: Vec<(i64, i64)> = Vec::new(); // (subscription, event)
    for e in &events {
        let since = match enabled_since.get(&e.organisation_id) {
            Some(s) => *s,
            None => {
                let s: Option<i64> = sqlx::query_scalar(
                    "SELECT CASE WHEN webhooks_enabled THEN webhooks_enabled_since END FROM organisations WHERE id = ?",
                )
                .bind(e.organisation_id)
                .fetch_optional(&mut *tx)
                .await?
                .flatten();
                enabled_since.insert(e.organisation_id, s);
                s
            }
        };
        // Events of a time when the feature was off are never delivered.
        if since.is_none_or(|s| s > e.created_at) {
            continue;
        }
        let device_level = EventType::parse(&e.event_type).is_some_and(EventType::is_device_level);
        let subscriptions: Vec<i64> = match (device_level, e.channel_id) {
            (false, Some(channel)) => {
                sqlx::query_scalar(
                    "SELECT t.subscription_id FROM subscription_triggers t
                     JOIN subscriptions s ON s.id = t.subscription_id
                     WHERE t.channel_id = ? AND t.event_type = ? AND s.active AND s.active_since <= ?",
                )
                .bind(channel)
                .bind(&e.event_type)
                .bind(e.created_at)
                .fetch_all(&mut *tx)
                .await?
            }
            _ => {
                sqlx::query_scalar(
                    "SELECT DISTINCT t.subscription_id FROM subscription_triggers t
                     JOIN subscriptions s ON s.id = t.subscription_id
                     WHERE t.device_id = ? AND t.event_type = ? AND s.active AND s.active_since <= ?",
                )
                .bind(e.device_id)
                .bind(&e.event_type)
                .bind(e.created_at)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        rows.extend(subscriptions.into_iter().map(|s| (s, e.id)));
    }

    // Claim what may start at once, within the same limits as a claim.
    let leases: Vec<Option<i64>> = {
        let mut free = budget.free;
        let mut taken: HashMap<i64, usize> = HashMap::new();
        rows.iter()
            .map(|(subscription, _)| {
                let n = taken.entry(*subscription).or_default();
                let room = budget.held.get(subscription).copied().unwrap_or(0) + *n
                    < budget.per_subscription;
                (free > 0 && room).then(|| {
                    free -= 1;
                    *n += 1;
                    budget.lease_until
                })
            })
            .collect()
    };
    let mut claimed = Vec::new();
    // Many rows per statement: one event can fan out to thousands of subscriptions.
    for (chunk, leases) in rows.chunks(400).zip(leases.chunks(400)) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO deliveries (subscription_id, event_id, webhook_id, status, attempts, next_attempt_at,
                                     lease_until, created_at, updated_at) ",
        );
        insert.push_values(
            chunk.iter().zip(leases),
            |mut b, ((subscription, event), lease)| {
                b.push_bind(subscription)
                    .push_bind(event)
                    .push_bind(new_webhook_id())
                    .push("'pending'")
                    .push("0")
                    .push_bind(now)
                    .push_bind(*lease)
                    .push_bind(now)
                    .push_bind(now);
            },
        );
        insert.push(" RETURNING id, subscription_id, event_id, webhook_id, attempts, lease_until IS NOT NULL");
        let inserted: Vec<(i64, i64, i64, String, i64, bool)> =
            insert.build_query_as().fetch_all(&mut *tx).await?;
        claimed.extend(inserted.into_iter().filter(|r| r.5).map(
            |(id, subscription_id, event_id, webhook_id, attempts, _)| Claimed {
                id,
                subscription_id,
                event_id,
                webhook_id,
                attempts,
            },
        ));
    }
    sqlx::query("UPDATE dispatcher_cursor SET last_event_id = ? WHERE id = 1")
        .bind(last)
        .execute(&mut *tx)
        .await?;
    Ok(FanOut {
        events: events.len(),
        deliveries: rows.len(),
        claimed,
    })
    })).await
}
