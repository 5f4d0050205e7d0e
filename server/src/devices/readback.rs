//! Devices reading back their own channels: the latest value of one, or — waiting up to a
//! limit — the next one after a given time. So an instrument that sent a sample number can
//! pick up the method parameters a LIMS wrote back (issue 15), or a display can follow a
//! channel without polling hard. Reads only; a waiting request holds no lock and no
//! connection, and is woken when data points were written.

use std::time::Duration;

use serde_json::Value as Json;
use tokio::sync::watch;

use crate::{clock::rfc3339, AppState, Error, Result};

/// The longest a request may wait for the next value.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// A channel's latest value as the device reads it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Latest {
    pub channel: String,
    pub unit: String,
    /// As receivers see it: a number, a text, a boolean, or a choice's label; `null` when the
    /// channel has no value yet.
    pub value: Json,
    /// RFC 3339; `null` when the channel has no value yet.
    pub timestamp: Option<String>,
    /// The same, in milliseconds since 1970 (for `after=`).
    pub timestamp_ms: Option<i64>,
}

/// Counts commits of data points; waiting readers watch it.
struct Written(watch::Sender<u64>);

fn written(state: &AppState) -> std::sync::Arc<Written> {
    state.part(|_| Written(watch::channel(0).0))
}

/// What to call after data points were committed: wakes the readers waiting for a value.
pub(crate) fn announcer(state: &AppState) -> impl Fn() + Send + 'static {
    let written = written(state);
    move || written.0.send_modify(|n| *n = n.wrapping_add(1))
}

/// The latest value of the device's channel `name` (any other name is "not found").
pub async fn latest(state: &AppState, device_id: i64, name: &str) -> Result<Latest> {
    let mut conn = state.pool.acquire().await?;
    let channel = super::channels_of(&mut conn, device_id)
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| Error::NotFound(format!("This device has no channel named {name:?}.")))?;
    let at = channel.state.last_timestamp;
    Ok(Latest {
        value: channel
            .state
            .last
            .as_ref()
            .map_or(Json::Null, |r| channel.spec.to_json(r)),
        timestamp: at.map(rfc3339),
        timestamp_ms: at,
        unit: channel.unit,
        channel: channel.name,
    })
}

/// The channel's value once it is newer than `after` (at once if it already is), or `None`
/// when none came within `wait`.
pub async fn next_after(
    state: &AppState,
    device_id: i64,
    name: &str,
    after: i64,
    wait: Duration,
) -> Result<Option<Latest>> {
    let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
    // Subscribed before the first look, so that a commit between the look and the wait is
    // not missed.
    let mut changes = written(state).0.subscribe();
    loop {
        let now = latest(state, device_id, name).await?;
        if now.timestamp_ms.is_some_and(|t| t > after) {
            return Ok(Some(now));
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(None);
                }
            }
            () = tokio::time::sleep_until(deadline) => return Ok(None),
        }
    }
}
