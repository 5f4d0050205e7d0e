//! The dispatcher as the server runs it: its loop ([`super::run`]) under a supervisor that
//! starts it again after a panic, and stops it on shutdown.

use std::time::Duration;

use tokio::sync::watch;

use super::run;
use crate::{background::Background, health, AppState};

/// A running dispatcher.
pub struct Dispatcher(Background);

impl Dispatcher {
    /// Starts the loop under a supervisor: a panic anywhere in it is logged and the loop starts
    /// again (taking back what it had claimed), so delivery never silently stops while the
    /// server keeps answering.
    pub fn spawn(state: AppState) -> Self {
        Self(Background::spawn(|stopped| supervise(state, stopped)))
    }

    /// Stops claiming, lets requests in flight finish (up to the grace time), records their
    /// outcomes and gives back whatever was not finished.
    pub async fn shutdown(self) {
        self.0.shutdown().await
    }
}

/// Pause before restarting a loop that panicked, so that a panic on every round does not spin.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

async fn supervise(state: AppState, stop: watch::Receiver<bool>) {
    loop {
        let result = tokio::spawn(run(state.clone(), stop.clone())).await;
        match result {
            Ok(Exit::Stopped) => return,
            Ok(Exit::RecorderGone) => {
                tracing::error!("the dispatcher's recorder stopped; restarting the dispatcher")
            }
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %message, "the dispatcher panicked; restarting it");
            }
            Err(_) => return,
        }
        if *stop.borrow() {
            return;
        }
        health::restarted(&state);
        tokio::time::sleep(RESTART_PAUSE).await;
    }
}

/// How a run of the loop ended.
pub(super) enum Exit {
    Stopped,
    /// The task writing outcomes down ended (it panicked): nothing sent would be recorded.
    RecorderGone,
}
