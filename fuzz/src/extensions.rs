//! The decoders for extensions a request may ask for (`ext::parse_key_usage`,
//! `ext::parse_extended_key_usage`, `ext::parse_basic_constraints`) on arbitrary bytes:
//! errors, never panics. Each input goes through all three.
//!
//! Round trips through the matching builders:
//! - keyUsage: decode, build, decode gives the same bits (the input need not be minimal DER,
//!   so the bytes may differ).
//! - extKeyUsage: decode, build gives the input byte for byte (both sides are strict DER).
//! - basicConstraints: decode, build, decode gives the same value whenever the builder can
//!   express it (`pathLenConstraint` only with `cA`, and at most 255).

use signet_x509::ext;

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    if let Ok(usage) = ext::parse_key_usage(data) {
        let built = ext::key_usage(usage);
        assert_eq!(
            ext::parse_key_usage(&built.value).ok(),
            Some(usage),
            "keyUsage round trip changed the bits"
        );
    }

    if let Ok(oids) = ext::parse_extended_key_usage(data) {
        assert!(!oids.is_empty(), "ExtKeyUsageSyntax is SIZE (1..MAX)");
        let built = ext::extended_key_usage(&oids).expect("the builder rejected decoded OIDs");
        assert_eq!(
            built.value, data,
            "extKeyUsage re-encoding is not the input DER"
        );
    }

    if let Ok((ca, path_len)) = ext::parse_basic_constraints(data) {
        let expressible = match path_len {
            None => Some(None),
            Some(n) if ca => u8::try_from(n).ok().map(Some),
            Some(_) => None,
        };
        if let Some(path_len_u8) = expressible {
            let built = ext::basic_constraints(ca, path_len_u8);
            assert_eq!(
                ext::parse_basic_constraints(&built.value).ok(),
                Some((ca, path_len)),
                "basicConstraints round trip changed the value"
            );
        }
    }
}
