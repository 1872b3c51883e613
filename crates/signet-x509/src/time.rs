//! Dates and durations, written once for the whole workspace.
//!
//! - [`CivilTime`]: a UTC instant broken down into year..second (proleptic Gregorian,
//!   Howard Hinnant's day-count algorithms). The DER codec writes and reads it as UTCTime /
//!   GeneralizedTime; [`rfc3339`], [`parse_time`] and [`minutes`] are its text forms.
//! - [`parse_duration`]: the one duration grammar of every configuration key.
//!
//! Why not a crate: `der::DateTime` refuses years before 1970, which UTCTime (1950–2049)
//! must read, and `humantime`'s duration grammar counts a month as 30.44 days and a year as
//! 365.25 — wrong for certificate lifetimes. These forty lines are exercised by every
//! certificate, CRL and OCSP response that openssl checks in the tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Broken-down UTC time in whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl CivilTime {
    /// Truncates to whole seconds. `None` outside years 0..=9999.
    pub fn from_system_time(t: SystemTime) -> Option<CivilTime> {
        let secs: i64 = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).ok()?,
            Err(e) => {
                let d = e.duration();
                let whole = i64::try_from(d.as_secs()).ok()?;
                // Floor towards the past for instants before 1970.
                -whole - i64::from(d.subsec_nanos() > 0)
            }
        };
        let days = secs.div_euclid(86_400);
        let rem = u32::try_from(secs.rem_euclid(86_400)).ok()?;
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        Some(CivilTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        })
    }

    /// The instant; `None` if it does not fit a `SystemTime`.
    pub fn to_system_time(self) -> Option<SystemTime> {
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        if secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
        }
    }

    /// Whether the fields name a real date and time (seconds 0..=59).
    pub fn is_valid(&self) -> bool {
        (0..=9999).contains(&self.year)
            && (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds). Instants outside years 0..=9999
/// are clamped to the epoch (they never occur: every stored time comes from this clock or
/// from a parsed certificate).
pub fn rfc3339(t: SystemTime) -> String {
    let c = CivilTime::from_system_time(t).unwrap_or(EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Whole seconds since 1970 (0 before the epoch).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `t` rounded down to whole seconds (what certificates, CRLs and checkpoints record);
/// an instant before the epoch is returned as it is.
pub fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

/// `YYYY-MM-DD HH:MM UTC`, as the web pages show a time.
pub fn minutes(t: SystemTime) -> String {
    let c = CivilTime::from_system_time(t).unwrap_or(EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

const EPOCH: CivilTime = CivilTime {
    year: 1970,
    month: 1,
    day: 1,
    hour: 0,
    minute: 0,
    second: 0,
};

/// A time or duration that does not parse; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("{0:?} is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix seconds")]
    BadTime(String),
    #[error(
        "{0:?} is not a duration: write a number and one unit, e.g. \"90s\", \"10m\", \"12h\", \"7d\" (ms, s, m, h, d; a bare number is seconds)"
    )]
    BadDuration(String),
    #[error("{0:?} is too long")]
    TooLong(String),
}

/// Parses `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM:SSZ` (UTC only) or unix seconds,
/// years 1970..=9999.
pub fn parse_time(s: &str) -> Result<SystemTime, TimeError> {
    let s = s.trim();
    let bad = || TimeError::BadTime(s.to_owned());
    if let Ok(secs) = s.parse::<u64>() {
        return UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .ok_or_else(bad);
    }
    let (date, time) = match s.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let number = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    let mut parts = date.split('-').map(number);
    let (Some(Some(year)), Some(Some(month)), Some(Some(day)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let (mut hour, mut minute, mut second) = (0, 0, 0);
    if let Some(t) = time {
        let t = t.strip_suffix(['Z', 'z']).ok_or_else(bad)?;
        let mut hms = t.split(':').map(number);
        let (Some(Some(h)), Some(Some(m)), Some(Some(sec)), None) =
            (hms.next(), hms.next(), hms.next(), hms.next())
        else {
            return Err(bad());
        };
        (hour, minute, second) = (h, m, sec);
    }
    let c = CivilTime {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
    };
    if year < 1970 || !c.is_valid() {
        return Err(bad());
    }
    c.to_system_time().ok_or_else(bad)
}

/// The one duration grammar of every configuration key: a whole number followed by one unit
/// (`ms`, `s`, `m`, `h`, `d`), e.g. `"90s"`, `"10m"`, `"7d"`; a bare number is seconds (so a
/// TOML integer and `"10"` mean ten seconds). Each key checks its own range (zero, maximum).
pub fn parse_duration(s: &str) -> Result<Duration, TimeError> {
    let text = s.trim();
    let bad = || TimeError::BadDuration(s.to_owned());
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let (scale, millis) = match unit {
        "ms" => (1, true),
        "" | "s" => (1, false),
        "m" => (60, false),
        "h" => (3600, false),
        "d" => (86_400, false),
        _ => return Err(bad()),
    };
    let too_long = || TimeError::TooLong(s.to_owned());
    if millis {
        return Ok(Duration::from_millis(n));
    }
    n.checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(too_long)
}

/// A duration in the same grammar: the largest unit that divides it exactly.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis());
    }
    let s = d.as_secs();
    match s {
        0 => "0s".to_owned(),
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

// Proleptic Gregorian calendar conversions (Howard Hinnant's `civil_from_days` and
// `days_from_civil`), days counted from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both in range by construction (day 1..=31, month 1..=12).
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trip() {
        for days in (-800_000..3_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn text_round_trip() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2026-12-01T19:38:31Z",
            "2000-02-29T23:59:59Z",
        ] {
            let t = parse_time(s).expect("parses");
            assert_eq!(rfc3339(t), s);
        }
        assert_eq!(
            parse_time("2026-03-01").map(rfc3339),
            Ok("2026-03-01T00:00:00Z".into())
        );
        assert_eq!(
            parse_time("1796082300").map(minutes),
            Ok("2026-11-30 23:45 UTC".into())
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "yesterday",
            "2026-01-01T24:00:00Z",
            "2026-01-01T10:00:00+01:00",
            "1969-12-31",
            "+2026-01-01",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_and_whole_seconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_082_300_750);
        assert_eq!(unix_seconds(t), 1_796_082_300);
        assert_eq!(
            whole_seconds(t),
            UNIX_EPOCH + Duration::from_secs(1_796_082_300)
        );
        let before = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_seconds(before), 0);
        assert_eq!(whole_seconds(before), before);
    }

    #[test]
    fn durations() {
        let secs = Duration::from_secs;
        for (s, d) in [
            ("90s", secs(90)),
            ("10m", secs(600)),
            ("12h", secs(43_200)),
            ("7d", secs(604_800)),
            ("10", secs(10)),
            (" 5m ", secs(300)),
            ("250ms", Duration::from_millis(250)),
            ("0s", secs(0)),
        ] {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{s}");
        }
        for bad in ["", "s", "10x", "1h30m", "-5s", "1.5h", "10 s", "7days"] {
            assert!(
                matches!(parse_duration(bad), Err(TimeError::BadDuration(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(TimeError::BadDuration(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999999d"),
            Err(TimeError::TooLong(_))
        ));
    }
}
