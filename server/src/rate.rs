//! Rate limits per key (a client address, a device token), over governor's GCRA: a burst is
//! allowed, then requests are spaced out; a refused request learns how long to wait.

use std::{hash::Hash, net::IpAddr, num::NonZeroU32, time::Duration};

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

/// How many times one address's allowance an IPv6 /64 network gets: one host usually holds a
/// whole /64 and can rotate through its addresses, while an office behind one /64 has several
/// people signing in.
pub const NETWORK_SHARE: u32 = 4;

/// A limit per client address that an IPv6 client cannot walk past by rotating addresses:
/// every request counts against its address and, for IPv6, against its /64 network too.
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) count as the IPv4 address they are.
pub struct AddressLimit {
    addresses: KeyedLimit<IpAddr>,
    networks: KeyedLimit<u64>,
}

impl AddressLimit {
    /// `per_minute` requests a minute per address, up to `burst` at once; a /64 gets
    /// [`NETWORK_SHARE`] times as many.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self {
            addresses: KeyedLimit::per_minute(per_minute, burst),
            networks: KeyedLimit::per_minute(
                per_minute.saturating_mul(NETWORK_SHARE),
                burst.saturating_mul(NETWORK_SHARE),
            ),
        }
    }

    /// Counts one request from `address`; `Err(wait)` when it must wait that long first.
    pub fn check(&self, address: IpAddr) -> Result<(), Duration> {
        let address = address.to_canonical();
        if let Some(network) = network_of(address) {
            self.networks.check(&network)?;
        }
        self.addresses.check(&address)
    }

    /// Forgets clients that are back to a full allowance.
    pub fn forget_idle(&self) {
        self.addresses.forget_idle();
        self.networks.forget_idle();
    }
}

/// The /64 network of an IPv6 address (its first 64 bits); `None` for IPv4.
pub fn network_of(address: IpAddr) -> Option<u64> {
    match address {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => Some((u128::from(v6) >> 64) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rotating_ipv6_addresses_of_one_network_share_its_allowance() {
        let limit = AddressLimit::per_minute(2, 2);
        // Each new address of 2001:db8:1:2::/64 has its own two, but the network only eight.
        let passed = (0..20)
            .filter(|i| limit.check(ip(&format!("2001:db8:1:2::{i:x}"))).is_ok())
            .count();
        assert_eq!(passed, 2 * NETWORK_SHARE as usize);
        // Another network is not affected.
        assert!(limit.check(ip("2001:db8:1:3::1")).is_ok());
        // One address alone still gets its own limit.
        assert!(limit.check(ip("2001:db8:1:4::1")).is_ok());
        assert!(limit.check(ip("2001:db8:1:4::1")).is_ok());
        assert!(limit.check(ip("2001:db8:1:4::1")).is_err());
    }

    #[test]
    fn ipv4_addresses_count_alone_also_when_mapped_into_ipv6() {
        let limit = AddressLimit::per_minute(2, 2);
        assert!(limit.check(ip("192.0.2.7")).is_ok());
        assert!(limit.check(ip("::ffff:192.0.2.7")).is_ok());
        assert!(limit.check(ip("192.0.2.7")).is_err());
        assert!(limit.check(ip("192.0.2.8")).is_ok());
    }
}
