//! What every request handler and server function needs at hand.

use std::sync::Arc;

use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

use crate::{config::Config, Result};

#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    pub config: Arc<Config>,
    /// Signalled after new events were committed, so that the dispatcher need not poll.
    pub events_added: Arc<Notify>,
    /// SQLite has one writer at a time. Writers queue here, in order, instead of in SQLite's
    /// busy handler, which sleeps and retries and lets an unlucky writer wait for seconds.
    write_lock: Arc<Mutex<()>>,
}

/// A write transaction that holds the process's write turn until it is committed or dropped.
pub struct WriteTx {
    pub tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl AppState {
    /// The state, and the background WAL checkpoints it needs (the database has automatic
    /// checkpoints switched off).
    pub fn new(pool: SqlitePool, config: Config) -> Self {
        tokio::spawn(crate::db::checkpoints(pool.clone()));
        Self {
            pool,
            config: Arc::new(config),
            events_added: Arc::new(Notify::new()),
            write_lock: Arc::new(Mutex::new(())),
        }
    }

    /// Waits for the write turn, then begins an IMMEDIATE transaction (taking SQLite's write
    /// lock at once, so that it cannot fail half-way on an upgrade from reading to writing).
    pub async fn begin_write(&self) -> Result<WriteTx> {
        let turn = self.write_lock.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx, _turn: turn })
    }
}
