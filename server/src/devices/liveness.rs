//! Devices that stop sending go offline: a periodic step marks every online device that has
//! been silent for longer than the configured time, with a `device.status_changed` event.

use std::time::Duration;

use super::{
    events::{self, Subject},
    Device, DeviceRow, DEVICE_COLUMNS,
};
use crate::{domain::device::DeviceStatus, AppState, Result};

/// Marks silent devices offline as of `now`; returns how many changed. Tests call it with a
/// chosen `now` instead of waiting.
pub async fn mark_silent_devices_offline(
    state: &AppState,
    now: i64,
    silent_for: Duration,
) -> Result<usize> {
    let cutoff = now - silent_for.as_millis() as i64;
    let changed = state
        .write(move |tx| {
            Box::pin(async move {
                // On Postgres, a device another instance is writing now (its data, or its
                // going offline) is passed over: it is not silent, or it is being marked.
                let silent: Vec<Device> = crate::db::with_db!(tx, db, engine => sqlx::query_as::<_, DeviceRow>(&format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices d
         WHERE d.status = 'online' AND (d.last_seen_at IS NULL OR d.last_seen_at < $1)
           -- A device read over OPC UA is online while its session is: a deadband may keep it
           -- quiet for hours (see `source_lost_in`).
           AND NOT EXISTS (SELECT 1 FROM device_sources s WHERE s.device_id = d.id AND s.connected_at IS NOT NULL)
           {lock}",
                    lock = crate::db::dialect::lock_rows_of(engine, "d")
                ))
                .bind(cutoff)
                .fetch_all(db)
                .await)?
                .into_iter()
                .map(Device::from)
                .collect();
                for device in &silent {
                    mark_offline_in(tx, device, now).await?;
                }
                Ok(silent.len())
            })
        })
        .await?;
    if changed > 0 {
        state.events_added.notify_one();
    }
    Ok(changed)
}

/// Marks the device offline, with its `device.status_changed` event, inside the writer's job.
async fn mark_offline_in(tx: &mut crate::db::Conn, device: &Device, now: i64) -> Result<()> {
    let organisation_name: String = crate::db::with_db!(tx, db => sqlx::query_scalar("SELECT name FROM organisations WHERE id = $1")
            .bind(device.organisation_id)
            .fetch_one(db)
            .await)?;
    crate::db::with_db!(tx, db => sqlx::query("UPDATE devices SET status = 'offline' WHERE id = $1")
        .bind(device.id)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    let subject = Subject {
        organisation_id: device.organisation_id,
        organisation_name: &organisation_name,
        device,
    };
    let event = events::status_event(
        &subject,
        DeviceStatus::Offline,
        DeviceStatus::Online,
        device.last_seen_at,
        now,
    );
    events::record(&mut *tx, &event, now).await?;
    Ok(())
}

/// A device read over OPC UA goes offline as soon as its session is lost (not after the
/// silence the sweep waits for); answers whether it was online. The caller tells the
/// dispatcher (`events_added`) when it was.
pub(crate) async fn source_lost_in(
    tx: &mut crate::db::Conn,
    device_id: i64,
    now: i64,
) -> Result<bool> {
    let online: Option<Device> =
        crate::db::with_db!(tx, db, engine => sqlx::query_as::<_, DeviceRow>(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id = $1 AND d.status = 'online' {lock}",
        lock = crate::db::dialect::lock_rows_of(engine, "d")
    ))
    .bind(device_id)
    .fetch_optional(db)
    .await)?
        .map(Device::from);
    match online {
        Some(device) => {
            mark_offline_in(tx, &device, now).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Runs [`mark_silent_devices_offline`] every few seconds, for as long as the server runs.
pub async fn run(state: AppState, silent_for: Duration) {
    let period = (silent_for / 4).clamp(Duration::from_secs(1), Duration::from_secs(10));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        if let Err(e) =
            mark_silent_devices_offline(&state, crate::clock::now_ms(), silent_for).await
        {
            tracing::warn!(error = ?e, "marking silent devices offline failed");
        }
    }
}
