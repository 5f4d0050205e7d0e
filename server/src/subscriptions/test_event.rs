//! "Send test event": a webhook built from one of the subscription's channels — its latest real
//! value, or a sample typed when it has none — sent through the real dispatcher and signing
//! path. It is marked as a test in its type (`channel.value_changed.test`), in its data
//! (`"test": true`) and in the delivery log, matches no subscription's triggers, and never
//! counts towards switching a failing subscription off.

use serde_json::{json, Value as Json};

use super::queries::get;
use crate::{
    audit::{self, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    deliveries::queue::{enqueue, NewDelivery},
    devices::{
        channels_of,
        events::{channel_event, record_test, Subject},
        visible_device,
    },
    domain::channel::{Reading, Trigger},
    AppState, Error, FieldError, Result,
};

/// Sends a test event to the subscription; answers the id of its delivery (its log entry
/// shows the request as sent and the receiver's answer).
pub async fn send_test_event(
    state: &AppState,
    user: &CurrentUser,
    subscription_id: i64,
    channel_id: Option<i64>,
    sample: Option<&str>,
) -> Result<i64> {
    let s = get(state, user, subscription_id).await?;
    if !s.target_registered {
        return Err(Error::Conflict(
            "Its target URL is not registered any more, so nothing can be sent to it.".into(),
        ));
    }
    let usable = |t: &&super::TriggerRow| t.lost_access_at.is_none() && !t.device_archived;
    let trigger = match channel_id {
        Some(id) => s
            .triggers
            .iter()
            .filter(usable)
            .find(|t| t.channel_id == id),
        None => s.triggers.iter().find(usable),
    }
    .ok_or_else(|| {
        Error::Invalid(vec![FieldError::new(
            "channel_id",
            "Choose one of the channels this subscription selected.",
        )])
    })?;
    // The caller's own access is checked again here, as at send time.
    let device = visible_device(&state.pool, user, trigger.device_id).await?;
    let channel = {
        let mut conn = state.pool.acquire().await?;
        channels_of(&mut conn, device.id)
            .await?
            .into_iter()
            .find(|c| c.id == trigger.channel_id)
            .ok_or_else(|| Error::not_found("Channel"))?
    };
    let reading = match (
        &channel.state.last,
        sample.map(str::trim).filter(|s| !s.is_empty()),
    ) {
        (_, Some(typed)) => {
            // "21.5" is a number, "true" a yes; anything else is text.
            let raw = serde_json::from_str::<Json>(typed).unwrap_or_else(|_| Json::from(typed));
            channel.spec.parse_value(&raw).map_err(|why| {
                Error::Invalid(vec![FieldError::new(
                    "sample",
                    format!("The sample for {}: {why}.", channel.name),
                )])
            })?
        }
        (Some(last), None) => last.clone(),
        (None, None) => {
            return Err(Error::Invalid(vec![FieldError::new(
                "sample",
                format!(
                    "{} has no value yet: type a sample value to send.",
                    channel.name
                ),
            )]))
        }
    };
    let now = now_ms();
    let subject = Subject {
        organisation_id: user.organisation_id,
        organisation_name: &user.organisation_name,
        device: &device,
    };
    let event = test_payload(&subject, &channel, now, &reading, &trigger.event_type);
    let event_type = format!("{}.test", trigger.event_type);
    let (user, subject_line) = (user.clone(), s.subject());
    let id = state
        .write(move |conn| {
            Box::pin(async move {
                let event_id = record_test(conn, &event, &event_type, now).await?;
                enqueue(
                    &mut *conn,
                    &[NewDelivery {
                        subscription_id,
                        event_id,
                        lease_until: None,
                        replay_id: None,
                    }],
                    now,
                )
                .await?;
                let delivery: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
                    "UPDATE deliveries SET test = TRUE WHERE event_id = $1 RETURNING id",
                )
                .bind(event_id)
                .fetch_one(db)
                .await)?;
                audit::record_by(
                    conn,
                    &user,
                    Entry {
                        kind: AuditKind::Subscription,
                        action: audit::TEST_EVENT_SENT,
                        subject: subject_line,
                        before: None,
                        after: Some(json!({ "type": event_type, "delivery": delivery })),
                    },
                )
                .await?;
                Ok(delivery)
            })
        })
        .await?;
    state.events_added.notify_one();
    Ok(id)
}

/// The `data` of the test event: what a real event of this channel carries, marked as a test.
fn test_payload(
    subject: &Subject<'_>,
    channel: &crate::devices::Channel,
    now: i64,
    reading: &Reading,
    event_type: &str,
) -> crate::devices::events::NewEvent {
    let mut event = channel_event(subject, channel, now, reading, &Trigger::DataPointCreated);
    let mut data: serde_json::Map<String, Json> =
        serde_json::from_str(&event.payload).expect("BUG: event payloads are JSON objects");
    data.insert("test".into(), Json::Bool(true));
    if event_type == "channel.value_changed" {
        data.insert("previous_value".into(), Json::Null);
    }
    event.payload = Json::Object(data).to_string();
    event
}
