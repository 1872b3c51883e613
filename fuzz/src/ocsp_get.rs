//! `GET /ocsp/{ca}/{request}` (RFC 5019 §5): the last path segment(s), URL-encoded base64 of a
//! DER OCSP request, from anyone. `signet_server::revocation_api::decode_get_request` must
//! return `None` rather than panic, never return more than `MAX_OCSP_REQUEST` bytes, and what
//! it returns goes through the `ocsp_request` target's checks, as the server parses it next.

use signet_server::revocation_api::{MAX_OCSP_REQUEST, decode_get_request};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(der) = decode_get_request(path) {
        assert!(
            der.len() <= MAX_OCSP_REQUEST,
            "an oversized GET request was decoded"
        );
        super::ocsp_request::run(&der);
    }
}
