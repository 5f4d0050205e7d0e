//! [`crate::Error`] as an HTTP response, in JSON:API's error format
//! (`{"errors": [{"status", "code", "title", "detail", "source"}]}`) like Laboperator's API.
//! Client errors say what is wrong; internal errors are logged and answered with a bare 500.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use crate::Error;

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated
            | Error::InvalidCredentials
            | Error::InvalidToken
            | Error::InvalidApiToken => StatusCode::UNAUTHORIZED,
            Error::TooManyAttempts { .. } | Error::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `Retry-After` in whole seconds (rounded up), for the errors that say when to come back.
    pub fn retry_after_header(&self) -> Option<HeaderValue> {
        let (Error::TooManyAttempts { retry_after }
        | Error::RateLimited { retry_after, .. }
        | Error::Busy { retry_after }) = self
        else {
            return None;
        };
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        HeaderValue::from_str(&secs.max(1).to_string()).ok()
    }

    /// A stable, machine-readable name for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::InvalidCredentials => "invalid_credentials",
            Error::InvalidToken => "invalid_token",
            Error::InvalidApiToken => "invalid_token",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::RateLimited { .. } => "rate_limited",
            Error::Busy { .. } => "busy",
            Error::BadRequest { code, .. } => code,
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Invalid(_) => "invalid",
            Error::TooLarge(_) => "too_large",
            Error::Conflict(_) => "conflict",
            Error::Internal(_) => "internal",
        }
    }
}

/// One JSON:API error object.
pub fn error_object(status: StatusCode, code: &str, detail: &str, field: Option<&str>) -> Value {
    let mut obj = json!({
        "status": status.as_u16().to_string(),
        "code": code,
        "title": status.canonical_reason().unwrap_or("Error"),
        "detail": detail,
    });
    if let Some(field) = field {
        obj["source"] = json!({ "parameter": field });
    }
    obj
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let errors: Vec<Value> = match &self {
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                vec![error_object(
                    status,
                    self.code(),
                    "Something went wrong on our side.",
                    None,
                )]
            }
            Error::Invalid(fields) => fields
                .iter()
                .map(|f| error_object(status, self.code(), &f.message, Some(&f.field)))
                .collect(),
            other => vec![error_object(status, self.code(), &other.to_string(), None)],
        };
        let mut res = (status, Json(json!({ "errors": errors }))).into_response();
        if let Some(v) = self.retry_after_header() {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}
