//! The short text values the REST API and the CLI take from users: CA, profile and request
//! names, serial numbers, OIDs, revocation reasons, times and durations, role lists, and SANs
//! written `dns:NAME` (the admin API's extension edits and token scopes). Every parser must
//! return an error rather than panic, and a value it accepts prints as text that parses to
//! the same value.

use std::str::FromStr;

use signet_api::{CaName, Oid, ProfileName, RequestId, RevocationReason, Roles, SerialNumber};
use signet_x509::time::{parse_duration, parse_time};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    round_trip::<CaName>(s);
    round_trip::<ProfileName>(s);
    round_trip::<RequestId>(s);
    round_trip::<SerialNumber>(s);
    round_trip::<Oid>(s);
    if let Ok(reason) = RevocationReason::parse(s) {
        // A reason also parses from its numeric code.
        assert_eq!(
            RevocationReason::parse(&reason.code().to_string()),
            Ok(reason)
        );
    }
    let _ = parse_time(s);
    let _ = parse_duration(s);
    if let Ok(roles) = Roles::parse_list(s) {
        let _ = format!("{roles:?}");
    }
    if let Ok(san) = signet_server::auth::parse_san(s) {
        let _ = san.to_string();
    }
}

/// `s` parsed as `T`; when it parses, its `Display` must parse to the same value.
fn round_trip<T>(s: &str)
where
    T: FromStr + std::fmt::Display + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = T::from_str(s) {
        let text = v.to_string();
        match T::from_str(&text) {
            Ok(again) => assert_eq!(again, v, "{text:?} parsed to another value"),
            Err(_) => panic!("{text:?}, printed from {s:?}, does not parse"),
        }
    }
}
