//! Switching off subscriptions whose receiver has been failing for days: every delivery since
//! `failing since` failed (at least [`AutoDisable::min_failures`] of them, the first longer
//! than [`AutoDisable::after`] ago) and none succeeded. It goes through the one `deactivate`,
//! marked with when the failures began; the owner and the org admins get a notice, and the
//! audit trail records it. Switching the subscription on again clears the mark.

use crate::db::Conn;

use super::{model::display_name_or_url, switch::deactivate};
use crate::{
    audit::Actor, clock::rfc3339, config::AutoDisable, domain::delivery::InactiveReason,
    notifications::notify_about_subscription, AppState, Result,
};

/// A subscription the sweep found failing: since when (its first failed delivery since its
/// last success), how many failed, and the first failed delivery's id.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Failing {
    id: i64,
    since: i64,
    failures: i64,
    first_failed: i64,
    display_name: String,
    url: String,
}

/// Switches off what has been failing long enough as of `now`; answers their ids. The
/// subscriptions are found on a reader; each is switched off in a writer job of its own,
/// after a check (bounded by its failures) that nothing was delivered since.
pub async fn sweep(state: &AppState, rule: AutoDisable, now: i64) -> Result<Vec<i64>> {
    let failing = {
        let mut conn = state.pool.acquire().await?;
        candidates(&mut conn, rule, now).await?
    };
    let mut switched = Vec::new();
    for f in failing {
        let id = f.id;
        let off = state
            .write_revoking(move |conn| Box::pin(async move { switch_off(conn, &f).await }))
            .await?;
        if off {
            switched.push(id);
        }
        crate::health::housekeeping_beat(state);
    }
    Ok(switched)
}

/// The sweep on the operator's command (`labhook switch-off-failing`), on the database file
/// itself: the serving process need not run, and when it does, SQLite orders the two writers.
pub async fn sweep_from_command_line(
    pool: &crate::db::Pool,
    rule: AutoDisable,
    now: i64,
) -> Result<Vec<(i64, String)>> {
    let failing = {
        let mut conn = pool.acquire().await?;
        candidates(&mut conn, rule, now).await?
    };
    let mut switched = Vec::new();
    for f in failing {
        let mut tx = pool.begin_write().await?;
        if switch_off(&mut tx, &f).await? {
            switched.push((f.id, display_name_or_url(&f.display_name, &f.url)));
        }
        tx.commit().await?;
    }
    Ok(switched)
}

/// The active subscriptions whose deliveries have failed long enough (read only).
async fn candidates(conn: &mut Conn, rule: AutoDisable, now: i64) -> Result<Vec<Failing>> {
    let cutoff = now - rule.after.as_millis() as i64;
    // Per active subscription: its failed deliveries since its last success (and since it was
    // last switched on), and when the first of them was made.
    Ok(crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT s.id, MIN(d.created_at) AS since, COUNT(*) AS failures, MIN(d.id) AS first_failed,
                s.display_name, s.url
         FROM subscriptions s JOIN deliveries d ON d.subscription_id = s.id
         WHERE s.active AND d.status = 'failed' AND NOT d.test AND d.created_at >= s.active_since
           AND d.created_at > COALESCE(
                 (SELECT MAX(ok.updated_at) FROM deliveries ok
                  WHERE ok.subscription_id = s.id AND ok.status = 'delivered' AND NOT ok.test), 0)
         GROUP BY s.id
         HAVING MIN(d.created_at) <= $1 AND COUNT(*) >= $2",
    )
    .bind(cutoff)
    .bind(rule.min_failures)
    .fetch_all(db)
    .await)?)
}

/// Switches one failing subscription off, unless it is off already or something was
/// delivered since its failures began (looking only at its deliveries since the first
/// failure); answers whether it did.
async fn switch_off(conn: &mut Conn, f: &Failing) -> Result<bool> {
    let recovered: bool = crate::db::with_db!(conn, db, engine => sqlx::query_scalar(
        &format!("SELECT EXISTS (SELECT 1 FROM deliveries {ix_deliveries_by_subscription}
                        WHERE subscription_id = $1 AND id > $2 AND status = 'delivered' AND NOT test)", ix_deliveries_by_subscription = crate::db::dialect::indexed_by(engine, "deliveries_by_subscription")),
    )
    .bind(f.id)
    .bind(f.first_failed)
    .fetch_one(db)
    .await)?;
    if recovered || !deactivate(conn, f.id, InactiveReason::Failing, Actor::System).await? {
        return Ok(false);
    }
    crate::db::with_db!(conn, db => sqlx::query("UPDATE subscriptions SET failing_since = $1 WHERE id = $2")
        .bind(f.since)
        .bind(f.id)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    // "2026-11-24 09:30 UTC"
    let when = rfc3339(f.since)
        .get(..16)
        .unwrap_or_default()
        .replace('T', " ");
    let name = display_name_or_url(&f.display_name, &f.url);
    let message = format!(
        "{name} was switched off: its {} deliveries since {when} UTC all failed. Fix the receiver, then switch it on again.",
        f.failures
    );
    notify_about_subscription(conn, f.id, &message).await?;
    Ok(true)
}
