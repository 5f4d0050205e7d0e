//! Moving an installation from its SQLite file to PostgreSQL (`labhook migrate-to-postgres`):
//! every table, row for row, in one Postgres transaction, verified by counting.
//!
//! Both databases are first brought to the same migration version, so that they have the same
//! tables and columns (the schema-parity test keeps the two migration sets in step). Values are
//! copied as they are stored: sealed secrets stay sealed, to be opened with the same key file,
//! and the database's record of that key (the `installation` row) comes
//! along. Ids are kept, and each identity continues after the largest copied id.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use sqlx::{postgres::PgArguments, query::Query, PgPool, Postgres, Row, SqlitePool};

/// Tables the Postgres migrations fill themselves (replaced by the copy).
const SEEDED: &[&str] = &["dispatcher_cursor"];
/// Rows per `INSERT` (well under Postgres' 65,535 parameters for the widest table).
const ROWS_PER_STATEMENT: usize = 500;

/// What was copied: rows per table, as counted afterwards on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub tables: BTreeMap<String, u64>,
}

impl Copied {
    pub fn rows(&self) -> u64 {
        self.tables.values().sum()
    }
}

/// A column's type on the Postgres side, which decides how the SQLite value is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Flag,
    Real,
    Text,
    Bytes,
}

/// Copies every table of `source` into `target`, which must hold no data yet. Nothing is
/// written unless everything is: one transaction, committed once the counts agree.
pub async fn sqlite_to_postgres(source: &SqlitePool, target: &PgPool) -> anyhow::Result<Copied> {
    let tables = tables_in_dependency_order(target).await?;
    refuse_unless_empty(target, &tables).await?;
    let mut tx = target.begin().await?;
    for seeded in SEEDED {
        sqlx::query(&format!("DELETE FROM {seeded}"))
            .execute(&mut *tx)
            .await?;
    }
    let mut copied = BTreeMap::new();
    for table in &tables {
        let columns = postgres_columns(target, table).await?;
        let rows = copy_table(source, &mut tx, table, &columns)
            .await
            .with_context(|| format!("copying {table}"))?;
        let counted: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await?;
        if counted as u64 != rows {
            bail!("{table}: {rows} rows read from SQLite, but {counted} in PostgreSQL");
        }
        if columns.iter().any(|(name, _)| name == "id") && is_identity(target, table).await? {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                               COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("continuing {table}'s ids"))?;
        }
        copied.insert(table.clone(), rows);
    }
    // Every event copied was noted for fan-out by the database; those SQLite's dispatcher had
    // fanned out already (up to its cursor) must not be again.
    sqlx::query(
        "DELETE FROM events_to_fan_out
         WHERE event_id <= (SELECT last_event_id FROM dispatcher_cursor WHERE id = 1)",
    )
    .execute(&mut *tx)
    .await
    .context("keeping what was fanned out on SQLite from being fanned out again")?;
    tx.commit().await?;
    Ok(Copied { tables: copied })
}

/// The application's tables (not sqlx's bookkeeping), parents before children.
/// Postgres' own table, which SQLite does not have: filled by a trigger as events are copied
/// (and then trimmed to what SQLite's dispatcher had not fanned out).
const POSTGRES_ONLY: &str = "events_to_fan_out";

async fn tables_in_dependency_order(target: &PgPool) -> anyhow::Result<Vec<String>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
            AND table_name NOT LIKE '\\_sqlx%'
            AND table_name NOT IN ($1)
          ORDER BY table_name",
    )
    .bind(POSTGRES_ONLY)
    .fetch_all(target)
    .await?;
    let references: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text
           FROM pg_constraint c
          WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace",
    )
    .fetch_all(target)
    .await?;
    let mut order = Vec::with_capacity(tables.len());
    let mut placed = BTreeSet::new();
    while order.len() < tables.len() {
        let ready: Vec<&String> = tables
            .iter()
            .filter(|t| !placed.contains(*t))
            .filter(|t| {
                references
                    .iter()
                    .filter(|(child, parent)| child == *t && parent != *t)
                    .all(|(_, parent)| placed.contains(parent))
            })
            .collect();
        if ready.is_empty() {
            bail!("the tables' references form a cycle; cannot order the copy");
        }
        for t in ready {
            placed.insert(t.clone());
            order.push(t.clone());
        }
    }
    Ok(order)
}

async fn refuse_unless_empty(target: &PgPool, tables: &[String]) -> anyhow::Result<()> {
    let mut holding = Vec::new();
    for table in tables.iter().filter(|t| !SEEDED.contains(&t.as_str())) {
        let any: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
            .fetch_one(target)
            .await?;
        if any {
            holding.push(table.as_str());
        }
    }
    if !holding.is_empty() {
        bail!(
            "the PostgreSQL database already holds data (in {}); migrate into an empty \
             database (createdb …) — nothing was copied",
            holding.join(", ")
        );
    }
    Ok(())
}

async fn postgres_columns(target: &PgPool, table: &str) -> anyhow::Result<Vec<(String, Kind)>> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(target)
    .await?;
    columns
        .into_iter()
        .map(|(name, data_type)| {
            let kind = match data_type.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Integer,
                "boolean" => Kind::Flag,
                "double precision" | "real" => Kind::Real,
                "text" | "USER-DEFINED" => Kind::Text,
                "bytea" => Kind::Bytes,
                other => bail!("{table}.{name} is of type {other}, which the copy does not know"),
            };
            Ok((name, kind))
        })
        .collect()
}

async fn is_identity(target: &PgPool, table: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT is_identity = 'YES' FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = $1 AND column_name = 'id'",
    )
    .bind(table)
    .fetch_one(target)
    .await?)
}

/// Copies one table; returns the rows read.
async fn copy_table(
    source: &SqlitePool,
    target: &mut sqlx::PgConnection,
    table: &str,
    columns: &[(String, Kind)],
) -> anyhow::Result<u64> {
    let names = columns
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut source = source.acquire().await?;
    // Read in pages, by rowid where the table has one: a large delivery log never has to fit
    // in memory, nor is it read again from the start for each page.
    let definition: String =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
            .bind(table)
            .fetch_one(&mut *source)
            .await?;
    let by_rowid = !definition.to_ascii_uppercase().contains("WITHOUT ROWID");
    let primary_key: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk")
            .bind(table)
            .fetch_all(&mut *source)
            .await?;
    let mut after: i64 = i64::MIN;
    let mut offset: i64 = 0;
    let mut rows_copied = 0u64;
    loop {
        let rows = if by_rowid {
            sqlx::query(&format!(
                "SELECT rowid AS labhook_rowid, {names} FROM {table}
                  WHERE rowid > $1 ORDER BY rowid LIMIT {ROWS_PER_STATEMENT}"
            ))
            .bind(after)
            .fetch_all(&mut *source)
            .await?
        } else {
            // The tables without a rowid are small (sessions, access, triggers).
            sqlx::query(&format!(
                "SELECT 0 AS labhook_rowid, {names} FROM {table}
                  ORDER BY {} LIMIT {ROWS_PER_STATEMENT} OFFSET $1",
                primary_key.join(", ")
            ))
            .bind(offset)
            .fetch_all(&mut *source)
            .await?
        };
        offset += rows.len() as i64;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.try_get("labhook_rowid")?;
        let placeholders = (0..rows.len())
            .map(|r| {
                let row = (1..=columns.len())
                    .map(|c| format!("${}", r * columns.len() + c))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("({row})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let statement = format!("INSERT INTO {table} ({names}) VALUES {placeholders}");
        let mut insert = sqlx::query(&statement);
        for row in &rows {
            for (i, (name, kind)) in columns.iter().enumerate() {
                insert = bind(insert, row, i + 1, *kind)
                    .with_context(|| format!("reading {table}.{name}"))?;
            }
        }
        insert.execute(&mut *target).await?;
        rows_copied += rows.len() as u64;
    }
    Ok(rows_copied)
}

fn bind<'q>(
    q: Query<'q, Postgres, PgArguments>,
    row: &sqlx::sqlite::SqliteRow,
    index: usize,
    kind: Kind,
) -> anyhow::Result<Query<'q, Postgres, PgArguments>> {
    Ok(match kind {
        Kind::Integer => q.bind(row.try_get::<Option<i64>, _>(index)?),
        Kind::Flag => q.bind(row.try_get::<Option<i64>, _>(index)?.map(|v| v != 0)),
        Kind::Real => q.bind(row.try_get::<Option<f64>, _>(index)?),
        Kind::Text => q.bind(row.try_get::<Option<String>, _>(index)?),
        Kind::Bytes => q.bind(row.try_get::<Option<Vec<u8>>, _>(index)?),
    })
}
