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

/// Signs the heads that moved, as one writer job (housekeeping's hourly step, and before
/// retention removes anything).
pub async fn checkpoint(state: &AppState) -> Result<Checkpointed> {
    let key = RecordsKey::of(&state.secrets);
    state
        .write(move |conn| Box::pin(async move { sign_heads(conn, &key, false).await }))
        .await
}

/// Signs every head now, from the command line (`labhook sign-records`), in a transaction of
/// its own beside a running server.
pub async fn checkpoint_all(pool: &Pool, key: &RecordsKey) -> Result<Checkpointed> {
    let mut tx = pool.begin_write().await.context("starting a transaction")?;
    let done = sign_heads(&mut tx, key, true).await?;
    tx.commit().await.context("committing the checkpoints")?;
    Ok(done)
}

/// Signs every chain head that moved since its last checkpoint (all of them when `always`).
/// One statement reads the heads; bounded by the number of organisations.
pub async fn sign_heads(conn: &mut Conn, key: &RecordsKey, always: bool) -> Result<Checkpointed> {
    let heads: Vec<(i64, String, i64, String)> = crate::db::with_db!(conn, db => sqlx::query_as(
        "SELECT c.organisation_id, c.chain, c.seq, c.head FROM record_chains c
         WHERE $1 OR NOT EXISTS (SELECT 1 FROM record_checkpoints k
                                 WHERE k.organisation_id = c.organisation_id
                                   AND k.chain = c.chain AND k.seq = c.seq AND k.head = c.head)
         ORDER BY c.organisation_id, c.chain",
    )
    .bind(always)
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
    Ok(Checkpointed {
        signed: heads.len(),
    })
}
