//! Rate limits per key (a client address, a device token), over governor's GCRA: a burst is
//! allowed, then requests are spaced out; a refused request learns how long to wait.

use std::{hash::Hash, num::NonZeroU32, time::Duration};

use governor::{
    clock::{Clock, DefaultClock},
    DefaultKeyedRateLimiter, Quota, RateLimiter,
};

pub struct KeyedLimit<K: Clone + Hash + Eq> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
}

impl<K: Clone + Hash + Eq> KeyedLimit<K> {
    /// `per_minute` requests a minute on average, up to `burst` at once.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("BUG: at least 1"))
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("BUG: at least 1"));
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// `per_second` requests a second on average, up to `burst` at once.
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(per_second.max(1)).expect("BUG: at least 1"))
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("BUG: at least 1"));
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of `key`; `Err(wait)` when it must wait that long first.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_n(key, 1)
    }

    /// Counts `n` requests' worth of `key` at once (a batch of data points).
    pub fn check_n(&self, key: &K, n: u32) -> Result<(), Duration> {
        let Some(n) = NonZeroU32::new(n) else {
            return Ok(());
        };
        match self.limiter.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // More than the burst at once can never pass; wait a whole burst's time.
            Err(_) => Err(Duration::from_secs(60)),
        }
    }

    /// Forgets keys that are back to a full allowance (memory stays bounded).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}
