//! When to try again. The default is the Standard Webhooks schedule: immediately, 5 s, 5 min,
//! 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h — ten attempts — each delay with ±20% jitter.
//! A receiver answering 429 or 503 with `Retry-After` is listened to: its delay replaces the
//! scheduled one, capped at an hour so that no receiver can park deliveries indefinitely.

use std::time::{Duration, SystemTime};

pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
const JITTER: f64 = 0.2;

/// The delay before each attempt; the first is the first attempt's (normally zero).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse("0,5s,5m,30m,2h,5h,10h,14h,20h,24h").expect("BUG: the default schedule parses")
    }
}

impl RetrySchedule {
    /// A comma-separated list of delays: `0,5s,5m,2h` (units ms, s, m, h, d).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let delays = raw
            .split(',')
            .map(|d| parse_duration(d.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() {
            return Err("the retry schedule needs at least one entry".into());
        }
        Ok(Self(delays))
    }

    pub fn max_attempts(&self) -> u32 {
        self.0.len() as u32
    }

    /// After `attempts` attempts have failed: how long to wait before the next, or `None` when
    /// that was the last. `jitter` is a number in -1..=1 (random in production, fixed in tests).
    pub fn next_delay(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let scheduled = *self.0.get(attempts as usize)?;
        Some(match retry_after {
            Some(asked) => asked.min(MAX_RETRY_AFTER),
            None => scheduled.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0)),
        })
    }
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let bad = || format!("{raw:?} is not a duration (e.g. 500ms, 5s, 5m, 2h, 1d)");
    if raw == "0" {
        return Ok(Duration::ZERO);
    }
    let split = raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = raw.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => return Err(bad()),
    })
}

/// `Retry-After`: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(at.timestamp().max(0) as u64);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_standard_webhooks_schedule() {
        let s = RetrySchedule::default();
        assert_eq!(s.max_attempts(), 10);
        let exact: Vec<u64> = (0..10)
            .map(|i| s.next_delay(i, None, 0.0).unwrap().as_secs())
            .collect();
        assert_eq!(
            exact,
            [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
        );
        assert_eq!(s.next_delay(10, None, 0.0), None);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = RetrySchedule::default();
        assert_eq!(s.next_delay(2, None, 1.0), Some(Duration::from_secs(360)));
        assert_eq!(s.next_delay(2, None, -1.0), Some(Duration::from_secs(240)));
        assert_eq!(s.next_delay(2, None, 7.0), Some(Duration::from_secs(360)));
        assert_eq!(s.next_delay(0, None, 1.0), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_replaces_the_scheduled_delay_up_to_an_hour() {
        let s = RetrySchedule::default();
        assert_eq!(
            s.next_delay(1, Some(Duration::from_secs(42)), 1.0),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            s.next_delay(1, Some(Duration::from_secs(86_400)), 0.0),
            Some(MAX_RETRY_AFTER)
        );
        // After the last attempt nothing is retried, whatever the receiver asks.
        assert_eq!(s.next_delay(10, Some(Duration::from_secs(1)), 0.0), None);
    }

    #[test]
    fn parses_schedules_and_retry_after() {
        assert_eq!(
            RetrySchedule::parse("0, 200ms,1s").unwrap(),
            RetrySchedule(vec![
                Duration::ZERO,
                Duration::from_millis(200),
                Duration::from_secs(1)
            ])
        );
        assert!(RetrySchedule::parse("0,5x").is_err());
        assert!(RetrySchedule::parse("").is_err());
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
