//! The body every delivery of an event carries: `{"type", "timestamp", "data"}` (Standard
//! Webhooks), `data` being the payload frozen when the event happened.

use crate::clock::rfc3339;

/// The webhook body of an event: `{"type", "timestamp", "data"}` (Standard Webhooks). The
/// stored payload is already JSON, so it is spliced in rather than parsed again: this runs for
/// every delivery. `event_type` and the timestamp never need escaping.
pub fn webhook_body(event_type: &str, occurred_at: i64, payload: &str) -> String {
    format!(
        r#"{{"type":"{event_type}","timestamp":"{}","data":{payload}}}"#,
        rfc3339(occurred_at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value as Json};

    #[test]
    fn the_body_is_valid_json_with_the_payload_inside() {
        let body = webhook_body(
            "channel.value_changed",
            1_795_512_600_250,
            r#"{"a":[1,"x"]}"#,
        );
        let v: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            json!({"type": "channel.value_changed", "timestamp": "2026-11-24T09:30:00.250Z", "data": {"a": [1, "x"]}})
        );
    }
}
