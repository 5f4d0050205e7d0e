//! Runs a session for every source: looks at the stored sources every few seconds, starts a
//! session for a new one, stops the session of one removed, and restarts one whose endpoint
//! or mappings changed. With several instances on one Postgres, one instance at a time holds
//! the sources (a turn, `db::shared`), so that no value is read twice; when it dies, another
//! takes them over at its next look.

use std::{collections::HashMap, time::Duration};

use tokio::sync::watch;

use super::Source;
use crate::{
    background::Background,
    db::shared::{self, Turn},
    AppState,
};

/// How often the stored sources are looked at.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// The running sources.
pub struct Sources(Background);

impl Sources {
    pub fn spawn(state: AppState) -> Self {
        Self(Background::spawn(|stopped| supervise(state, stopped)))
    }

    /// Closes every session.
    pub async fn shutdown(self) {
        self.0.shutdown().await
    }
}

struct Running {
    source: Source,
    session: Background,
}

async fn supervise(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut running: HashMap<i64, Running> = HashMap::new();
    let mut turn = None;
    let mut certificate_made = false;
    while !*stop.borrow() {
        if turn.is_none() {
            turn = match shared::hold_turn(&state.pool, Turn::Sources).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = ?e, "cannot ask for the sources' turn");
                    None
                }
            };
        }
        if turn.is_some() {
            match super::active(&state.pool).await {
                Ok(sources) => {
                    if !sources.is_empty() && !certificate_made {
                        certificate_made = make_certificate(&state).await;
                    }
                    if certificate_made || sources.is_empty() {
                        reconcile(&state, &mut running, sources).await
                    }
                }
                Err(e) => tracing::warn!(error = ?e, "cannot read the OPC UA sources"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(LOOK_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
    for (_, r) in running.drain() {
        r.session.shutdown().await;
    }
}

/// Makes the installation's OPC UA certificate once, before the sessions that all use it start
/// side by side (an RSA key takes a moment: off the async threads).
async fn make_certificate(state: &AppState) -> bool {
    let state = state.clone();
    match tokio::task::spawn_blocking(move || super::session::client(&state, 0)).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = e, "cannot set up the OPC UA client");
            false
        }
        Err(e) => {
            tracing::warn!(error = ?e, "setting up the OPC UA client failed");
            false
        }
    }
}

async fn reconcile(state: &AppState, running: &mut HashMap<i64, Running>, sources: Vec<Source>) {
    let mut wanted: HashMap<i64, Source> = sources.into_iter().map(|s| (s.device_id, s)).collect();
    let stale: Vec<i64> = running
        .iter()
        .filter(|(id, r)| wanted.get(id) != Some(&r.source))
        .map(|(id, _)| *id)
        .collect();
    for id in stale {
        if let Some(r) = running.remove(&id) {
            r.session.shutdown().await;
        }
    }
    for (id, source) in wanted.drain() {
        if running.contains_key(&id) {
            continue;
        }
        let (state, copy) = (state.clone(), source.clone());
        running.insert(
            id,
            Running {
                source,
                session: Background::spawn(move |stopped| {
                    super::session::run(state, copy, stopped)
                }),
            },
        );
    }
}
