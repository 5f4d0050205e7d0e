//! The attributes of a `webhook_subscription` as integrators send them, read into the
//! subscription service's input: `triggers`, `trigger_options`, `headers` (see
//! [`super::subscriptions`] for the shapes).

use serde_json::{Map, Value};

use super::document::{bad_request, ApiError, ApiResult};
use crate::{
    domain::headers::RawHeader,
    subscriptions::{
        rules::{TriggerChoice, TriggerOptions},
        Subscription,
    },
    Error,
};

pub(super) fn triggers_of(a: &Map<String, Value>) -> ApiResult<Option<Vec<TriggerChoice>>> {
    let Some(raw) = a.get("triggers") else {
        return Ok(None);
    };
    let Value::Array(items) = raw else {
        return Err(ApiError(Error::invalid(
            "triggers",
            "`triggers` is a list such as [\"12:data_point.created\"].",
        )));
    };
    let mut triggers = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        let text = match item {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let (channel, event) = text
            .split_once(':')
            .unwrap_or((text.as_str(), "data_point.created"));
        let channel_id = channel.trim().parse().map_err(|_| {
            ApiError(Error::invalid(
                format!("triggers.{n}"),
                format!("{item} is not a trigger: write \"<channel id>:<event type>\", e.g. \"12:data_point.created\"."),
            ))
        })?;
        triggers.push(TriggerChoice {
            channel_id,
            event_type: event.trim().to_owned(),
        });
    }
    Ok(Some(triggers))
}

/// `{"12:channel.value_changed": {"dead_band": 0.5, "min_interval_seconds": 10}}`
pub(super) fn trigger_options_of(a: &Map<String, Value>) -> ApiResult<Option<Vec<TriggerOptions>>> {
    let Some(raw) = a.get("trigger_options") else {
        return Ok(None);
    };
    let shape = "`trigger_options` is an object such as {\"12:channel.value_changed\": {\"dead_band\": 0.5}}.";
    let Value::Object(items) = raw else {
        return Err(ApiError(Error::invalid("trigger_options", shape)));
    };
    let mut all = Vec::with_capacity(items.len());
    for (key, options) in items {
        let parsed = key.split_once(':').and_then(|(channel, event)| {
            let options = serde_json::from_value(options.clone()).ok()?;
            Some(TriggerOptions {
                channel_id: channel.trim().parse().ok()?,
                event_type: event.trim().to_owned(),
                options,
            })
        });
        all.push(
            parsed
                .ok_or_else(|| ApiError(Error::invalid(format!("trigger_options.{key}"), shape)))?,
        );
    }
    Ok(Some(all))
}

pub(super) fn headers_of(
    a: &Map<String, Value>,
    current: Option<&Subscription>,
) -> ApiResult<Option<Vec<RawHeader>>> {
    let Some(raw) = a.get("headers") else {
        return Ok(None);
    };
    let Value::Object(given) = raw else {
        return Err(ApiError(Error::invalid(
            "headers",
            "`headers` is an object such as {\"X-Lab\": \"QC\", \"X-Api-Key\": {\"value\": \"…\", \"secret\": true}}.",
        )));
    };
    let stored_secret = |name: &str| {
        current.is_some_and(|s| {
            s.headers
                .iter()
                .any(|h| h.secret && h.name.as_str().eq_ignore_ascii_case(name))
        })
    };
    let mut headers = Vec::with_capacity(given.len());
    for (name, value) in given {
        let header = match value {
            Value::String(v) => RawHeader {
                name: name.clone(),
                value: Some(v.clone()),
                secret: false,
            },
            Value::Object(o) => {
                let secret = o.get("secret").and_then(Value::as_bool).unwrap_or(false);
                match o.get("value") {
                    Some(Value::String(v)) => RawHeader {
                        name: name.clone(),
                        value: Some(v.clone()),
                        secret,
                    },
                    None | Some(Value::Null) if stored_secret(name) => RawHeader {
                        name: name.clone(),
                        value: None,
                        secret: true,
                    },
                    _ => {
                        return Err(ApiError(Error::invalid(
                            format!("headers.{name}"),
                            "Give the header's value: {\"value\": \"…\", \"secret\": true}.",
                        )))
                    }
                }
            }
            _ => {
                return Err(bad_request(
                    "wrong_header",
                    format!("The header {name:?} must be a string or {{\"value\": \"…\", \"secret\": true}}."),
                ))
            }
        };
        headers.push(header);
    }
    Ok(Some(headers))
}

/// The stored headers as the edit form keeps them: plain values as they are, secret ones kept.
pub(super) fn kept_headers(s: &Subscription) -> Vec<RawHeader> {
    s.headers
        .iter()
        .map(|h| RawHeader {
            name: h.name.as_str().to_owned(),
            value: (!h.secret).then(|| h.value.expose().to_owned()),
            secret: h.secret,
        })
        .collect()
}
