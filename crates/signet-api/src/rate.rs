//! The one token-bucket rate limiter, shared by the engine's request limits and the web
//! pages' sign-in throttle.

use std::time::Duration;

/// A token bucket: up to `capacity` tokens, refilled continuously at `per_second`. The
/// owner keeps the time and says how much has passed, so the same bucket serves the
/// engine's injected clock and the server's monotonic one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: f64, per_second: f64) -> TokenBucket {
        TokenBucket {
            tokens: capacity,
            capacity,
            per_second,
        }
    }

    /// Adds what `elapsed` earned, up to the capacity.
    pub fn refill(&mut self, elapsed: Duration) {
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.capacity);
    }

    /// How long until one token is there (zero when one is).
    pub fn wait(&self) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Spends one token (never below zero).
    pub fn take(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    /// Gives one token back (never above the capacity): what was taken for something that
    /// did not happen.
    pub fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }

    /// Whether the bucket is full, i.e. the same as a new one.
    pub fn is_full(&self) -> bool {
        self.tokens >= self.capacity
    }
}
