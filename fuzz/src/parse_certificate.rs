//! `signet_x509::parse_certificate` on arbitrary bytes (certificates arrive from peers, CT
//! logs and imports): errors, never panics.
//!
//! A certificate that parses must parse identically when wrapped as a `CERTIFICATE` PEM
//! block, and the names it carries must decode again.

use signet_x509::{CertificateInfo, DistinguishedName, ext, parse_certificate, pem};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let Ok(info) = parse_certificate(data) else {
        return;
    };
    // The serial is lowercase hex of at least one byte.
    assert!(
        !info.serial_hex.is_empty()
            && info.serial_hex.len() % 2 == 0
            && info
                .serial_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "bad serial_hex {:?}",
        info.serial_hex
    );
    for name in [&info.subject, &info.issuer] {
        DistinguishedName::from_der(name.as_der()).expect("a parsed name does not decode");
        let _ = (name.to_string(), name.attributes(), name.common_name());
    }
    for san in &info.sans {
        let _ = san.to_string();
    }
    if info
        .extensions
        .iter()
        .all(|e| e.oid != ext::oid::SUBJECT_ALT_NAME)
    {
        assert!(info.sans.is_empty(), "SANs without a SAN extension");
    }

    // Only DER input (first byte 0x30) can be wrapped; PEM input is already text.
    if data.first() == Some(&0x30) {
        let wrapped = pem::encode("CERTIFICATE", data);
        let via_pem = parse_certificate(wrapped.as_bytes())
            .expect("a certificate parses as DER but not as PEM");
        assert_same(&info, &via_pem);
    }
}

fn assert_same(a: &CertificateInfo, b: &CertificateInfo) {
    assert_eq!(a.serial_hex, b.serial_hex);
    assert_eq!(a.subject, b.subject);
    assert_eq!(a.issuer, b.issuer);
    assert_eq!(a.not_before, b.not_before);
    assert_eq!(a.not_after, b.not_after);
    assert_eq!(a.spki_der, b.spki_der);
    assert_eq!(a.extensions, b.extensions);
    assert_eq!(a.sans, b.sans);
}
