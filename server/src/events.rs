//! Trigger events: appended in the same transaction as the data or status change that caused
//! them, with the `data` object of the webhook body frozen at that moment. The dispatcher
//! reads this table; nothing updates or deletes a row except retention.

use serde_json::{json, Value as Json};
use sqlx::SqliteConnection;

use crate::{
    clock::rfc3339,
    devices::{Channel, Device},
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

/// The webhook body of an event: `{"type", "timestamp", "data"}` (Standard Webhooks). The
/// stored payload is already JSON, so it is spliced in rather than parsed again: this runs for
/// every delivery. `event_type` and the timestamp never need escaping.
pub fn webhook_body(event_type: &str, occurred_at: i64, payload: &str) -> String {
    format!(
        r#"{{"type":"{event_type}","timestamp":"{}","data":{payload}}}"#,
        rfc3339(occurred_at)
    )
}

/// Stores the event a data point caused and returns its id.
pub async fn record_channel_event(
    conn: &mut SqliteConnection,
    subject: &Subject<'_>,
    channel: &Channel,
    timestamp: i64,
    reading: &Reading,
    trigger: &Trigger,
    now: i64,
) -> Result<i64> {
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
    insert(
        conn,
        subject,
        Some(channel.id),
        event_type,
        timestamp,
        &Json::Object(data),
        now,
    )
    .await
}

/// Stores a device's change between online and offline.
pub async fn record_status_event(
    conn: &mut SqliteConnection,
    subject: &Subject<'_>,
    current: DeviceStatus,
    previous: DeviceStatus,
    last_seen_at: Option<i64>,
    now: i64,
) -> Result<i64> {
    let mut data = subject.base();
    data.insert(
        "status".into(),
        json!({
            "current": current.as_str(),
            "previous": previous.as_str(),
            "last_seen": last_seen_at.map(rfc3339),
        }),
    );
    insert(
        conn,
        subject,
        None,
        EventType::DeviceStatusChanged,
        now,
        &Json::Object(data),
        now,
    )
    .await
}

async fn insert(
    conn: &mut SqliteConnection,
    subject: &Subject<'_>,
    channel_id: Option<i64>,
    event_type: EventType,
    occurred_at: i64,
    payload: &Json,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO events (organisation_id, device_id, channel_id, event_type, occurred_at, created_at, payload)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(subject.organisation_id)
    .bind(subject.device.id)
    .bind(channel_id)
    .bind(event_type.as_str())
    .bind(occurred_at)
    .bind(now)
    .bind(payload.to_string())
    .fetch_one(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_valid_json_with_the_payload_inside() {
        let body = webhook_body(
            "channel.value_changed",
            1_795_512_600_250,
            r#"{"a":[1,"x"]}"#,
        );
        let v: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            json!({"type": "channel.value_changed", "timestamp": "2026-11-24T09:30:00.250Z", "data": {"a": [1, "x"]}})
        );
    }
}
