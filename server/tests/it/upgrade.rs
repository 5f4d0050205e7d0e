//! An installation upgraded across migration 0024 keeps its delivery log provable: the hashes
//! it stored as hex text are stored as their bytes from then on and read back as the same hex.

use std::path::Path;

use server::{
    db::{dialect, Engine},
    harness::{self, postgres::Postgres, Scratch},
};
use sqlx::{migrate::Migrator, Connection, Row};

/// The version that turned the hashes into bytes.
const BINARY_HASHES: i64 = 24;

/// The engine's migrations before `version`, as a migrator of their own.
async fn before(engine: Engine, version: i64, scratch: &Path) -> Migrator {
    let dir = match engine {
        Engine::Sqlite => "migrations",
        Engine::Postgres => "migrations_postgres",
    };
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let to = scratch.join(dir);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let number: i64 = name.split('_').next().unwrap().parse().unwrap();
        if number < version {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
    Migrator::new(to.as_path()).await.unwrap()
}

const PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const BODY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An attempt as the chains wrote it before 0024 (its delivery need not exist for this).
const OLD_ROW: &str =
    "INSERT INTO delivery_attempts (id, delivery_id, number, started_at, duration_ms,
        request_headers, organisation_id, seq, prev_hash, hash, request_body_sha256)
     VALUES (1, 1, 1, 0, 1, '{}', 1, 1, $1, $2, $3),
            (2, 1, 2, 0, 1, '{}', NULL, NULL, NULL, NULL, NULL)";

#[tokio::test]
async fn hashes_stored_as_hex_before_the_upgrade_read_back_the_same_after_it() {
    let engine = harness::engine();
    let scratch = Scratch::new("labhook-upgrade").unwrap();
    let old = before(engine, BINARY_HASHES, scratch.path()).await;
    let read = format!(
        "SELECT {}, {}, {} FROM delivery_attempts ORDER BY id",
        dialect::hex(engine, "prev_hash"),
        dialect::hex(engine, "hash"),
        dialect::hex(engine, "request_body_sha256")
    );
    let rows: Vec<[Option<String>; 3]> = match engine {
        Engine::Sqlite => {
            let file = scratch.path().join("old.db");
            let url = format!("sqlite://{}?mode=rwc", file.display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            old.run(&mut conn).await.unwrap();
            // Only the log's own columns matter here, not its delivery.
            sqlx::query("PRAGMA foreign_keys = OFF")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(OLD_ROW)
                .bind(PREV)
                .bind(HASH)
                .bind(BODY)
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::migrate!("./migrations").run(&mut conn).await.unwrap();
            let kind: String =
                sqlx::query_scalar("SELECT typeof(hash) FROM delivery_attempts WHERE id = 1")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            assert_eq!(kind, "blob");
            let rows = sqlx::query(&read).fetch_all(&mut conn).await.unwrap();
            rows.iter()
                .map(|r| [r.get(0), r.get(1), r.get(2)])
                .collect()
        }
        Engine::Postgres => {
            let url = Postgres::for_this_process()
                .create_database("labhook_upgrade")
                .unwrap();
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            old.run(&mut conn).await.unwrap();
            // Only the log's own columns matter here, not its delivery.
            sqlx::query("SET session_replication_role = replica")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(OLD_ROW)
                .bind(PREV)
                .bind(HASH)
                .bind(BODY)
                .execute(&mut conn)
                .await
                .unwrap();
            server::db::postgres::MIGRATIONS
                .run(&mut conn)
                .await
                .unwrap();
            let rows = sqlx::query(&read).fetch_all(&mut conn).await.unwrap();
            rows.iter()
                .map(|r| [r.get(0), r.get(1), r.get(2)])
                .collect()
        }
    };
    assert_eq!(
        rows,
        vec![
            [Some(PREV.into()), Some(HASH.into()), Some(BODY.into())],
            [None, None, None]
        ]
    );
}
