//! EST (RFC 7030) bodies from clients: `simpleenroll`, `simplereenroll` and `serverkeygen`
//! send a PKCS#10 request as base64 (§4.2.1), and every request may carry HTTP Basic
//! credentials. `signet_est::decode_base64_body` and `signet_est::parse_basic` must return
//! an error rather than panic, and the decoded DER goes to `signet_x509::parse_csr`, as the
//! handlers do next.

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    if let Ok(der) = signet_est::decode_base64_body(data) {
        // The base64 of n bytes is at least 4n/3 characters.
        assert!(der.len() <= data.len(), "decoding grew the body");
        let _ = signet_x509::parse_csr(&der);
    }
    if let Some(credentials) = signet_est::parse_basic(data) {
        let _ = format!("{credentials:?}");
    }
}
