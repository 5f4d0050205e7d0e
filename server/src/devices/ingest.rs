//! Recording data points: the one code path behind the ingest API and the simulator.
//! All-or-nothing per request; every trigger event is stored in the same transaction as the
//! data point that caused it.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::{channels_of, device_by_id, Channel};
use crate::{
    clock::now_ms,
    domain::{channel::apply, device::DeviceStatus},
    events::{self, Subject},
    AppState, Error, FieldError, Result,
};

/// Most data points one request may carry.
pub const MAX_POINTS_PER_REQUEST: usize = 1000;

/// One data point as a device sends it, not yet checked.
#[derive(Debug, Clone)]
pub struct RawPoint {
    pub channel: String,
    /// Milliseconds since the epoch, or an RFC 3339 string; `None` means now.
    pub timestamp: Option<Json>,
    pub value: Json,
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    pub accepted: usize,
    pub event_ids: Vec<i64>,
}

/// Stores the data points of one device with the events they cause. `via_token` is the
/// device token the data came with (none for the simulator); its last use is recorded.
pub async fn record(
    state: &AppState,
    device_id: i64,
    via_token: Option<i64>,
    points: Vec<RawPoint>,
) -> Result<Receipt> {
    if points.is_empty() {
        return Err(Error::invalid("data", "Send at least one data point."));
    }
    if points.len() > MAX_POINTS_PER_REQUEST {
        return Err(Error::TooLarge(format!(
            "At most {MAX_POINTS_PER_REQUEST} data points per request; this one has {}.",
            points.len()
        )));
    }
    let now = now_ms();
    let receipt = state.write(move |tx| Box::pin(async move {
    let device = device_by_id(&mut *tx, device_id)
        .await?
        .ok_or_else(|| Error::not_found("Device"))?;
    let mut channels: Vec<Channel> = channels_of(&mut *tx, device_id).await?;
    let index: HashMap<&str, usize> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();

    // Check everything before writing anything.
    let mut parsed = Vec::with_capacity(points.len());
    let mut problems = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let Some(&ci) = index.get(p.channel.as_str()) else {
            return Err(Error::NotFound(format!(
                "Item {i}: the device has no channel named {:?}.",
                p.channel
            )));
        };
        let timestamp = match parse_timestamp(p.timestamp.as_ref(), now) {
            Ok(t) => t,
            Err(msg) => {
                problems.push(FieldError::new(
                    format!("/{i}/timestamp"),
                    format!("Item {i}: the timestamp {msg}."),
                ));
                continue;
            }
        };
        match channels[ci].spec.parse_value(&p.value) {
            Ok(reading) => parsed.push((ci, timestamp, reading)),
            Err(msg) => problems.push(FieldError::new(
                format!("/{i}/value"),
                format!("Item {i} ({}): the value {msg}.", p.channel),
            )),
        }
    }
    if !problems.is_empty() {
        problems.truncate(20);
        return Err(Error::Invalid(problems));
    }

    let organisation_name: String =
        sqlx::query_scalar("SELECT name FROM organisations WHERE id = ?")
            .bind(device.organisation_id)
            .fetch_one(&mut *tx)
            .await?;
    let subject = Subject {
        organisation_id: device.organisation_id,
        organisation_name: &organisation_name,
        device: &device,
    };
    let mut event_ids = Vec::new();
    let mut touched = vec![false; channels.len()];

    // A device that sends data is online.
    if device.status == DeviceStatus::Offline {
        event_ids.push(
            events::record_status_event(
                &mut *tx,
                &subject,
                DeviceStatus::Online,
                DeviceStatus::Offline,
                device.last_seen_at,
                now,
            )
            .await?,
        );
    }
    sqlx::query("UPDATE devices SET status = 'online', last_seen_at = ? WHERE id = ?")
        .bind(now)
        .bind(device.id)
        .execute(&mut *tx)
        .await?;
    if let Some(token_id) = via_token {
        sqlx::query("UPDATE device_tokens SET last_used_at = ? WHERE id = ?")
            .bind(now)
            .bind(token_id)
            .execute(&mut *tx)
            .await?;
    }

    for (ci, timestamp, reading) in &parsed {
        let channel = &mut channels[*ci];
        sqlx::query(
            "INSERT INTO data_points (channel_id, timestamp, value, str_value) VALUES (?, ?, ?, ?)",
        )
        .bind(channel.id)
        .bind(timestamp)
        .bind(reading.number)
        .bind(&reading.text)
        .execute(&mut *tx)
        .await?;
        let triggers = apply(&channel.spec, &mut channel.state, *timestamp, reading);
        for trigger in &triggers {
            event_ids.push(
                events::record_channel_event(
                    &mut *tx, &subject, channel, *timestamp, reading, trigger, now,
                )
                .await?,
            );
        }
        touched[*ci] = true;
    }
    for (channel, _) in channels.iter().zip(&touched).filter(|(_, t)| **t) {
        let st = &channel.state;
        sqlx::query(
            "UPDATE channels SET last_timestamp = ?, last_value = ?, last_str_value = ?, in_range = ? WHERE id = ?",
        )
        .bind(st.last_timestamp)
        .bind(st.last.as_ref().and_then(|r| r.number))
        .bind(st.last.as_ref().and_then(|r| r.text.clone()))
        .bind(st.in_range)
        .bind(channel.id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(Receipt {
        accepted: parsed.len(),
        event_ids,
    })
    })).await?;
    if !receipt.event_ids.is_empty() {
        state.events_added.notify_one();
    }
    Ok(receipt)
}

/// Accepts milliseconds since 1970 or an RFC 3339 string; refuses what is surely a mistake.
fn parse_timestamp(raw: Option<&Json>, now: i64) -> std::result::Result<i64, String> {
    const YEAR_2000_MS: i64 = 946_684_800_000;
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let ts = match raw {
        None | Some(Json::Null) => return Ok(now),
        Some(Json::Number(n)) => match n.as_i64() {
            Some(t) => t,
            None => return Err("must be whole milliseconds since 1970".into()),
        },
        Some(Json::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| format!("{s:?} is not an RFC 3339 time (e.g. 2026-11-24T09:30:00Z)"))?
            .timestamp_millis(),
        Some(_) => return Err("must be milliseconds since 1970 or an RFC 3339 string".into()),
    };
    if (0..100_000_000_000).contains(&ts) {
        return Err("looks like seconds; send milliseconds since 1970".into());
    }
    if ts < YEAR_2000_MS {
        return Err("is before the year 2000".into());
    }
    if ts > now + DAY_MS {
        return Err("is more than a day in the future".into());
    }
    Ok(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_796_000_000_000;

    #[test]
    fn timestamps_default_to_now_and_accept_ms_or_rfc3339() {
        assert_eq!(parse_timestamp(None, NOW), Ok(NOW));
        assert_eq!(parse_timestamp(Some(&json!(NOW - 5)), NOW), Ok(NOW - 5));
        assert_eq!(
            parse_timestamp(Some(&json!("2026-11-24T09:30:00.250Z")), NOW),
            Ok(1_795_512_600_250)
        );
    }

    #[test]
    fn refuses_seconds_the_far_future_and_nonsense() {
        assert!(parse_timestamp(Some(&json!(1_796_000_000)), NOW)
            .unwrap_err()
            .contains("seconds"));
        assert!(parse_timestamp(Some(&json!(NOW + 2 * 86_400_000)), NOW).is_err());
        assert!(parse_timestamp(Some(&json!(1.5)), NOW).is_err());
        assert!(parse_timestamp(Some(&json!("yesterday")), NOW).is_err());
        assert!(parse_timestamp(Some(&json!(true)), NOW).is_err());
    }
}
