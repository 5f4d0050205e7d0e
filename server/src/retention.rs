//! Retention: finished deliveries (with their attempts) older than the delivery log's
//! retention are deleted, then the events no delivery needs any more. Data points are lab
//! records: they are kept unless the operator sets a retention for them.
//!
//! Run by the dispatcher about once an hour. Every table is walked by id in windows of a
//! bounded number of rows, each window one job of the writer, so that maintenance never holds
//! the write turn for more than a few milliseconds however large the tables are.

use crate::db::Pool;

use crate::{deliveries, error::ResultExt, records::RecordsKey, AppState, Result};

/// Rows looked at per window.
const WINDOW: i64 = 2000;

/// What is old enough to go (milliseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Finished deliveries created before this.
    pub deliveries: i64,
    /// Data points measured before this; `None` keeps them all.
    pub data_points: Option<i64>,
}

/// What was deleted, and the longest any one window held the write turn.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub events: u64,
    pub data_points: u64,
    pub longest_window: std::time::Duration,
}

pub async fn prune(state: &AppState, cutoffs: Cutoffs) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    // Ids grow with time: everything older than the cutoff lies below one id.
    if let Some(below) = first_id_at_or_after(&state.pool, "deliveries", cutoffs.deliveries).await?
    {
        // Their attempts' links are signed as removed by retention (docs/records.md).
        let key = Box::new(RecordsKey::of(&state.secrets));
        (pruned.deliveries, pruned.longest_window) =
            in_windows(state, "deliveries", below, Delete::FinishedDeliveries(key)).await?;
    }
    if let Some(below) = first_id_at_or_after(&state.pool, "events", cutoffs.deliveries).await? {
        // Only what fan-out has read, never the newest event (new ids continue after it, never
        // below the cursor), and only what no delivery still refers to.
        let fanned_out_below = crate::devices::events::fanned_out_below(&state.pool).await?;
        let newest: i64 = crate::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events")
            .fetch_one(db)
            .await)
            .context("reading the newest event")?;
        let longest;
        (pruned.events, longest) = in_windows(
            state,
            "events",
            below.min(fanned_out_below).min(newest),
            Delete::Statement(
                "DELETE FROM events WHERE id >= $1 AND id < $2
                 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
            ),
        )
        .await?;
        pruned.longest_window = pruned.longest_window.max(longest);
    }
    if let Some(cutoff) = cutoffs.data_points {
        // A device may send old measurements late, so ids say nothing of their age: each
        // channel's old points are found by its (channel, time) index — only what is old is
        // looked at, however large the table.
        let longest;
        (pruned.data_points, longest) = old_data_points(state, cutoff).await?;
        pruned.longest_window = pruned.longest_window.max(longest);
    }
    for (table, n) in [
        ("deliveries", pruned.deliveries),
        ("events", pruned.events),
        ("data_points", pruned.data_points),
    ] {
        metrics::counter!("labhook_retention_deleted_total", "table" => table).increment(n);
    }
    Ok(pruned)
}

/// Deletes the data points measured before `cutoff`, channel by channel, a window a writer
/// job; answers how many, and the longest a window took.
async fn old_data_points(state: &AppState, cutoff: i64) -> Result<(u64, std::time::Duration)> {
    let channels: Vec<i64> = crate::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT id FROM channels ORDER BY id")
        .fetch_all(db)
        .await)
        .context("reading the channels")?;
    let (mut deleted, mut longest) = (0, std::time::Duration::ZERO);
    for channel in channels {
        loop {
            let (rows, took) = state
                .write(move |conn| {
                    Box::pin(async move {
                        let clock = std::time::Instant::now();
                        let rows = crate::db::with_db!(conn, db, engine => sqlx::query(
                            &format!("DELETE FROM data_points WHERE id IN (
                               SELECT id FROM data_points {ix_data_points_by_channel}
                               WHERE channel_id = $1 AND timestamp < $2 LIMIT $3)", ix_data_points_by_channel = crate::db::dialect::indexed_by(engine, "data_points_by_channel")),
                        )
                        .bind(channel)
                        .bind(cutoff)
                        .bind(WINDOW)
                        .execute(db)
                        .await
                        .map(crate::db::Done::from))
                        .context("deleting old data points")?
                        .rows_affected();
                        Ok((rows, clock.elapsed()))
                    })
                })
                .await?;
            deleted += rows;
            longest = longest.max(took);
            crate::health::housekeeping_beat(state);
            if (rows as i64) < WINDOW {
                break;
            }
        }
    }
    Ok((deleted, longest))
}

/// The smallest id whose row was created at or after `cutoff` (rows below it are older),
/// found by bisection on the id: `created_at` grows with the id. `None` when nothing is older.
async fn first_id_at_or_after(
    pool: &Pool,
    table: &'static str,
    cutoff: i64,
) -> Result<Option<i64>> {
    let (min, max): (Option<i64>, Option<i64>) =
        crate::db::with_db!(pool, db => sqlx::query_as(&format!("SELECT MIN(id), MAX(id) FROM {table}"))
            .fetch_one(db)
            .await)
            .context("reading the id range")?;
    let (Some(mut lo), Some(max)) = (min, max) else {
        return Ok(None);
    };
    let created_at = |id: i64| async move {
        crate::db::with_db!(pool, db => sqlx::query_scalar::<_, i64>(&format!(
            "SELECT created_at FROM {table} WHERE id >= $1 ORDER BY id LIMIT 1"
        ))
        .bind(id)
        .fetch_one(db)
        .await)
        .context("reading a creation time")
    };
    if created_at(lo).await? >= cutoff {
        return Ok(None);
    }
    // Invariant: the row at or after `lo` is older than the cutoff; `hi` is past the older ones.
    let mut hi = max + 1;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if created_at(mid).await? < cutoff {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(Some(hi))
}

/// What a window deletes.
#[derive(Clone)]
enum Delete {
    /// A statement binding the window's start as `$1` and its end as `$2`.
    Statement(&'static str),
    /// Finished deliveries, by their owner module (their attempts are records).
    FinishedDeliveries(Box<RecordsKey>),
}

/// Runs `delete` over the ids below `end`, one window per writer job; returns the rows
/// deleted and the longest a window took inside its transaction.
async fn in_windows(
    state: &AppState,
    table: &'static str,
    end: i64,
    delete: Delete,
) -> Result<(u64, std::time::Duration)> {
    let start: i64 = crate::db::with_db!(&state.pool, db => sqlx::query_scalar(&format!("SELECT COALESCE(MIN(id), 0) FROM {table}"))
        .fetch_one(db)
        .await)
        .context("reading the smallest id")?;
    let mut deleted = 0;
    let mut longest = std::time::Duration::ZERO;
    let mut lo = start;
    while lo < end {
        let hi = (lo + WINDOW).min(end);
        let delete = delete.clone();
        let (rows, took) = state
            .write(move |conn| {
                Box::pin(async move {
                    let clock = std::time::Instant::now();
                    let rows = match delete {
                        Delete::Statement(statement) => {
                            crate::db::with_db!(conn, db => sqlx::query(statement)
                            .bind(lo)
                            .bind(hi)
                            .execute(db)
                            .await
                            .map(crate::db::Done::from))
                            .context("deleting old rows")?
                            .rows_affected()
                        }
                        Delete::FinishedDeliveries(key) => {
                            deliveries::removal::delete_finished_between(conn, &key, lo, hi).await?
                        }
                    };
                    Ok((rows, clock.elapsed()))
                })
            })
            .await?;
        deleted += rows;
        longest = longest.max(took);
        lo = hi;
        crate::health::housekeeping_beat(state);
    }
    Ok((deleted, longest))
}
