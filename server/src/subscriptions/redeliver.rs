//! Sending one delivery again from its log entry: a new attempt with the same `webhook-id`
//! (receivers drop duplicates by it), for a delivery that failed, was delivered, or was
//! cancelled — not one still queued. The subscription must be on; the send-time checks
//! (registered target, access) apply as to any attempt. Audited.

use serde_json::json;

use super::queries::find;
use crate::{
    audit::{self, AuditKind, Entry},
    auth::{
        scope::{self, Scoped},
        CurrentUser,
    },
    clock::now_ms,
    settings::require_webhooks_enabled,
    AppState, Error, Result,
};

/// Queues the delivery again, due now; the dispatcher is woken.
pub async fn redeliver(state: &AppState, user: &CurrentUser, delivery_id: i64) -> Result<()> {
    require_webhooks_enabled(&state.pool, user).await?;
    let (user, key) = (user.clone(), state.secrets.clone());
    state
        .write(move |conn| {
            Box::pin(async move {
                let row: Option<(i64, String, String, Option<i64>)> = crate::db::with_db!(conn, db => sqlx::query_as(&format!(
                    "SELECT d.subscription_id, d.status, d.webhook_id, d.next_attempt_at
                     FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
                     WHERE d.id = $4 AND {}",
                    scope::SUBSCRIPTION
                ))
                .scoped(&user)
                .bind(delivery_id)
                .fetch_optional(db)
                .await)?;
                let (subscription_id, status, webhook_id, next) =
                    row.ok_or_else(|| Error::not_found("Delivery"))?;
                let s = find(&mut *conn, &key, &user, subscription_id).await?;
                if !s.active {
                    return Err(Error::Conflict(
                        "The subscription is switched off: switch it on to send deliveries again."
                            .into(),
                    ));
                }
                if next.is_some() {
                    return Err(Error::Conflict(
                        "This delivery is still queued: it will be tried again on its own.".into(),
                    ));
                }
                let now = now_ms();
                crate::db::with_db!(conn, db => sqlx::query(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_until = NULL,
                         updated_at = $2
                     WHERE id = $3 AND next_attempt_at IS NULL",
                )
                .bind(now)
                .bind(now)
                .bind(delivery_id)
                .execute(db)
                .await
                .map(crate::db::Done::from))?;
                audit::record_by(
                    conn,
                    &user,
                    Entry {
                        kind: AuditKind::Subscription,
                        action: "delivery sent again",
                        subject: s.subject(),
                        before: Some(json!({ "delivery": delivery_id, "webhook_id": webhook_id, "status": status })),
                        after: Some(json!({ "delivery": delivery_id, "status": "pending" })),
                    },
                )
                .await
            })
        })
        .await?;
    state.events_added.notify_one();
    Ok(())
}
