//! Receivers' replies written back: in the transaction that records a batch of attempts, the
//! 2xx answers of subscriptions that use the reply are stored as data points on the device
//! whose event was delivered (see `devices::ingest::record_replies` for the rules), and each
//! attempt notes what became of its reply. A reply that does not fit changes nothing but
//! that note: the delivery still counts as delivered.
//!
//! Replies cause events that go to other subscriptions, whose replies cause more: what one
//! receiver can make Labhook write is bounded. One reply carries at most
//! [`MAX_POINTS_PER_REPLY`] data points, one subscription's replies store at most
//! [`REPLY_POINTS_PER_MINUTE`] a minute, and one writer job takes at most
//! [`REPLY_BYTES_PER_JOB`] of replies (the recorder splits its batches by it). A reply past
//! a limit is not stored, and its attempt says which limit and why — never silently.

use std::time::Duration;

use crate::db::Conn;

use crate::{
    auth::scope::OWNER_SEES_EVENT_DEVICE,
    devices::{
        events::Cause,
        ingest::{self, Reply},
        readback::Written,
    },
    error::ResultExt,
    rate::KeyedLimit,
    AppState, Result,
};

/// Most data points taken from one reply (a sample's information and its method need a few).
pub const MAX_POINTS_PER_REPLY: usize = 50;
/// Most data points one subscription's replies store per minute (bursts as large pass).
pub const REPLY_POINTS_PER_MINUTE: u32 = 600;
/// Most bytes of replies' bodies written back in one job of the writer.
pub const REPLY_BYTES_PER_JOB: usize = 256 * 1024;

/// The per-subscription budget of reply data points, kept for the life of the server.
pub(super) struct ReplyBudget(KeyedLimit<i64>);

impl ReplyBudget {
    pub(super) fn of(state: &AppState) -> std::sync::Arc<Self> {
        state.part(|_| {
            ReplyBudget(KeyedLimit::per_minute(
                REPLY_POINTS_PER_MINUTE,
                REPLY_POINTS_PER_MINUTE,
            ))
        })
    }

    /// Counts `points` of the subscription's replies; `Err(wait)` when they are past it.
    fn take(&self, subscription_id: i64, points: usize) -> std::result::Result<(), Duration> {
        self.0.check_n(&subscription_id, points as u32)
    }
}

/// A delivered attempt whose answer had a body.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub delivery_id: i64,
    pub number: i64,
    pub body: String,
}

/// What writing back did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct WrittenBack {
    /// Replies whose data points were stored.
    pub stored: usize,
    /// Trigger events those data points caused.
    pub events: usize,
    /// The channels written: (device id, channel name).
    pub written: Vec<Written>,
}

/// What an attempt's note says became of its reply.
enum Note {
    Stored(String),
    /// A test event's reply: checked, not stored.
    Checked(String),
    Refused(String),
}

#[derive(sqlx::FromRow)]
struct Context {
    delivery_id: i64,
    subscription_id: i64,
    test: bool,
    device_id: i64,
    device_name: String,
    chain_depth: i64,
    /// The subscription's owner may (still) see the device.
    allowed: bool,
}

/// Writes back the replies among `answers` (those of subscriptions that use the reply), in
/// the caller's transaction.
pub(super) async fn write_back(
    conn: &mut Conn,
    budget: &ReplyBudget,
    answers: Vec<Answer>,
    now: i64,
) -> Result<WrittenBack> {
    if answers.is_empty() {
        return Ok(WrittenBack::default());
    }
    let ids: Vec<i64> = answers.iter().map(|a| a.delivery_id).collect();
    // Access is checked now, not when the subscription was saved: an owner who lost the
    // device since writes nothing to it.
    let contexts: Vec<Context> = crate::db::with_db!(conn, db, engine => sqlx::query_as(&format!(
        "SELECT d.id AS delivery_id, s.id AS subscription_id, d.test, e.device_id,
                dv.name AS device_name, e.chain_depth,
                (dv.organisation_id = s.organisation_id AND {OWNER_SEES_EVENT_DEVICE}) AS allowed
         FROM deliveries d
         JOIN subscriptions s ON s.id = d.subscription_id
         JOIN events e ON e.id = d.event_id
         JOIN devices dv ON dv.id = e.device_id
         JOIN users u ON u.id = s.owner_id
         WHERE d.id IN {ids1} AND s.use_replies"
    , ids1 = crate::db::dialect::ids(engine, 1)))
    .bind(serde_json::to_string(&ids).expect("BUG: ids serialise"))
    .fetch_all(db)
    .await)
    .context("reading the replies' subscriptions")?;
    if contexts.is_empty() {
        return Ok(WrittenBack::default());
    }

    let mut notes: Vec<(i64, i64, Note)> = Vec::new();
    let mut replies: Vec<(i64, i64, Reply)> = Vec::new();
    for answer in answers {
        let Some(c) = contexts
            .iter()
            .find(|c| c.delivery_id == answer.delivery_id)
        else {
            continue;
        };
        let points = match Reply::parse_body(&answer.body) {
            Ok(Some(points)) => points,
            Ok(None) => continue,
            Err(why) => {
                notes.push((answer.delivery_id, answer.number, Note::Refused(why)));
                continue;
            }
        };
        if !c.allowed {
            let why = format!(
                "The subscription's owner has no access to {} any more.",
                c.device_name
            );
            notes.push((answer.delivery_id, answer.number, Note::Refused(why)));
            continue;
        }
        if points.len() > MAX_POINTS_PER_REPLY {
            let why = format!(
                "The reply carries {} data points; Labhook takes at most {MAX_POINTS_PER_REPLY} from one reply, so none were stored.",
                points.len()
            );
            notes.push((answer.delivery_id, answer.number, Note::Refused(why)));
            continue;
        }
        // A test event's reply is only checked: it costs nothing of the budget.
        if !c.test {
            if let Err(wait) = budget.take(c.subscription_id, points.len()) {
                let why = format!(
                    "This subscription's replies stored {REPLY_POINTS_PER_MINUTE} data points in the last minute, the most Labhook takes, so this one was not stored (there is room again in {} s).",
                    wait.as_secs().max(1)
                );
                notes.push((answer.delivery_id, answer.number, Note::Refused(why)));
                continue;
            }
        }
        let reply = Reply {
            device_id: c.device_id,
            cause: Cause {
                subscription_id: c.subscription_id,
                depth: c.chain_depth + 1,
            },
            points,
            dry_run: c.test,
        };
        replies.push((answer.delivery_id, answer.number, reply));
    }

    let mut done = WrittenBack::default();
    // What each note needs once its reply is written: (delivery, attempt, test, channels),
    // and the channels it would write.
    let keys: Vec<(i64, i64, bool, String)> = replies
        .iter()
        .map(|(delivery, number, r)| (*delivery, *number, r.dry_run, channels_of(r)))
        .collect();
    let touched: Vec<Vec<Written>> = replies
        .iter()
        .map(|(_, _, r)| {
            r.points
                .iter()
                .map(|p| (r.device_id, p.channel.clone()))
                .collect()
        })
        .collect();
    let replies: Vec<Reply> = replies.into_iter().map(|(_, _, r)| r).collect();
    let results = ingest::record_replies(&mut *conn, replies, now).await?;
    for (((delivery, number, dry_run, channels), written), result) in
        keys.into_iter().zip(touched).zip(results)
    {
        let note = match result {
            Ok(receipt) if dry_run => Note::Checked(format!(
                "A test event's reply is checked, not stored: it would store {} on {channels}.",
                points(receipt.accepted)
            )),
            Ok(receipt) => {
                done.stored += 1;
                done.events += receipt.event_ids.len();
                done.written.extend(written);
                metrics::counter!("labhook_reply_data_points_total")
                    .increment(receipt.accepted as u64);
                Note::Stored(format!(
                    "Stored {} on {channels} of the device.",
                    points(receipt.accepted)
                ))
            }
            Err(e) => Note::Refused(e.to_string()),
        };
        notes.push((delivery, number, note));
    }
    for (delivery, number, note) in notes {
        let (outcome, message) = match note {
            Note::Stored(m) => ("stored", m),
            Note::Checked(m) => ("checked", m),
            Note::Refused(m) => ("refused", m),
        };
        crate::db::with_db!(conn, db => sqlx::query(
            "UPDATE delivery_attempts SET reply_outcome = $1, reply_message = $2
             WHERE delivery_id = $3 AND number = $4",
        )
        .bind(outcome)
        .bind(message)
        .bind(delivery)
        .bind(number)
        .execute(db)
        .await
        .map(crate::db::Done::from))
        .context("noting what became of a reply")?;
    }
    Ok(done)
}

/// "sample_info and method": the channels a reply names, in its order, once each.
fn channels_of(reply: &Reply) -> String {
    let mut names: Vec<&str> = Vec::new();
    for p in &reply.points {
        if !names.contains(&p.channel.as_str()) {
            names.push(&p.channel);
        }
    }
    match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn points(n: usize) -> String {
    if n == 1 {
        "1 data point".into()
    } else {
        format!("{n} data points")
    }
}
