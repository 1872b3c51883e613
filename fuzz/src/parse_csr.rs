//! `signet_x509::parse_csr` on arbitrary bytes: enrollment input is adversarial, so the parser
//! must return an error, never panic.
//!
//! Every input is parsed as given (DER when it starts with 0x30, PEM text otherwise). Inputs of
//! odd length, and every input that parses, are also wrapped as a `CERTIFICATE REQUEST` PEM
//! block and parsed again, which drives the DER parser through the PEM path; the two results
//! must agree.

use signet_x509::{DistinguishedName, ext, parse_csr, pem};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let raw = parse_csr(data);
    if let Ok(req) = &raw {
        // A DER input is kept byte for byte; a PEM input yields the DER inside it.
        if data.first() == Some(&0x30) {
            assert_eq!(req.der, data, "parse_csr changed the request's DER");
        }
        // The subject is a validated Name, so it must decode again.
        DistinguishedName::from_der(req.subject.as_der())
            .expect("a parsed request's subject does not decode");
        let _ = (req.subject.to_string(), req.subject.attributes());
        // The SANs the parser reports are exactly what the SAN extension decodes to.
        let san_ext = req
            .extensions
            .iter()
            .find(|e| e.oid == ext::oid::SUBJECT_ALT_NAME);
        match san_ext {
            Some(e) => assert_eq!(
                ext::parse_subject_alt_name(&e.value).expect("SAN decoded once, not twice"),
                req.sans
            ),
            None => assert!(req.sans.is_empty(), "SANs without a SAN extension"),
        }
        // Parsing is deterministic: the request's own DER parses to the same request.
        let again = parse_csr(&req.der).expect("a parsed request's DER does not parse again");
        assert_eq!(again.subject, req.subject);
        assert_eq!(again.spki_der, req.spki_der);
        assert_eq!(again.key, req.key);
        assert_eq!(again.sans, req.sans);
        assert_eq!(again.challenge_password, req.challenge_password);
    }

    if raw.is_ok() || data.len() % 2 == 1 {
        let wrapped = pem::encode("CERTIFICATE REQUEST", data);
        let via_pem = parse_csr(wrapped.as_bytes());
        // PEM is only a transport for DER: when the bytes are DER (first byte 0x30, as
        // `parse_csr` decides), wrapping them must not change the outcome.
        if data.first() == Some(&0x30) {
            match (&raw, &via_pem) {
                (Ok(a), Ok(b)) => assert_eq!(a.der, b.der),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("DER and PEM-wrapped DER disagree: {a:?} vs {b:?}"),
            }
        }
    }
}
