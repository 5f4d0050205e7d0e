//! Links removed on purpose: retention and a deleted subscription's log take attempts out of
//! the middle of the deliveries chain. Each removal is signed when it happens, with what lets
//! the chain be followed across the gap (the hash of each range's last link) — so that
//! `verify-records` reports it as removed, and a removal nobody signed as tampering.

use std::collections::BTreeMap;

use super::{Chain, RecordsKey};
use crate::{clock::now_ms, db::Conn, error::ResultExt, Result};

/// What a removal's signature covers.
pub(crate) fn message(
    organisation_id: i64,
    chain: Chain,
    ranges: &str,
    reason: &str,
    at: i64,
) -> String {
    format!(
        "labhook.removal.v1\n{organisation_id}\n{}\n{ranges}\n{reason}\n{at}",
        chain.as_str()
    )
}

/// How many attempts went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub attempts: u64,
}

/// Deletes the attempts of the deliveries `delivery_ids` (before the deliveries themselves are
/// deleted) and signs, per organisation, the ranges of links they were. `reason` says why, in
/// words ("retention", "subscription #4 deleted").
pub(crate) async fn remove_attempts(
    conn: &mut Conn,
    key: &RecordsKey,
    delivery_ids: &[i64],
    reason: &str,
) -> Result<Removed> {
    if delivery_ids.is_empty() {
        return Ok(Removed::default());
    }
    let gone: Vec<(Option<i64>, Option<i64>, Option<String>)> =
        crate::db::with_db!(conn, db, engine => sqlx::query_as(
            &format!("DELETE FROM delivery_attempts WHERE delivery_id IN {ids1}
                      RETURNING organisation_id, seq, {hash}",
                ids1 = crate::db::dialect::ids(engine, 1),
                hash = crate::db::dialect::hex(engine, "hash")),
        )
        .bind(serde_json::to_string(delivery_ids).expect("BUG: ids serialise"))
        .fetch_all(db)
        .await)
        .context("removing attempts")?;
    let removed = Removed {
        attempts: gone.len() as u64,
    };
    // Links by organisation; attempts from before the chains began have none.
    let mut links: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    for (org, seq, hash) in gone {
        if let (Some(org), Some(seq), Some(hash)) = (org, seq, hash) {
            links.entry(org).or_default().push((seq, hash));
        }
    }
    let at = now_ms();
    for (org, mut links) in links {
        links.sort_unstable();
        let ranges = serde_json::to_string(&ranges(&links)).expect("BUG: ranges serialise");
        let signature = key.sign(&message(org, Chain::Deliveries, &ranges, reason, at));
        crate::db::with_db!(conn, db => sqlx::query(
            "INSERT INTO record_removals (organisation_id, chain, ranges, reason, at, signature)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org)
        .bind(Chain::Deliveries.as_str())
        .bind(&ranges)
        .bind(reason)
        .bind(at)
        .bind(signature)
        .execute(db)
        .await
        .map(crate::db::Done::from))
        .context("recording a removal")?;
    }
    Ok(removed)
}

/// One removed stretch of a chain: its first and last sequence numbers and the last link's
/// hash (the `prev_hash` of the link after it).
pub(crate) type Range = (i64, i64, String);

/// Sorted links as stretches of consecutive sequence numbers.
fn ranges(links: &[(i64, String)]) -> Vec<Range> {
    let mut ranges: Vec<Range> = Vec::new();
    for (seq, hash) in links {
        match ranges.last_mut() {
            Some((_, last, last_hash)) if *last + 1 == *seq => {
                *last = *seq;
                *last_hash = hash.clone();
            }
            _ => ranges.push((*seq, *seq, hash.clone())),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_links_make_one_range() {
        let links: Vec<(i64, String)> = [1, 2, 3, 5, 7, 8]
            .into_iter()
            .map(|s| (s, format!("h{s}")))
            .collect();
        assert_eq!(
            ranges(&links),
            vec![
                (1, 3, "h3".to_owned()),
                (5, 5, "h5".to_owned()),
                (7, 8, "h8".to_owned())
            ]
        );
        assert!(ranges(&[]).is_empty());
    }
}
