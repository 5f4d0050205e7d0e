//! Changing subscriptions: create, edit, delete, rotate the secret — each in one write
//! transaction with its audit entry. Switching on and off is [`super::switch`].

use std::collections::HashMap;

use crate::db::{Conn, Pool};

use super::{
    model::{Created, Subscription},
    queries::{find, require_owner},
    rules::{validate, ChoosableChannel, SubscriptionInput, ValidSubscription},
};
use crate::{
    audit::{self, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    config::Quotas,
    devices,
    domain::{
        channel::ValueType, headers::HeaderValue, sealed::SecretsKey, signature::generate_secret,
    },
    settings::{registered_urls, require_webhooks_enabled},
    AppState, Error, Result,
};

async fn check(
    conn: &mut Conn,
    pool: &Pool,
    user: &CurrentUser,
    input: &SubscriptionInput,
    existing: Option<&Subscription>,
) -> Result<ValidSubscription> {
    let registered = registered_urls(conn, user.organisation_id).await?;
    let choosable: HashMap<i64, ChoosableChannel> = devices::visible_devices(pool, user)
        .await?
        .into_iter()
        .flat_map(|d| d.channels)
        .map(|c| {
            (
                c.id,
                ChoosableChannel {
                    device_id: c.device_id,
                    has_range: c.spec.has_range(),
                    numeric: c.spec.value_type == ValueType::Float,
                    name: c.name,
                },
            )
        })
        .collect();
    // A secret header left untouched in the form keeps its stored value.
    let stored = |name: &str| -> Option<HeaderValue> {
        existing?
            .headers
            .iter()
            .find(|h| h.secret && h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.clone())
    };
    validate(input, &registered, &choosable, stored).map_err(Error::Invalid)
}

async fn store_triggers(conn: &mut Conn, id: i64, v: &ValidSubscription) -> Result<()> {
    crate::db::with_db!(conn, db => sqlx::query("DELETE FROM subscription_triggers WHERE subscription_id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    for (channel, device, event) in &v.triggers {
        let options = v
            .options
            .get(&(*channel, *event))
            .and_then(|o| o.to_stored());
        crate::db::with_db!(conn, db => sqlx::query(
            "INSERT INTO subscription_triggers (subscription_id, channel_id, device_id, event_type, options)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(channel)
        .bind(device)
        .bind(event.as_str())
        .bind(options)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    }
    Ok(())
}

/// Refuses a new subscription past the user's or the organisation's quota (counted inside the
/// write transaction, so parallel creations cannot pass it together).
async fn within_quota(conn: &mut Conn, user: &CurrentUser, quotas: Quotas) -> Result<()> {
    let (mine, organisation): (i64, i64) = crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE owner_id = $1), COUNT(*) FROM subscriptions
         WHERE organisation_id = $2 AND deleted_at IS NULL",
    )
    .bind(user.id)
    .bind(user.organisation_id)
    .fetch_one(db)
    .await)?;
    if mine >= i64::from(quotas.subscriptions_per_user) {
        return Err(Error::Conflict(format!(
            "You have {mine} subscriptions, the most one person may have. Delete one you no longer need first."
        )));
    }
    if organisation >= i64::from(quotas.subscriptions_per_organisation) {
        return Err(Error::Conflict(format!(
            "Your organisation has {organisation} subscriptions, the most this server allows. Ask an organisation administrator to remove unused ones."
        )));
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    user: &CurrentUser,
    input: &SubscriptionInput,
) -> Result<Created> {
    require_webhooks_enabled(&state.pool, user).await?;
    let (user, input, pool, key, quotas) = (
        user.clone(),
        input.clone(),
        state.pool.clone(),
        state.secrets.clone(),
        state.config.quotas,
    );
    state
        .write(move |conn| {
            Box::pin(async move { create_in(conn, &pool, &key, quotas, &user, &input).await })
        })
        .await
}

async fn create_in(
    conn: &mut Conn,
    pool: &Pool,
    key: &SecretsKey,
    quotas: Quotas,
    user: &CurrentUser,
    input: &SubscriptionInput,
) -> Result<Created> {
    let valid = check(&mut *conn, pool, user, input, None).await?;
    within_quota(&mut *conn, user, quotas).await?;
    let now = now_ms();
    let secret = generate_secret();
    let id: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "INSERT INTO subscriptions (organisation_id, owner_id, display_name, url, headers, active,
                                    active_since, secret, created_at, updated_at, use_replies)
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(user.organisation_id)
    .bind(user.id)
    .bind(&valid.display_name)
    .bind(valid.url.as_str())
    .bind(valid.headers.to_stored(key))
    .bind(now)
    .bind(key.seal(&secret))
    .bind(now)
    .bind(now)
    .bind(valid.use_replies)
    .fetch_one(db)
    .await)?;
    store_triggers(&mut *conn, id, &valid).await?;
    let created = find(&mut *conn, key, user, id).await?;
    audit::record_by(
        conn,
        user,
        Entry {
            kind: AuditKind::Subscription,
            action: "created",
            subject: created.subject(),
            before: None,
            after: Some(created.snapshot()),
        },
    )
    .await?;
    Ok(Created {
        id,
        name: created.name().to_owned(),
        secret,
    })
}

pub async fn update(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    input: &SubscriptionInput,
) -> Result<()> {
    require_webhooks_enabled(&state.pool, user).await?;
    let (user, input, pool, key) = (
        user.clone(),
        input.clone(),
        state.pool.clone(),
        state.secrets.clone(),
    );
    state
        .write_revoking(move |conn| {
            Box::pin(async move { update_in(conn, &pool, &key, &user, id, &input).await })
        })
        .await
}

async fn update_in(
    conn: &mut Conn,
    pool: &Pool,
    key: &SecretsKey,
    user: &CurrentUser,
    id: i64,
    input: &SubscriptionInput,
) -> Result<()> {
    let before = find(&mut *conn, key, user, id).await?;
    require_owner(user, &before)?;
    let valid = check(&mut *conn, pool, user, input, Some(&before)).await?;
    crate::db::with_db!(conn, db => sqlx::query(
        "UPDATE subscriptions SET display_name = $1, url = $2, headers = $3, use_replies = $4, updated_at = $5
         WHERE id = $6",
    )
    .bind(&valid.display_name)
    .bind(valid.url.as_str())
    .bind(valid.headers.to_stored(key))
    .bind(valid.use_replies)
    .bind(now_ms())
    .bind(id)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    store_triggers(&mut *conn, id, &valid).await?;
    let after = find(&mut *conn, key, user, id).await?;
    audit::record_by(
        conn,
        user,
        Entry {
            kind: AuditKind::Subscription,
            action: "updated",
            subject: after.subject(),
            before: Some(before.snapshot()),
            after: Some(after.snapshot()),
        },
    )
    .await
}

pub async fn delete(state: &AppState, user: &CurrentUser, id: i64) -> Result<()> {
    require_webhooks_enabled(&state.pool, user).await?;
    let (user, key) = (user.clone(), state.secrets.clone());
    state
        .write_revoking(move |conn| Box::pin(async move { delete_in(conn, &key, &user, id).await }))
        .await?;
    state.housekeeping_due.notify_one();
    Ok(())
}

async fn delete_in(conn: &mut Conn, key: &SecretsKey, user: &CurrentUser, id: i64) -> Result<()> {
    let s = find(&mut *conn, key, user, id).await?;
    // Gone for everyone at once; its delivery log — which may be millions of rows — goes
    // with it in the background, a window a job (`cleanup`), and the row last. The audit
    // trail keeps the record of the subscription.
    let now = now_ms();
    crate::db::with_db!(conn, db => sqlx::query(
        "UPDATE subscriptions SET deleted_at = $1, active = FALSE, updated_at = $2 WHERE id = $3",
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
            action: "deleted",
            subject: s.subject(),
            before: Some(s.snapshot()),
            after: None,
        },
    )
    .await
}

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// A new signing secret; the previous one keeps signing alongside for 24 hours, so receivers
/// can switch without losing a delivery. Returns the new secret (shown once).
pub async fn rotate_secret(state: &AppState, user: &CurrentUser, id: i64) -> Result<String> {
    require_webhooks_enabled(&state.pool, user).await?;
    let (user, key) = (user.clone(), state.secrets.clone());
    state
        .write(move |conn| Box::pin(async move { rotate_secret_in(conn, &key, &user, id).await }))
        .await
}

async fn rotate_secret_in(
    conn: &mut Conn,
    key: &SecretsKey,
    user: &CurrentUser,
    id: i64,
) -> Result<String> {
    let s = find(&mut *conn, key, user, id).await?;
    require_owner(user, &s)?;
    let secret = generate_secret();
    let now = now_ms();
    crate::db::with_db!(conn, db => sqlx::query(
        "UPDATE subscriptions SET previous_secret = secret, previous_secret_until = $1, secret = $2,
             updated_at = $3
         WHERE id = $4",
    )
    .bind(now + ROTATION_OVERLAP_MS)
    .bind(key.seal(&secret))
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
            action: "secret rotated",
            subject: s.subject(),
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(secret)
}
