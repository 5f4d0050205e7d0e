//! The database, on either engine: a SQLite file (opened here with the pragmas we rely on) or
//! PostgreSQL ([`postgres`]); the embedded migrations of each; the types that hold either
//! ([`Pool`], [`Conn`], `with_db!`) and the SQL they write differently ([`dialect`]).
//!
//! Reads go through the pool; every write goes through the one [`Writer`].

pub mod copy;
pub mod dialect;
mod engine;
pub mod postgres;
pub mod shared;
mod writer;

/// Runs a statement on either engine (see `db::engine`).
// `#[macro_export]` puts the macro at the crate root; it belongs here.
pub use super::with_db;
pub use crate::domain::database::{Location, LocationError};
pub use engine::{Conn, Done, Engine, Pool, Split, Tx};

pub use writer::{WriteFuture, Writer};

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqliteConnection,
};

/// Why the database could not be opened, phrased for the person starting the server.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the database directory {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("the database directory {dir} is not writable: {source}")]
    NotWritable {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot bring the database {path} up to date: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
}

/// Why the database could not be opened, on either engine.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Sqlite(#[from] OpenError),
    #[error(transparent)]
    Postgres(#[from] postgres::OpenError),
}

/// Opens the database at `location` and applies pending migrations.
pub async fn connect(location: &Location) -> Result<Pool, ConnectError> {
    Ok(match location {
        Location::Sqlite(path) => open(path).await?,
        Location::Postgres(url) => Pool::Postgres(postgres::open(url, POSTGRES_CONNECTIONS).await?),
    })
}

/// Reading connections per instance on Postgres (SQLite's pool has 8): several instances
/// share the server's `max_connections` (100 by default).
const POSTGRES_CONNECTIONS: u32 = 10;

/// Opens (creating if needed) the database file and applies pending migrations.
pub async fn open(path: &Path) -> Result<Pool, OpenError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|source| OpenError::CreateDir {
        dir: dir.clone(),
        source,
    })?;
    check_writable(&dir)?;

    // WAL lets readers work while the dispatcher writes; NORMAL sync is durable across process
    // crashes (what the dispatcher promises), while a power cut may lose the last commits.
    let options = SqliteConnectOptions::from_str("sqlite://")
        .expect("BUG: static SQLite URL")
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .pragma("temp_store", "memory")
        // 2 MiB of page cache per reading connection: reads are of the newest rows and small
        // tables, and ten connections must not each grow to SQLite's default. The writer gets 4 MiB
        // (see `Writer::start`).
        .pragma("cache_size", "-2000")
        // Checkpoints run in the writer between transactions (see `Writer`), not inside some
        // unlucky commit that then holds up every write behind it.
        .pragma("wal_autocheckpoint", "0")
        // Once a checkpoint has caught up, the WAL restarts from the top; this trims the file.
        .pragma("journal_size_limit", "67108864");
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        // The pool is for reads, but nothing may ever come back to it inside a transaction
        // (a cancelled `begin` in sqlx can leave one open, holding SQLite's locks): such a
        // connection is closed, which rolls the transaction back, instead of reused.
        .after_release(|conn, _| {
            Box::pin(async move {
                let clean = in_transaction(conn).await == Some(false);
                if !clean {
                    tracing::warn!("a connection came back inside a transaction; closing it");
                }
                Ok(clean)
            })
        })
        .connect_with(options)
        .await
        .map_err(|source| OpenError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .map_err(|source| OpenError::Migrate {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(Pool::Sqlite(pool))
}

/// SQLite needs to create its -wal and -shm files beside the database: a read-only directory
/// would otherwise fail later, with a far less helpful message.
fn check_writable(dir: &Path) -> Result<(), OpenError> {
    let probe = dir.join(format!(".labhook-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|source| OpenError::NotWritable {
            dir: dir.to_path_buf(),
            source,
        })
}

/// Whether the connection is inside a transaction; `None` when it cannot tell (its worker
/// thread is gone).
pub(crate) async fn in_transaction(conn: &mut SqliteConnection) -> Option<bool> {
    let mut handle = conn.lock_handle().await.ok()?;
    let raw = handle.as_raw_handle();
    // SAFETY: the locked handle guarantees that sqlx's worker thread makes no call on this
    // database handle meanwhile, and `sqlite3_get_autocommit` only reads a flag.
    let autocommit = unsafe { libsqlite3_sys::sqlite3_get_autocommit(raw.as_ptr()) };
    Some(autocommit == 0)
}

/// Held by a server process for as long as it serves: on SQLite the one process serving the
/// file; on Postgres one of any number of instances (see [`shared`]).
#[derive(Debug)]
pub enum ServingLock {
    /// An exclusive lock on `<database>.lock`.
    File(std::fs::File),
    /// Postgres: the serving lock held shared, saying only that this instance serves.
    Shared(postgres::ServingLock),
}

/// Takes the serving lock of the database at `location` (see [`lock_for_serving`] and
/// [`postgres::join_serving`]).
pub async fn lock_for_serving_at(location: &Location, pool: &Pool) -> anyhow::Result<ServingLock> {
    match (location, pool) {
        (Location::Sqlite(file), _) => lock_for_serving(file),
        (Location::Postgres(_), Pool::Postgres(pool)) => {
            Ok(ServingLock::Shared(postgres::join_serving(pool).await?))
        }
        (Location::Postgres(_), Pool::Sqlite(_)) => {
            unreachable!("BUG: a Postgres location opened as SQLite")
        }
    }
}

/// Takes the serving lock of `database` (an exclusive lock on `<database>.lock`), or says that
/// another server has it: two servers on one file would both send every webhook, and each
/// takes back the other's deliveries in flight when it starts. The operating system releases
/// the lock when the process ends, however it ends. Command-line administration does not
/// take it.
pub fn lock_for_serving(database: &Path) -> anyhow::Result<ServingLock> {
    let path = std::path::PathBuf::from(format!("{}.lock", database.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(ServingLock::File(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow::anyhow!(
            "another Labhook server is already serving {} (it holds {}); stop it first — two \
             servers on one database would both send every webhook",
            database.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::anyhow!("cannot lock {}: {e}", path.display()))
        }
    }
}
