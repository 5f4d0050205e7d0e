//! Exports of one organisation's chain for a time range, as JSON Lines that anyone holding the
//! installation's public key can verify offline (`labhook verify-export FILE`):
//!
//! 1. a header (`"type":"export"`): organisation, chain, range, the links it holds;
//! 2. the signed removals and checkpoints that fall in those links, as stored;
//! 3. each link (`"type":"record"`): its place (`seq`, `prev_hash`, `hash`) and its content by
//!    name — what is hashed is exactly these values, in [`Chain::fields`]' order;
//! 4. a seal (`"type":"seal"`): the SHA-256 of every byte before it, signed with the records
//!    key, so that the file as a whole is known to be the installation's, unedited.
//!
//! The links are read in one snapshot of the database, from the first link of the range to the
//! last, so an export has no hole the chain does not have.

use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

mod verify;

pub use verify::{verify_export, ExportReport};

use super::{
    removal,
    rows::{self, page},
    Chain, RecordsKey,
};
use crate::{
    clock::now_ms,
    db::{Conn, Pool},
    error::ResultExt,
    Error, Result,
};

/// The format's name, in the header and in what the seal's signature covers.
pub const FORMAT: &str = "labhook.export.v1";

/// What to export: an organisation's chain, links whose rows happened in `from..to` (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportRequest {
    pub organisation_id: i64,
    pub chain: Chain,
    pub from: i64,
    pub to: i64,
    /// When the export gives up writing (a reader too slow, a range too long): it then ends its
    /// snapshot and stops, without the seal.
    pub deadline: Option<tokio::time::Instant>,
}

/// A moment as people and scripts write it: RFC 3339 (`2026-12-01T08:00:00+01:00`) or a day
/// (`2026-12-01`, its start in UTC). `what` names the parameter in the error.
pub fn parse_time(raw: &str, what: &'static str) -> Result<i64> {
    let raw = raw.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(at.timestamp_millis());
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(day
            .and_hms_opt(0, 0, 0)
            .expect("BUG: midnight exists")
            .and_utc()
            .timestamp_millis());
    }
    Err(Error::BadRequest {
        code: "bad_time",
        message: format!(
            "{what} must be a day (2026-12-01) or a moment in RFC 3339 (2026-12-01T08:00:00Z), not {raw:?}."
        ),
    })
}

impl ExportRequest {
    /// Checks the range: a bad one is the caller's mistake, told before anything is written.
    pub fn new(organisation_id: i64, chain: Chain, from: i64, to: i64) -> Result<Self> {
        if from >= to {
            return Err(Error::BadRequest {
                code: "empty_range",
                message: "The export's range must end after it starts.".into(),
            });
        }
        Ok(Self {
            organisation_id,
            chain,
            from,
            to,
            deadline: None,
        })
    }

    pub fn with_deadline(self, deadline: tokio::time::Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..self
        }
    }
}

/// What an export held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exported {
    pub records: u64,
    pub checkpoints: u64,
    pub removals: u64,
}

/// How many links the export of `request` would hold (those removed on purpose included):
/// what the PDF checks before it starts.
pub async fn count(pool: &Pool, request: ExportRequest) -> Result<i64> {
    let mut conn = pool.acquire().await.context("connecting")?;
    Ok(match links_of(&mut conn, request).await? {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    })
}

/// The first and the last link whose rows happened in the request's range.
async fn links_of(conn: &mut Conn, request: ExportRequest) -> Result<(Option<i64>, Option<i64>)> {
    crate::db::with_db!(conn, db => sqlx::query_as(
        &format!(
            "SELECT MIN(seq), MAX(seq) FROM {table}
             WHERE organisation_id = $1 AND seq IS NOT NULL AND {time} >= $2 AND {time} < $3",
            table = request.chain.table(),
            time = request.chain.time_column(),
        ),
    )
    .bind(request.organisation_id)
    .bind(request.from)
    .bind(request.to)
    .fetch_one(db)
    .await)
    .context("finding the range's links")
}

/// What the seal's signature covers.
pub(super) fn seal_message(organisation_id: i64, chain: Chain, lines: u64, sha256: &str) -> String {
    format!(
        "{FORMAT}\n{organisation_id}\n{}\n{lines}\n{sha256}",
        chain.as_str()
    )
}

/// Writes lines and keeps the running hash the seal signs.
struct Lines<'w, W> {
    out: &'w mut W,
    hash: Sha256,
    count: u64,
    buffer: Vec<u8>,
    deadline: Option<tokio::time::Instant>,
}

impl<W: AsyncWrite + Unpin> Lines<'_, W> {
    fn push(&mut self, line: &Json) {
        let start = self.buffer.len();
        serde_json::to_writer(&mut self.buffer, line).expect("BUG: JSON serialises");
        self.buffer.push(b'\n');
        self.hash.update(&self.buffer[start..]);
        self.count += 1;
    }

    async fn flush(&mut self) -> Result<()> {
        // Only the write is given up at the deadline (nothing of the database is held by it):
        // the caller then ends the snapshot.
        let write = self.out.write_all(&self.buffer);
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, write)
                .await
                .map_err(|_| anyhow::anyhow!("the export passed its deadline"))?,
            None => write.await,
        }
        .map_err(|e| anyhow::Error::new(e).context("writing the export"))?;
        self.buffer.clear();
        Ok(())
    }
}

/// Writes the export of `request` to `out`, from one snapshot of the database that ends
/// however the export does (callers run it in a task of its own, so that it is never dropped
/// half-way with the snapshot open). The organisation must exist (callers check who may
/// export it).
pub async fn export<W: AsyncWrite + Unpin>(
    pool: &Pool,
    key: &RecordsKey,
    request: ExportRequest,
    out: &mut W,
) -> Result<Exported> {
    let mut conn = pool.acquire().await.context("connecting")?;
    let begin = conn
        .engine()
        .pick("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    crate::db::with_db!(&mut conn, db => sqlx::query(begin).execute(db).await.map(crate::db::Done::from))
        .context("starting a snapshot")?;
    let result = export_in(&mut conn, key, request, out).await;
    let ended = crate::db::with_db!(&mut conn, db => sqlx::query("ROLLBACK").execute(db).await.map(crate::db::Done::from))
        .context("ending the snapshot");
    let exported = result?;
    ended?;
    Ok(exported)
}

async fn export_in<W: AsyncWrite + Unpin>(
    conn: &mut Conn,
    key: &RecordsKey,
    request: ExportRequest,
    out: &mut W,
) -> Result<Exported> {
    let ExportRequest {
        organisation_id: org,
        chain,
        from,
        to,
        deadline,
    } = request;
    let organisation: Option<(String, String)> =
        crate::db::with_db!(&mut *conn, db => sqlx::query_as(
        "SELECT name, time_zone FROM organisations WHERE id = $1",
    )
    .bind(org)
    .fetch_optional(db)
    .await)
        .context("reading the organisation")?;
    let (name, time_zone) =
        organisation.ok_or(Error::NotFound("There is no such organisation.".into()))?;
    let (first, last) = links_of(&mut *conn, request).await?;

    let mut lines = Lines {
        out,
        hash: Sha256::new(),
        count: 0,
        buffer: Vec::with_capacity(64 * 1024),
        deadline,
    };
    let mut exported = Exported::default();
    lines.push(&json!({
        "type": "export",
        "format": FORMAT,
        "organisation_id": org,
        "organisation": name,
        "time_zone": time_zone,
        "chain": chain.as_str(),
        "from": from,
        "to": to,
        "first_seq": first,
        "last_seq": last,
        "exported_at": now_ms(),
        "public_key": key.public().to_string(),
    }));
    if let (Some(first), Some(last)) = (first, last) {
        let removals = rows::removals(&mut *conn, org, chain).await?;
        for (id, ranges, reason, at, signature) in removals {
            let parsed: Vec<removal::Range> = serde_json::from_str(&ranges).unwrap_or_default();
            // Only the removals that took links inside the range explain its gaps.
            if parsed.iter().any(|(a, b, _)| *a <= last && *b >= first) {
                lines.push(&json!({
                    "type": "removal", "id": id, "ranges": ranges, "reason": reason,
                    "at": at, "signature": signature,
                }));
                exported.removals += 1;
            }
        }
        let checkpoints = rows::checkpoints(&mut *conn, org, chain, first, last).await?;
        for (id, seq, head, at, signature) in checkpoints {
            lines.push(&json!({
                "type": "checkpoint", "id": id, "seq": seq, "head": head,
                "at": at, "signature": signature,
            }));
            exported.checkpoints += 1;
        }
        lines.flush().await?;
        let mut after = first - 1;
        loop {
            let rows = page(&mut *conn, org, chain, after, last).await?;
            let Some(end) = rows.last().map(|r| r.seq) else {
                break;
            };
            for row in rows {
                let mut line = Map::new();
                line.insert("type".into(), "record".into());
                line.insert("id".into(), row.id.into());
                line.insert("seq".into(), row.seq.into());
                line.insert("prev_hash".into(), row.prev_hash.into());
                line.insert("hash".into(), row.hash.into());
                let Json::Array(values) = row.content else {
                    unreachable!("BUG: a link's content is an array")
                };
                for (name, value) in chain
                    .fields()
                    .iter()
                    .chain(chain.optional_fields())
                    .zip(values)
                {
                    line.insert((*name).into(), value);
                }
                lines.push(&Json::Object(line));
                exported.records += 1;
            }
            lines.flush().await?;
            after = end;
        }
    }
    let sha256 = hex::encode(std::mem::take(&mut lines.hash).finalize());
    let signature = key.sign(&seal_message(org, chain, lines.count, &sha256));
    let seal = json!({
        "type": "seal", "lines": lines.count, "sha256": sha256, "signature": signature,
    });
    lines.push(&seal);
    lines.flush().await?;
    lines
        .out
        .flush()
        .await
        .map_err(|e| anyhow::Error::new(e).context("writing the export's end"))?;
    Ok(exported)
}
