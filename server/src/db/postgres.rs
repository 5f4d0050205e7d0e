//! PostgreSQL, the shared engine for installations that outgrow one machine (issue 23; the
//! services do not run on it yet): opening a pool and bringing the schema up to date with the
//! Postgres migration set (`server/migrations_postgres/`), which keeps SQLite's versions and
//! makes the same tables, columns and indexes.

use sqlx::{migrate::Migrator, postgres::PgPoolOptions, PgPool};

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
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect(url)
        .await
        .map_err(|source| OpenError::Connect {
            url: shown.clone(),
            source,
        })?;
    MIGRATIONS
        .run(&pool)
        .await
        .map_err(|source| OpenError::Migrate { url: shown, source })?;
    Ok(pool)
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
