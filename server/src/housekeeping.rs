//! Housekeeping: everything the server does in the background that is not delivering
//! webhooks, in a supervised task of its own — so that none of it holds up fan-out or claims,
//! and a panic in it is logged and the loop starts again.
//!
//! - At once when something is marked for it (and every few seconds): the clean-up changes
//!   leave behind ([`subscriptions::cleanup`], removed channels), a window a writer job.
//! - Every hour: the records' heads signed, retention (deliveries, events, data points),
//!   switching off subscriptions whose deliveries keep failing, expired sessions and idle
//!   clients of the rate limits.
//!
//! It beats between any two jobs; `/readyz` says when it has stopped going round.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::{
    auth,
    background::Background,
    clock::now_ms,
    db::shared::{self, Turn},
    devices::{self, ingest},
    health, records, retention, subscriptions, AppState, Result,
};

/// How often housekeeping looks for clean-up when nobody asked for it.
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// How often the hourly work runs.
const HOURLY: Duration = Duration::from_secs(3600);
/// Pause before restarting a loop that panicked.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// The running housekeeping task.
pub struct Housekeeping(Background);

impl Housekeeping {
    pub fn spawn(state: AppState) -> Self {
        Self(Background::spawn(|stopped| supervise(state, stopped)))
    }

    /// Stops after the job at hand (a writer job runs to its end whatever happens).
    pub async fn shutdown(self) {
        self.0.shutdown().await
    }
}

async fn supervise(state: AppState, stop: watch::Receiver<bool>) {
    // The hourly work first runs an hour after the start, as the dispatcher's did.
    let mut last_hourly = Instant::now();
    loop {
        let run = tokio::spawn(run(state.clone(), stop.clone(), last_hourly));
        match run.await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                tracing::error!(error = ?e, "housekeeping panicked; restarting it");
            }
            Err(_) => return,
        }
        if *stop.borrow() {
            return;
        }
        health::housekeeping_restarted(&state);
        // What panicked is not retried at once in a loop.
        last_hourly = Instant::now();
        tokio::time::sleep(RESTART_PAUSE).await;
    }
}

async fn run(state: AppState, mut stop: watch::Receiver<bool>, mut last_hourly: Instant) {
    while !*stop.borrow() {
        health::housekeeping_beat(&state);
        // Clean-up: as long as there is some, a window at a time.
        loop {
            health::housekeeping_beat(&state);
            if *stop.borrow() {
                return;
            }
            match clean_up(&state).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = ?e, "cleaning up failed");
                    break;
                }
            }
        }
        if last_hourly.elapsed() >= HOURLY {
            last_hourly = Instant::now();
            hourly(&state).await;
        }
        tokio::select! {
            _ = state.housekeeping_due.notified() => {}
            _ = tokio::time::sleep(LOOK_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One step of every kind of clean-up; true when there was something to do. On Postgres one
/// instance at a time cleans up; the others find the turn taken and leave it.
async fn clean_up(state: &AppState) -> Result<bool> {
    let Some(_turn) = shared::hold_turn(&state.pool, Turn::CleanUp).await? else {
        return Ok(false);
    };
    let subscriptions = subscriptions::cleanup::step(state).await?;
    let channels = devices::channels::purge_removed(state).await?;
    Ok(subscriptions || channels)
}

/// What runs once an hour, each part on its own: one failing does not stop the others. The
/// database's part runs on one instance at a time (Postgres): one that finds the turn taken
/// leaves it to the other.
async fn hourly(state: &AppState) {
    // This instance's own memory, whatever the others do.
    ingest::forget_idle_tokens(state);
    auth::forget_idle_addresses(state);
    let _turn = match shared::hold_turn(&state.pool, Turn::Hourly).await {
        Ok(Some(turn)) => turn,
        Ok(None) => {
            tracing::info!("another instance is doing the hourly work; leaving it to that one");
            return;
        }
        Err(e) => {
            tracing::warn!(error = ?e, "cannot take the hourly work's turn");
            return;
        }
    };
    let config = &state.config.dispatcher;
    let now = now_ms();
    if let Some(rule) = config.auto_disable {
        match subscriptions::auto_disable::sweep(state, rule, now).await {
            Ok(off) if !off.is_empty() => tracing::warn!(
                subscriptions = ?off,
                "switched off subscriptions whose deliveries kept failing"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "switching off failing subscriptions failed"),
        }
    }
    health::housekeeping_beat(state);
    // The chains' heads signed before retention removes anything (docs/records.md).
    match records::checkpoint(state).await {
        Ok(c) if c.signed > 0 => tracing::info!(heads = c.signed, "signed the records' heads"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = ?e, "signing the records' heads failed"),
    }
    let cutoffs = retention::Cutoffs {
        deliveries: now - config.retention.as_millis() as i64,
        data_points: config
            .data_point_retention
            .map(|keep| now - keep.as_millis() as i64),
    };
    match retention::prune(state, cutoffs).await {
        Ok(p) if p.deliveries + p.events + p.data_points > 0 => tracing::info!(
            deliveries = p.deliveries,
            events = p.events,
            data_points = p.data_points,
            longest_window_ms = p.longest_window.as_millis() as u64,
            "pruned what is past its retention"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = ?e, "pruning failed"),
    }
    health::housekeeping_beat(state);
    if let Err(e) = auth::prune(state).await {
        tracing::warn!(error = ?e, "pruning sessions failed");
    }
}
