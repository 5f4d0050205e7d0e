//! `labhook verify-export`: an export checked with nothing but the installation's public key.

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::{seal_message, FORMAT};
use crate::records::{chain::link, checkpoint, removal, verify::gap, Chain, PublicKey};

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
                let mut parts = chain
                    .fields()
                    .iter()
                    .map(|name| field(&line, name, n).cloned())
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                parts.extend(
                    chain
                        .optional_fields()
                        .iter()
                        .filter_map(|name| line.get(*name).cloned()),
                );
                let content = Json::Array(parts);
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
