//! The SQLite database: opening it with the pragmas we rely on, and the embedded migrations.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
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

/// Opens (creating if needed) the database file and applies pending migrations.
pub async fn open(path: &Path) -> Result<SqlitePool, OpenError> {
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
        .pragma("cache_size", "-32000")
        // Checkpoints run in the background (see `checkpoints`), not inside some unlucky
        // commit that then holds up every writer behind it.
        .pragma("wal_autocheckpoint", "0");
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .min_connections(1)
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
    Ok(pool)
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

/// Copies the write-ahead log back into the database file every second, without blocking
/// writers or readers (a PASSIVE checkpoint copies what no reader still needs).
pub async fn checkpoints(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}
