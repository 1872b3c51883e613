//! SCEP pkiMessages (RFC 8894 §3) as `POST /scep/{ca}?operation=PKIOperation` receives them
//! from anyone: `signet_scep::message::read` parses the CMS SignedData, checks the SCEP
//! attributes, verifies the signature with the certificate the message carries, and decrypts
//! the EnvelopedData inside with the RA key. It must refuse, never panic, whatever the bytes.
//!
//! The RA key is fixed (`keys/scep-ra.key.der`, PKCS#8, and `keys/scep-ra.crt.der`; see
//! `gen-seeds.sh`) so that seeds encrypted to it reach the decryption and the PKCS#10 inside.

use std::sync::OnceLock;

use signet_scep::RaKey;
use signet_scep::message::{MessageType, read};

/// The RA key and certificate the seeds are encrypted to.
fn ra() -> &'static RaKey {
    static RA: OnceLock<RaKey> = OnceLock::new();
    RA.get_or_init(|| {
        RaKey::from_pkcs8(
            include_bytes!("../keys/scep-ra.key.der"),
            include_bytes!("../keys/scep-ra.crt.der").to_vec(),
        )
        .expect("the committed RA key and certificate belong together")
    })
}

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    // Legacy ciphers (DES) on: the server may be configured to accept them.
    if let Ok(request) = read(data, ra(), true)
        && matches!(
            request.message_type,
            MessageType::PkcsReq | MessageType::RenewalReq
        )
    {
        let _ = signet_x509::parse_csr(&request.content);
    }
}
