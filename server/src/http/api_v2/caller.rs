//! Who is calling the API: a personal API token (`Authorization: Bearer lhp_…`), checked on
//! every request (revoked, expired, or its user deactivated: 401 at once), then limited to
//! [`REQUESTS_PER_SECOND`] per token (429 with `Retry-After`).

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};

use super::document::ApiError;
use crate::{
    api_tokens::{self, ApiCaller},
    rate::KeyedLimit,
    AppState, Error,
};

/// Requests a second one token may make (bursts of five times as many pass).
pub const REQUESTS_PER_SECOND: u32 = 20;

/// The per-token limit, made once per server.
struct TokenLimit(KeyedLimit<i64>);

pub struct Caller(pub ApiCaller);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let caller = api_tokens::authenticate(state, bearer).await?;
        let limit = state.part(|_| {
            TokenLimit(KeyedLimit::per_second(
                REQUESTS_PER_SECOND,
                REQUESTS_PER_SECOND * 5,
            ))
        });
        limit.0.check(&caller.token_id).map_err(|retry_after| {
            ApiError(Error::RateLimited {
                message: format!(
                    "Too many requests with this API token (at most {REQUESTS_PER_SECOND} a second): try again shortly."
                ),
                retry_after,
            })
        })?;
        Ok(Caller(caller))
    }
}
