//! `DurationSetting`: how every duration in `signet.toml` is written, module sections and
//! the server's own keys alike. A TOML integer is seconds; a string is in the one grammar of
//! `signet_x509::time::parse_duration` (a whole number and one unit, `ms`, `s`, `m`, `h` or
//! `d`; a bare number is seconds). Each key then checks its own range with [`within`] or
//! [`whole_seconds`], and a refusal says what to write instead.
//!
//! [`within`]: DurationSetting::within
//! [`whole_seconds`]: DurationSetting::whole_seconds

use std::fmt;
use std::time::Duration;

use signet_x509::time::{TimeError, format_duration, parse_duration};

/// A duration as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationSetting {
    /// A TOML integer: seconds.
    Seconds(u64),
    /// A string such as `"90s"`, `"500ms"`, `"7d"` or `"10"` (seconds).
    Text(String),
}

/// A duration that does not parse or is outside its key's range. The key itself is named
/// by the caller (the error's context).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not in the grammar (the message says what to write).
    #[error(transparent)]
    Grammar(#[from] TimeError),
    /// Shorter than the key's minimum or longer than its maximum.
    #[error("{value} is not between {min} and {max}: write a duration from \"{min}\" to \"{max}\"")]
    OutOfRange {
        value: DurationSetting,
        min: String,
        max: String,
    },
    /// Zero where the key needs some time (a timeout).
    #[error("{value} is zero: write a duration longer than zero, e.g. \"10s\"")]
    Zero { value: DurationSetting },
    /// A fraction of a second where the key counts whole seconds.
    #[error("{value} is not a whole number of seconds: write seconds or more, e.g. \"1s\"")]
    SubSecond { value: DurationSetting },
}

impl DurationSetting {
    /// The duration, in any unit of the grammar (`ms` included).
    pub fn parse(&self) -> Result<Duration, TimeError> {
        match self {
            DurationSetting::Seconds(n) => Ok(Duration::from_secs(*n)),
            DurationSetting::Text(t) => parse_duration(t),
        }
    }

    /// The duration, which must lie in `min..=max`.
    pub fn within(&self, min: Duration, max: Duration) -> Result<Duration, DurationError> {
        let d = self.parse()?;
        if d < min || d > max {
            return Err(DurationError::OutOfRange {
                value: self.clone(),
                min: format_duration(min),
                max: format_duration(max),
            });
        }
        Ok(d)
    }

    /// The duration, which must be longer than zero (any unit, `ms` included).
    pub fn positive(&self) -> Result<Duration, DurationError> {
        let d = self.parse()?;
        if d.is_zero() {
            return Err(DurationError::Zero {
                value: self.clone(),
            });
        }
        Ok(d)
    }

    /// The duration, which must be whole seconds (for keys counted in seconds: certificate
    /// times, CRL and OCSP periods, schedules); `"250ms"` is refused, `"0s"` is not.
    pub fn whole_seconds(&self) -> Result<Duration, DurationError> {
        let d = self.parse()?;
        if d.subsec_nanos() != 0 {
            return Err(DurationError::SubSecond {
                value: self.clone(),
            });
        }
        Ok(d)
    }
}

impl From<&str> for DurationSetting {
    fn from(text: &str) -> DurationSetting {
        DurationSetting::Text(text.to_owned())
    }
}

impl fmt::Display for DurationSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationSetting::Seconds(n) => write!(f, "{n}"),
            DurationSetting::Text(t) => write!(f, "{t:?}"),
        }
    }
}

// A visitor rather than `#[serde(untagged)]`, so that a value of the wrong type is refused
// with what to write, not "did not match any variant".
impl<'de> serde::Deserialize<'de> for DurationSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DurationSetting, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationSetting;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration: whole seconds, or a string such as \"500ms\", \"90s\", \"10m\", \"12h\" or \"7d\"",
                )
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<DurationSetting, E> {
                Ok(DurationSetting::Seconds(n))
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<DurationSetting, E> {
                u64::try_from(n)
                    .map(DurationSetting::Seconds)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DurationSetting, E> {
                Ok(DurationSetting::Text(s.to_owned()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Doc {
        d: DurationSetting,
    }

    fn load(value: &str) -> Result<DurationSetting, toml::de::Error> {
        toml::from_str::<Doc>(&format!("d = {value}")).map(|doc| doc.d)
    }

    #[test]
    fn every_old_spelling_still_loads() {
        let secs = |value: &str| {
            load(value)
                .expect("loads")
                .parse()
                .expect("parses")
                .as_secs_f64()
        };
        // ldap `timeout` and profile `backdate`: an integer or a bare number is seconds.
        assert_eq!(secs("10"), 10.0);
        assert_eq!(secs("\"10\""), 10.0);
        assert_eq!(secs("90"), 90.0);
        assert_eq!(secs("\"90\""), 90.0);
        // Exit timeouts in milliseconds.
        assert_eq!(secs("\"500ms\""), 0.5);
        // The server's keys.
        assert_eq!(secs("\"90s\""), 90.0);
        assert_eq!(secs("\"30m\""), 1800.0);
        assert_eq!(secs("\"12h\""), 43_200.0);
        assert_eq!(secs("\"7d\""), 604_800.0);
        assert_eq!(secs("\"0s\""), 0.0);
    }

    #[test]
    fn refusals_say_what_to_write() {
        let bad = load("\"5 minutes\"")
            .expect("loads")
            .parse()
            .expect_err("not a duration");
        assert!(
            bad.to_string().contains("write a number and one unit"),
            "{bad}"
        );
        let wrong_type = load("true").expect_err("a boolean");
        assert!(wrong_type.message().contains("\"90s\""), "{wrong_type}");
        assert!(load("-5").is_err());

        let ten_minutes = Duration::from_secs(600);
        let long = DurationSetting::from("1h")
            .within(Duration::from_millis(1), ten_minutes)
            .expect_err("over 10m");
        assert_eq!(
            long.to_string(),
            "\"1h\" is not between 1ms and 10m: write a duration from \"1ms\" to \"10m\""
        );
        assert!(
            DurationSetting::Seconds(0)
                .within(Duration::from_millis(1), ten_minutes)
                .is_err()
        );

        assert!(DurationSetting::from("0s").positive().is_err());
        assert_eq!(
            DurationSetting::from("500ms").positive(),
            Ok(Duration::from_millis(500))
        );

        let fraction = DurationSetting::from("250ms")
            .whole_seconds()
            .expect_err("a CRL period counts seconds");
        assert!(
            fraction.to_string().contains("write seconds or more"),
            "{fraction}"
        );
        assert_eq!(
            DurationSetting::from("7d").whole_seconds(),
            Ok(Duration::from_secs(604_800))
        );
    }
}
