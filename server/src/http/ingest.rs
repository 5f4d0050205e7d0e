//! `POST /api/v1/devices/{device_id}/data_points`: the door real devices and connectors use.
//!
//! Bad input gets a precise JSON:API error and stores nothing: 401 wrong or revoked token,
//! 403 token of another device, 404 unknown device or channel, 422 wrong value type (naming the
//! item), 413 too many items or too large a body, 400 malformed JSON. Never a 500.

use axum::{
    body::{to_bytes, Body},
    extract::{FromRequestParts, Path, State},
    http::{header, request::Parts, StatusCode},
    Json,
};
use serde_json::Value as Json_;

use crate::{
    devices::{
        ingest::{self, Receipt},
        tokens,
    },
    AppState, Error,
};

/// Largest request body accepted: 1000 data points with generous text values fit.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long a client may take to send a request body.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn post_data_points(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    body: Body,
) -> Result<(StatusCode, Json<Receipt>), Error> {
    ingest::admit(&state, device.token_id)?;
    // A body trickled in a byte at a time cannot hold the connection and its buffer for ever.
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, to_bytes(body, MAX_BODY_BYTES)).await;
    let bytes = match read {
        Err(_) => {
            return Err(Error::BadRequest {
                code: "body_too_slow",
                message: format!(
                    "The request body did not arrive within {} s.",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            })
        }
        Ok(read) => read.map_err(|_| {
            Error::TooLarge(format!(
                "The request body is larger than {} KiB.",
                MAX_BODY_BYTES / 1024
            ))
        })?,
    };
    ingest::admit_bytes(&state, device.token_id, bytes.len())?;
    let json: Json_ = serde_json::from_slice(&bytes).map_err(|e| Error::BadRequest {
        code: "malformed_json",
        message: format!("The body is not valid JSON: {e}."),
    })?;
    let points = ingest::parse_items(json)?;
    let receipt = ingest::record(&state, device.device_id, Some(device.token_id), points).await?;
    Ok((StatusCode::ACCEPTED, Json(receipt)))
}

/// The device of the path, proven by its token (`Authorization: Bearer …`).
pub struct AuthenticatedDevice {
    pub device_id: i64,
    pub token_id: i64,
}

impl FromRequestParts<AppState> for AuthenticatedDevice {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        // The device's id among the path's parameters (a channel's name may follow it).
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::not_found("Device"))?;
        let device_id: i64 = params
            .iter()
            .find(|(k, _)| k == "device_id")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| Error::not_found("Device"))?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let token_id = tokens::authenticate(state, device_id, token).await?;
        Ok(Self {
            device_id,
            token_id,
        })
    }
}
