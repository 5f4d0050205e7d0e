//! Slows down password guessing: after a few failures for one email address, each further
//! attempt must wait, twice as long each time.

use std::time::Duration;

use crate::db::Conn;

use crate::{domain::Email, Result};

/// Failures allowed before any waiting starts: enough for honest typos.
const FREE_FAILURES: i64 = 3;
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// How long to wait after the last failure, given the number of failures so far.
pub(super) fn wait_after(failures: i64) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exp = (failures - FREE_FAILURES).min(20) as u32;
    Duration::from_secs(1u64 << exp).min(MAX_WAIT)
}

/// Admits one sign-in attempt for `email`, or says how long it must still wait. An admitted
/// attempt is counted as a failure at once, in the same write transaction as the check (the
/// writer runs one at a time), so a parallel burst cannot pass the throttle between check and
/// count; a successful sign-in then clears the count.
pub(super) async fn admit(conn: &mut Conn, email: &Email, now: i64) -> Result<Option<Duration>> {
    let row: Option<(i64, i64)> = crate::db::with_db!(conn, db => sqlx::query_as("SELECT failures, last_failure_at FROM sign_in_failures WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(db)
            .await)?;
    if let Some((failures, last)) = row {
        let until = last + wait_after(failures).as_millis() as i64;
        if until > now {
            return Ok(Some(Duration::from_millis((until - now) as u64)));
        }
    }
    crate::db::with_db!(conn, db => sqlx::query(
        "INSERT INTO sign_in_failures (email, failures, last_failure_at) VALUES ($1, 1, $2)
         ON CONFLICT (email) DO UPDATE SET failures = sign_in_failures.failures + 1, last_failure_at = excluded.last_failure_at",
    )
    .bind(email.as_str())
    .bind(now)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(None)
}

pub(super) async fn clear(conn: &mut Conn, email: &Email) -> Result<()> {
    crate::db::with_db!(conn, db => sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
        .bind(email.as_str())
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    Ok(())
}

pub(super) async fn forget_older_than(conn: &mut Conn, cutoff: i64) -> Result<()> {
    crate::db::with_db!(conn, db => sqlx::query("DELETE FROM sign_in_failures WHERE last_failure_at < $1")
        .bind(cutoff)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failures_are_free_then_the_wait_doubles_up_to_a_cap() {
        assert_eq!(wait_after(0), Duration::ZERO);
        assert_eq!(wait_after(2), Duration::ZERO);
        assert_eq!(wait_after(3), Duration::from_secs(1));
        assert_eq!(wait_after(4), Duration::from_secs(2));
        assert_eq!(wait_after(7), Duration::from_secs(16));
        assert_eq!(wait_after(50), MAX_WAIT);
    }
}
