//! `signet_acme::Jwk::from_json` on arbitrary bytes: errors, never panics. An accepted key's
//! canonical JSON (RFC 7638) parses back to the same key with the same thumbprint, and its
//! serde form is that canonical JSON.

use signet_acme::{AcmeError, Jwk};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let key = match Jwk::from_json(data) {
        Ok(key) => key,
        Err(e) => {
            let _ = e.problem();
            return;
        }
    };
    let canonical = key.canonical_json();
    let again = Jwk::from_json(canonical.as_bytes()).expect("canonical JSON parses");
    assert_eq!(again, key);
    assert_eq!(again.thumbprint(), key.thumbprint());
    assert_eq!(serde_json::to_string(&key).expect("serializes"), canonical);
    let _ = key.key_type().algorithm();
}
