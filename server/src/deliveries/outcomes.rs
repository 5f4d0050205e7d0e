//! What came of a batch of attempts: each attempt written to the log as a link of its
//! organisation's deliveries chain (see [`crate::records`]) and its delivery's new state,
//! releasing the leases — one job of the writer for the whole batch.

use std::collections::{BTreeMap, HashMap};

use sqlx::QueryBuilder;

use crate::{
    db::{self, Conn},
    domain::delivery::DeliveryStatus,
    error::ResultExt,
    records::{self, AttemptContent, Chain, Link},
    Result,
};

/// One attempt as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt {
    /// 1-based.
    pub number: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub request_headers: String,
    /// SHA-256 (hex) of the body as sent; `None` when nothing was sent.
    pub request_body_sha256: Option<String>,
    pub response_status: Option<i64>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub error_kind: Option<&'static str>,
    pub error_message: Option<String>,
}

impl NewAttempt {
    fn content(&self, delivery_id: i64) -> AttemptContent<'_> {
        (
            delivery_id,
            self.number,
            self.started_at,
            self.duration_ms,
            &self.request_headers,
            self.request_body_sha256.as_deref(),
            self.response_status,
            self.response_headers.as_deref(),
            self.response_body.as_deref(),
            self.error_kind,
            self.error_message.as_deref(),
        )
    }
}

/// A delivery after an attempt: its new state, and the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub delivery_id: i64,
    pub status: DeliveryStatus,
    /// When to try again; `None` when it is final.
    pub next_attempt_at: Option<i64>,
    /// The summary the list shows: "timeout: …", "HTTP 500".
    pub last_error: Option<String>,
    pub attempt: NewAttempt,
}

/// An attempt with its organisation and its link, ready to be written.
struct Linked<'a> {
    finished: &'a Finished,
    organisation_id: i64,
    link: Link,
}

/// Writes attempts and their deliveries' new states, releasing the leases. A delivery deleted
/// meanwhile (with its subscription) is skipped: its outcome has nowhere to go.
pub async fn finish(conn: &mut Conn, finished: &[Finished], now: i64) -> Result<()> {
    for chunk in finished.chunks(200) {
        // The update says which deliveries are still there and whose they are (and, on
        // Postgres, locks them until the attempts are in).
        let owners: HashMap<i64, i64> = match conn.split() {
            db::Split::Sqlite(db) => update_sqlite(db, chunk, now).await?,
            db::Split::Postgres(db) => update_postgres(db, chunk, now).await?,
        }
        .into_iter()
        .collect();
        let mut contents: BTreeMap<i64, Vec<AttemptContent>> = BTreeMap::new();
        let kept: Vec<(&Finished, i64)> = chunk
            .iter()
            .filter_map(|f| owners.get(&f.delivery_id).map(|org| (f, *org)))
            .collect();
        for (f, org) in &kept {
            contents
                .entry(*org)
                .or_default()
                .push(f.attempt.content(f.delivery_id));
        }
        let mut links: BTreeMap<i64, std::vec::IntoIter<Link>> =
            records::reserve(conn, Chain::Deliveries, &contents)
                .await?
                .into_iter()
                .map(|(org, l)| (org, l.into_iter()))
                .collect();
        let linked: Vec<Linked> = kept
            .into_iter()
            .map(|(finished, org)| Linked {
                finished,
                organisation_id: org,
                link: links
                    .get_mut(&org)
                    .and_then(Iterator::next)
                    .expect("BUG: a link per attempt"),
            })
            .collect();
        if linked.is_empty() {
            continue;
        }
        match conn.split() {
            db::Split::Sqlite(db) => insert_sqlite(db, &linked).await?,
            db::Split::Postgres(db) => insert_postgres(db, &linked).await?,
        }
    }
    Ok(())
}

async fn update_sqlite(
    db: &mut sqlx::SqliteConnection,
    chunk: &[Finished],
    now: i64,
) -> Result<Vec<(i64, i64)>> {
    let mut update = QueryBuilder::new("WITH v(id, status, attempts, next_at, http, err, ms) AS (");
    update.push_values(chunk, |mut b, f| {
        b.push_bind(f.delivery_id)
            .push_bind(f.status.as_str())
            .push_bind(f.attempt.number)
            .push_bind(f.next_attempt_at)
            .push_bind(f.attempt.response_status)
            .push_bind(f.last_error.clone())
            .push_bind(f.attempt.duration_ms);
    });
    update.push(
        ") UPDATE deliveries SET status = v.status, attempts = v.attempts, next_attempt_at = v.next_at,
             lease_until = NULL, last_http_status = v.http, last_error = v.err, last_duration_ms = v.ms, updated_at = ",
    );
    update.push_bind(now);
    update.push(
        " FROM v WHERE deliveries.id = v.id
         RETURNING deliveries.id,
                   (SELECT s.organisation_id FROM subscriptions s WHERE s.id = deliveries.subscription_id)",
    );
    update
        .build_query_as()
        .fetch_all(&mut *db)
        .await
        .context("recording deliveries' new states")
}

async fn insert_sqlite(db: &mut sqlx::SqliteConnection, linked: &[Linked<'_>]) -> Result<()> {
    let mut insert = QueryBuilder::new(
        "INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, request_headers,
             request_body_sha256, response_status, response_headers, response_body, error_kind,
             error_message, organisation_id, seq, prev_hash, hash) ",
    );
    insert.push_values(linked, |mut b, l| {
        let (f, a) = (l.finished, &l.finished.attempt);
        b.push_bind(f.delivery_id)
            .push_bind(a.number)
            .push_bind(a.started_at)
            .push_bind(a.duration_ms)
            .push_bind(a.request_headers.clone())
            .push_bind(a.request_body_sha256.as_deref().map(bytes))
            .push_bind(a.response_status)
            .push_bind(a.response_headers.clone())
            .push_bind(a.response_body.clone())
            .push_bind(a.error_kind)
            .push_bind(a.error_message.clone())
            .push_bind(l.organisation_id)
            .push_bind(l.link.seq)
            .push_bind(bytes(&l.link.prev_hash))
            .push_bind(bytes(&l.link.hash));
    });
    insert
        .build()
        .execute(&mut *db)
        .await
        .context("recording attempts")?;
    Ok(())
}

/// [`update_sqlite`] with one array per column: one statement text for any number of rows
/// (see `db::dialect`, "Rows as arrays"). Planned for each batch (`persistent(false)`;
/// planning it is cheap): a plan cached while the deliveries table was small kept scanning
/// all of it for a hash join once it had grown (`auto_explain`: 5.8 ms for 24 rows among
/// 32,000), where each id is one index lookup.
async fn update_postgres(
    db: &mut sqlx::PgConnection,
    chunk: &[Finished],
    now: i64,
) -> Result<Vec<(i64, i64)>> {
    let ids: Vec<i64> = chunk.iter().map(|f| f.delivery_id).collect();
    sqlx::query_as(
        "UPDATE deliveries SET status = v.status, attempts = v.attempts, next_attempt_at = v.next_at,
             lease_until = NULL, last_http_status = v.http, last_error = v.err, last_duration_ms = v.ms,
             updated_at = $8
         FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[])
              AS v(id, status, attempts, next_at, http, err, ms)
         WHERE deliveries.id = v.id AND deliveries.id = ANY($1)
         RETURNING deliveries.id,
                   (SELECT s.organisation_id FROM subscriptions s WHERE s.id = deliveries.subscription_id)",
    )
    .persistent(false)
    .bind(&ids)
    .bind(chunk.iter().map(|f| f.status.as_str()).collect::<Vec<&str>>())
    .bind(chunk.iter().map(|f| f.attempt.number).collect::<Vec<i64>>())
    .bind(chunk.iter().map(|f| f.next_attempt_at).collect::<Vec<Option<i64>>>())
    .bind(chunk.iter().map(|f| f.attempt.response_status).collect::<Vec<Option<i64>>>())
    .bind(chunk.iter().map(|f| f.last_error.as_deref()).collect::<Vec<Option<&str>>>())
    .bind(chunk.iter().map(|f| f.attempt.duration_ms).collect::<Vec<i64>>())
    .bind(now)
    .fetch_all(&mut *db)
    .await
    .context("recording deliveries' new states")
}

async fn insert_postgres(db: &mut sqlx::PgConnection, linked: &[Linked<'_>]) -> Result<()> {
    let attempts = || linked.iter().map(|l| &l.finished.attempt);
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, request_headers,
             request_body_sha256, response_status, response_headers, response_body, error_kind,
             error_message, organisation_id, seq, prev_hash, hash)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                              $6::bytea[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[],
                              $12::bigint[], $13::bigint[], $14::bytea[], $15::bytea[])",
    )
    .bind(linked.iter().map(|l| l.finished.delivery_id).collect::<Vec<i64>>())
    .bind(attempts().map(|a| a.number).collect::<Vec<i64>>())
    .bind(attempts().map(|a| a.started_at).collect::<Vec<i64>>())
    .bind(attempts().map(|a| a.duration_ms).collect::<Vec<i64>>())
    .bind(attempts().map(|a| a.request_headers.as_str()).collect::<Vec<&str>>())
    .bind(attempts().map(|a| a.request_body_sha256.as_deref().map(bytes)).collect::<Vec<Option<Vec<u8>>>>())
    .bind(attempts().map(|a| a.response_status).collect::<Vec<Option<i64>>>())
    .bind(attempts().map(|a| a.response_headers.as_deref()).collect::<Vec<Option<&str>>>())
    .bind(attempts().map(|a| a.response_body.as_deref()).collect::<Vec<Option<&str>>>())
    .bind(attempts().map(|a| a.error_kind).collect::<Vec<Option<&str>>>())
    .bind(attempts().map(|a| a.error_message.as_deref()).collect::<Vec<Option<&str>>>())
    .bind(linked.iter().map(|l| l.organisation_id).collect::<Vec<i64>>())
    .bind(linked.iter().map(|l| l.link.seq).collect::<Vec<i64>>())
    .bind(linked.iter().map(|l| bytes(&l.link.prev_hash)).collect::<Vec<Vec<u8>>>())
    .bind(linked.iter().map(|l| bytes(&l.link.hash)).collect::<Vec<Vec<u8>>>())
    .execute(&mut *db)
    .await
    .context("recording attempts")?;
    Ok(())
}

/// A SHA-256 as the log stores it: its 32 bytes, not its 64 hex characters (migration 0024).
fn bytes(hex: &str) -> Vec<u8> {
    hex::decode(hex).expect("BUG: hashes are made here as hex")
}
