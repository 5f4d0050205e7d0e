//! The HTTP side of the backend: session handling shared with the UI, the JSON APIs, and the
//! mapping of [`crate::Error`] to HTTP responses.

pub mod error;
pub mod ingest;
pub mod session;

use axum::{
    routing::{get, post},
    Router,
};

use crate::AppState;

/// The backend's own routes (everything that is not a page or a server function).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/api/v1/devices/{device_id}/data_points",
            post(ingest::post_data_points),
        )
        .with_state(state)
}
