//! Devices reading back their own channels: the latest value of one, or — waiting up to a
//! limit — the next one after a given time. So an instrument that sent a sample number can
//! pick up the method parameters a LIMS wrote back (issue 15), or a display can follow a
//! channel without polling hard. Reads only; a waiting request holds no lock and no
//! connection, and is woken when data points were written to its channel.
//!
//! What one caller can hold is bounded: a commit wakes only the requests waiting on the
//! channels it wrote (not every waiter of every organisation), one device token may have
//! [`MAX_WAITING_PER_TOKEN`] requests waiting and one device [`MAX_WAITING_PER_DEVICE`]
//! (429 beyond), and this door's reads take at most [`READS_AT_ONCE`] of the read pool's
//! connections, so that waiting polls never starve the pages, the dispatcher or `/readyz`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value as Json;
use tokio::sync::{watch, Semaphore};

use crate::{clock::rfc3339, AppState, Error, Result};

/// The longest a request may wait for the next value.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// Requests one device token may have waiting for a value at once.
pub const MAX_WAITING_PER_TOKEN: usize = 32;
/// Requests waiting for a value of one device at once, whatever their tokens.
pub const MAX_WAITING_PER_DEVICE: usize = 128;
/// Database reads of this door at once (of the read pool's eight connections).
const READS_AT_ONCE: usize = 2;

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

/// A channel as a commit names it: (device id, channel name).
pub type Written = (i64, String);

/// Who waits for which channel, and how many per token and device.
#[derive(Default)]
struct Waiting {
    channels: HashMap<Written, (watch::Sender<u64>, usize)>,
    per_token: HashMap<i64, usize>,
    per_device: HashMap<i64, usize>,
}

/// The waiting requests and this door's share of the read pool; one per server.
struct Readers {
    waiting: Mutex<Waiting>,
    reads: Semaphore,
    /// Waiting requests woken so far.
    wakeups: std::sync::atomic::AtomicU64,
}

fn readers(state: &AppState) -> Arc<Readers> {
    state.part(|_| Readers {
        waiting: Mutex::default(),
        reads: Semaphore::new(READS_AT_ONCE),
        wakeups: Default::default(),
    })
}

/// How many waiting requests commits have woken since the server started (also the metric
/// `labhook_readback_wakeups_total`).
pub fn wakeups(state: &AppState) -> u64 {
    readers(state)
        .wakeups
        .load(std::sync::atomic::Ordering::Relaxed)
}

impl Readers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().expect("BUG: readback lock poisoned")
    }
}

/// What to call after data points were committed, with the channels written: wakes the
/// requests waiting on those channels, and only those.
pub(crate) fn announcer(state: &AppState) -> impl Fn(&[Written]) + Send + Sync + 'static {
    let readers = readers(state);
    move |written: &[Written]| {
        let waiting = readers.lock();
        let mut woken = 0;
        for channel in written {
            if let Some((changed, n)) = waiting.channels.get(channel) {
                changed.send_modify(|v| *v = v.wrapping_add(1));
                woken += *n;
            }
        }
        if woken > 0 {
            readers
                .wakeups
                .fetch_add(woken as u64, std::sync::atomic::Ordering::Relaxed);
            metrics::counter!("labhook_readback_wakeups_total").increment(woken as u64);
        }
    }
}

/// Wakes every waiting request (news from another instance that did not say which channels,
/// or news that may have been missed): each looks at its channel again.
pub(crate) fn wake_all(state: &AppState) {
    let readers = readers(state);
    let waiting = readers.lock();
    for (changed, _) in waiting.channels.values() {
        changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// One request waiting on a channel; it stops counting when dropped, however the request ends.
struct Waiter {
    readers: Arc<Readers>,
    channel: Written,
    token_id: i64,
    changes: watch::Receiver<u64>,
}

impl Waiter {
    /// Counts a new waiter of `token_id` on the channel, or refuses it past a limit (429).
    fn join(readers: Arc<Readers>, channel: Written, token_id: i64) -> Result<Self> {
        let device_id = channel.0;
        let changes = {
            let mut w = readers.lock();
            let by_token = w.per_token.get(&token_id).copied().unwrap_or(0);
            let by_device = w.per_device.get(&device_id).copied().unwrap_or(0);
            if by_token >= MAX_WAITING_PER_TOKEN || by_device >= MAX_WAITING_PER_DEVICE {
                let whose = if by_token >= MAX_WAITING_PER_TOKEN {
                    format!("This device token has {MAX_WAITING_PER_TOKEN}")
                } else {
                    format!("This device has {MAX_WAITING_PER_DEVICE}")
                };
                return Err(Error::RateLimited {
                    message: format!(
                        "{whose} requests waiting for a value already, the most at once; wait for one of them to be answered."
                    ),
                    retry_after: Duration::from_secs(1),
                });
            }
            *w.per_token.entry(token_id).or_default() += 1;
            *w.per_device.entry(device_id).or_default() += 1;
            let (changed, n) = w
                .channels
                .entry(channel.clone())
                .or_insert_with(|| (watch::channel(0).0, 0));
            *n += 1;
            changed.subscribe()
        };
        Ok(Self {
            readers,
            channel,
            token_id,
            changes,
        })
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut w = self.readers.lock();
        let less = |map: &mut HashMap<i64, usize>, key: i64| {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        };
        less(&mut w.per_token, self.token_id);
        less(&mut w.per_device, self.channel.0);
        if let Some((_, n)) = w.channels.get_mut(&self.channel) {
            *n -= 1;
            if *n == 0 {
                w.channels.remove(&self.channel);
            }
        }
    }
}

/// The latest value of the device's channel `name` (any other name is "not found").
pub async fn latest(state: &AppState, device_id: i64, name: &str) -> Result<Latest> {
    let readers = readers(state);
    let _read = readers
        .reads
        .acquire()
        .await
        .map_err(|_| Error::Internal(anyhow::anyhow!("the readback reads were closed")))?;
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
/// when none came within `wait`. `token_id` is the device token asking: its waiting requests
/// are counted.
pub async fn next_after(
    state: &AppState,
    device_id: i64,
    token_id: i64,
    name: &str,
    after: i64,
    wait: Duration,
) -> Result<Option<Latest>> {
    let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
    // Counted and subscribed before the first look, so that a commit between the look and
    // the wait is not missed.
    let mut waiter = Waiter::join(readers(state), (device_id, name.to_owned()), token_id)?;
    loop {
        let now = latest(state, device_id, name).await?;
        if now.timestamp_ms.is_some_and(|t| t > after) {
            return Ok(Some(now));
        }
        tokio::select! {
            changed = waiter.changes.changed() => {
                if changed.is_err() {
                    return Ok(None);
                }
            }
            () = tokio::time::sleep_until(deadline) => return Ok(None),
        }
    }
}
