//! The REST API's JSON request bodies (submission and admin endpoints), as the server reads
//! them before it calls the engine: `signet_server::admin_api::decode_json_bodies` decodes the
//! bytes as each body type and runs the text parsers that follow (extension values, SAN and
//! EKU text, revocation reasons and dates, token roles, checkpoint hex). It must return, never
//! panic, and count no more bodies than it tries.

/// How many body types `decode_json_bodies` tries.
const BODY_TYPES: usize = 7;

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let accepted = signet_server::admin_api::decode_json_bodies(data);
    assert!(
        accepted <= BODY_TYPES,
        "{accepted} bodies accepted out of {BODY_TYPES}"
    );
}
