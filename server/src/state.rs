//! What every request handler and server function needs at hand.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::Notify;

use crate::{
    config::Config,
    db::{
        shared::{self, News},
        Conn, Pool, WriteFuture, Writer,
    },
    domain::sealed::SecretsKey,
    Result,
};

/// "New events were committed": wakes the dispatcher, and counts, so that a dispatcher round
/// that heard nothing since its last fan-out leaves the writer alone (see `dispatcher`).
#[derive(Default)]
pub struct EventsAdded {
    wake: Notify,
    count: AtomicU64,
}

impl EventsAdded {
    /// Called after the events' transaction committed (or another instance said it did).
    pub fn notify_one(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_one();
    }

    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// How many times it was signalled. Read before a fan-out: every event committed before a
    /// signal it counts is visible to that fan-out's transaction.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
pub struct AppState {
    /// For reads. Writes go through [`AppState::write`].
    pub pool: Pool,
    pub config: Arc<Config>,
    /// Seals and opens the secrets stored in the database (see [`crate::domain::sealed`]).
    pub secrets: Arc<SecretsKey>,
    /// Signalled after new events were committed, so that the dispatcher need not poll.
    pub events_added: Arc<EventsAdded>,
    /// Signalled when something was marked for clean-up in the background (a deleted
    /// subscription, a removed channel, deliveries to stop): housekeeping goes at it now.
    pub housekeeping_due: Arc<Notify>,
    /// Counts changes that may take a webhook from someone: revoked access, a subscription
    /// switched off or deleted, a person deactivated, the feature switched off, a URL
    /// unregistered. A send prepared under an older count is checked again before it goes.
    access_generation: Arc<AtomicU64>,
    writer: Writer,
    /// What services keep for the life of the server (the ingest queue, the device-token
    /// cache), one of each type: kept here without this module naming the services above it.
    parts: Arc<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
}

impl AppState {
    /// The state, with the database's one writer started on a connection of its own.
    pub async fn new(pool: Pool, config: Config, secrets: SecretsKey) -> Result<Self, sqlx::Error> {
        let writer = Writer::start(&pool, config.write_turn_wait).await?;
        Ok(Self {
            pool,
            config: Arc::new(config),
            secrets: Arc::new(secrets),
            events_added: Arc::default(),
            housekeeping_due: Arc::new(Notify::new()),
            access_generation: Arc::default(),
            writer,
            parts: Arc::default(),
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
        F: for<'c> FnOnce(&'c mut Conn) -> WriteFuture<'c, T> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// [`AppState::write`] for a change that may take a webhook from someone: the access
    /// generation moves before and after it, so that sends prepared earlier are checked again.
    pub async fn write_revoking<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> WriteFuture<'c, T> + Send + 'static,
    {
        self.access_changed();
        let written = self.write_and_tell(News::Access, work).await;
        self.access_changed();
        written
    }

    /// [`AppState::write`], telling the other instances on the same Postgres database `news`
    /// when it commits (see [`crate::db::shared`]; nothing on SQLite).
    pub async fn write_and_tell<T, F>(&self, news: News, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> WriteFuture<'c, T> + Send + 'static,
    {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let written = work(&mut *conn).await?;
                    shared::tell(conn, news, "").await?;
                    Ok(written)
                })
            })
            .await
    }

    /// The count of changes that may take a webhook from someone (see the field).
    pub fn access_generation(&self) -> u64 {
        self.access_generation.load(Ordering::Acquire)
    }

    /// Says that such a change is being or was made. Called before the change is written
    /// and again after it is committed, so that a send prepared in between sees either.
    pub fn access_changed(&self) {
        self.access_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The longest write transaction since the last call (for the bench).
    pub fn longest_write_since_asked(&self) -> std::time::Duration {
        self.writer.take_longest()
    }

    /// Write transactions begun since the start (tests: what a quiet server writes).
    pub fn write_transactions(&self) -> u64 {
        self.writer.transactions()
    }

    /// The database's one writer, for services that queue their own jobs.
    pub(crate) fn writer(&self) -> &Writer {
        &self.writer
    }

    /// The state's part of type `T`, if it was made already.
    pub(crate) fn existing_part<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let parts = self.parts.lock().expect("BUG: parts lock poisoned");
        parts.get(&TypeId::of::<T>()).map(|part| {
            Arc::clone(part)
                .downcast::<T>()
                .expect("BUG: a part is stored under its own type")
        })
    }

    /// The state's part of type `T`, made by `make` the first time it is asked for.
    pub(crate) fn part<T: Any + Send + Sync>(&self, make: impl FnOnce(&Self) -> T) -> Arc<T> {
        let mut parts = self.parts.lock().expect("BUG: parts lock poisoned");
        let part = parts
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(make(self)));
        Arc::clone(part)
            .downcast::<T>()
            .expect("BUG: a part is stored under its own type")
    }
}
