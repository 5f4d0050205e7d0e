//! SQLite's write-ahead log, kept from growing without bound beside a busy writer: a task of
//! its own copies it back every 250 ms, and the writer restarts it between transactions once
//! it has grown (see `db::writer`).

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use sqlx::{Connection, Executor, SqliteConnection};
use tokio::sync::mpsc;

use super::{Job, CHECKPOINT_EVERY};

/// The WAL frames beyond which it is started afresh (16 MiB of 4 KiB pages).
const WAL_FRAMES_BEFORE_RESTART: i64 = 4096;

/// Run by the writer between two transactions, once the background checkpoint has just
/// copied the WAL: copies the few frames written since, so that the next transaction writes
/// the WAL from the top again. It waits briefly for readers of older frames; if they are still
/// busy, the next round tries again.
///
/// RESTART, not TRUNCATE: the file keeps its size (at most `journal_size_limit`, 64 MiB, which
/// SQLite trims it to when the WAL starts again) instead of being cut and synced on the spot.
/// Truncating held the writer up for 9–17 ms once a second at 500 one-point requests/s — most
/// of event → receiver's p99 — where restarting takes about 2 ms.
pub(super) async fn restart_wal(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    conn.execute("PRAGMA busy_timeout = 100").await?;
    let result: sqlx::Result<(i64, i64, i64)> = sqlx::query_as("PRAGMA wal_checkpoint(RESTART)")
        .fetch_one(&mut *conn)
        .await;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    let (busy, _, _) = result?;
    if busy != 0 {
        tracing::debug!("readers kept the WAL from restarting; trying again next round");
    }
    Ok(())
}

/// Copies the WAL back into the database file every 250 ms, for as long as the writer runs,
/// beside it: PASSIVE never waits, and what a reader still needs stays for the next round.
/// When the WAL has grown past [`WAL_FRAMES_BEFORE_RESTART`], it asks the writer to start it
/// afresh ([`restart_wal`]) while there is little left to copy.
pub(super) async fn checkpoints(
    mut conn: SqliteConnection,
    writer: mpsc::WeakSender<Box<dyn Job>>,
    restart: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if writer.upgrade().is_none() {
            break;
        }
        // (busy, frames in the WAL, frames copied)
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut conn)
            .await
        {
            Ok((_, frames, _)) if frames > WAL_FRAMES_BEFORE_RESTART => {
                restart.store(true, Ordering::Release)
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "WAL checkpoint failed"),
        }
    }
    let _ = conn.close().await;
}
