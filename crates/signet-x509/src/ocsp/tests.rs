//! Unit tests of request parsing and response encoding.
#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn oid_constants() {
    for (oid, dotted) in [
        (OID_SHA1, "1.3.14.3.2.26"),
        (OID_SHA256, "2.16.840.1.101.3.4.2.1"),
        (OID_SHA384, "2.16.840.1.101.3.4.2.2"),
        (OID_SHA512, "2.16.840.1.101.3.4.2.3"),
        (OID_OCSP_BASIC, "1.3.6.1.5.5.7.48.1.1"),
        (OID_OCSP_NONCE, "1.3.6.1.5.5.7.48.1.2"),
    ] {
        assert_eq!(asn1::oid_to_string(oid).unwrap(), dotted);
    }
}

#[test]
fn serial_magnitude() {
    let id = |serial: &[u8]| CertId {
        hash: HashAlg::Sha1,
        issuer_name_hash: vec![],
        issuer_key_hash: vec![],
        serial: serial.to_vec(),
        raw: vec![],
    };
    assert_eq!(id(&[0x00, 0x80]).serial_magnitude(), Some(&[0x80][..]));
    assert_eq!(id(&[0x01]).serial_magnitude(), Some(&[0x01][..]));
    assert_eq!(id(&[0x7f; 20]).serial_magnitude(), Some(&[0x7f; 20][..]));
    let mut long = vec![0x00];
    long.extend_from_slice(&[0xff; 20]);
    assert_eq!(id(&long).serial_magnitude(), Some(&[0xff; 20][..]));
    assert_eq!(id(&[0x01; 21]).serial_magnitude(), None);
    assert_eq!(id(&[0x00]).serial_magnitude(), None);
    assert_eq!(id(&[0xff]).serial_magnitude(), None);
    assert_eq!(id(&[]).serial_magnitude(), None);
}

#[test]
fn ocsp_times_are_generalized_time_in_every_year() {
    // 1970 would be UTCTime in a certificate; OCSP uses GeneralizedTime throughout.
    let t = CivilTime::from_system_time(std::time::UNIX_EPOCH).unwrap();
    let mut out = Vec::new();
    t.push_generalized(&mut out);
    assert_eq!(out, b"\x18\x0f19700101000000Z");
    let mut utc = Vec::new();
    t.push_der(&mut utc);
    assert_eq!(utc[0], asn1::UTC_TIME);
}
