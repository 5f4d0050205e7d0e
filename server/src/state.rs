//! What every request handler and server function needs at hand.

use std::sync::Arc;

use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::Notify;

use crate::{
    config::Config,
    db::{WriteFuture, Writer},
    Result,
};

#[derive(Clone)]
pub struct AppState {
    /// For reads. Writes go through [`AppState::write`].
    pub pool: SqlitePool,
    pub config: Arc<Config>,
    /// Signalled after new events were committed, so that the dispatcher need not poll.
    pub events_added: Arc<Notify>,
    /// Where ingest requests queue for group commit (see [`crate::devices::ingest`]).
    pub(crate) ingest: crate::devices::ingest::Batcher,
    /// Device tokens found valid (see [`crate::devices::tokens::TokenCache`]).
    pub(crate) tokens: Arc<crate::devices::tokens::TokenCache>,
    writer: Writer,
}

impl AppState {
    /// The state, with the database's one writer started on a connection of its own.
    pub async fn new(pool: SqlitePool, config: Config) -> Result<Self, sqlx::Error> {
        let writer = Writer::start(&pool.connect_options()).await?;
        Ok(Self {
            pool,
            config: Arc::new(config),
            events_added: Arc::new(Notify::new()),
            ingest: crate::devices::ingest::Batcher::start(writer.clone()),
            tokens: Arc::default(),
            writer,
        })
    }

    /// Runs `work` in a write transaction (shared with other writes queued at the same time,
    /// each all-or-nothing on its own) and returns its result once it is committed. Safe to
    /// cancel: see [`Writer::write`].
    ///
    /// ```ignore
    /// state.write(move |conn| Box::pin(async move { settings::set(conn, …).await })).await
    /// ```
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> WriteFuture<'c, T> + Send + 'static,
    {
        self.writer.write(work).await
    }
}
