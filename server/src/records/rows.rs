//! Reading chained rows back as links: the one reader of both chains' rows, shared by the
//! verification of the database and the exports.

use serde_json::Value as Json;

use super::{
    chain::{audit_content, AttemptContent},
    Chain,
};
use crate::{
    db::{dialect::hex, Conn},
    error::ResultExt,
    Result,
};

/// Rows read per query.
const PAGE: i64 = 2000;

/// One row as stored: its link and its content.
pub(crate) struct Row {
    pub id: i64,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub content: Json,
}

/// The next page of rows after link `after` up to link `last`, in link order.
pub(crate) async fn page(
    conn: &mut Conn,
    org: i64,
    chain: Chain,
    after: i64,
    last: i64,
) -> Result<Vec<Row>> {
    Ok(match chain {
        Chain::Audit => {
            type AuditRow = (
                i64,
                i64,
                String,
                String,
                Option<i64>,
                String,
                i64,
                String,
                String,
                String,
                Option<String>,
                Option<String>,
                Option<String>,
            );
            let rows: Vec<AuditRow> = crate::db::with_db!(conn, db => sqlx::query_as(
                "SELECT id, seq, prev_hash, hash, actor_id, actor_name, at, kind, action, subject, before, after, reason
                 FROM audit_log WHERE organisation_id = $1 AND seq > $2 AND seq <= $4 ORDER BY seq LIMIT $3",
            )
            .bind(org)
            .bind(after)
            .bind(PAGE)
            .bind(last)
            .fetch_all(db)
            .await)
            .context("reading the audit trail's links")?;
            rows.into_iter()
                .map(|r| Row {
                    id: r.0,
                    seq: r.1,
                    prev_hash: r.2,
                    hash: r.3,
                    content: audit_content(
                        r.4,
                        &r.5,
                        r.6,
                        &r.7,
                        &r.8,
                        &r.9,
                        r.10.as_deref(),
                        r.11.as_deref(),
                        r.12.as_deref(),
                    ),
                })
                .collect()
        }
        Chain::Deliveries => {
            type AttemptRow = (
                i64,
                i64,
                String,
                String,
                i64,
                i64,
                i64,
                i64,
                String,
                Option<String>,
                Option<i64>,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            );
            // The log keeps its hashes as bytes (migration 0024): read here as hex.
            let rows: Vec<AttemptRow> = crate::db::with_db!(conn, db, engine => sqlx::query_as(
                &format!(
                    "SELECT id, seq, {prev}, {hash}, delivery_id, number, started_at, duration_ms, request_headers,
                            {body}, response_status, response_headers, response_body, error_kind, error_message
                     FROM delivery_attempts WHERE organisation_id = $1 AND seq > $2 AND seq <= $4 ORDER BY seq LIMIT $3",
                    prev = hex(engine, "prev_hash"),
                    hash = hex(engine, "hash"),
                    body = hex(engine, "request_body_sha256"),
                ),
            )
            .bind(org)
            .bind(after)
            .bind(PAGE)
            .bind(last)
            .fetch_all(db)
            .await)
            .context("reading the delivery log's links")?;
            rows.into_iter()
                .map(|r| Row {
                    id: r.0,
                    seq: r.1,
                    prev_hash: r.2,
                    hash: r.3,
                    content: serde_json::to_value::<AttemptContent>((
                        r.4,
                        r.5,
                        r.6,
                        r.7,
                        &r.8,
                        r.9.as_deref(),
                        r.10,
                        r.11.as_deref(),
                        r.12.as_deref(),
                        r.13.as_deref(),
                        r.14.as_deref(),
                    ))
                    .expect("BUG: an attempt's content always serialises"),
                })
                .collect()
        }
    })
}

/// A signed removal as stored: id, ranges (JSON, as signed), reason, when, signature.
pub(crate) type StoredRemoval = (i64, String, String, i64, String);

/// A chain's signed removals, oldest first.
pub(crate) async fn removals(
    conn: &mut Conn,
    org: i64,
    chain: Chain,
) -> Result<Vec<StoredRemoval>> {
    crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT id, ranges, reason, at, signature FROM record_removals
         WHERE organisation_id = $1 AND chain = $2 ORDER BY id",
    )
    .bind(org)
    .bind(chain.as_str())
    .fetch_all(db)
    .await)
    .context("reading removals")
}

/// A signed checkpoint as stored: id, the link it signed, its hash, when, signature.
pub(crate) type StoredCheckpoint = (i64, i64, String, i64, String);

/// A chain's signed checkpoints of the links `first..=last`, oldest first.
pub(crate) async fn checkpoints(
    conn: &mut Conn,
    org: i64,
    chain: Chain,
    first: i64,
    last: i64,
) -> Result<Vec<StoredCheckpoint>> {
    crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT id, seq, head, at, signature FROM record_checkpoints
         WHERE organisation_id = $1 AND chain = $2 AND seq >= $3 AND seq <= $4 ORDER BY id",
    )
    .bind(org)
    .bind(chain.as_str())
    .bind(first)
    .bind(last)
    .fetch_all(db)
    .await)
    .context("reading checkpoints")
}
