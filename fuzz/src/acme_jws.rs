//! `signet_acme::JwsRequest::parse` and verification on arbitrary bytes: errors, never
//! panics (ACME requests come from anyone on the network). Every error maps to a problem
//! document; an accepted request's parts respect the size limits; the same bytes as an
//! `externalAccountBinding` never panic either.

use signet_acme::jws::{MAX_JWS_BYTES, MAX_NONCE_CHARS, MAX_URL_CHARS};
use signet_acme::{AcmeError, EabRequest, JwsRequest, KeyRef};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(eab) = EabRequest::parse(&value)
    {
        let _ = eab.verify(
            b"fuzz",
            &fuzz_key(),
            "https://ca.example/acme/x/new-account",
        );
    }
    let request = match JwsRequest::parse(data) {
        Ok(request) => request,
        Err(e) => {
            let problem = e.problem();
            assert_eq!(problem.status, Some(problem.kind.status()));
            return;
        }
    };
    assert!(data.len() <= MAX_JWS_BYTES);
    let header = request.header().clone();
    assert!(header.url.len() <= MAX_URL_CHARS && header.nonce.len() <= MAX_NONCE_CHARS);
    let result = match &header.key {
        KeyRef::Jwk(_) => request.verify_embedded(),
        KeyRef::Kid(_) => request.verify_with(&fuzz_key()),
    };
    match result {
        Ok(verified) => assert_eq!(verified.header, header),
        Err(e) => drop(e.problem()),
    }
}

/// RFC 8037 A.2's Ed25519 public key, standing in for an account key.
fn fuzz_key() -> signet_acme::Jwk {
    signet_acme::Jwk::from_json(
        br#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    )
    .expect("the RFC 8037 key parses")
}
