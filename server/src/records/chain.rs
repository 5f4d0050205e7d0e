//! The canonical form of a link and the chains' heads.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use super::Chain;
use crate::{
    db::{self, Conn},
    error::ResultExt,
    Result,
};

/// The `prev_hash` of a chain's first link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A row's place in its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of one link: SHA-256 (hex) over a fixed preamble, the chain, the organisation, the
/// sequence number, the previous link's hash and the row's content as a JSON array (whose
/// serialisation of strings, integers and nulls is deterministic). The content is serialised
/// straight into the hash — a [`Json`] array or a tuple of the same parts give the same bytes —
/// so that the writer's hot path builds no JSON values and no text for it.
pub fn link(
    chain: Chain,
    organisation_id: i64,
    seq: i64,
    prev_hash: &str,
    content: &impl Serialize,
) -> String {
    let mut digest = Sha256::new()
        .chain_update(b"labhook.records.v1\n")
        .chain_update(chain.as_str().as_bytes())
        .chain_update(format!("\n{organisation_id}\n{seq}\n{prev_hash}\n").as_bytes());
    serde_json::to_writer(Hashing(&mut digest), content)
        .expect("BUG: a link's content is plain data that always serialises");
    hex::encode(digest.finalize())
}

/// Bytes written into a running SHA-256.
struct Hashing<'a>(&'a mut Sha256);

impl std::io::Write for Hashing<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An audit entry's content, from its columns as stored. The reason given for a change is its
/// ninth part when there is one, and absent (not null) otherwise: entries written before reasons
/// existed keep their hashes.
#[allow(clippy::too_many_arguments)]
pub fn audit_content(
    actor_id: Option<i64>,
    actor_name: &str,
    at: i64,
    kind: &str,
    action: &str,
    subject: &str,
    before: Option<&str>,
    after: Option<&str>,
    reason: Option<&str>,
) -> Json {
    let mut content = json!([actor_id, actor_name, at, kind, action, subject, before, after]);
    if let (Some(reason), Json::Array(parts)) = (reason, &mut content) {
        parts.push(reason.into());
    }
    content
}

/// A delivery attempt's content: delivery id, number, started at, duration (ms), request
/// headers, SHA-256 of the request body, response status, headers and body, error kind and
/// message — serialised as a JSON array. What Labhook later notes about a reply it wrote back
/// (`reply_outcome`, `reply_message`) is not part of it: it is not what was sent or received.
pub type AttemptContent<'a> = (
    i64,
    i64,
    i64,
    i64,
    &'a str,
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// Links handed out, by organisation, in the order of the contents given.
pub(crate) type Reserved = BTreeMap<i64, Vec<Link>>;

/// Takes the next links of each organisation's chain for `contents` (in their order), and
/// moves the heads past them. The heads' rows stay locked until the transaction ends, so that
/// concurrent writers (other instances, the command line) append after each other, never
/// beside each other. Organisations are locked in id order: two batches never wait on each
/// other crosswise.
pub(crate) async fn reserve<C: Serialize>(
    conn: &mut Conn,
    chain: Chain,
    contents: &BTreeMap<i64, Vec<C>>,
) -> Result<Reserved> {
    let mut reserved = Reserved::new();
    if contents.is_empty() {
        return Ok(reserved);
    }
    let orgs: Vec<i64> = contents.keys().copied().collect();
    let heads: Vec<(i64, i64, String)> = match conn.split() {
        db::Split::Sqlite(db) => {
            // One writer: nobody appends in between.
            let mut heads = Vec::with_capacity(orgs.len());
            for &org in &orgs {
                let head: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, head FROM record_chains WHERE organisation_id = $1 AND chain = $2",
                )
                .bind(org)
                .bind(chain.as_str())
                .fetch_optional(&mut *db)
                .await
                .context("reading a chain's head")?;
                let (seq, head) = head.unwrap_or((0, GENESIS.to_owned()));
                heads.push((org, seq, head));
            }
            heads
        }
        db::Split::Postgres(db) => {
            sqlx::query(
                "INSERT INTO record_chains (organisation_id, chain, seq, head)
                 SELECT o, $2, 0, $3 FROM UNNEST($1::bigint[]) AS o ON CONFLICT DO NOTHING",
            )
            .bind(&orgs)
            .bind(chain.as_str())
            .bind(GENESIS)
            .execute(&mut *db)
            .await
            .context("starting chains")?;
            sqlx::query_as(
                "SELECT organisation_id, seq, head FROM record_chains
                 WHERE organisation_id = ANY($1) AND chain = $2
                 ORDER BY organisation_id FOR UPDATE",
            )
            .bind(&orgs)
            .bind(chain.as_str())
            .fetch_all(&mut *db)
            .await
            .context("locking chains' heads")?
        }
    };
    for (org, mut seq, mut head) in heads {
        let links: Vec<Link> = contents[&org]
            .iter()
            .map(|content| {
                seq += 1;
                let hash = link(chain, org, seq, &head, content);
                let prev_hash = std::mem::replace(&mut head, hash.clone());
                Link {
                    seq,
                    prev_hash,
                    hash,
                }
            })
            .collect();
        reserved.insert(org, links);
    }
    for (&org, links) in &reserved {
        let Some(last) = links.last() else { continue };
        crate::db::with_db!(conn, db => sqlx::query(
            "INSERT INTO record_chains (organisation_id, chain, seq, head) VALUES ($1, $2, $3, $4)
             ON CONFLICT (organisation_id, chain) DO UPDATE SET seq = excluded.seq, head = excluded.head",
        )
        .bind(org)
        .bind(chain.as_str())
        .bind(last.seq)
        .bind(&last.hash)
        .execute(db)
        .await
        .map(crate::db::Done::from))
        .context("moving a chain's head")?;
    }
    Ok(reserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_depends_on_every_part() {
        let content = json!([1, "a", null]);
        let base = link(Chain::Audit, 1, 1, GENESIS, &content);
        assert_eq!(base.len(), 64);
        assert_eq!(base, link(Chain::Audit, 1, 1, GENESIS, &content));
        assert_ne!(base, link(Chain::Deliveries, 1, 1, GENESIS, &content));
        assert_ne!(base, link(Chain::Audit, 2, 1, GENESIS, &content));
        assert_ne!(base, link(Chain::Audit, 1, 2, GENESIS, &content));
        assert_ne!(base, link(Chain::Audit, 1, 1, &base, &content));
        assert_ne!(
            base,
            link(Chain::Audit, 1, 1, GENESIS, &json!([1, "a", ""]))
        );
        assert_ne!(
            base,
            link(Chain::Audit, 1, 1, GENESIS, &json!([1, "b", null]))
        );
    }

    #[test]
    fn the_canonical_form_is_fixed() {
        // A known answer: changing the canonical form breaks every stored chain.
        let content = audit_content(
            Some(7),
            "Ana",
            1_700_000_000_000,
            "settings",
            "enabled",
            "Webhooks",
            None,
            Some("{\"on\":true}"),
            None,
        );
        assert_eq!(
            content.to_string(),
            r#"[7,"Ana",1700000000000,"settings","enabled","Webhooks",null,"{\"on\":true}"]"#
        );
        let hash = link(Chain::Audit, 3, 1, GENESIS, &content);
        let again = {
            let mut h = Sha256::new();
            h.update(format!(
                "labhook.records.v1\naudit\n3\n1\n{GENESIS}\n{content}"
            ));
            hex::encode(h.finalize())
        };
        assert_eq!(hash, again);
    }

    #[test]
    fn a_tuple_hashes_as_its_json_array() {
        let attempt: AttemptContent = (
            7,
            1,
            1_700_000_000_000,
            12,
            "{\"webhook-id\":\"msg_1\"}",
            Some("ab"),
            None,
            Some("{}"),
            Some("caf\u{e9} \"ok\"\n"),
            None,
            None,
        );
        let array = serde_json::to_value(attempt).unwrap();
        assert!(array.is_array());
        assert_eq!(
            link(Chain::Deliveries, 1, 2, GENESIS, &attempt),
            link(Chain::Deliveries, 1, 2, GENESIS, &array)
        );
    }

    #[test]
    fn a_reason_is_the_ninth_part_only_when_given() {
        let with = |reason| {
            audit_content(
                Some(7),
                "Ana",
                1,
                "settings",
                "enabled",
                "Webhooks",
                None,
                None,
                reason,
            )
        };
        assert_eq!(with(None).as_array().unwrap().len(), 8);
        assert_eq!(
            with(Some("CAPA-112")).to_string(),
            r#"[7,"Ana",1,"settings","enabled","Webhooks",null,null,"CAPA-112"]"#
        );
    }
}
