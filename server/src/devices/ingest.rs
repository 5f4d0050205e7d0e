//! Recording data points: the one code path behind the ingest API and the simulator.
//! All-or-nothing per request; every trigger event is stored in the same transaction as the
//! data point that caused it.
//!
//! Group commit: requests that arrive while a batch is being written wait in a queue and are
//! then written together, by one job of the [writer](crate::db::Writer) with a handful of
//! statements for the whole batch instead of ten per request. Each request is checked on its
//! own before anything is written, so a bad one is refused alone; each is answered only after
//! the transaction holding its data is committed.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;
use sqlx::{QueryBuilder, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::{
    events::{self, NewEvent, Subject},
    Channel, ChannelRow, Device, DeviceRow, CHANNEL_COLUMNS, DEVICE_COLUMNS,
};
use crate::{
    clock::now_ms,
    db::Writer,
    domain::{
        channel::{apply, Reading},
        device::DeviceStatus,
    },
    AppState, Error, FieldError, Result,
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
    };
    state
        .part(|state| Batcher::start(state.writer().clone()))
        .queue
        .send((request, reply))
        .await
        .map_err(|_| stopped())?;
    let receipt = answer.await.map_err(|_| stopped())??;
    if !receipt.event_ids.is_empty() {
        state.events_added.notify_one();
    }
    Ok(receipt)
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
}

type Reply = oneshot::Sender<Result<Receipt>>;

/// The queue in front of the writer; cheap to clone.
#[derive(Clone)]
struct Batcher {
    queue: mpsc::Sender<(Request, Reply)>,
}

impl Batcher {
    fn start(writer: Writer) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, requests));
        Self { queue }
    }
}

/// Takes whatever is queued (up to a batch), writes it in one job, answers, repeats. While a
/// batch is being written the next one gathers: the busier the server, the larger the batches.
async fn run(writer: Writer, mut queue: mpsc::Receiver<(Request, Reply)>) {
    let mut next: Option<(Request, Reply)> = None;
    loop {
        let first = match next.take() {
            Some(r) => r,
            None => match queue.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let mut points = first.0.points.len();
        let mut batch = vec![first];
        while points < MAX_POINTS_PER_BATCH {
            match queue.try_recv() {
                Ok(r) if points + r.0.points.len() > MAX_POINTS_PER_BATCH => {
                    next = Some(r);
                    break;
                }
                Ok(r) => {
                    points += r.0.points.len();
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<Request>, Vec<Reply>) = batch.into_iter().unzip();
        let n = requests.len();
        match writer
            .write(move |conn| Box::pin(write_batch(conn, requests)))
            .await
        {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that hung up: its data is stored all the same.
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = ?e, requests = n, "storing a batch of data points failed");
                let why = format!("{e:#}");
                for reply in replies {
                    let _ = reply.send(Err(Error::Internal(anyhow::anyhow!(
                        "storing data points failed: {why}"
                    ))));
                }
            }
        }
    }
}

/// A device of the batch as it stands, changing as the batch's requests are applied in order.
struct DeviceInBatch {
    device: Device,
    organisation_name: String,
    channels: Vec<Channel>,
    touched_channels: HashSet<usize>,
    seen: bool,
}

/// Writes the requests of one batch; returns each one's result, in order. An `Err` of the
/// whole means a database failure: the writer rolls the job back and nothing of it stays.
async fn write_batch(
    conn: &mut SqliteConnection,
    requests: Vec<Request>,
) -> Result<Vec<Result<Receipt>>> {
    let mut devices = load_devices(conn, &requests).await?;
    let mut data_points: Vec<(i64, i64, Reading)> = Vec::new();
    let mut new_events: Vec<(NewEvent, i64)> = Vec::new();
    // Per request: Ok(how many points, which of `new_events` are its own) or why refused.
    let mut outcomes: Vec<Result<(usize, std::ops::Range<usize>)>> = Vec::new();
    let mut tokens: HashMap<i64, i64> = HashMap::new();

    for request in &requests {
        let Some(d) = devices.get_mut(&request.device_id) else {
            outcomes.push(Err(Error::not_found("Device")));
            continue;
        };
        let parsed = match check(&d.channels, request) {
            Ok(parsed) => parsed,
            Err(e) => {
                outcomes.push(Err(e));
                continue;
            }
        };
        let first_event = new_events.len();
        let now = request.now;
        let subject = Subject {
            organisation_id: d.device.organisation_id,
            organisation_name: &d.organisation_name,
            device: &d.device,
        };
        // A device that sends data is online.
        if d.device.status == DeviceStatus::Offline {
            let event = events::status_event(
                &subject,
                DeviceStatus::Online,
                DeviceStatus::Offline,
                d.device.last_seen_at,
                now,
            );
            new_events.push((event, now));
        }
        for (ci, timestamp, reading) in &parsed {
            let channel = &mut d.channels[*ci];
            for trigger in apply(&channel.spec, &mut channel.state, *timestamp, reading) {
                let event = events::channel_event(&subject, channel, *timestamp, reading, &trigger);
                new_events.push((event, now));
            }
            data_points.push((channel.id, *timestamp, reading.clone()));
            d.touched_channels.insert(*ci);
        }
        d.device.status = DeviceStatus::Online;
        d.device.last_seen_at = Some(now);
        d.seen = true;
        if let Some(token) = request.via_token {
            tokens.insert(token, now);
        }
        outcomes.push(Ok((parsed.len(), first_event..new_events.len())));
    }

    insert_data_points(conn, &data_points).await?;
    let event_ids = events::record_many(conn, &new_events).await?;
    for d in devices.values().filter(|d| d.seen) {
        save_device(conn, d).await?;
    }
    for (token, used_at) in tokens {
        sqlx::query("UPDATE device_tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?")
            .bind(used_at)
            .bind(token)
            .execute(&mut *conn)
            .await?;
    }
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.map(|(accepted, events)| Receipt {
                accepted,
                event_ids: event_ids[events].to_vec(),
            })
        })
        .collect())
}

/// The batch's devices with their organisation's name and their channels: three statements.
async fn load_devices(
    conn: &mut SqliteConnection,
    requests: &[Request],
) -> Result<HashMap<i64, DeviceInBatch>> {
    let mut ids: Vec<i64> = requests.iter().map(|r| r.device_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let ids = serde_json::to_string(&ids).expect("BUG: ids serialise");
    let found: Vec<Device> = sqlx::query_as::<_, DeviceRow>(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id IN (SELECT value FROM json_each(?))"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(Device::from)
    .collect();
    let names: HashMap<i64, String> = sqlx::query_as(
        "SELECT o.id, o.name FROM organisations o
         WHERE o.id IN (SELECT d.organisation_id FROM devices d WHERE d.id IN (SELECT value FROM json_each(?)))",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut channels: HashMap<i64, Vec<Channel>> = HashMap::new();
    for c in sqlx::query_as::<_, ChannelRow>(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels c
         WHERE c.device_id IN (SELECT value FROM json_each(?)) ORDER BY c.id"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    {
        let c = Channel::from(c);
        channels.entry(c.device_id).or_default().push(c);
    }
    Ok(found
        .into_iter()
        .map(|device| {
            let d = DeviceInBatch {
                organisation_name: names
                    .get(&device.organisation_id)
                    .cloned()
                    .unwrap_or_default(),
                channels: channels.remove(&device.id).unwrap_or_default(),
                touched_channels: HashSet::new(),
                seen: false,
                device,
            };
            (d.device.id, d)
        })
        .collect())
}

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

async fn insert_data_points(
    conn: &mut SqliteConnection,
    points: &[(i64, i64, Reading)],
) -> Result<()> {
    // 4 values per row, well under SQLite's limit of bound values per statement.
    for chunk in points.chunks(1000) {
        let mut insert =
            QueryBuilder::new("INSERT INTO data_points (channel_id, timestamp, value, str_value) ");
        insert.push_values(chunk, |mut row, (channel, timestamp, reading)| {
            row.push_bind(channel)
                .push_bind(timestamp)
                .push_bind(reading.number)
                .push_bind(&reading.text);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The device's new status and last contact, and the latest state of each channel it touched.
async fn save_device(conn: &mut SqliteConnection, d: &DeviceInBatch) -> Result<()> {
    sqlx::query("UPDATE devices SET status = 'online', last_seen_at = ? WHERE id = ?")
        .bind(d.device.last_seen_at)
        .bind(d.device.id)
        .execute(&mut *conn)
        .await?;
    for &ci in &d.touched_channels {
        let channel = &d.channels[ci];
        let st = &channel.state;
        sqlx::query(
            "UPDATE channels SET last_timestamp = ?, last_value = ?, last_str_value = ?, in_range = ? WHERE id = ?",
        )
        .bind(st.last_timestamp)
        .bind(st.last.as_ref().and_then(|r| r.number))
        .bind(st.last.as_ref().and_then(|r| r.text.clone()))
        .bind(st.in_range)
        .bind(channel.id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
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
