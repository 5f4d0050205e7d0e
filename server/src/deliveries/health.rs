//! How a subscription's deliveries are doing: over the last day, how many were delivered and
//! how many failed (the overview's health), and per hour by outcome (the chart on its page).
//! Test events are left out: they say nothing about the receiver's everyday health.

use crate::db::{Conn, Pool};

use crate::{
    auth::{
        scope::{self, Scoped},
        CurrentUser,
    },
    settings::require_webhooks_enabled,
    Error, Result,
};

const HOUR: i64 = 3_600_000;

/// One subscription's deliveries since a moment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Health {
    pub subscription_id: i64,
    pub delivered: i64,
    /// Failed for good, or still retrying after a failed attempt.
    pub failing: i64,
    pub last_failure_at: Option<i64>,
}

/// The health of these subscriptions over the whole hours since `since` (the caller checked
/// that they are visible).
pub async fn health_of(
    conn: &mut Conn,
    subscription_ids: &[i64],
    since: i64,
) -> Result<Vec<Health>> {
    let ids = serde_json::to_string(subscription_ids).expect("BUG: ids serialise");
    Ok(
        crate::db::with_db!(conn, db, engine => sqlx::query_as(&health_statement(engine))
    .bind(&ids)
    .bind(first_whole_hour(since))
    .bind(HOUR)
    .fetch_all(db)
    .await)?,
    )
}

/// [`health_of`]'s statement.
pub(crate) fn health_statement(engine: crate::db::Engine) -> String {
    HEALTH
        .of(engine)
        .replace("{ids1}", &crate::db::dialect::ids(engine, 1))
}

/// [`per_hour`]'s statement.
pub(crate) fn per_hour_statement(engine: crate::db::Engine) -> &'static str {
    PER_HOUR.of(engine)
}

/// The first whole hour at or after `at`, as ms since the epoch.
fn first_whole_hour(at: i64) -> i64 {
    (at + HOUR - 1).div_euclid(HOUR) * HOUR
}

/// One statement written once per engine: SQLite reads the hourly counts its triggers keep
/// (migrations/0025), Postgres counts the deliveries through an index that holds what it reads.
struct PerEngine {
    sqlite: &'static str,
    postgres: &'static str,
}

impl PerEngine {
    fn of(&self, engine: crate::db::Engine) -> &'static str {
        match engine {
            crate::db::Engine::Sqlite => self.sqlite,
            crate::db::Engine::Postgres => self.postgres,
        }
    }
}

/// Binds `{ids1}` (the subscriptions), $2 (from, ms) and $3 (an hour in ms).
const HEALTH: PerEngine = PerEngine {
    sqlite: "SELECT subscription_id, SUM(delivered) AS delivered, SUM(failed + retrying) AS failing,
                    MAX(last_failure_at) AS last_failure_at
             FROM delivery_hours
             WHERE subscription_id IN {ids1} AND hour >= $2 / $3
             GROUP BY subscription_id",
    postgres: "SELECT subscription_id,
                    COUNT(*) FILTER (WHERE status = 'delivered') AS delivered,
                    COUNT(*) FILTER (WHERE status = 'failed' OR (status = 'retrying' AND attempts > 0)) AS failing,
                    MAX(CASE WHEN status IN ('failed', 'retrying') THEN updated_at END) AS last_failure_at
             FROM deliveries
             WHERE subscription_id IN {ids1} AND created_at >= $2 AND NOT test AND $3::bigint > 0
             GROUP BY subscription_id",
};

/// Binds $1 (the subscription), $2 (from, ms) and $3 (an hour in ms).
const PER_HOUR: PerEngine = PerEngine {
    sqlite: "SELECT hour * $3 AS at, delivered, failed, other
             FROM delivery_hours WHERE subscription_id = $1 AND hour >= $2 / $3",
    postgres: "SELECT (created_at / $3) * $3 AS at,
                    COUNT(*) FILTER (WHERE status = 'delivered') AS delivered,
                    COUNT(*) FILTER (WHERE status = 'failed') AS failed,
                    COUNT(*) FILTER (WHERE status NOT IN ('delivered', 'failed')) AS other
             FROM deliveries
             WHERE subscription_id = $1 AND created_at >= $2 AND NOT test
             GROUP BY created_at / $3",
};

/// Deliveries made in one hour, by their outcome so far.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Hour {
    /// The hour's start (ms since the epoch, a whole hour in UTC).
    pub at: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Pending, retrying or cancelled.
    pub other: i64,
}

/// The last `hours` hours of a subscription the user may see, oldest first, every hour listed
/// (empty ones as zeros).
pub async fn per_hour(
    pool: &Pool,
    user: &CurrentUser,
    subscription_id: i64,
    now: i64,
    hours: i64,
) -> Result<Vec<Hour>> {
    require_webhooks_enabled(pool, user).await?;
    let visible: Option<i64> = crate::db::with_db!(pool, db => sqlx::query_scalar(&format!(
        "SELECT s.id FROM subscriptions s WHERE s.id = $4 AND {}",
        scope::SUBSCRIPTION
    ))
    .scoped(user)
    .bind(subscription_id)
    .fetch_optional(db)
    .await)?;
    visible.ok_or_else(|| Error::not_found("Subscription"))?;
    let first = (now / HOUR - hours + 1) * HOUR;
    let counted: Vec<Hour> = crate::db::with_db!(pool, db, engine => sqlx::query_as(per_hour_statement(engine))
        .bind(subscription_id)
        .bind(first)
        .bind(HOUR)
        .fetch_all(db)
        .await)?;
    Ok((0..hours)
        .map(|i| {
            let at = first + i * HOUR;
            counted
                .iter()
                .find(|h| h.at == at)
                .cloned()
                .unwrap_or(Hour {
                    at,
                    delivered: 0,
                    failed: 0,
                    other: 0,
                })
        })
        .collect())
}
