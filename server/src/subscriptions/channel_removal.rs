//! Removing a channel from a device (org admins). Subscriptions may have chosen it, so the
//! admin is told which before confirming, and each of them is audited when its triggers on
//! the channel go. The channel's data points go with it; its past trigger events stay in the
//! delivery log (their payload names the channel).

use crate::db::Conn;
use serde_json::json;

use super::model::{display_name_or_url, subject};
use crate::{
    audit::{self, AuditKind, Entry},
    auth::CurrentUser,
    devices::{
        channels::{channel_of, mark_removed},
        organisation_device, organisation_device_in,
    },
    AppState, Result,
};

/// A subscription that chose a channel.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChannelUser {
    pub subscription_id: i64,
    /// Its display name, or its URL when it has none.
    pub name: String,
    pub owner: String,
}

/// What removing a channel would take with it: asked before confirming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelUses {
    pub channel: String,
    pub subscriptions: Vec<ChannelUser>,
    /// Its data points, counted up to [`COUNTED_UP_TO`] (more: "at least" that many).
    pub data_points: i64,
}

/// Data points are counted up to this many before confirming a removal: enough to tell a
/// channel with a history from one without, at a bounded cost.
pub const COUNTED_UP_TO: i64 = 100_000;

/// What removing a channel would take with it.
pub async fn channel_uses(
    state: &AppState,
    admin: &CurrentUser,
    device_id: i64,
    channel_id: i64,
) -> Result<ChannelUses> {
    let device = organisation_device(&state.pool, admin, device_id).await?;
    let mut conn = state.pool.acquire().await?;
    let channel = channel_of(&mut conn, &device, channel_id).await?;
    let subscriptions = users_of(&mut conn, channel.id).await?;
    let data_points: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM data_points WHERE channel_id = $1 LIMIT $2) AS counted",
    )
    .bind(channel.id)
    .bind(COUNTED_UP_TO)
    .fetch_one(db)
    .await)?;
    Ok(ChannelUses {
        channel: channel.name,
        subscriptions,
        data_points,
    })
}

async fn users_of(conn: &mut Conn, channel_id: i64) -> Result<Vec<ChannelUser>> {
    let rows: Vec<(i64, String, String, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT s.id, s.display_name, s.url, u.name FROM subscriptions s
         JOIN users u ON u.id = s.owner_id
         WHERE s.id IN (SELECT subscription_id FROM subscription_triggers WHERE channel_id = $1)
           AND s.deleted_at IS NULL
         ORDER BY s.id",
    )
    .bind(channel_id)
    .fetch_all(db)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, display_name, url, owner)| ChannelUser {
            subscription_id: id,
            name: display_name_or_url(&display_name, &url),
            owner,
        })
        .collect())
}

/// Removes a channel: its data points and the subscriptions' triggers on it go; each
/// subscription that chose it is audited. Trigger events not yet matched to subscriptions
/// are dropped with it (nobody may receive them any more); the older ones keep their payload.
pub async fn remove_channel(
    state: &AppState,
    admin: &CurrentUser,
    device_id: i64,
    channel_id: i64,
) -> Result<()> {
    let admin = admin.clone();
    state
        .write_revoking(move |conn| {
            Box::pin(async move {
                let device = organisation_device_in(&mut *conn, &admin, device_id).await?;
                let channel = channel_of(conn, &device, channel_id).await?;
                let users = users_of(conn, channel.id).await?;
                // Events not fanned out yet would otherwise be matched as device-level events
                // once their channel is gone.
                crate::db::with_db!(conn, db, engine => sqlx::query(&format!(
                    "DELETE FROM events WHERE channel_id = $1
                       AND {not_fanned_out}
                       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
                    not_fanned_out = crate::devices::events::not_fanned_out(engine),
                ))
                .bind(channel.id)
                .execute(db)
                .await
                .map(crate::db::Done::from))?;
                // The subscriptions' triggers on it go now; the channel is marked removed —
                // gone for everyone, its name free again — and its data points (millions,
                // perhaps) are deleted in the background, a window a job.
                crate::db::with_db!(conn, db => sqlx::query("DELETE FROM subscription_triggers WHERE channel_id = $1")
                    .bind(channel.id)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?;
                mark_removed(conn, channel.id).await?;
                for user in &users {
                    audit::record_by(
                        conn,
                        &admin,
                        Entry {
                            kind: AuditKind::Subscription,
                            action: "channel removed from triggers",
                            subject: subject(user.subscription_id, &user.name),
                            before: Some(json!({ "device": device.name, "channel": channel.name })),
                            after: None,
                        },
                    )
                    .await?;
                }
                audit::record_by(
                    conn,
                    &admin,
                    Entry {
                        kind: AuditKind::Device,
                        action: "channel removed",
                        subject: device.name.clone(),
                        before: Some(json!({
                            "channel": channel.name,
                            "subscriptions": users.iter().map(|u| &u.name).collect::<Vec<_>>(),
                        })),
                        after: None,
                    },
                )
                .await
            })
        })
        .await?;
    state.housekeeping_due.notify_one();
    Ok(())
}
