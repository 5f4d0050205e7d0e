//! What a change of device access means for subscriptions. The article's rule — users choose
//! trigger events "based on the channels you have access to" — holds at send time, not only
//! when a subscription is saved: when a lab user loses access to a device, their subscriptions'
//! triggers on it stop at once (marked, with the reason people see), their pending deliveries
//! of that device are cancelled, and the audit trail says so. Granting access again does not
//! revive them: the owner chooses them again by editing the subscription.

use crate::db::Conn;
use serde_json::json;

use super::model::{display_name_or_url, subject};
use crate::{
    audit::{self, Actor, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    deliveries::queue::{cancel_pending, Pending},
    devices::access::{set_in, AccessChange},
    error::ResultExt,
    AppState, Result,
};

/// Grants or revokes a lab user's access to a device (Devices → Access), with what a
/// revocation means for their subscriptions, in one transaction.
pub async fn set_device_access(
    state: &AppState,
    admin: &CurrentUser,
    device_id: i64,
    user_id: i64,
    granted: bool,
) -> Result<()> {
    let admin = admin.clone();
    state
        .write_revoking(move |conn| {
            Box::pin(async move {
                let change = set_in(&mut *conn, &admin, device_id, user_id, granted).await?;
                match change {
                    Some(change) if !change.granted => {
                        let reason = format!("access to {} was revoked", change.device_name);
                        lose_access_in(conn, &change, &reason, Actor::User(&admin)).await?;
                    }
                    _ => {}
                }
                Ok(())
            })
        })
        .await
}

/// Marks the user's triggers on the device as no longer accessible, cancels the pending
/// deliveries of that device to those subscriptions, and audits each affected subscription.
/// Returns the subscriptions affected.
pub async fn lose_access_in(
    conn: &mut Conn,
    change: &AccessChange,
    reason: &str,
    actor: Actor<'_>,
) -> Result<Vec<i64>> {
    let now = now_ms();
    let mut affected: Vec<i64> = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "UPDATE subscription_triggers SET lost_access_at = $1, lost_access_reason = $2
         WHERE device_id = $3 AND lost_access_at IS NULL
           AND subscription_id IN (SELECT id FROM subscriptions WHERE owner_id = $4)
         RETURNING subscription_id",
    )
    .bind(now)
    .bind(reason)
    .bind(change.device_id)
    .bind(change.user_id)
    .fetch_all(db)
    .await)
    .context("marking triggers no longer accessible")?;
    affected.sort_unstable();
    affected.dedup();
    for &id in &affected {
        // A first window; housekeeping cancels the rest (none is sent meanwhile: the
        // send-time check sees the trigger marked).
        let of = Pending::OfSubscriptionForDevice {
            subscription_id: id,
            device_id: change.device_id,
        };
        cancel_pending(&mut *conn, of, &format!("no longer accessible: {reason}")).await?;
        let (organisation_id, display_name, url): (i64, String, String) = crate::db::with_db!(conn, db => sqlx::query_as(
            "SELECT organisation_id, display_name, url FROM subscriptions WHERE id = $1",
        )
        .bind(id)
        .fetch_one(db)
        .await)?;
        audit::record(
            &mut *conn,
            organisation_id,
            actor,
            Entry {
                kind: AuditKind::Subscription,
                action: "triggers no longer accessible",
                subject: subject(id, &display_name_or_url(&display_name, &url)),
                before: Some(json!({ "device": change.device_name, "accessible": true })),
                after: Some(
                    json!({ "device": change.device_name, "accessible": false, "reason": reason }),
                ),
            },
        )
        .await?;
    }
    Ok(affected)
}
