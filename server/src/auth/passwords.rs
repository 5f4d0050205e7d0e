//! Argon2id password hashes, and the one bounded pool every hash runs in.
//!
//! A hash takes ~19 MiB for ~50 ms by design, so that stolen hashes are slow to guess; the
//! same cost is what a flood of requests could turn against the server. Every hash — signing
//! in, setting a password with a link, creating a user, the command line's reset — waits for
//! a turn of [`Hashing`]: a few run at once (about one per core), a caller waits at most a
//! moment for its turn and is then told to come back (429). The turn is held by the hashing
//! itself, on the blocking pool, until it finishes: a client that hangs up does not free its
//! turn while its hash is still running.

use std::{sync::Arc, sync::OnceLock, time::Duration};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{domain::Password, AppState, Error, Result};

/// The turns to hash passwords: one pool per server (or command-line run).
pub struct Hashing {
    turns: Arc<Semaphore>,
    /// How long a caller waits for a turn before it is told to come back.
    wait: Duration,
}

impl Hashing {
    pub fn new(at_once: usize, wait: Duration) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(at_once.max(1))),
            wait,
        }
    }

    /// For the command line and seeding: one hash at a time, waiting as long as it takes.
    pub fn one_at_a_time() -> Self {
        Self::new(1, Duration::from_secs(3600))
    }

    /// The server's pool: `Config::password_checks` at once (default: one per core).
    pub fn of(state: &AppState) -> Arc<Self> {
        state.part(|state| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Hashing::new(
                state.config.password_checks.unwrap_or(cores),
                state.config.password_check_wait,
            )
        })
    }

    /// Hashing turns free right now (for tests and metrics).
    pub fn free_turns(&self) -> usize {
        self.turns.available_permits()
    }

    /// Waits a moment for a turn to hash; past it the caller is told to come back.
    pub async fn turn(&self) -> Result<Turn> {
        tokio::time::timeout(self.wait, self.turns.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|permit| Turn { _permit: permit })
            .ok_or_else(|| Error::RateLimited {
                message:
                    "Many people are signing in or setting passwords right now. Try again in a few seconds."
                        .into(),
                retry_after: Duration::from_secs(2),
            })
    }

    /// Hashes a new password with Argon2id (the crate's default parameters: 19 MiB, 2 passes).
    pub async fn hash(&self, password: &Password) -> Result<String> {
        let turn = self.turn().await?;
        let password = password.expose().to_owned();
        let hash = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
        .map_err(anyhow::Error::new)??;
        Ok(hash)
    }

    /// Compares `password` with the stored hash. Without a hash (no such user) it still does
    /// the full amount of work against a dummy hash, so the answer time does not reveal the
    /// account.
    #[cfg(test)]
    async fn verify(&self, password: &str, stored: Option<String>) -> Result<bool> {
        Self::verify_in(self.turn().await?, password, stored).await
    }

    /// [`Hashing::verify`] in a turn taken before (sign-in takes it before it counts the
    /// attempt, so that a busy server does not count attempts it never checked).
    pub(super) async fn verify_in(
        turn: Turn,
        password: &str,
        stored: Option<String>,
    ) -> Result<bool> {
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let (hash, exists) = match stored {
                Some(h) => (h, true),
                None => (dummy_hash().to_owned(), false),
            };
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            let matches = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            matches && exists
        })
        .await
        .map_err(anyhow::Error::new)?;
        Ok(ok)
    }
}

/// A turn to hash, held until the hash that uses it finishes.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"no such user, no such password", &salt)
            .expect("BUG: hashing a constant cannot fail")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let hashing = Hashing::one_at_a_time();
        let hash = hashing
            .hash(&Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hashing
            .verify("correct horse battery", Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hashing
            .verify("wrong horse battery", Some(hash))
            .await
            .unwrap());
        assert!(!hashing.verify("anything", None).await.unwrap());
    }

    /// A caller that gives up (a client that hangs up) does not free its turn: the hash it
    /// started keeps it until it is done, so no more hashes ever run at once than allowed.
    #[tokio::test]
    async fn a_turn_is_held_until_the_hash_is_done_even_when_the_caller_gives_up() {
        let hashing = Arc::new(Hashing::new(1, Duration::from_secs(5)));
        let password = Password::parse("correct horse battery").unwrap();
        let started = {
            let (hashing, password) = (hashing.clone(), password.clone());
            tokio::spawn(async move { hashing.hash(&password).await })
        };
        // Until its turn is taken, then the caller is dropped mid-hash.
        while hashing.free_turns() == 1 {
            tokio::task::yield_now().await;
        }
        started.abort();
        let _ = started.await;
        assert_eq!(hashing.free_turns(), 0, "the running hash keeps its turn");
        // The turn comes back once the hash is done.
        hashing.hash(&password).await.unwrap();
        assert_eq!(hashing.free_turns(), 1);
    }
}
