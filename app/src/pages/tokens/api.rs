//! What "My API tokens" reads and changes: thin doors onto `server::api_tokens`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Json;

use crate::errors::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTokenView {
    pub id: i64,
    pub label: String,
    /// The first characters, to tell tokens apart.
    pub hint: String,
    /// "read write delete"
    pub scopes: String,
    pub owner_name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTokensView {
    pub mine: Vec<ApiTokenView>,
    /// Every token of the organisation, for org admins.
    pub organisation: Option<Vec<ApiTokenView>>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApiTokenInput {
    pub label: String,
    pub scopes: Vec<String>,
    /// Days; `None`: never expires.
    pub expires_in_days: Option<u32>,
}

/// A token just made: shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub id: i64,
    pub token: String,
}

#[cfg(feature = "ssr")]
impl From<server::api_tokens::TokenInfo> for ApiTokenView {
    fn from(t: server::api_tokens::TokenInfo) -> Self {
        Self {
            id: t.id,
            label: t.label,
            hint: t.hint,
            scopes: t.scopes,
            owner_name: t.owner_name,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[server(endpoint = "api_tokens/list")]
pub async fn api_tokens() -> Result<ApiTokensView, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let mine = server::api_tokens::list_mine(&state.pool, &user).await?;
    let organisation = if user.is_org_admin() {
        Some(server::api_tokens::list_organisation(&state.pool, &user).await?)
    } else {
        None
    };
    Ok(ApiTokensView {
        mine: mine.into_iter().map(Into::into).collect(),
        organisation: organisation.map(|o| o.into_iter().map(Into::into).collect()),
        now: server::clock::now_ms(),
    })
}

#[server(endpoint = "api_tokens/create", input = Json)]
pub async fn create_api_token(
    input: NewApiTokenInput,
    reason: Option<String>,
) -> Result<NewApiToken, AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    let created = server::api_tokens::create(
        &state,
        &user,
        &server::api_tokens::TokenInput {
            label: input.label,
            scopes: input.scopes,
            expires_in_days: input.expires_in_days,
        },
    )
    .await?;
    Ok(NewApiToken {
        id: created.id,
        token: created.token,
    })
}

#[server(endpoint = "api_tokens/revoke")]
pub async fn revoke_api_token(id: i64, reason: Option<String>) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::api_tokens::revoke(&state, &user, id).await?;
    Ok(())
}
