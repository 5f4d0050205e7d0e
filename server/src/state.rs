//! What every request handler and server function needs at hand.

use std::sync::Arc;

use sqlx::SqlitePool;
use tokio::sync::Notify;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    pub config: Arc<Config>,
    /// Signalled after new events were committed, so that the dispatcher need not poll.
    pub events_added: Arc<Notify>,
}

impl AppState {
    pub fn new(pool: SqlitePool, config: Config) -> Self {
        Self {
            pool,
            config: Arc::new(config),
            events_added: Arc::new(Notify::new()),
        }
    }
}
