//! `/metrics` in Prometheus' text format for the operator's monitoring: served only when the
//! operator set a token (`--metrics-token`), and only to requests that bring it as a bearer
//! token. The queue's depth and age are read at scrape time; everything else is counted where
//! it happens (`metrics::counter!` and friends, rendered by the exporter in `telemetry`).

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use crate::{clock::now_ms, deliveries::queue, telemetry, AppState};

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = state.config.metrics_token.as_deref() else {
        return (
            StatusCode::NOT_FOUND,
            "Metrics are not served: start the server with --metrics-token.",
        )
            .into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Digests compared: the time taken does not tell how much of the token was right.
    let matches = given.is_some_and(|g| Sha256::digest(g.trim()) == Sha256::digest(expected));
    if !matches {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "The metrics token is missing or wrong.",
        )
            .into_response();
    }
    let now = now_ms();
    match queue::depth(&state.pool, now).await {
        Ok((depth, oldest_due)) => {
            metrics::gauge!("labhook_queue_depth").set(depth as f64);
            let waiting = oldest_due.map_or(0, |at| (now - at).max(0));
            metrics::gauge!("labhook_oldest_due_seconds").set(waiting as f64 / 1000.0);
        }
        Err(e) => tracing::warn!(error = ?e, "reading the queue for /metrics failed"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::metrics().render(),
    )
        .into_response()
}
