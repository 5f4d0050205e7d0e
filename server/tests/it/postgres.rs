//! PostgreSQL, started for real (Debian's server programs, a cluster in a scratch directory,
//! run as a non-root account): the Postgres migration set makes the same schema as SQLite's.

use std::collections::{BTreeMap, BTreeSet};

use server::{
    db,
    harness::{postgres::Postgres, Scratch},
};
use sqlx::Row;

/// A table's columns in order: name, type class, and whether it may be NULL.
type Columns = Vec<(String, &'static str, bool)>;

fn sqlite_type_class(declared: &str) -> &'static str {
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" => "integer",
        "REAL" => "real",
        "TEXT" => "text",
        "BLOB" => "bytes",
        other => panic!("a SQLite column of type {other:?}: add it to the Postgres mapping"),
    }
}

fn postgres_type_class(data_type: &str, udt: &str) -> &'static str {
    match (data_type, udt) {
        ("bigint", _) => "integer",
        // A flag: SQLite has no boolean type and keeps it as INTEGER 0/1.
        ("boolean", _) => "integer",
        ("double precision", _) => "real",
        ("text", _) | ("USER-DEFINED", "citext") => "text",
        ("bytea", _) => "bytes",
        other => panic!("a Postgres column of type {other:?}"),
    }
}

async fn sqlite_schema(pool: &sqlx::SqlitePool) -> (BTreeMap<String, Columns>, BTreeSet<String>) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
           AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut schema = BTreeMap::new();
    for table in tables {
        let rows = sqlx::query(
            r#"SELECT name, type, "notnull", pk FROM pragma_table_info($1) ORDER BY cid"#,
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        let columns = rows
            .iter()
            .map(|r| {
                let declared: String = r.get("type");
                // A primary key is never NULL, whatever SQLite's pragma says of it.
                let not_null = r.get::<i64, _>("notnull") == 1 || r.get::<i64, _>("pk") > 0;
                (r.get("name"), sqlite_type_class(&declared), !not_null)
            })
            .collect();
        schema.insert(table, columns);
    }
    let indexes = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    (schema, indexes)
}

async fn postgres_schema(pool: &sqlx::PgPool) -> (BTreeMap<String, Columns>, BTreeSet<String>) {
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS d,
                udt_name::text AS u, is_nullable::text AS n
           FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'
          ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut schema: BTreeMap<String, Columns> = BTreeMap::new();
    for r in rows {
        let (d, u): (String, String) = (r.get("d"), r.get("u"));
        schema.entry(r.get("t")).or_default().push((
            r.get("c"),
            postgres_type_class(&d, &u),
            r.get::<String, _>("n") == "YES",
        ));
    }
    // Indexes made by CREATE INDEX, not those behind primary keys and UNIQUE constraints
    // (SQLite keeps those unnamed too).
    let indexes = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes
          WHERE schemaname = 'public' AND tablename NOT LIKE '\\_sqlx%'
            AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    (schema, indexes)
}

#[tokio::test]
async fn the_postgres_migrations_make_the_same_schema_as_sqlite_s() {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    let url = pg.create_database("parity").unwrap();
    let postgres = db::postgres::open(&url, 4).await.unwrap();
    // Opening again applies nothing twice.
    db::postgres::open(&url, 4).await.unwrap();
    let scratch = Scratch::new("labhook-parity").unwrap();
    let sqlite = db::open(&scratch.path().join("parity.db")).await.unwrap();

    let (lite_tables, lite_indexes) = sqlite_schema(sqlite.as_sqlite().unwrap()).await;
    let (mut pg_tables, pg_indexes) = postgres_schema(&postgres).await;
    // Postgres' own: the events not fanned out yet, where several instances fan out (SQLite
    // follows a cursor instead; docs/postgres.md).
    assert!(pg_tables.remove("events_to_fan_out").is_some());
    // SQLite's own: deliveries counted per hour by triggers; Postgres counts them through an
    // index of its own instead (migrations 0025).
    let mut lite_tables = lite_tables;
    assert!(lite_tables.remove("delivery_hours").is_some());
    let mut pg_indexes = pg_indexes;
    assert!(pg_indexes.remove("deliveries_by_subscription_time"));
    assert!(lite_tables.len() > 15, "{lite_tables:?}");
    assert_eq!(
        lite_tables.keys().collect::<Vec<_>>(),
        pg_tables.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    for (table, columns) in &lite_tables {
        assert_eq!(columns, &pg_tables[table], "the columns of {table}");
    }
    assert_eq!(lite_indexes, pg_indexes, "the same indexes");

    // The audit trail is append-only on both.
    sqlx::query("INSERT INTO organisations (name, created_at) VALUES ('Lab', 0)")
        .execute(&postgres)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO audit_log (organisation_id, actor_name, at, kind, action, subject)
         SELECT id, 'someone', 0, 'settings', 'changed', 'x' FROM organisations",
    )
    .execute(&postgres)
    .await
    .unwrap();
    for change in [
        "UPDATE audit_log SET subject = 'y'",
        "DELETE FROM audit_log",
    ] {
        let refused = sqlx::query(change).execute(&postgres).await.unwrap_err();
        assert!(
            refused.to_string().contains("append-only"),
            "{change}: {refused}"
        );
    }
}
