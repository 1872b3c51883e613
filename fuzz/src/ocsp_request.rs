//! `ocsp::parse_request` on arbitrary bytes: errors, never panics (OCSP requests come from
//! anyone on the network, unauthenticated). An accepted request's CertIDs are echoed into a
//! response, so encoding one must succeed too.

use std::time::{Duration, SystemTime};

use signet_x509::ocsp::{self, CertStatus, ResponseData, SingleResponse};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let Ok(request) = ocsp::parse_request(data) else {
        return;
    };
    assert!(!request.certs.is_empty() && request.certs.len() <= ocsp::MAX_REQUESTS);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let responses: Vec<SingleResponse<'_>> = request
        .certs
        .iter()
        .map(|id| {
            let _ = id.serial_magnitude();
            SingleResponse {
                cert_id: id,
                status: CertStatus::Good,
                this_update: now,
                next_update: now + Duration::from_secs(3600),
            }
        })
        .collect();
    let der = ocsp::encode_response_data(&ResponseData {
        responder_key_hash: [0; 20],
        produced_at: now,
        responses: &responses,
        nonce: request.nonce.as_deref(),
    })
    .expect("a parsed request must be answerable");
    let full = ocsp::assemble_response(
        &der,
        signet_x509::SignatureAlgorithm::Ed25519,
        &[1; 64],
        &[],
    )
    .expect("assembling");
    ocsp::parse_response(&full).expect("our own response parses");
}
