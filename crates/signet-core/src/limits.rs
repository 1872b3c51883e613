//! Limits on what one requester can make the CA store: request rates per identity (per CA,
//! and per profile when the profile sets its own), and the number of pending requests one
//! requester may have waiting. A refused request is refused before anything is stored.
//!
//! Rates are token buckets in memory: each holds up to one minute's allowance and refills
//! continuously. All anonymous callers of a CA share one bucket (the engine does not see
//! network addresses; the listener limits connections per address). The limits are per
//! process: several nodes on one database each apply them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::enroll::EnrollError;
use crate::ids::{CaName, ProfileName};

/// `[security]` limits. Zero turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests one identity may submit to one CA per minute (bursts up to this many).
    pub requests_per_minute: u32,
    /// Requests all anonymous callers together may submit to one CA per minute.
    pub anonymous_requests_per_minute: u32,
    /// Pending requests one requester (all anonymous callers counting as one) may have
    /// waiting on one CA; a request that would go past it is refused, not queued.
    pub pending_per_requester: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_minute: 0,
            anonymous_requests_per_minute: 60,
            pending_per_requester: 100,
        }
    }
}

/// How many buckets are kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 65_536;

pub use signet_api::rate::TokenBucket;

/// A per-minute rate's bucket, with the time it was last brought up to date.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: TokenBucket,
    at: SystemTime,
}

impl Bucket {
    fn per_minute(rate: u32, now: SystemTime) -> Bucket {
        let rate = f64::from(rate);
        Bucket {
            tokens: TokenBucket::new(rate, rate / 60.0),
            at: now,
        }
    }

    fn refill(&mut self, now: SystemTime) {
        self.tokens
            .refill(now.duration_since(self.at).unwrap_or(Duration::ZERO));
        self.at = self.at.max(now);
    }
}

/// (CA, profile for a profile's own limit, identity; `None`: anonymous).
type BucketKey = (CaName, Option<ProfileName>, Option<String>);

/// The request-rate buckets of one engine.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<BucketKey, Bucket>>,
}

impl RateLimiter {
    /// Takes one request from `who`'s bucket for `ca` (and for `profile`, when the profile
    /// sets `profile_per_minute`), or says when to try again. Either both buckets are
    /// charged or neither.
    pub(crate) fn admit(
        &self,
        limits: &Limits,
        ca: &CaName,
        profile: &ProfileName,
        profile_per_minute: Option<u32>,
        who: Option<&str>,
        now: SystemTime,
    ) -> Result<(), EnrollError> {
        let ca_rate = match who {
            Some(_) => limits.requests_per_minute,
            None => limits.anonymous_requests_per_minute,
        };
        let mut checks: Vec<(BucketKey, u32)> = Vec::with_capacity(2);
        if ca_rate > 0 {
            checks.push((
                (ca.clone(), None, who.map(str::to_ascii_lowercase)),
                ca_rate,
            ));
        }
        if let Some(rate) = profile_per_minute.filter(|r| *r > 0) {
            checks.push((
                (
                    ca.clone(),
                    Some(profile.clone()),
                    who.map(str::to_ascii_lowercase),
                ),
                rate,
            ));
        }
        if checks.is_empty() {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Err(EnrollError::Unavailable("the rate limiter failed".into()));
        };
        if buckets.len() > MAX_BUCKETS {
            // A full bucket is the same as none.
            buckets.retain(|_, b| {
                b.refill(now);
                !b.tokens.is_full()
            });
        }
        let mut wait = Duration::ZERO;
        for (key, rate) in &checks {
            let bucket = buckets
                .entry(key.clone())
                .or_insert_with(|| Bucket::per_minute(*rate, now));
            bucket.refill(now);
            wait = wait.max(bucket.tokens.wait());
        }
        if !wait.is_zero() {
            let whom = who.map_or("anonymous callers".to_string(), |w| w.to_string());
            let scope = match profile_per_minute {
                Some(r) if checks.iter().any(|(k, _)| k.1.is_some()) => {
                    format!(" (profile {profile} allows {r} per minute)")
                }
                _ => String::new(),
            };
            return Err(EnrollError::RateLimited {
                detail: format!(
                    "{whom} submitted too many requests to CA {ca}{scope}; try again in {} s",
                    wait.as_secs().max(1)
                ),
                retry_after: wait.max(Duration::from_secs(1)),
            });
        }
        for (key, _) in &checks {
            if let Some(b) = buckets.get_mut(key) {
                b.tokens.take();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_minute_then_refills() {
        let limiter = RateLimiter::default();
        let limits = Limits {
            requests_per_minute: 3,
            ..Limits::default()
        };
        let ca = CaName::new("demo").expect("name");
        let profile = ProfileName::new("server").expect("name");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for _ in 0..3 {
            limiter
                .admit(&limits, &ca, &profile, None, Some("alice"), t0)
                .expect("within the limit");
        }
        let refused = limiter
            .admit(&limits, &ca, &profile, None, Some("alice"), t0)
            .expect_err("over the limit");
        assert!(matches!(refused, EnrollError::RateLimited { .. }));
        // Names differing only in case are one identity.
        assert!(
            limiter
                .admit(&limits, &ca, &profile, None, Some("ALICE"), t0)
                .is_err()
        );
        // Someone else is not affected; alice gets one request back after 20 s.
        limiter
            .admit(&limits, &ca, &profile, None, Some("bob"), t0)
            .expect("bob");
        limiter
            .admit(
                &limits,
                &ca,
                &profile,
                None,
                Some("alice"),
                t0 + Duration::from_secs(20),
            )
            .expect("refilled");
    }

    #[test]
    fn a_profile_limit_applies_on_top() {
        let limiter = RateLimiter::default();
        let limits = Limits::default();
        let ca = CaName::new("demo").expect("name");
        let profile = ProfileName::new("server").expect("name");
        let now = SystemTime::UNIX_EPOCH;
        limiter
            .admit(&limits, &ca, &profile, Some(1), Some("a"), now)
            .expect("first");
        assert!(
            limiter
                .admit(&limits, &ca, &profile, Some(1), Some("a"), now)
                .is_err()
        );
    }
}
