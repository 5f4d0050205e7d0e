//! What changes leave to the background, so that no change holds the writer for long however
//! much data it concerns: a deleted subscription's delivery log, and the deliveries that must
//! not be sent any more (their subscription was switched off, its organisation switched
//! webhooks off, its owner lost the device) — a window a writer job, until nothing is left.
//! Nothing of it is sent meanwhile: the send-time check refuses all of it.

use crate::{
    deliveries::{
        queue::{cancel_pending, Pending, FEATURE_OFF},
        removal::delete_of_subscription,
    },
    domain::delivery::InactiveReason,
    error::ResultExt,
    records::RecordsKey,
    AppState, Result,
};

/// Subscriptions looked at per step of each kind.
const PER_STEP: i64 = 16;

/// One step of each kind of clean-up; answers whether anything was left to do (then the
/// caller goes on at once).
pub async fn step(state: &AppState) -> Result<bool> {
    let deleted = purge_deleted(state).await?;
    let switched_off = stop_switched_off(state).await?;
    let lost = stop_lost_access(state).await?;
    Ok(deleted || switched_off || lost)
}

/// A window of a deleted subscription's deliveries (with their attempts); the subscription's
/// row (with its triggers, replays and notices) once none is left.
async fn purge_deleted(state: &AppState) -> Result<bool> {
    let deleted: Vec<i64> = crate::db::with_db!(&state.pool, db, engine => sqlx::query_scalar(
        &format!("SELECT id FROM subscriptions {ix_subscriptions_deleted}
         WHERE deleted_at IS NOT NULL LIMIT $1", ix_subscriptions_deleted = crate::db::dialect::indexed_by(engine, "subscriptions_deleted")),
    )
    .bind(PER_STEP)
    .fetch_all(db)
    .await)
    .context("looking for deleted subscriptions")?;
    let key = RecordsKey::of(&state.secrets);
    for &id in &deleted {
        let key = key.clone();
        state
            .write(move |conn| {
                Box::pin(async move {
                    if !delete_of_subscription(&mut *conn, &key, id).await? {
                        crate::db::with_db!(conn, db => sqlx::query(
                            "DELETE FROM subscriptions WHERE id = $1 AND deleted_at IS NOT NULL
                               AND NOT EXISTS (SELECT 1 FROM deliveries WHERE subscription_id = $2)",
                        )
                        .bind(id)
                        .bind(id)
                        .execute(db)
                        .await
                        .map(crate::db::Done::from))
                        .context("deleting a deleted subscription")?;
                    }
                    Ok(())
                })
            })
            .await?;
    }
    Ok(!deleted.is_empty())
}

/// A window of the pending deliveries of each switched-off subscription (or of an
/// organisation that switched webhooks off) that still has some.
async fn stop_switched_off(state: &AppState) -> Result<bool> {
    let waiting: Vec<(i64, i64, Option<String>, bool)> =
        crate::db::with_db!(&state.pool, db, engine => sqlx::query_as(
        &format!("SELECT s.id, s.organisation_id, s.inactive_reason, o.webhooks_enabled
         FROM subscriptions s JOIN organisations o ON o.id = s.organisation_id
         WHERE (NOT s.active OR NOT o.webhooks_enabled) AND s.deleted_at IS NULL
           AND EXISTS (SELECT 1 FROM deliveries d {ix_deliveries_pending_by_subscription}
                       WHERE d.subscription_id = s.id AND d.next_attempt_at IS NOT NULL
                         AND d.lease_until IS NULL)
         LIMIT $1", ix_deliveries_pending_by_subscription = crate::db::dialect::indexed_by(engine, "deliveries_pending_by_subscription")),
    )
    .bind(PER_STEP)
    .fetch_all(db)
    .await)
        .context("looking for deliveries to stop")?;
    for (id, organisation, reason, enabled) in waiting.iter().cloned() {
        state
            .write(move |conn| {
                Box::pin(async move {
                    if !enabled {
                        cancel_pending(
                            &mut *conn,
                            Pending::OfOrganisation(organisation),
                            FEATURE_OFF,
                        )
                        .await?;
                    } else {
                        let why = reason
                            .as_deref()
                            .and_then(InactiveReason::parse)
                            .unwrap_or(InactiveReason::User)
                            .cancels_because();
                        cancel_pending(&mut *conn, Pending::OfSubscription(id), why).await?;
                    }
                    Ok(())
                })
            })
            .await?;
    }
    Ok(!waiting.is_empty())
}

/// A window of the pending deliveries of devices a subscription's owner lost access to.
async fn stop_lost_access(state: &AppState) -> Result<bool> {
    let lost: Vec<(i64, i64, String)> = crate::db::with_db!(&state.pool, db, engine => sqlx::query_as(
        &format!("SELECT DISTINCT t.subscription_id, t.device_id, t.lost_access_reason
         FROM subscription_triggers t
         WHERE t.lost_access_at IS NOT NULL
           AND EXISTS (SELECT 1 FROM deliveries d {ix_deliveries_pending_by_subscription}
                       JOIN events e ON e.id = d.event_id
                       WHERE d.subscription_id = t.subscription_id
                         AND d.next_attempt_at IS NOT NULL AND d.lease_until IS NULL
                         AND e.device_id = t.device_id)
         LIMIT $1", ix_deliveries_pending_by_subscription = crate::db::dialect::indexed_by(engine, "deliveries_pending_by_subscription")),
    )
    .bind(PER_STEP)
    .fetch_all(db)
    .await)
    .context("looking for deliveries of devices no longer accessible")?;
    for (subscription, device, reason) in lost.iter().cloned() {
        state
            .write(move |conn| {
                Box::pin(async move {
                    let why = format!("no longer accessible: {reason}");
                    let of = Pending::OfSubscriptionForDevice {
                        subscription_id: subscription,
                        device_id: device,
                    };
                    cancel_pending(&mut *conn, of, &why).await?;
                    Ok(())
                })
            })
            .await?;
    }
    Ok(!lost.is_empty())
}
