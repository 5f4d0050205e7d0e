//! What the other instances on the same Postgres database tell this one, acted on here: new
//! events wake the dispatcher, data points committed elsewhere wake the read-backs waiting on
//! their channels, revoked tokens are forgotten, and a change that may take a webhook from
//! someone makes prepared sends be checked again (see [`crate::db::shared`] for how it is
//! said). Nothing runs on SQLite, where one process serves the database.

use std::time::Duration;

use tokio::sync::watch;

use crate::{
    background::Background,
    db::shared::{Heard, Listener, News},
    devices::{readback, tokens},
    AppState,
};

/// Pause before listening again after the listener failed.
const AGAIN_AFTER: Duration = Duration::from_secs(1);

/// The running listener (on Postgres).
pub struct Instances(Background);

impl Instances {
    pub fn spawn(state: AppState) -> Self {
        Self(Background::spawn(|stop| listen(state, stop)))
    }

    pub async fn shutdown(self) {
        self.0.shutdown().await
    }
}

async fn listen(state: AppState, mut stop: watch::Receiver<bool>) {
    let wake_readers = readback::announcer(&state);
    while !*stop.borrow() {
        let mut listener = match Listener::start(&state.pool).await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot listen to the other instances; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(AGAIN_AFTER) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        // Whatever was said before this listener started is not heard.
        anything_changed(&state);
        loop {
            let heard = tokio::select! {
                heard = listener.next() => heard,
                _ = stop.changed() => return,
            };
            match heard {
                Ok(Heard::News(News::Events, _)) => state.events_added.notify_one(),
                Ok(Heard::News(News::Written, channels)) => {
                    match serde_json::from_str::<Vec<readback::Written>>(&channels) {
                        Ok(written) => wake_readers(&written),
                        // Too many to say (or not said): every waiting read-back looks again.
                        Err(_) => readback::wake_all(&state),
                    }
                }
                Ok(Heard::News(News::Tokens, _)) => tokens::forget_cached_tokens(&state),
                Ok(Heard::News(News::Access, _)) => state.access_changed(),
                Ok(Heard::Reconnected) => {
                    tracing::warn!(
                        "listening to the other instances again after a lost connection"
                    );
                    anything_changed(&state);
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "listening to the other instances failed; starting again");
                    break;
                }
            }
        }
    }
}

/// What was said while nobody listened may have been anything.
fn anything_changed(state: &AppState) {
    state.events_added.notify_one();
    readback::wake_all(state);
    tokens::forget_cached_tokens(state);
    state.access_changed();
}
