//! The writer's own connection: opening it (again), beginning its transactions, telling
//! whether it was left inside one, closing it.

use std::time::Duration;

use anyhow::Context;
use sqlx::{
    postgres::PgConnectOptions, sqlite::SqliteConnectOptions, ConnectOptions, Connection, Executor,
};

use crate::db::{Conn, Split};

/// How long `BEGIN IMMEDIATE` keeps trying when another process (the command line) holds the
/// write lock, beyond SQLite's own busy timeout.
const BEGIN_TRIES: u32 = 5;

/// How to open the writer's connection (again).
pub(super) enum Options {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

impl Options {
    pub(super) async fn connect(&self) -> Result<Conn, sqlx::Error> {
        match self {
            Options::Sqlite(o) => o.connect().await.map(Conn::Sqlite),
            Options::Postgres(o) => o.connect().await.map(Conn::Postgres),
        }
    }
}

pub(super) async fn close(conn: Conn) {
    match conn {
        Conn::Sqlite(c) => {
            let _ = c.close().await;
        }
        Conn::Postgres(c) => {
            let _ = c.close().await;
        }
        // Pooled connections and transactions go back to their pool when dropped.
        other => drop(other),
    }
}

/// SQLite: `BEGIN IMMEDIATE`, retried while another process holds the write lock. Postgres:
/// `BEGIN`; rows are locked as they are written, and other instances write beside this one.
pub(super) async fn begin(conn: &mut Conn) -> anyhow::Result<()> {
    let begin = conn.engine().pick("BEGIN IMMEDIATE", "BEGIN");
    let mut pause = Duration::from_millis(50);
    for attempt in 1..=BEGIN_TRIES {
        match exec(conn, begin).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < BEGIN_TRIES && is_busy(&e) => {
                tracing::warn!(error = ?e, attempt, "the database is locked by another process; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last attempt returns")
}

/// SQLITE_BUSY or SQLITE_LOCKED, extended codes included.
fn is_busy(e: &anyhow::Error) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    e.chain()
        .filter_map(|c| c.downcast_ref::<sqlx::Error>())
        .filter_map(|e| match e {
            sqlx::Error::Database(db) => db.code()?.parse::<i32>().ok(),
            _ => None,
        })
        .any(|code| matches!(code & 0xff, BUSY | LOCKED))
}

pub(super) async fn exec(conn: &mut Conn, sql: &'static str) -> anyhow::Result<()> {
    crate::db::with_db!(conn, db => db.execute(sql).await.map(drop))
        .with_context(|| format!("{sql} failed"))?;
    Ok(())
}

/// Whether the connection is outside any transaction; `ended` says its last COMMIT or ROLLBACK
/// succeeded.
pub(super) async fn is_clean(conn: &mut Conn, ended: bool) -> bool {
    match conn.split() {
        // SQLite's autocommit mode, asked of the library (no round trip).
        Split::Sqlite(c) => crate::db::in_transaction(c).await == Some(false),
        // A COMMIT or ROLLBACK that succeeded left it clean: asking costs a round trip (and an
        // error in the server's log) per transaction, so it is asked only after a failure.
        Split::Postgres(_) if ended => true,
        // A savepoint can only be made inside a transaction: refused means clean.
        Split::Postgres(c) => c.execute("SAVEPOINT labhook_clean_check").await.is_err(),
    }
}

pub(super) async fn reopen(old: Conn, options: &Options) -> Conn {
    // Closing rolls back whatever the old connection still had open.
    close(old).await;
    let mut pause = Duration::from_millis(100);
    loop {
        match options.connect().await {
            Ok(conn) => return conn,
            Err(e) => {
                tracing::error!(error = ?e, "cannot reopen the writer's connection; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}
