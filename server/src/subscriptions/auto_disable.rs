//! Switching off subscriptions whose receiver has been failing for days: every delivery since
//! `failing since` failed (at least [`AutoDisable::min_failures`] of them, the first longer
//! than [`AutoDisable::after`] ago) and none succeeded. It goes through the one `deactivate`,
//! marked with when the failures began; the owner and the org admins get a notice, and the
//! audit trail records it. Switching the subscription on again clears the mark.

use sqlx::SqliteConnection;

use super::{model::display_name_or_url, switch::deactivate};
use crate::{
    audit::Actor, clock::rfc3339, config::AutoDisable, domain::delivery::InactiveReason,
    notifications::notify_about_subscription, AppState, Result,
};

/// Switches off what has been failing long enough as of `now`; answers their ids.
pub async fn sweep(state: &AppState, rule: AutoDisable, now: i64) -> Result<Vec<i64>> {
    let switched = state
        .write(move |conn| Box::pin(async move { sweep_in(conn, rule, now).await }))
        .await?;
    Ok(switched.into_iter().map(|(id, _)| id).collect())
}

/// The sweep on the operator's command (`labhook switch-off-failing`), on the database file
/// itself: the serving process need not run, and when it does, SQLite orders the two writers.
pub async fn sweep_from_command_line(
    pool: &sqlx::SqlitePool,
    rule: AutoDisable,
    now: i64,
) -> Result<Vec<(i64, String)>> {
    let mut tx = pool.begin().await?;
    let switched = sweep_in(&mut tx, rule, now).await?;
    tx.commit().await?;
    Ok(switched)
}

/// Answers the ids and names of what it switched off.
async fn sweep_in(
    conn: &mut SqliteConnection,
    rule: AutoDisable,
    now: i64,
) -> Result<Vec<(i64, String)>> {
    let cutoff = now - rule.after.as_millis() as i64;
    // Per active subscription: its failed deliveries since its last success (and since it was
    // last switched on), and when the first of them was made.
    let failing: Vec<(i64, i64, i64, String, String)> = sqlx::query_as(
        "SELECT s.id, MIN(d.created_at), COUNT(*), s.display_name, s.url
         FROM subscriptions s JOIN deliveries d ON d.subscription_id = s.id
         WHERE s.active AND d.status = 'failed' AND NOT d.test AND d.created_at >= s.active_since
           AND d.created_at > COALESCE(
                 (SELECT MAX(ok.updated_at) FROM deliveries ok
                  WHERE ok.subscription_id = s.id AND ok.status = 'delivered' AND NOT ok.test), 0)
         GROUP BY s.id
         HAVING MIN(d.created_at) <= ?1 AND COUNT(*) >= ?2",
    )
    .bind(cutoff)
    .bind(rule.min_failures)
    .fetch_all(&mut *conn)
    .await?;
    let mut switched = Vec::new();
    for (id, since, failures, display_name, url) in failing {
        if !deactivate(conn, id, InactiveReason::Failing, Actor::System).await? {
            continue;
        }
        sqlx::query("UPDATE subscriptions SET failing_since = ? WHERE id = ?")
            .bind(since)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        // "2026-11-24 09:30 UTC"
        let when = rfc3339(since)
            .get(..16)
            .unwrap_or_default()
            .replace('T', " ");
        let name = display_name_or_url(&display_name, &url);
        let message = format!(
            "{name} was switched off: its {failures} deliveries since {when} UTC all failed. Fix the receiver, then switch it on again.",
        );
        notify_about_subscription(conn, id, &message).await?;
        switched.push((id, name));
    }
    Ok(switched)
}
