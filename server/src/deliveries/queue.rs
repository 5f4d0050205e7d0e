//! The deliveries table as a queue (the outbox). Due rows are claimed with a lease in a short
//! transaction, sent outside any transaction, and their outcomes recorded in another — SQLite
//! has one writer, and a transaction held across a slow POST would stall every write.
//!
//! A claimed row keeps its due time; its lease hides it. Should the process die, the row falls
//! due again when the lease runs out (whichever instance then claims it) — on SQLite at the
//! next start at once, when the dispatcher takes every lease back. Instances sharing a Postgres
//! database claim past each other's rows (`SKIP LOCKED`), never waiting on one another.
//!
//! Every function works inside the caller's transaction: the callers decide what else belongs
//! in it (an audit entry, the subscription switched off).

use std::collections::HashMap;

use crate::db::{Conn, Pool};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sqlx::QueryBuilder;

use crate::{
    clock::now_ms,
    db::{self, dialect},
    domain::delivery::DeliveryStatus,
    error::ResultExt,
    Result,
};

/// A delivery taken from the queue to be sent.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub subscription_id: i64,
    pub event_id: i64,
    pub webhook_id: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// The Standard Webhooks message id: the same for every attempt of a delivery.
pub fn new_webhook_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("msg_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A delivery to add: the event for the subscription, claimed at once when `lease_until` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewDelivery {
    pub subscription_id: i64,
    pub event_id: i64,
    pub lease_until: Option<i64>,
    /// The replay it belongs to, if it is one.
    pub replay_id: Option<i64>,
}

/// Adds deliveries, due at `now`; returns those claimed on the way in.
#[tracing::instrument(level = "debug", skip_all, fields(n = deliveries.len()))]
pub async fn enqueue(
    conn: &mut Conn,
    deliveries: &[NewDelivery],
    now: i64,
) -> Result<Vec<Claimed>> {
    let mut claimed = Vec::new();
    // Many rows per statement: one event can fan out to thousands of subscriptions.
    for chunk in deliveries.chunks(400) {
        let inserted: Vec<(i64, i64, i64, String, i64, bool)> = match conn.split() {
            db::Split::Sqlite(db) => {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO deliveries (subscription_id, event_id, webhook_id, status, attempts, next_attempt_at,
                                             lease_until, created_at, updated_at, replay_id) ",
                );
                insert.push_values(chunk, |mut b, d| {
                    b.push_bind(d.subscription_id)
                        .push_bind(d.event_id)
                        .push_bind(new_webhook_id())
                        .push_bind(DeliveryStatus::Pending.as_str())
                        .push("0")
                        .push_bind(now)
                        .push_bind(d.lease_until)
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(d.replay_id);
                });
                insert.push(
                    " RETURNING id, subscription_id, event_id, webhook_id, attempts, lease_until IS NOT NULL",
                );
                insert.build_query_as().fetch_all(db).await
            }
            // One array per column: one statement text for any number of rows (see
            // `db::dialect`, "Rows as arrays").
            db::Split::Postgres(db) => {
                sqlx::query_as(
                    "INSERT INTO deliveries (subscription_id, event_id, webhook_id, status, attempts, next_attempt_at,
                                             lease_until, created_at, updated_at, replay_id)
                     SELECT v.subscription_id, v.event_id, v.webhook_id, $6, 0, $7, v.lease_until, $7, $7, v.replay_id
                     FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[])
                          AS v(subscription_id, event_id, webhook_id, lease_until, replay_id)
                     RETURNING id, subscription_id, event_id, webhook_id, attempts, lease_until IS NOT NULL",
                )
                .bind(chunk.iter().map(|d| d.subscription_id).collect::<Vec<i64>>())
                .bind(chunk.iter().map(|d| d.event_id).collect::<Vec<i64>>())
                .bind(chunk.iter().map(|_| new_webhook_id()).collect::<Vec<String>>())
                .bind(chunk.iter().map(|d| d.lease_until).collect::<Vec<Option<i64>>>())
                .bind(chunk.iter().map(|d| d.replay_id).collect::<Vec<Option<i64>>>())
                .bind(DeliveryStatus::Pending.as_str())
                .bind(now)
                .fetch_all(db)
                .await
            }
        }
        .context("adding deliveries")?;
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
    Ok(claimed)
}

/// How much may be claimed: up to `limit` deliveries, at most `per_subscription` in flight for
/// any one subscription, `held` saying how many each has in flight already.
#[derive(Debug, Clone, Default)]
pub struct ClaimLimits {
    pub limit: usize,
    pub per_subscription: usize,
    pub held: HashMap<i64, usize>,
}

/// Claims deliveries due at `now`, leased until `lease_until`, oldest due first.
pub async fn claim(
    conn: &mut Conn,
    now: i64,
    lease_until: i64,
    limits: &ClaimLimits,
) -> Result<Vec<Claimed>> {
    let full: Vec<i64> = limits
        .held
        .iter()
        .filter(|(_, n)| **n >= limits.per_subscription)
        .map(|(s, _)| *s)
        .collect();
    // {"<subscription id>": room left} for the subscriptions with requests in flight.
    let room: serde_json::Map<String, serde_json::Value> = limits
        .held
        .iter()
        .map(|(s, n)| {
            (
                s.to_string(),
                limits.per_subscription.saturating_sub(*n).into(),
            )
        })
        .collect();
    crate::db::with_db!(conn, db, engine => sqlx::query_as(
        &format!(r#"UPDATE deliveries SET lease_until = $1
         WHERE id IN ({chosen})
         RETURNING id, subscription_id, event_id, webhook_id, attempts"#,
         chosen = unclaimed_by_others(engine, &format!(r#"
             SELECT id FROM (
                 SELECT id, subscription_id,
                        ROW_NUMBER() OVER (PARTITION BY subscription_id ORDER BY next_attempt_at, id) AS n
                 FROM (SELECT id, subscription_id, next_attempt_at FROM deliveries
                       WHERE next_attempt_at <= $2
                         AND (lease_until IS NULL OR lease_until < $2)
                         AND subscription_id NOT IN {ids3}
                       ORDER BY next_attempt_at LIMIT $4) AS due
             ) AS ranked
             WHERE n <= COALESCE({room}, $6)
             LIMIT $7"#, ids3 = crate::db::dialect::ids(engine, 3),
             room = crate::db::dialect::json_integer_at(engine, 5, "subscription_id")))),
    )
    .bind(lease_until)
    .bind(now)
    .bind(serde_json::to_string(&full).expect("BUG: ids serialise"))
    .bind((limits.limit * 4) as i64)
    .bind(serde_json::Value::Object(room).to_string())
    .bind(limits.per_subscription as i64)
    .bind(limits.limit as i64)
    .fetch_all(db)
    .await)
    .context("claiming due deliveries")
}

/// How many deliveries wait to be sent, and since when the oldest due one has been due.
pub async fn depth(pool: &Pool, now: i64) -> Result<(i64, Option<i64>)> {
    crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT COUNT(*), MIN(CASE WHEN next_attempt_at <= $1 THEN next_attempt_at END)
         FROM deliveries WHERE next_attempt_at IS NOT NULL",
    )
    .bind(now)
    .fetch_one(db)
    .await)
    .context("measuring the delivery queue")
}

/// The earliest time a delivery that is not claimed falls due.
pub async fn next_due(pool: &Pool, now: i64) -> Result<Option<i64>> {
    crate::db::with_db!(pool, db => sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM deliveries
         WHERE next_attempt_at IS NOT NULL AND (lease_until IS NULL OR lease_until < $1)",
    )
    .bind(now)
    .fetch_one(db)
    .await)
    .context("finding the next due delivery")
}

/// Stops claimed deliveries that must not be sent: their subscription was switched off or
/// deleted, the organisation switched webhooks off, or their event is gone.
pub async fn cancel(conn: &mut Conn, ids: &[i64], why: &str) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    crate::db::with_db!(conn, db, engine => sqlx::query(
        &format!("UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_until = NULL,
             last_error = $1, updated_at = $2
         WHERE id IN {ids3}", ids3 = crate::db::dialect::ids(engine, 3)),
    )
    .bind(why)
    .bind(now_ms())
    .bind(serde_json::to_string(ids).expect("BUG: ids serialise"))
    .execute(db)
    .await
    .map(crate::db::Done::from))
    .context("cancelling claimed deliveries")?;
    Ok(())
}

/// Most deliveries one job cancels or deletes: whatever a subscription or an organisation
/// holds, each job stays short; housekeeping goes on with the rest, a window a job.
pub const WINDOW: i64 = 500;

/// Why deliveries are cancelled when their organisation switched webhooks off (the delivery
/// log says it).
pub const FEATURE_OFF: &str = "webhooks switched off for the organisation";

/// Whose pending deliveries to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// A subscription switched off or deleted (attempts in flight finish).
    OfSubscription(i64),
    /// One device's events to a subscription whose owner lost access to the device.
    OfSubscriptionForDevice {
        subscription_id: i64,
        device_id: i64,
    },
    /// An organisation that switched webhooks off.
    OfOrganisation(i64),
    /// A cancelled replay (it has at most a few waiting).
    OfReplay(i64),
}

impl Pending {
    /// The ids to stop and their parameters, numbered from `$3` (`cancel_pending` binds its own
    /// two first, and the window's size last).
    fn selection(self, engine: db::Engine) -> (String, Vec<i64>, &'static str) {
        let pending_by_subscription =
            dialect::indexed_by(engine, "deliveries_pending_by_subscription");
        match self {
            Pending::OfSubscription(id) => (
                format!("SELECT id FROM deliveries {pending_by_subscription}
                 WHERE subscription_id = $3 AND next_attempt_at IS NOT NULL AND lease_until IS NULL"),
                vec![id],
                "cancelling a subscription's pending deliveries",
            ),
            Pending::OfSubscriptionForDevice {
                subscription_id,
                device_id,
            } => (
                format!("SELECT d.id FROM deliveries d {pending_by_subscription}
                 JOIN events e ON e.id = d.event_id
                 WHERE d.subscription_id = $3 AND d.next_attempt_at IS NOT NULL
                   AND d.lease_until IS NULL AND e.device_id = $4"),
                vec![subscription_id, device_id],
                "cancelling deliveries of a device no longer accessible",
            ),
            Pending::OfOrganisation(id) => (
                format!("SELECT d.id FROM subscriptions s
                 JOIN deliveries d {pending_by_subscription}
                   ON d.subscription_id = s.id
                 WHERE s.organisation_id = $3 AND d.next_attempt_at IS NOT NULL
                   AND d.lease_until IS NULL"),
                vec![id],
                "cancelling an organisation's pending deliveries",
            ),
            Pending::OfReplay(id) => (
                String::from("SELECT id FROM deliveries
                 WHERE replay_id = $3 AND next_attempt_at IS NOT NULL AND lease_until IS NULL"),
                vec![id],
                "cancelling a replay's pending deliveries",
            ),
        }
    }
}

/// Stops pending deliveries (not those being sent: they finish), at most [`WINDOW`] of them
/// in one job; answers whether more may be left.
pub async fn cancel_pending(conn: &mut Conn, of: Pending, why: &str) -> Result<bool> {
    let (selection, ids, what) = of.selection(conn.engine());
    // The selection's own parameters are $3, $4, …: the window's size comes after them.
    let limit = 3 + ids.len();
    let statement = format!(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, last_error = $1, updated_at = $2
         WHERE id IN ({selection} LIMIT ${limit})"
    );
    let now = now_ms();
    let n = crate::db::with_db!(conn, db => {
        let mut query = sqlx::query(&statement).bind(why).bind(now);
        for id in &ids {
            query = query.bind(*id);
        }
        query.bind(WINDOW).execute(db).await.map(crate::db::Done::from)
    })
    .context(what)?
    .rows_affected();
    Ok(n as i64 >= WINDOW)
}

/// The deliveries `chosen` (a statement of ids, with `$2` the time now) that nobody else is
/// claiming. SQLite: all of them, as one writer claims. Postgres: each row is locked before it
/// is leased, and rows another instance is claiming right now are passed over, not waited for
/// (`SKIP LOCKED`); a row it leased meanwhile fails the lease check again. Only the rows about
/// to be leased are locked — not every candidate looked at.
fn unclaimed_by_others(engine: crate::db::Engine, chosen: &str) -> String {
    match engine {
        crate::db::Engine::Sqlite => chosen.to_owned(),
        crate::db::Engine::Postgres => format!(
            "SELECT id FROM deliveries
             WHERE id IN ({chosen}) AND (lease_until IS NULL OR lease_until < $2)
             FOR UPDATE SKIP LOCKED"
        ),
    }
}

/// Gives back claimed rows that were not finished (shutdown): due at `now`. Rows finished or
/// cancelled meanwhile are left as they are.
pub async fn release(conn: &mut Conn, ids: &[i64], now: i64) -> Result<u64> {
    Ok(
        crate::db::with_db!(conn, db, engine => sqlx::query(&format!(
        "UPDATE deliveries SET lease_until = NULL, next_attempt_at = $1
         WHERE id IN {ids2} AND lease_until IS NOT NULL AND next_attempt_at IS NOT NULL",
        ids2 = crate::db::dialect::ids(engine, 2)))
    .bind(now)
    .bind(serde_json::to_string(ids).expect("BUG: ids serialise"))
    .execute(db)
    .await
    .map(crate::db::Done::from))
        .context("giving back claimed deliveries")?
        .rows_affected(),
    )
}

/// Gives every claimed row back (a fresh start after a crash, on SQLite, where one process
/// serves the database): due at `now`.
pub async fn release_all(conn: &mut Conn, now: i64) -> Result<u64> {
    Ok(crate::db::with_db!(conn, db => sqlx::query(
        "UPDATE deliveries SET lease_until = NULL, next_attempt_at = $1
         WHERE lease_until IS NOT NULL AND next_attempt_at IS NOT NULL",
    )
    .bind(now)
    .execute(db)
    .await
    .map(crate::db::Done::from))
    .context("giving back claimed deliveries")?
    .rows_affected())
}
