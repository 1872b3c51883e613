//! `signet_x509::pem::{decode, decode_all}` on arbitrary bytes: errors, never panics.
//!
//! Invariants: a decoded block re-encodes and decodes to the same label and DER; `decode_all`
//! with that label starts with the same DER that `decode` returned (both read the first block
//! the same way).

use signet_x509::pem;

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let _ = pem::looks_like_pem(data);
    let first = pem::decode(data);
    if let Ok((label, der)) = &first {
        assert!(!der.is_empty(), "decode returned an empty body");
        let text = pem::encode(label, der);
        let (label2, der2) = pem::decode(text.as_bytes()).expect("encode output does not decode");
        assert_eq!(
            (&label2, &der2),
            (label, der),
            "PEM round trip changed the block"
        );

        // decode_all may still fail on a malformed later block, which decode never reads.
        if let Ok(all) = pem::decode_all(data, label) {
            assert_eq!(
                all.first(),
                Some(der),
                "decode_all disagrees with decode about the first block"
            );
        }
    }
    // A fixed label exercises the filtering path for inputs whose first label differs.
    if let Ok(certs) = pem::decode_all(data, "CERTIFICATE") {
        assert!(certs.iter().all(|c| !c.is_empty()));
        if !certs.is_empty() {
            assert!(
                first.is_ok(),
                "decode_all found a block that decode rejects"
            );
        }
    }
}
