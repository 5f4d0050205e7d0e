//! Switching subscriptions on and off. There is one way to switch one off — [`deactivate`] —
//! whoever does it: its owner or an org admin with the toggle, an org admin removing the
//! registered URL its target matched, or the dispatcher when the receiver answers 410 Gone.

use crate::db::Conn;
use serde_json::json;

use super::{
    model::{display_name_or_url, subject},
    queries::find,
};
use crate::{
    audit::{self, Actor, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    deliveries::queue::{cancel_pending, Pending},
    domain::{
        delivery::InactiveReason,
        sealed::SecretsKey,
        target_url::{is_allowed, TargetUrl},
    },
    settings::{registered_urls, require_webhooks_enabled},
    AppState, Error, Result,
};

/// Switches an active subscription off: marks it with `reason`, cancels its pending
/// deliveries (attempts in flight finish; a first window here, housekeeping cancels the rest
/// — none of them is sent meanwhile, the send-time check sees the subscription off) and
/// writes the audit entry, in the caller's transaction. Returns false when it was not active
/// (nothing changes then).
pub async fn deactivate(
    conn: &mut Conn,
    id: i64,
    reason: InactiveReason,
    actor: Actor<'_>,
) -> Result<bool> {
    let row: Option<(i64, String, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
        "UPDATE subscriptions SET active = FALSE, inactive_reason = $1, updated_at = $2
         WHERE id = $3 AND active
         RETURNING organisation_id, display_name, url",
    )
    .bind(reason.as_str())
    .bind(now_ms())
    .bind(id)
    .fetch_optional(db)
    .await)?;
    let Some((organisation_id, display_name, url)) = row else {
        return Ok(false);
    };
    cancel_pending(
        &mut *conn,
        Pending::OfSubscription(id),
        reason.cancels_because(),
    )
    .await?;
    let mut after = json!({ "active": false });
    if let Some(why) = reason.audit_reason() {
        after["reason"] = why.into();
    }
    audit::record(
        conn,
        organisation_id,
        actor,
        Entry {
            kind: AuditKind::Subscription,
            action: "deactivated",
            subject: subject(id, &display_name_or_url(&display_name, &url)),
            before: Some(json!({ "active": true })),
            after: Some(after),
        },
    )
    .await?;
    Ok(true)
}

/// The toggle on the overview. Activating needs a target that is (still) registered;
/// deliveries start with events that happen from now on.
pub async fn set_active(state: &AppState, user: &CurrentUser, id: i64, active: bool) -> Result<()> {
    require_webhooks_enabled(&state.pool, user).await?;
    let (user, key) = (user.clone(), state.secrets.clone());
    state
        .write_revoking(move |conn| {
            Box::pin(async move { set_active_in(conn, &key, &user, id, active).await })
        })
        .await
}

async fn set_active_in(
    conn: &mut Conn,
    key: &SecretsKey,
    user: &CurrentUser,
    id: i64,
    active: bool,
) -> Result<()> {
    let s = find(&mut *conn, key, user, id).await?;
    if s.active == active {
        return Ok(());
    }
    if !active {
        deactivate(conn, id, InactiveReason::User, Actor::User(user)).await?;
        return Ok(());
    }
    let owner_deactivated: bool = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "SELECT u.deactivated_at IS NOT NULL FROM subscriptions s JOIN users u ON u.id = s.owner_id
         WHERE s.id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await)?;
    if owner_deactivated {
        return Err(Error::Conflict(
            "Its owner's account is deactivated, so the subscription cannot be switched on.".into(),
        ));
    }
    if !s.target_registered {
        return Err(Error::Conflict(format!(
            "{} is not a registered target URL any more, so the subscription cannot be switched on. Ask an organisation administrator to register it.",
            TargetUrl::parse(&s.url).map(|u| u.host().to_owned()).unwrap_or(s.url.clone())
        )));
    }
    let now = now_ms();
    crate::db::with_db!(conn, db => sqlx::query(
        "UPDATE subscriptions SET active = TRUE, inactive_reason = NULL, updated_at = $1, active_since = $2,
             overflowed = 0, overflow_since = NULL, failing_since = NULL
         WHERE id = $3",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    audit::record_by(
        conn,
        user,
        Entry {
            kind: AuditKind::Subscription,
            action: "activated",
            subject: s.subject(),
            before: Some(json!({ "active": false })),
            after: Some(json!({ "active": true })),
        },
    )
    .await
}

/// After a registered URL was removed: every active subscription of the organisation whose
/// target no longer matches is switched off, marked "target not registered".
pub async fn deactivate_unregistered_targets(
    conn: &mut Conn,
    admin: &CurrentUser,
) -> Result<usize> {
    let registered = registered_urls(conn, admin.organisation_id).await?;
    let active: Vec<(i64, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT id, url FROM subscriptions WHERE organisation_id = $1 AND active",
    )
    .bind(admin.organisation_id)
    .fetch_all(db)
    .await)?;
    let mut n = 0;
    for (id, url) in active {
        let allowed = TargetUrl::parse(&url).is_ok_and(|u| is_allowed(&registered, &u));
        if !allowed
            && deactivate(
                conn,
                id,
                InactiveReason::TargetNotRegistered,
                Actor::User(admin),
            )
            .await?
        {
            n += 1;
        }
    }
    Ok(n)
}
