//! Writing outcomes down: each attempt, its delivery's new state — delivered, retrying at a
//! time, failed, cancelled — for a 410 Gone the subscription switched off, and the replies
//! of subscriptions that use them written back, in one transaction per batch.

use rand::Rng;

use super::{
    decide::{decide, Next},
    replies::{self, Answer, ReplyBudget, REPLY_BYTES_PER_JOB},
    sender::Attempt,
};
use crate::{
    audit::Actor,
    deliveries::outcomes::{self, Finished, NewAttempt},
    domain::{
        delivery::{in_plain_words, DeliveryStatus, InactiveReason},
        schedule::RetrySchedule,
    },
    subscriptions, AppState, Result,
};

/// One finished attempt, ready to be written down.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery_id: i64,
    pub subscription_id: i64,
    /// 1-based.
    pub number: i64,
    pub attempt: Attempt,
}

/// What recording did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// Subscriptions switched off after a 410 Gone.
    pub gone: usize,
    /// Replies whose data points were stored.
    pub replies_stored: usize,
    pub earliest_retry: Option<i64>,
}

/// Records a batch of outcomes as of `now` (retries are due from `now`): in writer jobs of at
/// most [`REPLY_BYTES_PER_JOB`] of answers each, so that a batch of large replies is not
/// written back in one long job.
#[tracing::instrument(skip_all, err, fields(outcomes = outcomes.len()))]
pub async fn record(
    state: &AppState,
    schedule: &RetrySchedule,
    outcomes: Vec<Outcome>,
    now: i64,
) -> Result<Recorded> {
    let mut summary = Recorded::default();
    for part in by_answer_bytes(outcomes) {
        let r = record_part(state, schedule, part, now).await?;
        summary.delivered += r.delivered;
        summary.retrying += r.retrying;
        summary.failed += r.failed;
        summary.cancelled += r.cancelled;
        summary.gone += r.gone;
        summary.replies_stored += r.replies_stored;
        summary.earliest_retry = match (summary.earliest_retry, r.earliest_retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(summary)
}

/// Splits outcomes into parts whose answers' bodies add up to at most [`REPLY_BYTES_PER_JOB`]
/// (a single larger one stays a part of its own), in order.
fn by_answer_bytes(outcomes: Vec<Outcome>) -> Vec<Vec<Outcome>> {
    let mut parts = vec![Vec::new()];
    let mut bytes = 0;
    for o in outcomes {
        let size = o.attempt.response.as_ref().map_or(0, |r| r.body.len());
        if bytes + size > REPLY_BYTES_PER_JOB && !parts.last().is_some_and(Vec::is_empty) {
            parts.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        parts.last_mut().expect("BUG: never empty").push(o);
    }
    parts
}

async fn record_part(
    state: &AppState,
    schedule: &RetrySchedule,
    outcomes: Vec<Outcome>,
    now: i64,
) -> Result<Recorded> {
    let mut summary = Recorded::default();
    let mut gone = Vec::new();
    let mut answers = Vec::new();
    let finished: Vec<Finished> = {
        let mut rng = rand::thread_rng();
        outcomes
            .into_iter()
            .map(|o| {
                let next = decide(
                    &o.attempt,
                    o.number as u32,
                    schedule,
                    rng.gen_range(-1.0..=1.0),
                );
                let (status, next_attempt_at) = match next {
                    Next::Delivered => {
                        summary.delivered += 1;
                        if let Some(r) = o.attempt.response.as_ref().filter(|r| !r.body.is_empty())
                        {
                            answers.push(Answer {
                                delivery_id: o.delivery_id,
                                number: o.number,
                                body: r.body.clone(),
                            });
                        }
                        (DeliveryStatus::Delivered, None)
                    }
                    Next::Retry(delay) => {
                        let at = now + delay.as_millis() as i64;
                        summary.retrying += 1;
                        summary.earliest_retry =
                            Some(summary.earliest_retry.map_or(at, |e| e.min(at)));
                        (DeliveryStatus::Retrying, Some(at))
                    }
                    Next::Failed => {
                        summary.failed += 1;
                        (DeliveryStatus::Failed, None)
                    }
                    Next::Gone => {
                        summary.failed += 1;
                        gone.push(o.subscription_id);
                        (DeliveryStatus::Failed, None)
                    }
                    Next::Cancelled => {
                        summary.cancelled += 1;
                        (DeliveryStatus::Cancelled, None)
                    }
                };
                if o.attempt.was_sent() {
                    metrics::histogram!("labhook_attempt_duration_seconds")
                        .record(o.attempt.duration.as_secs_f64());
                }
                metrics::counter!("labhook_deliveries_total", "outcome" => status.as_str())
                    .increment(1);
                finished(o, status, next_attempt_at)
            })
            .collect()
    };
    gone.sort_unstable();
    gone.dedup();
    let budget = ReplyBudget::of(state);
    let (switched_off, written_back) = state
        .write(move |conn| {
            Box::pin(async move {
                outcomes::finish(&mut *conn, &finished, now).await?;
                // The receiver does not want these webhooks any more.
                let mut n = 0;
                for subscription in gone {
                    if subscriptions::deactivate(
                        &mut *conn,
                        subscription,
                        InactiveReason::Gone,
                        Actor::System,
                    )
                    .await?
                    {
                        n += 1;
                    }
                }
                let written_back = replies::write_back(&mut *conn, &budget, answers, now).await?;
                Ok((n, written_back))
            })
        })
        .await?;
    summary.gone = switched_off;
    summary.replies_stored = written_back.stored;
    if written_back.stored > 0 {
        // Readers waiting for a value, and fan-out for the events the replies caused.
        crate::devices::readback::announcer(state)(&written_back.written);
        if written_back.events > 0 {
            state.events_added.notify_one();
        }
    }
    Ok(summary)
}

fn finished(o: Outcome, status: DeliveryStatus, next_attempt_at: Option<i64>) -> Finished {
    let a = o.attempt;
    let response_status = a.response.as_ref().map(|r| i64::from(r.status));
    let last_error = a
        .error
        .as_ref()
        .map(|(k, m)| in_plain_words(*k, m, &a.address))
        .or_else(|| {
            response_status
                .filter(|c| !(200..300).contains(c))
                .map(|c| format!("HTTP {c}"))
        });
    let (response_headers, response_body) = match a.response {
        Some(r) => (Some(r.headers), Some(r.body)),
        None => (None, None),
    };
    let (error_kind, error_message) = match a.error {
        Some((kind, message)) => (Some(kind.as_str()), Some(message)),
        None => (None, None),
    };
    Finished {
        delivery_id: o.delivery_id,
        status,
        next_attempt_at,
        last_error,
        attempt: NewAttempt {
            number: o.number,
            started_at: a.started_at,
            duration_ms: a.duration.as_millis() as i64,
            request_headers: a.request_headers,
            request_body_sha256: a.request_body_sha256,
            response_status,
            response_headers,
            response_body,
            error_kind,
            error_message,
        },
    }
}
