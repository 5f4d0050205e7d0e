//! `POST /api/v1/devices/{device_id}/data_points`: the door real devices and connectors use.
//!
//! Bad input gets a precise JSON:API error and stores nothing: 401 wrong or revoked token,
//! 403 token of another device, 404 unknown device or channel, 422 wrong value type (naming the
//! item), 413 too many items or too large a body, 400 malformed JSON. Never a 500.

use axum::{
    body::{to_bytes, Body},
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::Value as Json_;

use super::error::error_response;
use crate::{
    devices::{
        ingest::{self, RawPoint},
        tokens,
    },
    AppState, Error, FieldError,
};

/// Largest request body accepted: 1000 data points with generous text values fit.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub async fn post_data_points(
    State(state): State<AppState>,
    Path(device_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(device_id) = device_id.parse::<i64>() else {
        return Error::not_found("Device").into_response();
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let token_id = match tokens::authenticate(&state, device_id, token).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return Error::TooLarge(format!(
                "The request body is larger than {} KiB.",
                MAX_BODY_BYTES / 1024
            ))
            .into_response()
        }
    };
    let json: Json_ = match serde_json::from_slice(&bytes) {
        Ok(j) => j,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                &format!("The body is not valid JSON: {e}."),
            )
        }
    };
    let points = match parse_points(json) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match ingest::record(&state, device_id, Some(token_id), points).await {
        Ok(receipt) => (StatusCode::ACCEPTED, Json(receipt)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The body's shape: a list of `{channel, timestamp?, value}` objects.
fn parse_points(json: Json_) -> Result<Vec<RawPoint>, Error> {
    let Json_::Array(items) = json else {
        return Err(Error::invalid(
            "/",
            "The body must be a JSON list of data points: [{\"channel\": \"…\", \"value\": …}].",
        ));
    };
    if items.len() > ingest::MAX_POINTS_PER_REQUEST {
        return Err(Error::TooLarge(format!(
            "At most {} data points per request; this one has {}.",
            ingest::MAX_POINTS_PER_REQUEST,
            items.len()
        )));
    }
    let mut points = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let Json_::Object(mut obj) = item else {
            problems.push(FieldError::new(
                format!("/{i}"),
                format!("Item {i} must be an object."),
            ));
            continue;
        };
        let channel = match obj.remove("channel") {
            Some(Json_::String(c)) => c,
            _ => {
                problems.push(FieldError::new(
                    format!("/{i}/channel"),
                    format!("Item {i} needs \"channel\": the channel's name."),
                ));
                continue;
            }
        };
        let Some(value) = obj.remove("value") else {
            problems.push(FieldError::new(
                format!("/{i}/value"),
                format!("Item {i} needs a \"value\"."),
            ));
            continue;
        };
        points.push(RawPoint {
            channel,
            timestamp: obj.remove("timestamp"),
            value,
        });
    }
    if problems.is_empty() {
        Ok(points)
    } else {
        problems.truncate(20);
        Err(Error::Invalid(problems))
    }
}
