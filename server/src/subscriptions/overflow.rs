//! A subscription whose receiver is down collects pending deliveries; past the cap (see the
//! dispatcher's fan-out) events are not queued for it. This records how many, since when,
//! and tells the audit trail when it starts; its owner sees it on the subscription's page.

use crate::db::Conn;

use super::model::{display_name_or_url, subject};
use crate::{
    audit::{self, Actor, AuditKind, Entry},
    error::ResultExt,
    Result,
};

/// `n` more events were not queued for `subscription` (at most `max_pending` were waiting).
pub async fn record_overflow(
    tx: &mut Conn,
    subscription: i64,
    n: i64,
    max_pending: usize,
    now: i64,
) -> Result<()> {
    let (organisation_id, display_name, url, started): (i64, String, String, bool) =
        crate::db::with_db!(tx, db => sqlx::query_as(
            "UPDATE subscriptions SET overflowed = overflowed + $1,
             overflow_since = COALESCE(overflow_since, $2)
         WHERE id = $3
         RETURNING organisation_id, display_name, url, overflow_since = $2 AND overflowed = $1",
        )
        .bind(n)
        .bind(now)
        .bind(subscription)
        .fetch_one(db)
        .await)
        .context("counting events not queued")?;
    tracing::warn!(
        subscription,
        events = n,
        max_pending,
        "too many deliveries waiting; events not queued"
    );
    if started {
        audit::record(
            &mut *tx,
            organisation_id,
            Actor::System,
            Entry {
                kind: AuditKind::Subscription,
                action: "deliveries dropped",
                subject: subject(subscription, &display_name_or_url(&display_name, &url)),
                before: None,
                after: Some(serde_json::json!({
                    "reason": format!("more than {max_pending} deliveries waiting"),
                })),
            },
        )
        .await?;
    }
    Ok(())
}
