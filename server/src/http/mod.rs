//! The HTTP side of the backend: session handling shared with the UI, the JSON APIs, and the
//! mapping of [`crate::Error`] to HTTP responses.

pub mod api_v2;
pub mod browser;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod readback;
pub mod records;
pub mod serve;
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

const HEALTHZ: &str = "/healthz";
const READYZ: &str = "/readyz";
const METRICS: &str = "/metrics";
const DATA_POINTS: &str = "/api/v1/devices/{device_id}/data_points";
const CHANNEL: &str = "/api/v1/devices/{device_id}/channels/{name}";

/// Every route of [`router`] (method, path) but the API v2's ([`api_v2::ROUTES`]): the
/// authorisation matrix test checks that it decides each one.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", HEALTHZ),
    ("GET", READYZ),
    ("GET", METRICS),
    ("POST", DATA_POINTS),
    ("GET", CHANNEL),
    ("GET", records::PAGE_EXPORT),
];

/// The backend's own routes (everything that is not a page or a server function).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(HEALTHZ, get(healthz))
        .route(READYZ, get(readyz))
        .route(METRICS, get(metrics::metrics))
        .route(DATA_POINTS, post(ingest::post_data_points))
        .route(CHANNEL, get(readback::get_channel))
        .route(records::PAGE_EXPORT, get(records::page_export))
        .merge(api_v2::router())
        .with_state(state)
}
