//! A device's recent values for the small charts of the Devices page: the last hour or day of
//! each number channel, in at most [`BUCKETS`] buckets (lowest, highest and mean value of
//! each), so that a chart stays small however often a sensor reports, and a short excursion
//! out of range still shows (a bucket keeps its extremes).

use crate::db::Pool;

use crate::{auth::CurrentUser, clock::now_ms, Error, Result};

/// Buckets per chart: one a minute over an hour, one every 24 minutes over a day.
pub const BUCKETS: i64 = 60;

/// How far back a chart looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Hour,
    Day,
}

impl Window {
    pub fn parse(raw: &str) -> Result<Self> {
        match raw.trim() {
            "hour" => Ok(Window::Hour),
            "day" => Ok(Window::Day),
            _ => Err(Error::invalid("window", "The window must be hour or day.")),
        }
    }

    pub fn millis(self) -> i64 {
        match self {
            Window::Hour => 3_600_000,
            Window::Day => 24 * 3_600_000,
        }
    }
}

/// The values of one bucket of time.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Bucket {
    pub channel_id: i64,
    /// The middle of the bucket (ms since the epoch).
    pub at: i64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub count: i64,
}

/// The recent values of a device's number channels.
#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    pub since: i64,
    pub until: i64,
    /// By channel, then by time.
    pub buckets: Vec<Bucket>,
}

/// The last `window` of a device the user may see (any other is "not found").
pub async fn recent(
    pool: &Pool,
    user: &CurrentUser,
    device_id: i64,
    window: Window,
) -> Result<Recent> {
    let device = super::visible_device(pool, user, device_id).await?;
    let until = now_ms();
    let since = until - window.millis();
    let width = window.millis() / BUCKETS;
    // Per channel the index on (channel_id, timestamp) gives the window's rows directly.
    let buckets = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT p.channel_id, $1 + ((p.timestamp - $1) / $2) * $2 + $2 / 2 AS at,
                MIN(p.value) AS min, MAX(p.value) AS max, AVG(p.value) AS mean, COUNT(*) AS count
         FROM channels c JOIN data_points p ON p.channel_id = c.id
         WHERE c.device_id = $3 AND c.value_type = 'float' AND c.removed_at IS NULL
           AND p.timestamp >= $1 AND p.timestamp <= $4 AND p.value IS NOT NULL
         GROUP BY p.channel_id, (p.timestamp - $1) / $2
         ORDER BY p.channel_id, at",
    )
    .bind(since)
    .bind(width)
    .bind(device.id)
    .bind(until)
    .fetch_all(db)
    .await)?;
    Ok(Recent {
        since,
        until,
        buckets,
    })
}
