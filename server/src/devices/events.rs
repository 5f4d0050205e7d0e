//! Trigger events: appended in the same transaction as the data or status change that caused
//! them, with the `data` object of the webhook body frozen at that moment. The dispatcher
//! reads this table; nothing updates or deletes a row except retention.

use crate::db::{Conn, Split};
use serde_json::{json, Value as Json};
use sqlx::QueryBuilder;

use super::{Channel, Device};
use crate::{
    clock::rfc3339,
    domain::{
        channel::{Bound, Reading, Trigger},
        device::DeviceStatus,
        EventType,
    },
    Result,
};

/// Who an event is about: organisation, device and (for channel events) the channel.
pub struct Subject<'a> {
    pub organisation_id: i64,
    pub organisation_name: &'a str,
    pub device: &'a Device,
}

impl Subject<'_> {
    fn base(&self) -> serde_json::Map<String, Json> {
        let d = self.device;
        let mut m = serde_json::Map::new();
        m.insert(
            "organisation".into(),
            json!({ "id": self.organisation_id, "name": self.organisation_name }),
        );
        m.insert(
            "device".into(),
            json!({
                "id": d.id,
                "name": d.name,
                "vendor": d.vendor,
                "model": d.model,
                "device_class": d.device_class,
            }),
        );
        m
    }
}

/// A receiver's reply that caused an event: the subscription that wrote it (which never
/// receives the event) and how many replies deep the chain is (1 for a reply to a device's
/// own event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub subscription_id: i64,
    pub depth: i64,
}

/// An event ready to be stored: what [`record`] and [`record_many`] write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub organisation_id: i64,
    pub device_id: i64,
    /// `None` for device-level events.
    pub channel_id: Option<i64>,
    pub event_type: EventType,
    pub occurred_at: i64,
    /// The `data` object of the webhook body, as JSON text.
    pub payload: String,
    /// Set when a receiver's reply caused it.
    pub caused_by: Option<Cause>,
}

/// The event a data point caused.
pub fn channel_event(
    subject: &Subject<'_>,
    channel: &Channel,
    timestamp: i64,
    reading: &Reading,
    trigger: &Trigger,
) -> NewEvent {
    let spec = &channel.spec;
    let mut data = subject.base();
    data.insert(
        "channel".into(),
        json!({ "id": channel.id, "name": channel.name, "unit": channel.unit }),
    );
    data.insert(
        "data_point".into(),
        json!({ "timestamp": rfc3339(timestamp), "value": spec.to_json(reading) }),
    );
    let event_type = match trigger {
        Trigger::DataPointCreated => EventType::DataPointCreated,
        Trigger::ValueChanged { previous } => {
            data.insert(
                "previous_value".into(),
                previous
                    .as_ref()
                    .map(|p| spec.to_json(p))
                    .unwrap_or(Json::Null),
            );
            EventType::ValueChanged
        }
        Trigger::OutOfRange { violated } => {
            data.insert(
                "threshold".into(),
                json!({
                    "min": spec.min,
                    "max": spec.max,
                    "violated": match violated { Bound::Min => "min", Bound::Max => "max" },
                }),
            );
            EventType::OutOfRange
        }
        Trigger::BackInRange => {
            data.insert(
                "threshold".into(),
                json!({ "min": spec.min, "max": spec.max }),
            );
            EventType::BackInRange
        }
    };
    NewEvent {
        organisation_id: subject.organisation_id,
        device_id: subject.device.id,
        channel_id: Some(channel.id),
        event_type,
        occurred_at: timestamp,
        payload: Json::Object(data).to_string(),
        caused_by: None,
    }
}

/// A device's change between online and offline, as of `now`.
pub fn status_event(
    subject: &Subject<'_>,
    current: DeviceStatus,
    previous: DeviceStatus,
    last_seen_at: Option<i64>,
    now: i64,
) -> NewEvent {
    let mut data = subject.base();
    data.insert(
        "status".into(),
        json!({
            "current": current.as_str(),
            "previous": previous.as_str(),
            "last_seen": last_seen_at.map(rfc3339),
        }),
    );
    NewEvent {
        organisation_id: subject.organisation_id,
        device_id: subject.device.id,
        channel_id: None,
        event_type: EventType::DeviceStatusChanged,
        occurred_at: now,
        payload: Json::Object(data).to_string(),
        caused_by: None,
    }
}

/// Stores a test event ("Send test event"): its type is the real one marked `.test`, which
/// no trigger matches, so fan-out passes it by; it is delivered to the one subscription that
/// asked. Returns its id.
pub async fn record_test(
    conn: &mut Conn,
    event: &NewEvent,
    event_type: &str,
    now: i64,
) -> Result<i64> {
    let id = next_ids(conn, 1).await?[0];
    crate::db::with_db!(conn, db => sqlx::query(
        "INSERT INTO events (id, organisation_id, device_id, channel_id, event_type, occurred_at, created_at, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(event.organisation_id)
    .bind(event.device_id)
    .bind(event.channel_id)
    .bind(event_type)
    .bind(event.occurred_at)
    .bind(now)
    .bind(&event.payload)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(id)
}

/// Stores one event and returns its id.
pub async fn record(conn: &mut Conn, event: &NewEvent, now: i64) -> Result<i64> {
    Ok(record_many(conn, &[(event.clone(), now)]).await?[0])
}

/// Stores events, each with the time it was recorded (`created_at`), a few hundred rows per
/// statement, and returns their ids in the same order. Ids are given here (see [`next_ids`]),
/// so that the order is certain.
pub async fn record_many(conn: &mut Conn, events: &[(NewEvent, i64)]) -> Result<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids = next_ids(conn, events.len()).await?;
    match conn.split() {
        Split::Sqlite(db) => {
            // 10 values per row, well under SQLite's limit of 32,766 bound values per statement.
            for (chunk, ids) in events.chunks(500).zip(ids.chunks(500)) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO events (id, organisation_id, device_id, channel_id, event_type, occurred_at,
                                         created_at, payload, caused_by_subscription, chain_depth) ",
                );
                insert.push_values(chunk.iter().zip(ids), |mut row, ((e, created_at), id)| {
                    row.push_bind(id)
                        .push_bind(e.organisation_id)
                        .push_bind(e.device_id)
                        .push_bind(e.channel_id)
                        .push_bind(e.event_type.as_str())
                        .push_bind(e.occurred_at)
                        .push_bind(created_at)
                        .push_bind(&e.payload)
                        .push_bind(e.caused_by.map(|c| c.subscription_id))
                        .push_bind(e.caused_by.map_or(0, |c| c.depth));
                });
                insert.build().execute(&mut *db).await?;
            }
        }
        // One array per column: one statement text for any number of events (see
        // `db::dialect`, "Rows as arrays").
        Split::Postgres(db) => {
            sqlx::query(
                "INSERT INTO events (id, organisation_id, device_id, channel_id, event_type, occurred_at,
                                     created_at, payload, caused_by_subscription, chain_depth)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                                      $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[])",
            )
            .bind(&ids)
            .bind(events.iter().map(|(e, _)| e.organisation_id).collect::<Vec<i64>>())
            .bind(events.iter().map(|(e, _)| e.device_id).collect::<Vec<i64>>())
            .bind(events.iter().map(|(e, _)| e.channel_id).collect::<Vec<Option<i64>>>())
            .bind(events.iter().map(|(e, _)| e.event_type.as_str()).collect::<Vec<&str>>())
            .bind(events.iter().map(|(e, _)| e.occurred_at).collect::<Vec<i64>>())
            .bind(events.iter().map(|(_, created_at)| *created_at).collect::<Vec<i64>>())
            .bind(events.iter().map(|(e, _)| e.payload.as_str()).collect::<Vec<&str>>())
            .bind(events.iter().map(|(e, _)| e.caused_by.map(|c| c.subscription_id)).collect::<Vec<Option<i64>>>())
            .bind(events.iter().map(|(e, _)| e.caused_by.map_or(0, |c| c.depth)).collect::<Vec<i64>>())
            .execute(db)
            .await?;
        }
    }
    Ok(ids)
}

/// The next `n` event ids, in ascending order. On SQLite every write runs in the one writer,
/// so the largest id plus one is taken by nobody else meanwhile, and ids follow commit order
/// (fan-out's cursor relies on it). On Postgres several instances write at once: ids come from
/// the identity's sequence, and fan-out takes new events from `events_to_fan_out` instead of
/// following a cursor, since ids may commit out of order.
async fn next_ids(conn: &mut Conn, n: usize) -> Result<Vec<i64>> {
    let n = n as i64;
    let mut ids: Vec<i64> = match conn.engine() {
        crate::db::Engine::Sqlite => {
            let last: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events")
                .fetch_one(db)
                .await)?;
            (1..=n).map(|k| last + k).collect()
        }
        crate::db::Engine::Postgres => crate::db::with_db!(conn, db => sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, $1)",
        )
        .bind(n)
        .fetch_all(db)
        .await)?,
    };
    ids.sort_unstable();
    Ok(ids)
}

/// Events below this id have all been fanned out (retention may delete them once no delivery
/// needs them). SQLite: after the fan-out cursor; Postgres: the oldest event still waiting in
/// `events_to_fan_out`, or past the newest when none waits.
pub async fn fanned_out_below(pool: &crate::db::Pool) -> Result<i64> {
    Ok(match pool.engine() {
        crate::db::Engine::Sqlite => {
            crate::db::with_db!(pool, db => sqlx::query_scalar("SELECT last_event_id + 1 FROM dispatcher_cursor WHERE id = 1")
                .fetch_one(db)
                .await)?
        }
        crate::db::Engine::Postgres => crate::db::with_db!(pool, db => sqlx::query_scalar(
            "SELECT COALESCE((SELECT MIN(event_id) FROM events_to_fan_out),
                             (SELECT MAX(id) FROM events) + 1, 1)",
        )
        .fetch_one(db)
        .await)?,
    })
}

/// A condition on `events.id`: the event has not been fanned out yet (see [`fanned_out_below`]).
pub fn not_fanned_out(engine: crate::db::Engine) -> &'static str {
    match engine {
        crate::db::Engine::Sqlite => {
            "events.id > (SELECT last_event_id FROM dispatcher_cursor WHERE id = 1)"
        }
        crate::db::Engine::Postgres => "events.id IN (SELECT event_id FROM events_to_fan_out)",
    }
}
