//! `signet_x509::ext::parse_subject_alt_name` on arbitrary bytes (the SAN extension of a
//! request is attacker-chosen): errors, never panics.
//!
//! A value that parses is re-encoded with `ext::subject_alt_name` and parsed again: the list
//! must come back unchanged, and since both sides are strict DER with the same tags, the
//! re-encoding must be the input byte for byte.

use signet_x509::{San, ext};

/// The target's body: one input, checked as described above, without the `strict`
/// invariants.
pub fn run(data: &[u8]) {
    check(data, false);
}

/// The target's body with the `strict` invariants (README.md, "Known findings").
pub fn run_strict(data: &[u8]) {
    check(data, true);
}

fn check(data: &[u8], strict: bool) {
    let Ok(sans) = ext::parse_subject_alt_name(data) else {
        return;
    };
    assert!(!sans.is_empty(), "GeneralNames is SIZE (1..MAX)");
    for san in &sans {
        let _ = san.to_string();
    }

    let encoded = match ext::subject_alt_name(&sans, false) {
        Ok(e) => e,
        // The parser accepts an empty IA5String that the builder refuses (README.md, "Known
        // findings"); only that case may fail here unless `strict` is on.
        Err(e) => {
            let has_empty = sans.iter().any(|s| match s {
                San::Dns(v) | San::Email(v) | San::Uri(v) => v.is_empty(),
                San::Ip(_) => false,
            });
            assert!(
                has_empty && !strict,
                "subject_alt_name rejected a list parse_subject_alt_name accepted: {e}; {sans:?}"
            );
            return;
        }
    };
    assert_eq!(encoded.oid, ext::oid::SUBJECT_ALT_NAME);
    assert!(!encoded.critical);
    let again = ext::parse_subject_alt_name(&encoded.value).expect("re-encoded SANs do not parse");
    assert_eq!(again, sans, "SAN round trip changed the list");
    assert_eq!(encoded.value, data, "SAN re-encoding is not the input DER");
}
