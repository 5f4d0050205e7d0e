//! `GET /api/v1/devices/{device_id}/channels/{name}`: a device (its token) reads the latest
//! value of one of its own channels, or with `?after=<time>&wait=<seconds>` waits for the next
//! one (204 when none came in time). Errors as the ingest API's: 401, 403, 404, 400.

use std::time::Duration;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use super::ingest::AuthenticatedDevice;
use crate::{
    devices::{ingest, readback},
    AppState, Error,
};

#[derive(Debug, serde::Deserialize)]
pub struct ReadQuery {
    /// Milliseconds since 1970 or RFC 3339: answer only a value newer than this.
    after: Option<String>,
    /// Seconds to wait for it (0–60; default 0).
    wait: Option<String>,
}

fn bad(message: String) -> Error {
    Error::BadRequest {
        code: "bad_parameter",
        message,
    }
}

fn parse_after(raw: &str) -> Result<i64, Error> {
    raw.parse::<i64>()
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(raw)
                .ok()
                .map(|t| t.timestamp_millis())
        })
        .ok_or_else(|| {
            bad(format!(
                "`after` must be milliseconds since 1970 or an RFC 3339 time; `{raw}` is neither."
            ))
        })
}

pub async fn get_channel(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    Path((_, name)): Path<(String, String)>,
    Query(q): Query<ReadQuery>,
) -> Result<Response, Error> {
    ingest::admit(&state, device.token_id)?;
    let wait = match q.wait.as_deref() {
        None => Duration::ZERO,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .filter(|w| *w <= readback::MAX_WAIT)
            .ok_or_else(|| {
                bad(format!(
                    "`wait` is a number of seconds from 0 to {}; `{raw}` is not.",
                    readback::MAX_WAIT.as_secs()
                ))
            })?,
    };
    let Some(after) = q.after.as_deref().map(parse_after).transpose()? else {
        if !wait.is_zero() {
            return Err(bad(
                "`wait` needs `after`: the time of the value you have (its `timestamp_ms`).".into(),
            ));
        }
        let latest = readback::latest(&state, device.device_id, &name).await?;
        return Ok(Json(latest).into_response());
    };
    Ok(
        match readback::next_after(
            &state,
            device.device_id,
            device.token_id,
            &name,
            after,
            wait,
        )
        .await?
        {
            Some(next) => Json(next).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}
