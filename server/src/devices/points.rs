//! A channel's stored data points, for integrators pulling what they missed (the API's
//! `data_points`): only channels of devices the user may see, in a time window, a page at a
//! time.

use crate::db::Pool;

use crate::{
    auth::{
        scope::{self, Scoped},
        CurrentUser,
    },
    db::dialect,
    paging::{Page, PageRequest},
    Error, Result,
};

/// One data point as Laboperator's API hands it out: `[timestamp, value, str_value, channel]`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Point {
    pub timestamp: i64,
    pub value: Option<f64>,
    pub str_value: Option<String>,
    pub channel_id: i64,
}

/// The data points of `channels` (every visible channel when empty) with
/// `since <= timestamp < until`, by time. A channel the user may not see is "not found".
pub async fn list(
    pool: &Pool,
    user: &CurrentUser,
    channels: &[i64],
    since: i64,
    until: i64,
    page: PageRequest,
    newest_first: bool,
) -> Result<Page<Point>> {
    if until <= since {
        return Err(Error::invalid(
            "filter[timestamp]",
            "The end of the time window must come after its start.",
        ));
    }
    let channels_json = serde_json::to_string(channels).expect("BUG: ids serialise");
    let visible: i64 = crate::db::with_db!(pool, db, engine => sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM channels c JOIN devices d ON d.id = c.device_id
         WHERE c.id IN {ids4} AND c.removed_at IS NULL AND {}",
        scope::DEVICE
    , ids4 = crate::db::dialect::ids(engine, 4)))
    .scoped(user)
    .bind(&channels_json)
    .fetch_one(db)
    .await)?;
    if visible != channels.len() as i64 {
        return Err(Error::not_found("Channel"));
    }
    // ?4 channels (all visible ones when empty), ?5/?6 the window.
    let from = format!(
        "FROM data_points p JOIN channels c ON c.id = p.channel_id JOIN devices d ON d.id = c.device_id
         WHERE {} AND c.removed_at IS NULL
           AND ($4 = '[]' OR p.channel_id IN {channels})
           AND p.timestamp >= $5 AND p.timestamp < $6",
        scope::DEVICE,
        channels = dialect::ids(pool.engine(), 4),
    );
    let total: i64 = crate::db::with_db!(pool, db => sqlx::query_scalar(&format!("SELECT COUNT(*) {from}"))
        .scoped(user)
        .bind(&channels_json)
        .bind(since)
        .bind(until)
        .fetch_one(db)
        .await)?;
    let items = crate::db::with_db!(pool, db => sqlx::query_as(&format!(
        "SELECT p.timestamp, p.value, p.str_value, p.channel_id {from}
         ORDER BY CASE WHEN $9 THEN -p.timestamp ELSE p.timestamp END, p.id LIMIT $7 OFFSET $8"
    ))
    .scoped(user)
    .bind(&channels_json)
    .bind(since)
    .bind(until)
    .bind(page.limit())
    .bind(page.offset())
    .bind(newest_first)
    .fetch_all(db)
    .await)?;
    Ok(page.of(items, total))
}
