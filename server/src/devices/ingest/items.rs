//! The shape of data points as devices send them — and as receivers' replies carry them: a
//! JSON list of `{"channel": "…", "value": …, "timestamp"?: …}` objects. Values are checked
//! later, against the device's channels.

use serde_json::Value as Json;

use super::{RawPoint, MAX_POINTS_PER_REQUEST};
use crate::{Error, FieldError, Result};

/// The body's shape: a list of `{channel, timestamp?, value}` objects.
pub fn parse_items(json: Json) -> Result<Vec<RawPoint>> {
    let Json::Array(items) = json else {
        return Err(Error::invalid(
            "/",
            "The body must be a JSON list of data points: [{\"channel\": \"…\", \"value\": …}].",
        ));
    };
    if items.len() > MAX_POINTS_PER_REQUEST {
        return Err(Error::TooLarge(format!(
            "At most {} data points per request; this one has {}.",
            MAX_POINTS_PER_REQUEST,
            items.len()
        )));
    }
    let mut points = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let Json::Object(mut obj) = item else {
            problems.push(FieldError::new(
                format!("/{i}"),
                format!("Item {i} must be an object."),
            ));
            continue;
        };
        let channel = match obj.remove("channel") {
            Some(Json::String(c)) => c,
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
