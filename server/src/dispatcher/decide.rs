//! What an attempt's outcome means for its delivery: a pure function of the attempt, its
//! number and the retry schedule (the jitter passed in), so that every case is a row of a table
//! test.

use std::time::Duration;

use super::sender::Attempt;
use crate::domain::schedule::RetrySchedule;

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// A 2xx answer.
    Delivered,
    /// Try again after this delay.
    Retry(Duration),
    /// That was the last attempt of the schedule.
    Failed,
    /// The receiver answered 410 Gone: the delivery failed and the subscription is switched off.
    Gone,
    /// Not sent at all (the target lost its registration): stop, do not retry.
    Cancelled,
}

/// `number` is the attempt's number, 1-based; `jitter` a number in -1..=1.
pub fn decide(attempt: &Attempt, number: u32, schedule: &RetrySchedule, jitter: f64) -> Next {
    if attempt.succeeded() {
        return Next::Delivered;
    }
    if !attempt.was_sent() {
        return Next::Cancelled;
    }
    let response = attempt.response.as_ref();
    if response.is_some_and(|r| r.status == 410) {
        return Next::Gone;
    }
    let retry_after = response.and_then(|r| r.retry_after);
    match schedule.next_delay(number, retry_after, jitter) {
        Some(delay) => Next::Retry(delay),
        None => Next::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        dispatcher::sender::Response,
        domain::{delivery::ErrorKind, target_url::TargetUrl},
    };

    fn answered(status: u16, retry_after: Option<u64>) -> Attempt {
        Attempt {
            started_at: 0,
            duration: Duration::from_millis(3),
            request_headers: "{}".into(),
            request_body_sha256: None,
            response: Some(Response {
                status,
                headers: "{}".into(),
                body: String::new(),
                retry_after: retry_after.map(Duration::from_secs),
            }),
            error: (300..400)
                .contains(&status)
                .then(|| (ErrorKind::Redirect, "redirects are not followed".into())),
            address: "lims:80".into(),
        }
    }

    fn failed(kind: ErrorKind) -> Attempt {
        Attempt {
            started_at: 0,
            duration: Duration::from_secs(15),
            request_headers: "{}".into(),
            request_body_sha256: None,
            response: None,
            error: Some((kind, "…".into())),
            address: "lims:80".into(),
        }
    }

    #[test]
    fn every_outcome_leads_where_the_schedule_says() {
        let schedule = RetrySchedule::parse("0,5s,5m").unwrap();
        let unregistered =
            Attempt::not_sent(0, &TargetUrl::parse("https://lims.example.org/").unwrap());
        let secs = |s| Next::Retry(Duration::from_secs(s));
        #[rustfmt::skip]
        let table: Vec<(&str, Attempt, u32, f64, Next)> = vec![
            ("200",                          answered(200, None), 1, 0.0, Next::Delivered),
            ("204 on the last attempt",      answered(204, None), 3, 0.0, Next::Delivered),
            ("500, first attempt",           answered(500, None), 1, 0.0, secs(5)),
            ("500, jitter up",               answered(500, None), 1, 1.0, secs(6)),
            ("500, jitter down",             answered(500, None), 1, -1.0, secs(4)),
            ("500, second attempt",          answered(500, None), 2, 0.0, secs(300)),
            ("500, last attempt",            answered(500, None), 3, 0.0, Next::Failed),
            ("429 with Retry-After",         answered(429, Some(42)), 1, 1.0, secs(42)),
            ("503 asking for a day",         answered(503, Some(86_400)), 1, 0.0, secs(3600)),
            ("Retry-After on the last one",  answered(429, Some(1)), 3, 0.0, Next::Failed),
            ("410 Gone",                     answered(410, None), 1, 0.0, Next::Gone),
            ("410 Gone on the last attempt", answered(410, None), 3, 0.0, Next::Gone),
            ("302 is not followed",          answered(302, None), 1, 0.0, secs(5)),
            ("timeout",                      failed(ErrorKind::Timeout), 2, 0.0, secs(300)),
            ("refused, last attempt",        failed(ErrorKind::Connection), 3, 0.0, Next::Failed),
            ("target not registered",        unregistered, 1, 0.0, Next::Cancelled),
        ];
        for (case, attempt, number, jitter, expected) in table {
            assert_eq!(
                decide(&attempt, number, &schedule, jitter),
                expected,
                "{case}"
            );
        }
    }
}
