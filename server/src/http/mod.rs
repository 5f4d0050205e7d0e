//! The HTTP side of the backend: session handling shared with the UI, the JSON APIs, and the
//! mapping of [`crate::Error`] to HTTP responses.

pub mod browser;
pub mod error;
pub mod ingest;
pub mod session;

use axum::{
    extract::State,
    http::StatusCode,
    response::IntoResponse,
    routing::{get, post},
    Json, Router,
};

use crate::{health, AppState};

/// Liveness: the process serves, and its dispatcher has not been stuck for minutes.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if health::alive(&state) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "the dispatcher stopped")
    }
}

/// Readiness: the database answers and the dispatcher goes round.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let report = health::readiness(&state).await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// The backend's own routes (everything that is not a page or a server function).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/api/v1/devices/{device_id}/data_points",
            post(ingest::post_data_points),
        )
        .with_state(state)
}
