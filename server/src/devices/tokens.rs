//! Bearer tokens that devices and connectors present to the ingest API. Created by an org
//! admin, shown once, stored as a SHA-256 hash, revocable.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

use crate::db::{shared::News, Conn, Pool};

use serde_json::json;

use super::organisation_device;
use crate::{
    audit::{self, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    domain::parse_name,
    AppState, Error, Result,
};

const PREFIX: &str = "lhd_";

/// A token just created: the only time its secret exists outside the device.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub id: i64,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: i64,
    pub label: String,
    /// The first characters, enough to tell tokens apart.
    pub hint: String,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub async fn create(
    state: &AppState,
    admin: &CurrentUser,
    device_id: i64,
    label: &str,
) -> Result<CreatedToken> {
    let device = organisation_device(&state.pool, admin, device_id).await?;
    let label = parse_name("label", label, 80)?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hint = token[..PREFIX.len() + 6].to_owned();
    let admin = admin.clone();
    state
        .write(move |tx| {
            Box::pin(async move {
                let admin = &admin;
                let id = crate::db::with_db!(tx, db => sqlx::query_scalar(
        "INSERT INTO device_tokens (device_id, token_hash, hint, label, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(device.id)
    .bind(hash(&token))
    .bind(&hint)
    .bind(&label)
    .bind(now_ms())
    .bind(admin.id)
    .fetch_one(db)
    .await)?;
                audit::record_by(
                    &mut *tx,
                    admin,
                    Entry {
                        kind: AuditKind::Device,
                        action: "token created",
                        subject: device.name.clone(),
                        before: None,
                        after: Some(json!({ "label": label, "token": format!("{hint}…") })),
                    },
                )
                .await?;
                Ok(CreatedToken { id, token })
            })
        })
        .await
}

pub async fn list(pool: &Pool, admin: &CurrentUser, device_id: i64) -> Result<Vec<TokenInfo>> {
    let device = organisation_device(pool, admin, device_id).await?;
    Ok(crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT t.id, t.label, t.hint, t.created_at, u.name AS created_by, t.last_used_at, t.revoked_at
         FROM device_tokens t LEFT JOIN users u ON u.id = t.created_by
         WHERE t.device_id = $1 ORDER BY t.revoked_at IS NOT NULL, t.id DESC",
    )
    .bind(device.id)
    .fetch_all(db)
    .await)?)
}

pub async fn revoke(
    state: &AppState,
    admin: &CurrentUser,
    device_id: i64,
    token_id: i64,
) -> Result<()> {
    let device = organisation_device(&state.pool, admin, device_id).await?;
    let admin = admin.clone();
    // Other instances forget their cached tokens too.
    state.write_and_tell(News::Tokens, move |tx| Box::pin(async move {
    let admin = &admin;
    let revoked: Option<(String, String)> = crate::db::with_db!(tx, db => sqlx::query_as(
        "UPDATE device_tokens SET revoked_at = $1 WHERE id = $2 AND device_id = $3 AND revoked_at IS NULL
         RETURNING label, hint",
    )
    .bind(now_ms())
    .bind(token_id)
    .bind(device.id)
    .fetch_optional(db)
    .await)?;
    match revoked {
        Some((label, hint)) => {
            audit::record_by(
                &mut *tx,
                admin,
                Entry {
                    kind: AuditKind::Device,
                    action: "token revoked",
                    subject: device.name.clone(),
                    before: Some(json!({ "label": label, "token": format!("{hint}…") })),
                    after: None,
                },
            )
            .await?;
            Ok(())
        }
        None => {
            // Revoked already is fine; a token of another device is not found.
            let exists: Option<i64> =
                crate::db::with_db!(tx, db => sqlx::query_scalar("SELECT id FROM device_tokens WHERE id = $1 AND device_id = $2")
                    .bind(token_id)
                    .bind(device.id)
                    .fetch_optional(db)
                    .await)?;
            exists.map(|_| ()).ok_or_else(|| Error::not_found("Token"))
        }
    }
    })).await?;
    forget_cached_tokens(state);
    Ok(())
}

/// Checks a bearer token for a request about `device_id` and returns the token's id:
/// unknown or revoked token → 401; a valid token of another device of the same organisation
/// → 403; a device that does not exist (or belongs to another organisation) → 404.
/// Reads only: the ingest transaction records the token's use. Valid tokens are remembered
/// (see [`TokenCache`]), so that a device sending many small requests costs no lookup each.
pub async fn authenticate(state: &AppState, device_id: i64, token: Option<&str>) -> Result<i64> {
    let token = token
        .filter(|t| t.starts_with(PREFIX))
        .ok_or(Error::InvalidToken)?;
    let token_hash = hash(token);
    let cache = state.part(|_| TokenCache::default());
    if let Some((token_id, token_device)) = cache.get(&token_hash) {
        if token_device == device_id {
            return Ok(token_id);
        }
    }
    let generation = cache.generation();
    let pool = &state.pool;
    let row: Option<(i64, i64, i64, bool)> = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT t.id, t.device_id, d.organisation_id, d.archived_at IS NOT NULL FROM device_tokens t
         JOIN devices d ON d.id = t.device_id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(&token_hash)
    .fetch_optional(db)
    .await)?;
    let (token_id, token_device, organisation_id, archived) = row.ok_or(Error::InvalidToken)?;
    if archived && token_device == device_id {
        return Err(Error::forbidden(ARCHIVED));
    }
    if token_device != device_id {
        let same_org: Option<i64> = crate::db::with_db!(pool, db => sqlx::query_scalar("SELECT id FROM devices WHERE id = $1 AND organisation_id = $2")
                .bind(device_id)
                .bind(organisation_id)
                .fetch_optional(db)
                .await)?;
        return Err(match same_org {
            Some(_) => Error::forbidden("This token belongs to another device."),
            None => Error::not_found("Device"),
        });
    }
    cache.remember(generation, token_hash, token_id, token_device);
    Ok(token_id)
}

/// Of the tokens `ids`, those not revoked now, with when each was last noted as used: one
/// statement, in the caller's transaction. Ingest asks again inside its batch, whatever
/// [`authenticate`] found (and cached): a token revoked a moment ago — by another instance on
/// the same Postgres, say — stores nothing.
pub(crate) async fn still_valid(conn: &mut Conn, ids: &[i64]) -> Result<HashMap<i64, Option<i64>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let valid: Vec<(i64, Option<i64>)> = crate::db::with_db!(conn, db, engine => sqlx::query_as(&format!(
        "SELECT id, last_used_at FROM device_tokens WHERE id IN {ids1} AND revoked_at IS NULL",
        ids1 = crate::db::dialect::ids(engine, 1)))
    .bind(serde_json::to_string(&ids).expect("BUG: ids serialise"))
    .fetch_all(db)
    .await)?;
    Ok(valid.into_iter().collect())
}

/// A device token's last use is written at most this often: a device sending every few
/// milliseconds costs no write (and no WAL page) per request for it.
const LAST_USE_EVERY_MS: i64 = 60_000;

/// Notes when tokens were used (token → time), in the caller's transaction: only those whose
/// last noted use (`noted`, from [`still_valid`]) is older than [`LAST_USE_EVERY_MS`].
pub(crate) async fn note_use(
    conn: &mut Conn,
    used: &HashMap<i64, i64>,
    noted: &HashMap<i64, Option<i64>>,
) -> Result<()> {
    for (&token, &used_at) in used {
        let last = noted.get(&token).copied().flatten();
        if last.is_some_and(|t| used_at - t < LAST_USE_EVERY_MS) {
            continue;
        }
        crate::db::with_db!(conn, db, engine => sqlx::query(&format!("UPDATE device_tokens SET last_used_at = {} WHERE id = $2", crate::db::dialect::greater_of(engine, "COALESCE(last_used_at, 0)", "$1")))
            .bind(used_at)
            .bind(token)
            .execute(db)
            .await
            .map(crate::db::Done::from))?;
    }
    Ok(())
}

/// Why an archived device's token is refused.
pub(crate) const ARCHIVED: &str =
    "This device is archived and sends nothing; an organisation administrator can restore it.";

/// Tokens found valid, by hash: (token id, device id). Every revocation empties it, after its
/// transaction is committed; a lookup that started before a revocation does not put its
/// (maybe stale) answer back, thanks to the generation count. Other instances on the same
/// Postgres database say when they revoke (`db::shared::News::Tokens`), and ingest looks the
/// token up again in its transaction, so a token revoked elsewhere stores nothing.
#[derive(Debug, Default)]
pub struct TokenCache {
    inner: std::sync::Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    generation: u64,
    valid: HashMap<Vec<u8>, (i64, i64)>,
}

/// Enough for every device of a large lab; past it the cache starts afresh.
const CACHE_SIZE: usize = 10_000;

impl TokenCache {
    fn get(&self, token_hash: &[u8]) -> Option<(i64, i64)> {
        self.lock().valid.get(token_hash).copied()
    }

    fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn remember(&self, generation: u64, token_hash: Vec<u8>, token_id: i64, device_id: i64) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.valid.len() >= CACHE_SIZE {
            inner.valid.clear();
        }
        inner.valid.insert(token_hash, (token_id, device_id));
    }

    fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.valid.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // The map is valid whatever a panicking holder did: it only ever grows or empties.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Forgets every token found valid (a revocation, an archived device): the next request of
/// each is looked up again.
pub(crate) fn forget_cached_tokens(state: &AppState) {
    state.part(|_| TokenCache::default()).forget_all();
}
