//! The key that seals the subscriptions' stored secrets (signing secrets, secret header
//! values), and sealing what an older version stored in clear.
//!
//! The key lives in a file outside the database — `--secrets-key-file`, or beside the
//! database (`labhook.db` → `labhook.secrets.key`) — created with mode 0600 on first start.
//! A backup of the database is only useful together with a backup of the key (docs).

use std::{io::Write, path::PathBuf};

use crate::db::{Location, Pool};
use anyhow::Context;

use crate::{
    config::Config,
    domain::{headers::Headers, sealed::SecretsKey},
    AppState, Result,
};

const SEALED_LIKE: &str = "sealed:v1:%";

/// Where the key file is.
pub fn key_file(config: &Config) -> PathBuf {
    key_file_of(&config.database, config.secrets_key_file.clone())
}

/// Where the key file of `database` is: `given`, or beside a SQLite file.
pub fn key_file_of(database: &Location, given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| match database {
        Location::Sqlite(path) => path.with_extension("secrets.key"),
        // Every instance needs the same key: where it is must be said (`--secrets-key`);
        // without it, the working directory.
        Location::Postgres(_) => PathBuf::from("labhook.secrets.key"),
    })
}

/// Reads an existing key file (the command line's records commands: they never make a key).
pub fn read_key_file(path: &std::path::Path) -> anyhow::Result<SecretsKey> {
    let contents = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the secrets key file {} (give its place with --secrets-key-file)",
            path.display()
        )
    })?;
    SecretsKey::parse(&contents)
        .with_context(|| format!("the secrets key file {} is not a key", path.display()))
}

/// Reads the key file, or creates it (mode 0600) when there is none and the database holds
/// nothing sealed yet. A missing key for a database with sealed secrets stops the start:
/// a new key would make every stored secret unreadable.
///
/// The database records which key it was first served with ([`SecretsKey::id`]); a server
/// started with another key — an instance of several given a different file, a backup restored
/// beside the wrong key — is refused, before it could seal anything the others cannot open.
pub async fn secrets_key(pool: &Pool, config: &Config) -> anyhow::Result<SecretsKey> {
    let path = key_file(config);
    let key = read_or_create(pool, &path).await?;
    let now = crate::clock::now_ms();
    crate::db::with_db!(pool, db => sqlx::query(
        "INSERT INTO installation (id, secrets_key_id, created_at) VALUES (1, $1, $2)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(key.id())
    .bind(now)
    .execute(db)
    .await
    .map(crate::db::Done::from))
    .context("cannot record the secrets key's id")?;
    let expected: String = crate::db::with_db!(pool, db => sqlx::query_scalar(
        "SELECT secrets_key_id FROM installation WHERE id = 1",
    )
    .fetch_one(db)
    .await)?;
    if expected != key.id() {
        anyhow::bail!(
            "the secrets key file {} (key {}) is not the key this database's secrets are sealed \
             with (key {expected}): give every server on this database the same key file — \
             copy it from the first one, or restore it from the backup of this database",
            path.display(),
            key.id()
        );
    }
    Ok(key)
}

async fn read_or_create(pool: &Pool, path: &std::path::Path) -> anyhow::Result<SecretsKey> {
    let path = path.to_path_buf();
    match std::fs::read_to_string(&path) {
        Ok(contents) => {
            warn_if_readable_by_others(&path);
            return SecretsKey::parse(&contents)
                .with_context(|| format!("the secrets key file {} is not a key", path.display()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the secrets key file {}", path.display()))
        }
    }
    // Secrets sealed, or a key recorded: a new key would open nothing stored.
    let sealed: i64 = crate::db::with_db!(pool, db => sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM subscriptions WHERE secret LIKE $1 OR headers LIKE '%' || $1)
              + (SELECT COUNT(*) FROM installation)",
    )
    .bind(SEALED_LIKE)
    .fetch_one(db)
    .await)?;
    if sealed > 0 {
        anyhow::bail!(
            "this database's secrets are sealed with a key that is not at {}: restore that file \
             from your backup (or pass --secrets-key-file)",
            path.display()
        );
    }
    let (key, contents) = SecretsKey::generate_file_contents();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create the secrets key file {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write the secrets key file {}", path.display()))?;
    tracing::info!(path = %path.display(), "created the key that seals stored secrets; back it up with the database");
    Ok(key)
}

fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the secrets key file can be read by other users: chmod 600 it");
            }
        }
    }
}

/// Seals the secrets an older version stored in clear; returns how many subscriptions
/// changed. Runs at start, before anything is sent.
pub async fn seal_open_secrets(state: &AppState) -> Result<u64> {
    let key = state.secrets.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let rows: Vec<(i64, String, Option<String>, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
                    "SELECT id, secret, previous_secret, headers FROM subscriptions
                     WHERE secret NOT LIKE $1
                        OR (previous_secret IS NOT NULL AND previous_secret NOT LIKE $1)
                        OR headers LIKE '%\"secret\":true%'",
                )
                .bind(SEALED_LIKE)
                .fetch_all(db)
                .await)?;
                let mut changed = 0;
                for (id, secret, previous, headers) in rows {
                    let seal = |s: String| {
                        if SecretsKey::is_sealed(&s) {
                            s
                        } else {
                            key.seal(&s)
                        }
                    };
                    let headers = Headers::seal_stored(&headers, &key).unwrap_or(headers);
                    crate::db::with_db!(conn, db => sqlx::query(
                        "UPDATE subscriptions SET secret = $1, previous_secret = $2, headers = $3
                         WHERE id = $4",
                    )
                    .bind(seal(secret))
                    .bind(previous.map(seal))
                    .bind(headers)
                    .bind(id)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?;
                    changed += 1;
                }
                Ok(changed)
            })
        })
        .await
}
