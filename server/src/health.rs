//! Whether the server is alive and ready, told truthfully: `/healthz` (liveness) fails when the
//! dispatcher has stopped beating for minutes — only a restart helps then — and `/readyz`
//! (readiness) fails when the database does not answer or the dispatcher's last round is
//! older than a few seconds' worth of rounds.

use std::{
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
    time::Duration,
};

use serde::Serialize;

use crate::{clock::now_ms, AppState};

/// The dispatcher's loop beats at least once a second while it runs.
const READY_WITHIN: Duration = Duration::from_secs(30);
const ALIVE_WITHIN: Duration = Duration::from_secs(300);
const DATABASE_WITHIN: Duration = Duration::from_secs(2);

/// What the dispatcher's supervisor and loop report.
#[derive(Default)]
pub struct DispatcherPulse {
    /// When the loop last went round (ms); 0: it never ran.
    last_beat: AtomicI64,
    /// How often the loop was restarted after a panic.
    restarts: AtomicU64,
}

fn pulse(state: &AppState) -> std::sync::Arc<DispatcherPulse> {
    state.part(|_| DispatcherPulse::default())
}

/// The dispatcher's loop is going round.
pub fn beat(state: &AppState) {
    pulse(state).last_beat.store(now_ms(), Ordering::Relaxed);
}

/// The dispatcher's loop was restarted after a panic.
pub fn restarted(state: &AppState) {
    pulse(state).restarts.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub ready: bool,
    pub database: &'static str,
    pub dispatcher: &'static str,
    /// Milliseconds since the dispatcher's last round (`None`: it never ran).
    pub dispatcher_last_round_ms_ago: Option<i64>,
    pub dispatcher_restarts: u64,
}

/// Liveness: false only when the dispatcher ran and then stopped beating for minutes.
pub fn alive(state: &AppState) -> bool {
    let last = pulse(state).last_beat.load(Ordering::Relaxed);
    last == 0 || now_ms() - last < ALIVE_WITHIN.as_millis() as i64
}

/// Readiness: the database answers a query and the dispatcher went round lately.
pub async fn readiness(state: &AppState) -> Report {
    let database = tokio::time::timeout(
        DATABASE_WITHIN,
        sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(&state.pool),
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
    let p = pulse(state);
    let last = p.last_beat.load(Ordering::Relaxed);
    let ago = (last != 0).then(|| now_ms() - last);
    let dispatcher = match ago {
        None => "not running",
        Some(ms) if ms < READY_WITHIN.as_millis() as i64 => "ok",
        Some(_) => "stalled",
    };
    Report {
        ready: database == "ok" && dispatcher == "ok",
        database,
        dispatcher,
        dispatcher_last_round_ms_ago: ago,
        dispatcher_restarts: p.restarts.load(Ordering::Relaxed),
    }
}
