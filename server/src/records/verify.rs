//! `labhook verify-records`: walks every chain and every checkpoint and names the first row
//! that was altered, deleted, inserted or reordered — and tells removals that were signed when
//! they happened (retention, a deleted subscription's log) from tampering.

use std::collections::BTreeMap;

use super::{
    chain::{link, GENESIS},
    checkpoint, removal,
    rows::{self, page},
    Chain, PublicKey,
};
use crate::{
    db::{Conn, Pool},
    error::ResultExt,
    Result,
};

/// What was found in one organisation's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub organisation_id: i64,
    pub organisation: String,
    pub chain: Chain,
    /// Links present and checked.
    pub links: u64,
    /// Links removed on purpose, each removal signed.
    pub removed: u64,
    /// Signed checkpoints that matched.
    pub checkpoints: u64,
    /// Rows written before the chains began (not provable).
    pub unchained: u64,
    /// The first thing wrong, if any.
    pub problem: Option<String>,
}

impl ChainReport {
    pub fn is_sound(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies every organisation's chains against `key`, all in one snapshot of the database
/// (a read transaction: what the server writes meanwhile is seen entirely or not at all).
pub async fn verify_all(pool: &Pool, key: &PublicKey) -> Result<Vec<ChainReport>> {
    let mut conn = pool.acquire().await.context("connecting")?;
    let begin = conn
        .engine()
        .pick("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    crate::db::with_db!(&mut conn, db => sqlx::query(begin).execute(db).await.map(crate::db::Done::from))
        .context("starting a snapshot")?;
    let orgs: Vec<(i64, String)> = crate::db::with_db!(&mut conn, db => sqlx::query_as(
        "SELECT id, name FROM organisations ORDER BY id",
    )
    .fetch_all(db)
    .await)
    .context("listing organisations")?;
    let mut reports = Vec::new();
    for (org, name) in orgs {
        for chain in Chain::ALL {
            let mut report = ChainReport {
                organisation_id: org,
                organisation: name.clone(),
                chain,
                links: 0,
                removed: 0,
                checkpoints: 0,
                unchained: 0,
                problem: None,
            };
            report.problem = walk(&mut conn, key, &mut report).await?;
            reports.push(report);
        }
    }
    crate::db::with_db!(&mut conn, db => sqlx::query("ROLLBACK").execute(db).await.map(crate::db::Done::from))
        .context("ending the snapshot")?;
    Ok(reports)
}

async fn walk(
    conn: &mut Conn,
    key: &PublicKey,
    report: &mut ChainReport,
) -> Result<Option<String>> {
    let (org, chain) = (report.organisation_id, report.chain);
    let (removed, problem) = removals(&mut *conn, key, org, chain).await?;
    if problem.is_some() {
        return Ok(problem);
    }
    report.removed = removed.iter().map(|(a, b, _)| (b - a + 1) as u64).sum();
    let (mut checkpoints, problem) = checkpoints(&mut *conn, key, org, chain).await?;
    if problem.is_some() {
        return Ok(problem);
    }
    let first_chained_id: Option<i64>;
    (report.unchained, first_chained_id) = unchained(&mut *conn, org, chain).await?;
    if let Some(id) = first_chained_id {
        return Ok(Some(format!(
            "{} row {id} has no link but was written after the chain began (inserted)",
            chain.table()
        )));
    }

    let mut expected_seq = 1;
    let mut expected_prev = GENESIS.to_owned();
    let mut last_id: Option<i64> = None;
    loop {
        let rows = page(&mut *conn, org, chain, expected_seq - 1, i64::MAX).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let what = format!("{} row {} (link {})", chain.table(), row.id, row.seq);
            if row.seq < expected_seq {
                return Ok(Some(format!(
                    "{what}: a second row for the same link (inserted)"
                )));
            }
            if row.seq > expected_seq {
                match gap(&removed, expected_seq, row.seq - 1) {
                    Some(hash) => expected_prev = hash,
                    None => {
                        return Ok(Some(format!(
                            "links {expected_seq}–{} before {what} are missing and no signed removal covers them (deleted)",
                            row.seq - 1
                        )))
                    }
                }
            }
            if link(chain, org, row.seq, &row.prev_hash, &row.content) != row.hash {
                return Ok(Some(format!(
                    "{what}: its content does not match its hash (altered)"
                )));
            }
            if row.prev_hash != expected_prev {
                return Ok(Some(format!(
                    "{what} does not follow the link before it (a row before it was altered, inserted or deleted)"
                )));
            }
            if last_id.is_some_and(|last| row.id <= last) {
                return Ok(Some(format!(
                    "{what} comes before the row of the link before it (reordered)"
                )));
            }
            if let Some(found) = checkpoints.remove(&row.seq) {
                for (id, head) in found {
                    if head != row.hash {
                        return Ok(Some(format!(
                            "{what} differs from what checkpoint {id} signed (the chain was rewritten up to here)"
                        )));
                    }
                    report.checkpoints += 1;
                }
            }
            report.links += 1;
            expected_prev = row.hash;
            expected_seq = row.seq + 1;
            last_id = Some(row.id);
        }
    }

    // The head and the checkpoints past the last row present.
    let head: Option<(i64, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT seq, head FROM record_chains WHERE organisation_id = $1 AND chain = $2",
    )
    .bind(org)
    .bind(chain.as_str())
    .fetch_optional(db)
    .await)
    .context("reading a chain's head")?;
    let (head_seq, head_hash) = head.unwrap_or((0, GENESIS.to_owned()));
    let last_seq = expected_seq - 1;
    let tail_hash = if head_seq > last_seq {
        match gap(&removed, expected_seq, head_seq) {
            Some(hash) => hash,
            None => {
                return Ok(Some(format!(
                    "links {expected_seq}–{head_seq}, the end of the chain, are missing and no signed removal covers them (deleted)"
                )))
            }
        }
    } else {
        expected_prev
    };
    if head_seq < last_seq || tail_hash != head_hash {
        return Ok(Some(format!(
            "the chain's head (link {head_seq}) does not match its last row (link {last_seq}): rows were added or removed at its end"
        )));
    }
    for (seq, found) in checkpoints {
        let id = found.first().map(|(id, _)| *id).unwrap_or_default();
        match removed.iter().find(|(first, last, _)| (*first..=*last).contains(&seq)) {
            Some((_, last, hash)) if *last == seq && found.iter().any(|(_, h)| h != hash) => {
                return Ok(Some(format!(
                    "checkpoint {id} signed link {seq} differently from the removal that took it (the chain was rewritten)"
                )))
            }
            // Removed on purpose: what the checkpoint signed can no longer be compared.
            Some(_) => report.checkpoints += found.len() as u64,
            None if seq > head_seq => {
                return Ok(Some(format!(
                    "checkpoint {id} signed link {seq}, past the chain's end (link {head_seq}): later rows were deleted"
                )))
            }
            None => {
                return Ok(Some(format!(
                    "checkpoint {id} signed link {seq}, which is missing (deleted)"
                )))
            }
        }
    }
    Ok(None)
}

/// The chain's signed removals as sorted ranges, or the first whose signature fails.
async fn removals(
    conn: &mut Conn,
    key: &PublicKey,
    org: i64,
    chain: Chain,
) -> Result<(Vec<removal::Range>, Option<String>)> {
    let rows = rows::removals(conn, org, chain).await?;
    let mut ranges = Vec::new();
    for (id, text, reason, at, signature) in rows {
        let message = removal::message(org, chain, &text, &reason, at);
        let parsed: Option<Vec<removal::Range>> = serde_json::from_str(&text).ok();
        match parsed {
            Some(parsed) if key.verifies(&message, &signature) => ranges.extend(parsed),
            _ => {
                return Ok((
                    ranges,
                    Some(format!(
                        "removal {id} is not signed by this installation's key (altered or forged)"
                    )),
                ))
            }
        }
    }
    ranges.sort();
    Ok((ranges, None))
}

/// The chain's checkpoints by the link they signed, or the first whose signature fails.
#[allow(clippy::type_complexity)]
async fn checkpoints(
    conn: &mut Conn,
    key: &PublicKey,
    org: i64,
    chain: Chain,
) -> Result<(BTreeMap<i64, Vec<(i64, String)>>, Option<String>)> {
    let rows = rows::checkpoints(conn, org, chain, i64::MIN, i64::MAX).await?;
    let mut by_seq: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    for (id, seq, head, at, signature) in rows {
        if !key.verifies(&checkpoint::message(org, chain, seq, &head, at), &signature) {
            return Ok((
                by_seq,
                Some(format!(
                    "checkpoint {id} is not signed by this installation's key (altered or forged)"
                )),
            ));
        }
        by_seq.entry(seq).or_default().push((id, head));
    }
    Ok((by_seq, None))
}

/// When every link from `first` to `last` was removed by a signed removal, the hash of the
/// last (the link after the gap follows it).
pub(crate) fn gap(removed: &[removal::Range], first: i64, last: i64) -> Option<String> {
    let mut next = first;
    for (a, b, hash) in removed {
        if *a <= next && next <= *b {
            if last > *b {
                next = b + 1;
                continue;
            }
            // A removal past `last` would say that the row present after the gap is gone.
            return (last == *b).then(|| hash.clone());
        }
    }
    None
}

/// Rows without a link: how many, and the first one written after a linked row (which no
/// version of Labhook writes).
async fn unchained(conn: &mut Conn, org: i64, chain: Chain) -> Result<(u64, Option<i64>)> {
    let table = chain.table();
    let (count, late): (i64, Option<i64>) = crate::db::with_db!(conn, db => sqlx::query_as(
        &format!("SELECT COUNT(*),
                (SELECT MIN(u.id) FROM {table} u WHERE u.organisation_id = $1 AND u.seq IS NULL
                   AND u.id > (SELECT MIN(c.id) FROM {table} c WHERE c.organisation_id = $1 AND c.seq IS NOT NULL))
         FROM {table} WHERE organisation_id = $1 AND seq IS NULL"),
    )
    .bind(org)
    .fetch_one(db)
    .await)
    .context("counting rows without links")?;
    Ok((count as u64, late))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: i64, b: i64) -> removal::Range {
        (a, b, format!("h{b}"))
    }

    #[test]
    fn a_gap_is_covered_only_by_removals_that_end_where_it_ends() {
        let removed = vec![r(1, 3), r(4, 4), r(8, 9)];
        assert_eq!(gap(&removed, 1, 3), Some("h3".into()));
        assert_eq!(gap(&removed, 2, 4), Some("h4".into()));
        assert_eq!(
            gap(&removed, 1, 2),
            None,
            "link 3 was removed too, yet the next is 3"
        );
        assert_eq!(gap(&removed, 5, 5), None);
        assert_eq!(gap(&removed, 4, 9), None, "5–7 were never removed");
        assert_eq!(gap(&removed, 8, 9), Some("h9".into()));
    }
}
