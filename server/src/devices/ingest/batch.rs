//! Group commit: the queue in front of the writer, and the set-based statements that write a
//! whole batch of requests — devices, channels, data points, events — in one writer job.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use crate::db::{
    shared::{self, News},
    Conn, Engine, Split,
};
use sqlx::QueryBuilder;
use tokio::sync::mpsc;

use super::{check, replies, Answer, Receipt, Request, MAX_POINTS_PER_BATCH, QUEUE};
use crate::{
    db::Writer,
    devices::{
        events::{self, NewEvent, Subject},
        readback::Written,
        tokens::{self, ARCHIVED},
        Channel, ChannelRow, Device, DeviceRow, CHANNEL_COLUMNS, DEVICE_COLUMNS,
    },
    domain::{
        channel::{apply, Reading},
        device::DeviceStatus,
    },
    health::Busy,
    Error, Result,
};

/// The queue in front of the writer; cheap to clone.
#[derive(Clone)]
pub(super) struct Batcher {
    pub(super) queue: mpsc::Sender<(Request, Answer)>,
}

impl Batcher {
    /// `committed` is called after each batch is committed, with the channels it wrote
    /// (readers waiting for a value) and whether it recorded events (the dispatcher's signal:
    /// given here, not by the requests, so that one whose caller hung up is signalled too).
    /// `busy` is marked while a batch is being written (readiness tells a stuck batcher).
    pub(super) fn start(
        writer: Writer,
        committed: impl Fn(&[Written], bool) + Send + 'static,
        busy: Arc<Busy>,
    ) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, requests, committed, busy));
        Self { queue }
    }
}

/// Takes whatever is queued (up to a batch), writes it in one job, answers, repeats. While a
/// batch is being written the next one gathers: the busier the server, the larger the batches.
async fn run(
    writer: Writer,
    mut queue: mpsc::Receiver<(Request, Answer)>,
    committed: impl Fn(&[Written], bool) + Send + 'static,
    busy: Arc<Busy>,
) {
    let mut next: Option<(Request, Answer)> = None;
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
        let (requests, replies): (Vec<Request>, Vec<Answer>) = batch.into_iter().unzip();
        let n = requests.len();
        let written = channels_named(&requests);
        let stored = {
            let _busy = busy.start();
            writer
                .write(move |conn| Box::pin(write_batch(conn, requests)))
                .await
        };
        match stored {
            Ok(results) => {
                let events = results
                    .iter()
                    .any(|r| r.as_ref().is_ok_and(|r| !r.event_ids.is_empty()));
                committed(&written, events);
                for (reply, result) in replies.into_iter().zip(results) {
                    if let Ok(receipt) = &result {
                        metrics::counter!("labhook_data_points_total")
                            .increment(receipt.accepted as u64);
                        metrics::counter!("labhook_events_total")
                            .increment(receipt.event_ids.len() as u64);
                    }
                    // A caller that hung up: its data is stored all the same.
                    let _ = reply.send(result);
                }
            }
            // The writer did not get to it in time: nothing was stored; the devices may send
            // it again shortly (503 with Retry-After), as with any busy change.
            Err(Error::Busy { retry_after }) => {
                tracing::warn!(
                    requests = n,
                    "the writer was too busy for a batch of data points"
                );
                for reply in replies {
                    let _ = reply.send(Err(Error::Busy { retry_after }));
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

/// The channels the requests name, once each: (device id, channel name).
pub(super) fn channels_named(requests: &[Request]) -> Vec<Written> {
    let mut written: Vec<Written> = requests
        .iter()
        .flat_map(|r| r.points.iter().map(|p| (r.device_id, p.channel.clone())))
        .collect();
    written.sort_unstable();
    written.dedup();
    written
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
/// Receivers' replies go through here too (within the dispatcher's transaction): the same
/// checks and trigger events, but only on writable channels, and the device's own status
/// (online, last contact) is left alone — a reply is not the device speaking.
pub(super) async fn write_batch(
    conn: &mut Conn,
    requests: Vec<Request>,
) -> Result<Vec<Result<Receipt>>> {
    let mut devices = load_devices(conn, &requests).await?;
    let via_tokens: Vec<i64> = requests.iter().filter_map(|r| r.via_token).collect();
    let valid_tokens = tokens::still_valid(conn, &via_tokens).await?;
    let mut data_points: Vec<(i64, i64, Reading)> = Vec::new();
    let mut new_events: Vec<(NewEvent, i64)> = Vec::new();
    // Per request: Ok(how many points, which of `new_events` are its own) or why refused.
    let mut outcomes: Vec<Result<(usize, std::ops::Range<usize>)>> = Vec::new();
    let mut used_tokens: HashMap<i64, i64> = HashMap::new();

    for request in &requests {
        let Some(d) = devices.get_mut(&request.device_id) else {
            outcomes.push(Err(Error::not_found("Device")));
            continue;
        };
        if let Some(token) = request.via_token {
            // Looked up again here, not only in the (cached) check at the door: a token
            // revoked, or a device archived, on another instance a moment ago stores nothing.
            if !valid_tokens.contains_key(&token) {
                outcomes.push(Err(Error::InvalidToken));
                continue;
            }
            if d.device.archived {
                outcomes.push(Err(Error::forbidden(ARCHIVED)));
                continue;
            }
        }
        if let Some(reply) = &request.reply {
            if let Err(e) = replies::admissible(&d.device, &d.channels, request) {
                outcomes.push(Err(e));
                continue;
            }
            if reply.dry_run {
                let checked = check(&d.channels, request).map(|p| (p.len(), 0..0));
                outcomes.push(checked);
                continue;
            }
        }
        let parsed = match check(&d.channels, request) {
            Ok(parsed) => parsed,
            Err(e) => {
                outcomes.push(Err(e));
                continue;
            }
        };
        let first_event = new_events.len();
        let now = request.now;
        let caused_by = request.reply.map(|r| r.cause);
        let subject = Subject {
            organisation_id: d.device.organisation_id,
            organisation_name: &d.organisation_name,
            device: &d.device,
        };
        // A device that sends data is online.
        if caused_by.is_none() && d.device.status == DeviceStatus::Offline {
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
                let mut event =
                    events::channel_event(&subject, channel, *timestamp, reading, &trigger);
                event.caused_by = caused_by;
                new_events.push((event, now));
            }
            data_points.push((channel.id, *timestamp, reading.clone()));
            d.touched_channels.insert(*ci);
        }
        if caused_by.is_none() {
            d.device.status = DeviceStatus::Online;
            d.device.last_seen_at = Some(now);
            d.seen = true;
        }
        if let Some(token) = request.via_token {
            used_tokens.insert(token, now);
        }
        outcomes.push(Ok((parsed.len(), first_event..new_events.len())));
    }

    insert_data_points(conn, &data_points).await?;
    if conn.engine() == Engine::Postgres && !data_points.is_empty() {
        // Read-backs waiting on these channels at other instances wake when this commits.
        let written = serde_json::to_string(&channels_named(&requests)).expect("BUG: serialises");
        shared::tell(conn, News::Written, &written).await?;
    }
    let event_ids = events::record_many(conn, &new_events).await?;
    for d in devices
        .values()
        .filter(|d| d.seen || !d.touched_channels.is_empty())
    {
        save_device(conn, d).await?;
    }
    tokens::note_use(conn, &used_tokens, &valid_tokens).await?;
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
/// On Postgres the devices stay locked until the batch commits (in id order, so that two
/// instances' batches cannot lock each other out): a device's status and its channels' trigger
/// states are read and written by one instance's batch at a time.
async fn load_devices(
    conn: &mut Conn,
    requests: &[Request],
) -> Result<HashMap<i64, DeviceInBatch>> {
    let mut ids: Vec<i64> = requests.iter().map(|r| r.device_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let ids = serde_json::to_string(&ids).expect("BUG: ids serialise");
    let found: Vec<Device> =
        crate::db::with_db!(conn, db, engine => sqlx::query_as::<_, DeviceRow>(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id IN {ids1} ORDER BY d.id {lock}"
    , ids1 = crate::db::dialect::ids(engine, 1), lock = crate::db::dialect::lock_rows_until_done(engine, "d")))
    .bind(&ids)
    .fetch_all(db)
    .await)?
        .into_iter()
        .map(Device::from)
        .collect();
    let names: HashMap<i64, String> = crate::db::with_db!(conn, db, engine => sqlx::query_as(
        &format!("SELECT o.id, o.name FROM organisations o
         WHERE o.id IN (SELECT d.organisation_id FROM devices d WHERE d.id IN {ids1})", ids1 = crate::db::dialect::ids(engine, 1)),
    )
    .bind(&ids)
    .fetch_all(db)
    .await)?
    .into_iter()
    .collect();
    let mut channels: HashMap<i64, Vec<Channel>> = HashMap::new();
    for c in crate::db::with_db!(conn, db, engine => sqlx::query_as::<_, ChannelRow>(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels c
         WHERE c.device_id IN {ids1} AND c.removed_at IS NULL
         ORDER BY c.id"
    , ids1 = crate::db::dialect::ids(engine, 1)))
    .bind(&ids)
    .fetch_all(db)
    .await)?
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

async fn insert_data_points(conn: &mut Conn, points: &[(i64, i64, Reading)]) -> Result<()> {
    match conn.split() {
        Split::Sqlite(db) => {
            // 4 values per row, well under SQLite's limit of bound values per statement.
            for chunk in points.chunks(1000) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO data_points (channel_id, timestamp, value, str_value) ",
                );
                insert.push_values(chunk, |mut row, (channel, timestamp, reading)| {
                    row.push_bind(channel)
                        .push_bind(timestamp)
                        .push_bind(reading.number)
                        .push_bind(&reading.text);
                });
                insert.build().execute(&mut *db).await?;
            }
        }
        // One array per column: the same statement text for any number of rows, so Postgres
        // prepares and plans it once (see `db::dialect`, "Rows as arrays").
        Split::Postgres(db) => {
            sqlx::query(
                "INSERT INTO data_points (channel_id, timestamp, value, str_value)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::float8[], $4::text[])",
            )
            .bind(points.iter().map(|p| p.0).collect::<Vec<i64>>())
            .bind(points.iter().map(|p| p.1).collect::<Vec<i64>>())
            .bind(
                points
                    .iter()
                    .map(|p| p.2.number)
                    .collect::<Vec<Option<f64>>>(),
            )
            .bind(
                points
                    .iter()
                    .map(|p| p.2.text.as_deref())
                    .collect::<Vec<Option<&str>>>(),
            )
            .execute(db)
            .await?;
        }
    }
    Ok(())
}

/// The device's new status and last contact, and the latest state of each channel it touched.
async fn save_device(conn: &mut Conn, d: &DeviceInBatch) -> Result<()> {
    if d.seen {
        crate::db::with_db!(conn, db => sqlx::query("UPDATE devices SET status = 'online', last_seen_at = $1 WHERE id = $2")
            .bind(d.device.last_seen_at)
            .bind(d.device.id)
            .execute(db)
            .await
            .map(crate::db::Done::from))?;
    }
    for &ci in &d.touched_channels {
        let channel = &d.channels[ci];
        let st = &channel.state;
        crate::db::with_db!(conn, db => sqlx::query(
            "UPDATE channels SET last_timestamp = $1, last_value = $2, last_str_value = $3, in_range = $4 WHERE id = $5",
        )
        .bind(st.last_timestamp)
        .bind(st.last.as_ref().and_then(|r| r.number))
        .bind(st.last.as_ref().and_then(|r| r.text.clone()))
        .bind(st.in_range)
        .bind(channel.id)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    }
    Ok(())
}
