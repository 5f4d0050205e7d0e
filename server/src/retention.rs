//! Retention: finished deliveries (with their attempts) older than the configured time are
//! deleted, then the events and data points no delivery needs any more. Run by the dispatcher
//! about once an hour, in small transactions so that the write turn is never held for long.

use crate::{AppState, Result};

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
