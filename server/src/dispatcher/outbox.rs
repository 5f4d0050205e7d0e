//! The deliveries table as a queue. Due rows are claimed with a lease in a short transaction,
//! sent outside any transaction, and their outcomes recorded in another — SQLite has one
//! writer, and a transaction held across a slow POST would stall every write.
//!
//! A claimed row keeps its due time; its lease hides it. Should the process die, the row falls
//! due again when the lease runs out — and at the next start at once, when the dispatcher takes
//! every lease back.

use std::{collections::HashMap, time::Duration};

use rand::Rng;
use serde_json::json;
use sqlx::{QueryBuilder, SqliteConnection};

use super::{schedule::RetrySchedule, sender::Attempt};
use crate::{
    audit::{self, AuditKind, Entry},
    clock::now_ms,
    subscriptions::InactiveReason,
    AppState, Result,
};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub subscription_id: i64,
    pub event_id: i64,
    pub webhook_id: String,
    pub attempts: i64,
}

/// Claims up to `limit` due deliveries, at most `per_subscription` in flight for any one
/// subscription: `held` says how many each subscription has in flight already.
pub async fn claim(
    state: &AppState,
    now: i64,
    lease: Duration,
    limit: usize,
    per_subscription: usize,
    held: &HashMap<i64, usize>,
) -> Result<Vec<Claimed>> {
    let lease_until = now + lease.as_millis() as i64;
    let full: Vec<i64> = held
        .iter()
        .filter(|(_, n)| **n >= per_subscription)
        .map(|(s, _)| *s)
        .collect();
    // {"<subscription id>": room left} for the subscriptions with requests in flight.
    let room: serde_json::Map<String, serde_json::Value> = held
        .iter()
        .map(|(s, n)| (s.to_string(), per_subscription.saturating_sub(*n).into()))
        .collect();
    state.write(move |tx| Box::pin(async move {
    let claimed = sqlx::query_as(
        r#"UPDATE deliveries SET lease_until = ?1
         WHERE id IN (
             SELECT id FROM (
                 SELECT id, subscription_id,
                        ROW_NUMBER() OVER (PARTITION BY subscription_id ORDER BY next_attempt_at, id) AS n
                 FROM (SELECT id, subscription_id, next_attempt_at FROM deliveries
                       WHERE next_attempt_at <= ?2
                         AND (lease_until IS NULL OR lease_until < ?2)
                         AND subscription_id NOT IN (SELECT value FROM json_each(?3))
                       ORDER BY next_attempt_at LIMIT ?4)
             )
             WHERE n <= COALESCE(json_extract(?5, '$."' || subscription_id || '"'), ?6)
             LIMIT ?7
         )
         RETURNING id, subscription_id, event_id, webhook_id, attempts"#,
    )
    .bind(lease_until)
    .bind(now)
    .bind(serde_json::to_string(&full).expect("BUG: ids serialise"))
    .bind((limit * 4) as i64)
    .bind(serde_json::Value::Object(room).to_string())
    .bind(per_subscription as i64)
    .bind(limit as i64)
    .fetch_all(&mut *tx)
    .await?;
    Ok(claimed)
    })).await
}

/// The earliest time a delivery that is not claimed falls due.
pub async fn next_due(state: &AppState, now: i64) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM deliveries
         WHERE next_attempt_at IS NOT NULL AND (lease_until IS NULL OR lease_until < ?)",
    )
    .bind(now)
    .fetch_one(&state.pool)
    .await?)
}

/// Stops deliveries that must not be sent: their subscription was switched off or deleted, the
/// organisation switched webhooks off, or the target is no longer registered.
pub async fn cancel(state: &AppState, ids: &[i64], why: &str) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let (ids, why) = (ids.to_vec(), why.to_owned());
    state
        .write(move |tx| {
            Box::pin(async move {
                sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_until = NULL,
             last_error = ?, updated_at = ?
         WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(&why)
    .bind(now_ms())
    .bind(serde_json::to_string(&ids).expect("BUG: ids serialise"))
    .execute(&mut *tx)
    .await?;
                Ok(())
            })
        })
        .await
}

/// Stops the pending deliveries of a subscription that was switched off (inside the
/// transaction that switches it off). Attempts in flight finish; nothing new starts.
pub async fn cancel_pending_of_subscription(
    conn: &mut SqliteConnection,
    subscription_id: i64,
    why: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, last_error = ?, updated_at = ?
         WHERE subscription_id = ? AND next_attempt_at IS NOT NULL AND lease_until IS NULL",
    )
    .bind(why)
    .bind(now_ms())
    .bind(subscription_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stops every pending delivery of an organisation that switched webhooks off.
pub async fn cancel_pending_of_organisation(
    conn: &mut SqliteConnection,
    organisation_id: i64,
    why: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, last_error = ?, updated_at = ?
         WHERE next_attempt_at IS NOT NULL AND lease_until IS NULL
           AND subscription_id IN (SELECT id FROM subscriptions WHERE organisation_id = ?)",
    )
    .bind(why)
    .bind(now_ms())
    .bind(organisation_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives claimed rows back (shutdown, or a fresh start after a crash): due at once.
pub async fn release_all(state: &AppState) -> Result<u64> {
    state.write(move |tx| Box::pin(async move {
    let n = sqlx::query(
        "UPDATE deliveries SET lease_until = NULL, next_attempt_at = ? WHERE lease_until IS NOT NULL AND next_attempt_at IS NOT NULL",
    )
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n)
    })).await
}

/// One finished attempt, ready to be written down.
pub struct Outcome {
    pub delivery_id: i64,
    pub subscription_id: i64,
    pub organisation_id: i64,
    /// 1-based.
    pub number: i64,
    pub attempt: Attempt,
    /// Not sent at all (the target was no longer registered): stop, do not retry.
    pub cancelled: bool,
}

/// What the recorder did, for the dispatcher loop.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recorded {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
    pub earliest_retry: Option<i64>,
}

/// Writes a batch of outcomes in one transaction: each attempt, the delivery's new state, and
/// for a 410 Gone the subscription's deactivation.
pub async fn record(
    state: &AppState,
    schedule: &RetrySchedule,
    outcomes: Vec<Outcome>,
) -> Result<Recorded> {
    let schedule = schedule.clone();
    state.write(move |tx| Box::pin(async move {
    let now = now_ms();
    let mut summary = Recorded::default();
    let mut rows = Vec::with_capacity(outcomes.len());
    let mut gone = Vec::new();
    {
        let mut rng = rand::thread_rng();
        for o in &outcomes {
            let a = &o.attempt;
            let status_code = a.response.as_ref().map(|r| i64::from(r.status));
            let (status, next) = if a.succeeded() {
                summary.delivered += 1;
                ("delivered", None)
            } else if o.cancelled {
                ("cancelled", None)
            } else if status_code == Some(410) {
                summary.failed += 1;
                gone.push((o.subscription_id, o.organisation_id));
                ("failed", None)
            } else {
                let retry_after = a.response.as_ref().and_then(|r| r.retry_after);
                match schedule.next_delay(o.number as u32, retry_after, rng.gen_range(-1.0..=1.0)) {
                    Some(delay) => {
                        let at = now + delay.as_millis() as i64;
                        summary.retrying += 1;
                        summary.earliest_retry =
                            Some(summary.earliest_retry.map_or(at, |e| e.min(at)));
                        ("retrying", Some(at))
                    }
                    None => {
                        summary.failed += 1;
                        ("failed", None)
                    }
                }
            };
            let last_error = a
                .error
                .as_ref()
                .map(|(k, m)| format!("{}: {m}", k.as_str()))
                .or_else(|| {
                    status_code
                        .filter(|c| !(200..300).contains(c))
                        .map(|c| format!("HTTP {c}"))
                });
            rows.push((o, status, next, status_code, last_error));
        }
    }

    // Deliveries of a subscription deleted meanwhile are gone: their outcome has nowhere to go.
    for chunk in rows.chunks(200) {
        let mut update =
            QueryBuilder::new("WITH v(id, status, attempts, next_at, http, err, ms) AS (");
        update.push_values(chunk, |mut b, (o, status, next, code, err)| {
            b.push_bind(o.delivery_id)
                .push_bind(*status)
                .push_bind(o.number)
                .push_bind(*next)
                .push_bind(*code)
                .push_bind(err.clone())
                .push_bind(o.attempt.duration.as_millis() as i64);
        });
        update.push(
            ") UPDATE deliveries SET status = v.status, attempts = v.attempts, next_attempt_at = v.next_at,
                 lease_until = NULL, last_http_status = v.http, last_error = v.err, last_duration_ms = v.ms, updated_at = ",
        );
        update.push_bind(now);
        update.push(" FROM v WHERE deliveries.id = v.id");
        update.build().execute(&mut *tx).await?;

        let mut insert = QueryBuilder::new(
            "WITH v(delivery_id, number, started_at, duration_ms, request_headers, response_status,
                    response_headers, response_body, error_kind, error_message) AS (",
        );
        insert.push_values(chunk, |mut b, (o, _, _, code, _)| {
            let a = &o.attempt;
            b.push_bind(o.delivery_id)
                .push_bind(o.number)
                .push_bind(a.started_at)
                .push_bind(a.duration.as_millis() as i64)
                .push_bind(a.request_headers.clone())
                .push_bind(*code)
                .push_bind(a.response.as_ref().map(|r| r.headers.clone()))
                .push_bind(a.response.as_ref().map(|r| r.body.clone()))
                .push_bind(a.error.as_ref().map(|(k, _)| k.as_str()))
                .push_bind(a.error.as_ref().map(|(_, m)| m.clone()));
        });
        insert.push(
            ") INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, request_headers,
                 response_status, response_headers, response_body, error_kind, error_message)
             SELECT * FROM v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.delivery_id)",
        );
        insert.build().execute(&mut *tx).await?;
    }

    // 410 Gone: the receiver does not want these webhooks any more.
    for (subscription_id, organisation_id) in gone {
        let changed = sqlx::query(
            "UPDATE subscriptions SET active = 0, inactive_reason = ?, updated_at = ? WHERE id = ? AND active = 1",
        )
        .bind(InactiveReason::Gone.as_str())
        .bind(now)
        .bind(subscription_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            cancel_pending_of_subscription(
                &mut *tx,
                subscription_id,
                "subscription deactivated: 410 Gone",
            )
            .await?;
            audit::record_system(
                &mut *tx,
                organisation_id,
                Entry {
                    kind: AuditKind::Subscription,
                    action: "deactivated",
                    subject: format!("Subscription #{subscription_id}"),
                    before: Some(json!({ "active": true })),
                    after: Some(
                        json!({ "active": false, "reason": "the receiver answered 410 Gone" }),
                    ),
                },
            )
            .await?;
        }
    }
    Ok(summary)
    })).await
}

/// Deletes finished deliveries (with their attempts) older than the retention, then events and
/// data points no delivery refers to.
pub async fn prune(state: &AppState, older_than: i64) -> Result<u64> {
    let mut removed = 0;
    loop {
        // Small batches, so that the write turn is never held for long.
        let n = state
            .write(move |tx| {
                Box::pin(async move {
                    // Ids grow with time: the oldest rows are found by walking from the smallest id.
                    Ok(sqlx::query(
                        "DELETE FROM deliveries WHERE id IN (
                         SELECT id FROM deliveries WHERE created_at < ? AND next_attempt_at IS NULL ORDER BY id LIMIT 2000)",
                    )
                    .bind(older_than)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected())
                })
            })
            .await?;
        removed += n;
        if n < 2000 {
            break;
        }
    }
    state
        .write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "DELETE FROM events WHERE created_at < ?1
             AND id <= (SELECT last_event_id FROM dispatcher_cursor WHERE id = 1)
             -- The newest event stays: new ids continue after it, never below the cursor.
             AND id < (SELECT MAX(id) FROM events)
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
                )
                .bind(older_than)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM data_points WHERE timestamp < ?")
                    .bind(older_than)
                    .execute(&mut *tx)
                    .await?;
                Ok(removed)
            })
        })
        .await
}
