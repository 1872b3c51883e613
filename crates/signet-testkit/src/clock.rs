//! A clock the test moves.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signet_core::Clock;

/// A [`Clock`] that stands still until the test moves it.
#[derive(Debug)]
pub struct FakeClock(Mutex<SystemTime>);

impl FakeClock {
    /// A clock at `start`.
    pub fn at(start: SystemTime) -> Arc<FakeClock> {
        Arc::new(FakeClock(Mutex::new(start)))
    }

    /// A clock at the current time, rounded down to whole seconds (as certificates and the
    /// store keep times), so certificates it dates are valid for `openssl` now too.
    pub fn now() -> Arc<FakeClock> {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the system clock is after 1970")
            .as_secs();
        FakeClock::at(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    /// Sets the clock (forward or back).
    pub fn set(&self, to: SystemTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
