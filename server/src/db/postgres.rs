//! PostgreSQL, the shared engine for installations that outgrow one machine: opening a pool
//! and bringing the schema up to date with the Postgres migration set
//! (`server/migrations_postgres/`), which keeps SQLite's versions and makes the same tables,
//! columns and indexes; and the serving lock every instance holds shared, which says how many
//! serve it (see docs/postgres.md).

use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    ConnectOptions, Connection, PgConnection, PgPool,
};

use crate::domain::mask::without_password;

/// The Postgres migrations: version for version the same history as SQLite's.
pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations_postgres");

/// Why a Postgres database could not be opened; the URL is shown without its password.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot connect to the database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot bring the database {url} up to date: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
}

/// Connects to `url` and applies pending migrations.
pub async fn open(url: &str, max_connections: u32) -> Result<PgPool, OpenError> {
    let shown = without_password(url);
    let connect = |source| OpenError::Connect {
        url: shown.clone(),
        source,
    };
    let options: PgConnectOptions = url.parse().map_err(connect)?;
    // One connection first, so that the reason it fails (refused, no such database, a wrong
    // password) is what the operator reads — the pool would only say it timed out.
    options.connect().await.map_err(connect)?.close().await.ok();
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(connect)?;
    MIGRATIONS
        .run(&pool)
        .await
        .map_err(|source| OpenError::Migrate { url: shown, source })?;
    Ok(pool)
}

/// The advisory lock the serving instance holds ("Labhook" and 1).
/// The advisory lock every serving instance holds shared, for as long as it runs.
const SERVING: i64 = 0x4c61_6268_6f6f_6b01;

/// Held by an instance serving a Postgres database: a connection of its own holding the
/// serving lock *shared* (any number of instances hold it at once), released when that
/// connection closes — however the process ends. It only says who is serving (see
/// [`others_serving`]).
#[derive(Debug)]
pub struct ServingLock {
    _conn: PgConnection,
}

/// Joins the instances serving this database.
pub async fn join_serving(pool: &PgPool) -> anyhow::Result<ServingLock> {
    let mut conn = pool.connect_options().connect().await?;
    let joined: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock_shared($1)")
        .bind(SERVING)
        .fetch_one(&mut conn)
        .await?;
    if !joined {
        // Versions before several instances held the same lock exclusively.
        anyhow::bail!(
            "an older Labhook version is serving this PostgreSQL database alone; stop it \
             first, then start the instances of this version"
        );
    }
    Ok(ServingLock { _conn: conn })
}

/// How many instances serve this database besides one (the caller): those holding the
/// serving lock, less one. A process that serves without it (the tests' in-process servers)
/// counts as none.
pub async fn others_serving(pool: &PgPool) -> sqlx::Result<i64> {
    // An advisory lock on one bigint key shows in `pg_locks` as its high and low halves.
    let serving: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND classid::bigint = $1 AND objid::bigint = $2",
    )
    .bind(SERVING >> 32)
    .bind(SERVING & 0xffff_ffff)
    .fetch_one(pool)
    .await?;
    Ok((serving - 1).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_have_the_same_migration_history() {
        let sqlite = sqlx::migrate!("./migrations");
        let versions = |m: &Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(&MIGRATIONS), versions(&sqlite));
    }
}
