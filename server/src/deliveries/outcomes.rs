//! What came of a batch of attempts: each attempt written to the log and its delivery's new
//! state, releasing the leases — one job of the writer for the whole batch.

use sqlx::QueryBuilder;

use crate::{
    db::{self, Conn},
    domain::delivery::DeliveryStatus,
    error::ResultExt,
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
    pub response_status: Option<i64>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub error_kind: Option<&'static str>,
    pub error_message: Option<String>,
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

/// Writes attempts and their deliveries' new states, releasing the leases. A delivery deleted
/// meanwhile (with its subscription) is skipped: its outcome has nowhere to go.
pub async fn finish(conn: &mut Conn, finished: &[Finished], now: i64) -> Result<()> {
    for chunk in finished.chunks(200) {
        match conn.split() {
            db::Split::Sqlite(db) => finish_sqlite(db, chunk, now).await?,
            db::Split::Postgres(db) => finish_postgres(db, chunk, now).await?,
        }
    }
    Ok(())
}

async fn finish_sqlite(
    db: &mut sqlx::SqliteConnection,
    chunk: &[Finished],
    now: i64,
) -> Result<()> {
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
    update.push(" FROM v WHERE deliveries.id = v.id");
    update
        .build()
        .execute(&mut *db)
        .await
        .context("recording deliveries' new states")?;

    let mut insert = QueryBuilder::new(
        "WITH v(delivery_id, number, started_at, duration_ms, request_headers, response_status,
                response_headers, response_body, error_kind, error_message) AS (",
    );
    insert.push_values(chunk, |mut b, f| {
        let a = &f.attempt;
        b.push_bind(f.delivery_id)
            .push_bind(a.number)
            .push_bind(a.started_at)
            .push_bind(a.duration_ms)
            .push_bind(a.request_headers.clone())
            .push_bind(a.response_status)
            .push_bind(a.response_headers.clone())
            .push_bind(a.response_body.clone())
            .push_bind(a.error_kind)
            .push_bind(a.error_message.clone());
    });
    insert.push(
        ") INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, request_headers,
             response_status, response_headers, response_body, error_kind, error_message)
         SELECT * FROM v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.delivery_id)",
    );
    insert
        .build()
        .execute(&mut *db)
        .await
        .context("recording attempts")?;
    Ok(())
}

/// [`finish_sqlite`] with one array per column: one statement text for any number of rows
/// (see `db::dialect`, "Rows as arrays"). Both statements are planned for each batch
/// (`persistent(false)`; planning them is cheap): a plan cached while the deliveries table
/// was small kept scanning all of it for a hash join once it had grown (`auto_explain`: 5.8 ms
/// for 24 rows among 32,000), where each id is one index lookup.
async fn finish_postgres(db: &mut sqlx::PgConnection, chunk: &[Finished], now: i64) -> Result<()> {
    let ids: Vec<i64> = chunk.iter().map(|f| f.delivery_id).collect();
    sqlx::query(
        "UPDATE deliveries SET status = v.status, attempts = v.attempts, next_attempt_at = v.next_at,
             lease_until = NULL, last_http_status = v.http, last_error = v.err, last_duration_ms = v.ms,
             updated_at = $8
         FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[])
              AS v(id, status, attempts, next_at, http, err, ms)
         WHERE deliveries.id = v.id AND deliveries.id = ANY($1)",
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
    .execute(&mut *db)
    .await
    .context("recording deliveries' new states")?;

    let attempts = || chunk.iter().map(|f| &f.attempt);
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, request_headers,
             response_status, response_headers, response_body, error_kind, error_message)
         SELECT v.* FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                                $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[])
              AS v(delivery_id, number, started_at, duration_ms, request_headers, response_status,
                   response_headers, response_body, error_kind, error_message)
         WHERE v.delivery_id IN (SELECT d.id FROM deliveries d WHERE d.id = ANY($1))",
    )
    .persistent(false)
    .bind(&ids)
    .bind(attempts().map(|a| a.number).collect::<Vec<i64>>())
    .bind(attempts().map(|a| a.started_at).collect::<Vec<i64>>())
    .bind(attempts().map(|a| a.duration_ms).collect::<Vec<i64>>())
    .bind(attempts().map(|a| a.request_headers.as_str()).collect::<Vec<&str>>())
    .bind(attempts().map(|a| a.response_status).collect::<Vec<Option<i64>>>())
    .bind(attempts().map(|a| a.response_headers.as_deref()).collect::<Vec<Option<&str>>>())
    .bind(attempts().map(|a| a.response_body.as_deref()).collect::<Vec<Option<&str>>>())
    .bind(attempts().map(|a| a.error_kind).collect::<Vec<Option<&str>>>())
    .bind(attempts().map(|a| a.error_message.as_deref()).collect::<Vec<Option<&str>>>())
    .execute(&mut *db)
    .await
    .context("recording attempts")?;
    Ok(())
}
