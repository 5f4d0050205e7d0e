//! A request's JSON:API document: its size, its `data` and `attributes`, and typed reads of
//! attributes whose wrong types are answered with a pointer to them.

use serde_json::{Map, Value};

use super::document::{bad_request, ApiError, ApiResult};
use crate::{domain::Reason, Error};

/// Largest request document accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A request's body, read up to [`MAX_BODY_BYTES`]; larger ones get a JSON:API 413.
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, ApiError> {
        axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map(Body)
            .map_err(|_| {
                ApiError(Error::TooLarge(format!(
                    "The request body is larger than {} KiB.",
                    MAX_BODY_BYTES / 1024
                )))
            })
    }
}

/// The `data` object of a request body: the reference's 400 when it is missing, 409 when its
/// `type` names another resource.
pub fn data_of(body: &[u8], kind: &str) -> ApiResult<Map<String, Value>> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        bad_request(
            "malformed_json",
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    let Some(Value::Object(data)) = doc.get("data") else {
        return Err(bad_request(
            "missing_data",
            "Missing `data` attribute at document's top level.",
        ));
    };
    if let Some(t) = data.get("type") {
        if t.as_str() != Some(kind) {
            return Err(ApiError(Error::Conflict(format!(
                "The `type` of `data` must be `{kind}`."
            ))));
        }
    }
    Ok(data.clone())
}

/// The reason a request gives for its change, as `meta.reason` at the document's top level (a
/// deletion or an action may send a body of only `{"meta": {"reason": "…"}}`). Required only
/// where the organisation requires reasons: `audit::record` refuses the change then.
pub fn reason_of(body: &[u8]) -> ApiResult<Option<Reason>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        bad_request(
            "malformed_json",
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    match doc.pointer("/meta/reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => Ok(Reason::parse_optional("reason", Some(raw))?),
        Some(_) => Err(ApiError(Error::invalid(
            "reason",
            "`meta.reason` must be text.",
        ))),
    }
}

/// The attributes of an action's optional body: none at all, `{}`, or a `data` document.
pub fn optional_attributes(body: &[u8], kind: &str) -> ApiResult<Map<String, Value>> {
    let empty = body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<Value>(body).is_ok_and(|v| v == Value::Object(Map::new()));
    if empty {
        return Ok(Map::new());
    }
    attributes_of(&data_of(body, kind)?)
}

/// The `attributes` of a request's `data` (an empty object when absent).
pub fn attributes_of(data: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    match data.get("attributes") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(a)) => Ok(a.clone()),
        Some(_) => Err(bad_request(
            "wrong_attributes",
            "`data.attributes` must be an object.",
        )),
    }
}

/// An attribute that must be a string when given.
pub fn string_attr(a: &Map<String, Value>, name: &str) -> ApiResult<Option<String>> {
    match a.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError(Error::invalid(name, "This must be a string."))),
    }
}

pub fn bool_attr(a: &Map<String, Value>, name: &str) -> ApiResult<Option<bool>> {
    match a.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError(Error::invalid(
            name,
            "This must be true or false.",
        ))),
    }
}

/// An id given as a number or a string (JSON:API ids are strings).
pub fn id_attr(a: &Map<String, Value>, name: &str) -> ApiResult<Option<i64>> {
    match a.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(Value::String(s)) if s.parse::<i64>().is_ok() => Ok(s.parse().ok()),
        Some(_) => Err(ApiError(Error::invalid(name, "This must be an id."))),
    }
}

/// A time attribute or parameter: RFC 3339, or milliseconds since the epoch.
pub fn parse_time(name: &str, raw: &str) -> ApiResult<i64> {
    if let Ok(ms) = raw.parse::<i64>() {
        // Years 1 to 9999, as RFC 3339 has them: arithmetic on the bounds cannot overflow.
        const EARLIEST: i64 = -62_135_596_800_000;
        const LATEST: i64 = 253_402_300_799_999;
        if !(EARLIEST..=LATEST).contains(&ms) {
            return Err(ApiError(Error::invalid(
                name,
                format!("`{raw}` milliseconds is outside the years 1 to 9999."),
            )));
        }
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError(Error::invalid(
                name,
                format!("`{raw}` is not a time: use RFC 3339 (2026-11-24T09:30:00Z) or milliseconds since 1970."),
            ))
        })
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn times_far_outside_the_calendar_are_refused() {
        assert!(matches!(
            parse_time("t", "1700000000000"),
            Ok(1_700_000_000_000)
        ));
        for raw in [
            "9223372036854775807",
            "-9223372036854775808",
            "253402300800000",
            "99999999999999999999",
        ] {
            let Err(ApiError(Error::Invalid(fields))) = parse_time("t", raw) else {
                panic!("{raw} was taken");
            };
            assert_eq!(fields[0].field, "t", "{raw}");
        }
    }

    #[test]
    fn a_body_needs_data_of_the_right_type() {
        assert!(data_of(
            br#"{"data": {"type": "webhook_subscription"}}"#,
            "webhook_subscription"
        )
        .is_ok());
        let Err(ApiError(e)) = data_of(br#"{"url": "x"}"#, "webhook_subscription") else {
            panic!()
        };
        assert_eq!(
            e.to_string(),
            "Missing `data` attribute at document's top level."
        );
        let Err(ApiError(e)) = data_of(br#"{"data": {"type": "device"}}"#, "webhook_subscription")
        else {
            panic!()
        };
        assert_eq!(e.status(), StatusCode::CONFLICT);
    }
}
