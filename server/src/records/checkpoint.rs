//! Signed checkpoints: each chain's head, signed with the records key, stored beside it. A
//! chain rewritten from some row on no longer meets the checkpoints after that row.

use super::{Chain, RecordsKey};
use crate::{
    clock::now_ms,
    db::{Conn, Pool},
    error::ResultExt,
    AppState, Result,
};

/// What a checkpoint's signature covers.
pub(crate) fn message(organisation_id: i64, chain: Chain, seq: i64, head: &str, at: i64) -> String {
    format!(
        "labhook.checkpoint.v1\n{organisation_id}\n{}\n{seq}\n{head}\n{at}",
        chain.as_str()
    )
}

/// How many chain heads were signed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    pub signed: usize,
}

/// How many heads one writer job signs at most: one signature and one insert each, so a
/// window stays well inside the writer's bound however many organisations there are.
const WINDOW: usize = 100;

/// Signs the heads that moved, in writer jobs of at most [`WINDOW`] heads (housekeeping's
/// hourly step, and before retention removes anything).
pub async fn checkpoint(state: &AppState) -> Result<Checkpointed> {
    let key = RecordsKey::of(&state.secrets);
    let mut done = Checkpointed::default();
    let mut after = Cursor::Start;
    loop {
        let key = key.clone();
        let from = after.clone();
        let (signed, next) = state
            .write(move |conn| {
                Box::pin(async move { sign_heads(conn, &key, false, &from, WINDOW).await })
            })
            .await?;
        done.signed += signed;
        match next {
            Some(next) => after = next,
            None => return Ok(done),
        }
    }
}

/// Signs every head now, from the command line (`labhook sign-records`), beside a running
/// server: a short transaction per window, so the server's writer never waits long.
pub async fn checkpoint_all(pool: &Pool, key: &RecordsKey) -> Result<Checkpointed> {
    let mut done = Checkpointed::default();
    let mut after = Cursor::Start;
    loop {
        let mut tx = pool.begin_write().await.context("starting a transaction")?;
        let (signed, next) = sign_heads(&mut tx, key, true, &after, WINDOW).await?;
        tx.commit().await.context("committing the checkpoints")?;
        done.signed += signed;
        match next {
            Some(next) => after = next,
            None => return Ok(done),
        }
    }
}

/// Where a window of heads starts: after the (organisation, chain) signed last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Start,
    After(i64, String),
}

/// Signs up to `limit` chain heads after `after` that moved since their last checkpoint (all
/// of them when `always`). Returns how many it signed and, when there may be more, where the
/// next window starts.
pub async fn sign_heads(
    conn: &mut Conn,
    key: &RecordsKey,
    always: bool,
    after: &Cursor,
    limit: usize,
) -> Result<(usize, Option<Cursor>)> {
    let (after_org, after_chain) = match after {
        Cursor::Start => (i64::MIN, String::new()),
        Cursor::After(org, chain) => (*org, chain.clone()),
    };
    let heads: Vec<(i64, String, i64, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT c.organisation_id, c.chain, c.seq, c.head FROM record_chains c
         WHERE (c.organisation_id > $2 OR (c.organisation_id = $2 AND c.chain > $3))
           AND ($1 OR NOT EXISTS (SELECT 1 FROM record_checkpoints k
                                  WHERE k.organisation_id = c.organisation_id
                                    AND k.chain = c.chain AND k.seq = c.seq AND k.head = c.head))
         ORDER BY c.organisation_id, c.chain
         LIMIT $4",
    )
    .bind(always)
    .bind(after_org)
    .bind(&after_chain)
    .bind(limit as i64)
    .fetch_all(db)
    .await)
    .context("reading the chains' heads")?;
    let at = now_ms();
    for (org, chain, seq, head) in &heads {
        let Some(chain) = Chain::parse(chain) else {
            continue;
        };
        let signature = key.sign(&message(*org, chain, *seq, head, at));
        crate::db::with_db!(conn, db => sqlx::query(
            "INSERT INTO record_checkpoints (organisation_id, chain, seq, head, at, signature)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org)
        .bind(chain.as_str())
        .bind(seq)
        .bind(head)
        .bind(at)
        .bind(signature)
        .execute(db)
        .await
        .map(crate::db::Done::from))
        .context("storing a checkpoint")?;
    }
    let next = (heads.len() == limit)
        .then(|| {
            heads
                .last()
                .map(|(org, chain, ..)| Cursor::After(*org, chain.clone()))
        })
        .flatten();
    Ok((heads.len(), next))
}
