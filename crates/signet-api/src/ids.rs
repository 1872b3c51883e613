//! Identifier newtypes. Constructors parse, so an invalid value cannot exist.

use std::fmt;
use std::str::FromStr;

/// Why an identifier did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {rule}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub rule: &'static str,
}

fn check_name(kind: &'static str, s: &str) -> Result<(), IdError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !s.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(IdError {
            kind,
            value: s.chars().take(80).collect(),
            rule: "1-64 characters from A-Z a-z 0-9 . _ -, not starting with '.'",
        })
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: &str) -> Result<Self, IdError> {
                check_name($kind, s)?;
                Ok(Self(s.to_string()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A CA's name: the `CAName` part of the AD CS config string `host/CAName`.
    CaName,
    "CA name"
);
name_type!(
    /// The name of a profile (an AD CS certificate template).
    ProfileName,
    "profile name"
);

/// An object identifier in canonical dotted form (`2.5.29.17`): at least two arcs, digits
/// only, no leading zeros, so two spellings of one OID cannot compare different.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid(String);

impl Oid {
    pub fn new(s: &str) -> Result<Oid, IdError> {
        let canonical = s.split('.').all(|arc| arc == "0" || !arc.starts_with('0'));
        if signet_x509::ext::is_dotted_oid(s) && canonical {
            Ok(Oid(s.to_string()))
        } else {
            Err(IdError {
                kind: "OID",
                value: s.chars().take(80).collect(),
                rule: "a dotted object identifier such as 2.5.29.17, without leading zeros",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Oid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Oid, IdError> {
        Oid::new(s)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Oid {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<Oid> for String {
    fn eq(&self, other: &Oid) -> bool {
        *self == other.0
    }
}

impl PartialEq<&str> for Oid {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A request's id, unique within one database (AD CS `RequestID`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(i64);

impl RequestId {
    pub fn new(v: i64) -> Result<Self, IdError> {
        if v > 0 {
            Ok(Self(v))
        } else {
            Err(IdError {
                kind: "request id",
                value: v.to_string(),
                rule: "a positive integer",
            })
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromStr for RequestId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let v: i64 = s.parse().map_err(|_| IdError {
            kind: "request id",
            value: s.chars().take(40).collect(),
            rule: "a positive integer",
        })?;
        Self::new(v)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A certificate serial number: 20 bytes from a CSPRNG with the first byte in 0x01..=0x7f,
/// so the DER INTEGER is positive and exactly 20 octets (RFC 5280 §4.1.2.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SerialNumber([u8; 20]);

impl SerialNumber {
    /// Makes a serial from 20 random bytes, forcing the first byte into 0x01..=0x7f.
    pub fn from_random(mut bytes: [u8; 20]) -> Self {
        bytes[0] &= 0x7f;
        if bytes[0] == 0 {
            bytes[0] = 0x01;
        }
        Self(bytes)
    }

    /// Accepts exactly the 20-byte form Signet issues.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let arr: [u8; 20] = bytes.try_into().map_err(|_| IdError {
            kind: "serial number",
            value: hex::encode(bytes),
            rule: "exactly 20 bytes",
        })?;
        if arr[0] == 0 || arr[0] & 0x80 != 0 {
            return Err(IdError {
                kind: "serial number",
                value: hex::encode(bytes),
                rule: "first byte in 01..7f",
            });
        }
        Ok(Self(arr))
    }

    /// Accepts the unsigned magnitude of any positive serial of at most 20 octets as DER
    /// encodes it (RFC 5280 §4.1.2.2), as certificates issued elsewhere carry (import). It is
    /// kept left-padded to 20 bytes; [`SerialNumber::magnitude`] gives the original back.
    pub fn from_magnitude(bytes: &[u8]) -> Result<Self, IdError> {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let magnitude = &bytes[start..];
        // A 20-byte magnitude with the top bit set needs a 21st (zero) octet in DER.
        let too_long = magnitude.len() > 20 || (magnitude.len() == 20 && magnitude[0] & 0x80 != 0);
        if magnitude.is_empty() || too_long {
            return Err(IdError {
                kind: "serial number",
                value: hex::encode(bytes),
                rule: "a positive integer of at most 20 octets",
            });
        }
        let mut arr = [0u8; 20];
        arr[20 - magnitude.len()..].copy_from_slice(magnitude);
        Ok(Self(arr))
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The serial without leading zero bytes (what a DER INTEGER of it holds, less any sign
    /// octet). For serials Signet issues this is all 20 bytes.
    pub fn magnitude(&self) -> &[u8] {
        let start = self.0.iter().position(|&b| b != 0).unwrap_or(19);
        &self.0[start..]
    }

    /// Lowercase hex, 40 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for SerialNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let cleaned: String = s.chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(&cleaned).map_err(|_| IdError {
            kind: "serial number",
            value: s.chars().take(80).collect(),
            rule: "hexadecimal digits",
        })?;
        Self::from_magnitude(&bytes)
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SerialNumber({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_are_canonical_dotted() {
        let san = Oid::new("2.5.29.17").expect("oid");
        assert_eq!(san, "2.5.29.17");
        assert_eq!(san.to_string(), "2.5.29.17");
        assert_eq!(
            "1.3.6.1.4.1.311.20.2".parse::<Oid>().map(|o| o.to_string()),
            Ok("1.3.6.1.4.1.311.20.2".to_string())
        );
        for bad in [
            "",
            "2",
            "2.5.29.037",
            "02.5.29.37",
            "2.5.29.31.",
            "2..5",
            "a.b",
            "2.5 .29",
        ] {
            assert!(Oid::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_parse_strictly() {
        assert!(CaName::new("demo-ca_1.x").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(CaName::new(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn serial_is_positive_and_20_bytes() {
        for first in [0x00u8, 0x80, 0xff, 0x7f, 0x01] {
            let mut b = [0xabu8; 20];
            b[0] = first;
            let s = SerialNumber::from_random(b);
            assert!(s.as_bytes()[0] >= 1 && s.as_bytes()[0] <= 0x7f);
            assert_eq!(s.to_hex().len(), 40);
            assert_eq!(s.to_hex().parse::<SerialNumber>().expect("round trip"), s);
        }
        assert!("00".parse::<SerialNumber>().is_err());
        let short = "00ab"
            .parse::<SerialNumber>()
            .expect("short serials are accepted");
        assert_eq!(short.magnitude(), &[0xab]);
        assert!(SerialNumber::from_magnitude(&[0x80; 20]).is_err());
    }

    #[test]
    fn request_ids_are_positive() {
        assert!("0".parse::<RequestId>().is_err());
        assert!("-3".parse::<RequestId>().is_err());
        assert_eq!("42".parse::<RequestId>().map(RequestId::get), Ok(42));
    }
}
