//! A receiver's reply written back ("Use the receiver's reply", issue 15): the data points
//! of a 2xx answer are stored on the device whose event was delivered, through the same
//! checks and trigger events as the ingest API — but only on channels an org admin marked
//! "may be written by replies", and never past a fixed depth of replies causing replies.
//!
//! [`record_replies`] runs inside the dispatcher's transaction that records the attempts, so
//! an attempt and what its reply stored are committed together or not at all.

use crate::db::Conn;
use serde_json::Value as Json;

use super::{batch::write_batch, parse_items, RawPoint, Receipt, Request};
use crate::{
    devices::{events::Cause, Channel, Device},
    Error, FieldError, Result,
};

/// How many replies deep a chain may go: a device's event (depth 0) may be answered, and
/// the events that answer causes (depth 1) too, and so on up to this depth; a reply to an
/// event this deep is not stored, and the attempt says why.
pub const MAX_CHAIN_DEPTH: i64 = 3;

/// Where a reply comes from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin {
    pub cause: Cause,
    /// Checked only: a test event's reply shows what it would store.
    pub dry_run: bool,
}

/// One receiver's reply, read from its answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The device whose event was delivered.
    pub device_id: i64,
    /// The subscription that received the event, and the depth the reply's events get.
    pub cause: Cause,
    pub points: Vec<RawPoint>,
    /// A test event's reply: checked, not stored.
    pub dry_run: bool,
}

impl Reply {
    /// Reads an answer's body: `Ok(None)` when there is nothing to use (an empty body or an
    /// empty list), else the data points of `{"data_points": [...]}`, or why it does not fit.
    pub fn parse_body(body: &str) -> std::result::Result<Option<Vec<RawPoint>>, String> {
        if body.trim().is_empty() {
            return Ok(None);
        }
        let shape = "expected {\"data_points\": [{\"channel\": \"…\", \"value\": …}]}";
        let json: Json = serde_json::from_str(body).map_err(|e| {
            if body.ends_with("(cut at 64 KiB)") {
                "The reply is larger than 64 KiB.".to_owned()
            } else {
                format!("The reply is not JSON ({e}); {shape}.")
            }
        })?;
        let Some(items) = json.get("data_points").filter(|_| json.is_object()) else {
            return Err(format!("The reply has no \"data_points\"; {shape}."));
        };
        let points =
            parse_items(items.clone()).map_err(|e| format!("The reply's data points: {e}"))?;
        Ok((!points.is_empty()).then_some(points))
    }
}

/// Stores the replies (each all or nothing, refused alone), in the caller's transaction, as of
/// `now`. Answers each one's receipt, or why it was refused.
pub async fn record_replies(
    conn: &mut Conn,
    replies: Vec<Reply>,
    now: i64,
) -> Result<Vec<Result<Receipt>>> {
    let mut results: Vec<Option<Result<Receipt>>> = Vec::with_capacity(replies.len());
    let mut requests = Vec::new();
    for reply in replies {
        if reply.cause.depth > MAX_CHAIN_DEPTH {
            results.push(Some(Err(Error::Conflict(format!(
                "The event answered was itself caused by {} replies in a row, the most Labhook follows (so that receivers cannot answer each other for ever).",
                MAX_CHAIN_DEPTH
            )))));
            continue;
        }
        results.push(None);
        requests.push(Request {
            device_id: reply.device_id,
            via_token: None,
            points: reply.points,
            now,
            reply: Some(Origin {
                cause: reply.cause,
                dry_run: reply.dry_run,
            }),
        });
    }
    let written = if requests.is_empty() {
        Vec::new()
    } else {
        write_batch(conn, requests).await?
    };
    let mut written = written.into_iter();
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| written.next().expect("BUG: one result per request")))
        .collect())
}

/// Whether a reply may write to this device at all, and to each channel it names.
pub(super) fn admissible(device: &Device, channels: &[Channel], request: &Request) -> Result<()> {
    if device.archived {
        return Err(Error::Conflict(format!(
            "{} is archived and takes no data.",
            device.name
        )));
    }
    let problems: Vec<FieldError> = request
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let c = channels.iter().find(|c| c.name == p.channel)?;
            (!c.reply_writable).then(|| {
                FieldError::new(
                    format!("/{i}/channel"),
                    format!(
                        "Item {i}: the channel {:?} does not accept replies (an organisation administrator can mark it \"May be written by replies\").",
                        c.name
                    ),
                )
            })
        })
        .take(20)
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_data_points_or_nothing() {
        assert!(Reply::parse_body("").unwrap().is_none());
        assert!(Reply::parse_body("  \n").unwrap().is_none());
        assert!(Reply::parse_body(r#"{"data_points": []}"#)
            .unwrap()
            .is_none());
        let points = Reply::parse_body(
            r#"{"data_points": [{"channel": "method", "value": "HPLC-17"}, {"channel": "volume", "value": 2.5, "timestamp": "2026-12-01T10:00:00Z"}]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].channel, "method");
        assert!(points[1].timestamp.is_some());
    }

    #[test]
    fn a_reply_that_does_not_fit_says_why() {
        assert!(Reply::parse_body("OK").unwrap_err().contains("not JSON"));
        assert!(Reply::parse_body(r#"{"ok": true}"#)
            .unwrap_err()
            .contains("no \"data_points\""));
        assert!(Reply::parse_body(r#"[{"channel": "a", "value": 1}]"#)
            .unwrap_err()
            .contains("no \"data_points\""));
        assert!(Reply::parse_body(r#"{"data_points": [{"value": 1}]}"#)
            .unwrap_err()
            .contains("needs \"channel\""));
        assert!(Reply::parse_body(r#"{"data_points": {"channel": "a"}}"#)
            .unwrap_err()
            .contains("must be a JSON list"));
        assert!(Reply::parse_body("{\"data_points\": [\n… (cut at 64 KiB)")
            .unwrap_err()
            .contains("larger than 64 KiB"));
    }
}
