//! Recording data points: the one code path behind the ingest API and the simulator.
//! All-or-nothing per request; every trigger event is stored in the same transaction as the
//! data point that caused it.
//!
//! Group commit: requests that arrive while a batch is being written wait in a queue and are
//! then written together, by one job of the [writer](crate::db::Writer) with a handful of
//! statements for the whole batch instead of ten per request. Each request is checked on its
//! own before anything is written, so a bad one is refused alone; each is answered only after
//! the transaction holding its data is committed.

mod batch;
mod items;
mod replies;

use std::collections::HashMap;

use serde_json::Value as Json;
use tokio::sync::oneshot;

use self::batch::Batcher;
pub use self::items::parse_items;
pub use self::replies::{record_replies, Reply, MAX_CHAIN_DEPTH};
use super::Channel;
use crate::{
    clock::now_ms, domain::channel::Reading, rate::KeyedLimit, AppState, Error, FieldError, Result,
};

/// Most data points one request may carry.
pub const MAX_POINTS_PER_REQUEST: usize = 1000;
/// A batch closes at this many data points (or when the queue is empty): one transaction
/// stays short even when requests carry many points.
const MAX_POINTS_PER_BATCH: usize = 5000;
/// Requests waiting for the next batch; past this, callers wait to enqueue.
const QUEUE: usize = 8192;

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
///
/// Cancellation-safe: once queued, the request is written whether or not its caller waits.
/// Per device token: ingest requests a second (`Quotas::ingest_requests_per_second`), with
/// bursts of ten times as many. A device over it is told when to come back (429).
struct TokenRate(KeyedLimit<i64>);

/// Counts one ingest request of `token_id` against its rate.
pub fn admit(state: &AppState, token_id: i64) -> Result<()> {
    let rate = state.part(|state| {
        let per_second = state.config.quotas.ingest_requests_per_second;
        TokenRate(KeyedLimit::per_second(
            per_second,
            per_second.saturating_mul(10),
        ))
    });
    rate.0.check(&token_id).map_err(|retry_after| Error::RateLimited {
        message: format!(
            "This device token sends more than {} requests a second; send data points in batches, and try again in {} ms.",
            state.config.quotas.ingest_requests_per_second,
            retry_after.as_millis().max(1)
        ),
        retry_after,
    })
}

/// Per device token: request body KiB a second (`Quotas::ingest_kib_per_second`), with bursts
/// of ten times as many.
struct TokenBytes(KeyedLimit<i64>);

/// Counts a request body of `bytes` against `token_id`'s allowance of bytes.
pub fn admit_bytes(state: &AppState, token_id: i64, bytes: usize) -> Result<()> {
    let per_second = state.config.quotas.ingest_kib_per_second;
    let rate = state.part(|_| {
        TokenBytes(KeyedLimit::per_second(
            per_second,
            per_second.saturating_mul(10),
        ))
    });
    let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
    rate.0
        .check_n(&token_id, kib)
        .map_err(|retry_after| Error::RateLimited {
            message: format!(
                "This device token sends more than {per_second} KiB a second; try again in {} ms.",
                retry_after.as_millis().max(1)
            ),
            retry_after,
        })
}

/// Forgets tokens that are back to a full allowance (housekeeping).
pub fn forget_idle_tokens(state: &AppState) {
    if let Some(rate) = state.existing_part::<TokenRate>() {
        rate.0.forget_idle();
    }
    if let Some(rate) = state.existing_part::<TokenBytes>() {
        rate.0.forget_idle();
    }
}

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
    let (reply, answer) = oneshot::channel();
    let request = Request {
        device_id,
        via_token,
        points,
        now: now_ms(),
        reply: None,
    };
    // Made outside `part`, which holds the parts' lock while it makes the batcher.
    let announce = super::readback::announcer(state);
    let events_added = state.events_added.clone();
    let committed = move |written: &[super::readback::Written], events: bool| {
        announce(written);
        if events {
            events_added.notify_one();
        }
    };
    let busy = crate::health::ingest_busy(state);
    state
        .part(move |state| Batcher::start(state.writer().clone(), committed, busy))
        .queue
        .send((request, reply))
        .await
        .map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

fn stopped() -> Error {
    Error::Internal(anyhow::anyhow!("data point ingestion has stopped"))
}

struct Request {
    device_id: i64,
    via_token: Option<i64>,
    points: Vec<RawPoint>,
    /// When the request arrived: "now" for its points without a timestamp.
    now: i64,
    /// Set for a receiver's reply rather than a device's own data.
    reply: Option<replies::Origin>,
}

/// Where a request's result goes.
type Answer = oneshot::Sender<Result<Receipt>>;

/// Checks every point of a request against its device's channels, writing nothing: returns
/// (channel index, timestamp, reading) per point, or every problem found.
fn check(channels: &[Channel], request: &Request) -> Result<Vec<(usize, i64, Reading)>> {
    let index: HashMap<&str, usize> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut parsed = Vec::with_capacity(request.points.len());
    let mut problems = Vec::new();
    for (i, p) in request.points.iter().enumerate() {
        let Some(&ci) = index.get(p.channel.as_str()) else {
            return Err(Error::NotFound(format!(
                "Item {i}: the device has no channel named {:?}.",
                p.channel
            )));
        };
        let timestamp = match parse_timestamp(p.timestamp.as_ref(), request.now) {
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
    if problems.is_empty() {
        Ok(parsed)
    } else {
        problems.truncate(20);
        Err(Error::Invalid(problems))
    }
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
