//! The one error type that crosses the wire between the server functions and the pages.
//! Each variant is something a page can show as it is; internal causes never get here.

use serde::{Deserialize, Serialize};
use server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};

/// A message that belongs beside one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMessage {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Your session has ended. Please sign in again.")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{}", .0.iter().map(|m| m.message.as_str()).collect::<Vec<_>>().join(" "))]
    Invalid(Vec<FieldMessage>),
    /// Any other refusal whose message is meant for the user as it is (wrong credentials, a
    /// conflict, too many attempts, too large).
    #[error("{0}")]
    Refused(String),
    /// The request itself was malformed (a crafted or outdated client).
    #[error("The request was not understood: {0}")]
    BadRequest(String),
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    #[error("Could not reach the server. Check your connection and try again.")]
    Unreachable,
}

impl AppError {
    /// The message for one field, when the error is about that field.
    pub fn field(&self, field: &str) -> Option<String> {
        match self {
            AppError::Invalid(list) => {
                let msgs: Vec<&str> = list
                    .iter()
                    .filter(|m| m.field == field)
                    .map(|m| m.message.as_str())
                    .collect();
                (!msgs.is_empty()).then(|| msgs.join(" "))
            }
            _ => None,
        }
    }

    /// Messages of fields the form does not show in place, plus non-field errors: what a form
    /// shows at its top. A field is shown in place when it is one of `shown` or below one
    /// (`headers.3.value` is below `headers`).
    pub fn general(&self, shown: &[&str]) -> Option<String> {
        let in_place = |field: &str| {
            shown.iter().any(|s| {
                field == *s
                    || field
                        .strip_prefix(s)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
        };
        match self {
            AppError::Invalid(list) => {
                let msgs: Vec<&str> = list
                    .iter()
                    .filter(|m| !in_place(&m.field))
                    .map(|m| m.message.as_str())
                    .collect();
                (!msgs.is_empty()).then(|| msgs.join(" "))
            }
            other => Some(other.to_string()),
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        // On the server this runs inside the request: a payload that cannot be read is the
        // client's mistake (400), not ours (server_fn's default is 500).
        #[cfg(feature = "ssr")]
        if matches!(
            value,
            ServerFnErrorErr::Args(_)
                | ServerFnErrorErr::MissingArg(_)
                | ServerFnErrorErr::Deserialization(_)
        ) {
            if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                res.set_status(http::StatusCode::BAD_REQUEST);
            }
        }
        match value {
            ServerFnErrorErr::Request(_) => AppError::Unreachable,
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => AppError::BadRequest(m),
            ServerFnErrorErr::Deserialization(_) | ServerFnErrorErr::Serialization(_) => {
                AppError::BadRequest("unexpected data".into())
            }
            _ => AppError::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
mod from_server {
    use super::{AppError, FieldMessage};

    /// The single mapping from the backend's errors to what a page may show. It also sets the
    /// HTTP status of the server function's response, so that logs and API clients see 401,
    /// 403, 404 or 422 rather than a blanket 500.
    impl From<server::Error> for AppError {
        fn from(e: server::Error) -> Self {
            if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                res.set_status(e.status());
                if let Some(retry_after) = e.retry_after_header() {
                    res.insert_header(http::header::RETRY_AFTER, retry_after);
                }
            }
            match e {
                server::Error::Unauthenticated => AppError::Unauthenticated,
                server::Error::Forbidden(m) => AppError::Forbidden(m),
                server::Error::NotFound(m) => AppError::NotFound(m),
                server::Error::BadRequest { message, .. } => AppError::BadRequest(message),
                server::Error::Invalid(fields) => AppError::Invalid(
                    fields
                        .into_iter()
                        .map(|f| FieldMessage {
                            field: f.field,
                            message: f.message,
                        })
                        .collect(),
                ),
                server::Error::Internal(cause) => {
                    tracing::error!(error = ?cause, "server function failed");
                    AppError::Internal
                }
                e @ (server::Error::InvalidCredentials
                | server::Error::InvalidToken
                | server::Error::InvalidApiToken
                | server::Error::TooManyAttempts { .. }
                | server::Error::RateLimited { .. }
                | server::Error::Busy { .. }
                | server::Error::TooLarge(_)
                | server::Error::Conflict(_)) => AppError::Refused(e.to_string()),
            }
        }
    }
}
