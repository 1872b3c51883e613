//! The seams to the key, the clock and the random source, so tests control all three.

use std::time::SystemTime;

use signet_x509::SignatureAlgorithm;

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignerError(pub String);

/// A CA signing key. The private key never leaves the implementation; callers hand it the
/// bytes to sign and get the signature (DER for ECDSA, raw for Ed25519/RSA/ML-DSA) back.
pub trait Signer: Send + Sync {
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The SubjectPublicKeyInfo of the key, DER.
    fn public_key_der(&self) -> &[u8];
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
}

/// Wall-clock time, injected.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A cryptographically secure random source, injected.
pub trait Random: Send + Sync {
    fn fill(&self, buf: &mut [u8]) -> Result<(), SignerError>;
}
