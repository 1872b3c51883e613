//! Refused sign-ins, per client address: a token bucket that answers 429 once an address
//! has spent its burst, and sampling of the warnings they log, so a flood of wrong guesses
//! costs neither CPU nor disk.
//!
//! Addresses are counted as the connection caps count them ([`AddressKey`]: IPv4 address,
//! IPv6 /64). The table holds at most [`MAX_ADDRESSES`] entries; when it is full of
//! addresses that are still limited, new addresses share one overflow bucket, so an attacker
//! with many addresses slows only itself and whoever arrives while the table is full,
//! instead of growing memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use signet_api::rate::TokenBucket;

use crate::listener::AddressKey;

/// Refused sign-ins an address may make at once.
const BURST: f64 = 10.0;
/// Then one more every this long.
const REFILL: Duration = Duration::from_secs(6);
/// Warnings logged per address and minute; the rest are counted and reported with the next
/// logged one.
const LOGGED_PER_WINDOW: u32 = 3;
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most.
pub const MAX_ADDRESSES: usize = 4096;

/// The sign-in limiter of one server.
#[derive(Debug)]
pub struct SigninThrottle {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    buckets: HashMap<AddressKey, Bucket>,
    /// Shared by new addresses while the table is full.
    overflow: Bucket,
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: TokenBucket,
    updated: Instant,
    window_start: Instant,
    logged: u32,
    /// Refusals not logged since the last logged one.
    unlogged: u64,
}

impl Bucket {
    fn new(now: Instant) -> Bucket {
        Bucket {
            tokens: TokenBucket::new(BURST, 1.0 / REFILL.as_secs_f64()),
            updated: now,
            window_start: now,
            logged: 0,
            unlogged: 0,
        }
    }

    fn refill(&mut self, now: Instant) {
        self.tokens.refill(now.duration_since(self.updated));
        self.updated = now;
        if now.duration_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.logged = 0;
        }
    }

    /// Whether the bucket is back to its initial state, with nothing left to report: such
    /// an entry can be forgotten.
    fn is_spent(&self, now: Instant) -> bool {
        let mut b = self.clone();
        b.refill(now);
        b.tokens.is_full() && b.unlogged == 0
    }

    /// Counts one warning; whether to log it, with the number left unlogged before it.
    fn sample(&mut self) -> Option<u64> {
        if self.logged < LOGGED_PER_WINDOW {
            self.logged += 1;
            Some(std::mem::take(&mut self.unlogged))
        } else {
            self.unlogged += 1;
            None
        }
    }
}

/// What to do with a sign-in attempt before its credential is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Check the credential.
    Yes,
    /// Answer 429; retry after this long. `log` is `Some(unlogged)` when this refusal
    /// should be logged.
    No {
        retry_after: Duration,
        log: Option<u64>,
    },
}

impl Default for SigninThrottle {
    fn default() -> Self {
        let now = Instant::now();
        SigninThrottle {
            state: Mutex::new(State {
                buckets: HashMap::new(),
                overflow: Bucket::new(now),
            }),
        }
    }
}

impl SigninThrottle {
    /// Whether an attempt from `ip` may be checked at all.
    pub fn admit(&self, ip: IpAddr) -> Admit {
        self.with_bucket(ip, |bucket| {
            let wait = bucket.tokens.wait();
            if wait.is_zero() {
                return Admit::Yes;
            }
            Admit::No {
                retry_after: Duration::from_secs_f64(wait.as_secs_f64().ceil().max(1.0)),
                log: bucket.sample(),
            }
        })
    }

    /// Records a refused sign-in from `ip`; `Some(unlogged)` when it should be logged.
    pub fn refused(&self, ip: IpAddr) -> Option<u64> {
        self.with_bucket(ip, |bucket| {
            bucket.tokens.take();
            bucket.sample()
        })
    }

    fn with_bucket<T>(&self, ip: IpAddr, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let now = Instant::now();
        let key = AddressKey::of(ip);
        let mut state = match self.state.lock() {
            Ok(s) => s,
            // No code panics while holding the lock; if one did, start afresh rather
            // than refuse every sign-in.
            Err(poisoned) => poisoned.into_inner(),
        };
        let State { buckets, overflow } = &mut *state;
        if !buckets.contains_key(&key) && buckets.len() >= MAX_ADDRESSES {
            buckets.retain(|_, b| !b.is_spent(now));
        }
        let bucket = if buckets.len() < MAX_ADDRESSES || buckets.contains_key(&key) {
            buckets.entry(key).or_insert_with(|| Bucket::new(now))
        } else {
            overflow
        };
        bucket.refill(now);
        f(bucket)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state.lock().map(|s| s.buckets.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_after_its_burst_and_others_are_not() {
        let t = SigninThrottle::default();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let mut logged = 0;
        for _ in 0..BURST as usize {
            assert_eq!(t.admit(a), Admit::Yes);
            logged += usize::from(t.refused(a).is_some());
        }
        assert_eq!(logged, LOGGED_PER_WINDOW as usize);
        assert!(matches!(t.admit(a), Admit::No { .. }));
        assert_eq!(t.admit(b), Admit::Yes);
    }

    #[test]
    fn the_table_is_bounded() {
        let t = SigninThrottle::default();
        for i in 0..(MAX_ADDRESSES as u32 + 100) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = t.refused(ip);
        }
        assert!(t.tracked() <= MAX_ADDRESSES);
    }
}
