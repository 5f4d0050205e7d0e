//! Personal API tokens for the HTTP API v2 ("My API tokens"). Each user creates and revokes
//! their own; an org admin sees and may revoke every token of the organisation. A token is
//! shown once and stored as a SHA-256 hash. It acts as its user — role and device access as
//! they are at the moment of each request, through the same services as the pages — limited
//! further by its scopes (Laboperator's `read`, `write`, `delete`) and its expiry.

use crate::db::Pool;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    audit::{self, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    domain::parse_name,
    AppState, Error, FieldError, Result,
};

const PREFIX: &str = "lhp_";
/// Longest lifetime a token may be given; tokens without an expiry need it said outright.
pub const MAX_DAYS: u32 = 366;
/// A token's last use is written at most this often (a busy script costs no write per call).
const LAST_USE_EVERY_MS: i64 = 60_000;

/// What a token may do, as Laboperator's OAuth scopes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Read,
    Write,
    Delete,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Delete => "delete",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// What the user asked for on "My API tokens".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenInput {
    pub label: String,
    pub scopes: Vec<String>,
    /// Days until it stops working; `None`: never (said outright in the form).
    pub expires_in_days: Option<u32>,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub label: String,
    /// The first characters, enough to tell tokens apart.
    pub hint: String,
    pub scopes: String,
    pub owner_id: i64,
    pub owner_name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The caller of an API request: the token's user, as every service sees a caller, and what
/// the token allows.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub user: CurrentUser,
    pub token_id: i64,
    scopes: Vec<Scope>,
}

impl ApiCaller {
    /// Refuses a request the token's scopes do not cover, in the reference's words.
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "Insufficient OAuth2 scope to perform this operation. Required: Access to this resource requires scope \"{}\".",
                scope.as_str()
            )))
        }
    }
}

/// A valid token with its user, as [`authenticate`] reads it.
#[derive(sqlx::FromRow)]
struct TokenOwner {
    token_id: i64,
    scopes: String,
    last_used_at: Option<i64>,
    #[sqlx(flatten)]
    user: CurrentUser,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Checks the form: a label, at least one known scope, an expiry within [`MAX_DAYS`].
fn validate(input: &TokenInput) -> Result<(String, Vec<Scope>, Option<u32>)> {
    let mut errors = Vec::new();
    let label = match parse_name("label", &input.label, 80) {
        Ok(l) => Some(l),
        Err(Error::Invalid(mut e)) => {
            errors.append(&mut e);
            None
        }
        Err(e) => return Err(e),
    };
    let mut scopes = Vec::new();
    for raw in &input.scopes {
        match Scope::parse(raw.trim()) {
            Some(s) if !scopes.contains(&s) => scopes.push(s),
            Some(_) => {}
            None => errors.push(FieldError::new(
                "scopes",
                format!("{raw:?} is not a scope: choose read, write or delete."),
            )),
        }
    }
    if input.scopes.is_empty() {
        errors.push(FieldError::new(
            "scopes",
            "Choose at least one scope (read, write, delete).",
        ));
    }
    scopes.sort();
    if let Some(days) = input.expires_in_days {
        if days == 0 || days > MAX_DAYS {
            errors.push(FieldError::new(
                "expires_in_days",
                format!("A token lasts 1 to {MAX_DAYS} days, or never expires."),
            ));
        }
    }
    match label {
        Some(label) if errors.is_empty() => Ok((label, scopes, input.expires_in_days)),
        _ => Err(Error::Invalid(errors)),
    }
}

/// Most tokens one person may have in use (not revoked, not expired): each has its own rate
/// limit, so more tokens must not mean more requests.
pub const MAX_ACTIVE_PER_USER: i64 = 20;

pub async fn create(
    state: &AppState,
    user: &CurrentUser,
    input: &TokenInput,
) -> Result<CreatedToken> {
    let (label, scopes, days) = validate(input)?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hint = token[..PREFIX.len() + 6].to_owned();
    let words: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let scopes = words.join(" ");
    let now = now_ms();
    let expires_at = days.map(|d| now + i64::from(d) * 86_400_000);
    let user = user.clone();
    state
        .write(move |tx| {
            Box::pin(async move {
                let active: i64 = crate::db::with_db!(tx, db => sqlx::query_scalar(
                    "SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > $2)",
                )
                .bind(user.id)
                .bind(now)
                .fetch_one(db)
                .await)?;
                if active >= MAX_ACTIVE_PER_USER {
                    return Err(Error::Conflict(format!(
                        "You have {active} API tokens in use, the most one person may have: revoke one you no longer need first."
                    )));
                }
                let id = crate::db::with_db!(tx, db => sqlx::query_scalar(
                    "INSERT INTO api_tokens (organisation_id, user_id, label, token_hash, hint, scopes,
                                             created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(user.organisation_id)
                .bind(user.id)
                .bind(&label)
                .bind(hash(&token))
                .bind(&hint)
                .bind(&scopes)
                .bind(now)
                .bind(expires_at)
                .fetch_one(db)
                .await)?;
                audit::record_by(
                    &mut *tx,
                    &user,
                    Entry {
                        kind: AuditKind::User,
                        action: "API token created",
                        subject: user.name.clone(),
                        before: None,
                        after: Some(json!({
                            "label": label, "token": format!("{hint}…"), "scopes": scopes,
                            "expires_at": expires_at.map(crate::clock::rfc3339),
                        })),
                    },
                )
                .await?;
                Ok(CreatedToken { id, token })
            })
        })
        .await
}

const SELECT: &str =
    "SELECT t.id, t.label, t.hint, t.scopes, t.user_id AS owner_id, u.name AS owner_name,
                             t.created_at, t.expires_at, t.last_used_at, t.revoked_at
                      FROM api_tokens t JOIN users u ON u.id = t.user_id";

/// The caller's own tokens, newest first, revoked ones last.
pub async fn list_mine(pool: &Pool, user: &CurrentUser) -> Result<Vec<TokenInfo>> {
    Ok(crate::db::with_db!(pool, db => sqlx::query_as(&format!(
        "{SELECT} WHERE t.user_id = $1 ORDER BY t.revoked_at IS NOT NULL, t.id DESC"
    ))
    .bind(user.id)
    .fetch_all(db)
    .await)?)
}

/// Every token of the organisation (org admins).
pub async fn list_organisation(pool: &Pool, admin: &CurrentUser) -> Result<Vec<TokenInfo>> {
    admin.require_org_admin()?;
    Ok(crate::db::with_db!(pool, db => sqlx::query_as(&format!(
        "{SELECT} WHERE t.organisation_id = $1 ORDER BY t.revoked_at IS NOT NULL, t.id DESC"
    ))
    .bind(admin.organisation_id)
    .fetch_all(db)
    .await)?)
}

/// Revokes one of the caller's tokens, or (org admins) any of the organisation's. A token of
/// someone else (or of another organisation) is "not found" to everyone else.
pub async fn revoke(state: &AppState, user: &CurrentUser, id: i64) -> Result<()> {
    let user = user.clone();
    state
        .write(move |tx| {
            Box::pin(async move {
                let row: Option<(String, String, String, Option<i64>)> = crate::db::with_db!(tx, db => sqlx::query_as(
                    "SELECT t.label, t.hint, u.name, t.revoked_at FROM api_tokens t
                     JOIN users u ON u.id = t.user_id
                     WHERE t.id = $1 AND t.organisation_id = $2 AND ($3 OR t.user_id = $4)",
                )
                .bind(id)
                .bind(user.organisation_id)
                .bind(user.is_org_admin())
                .bind(user.id)
                .fetch_optional(db)
                .await)?;
                let (label, hint, owner, revoked_at) =
                    row.ok_or_else(|| Error::not_found("API token"))?;
                if revoked_at.is_some() {
                    return Ok(());
                }
                crate::db::with_db!(tx, db => sqlx::query("UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3")
                    .bind(now_ms())
                    .bind(user.id)
                    .bind(id)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?;
                audit::record_by(
                    &mut *tx,
                    &user,
                    Entry {
                        kind: AuditKind::User,
                        action: "API token revoked",
                        subject: owner,
                        before: Some(json!({ "label": label, "token": format!("{hint}…") })),
                        after: None,
                    },
                )
                .await
            })
        })
        .await
}

/// Ends every token of a person (their password was reset, or they were deactivated), in the
/// caller's transaction: a token stands for its owner's password, not beside it. Answers how
/// many were still in use.
pub async fn revoke_all_of_user(conn: &mut crate::db::Conn, user_id: i64, now: i64) -> Result<u64> {
    Ok(crate::db::with_db!(conn, db => sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > $3)",
    )
    .bind(now)
    .bind(user_id)
    .bind(now)
    .execute(db)
    .await
    .map(crate::db::Done::from))?
    .rows_affected())
}

/// The caller behind `Authorization: Bearer …`: a known token, not revoked, not expired, of
/// a user who is not deactivated. Anything else is 401 with the reference's words.
pub async fn authenticate(state: &AppState, raw: Option<&str>) -> Result<ApiCaller> {
    let token = raw
        .filter(|t| t.starts_with(PREFIX))
        .ok_or(Error::InvalidApiToken)?;
    let now = now_ms();
    let row: Option<TokenOwner> = crate::db::with_db!(&state.pool, db => sqlx::query_as(
        "SELECT t.id AS token_id, t.scopes, t.last_used_at,
                u.id, u.organisation_id, o.name AS organisation_name, u.email, u.name, u.role
         FROM api_tokens t
         JOIN users u ON u.id = t.user_id
         JOIN organisations o ON o.id = u.organisation_id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.deactivated_at IS NULL",
    )
    .bind(hash(token))
    .bind(now)
    .fetch_optional(db)
    .await)?;
    let TokenOwner {
        token_id,
        scopes,
        last_used_at,
        user,
    } = row.ok_or(Error::InvalidApiToken)?;
    if last_used_at.is_none_or(|t| now - t >= LAST_USE_EVERY_MS) {
        state
            .write(move |tx| {
                Box::pin(async move {
                    crate::db::with_db!(tx, db => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(token_id)
                        .execute(db)
                        .await
                        .map(crate::db::Done::from))?;
                    Ok(())
                })
            })
            .await?;
    }
    Ok(ApiCaller {
        user,
        token_id,
        scopes: scopes.split(' ').filter_map(Scope::parse).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(label: &str, scopes: &[&str], days: Option<u32>) -> TokenInput {
        TokenInput {
            label: label.into(),
            scopes: scopes.iter().map(|s| (*s).into()).collect(),
            expires_in_days: days,
        }
    }

    #[test]
    fn a_token_needs_a_label_known_scopes_and_a_sane_expiry() {
        let ok = validate(&input(
            " LIMS deploy ",
            &["write", "read", "read"],
            Some(90),
        ))
        .unwrap();
        assert_eq!(
            ok,
            (
                "LIMS deploy".into(),
                vec![Scope::Read, Scope::Write],
                Some(90)
            )
        );
        let Err(Error::Invalid(errors)) = validate(&input("", &["admin"], Some(0))) else {
            panic!("refused")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["label", "scopes", "expires_in_days"]);
        assert!(validate(&input("x", &[], None)).is_err());
        assert!(validate(&input("x", &["read"], Some(MAX_DAYS + 1))).is_err());
    }
}
