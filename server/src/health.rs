//! Whether the server is alive and ready, told truthfully: `/healthz` (liveness) fails when the
//! dispatcher has stopped beating for minutes — only a restart helps then — and `/readyz`
//! (readiness) fails when the database does not answer, the dispatcher's or housekeeping's
//! last round is older than a few seconds' worth of rounds, or the writer or the ingest
//! batcher has been stuck on one piece of work for seconds.

use std::{
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
    sync::Arc,
    time::Duration,
};

use serde::Serialize;

use crate::{clock::now_ms, AppState};

/// The dispatcher's and housekeeping's loops beat at least once a second (every few seconds
/// when idle) while they run.
const READY_WITHIN: Duration = Duration::from_secs(30);
const ALIVE_WITHIN: Duration = Duration::from_secs(300);
const DATABASE_WITHIN: Duration = Duration::from_secs(2);
/// The writer and the ingest batcher each finish a piece of work in well under a second; one
/// that takes this long is stuck.
const STUCK_AFTER: Duration = Duration::from_secs(10);

/// What a background loop reports: when it last went round, and how often it was restarted.
#[derive(Default)]
pub struct Pulse {
    /// When the loop last went round (ms); 0: it never ran.
    last_beat: AtomicI64,
    /// How often the loop was restarted after a panic.
    restarts: AtomicU64,
}

impl Pulse {
    pub fn beat(&self) {
        self.last_beat.store(now_ms(), Ordering::Relaxed);
    }

    pub fn restarted(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Milliseconds since the last round; `None`: it never ran.
    fn ago(&self) -> Option<i64> {
        let last = self.last_beat.load(Ordering::Relaxed);
        (last != 0).then(|| now_ms() - last)
    }
}

/// What a worker that takes one piece of work at a time reports: since when it has been at the
/// current one (0: idle).
#[derive(Default)]
pub struct Busy(AtomicI64);

impl Busy {
    /// Marks the start of a piece of work; it ends when the guard is dropped.
    pub fn start(&self) -> BusyGuard<'_> {
        self.0.store(now_ms(), Ordering::Relaxed);
        BusyGuard(self)
    }

    /// How long the current piece of work has taken so far; `None` when idle.
    fn for_ms(&self) -> Option<i64> {
        let since = self.0.load(Ordering::Relaxed);
        (since != 0).then(|| now_ms() - since)
    }
}

pub struct BusyGuard<'a>(&'a Busy);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0 .0.store(0, Ordering::Relaxed);
    }
}

/// The pulses and busy marks of the server's loops and workers.
#[derive(Default)]
struct Pulses {
    dispatcher: Pulse,
    housekeeping: Pulse,
    ingest: Arc<Busy>,
}

fn pulses(state: &AppState) -> Arc<Pulses> {
    state.part(|_| Pulses::default())
}

/// The dispatcher's loop is going round.
pub fn beat(state: &AppState) {
    pulses(state).dispatcher.beat();
}

/// The dispatcher's loop was restarted after a panic.
pub fn restarted(state: &AppState) {
    pulses(state).dispatcher.restarted();
}

/// Housekeeping's loop is going round.
pub fn housekeeping_beat(state: &AppState) {
    pulses(state).housekeeping.beat();
}

/// Housekeeping's loop was restarted after a panic.
pub fn housekeeping_restarted(state: &AppState) {
    pulses(state).housekeeping.restarted();
}

/// The ingest batcher's busy mark (it writes one batch at a time).
pub fn ingest_busy(state: &AppState) -> Arc<Busy> {
    pulses(state).ingest.clone()
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub ready: bool,
    pub database: &'static str,
    pub dispatcher: &'static str,
    /// Milliseconds since the dispatcher's last round (`None`: it never ran).
    pub dispatcher_last_round_ms_ago: Option<i64>,
    pub dispatcher_restarts: u64,
    pub housekeeping: &'static str,
    pub housekeeping_last_round_ms_ago: Option<i64>,
    pub housekeeping_restarts: u64,
    /// "ok", or "stuck" when one transaction has been running for seconds.
    pub writer: &'static str,
    /// Milliseconds the writer has been at its current transaction (`None`: idle).
    pub writer_busy_ms: Option<i64>,
    /// "ok", or "stuck" when one batch of data points has been waiting for seconds.
    pub ingest: &'static str,
}

/// Liveness: false only when the dispatcher ran and then stopped beating for minutes.
pub fn alive(state: &AppState) -> bool {
    pulses(state)
        .dispatcher
        .ago()
        .is_none_or(|ms| ms < ALIVE_WITHIN.as_millis() as i64)
}

fn round(ago: Option<i64>) -> &'static str {
    match ago {
        None => "not running",
        Some(ms) if ms < READY_WITHIN.as_millis() as i64 => "ok",
        Some(_) => "stalled",
    }
}

fn work(busy_ms: Option<i64>) -> &'static str {
    match busy_ms {
        Some(ms) if ms >= STUCK_AFTER.as_millis() as i64 => "stuck",
        _ => "ok",
    }
}

/// Readiness: the database answers a query, the dispatcher and housekeeping went round
/// lately, and neither the writer nor the ingest batcher is stuck.
pub async fn readiness(state: &AppState) -> Report {
    let database = tokio::time::timeout(
        DATABASE_WITHIN,
        async { crate::db::with_db!(&state.pool, db => sqlx::query_scalar::<_, i64>("SELECT CAST(1 AS BIGINT)").fetch_one(db).await) },
    )
    .await;
    let database = match database {
        Ok(Ok(_)) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = ?e, "readiness: the database does not answer");
            "error"
        }
        Err(_) => "timeout",
    };
    let p = pulses(state);
    let dispatcher_ago = p.dispatcher.ago();
    let housekeeping_ago = p.housekeeping.ago();
    let writer_busy_ms = state.writer().busy_for().map(|d| d.as_millis() as i64);
    let (dispatcher, housekeeping) = (round(dispatcher_ago), round(housekeeping_ago));
    let (writer, ingest) = (work(writer_busy_ms), work(p.ingest.for_ms()));
    Report {
        ready: database == "ok"
            && dispatcher == "ok"
            && housekeeping == "ok"
            && writer == "ok"
            && ingest == "ok",
        database,
        dispatcher,
        dispatcher_last_round_ms_ago: dispatcher_ago,
        dispatcher_restarts: p.dispatcher.restarts.load(Ordering::Relaxed),
        housekeeping,
        housekeeping_last_round_ms_ago: housekeeping_ago,
        housekeeping_restarts: p.housekeeping.restarts.load(Ordering::Relaxed),
        writer,
        writer_busy_ms,
        ingest,
    }
}
