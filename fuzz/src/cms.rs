//! `cms::parse_signed_data` and `cms::parse_enveloped_data` on arbitrary bytes: SCEP messages
//! arrive from anyone before any authentication, in BER as well as DER, so both parsers (and
//! the BER normaliser under them) must return an error, never panic, and keep to their
//! bounds.
//!
//! Every input goes through both parsers. An accepted SignedData has each signer looked up
//! among the enclosed certificates and verified against each of them (the result does not
//! matter, only that it returns); an accepted EnvelopedData has at least one recipient, and
//! decrypting it with a fixed RSA key returns (an error, almost always).

use std::sync::OnceLock;

use aws_lc_rs::rsa::{KeySize, Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use signet_x509::cms;

/// One RSA key for the whole run: generating one per input would dominate the run time.
fn key() -> &'static Pkcs1PrivateDecryptingKey {
    static KEY: OnceLock<Pkcs1PrivateDecryptingKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa2048).expect("RSA key generation");
        Pkcs1PrivateDecryptingKey::new(key).expect("a fresh key is a PKCS#1 key")
    })
}

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let signed = cms::parse_signed_data(data);
    let enveloped = cms::parse_enveloped_data(data);
    if data.len() > cms::MAX_INPUT {
        assert!(
            signed.is_err() && enveloped.is_err(),
            "input over MAX_INPUT accepted"
        );
        return;
    }
    if let Ok(msg) = &signed {
        let content = msg.content.as_deref().unwrap_or_default();
        for signer in &msg.signers {
            let _ = signer.find_certificate(&msg.certificates);
            let _ = signer.attribute(cms::oid::MESSAGE_DIGEST);
            for cert in &msg.certificates {
                let _ = signer.verify(content, cert);
            }
        }
    }
    if let Ok(msg) = &enveloped {
        assert!(
            !msg.recipients.is_empty(),
            "EnvelopedData accepted without a recipient"
        );
        let cert = data; // Not a certificate: the lone recipient is tried regardless.
        let _ = msg.decrypt(cert, key());
    }
}
