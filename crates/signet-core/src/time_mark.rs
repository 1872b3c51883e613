//! The newest time on record, and no signing while the clock is behind it.
//!
//! A CA whose wall clock went back signs wrong times: after a dead RTC or a restored VM
//! snapshot it would issue certificates valid from the past (perhaps already expired) and
//! CRLs dated before the ones relying parties hold. [`TimeMark`] is the high-water mark:
//! the newest time found on record at start (`Store::newest_time`, and the newest stored
//! CRL's thisUpdate), raised by every time the engine signs with since.
//! `Authority::signing_time` gives the time to sign with, or [`ClockBehind`] while the clock
//! is behind the mark by more than the bound (`[server] max_clock_regression`). Nothing
//! waits for the clock: signing resumes on the first call after it is corrected.
//!
//! A forward jump that is corrected later leaves the mark in the future: the CA then
//! refuses until real time catches up, or until the operator raises the bound. Which of two
//! clocks is right cannot be known; a CA that stops signing is the safe side.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signet_x509::time::{format_duration, rfc3339, unix_seconds};

/// `[server] max_clock_regression` when the configuration names none: more than ordinary
/// NTP corrections, less than any regression that would matter to a relying party.
pub const DEFAULT_MAX_CLOCK_REGRESSION: Duration = Duration::from_secs(5 * 60);

/// The newest time signed with or found on record, in whole seconds since 1970.
#[derive(Debug)]
pub struct TimeMark {
    newest: AtomicU64,
    max_regression: Duration,
}

impl TimeMark {
    /// No time on record yet; the clock may fall `max_regression` behind the mark.
    pub fn new(max_regression: Duration) -> TimeMark {
        TimeMark {
            newest: AtomicU64::new(0),
            max_regression,
        }
    }

    /// Raises the mark to `t` if `t` is newer.
    pub fn raise(&self, t: SystemTime) {
        self.newest.fetch_max(unix_seconds(t), Ordering::AcqRel);
    }

    /// The mark.
    pub fn newest(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.newest.load(Ordering::Acquire))
    }

    /// `Err` when `now` is behind the mark by more than the bound.
    pub fn check(&self, now: SystemTime) -> Result<(), ClockBehind> {
        let newest = self.newest();
        match newest.duration_since(now) {
            Ok(behind) if behind > self.max_regression => Err(ClockBehind {
                now,
                newest,
                max_regression: self.max_regression,
            }),
            _ => Ok(()),
        }
    }
}

/// The clock is behind the newest time on record by more than the bound: the engine signs
/// nothing (certificates, CRLs, OCSP responses; audit checkpoints are still dated by the clock) until it is corrected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the clock ({}) is behind the newest time on record ({}) by {}, more than [server] \
     max_clock_regression ({}); signing is refused until the clock is corrected",
    rfc3339(*now),
    rfc3339(*newest),
    span(newest.duration_since(*now).unwrap_or_default()),
    format_duration(*max_regression)
)]
pub struct ClockBehind {
    pub now: SystemTime,
    pub newest: SystemTime,
    pub max_regression: Duration,
}

/// A request that would be signed is refused with 503: nothing was decided or stored, and
/// the same request succeeds once the clock is corrected.
impl From<ClockBehind> for signet_api::EnrollError {
    fn from(e: ClockBehind) -> Self {
        signet_api::EnrollError::Unavailable(e.to_string())
    }
}

/// A span for people, to the second: `1d 0h`, `3h 5m`, `4m 10s`, `12s`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match () {
        _ if days > 0 => format!("{days}d {hours}h"),
        _ if hours > 0 => format!("{hours}h {minutes}m"),
        _ if minutes > 0 => format!("{minutes}m {seconds}s"),
        _ => format!("{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn refuses_only_beyond_the_bound() {
        let mark = TimeMark::new(DEFAULT_MAX_CLOCK_REGRESSION);
        let t = UNIX_EPOCH + 20_000 * DAY;
        assert_eq!(mark.check(t), Ok(()), "nothing on record");
        mark.raise(t);
        mark.raise(t - DAY);
        assert_eq!(mark.newest(), t, "the mark never goes back");
        assert_eq!(mark.check(t + DAY), Ok(()), "ahead");
        assert_eq!(
            mark.check(t - Duration::from_secs(300)),
            Ok(()),
            "at the bound"
        );
        let behind = mark.check(t - DAY).expect_err("a day behind");
        assert_eq!(
            behind.to_string(),
            "the clock (2024-10-03T00:00:00Z) is behind the newest time on record \
             (2024-10-04T00:00:00Z) by 1d 0h, more than [server] max_clock_regression \
             (5m); signing is refused until the clock is corrected"
        );
    }

    #[test]
    fn spans_read_like_people_write_them() {
        assert_eq!(span(Duration::from_secs(12)), "12s");
        assert_eq!(span(Duration::from_secs(250)), "4m 10s");
        assert_eq!(span(Duration::from_secs(3 * 3600 + 300)), "3h 5m");
        assert_eq!(span(365 * DAY + Duration::from_secs(7200)), "365d 2h");
    }
}
