//! Org admins add and change the channels of their devices, under the rules of
//! [`ChannelDefinition`] and two more that need the database: names unique on the device,
//! and a change of the kind of value only where the stored history keeps its meaning.
//! Changes take effect for the next data point (ingest reads a channel's definition with
//! every batch). Removing a channel touches subscriptions: see
//! `subscriptions::remove_channel`.

use crate::db::Conn;
use serde_json::{json, Value as Json};

use super::{manage::MAX_CHANNELS, Channel, Device};
use crate::{
    audit::{self, AuditKind, Entry},
    auth::CurrentUser,
    domain::{
        channel::ValueType,
        channel_definition::{
            type_change_problem, value_type_word, ChannelDefinition, ChannelInput,
            POINTS_COUNTED_UP_TO,
        },
    },
    error::ResultExt,
    AppState, Error, FieldError, Result,
};

/// Adds a channel to a device of the admin's organisation; answers its id.
pub async fn add(
    state: &AppState,
    admin: &CurrentUser,
    device_id: i64,
    input: &ChannelInput,
) -> Result<i64> {
    admin.require_org_admin()?;
    let definition = ChannelDefinition::parse(input, "").map_err(Error::Invalid)?;
    let admin = admin.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let device = super::organisation_device_in(&mut *conn, &admin, device_id).await?;
                let count: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
                    "SELECT COUNT(*) FROM channels WHERE device_id = $1 AND removed_at IS NULL",
                )
                .bind(device.id)
                .fetch_one(db)
                .await)?;
                if count >= MAX_CHANNELS as i64 {
                    return Err(Error::Conflict(format!(
                        "{} has {count} channels, the most a device can have.",
                        device.name
                    )));
                }
                require_unique_name(conn, &device, &definition.name, None).await?;
                let id = insert(conn, device.id, &definition).await?;
                audit::record_by(
                    conn,
                    &admin,
                    Entry {
                        kind: AuditKind::Device,
                        action: "channel added",
                        subject: device.name,
                        before: None,
                        after: Some(describe(&definition)),
                    },
                )
                .await?;
                Ok(id)
            })
        })
        .await
}

/// Changes a channel's name, unit, kind of value, range or choices. A change of the kind of
/// value that would make the stored history meaningless is refused with the reason.
pub async fn update(
    state: &AppState,
    admin: &CurrentUser,
    device_id: i64,
    channel_id: i64,
    input: &ChannelInput,
) -> Result<()> {
    admin.require_org_admin()?;
    let definition = ChannelDefinition::parse(input, "").map_err(Error::Invalid)?;
    let admin = admin.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let device = super::organisation_device_in(&mut *conn, &admin, device_id).await?;
                let before = channel_of(conn, &device, channel_id).await?;
                // Counted up to a bound: the rule needs to know whether there is a history,
                // and the message how large it is, not an exact count of millions.
                let points: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM data_points WHERE channel_id = $1 LIMIT $2) AS counted",
                )
                .bind(before.id)
                .bind(POINTS_COUNTED_UP_TO)
                .fetch_one(db)
                .await)?;
                if let Some(problem) = type_change_problem(
                    &before.name,
                    before.spec.value_type,
                    definition.spec.value_type,
                    points,
                ) {
                    return Err(Error::Invalid(vec![FieldError::new("value_type", problem)]));
                }
                require_unique_name(conn, &device, &definition.name, Some(before.id)).await?;
                let labels = labels_json(&definition);
                // The range state is kept: the next data point is judged against the new
                // range, and leaving or re-entering it from the last known state is an event.
                // Without a range there is no state to keep.
                crate::db::with_db!(conn, db => sqlx::query(
                    "UPDATE channels SET name = $1, unit = $2, value_type = $3, min_value = $4,
                         max_value = $5, enum_labels = $6, reply_writable = $7,
                         in_range = CASE WHEN $8 THEN in_range END
                     WHERE id = $9",
                )
                .bind(&definition.name)
                .bind(&definition.unit)
                .bind(definition.spec.value_type.as_str())
                .bind(definition.spec.min)
                .bind(definition.spec.max)
                .bind(labels)
                .bind(definition.reply_writable)
                .bind(definition.spec.has_range())
                .bind(before.id)
                .execute(db)
                .await
                .map(crate::db::Done::from))
                .on_unique_violation("channels.device_id", || name_taken(&definition.name))?;
                let was = ChannelDefinition {
                    name: before.name,
                    unit: before.unit,
                    spec: before.spec,
                    reply_writable: before.reply_writable,
                };
                if was == definition {
                    return Ok(());
                }
                audit::record_by(
                    conn,
                    &admin,
                    Entry {
                        kind: AuditKind::Device,
                        action: "channel updated",
                        subject: device.name,
                        before: Some(describe(&was)),
                        after: Some(describe(&definition)),
                    },
                )
                .await
            })
        })
        .await
}

/// Marks a channel removed, in the caller's transaction: from now on it is gone for everyone
/// (no query shows it, ingest refuses it) and its name is free for a new channel; its data
/// points are deleted by [`purge_removed`], and the row last.
pub(crate) async fn mark_removed(conn: &mut Conn, channel_id: i64) -> Result<()> {
    // A name no channel can be given (a control character), unique by the id.
    crate::db::with_db!(conn, db, engine => sqlx::query(&format!(
        "UPDATE channels SET removed_at = $1, name = {} || 'removed ' || id WHERE id = $2",
        crate::db::dialect::character(engine, 1)
    ))
    .bind(crate::clock::now_ms())
    .bind(channel_id)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(())
}

/// Rows one job of [`purge_removed`] deletes or changes.
const PURGE_WINDOW: i64 = 2000;

/// One step of clearing away a removed channel: a window of its data points, then a window of
/// its past events (they keep their payload, which names the channel, and lose the link),
/// then the channel itself — each in a writer job of its own. Answers whether anything was
/// left to do.
pub async fn purge_removed(state: &AppState) -> Result<bool> {
    let channel: Option<i64> = crate::db::with_db!(&state.pool, db, engine => sqlx::query_scalar(
        &format!("SELECT id FROM channels {ix_channels_removed} WHERE removed_at IS NOT NULL LIMIT 1", ix_channels_removed = crate::db::dialect::indexed_by(engine, "channels_removed")),
    )
    .fetch_optional(db)
    .await)
    .context("looking for removed channels")?;
    let Some(channel) = channel else {
        return Ok(false);
    };
    state
        .write(move |conn| {
            Box::pin(async move {
                let points = crate::db::with_db!(conn, db, engine => sqlx::query(
                    &format!("DELETE FROM data_points WHERE id IN (
                       SELECT id FROM data_points {ix_data_points_by_channel}
                       WHERE channel_id = $1 LIMIT $2)", ix_data_points_by_channel = crate::db::dialect::indexed_by(engine, "data_points_by_channel")),
                )
                .bind(channel)
                .bind(PURGE_WINDOW)
                .execute(db)
                .await
                .map(crate::db::Done::from))
                .context("deleting a removed channel's data points")?
                .rows_affected();
                if points > 0 {
                    return Ok(());
                }
                let events = crate::db::with_db!(conn, db, engine => sqlx::query(
                    &format!("UPDATE events SET channel_id = NULL WHERE id IN (
                       SELECT id FROM events {ix_events_by_channel}
                       WHERE channel_id = $1 LIMIT $2)", ix_events_by_channel = crate::db::dialect::indexed_by(engine, "events_by_channel")),
                )
                .bind(channel)
                .bind(PURGE_WINDOW)
                .execute(db)
                .await
                .map(crate::db::Done::from))
                .context("unlinking a removed channel's events")?
                .rows_affected();
                if events > 0 {
                    return Ok(());
                }
                crate::db::with_db!(conn, db => sqlx::query("DELETE FROM channels WHERE id = $1 AND removed_at IS NOT NULL")
                    .bind(channel)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))
                    .context("deleting a removed channel")?;
                Ok(())
            })
        })
        .await?;
    Ok(true)
}

/// A channel of the device, or "not found" (another device's channel included).
pub(crate) async fn channel_of(
    conn: &mut Conn,
    device: &Device,
    channel_id: i64,
) -> Result<Channel> {
    super::channels_of(conn, device.id)
        .await?
        .into_iter()
        .find(|c| c.id == channel_id)
        .ok_or_else(|| Error::not_found("Channel"))
}

async fn require_unique_name(
    conn: &mut Conn,
    device: &Device,
    name: &str,
    except: Option<i64>,
) -> Result<()> {
    let taken: bool = crate::db::with_db!(conn, db, engine => sqlx::query_scalar(
        &format!("SELECT EXISTS (SELECT 1 FROM channels
         WHERE device_id = $1 AND {same_name} AND id IS DISTINCT FROM $3 AND removed_at IS NULL)", same_name = crate::db::dialect::equal_nocase(engine, "name", "$2")),
    )
    .bind(device.id)
    .bind(name)
    .bind(except)
    .fetch_one(db)
    .await)?;
    if taken {
        return Err(name_taken(name));
    }
    Ok(())
}

fn name_taken(name: &str) -> Error {
    Error::Invalid(vec![FieldError::new(
        "name",
        format!("This device has a channel named {name:?} already."),
    )])
}

fn labels_json(c: &ChannelDefinition) -> Option<String> {
    (c.spec.value_type == ValueType::Enum)
        .then(|| serde_json::to_string(&c.spec.enum_labels).expect("BUG: strings serialise"))
}

/// Stores a checked channel on a device (new devices and added channels alike).
pub(crate) async fn insert(conn: &mut Conn, device_id: i64, c: &ChannelDefinition) -> Result<i64> {
    crate::db::with_db!(conn, db => sqlx::query_scalar(
        "INSERT INTO channels (device_id, name, unit, value_type, min_value, max_value, enum_labels, reply_writable)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(device_id)
    .bind(&c.name)
    .bind(&c.unit)
    .bind(c.spec.value_type.as_str())
    .bind(c.spec.min)
    .bind(c.spec.max)
    .bind(labels_json(c))
    .bind(c.reply_writable)
    .fetch_one(db)
    .await)
    .on_unique_violation("channels.device_id", || name_taken(&c.name))
}

/// A channel as the audit trail shows it.
pub(crate) fn describe(c: &ChannelDefinition) -> Json {
    json!({
        "name": c.name,
        "unit": c.unit,
        "value_type": value_type_word(c.spec.value_type),
        "min": c.spec.min,
        "max": c.spec.max,
        "labels": c.spec.enum_labels,
        "reply_writable": c.reply_writable,
    })
}
