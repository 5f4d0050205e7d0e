//! Deliveries deleted for good — by retention, or with a deleted subscription — with their
//! attempts, whose links the records module signs as removed (see [`crate::records`]).

use crate::{
    db::{dialect, Conn},
    error::ResultExt,
    records::{self, RecordsKey},
    Result,
};

/// Deliveries one job deletes: each takes its attempts (up to one per retry, each with up to
/// 64 KiB of answer) with it.
const DELETE_WINDOW: i64 = 200;

/// Deletes up to a window of deliveries (with their attempts) of a deleted subscription;
/// answers whether more may be left.
pub async fn delete_of_subscription(
    conn: &mut Conn,
    key: &RecordsKey,
    subscription_id: i64,
) -> Result<bool> {
    let ids: Vec<i64> = crate::db::with_db!(conn, db, engine => sqlx::query_scalar(
        &format!("SELECT id FROM deliveries {ix} WHERE subscription_id = $1 LIMIT $2 {lock}",
            ix = dialect::indexed_by(engine, "deliveries_by_subscription"),
            lock = engine.pick("", "FOR UPDATE")),
    )
    .bind(subscription_id)
    .bind(DELETE_WINDOW)
    .fetch_all(db)
    .await)
    .context("finding a deleted subscription's deliveries")?;
    let reason = format!("subscription #{subscription_id} deleted");
    delete(conn, key, &ids, &reason).await?;
    Ok(ids.len() as i64 >= DELETE_WINDOW)
}

/// Deletes the finished deliveries with ids in `lo..hi` (with their attempts); answers how
/// many.
pub async fn delete_finished_between(
    conn: &mut Conn,
    key: &RecordsKey,
    lo: i64,
    hi: i64,
) -> Result<u64> {
    let ids: Vec<i64> = crate::db::with_db!(conn, db, engine => sqlx::query_scalar(
        &format!("SELECT id FROM deliveries WHERE id >= $1 AND id < $2 AND next_attempt_at IS NULL {lock}",
            lock = engine.pick("", "FOR UPDATE")),
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(db)
    .await)
    .context("finding finished deliveries")?;
    delete(conn, key, &ids, "retention").await
}

async fn delete(conn: &mut Conn, key: &RecordsKey, ids: &[i64], reason: &str) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    records::remove_attempts(conn, key, ids, reason).await?;
    let n = crate::db::with_db!(conn, db, engine => sqlx::query(
        &format!("DELETE FROM deliveries WHERE id IN {ids1}", ids1 = dialect::ids(engine, 1)),
    )
    .bind(serde_json::to_string(ids).expect("BUG: ids serialise"))
    .execute(db)
    .await
    .map(crate::db::Done::from))
    .context("deleting deliveries")?
    .rows_affected();
    Ok(n)
}
