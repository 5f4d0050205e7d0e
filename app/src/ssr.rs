//! Server-only helpers for the server functions: the shared state and the caller.

use axum::Extension;
use leptos::prelude::use_context;
use server::{auth::CurrentUser, http::session::Caller, AppState};

use crate::errors::AppError;

/// The backend's state, provided to every request by the binary.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the Leptos context");
        AppError::Internal
    })
}

/// The signed-in user making this call; every server function that touches data starts here.
pub async fn caller() -> Result<CurrentUser, AppError> {
    let Extension(Caller(user)) =
        leptos_axum::extract::<Extension<Caller>>()
            .await
            .map_err(|e| {
                tracing::error!(error = ?e, "session middleware did not run");
                AppError::Internal
            })?;
    user.ok_or_else(|| server::Error::Unauthenticated.into())
}

/// The signed-in user making a change, giving `reason` for it (blank is none: the server
/// refuses the change if the organisation requires one).
pub async fn changer(reason: Option<String>) -> Result<CurrentUser, AppError> {
    let reason = server::domain::Reason::parse_optional("reason", reason.as_deref())?;
    Ok(caller().await?.because(reason))
}

/// The address of the client making this call (its proxy's word for it behind a trusted
/// proxy), for per-address limits.
pub async fn client_address(state: &AppState) -> Option<std::net::IpAddr> {
    let headers: http::HeaderMap = leptos_axum::extract().await.ok()?;
    let peer = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|axum::extract::ConnectInfo(peer)| peer);
    server::http::session::client_address(&headers, peer, &state.config)
}
