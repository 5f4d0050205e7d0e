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

use super::{
    chain::link, checkpoint, removal, rows::page, verify::gap, Chain, PublicKey, RecordsKey,
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
    let (first, last): (Option<i64>, Option<i64>) = crate::db::with_db!(pool, db => sqlx::query_as(
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
    .context("counting the range's links")?;
    Ok(match (first, last) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    })
}

/// What the seal's signature covers.
fn seal_message(organisation_id: i64, chain: Chain, lines: u64, sha256: &str) -> String {
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
    let name: Option<String> = crate::db::with_db!(&mut *conn, db => sqlx::query_scalar(
        "SELECT name FROM organisations WHERE id = $1",
    )
    .bind(org)
    .fetch_optional(db)
    .await)
    .context("reading the organisation")?;
    let name = name.ok_or(Error::NotFound("There is no such organisation.".into()))?;
    let (first, last): (Option<i64>, Option<i64>) =
        crate::db::with_db!(&mut *conn, db => sqlx::query_as(
        &format!(
            "SELECT MIN(seq), MAX(seq) FROM {table}
             WHERE organisation_id = $1 AND seq IS NOT NULL AND {time} >= $2 AND {time} < $3",
            table = chain.table(),
            time = chain.time_column(),
        ),
    )
    .bind(org)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await)
        .context("finding the range's links")?;

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
        "chain": chain.as_str(),
        "from": from,
        "to": to,
        "first_seq": first,
        "last_seq": last,
        "exported_at": now_ms(),
        "public_key": key.public().to_string(),
    }));
    if let (Some(first), Some(last)) = (first, last) {
        let removals: Vec<(i64, String, String, i64, String)> =
            crate::db::with_db!(&mut *conn, db => sqlx::query_as(
                "SELECT id, ranges, reason, at, signature FROM record_removals
                 WHERE organisation_id = $1 AND chain = $2 ORDER BY id",
            )
            .bind(org)
            .bind(chain.as_str())
            .fetch_all(db)
            .await)
            .context("reading removals")?;
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
        let checkpoints: Vec<(i64, i64, String, i64, String)> =
            crate::db::with_db!(&mut *conn, db => sqlx::query_as(
                "SELECT id, seq, head, at, signature FROM record_checkpoints
                 WHERE organisation_id = $1 AND chain = $2 AND seq >= $3 AND seq <= $4 ORDER BY id",
            )
            .bind(org)
            .bind(chain.as_str())
            .bind(first)
            .bind(last)
            .fetch_all(db)
            .await)
            .context("reading checkpoints")?;
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
                for (name, value) in chain.fields().iter().zip(values) {
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

/// What `verify-export` found in a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub organisation: String,
    pub chain: Option<Chain>,
    pub from: i64,
    pub to: i64,
    /// Links present and checked.
    pub records: u64,
    /// Links of the range removed on purpose, each removal signed.
    pub removed: u64,
    /// Signed checkpoints that matched.
    pub checkpoints: u64,
    /// The first thing wrong, if any: naming its line.
    pub problem: Option<String>,
}

impl ExportReport {
    pub fn is_sound(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies an export with nothing but the installation's public key: every line is read, the
/// first problem is named by its line number.
pub fn verify_export(text: &str, key: &PublicKey) -> ExportReport {
    let mut report = ExportReport::default();
    report.problem = check(text, key, &mut report).err();
    report
}

fn field<'j>(line: &'j Json, name: &str, n: usize) -> std::result::Result<&'j Json, String> {
    line.get(name)
        .ok_or_else(|| format!("line {n} has no {name:?}"))
}

fn int(line: &Json, name: &str, n: usize) -> std::result::Result<i64, String> {
    field(line, name, n)?
        .as_i64()
        .ok_or_else(|| format!("line {n}: {name:?} is not a whole number"))
}

fn text<'j>(line: &'j Json, name: &str, n: usize) -> std::result::Result<&'j str, String> {
    field(line, name, n)?
        .as_str()
        .ok_or_else(|| format!("line {n}: {name:?} is not text"))
}

fn check(
    text_in: &str,
    key: &PublicKey,
    report: &mut ExportReport,
) -> std::result::Result<(), String> {
    let mut hash = Sha256::new();
    let mut lines = text_in
        .split_inclusive('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l));
    let (n, raw) = lines.next().ok_or("the file is empty")?;
    let header: Json =
        serde_json::from_str(raw).map_err(|e| format!("line {n} is not JSON: {e}"))?;
    if header.get("type").and_then(Json::as_str) != Some("export")
        || header.get("format").and_then(Json::as_str) != Some(FORMAT)
    {
        return Err(format!("line {n} is not the header of a {FORMAT} export"));
    }
    hash.update(raw.as_bytes());
    let org = int(&header, "organisation_id", n)?;
    let chain = Chain::parse(text(&header, "chain", n)?)
        .ok_or_else(|| format!("line {n}: unknown chain"))?;
    report.organisation = text(&header, "organisation", n)?.to_owned();
    report.chain = Some(chain);
    report.from = int(&header, "from", n)?;
    report.to = int(&header, "to", n)?;
    let range = match (header.get("first_seq"), header.get("last_seq")) {
        (Some(Json::Null), Some(Json::Null)) => None,
        _ => Some((int(&header, "first_seq", n)?, int(&header, "last_seq", n)?)),
    };

    let mut removed: Vec<removal::Range> = Vec::new();
    let mut checkpoints: std::collections::BTreeMap<i64, Vec<(usize, String)>> = Default::default();
    let mut expected: Option<(i64, String)> = None;
    for (n, raw) in lines.by_ref() {
        let line: Json =
            serde_json::from_str(raw).map_err(|e| format!("line {n} is not JSON: {e}"))?;
        match text(&line, "type", n)? {
            "removal" => {
                let ranges = text(&line, "ranges", n)?;
                let message = removal::message(
                    org,
                    chain,
                    ranges,
                    text(&line, "reason", n)?,
                    int(&line, "at", n)?,
                );
                let parsed: Vec<removal::Range> = serde_json::from_str(ranges)
                    .map_err(|_| format!("line {n}: the removal's ranges are unreadable"))?;
                if !key.verifies(&message, text(&line, "signature", n)?) {
                    return Err(format!(
                        "line {n}: the removal is not signed by this installation's key (altered or forged)"
                    ));
                }
                removed.extend(parsed);
                removed.sort();
            }
            "checkpoint" => {
                let (seq, head) = (int(&line, "seq", n)?, text(&line, "head", n)?);
                let message = checkpoint::message(org, chain, seq, head, int(&line, "at", n)?);
                if !key.verifies(&message, text(&line, "signature", n)?) {
                    return Err(format!(
                        "line {n}: the checkpoint is not signed by this installation's key (altered or forged)"
                    ));
                }
                checkpoints
                    .entry(seq)
                    .or_default()
                    .push((n, head.to_owned()));
            }
            "record" => {
                let (first, last) = range.ok_or_else(|| {
                    format!("line {n}: a record in an export the header says is empty")
                })?;
                let seq = int(&line, "seq", n)?;
                let prev_hash = text(&line, "prev_hash", n)?;
                let what = format!("line {n} (link {seq})");
                let follows = match &expected {
                    None if seq != first => {
                        return Err(format!("{what}: the export should start at link {first}"))
                    }
                    None => prev_hash.to_owned(),
                    Some((next, _)) if seq < *next => {
                        return Err(format!("{what} repeats or goes back (inserted or reordered)"))
                    }
                    Some((next, _)) if seq > *next => gap(&removed, *next, seq - 1).ok_or_else(|| {
                        format!(
                            "links {next}–{} before {what} are missing and no signed removal covers them (deleted)",
                            seq - 1
                        )
                    })?,
                    Some((_, prev)) => prev.clone(),
                };
                if seq > last {
                    return Err(format!(
                        "{what} is past the export's last link {last} (inserted)"
                    ));
                }
                let content = Json::Array(
                    chain
                        .fields()
                        .iter()
                        .map(|name| field(&line, name, n).cloned())
                        .collect::<std::result::Result<_, _>>()?,
                );
                let hash = text(&line, "hash", n)?;
                if link(chain, org, seq, prev_hash, &content) != hash {
                    return Err(format!(
                        "{what}: its content does not match its hash (altered)"
                    ));
                }
                if prev_hash != follows {
                    return Err(format!(
                        "{what} does not follow the link before it (a line before it was altered, inserted or deleted)"
                    ));
                }
                if let Some(found) = checkpoints.remove(&seq) {
                    for (at_line, head) in found {
                        if head != hash {
                            return Err(format!(
                                "{what} differs from what the checkpoint on line {at_line} signed"
                            ));
                        }
                        report.checkpoints += 1;
                    }
                }
                report.records += 1;
                expected = Some((seq + 1, hash.to_owned()));
            }
            "seal" => {
                // Every line before this one is hashed and counted.
                let count = (n - 1) as u64;
                let sha256 = hex::encode(std::mem::take(&mut hash).finalize());
                if text(&line, "sha256", n)? != sha256 || int(&line, "lines", n)? != count as i64 {
                    return Err(format!(
                        "line {n}: the seal does not match the lines before it (the file was edited)"
                    ));
                }
                if !key.verifies(
                    &seal_message(org, chain, count, &sha256),
                    text(&line, "signature", n)?,
                ) {
                    return Err(format!(
                        "line {n}: the seal is not signed by this installation's key (altered or forged)"
                    ));
                }
                if let Some((n, _)) = lines.next() {
                    return Err(format!("line {n} comes after the seal (added)"));
                }
                if let Some((first, last)) = range {
                    let reached = expected.as_ref().map_or(first - 1, |(next, _)| next - 1);
                    if reached < last && gap(&removed, reached + 1, last).is_none() {
                        return Err(format!(
                            "links {}–{last}, the end of the export, are missing (deleted)",
                            reached + 1
                        ));
                    }
                    report.removed = removed
                        .iter()
                        .map(|(a, b, _)| (*b.min(&last) - *a.max(&first) + 1).max(0) as u64)
                        .sum();
                }
                if let Some((seq, found)) = checkpoints
                    .into_iter()
                    .find(|(seq, _)| !removed.iter().any(|(a, b, _)| (*a..=*b).contains(seq)))
                {
                    return Err(format!(
                        "the checkpoint on line {} signed link {seq}, which is missing (deleted)",
                        found[0].0
                    ));
                }
                return Ok(());
            }
            other => return Err(format!("line {n}: unknown type {other:?}")),
        }
        hash.update(raw.as_bytes());
    }
    Err("the export has no seal: it is incomplete or was cut short".into())
}
