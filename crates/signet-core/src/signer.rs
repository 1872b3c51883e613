//! The seams to the key, the clock and the random source, so tests control all three.

use std::time::SystemTime;

use signet_x509::SignatureAlgorithm;

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("signing failed: {0}")]
    Failed(String),
    /// The key's device (an HSM, a token, its daemon) cannot be reached now and may come
    /// back: requests that need a signature answer 503 meanwhile.
    #[error("the signing key is unavailable: {0}")]
    Unavailable(String),
}

/// Why the engine could not build and sign a certificate, CRL or OCSP response. An internal
/// failure: logged with its causes under an incident id, never shown to a requester.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The policy left the certificate without a name.
    #[error("the policy left neither a subject nor a subjectAltName")]
    NoName,
    /// A part could not be DER-encoded (`what` names it: "certificate", "CRL entry", ...).
    #[error("encoding the {what}")]
    Encode {
        what: &'static str,
        #[source]
        source: signet_x509::Error,
    },
    /// The key refused to sign.
    #[error("signing the {what}")]
    Sign {
        what: &'static str,
        #[source]
        source: SignerError,
    },
}

impl BuildError {
    /// A `map_err` adapter for an encoding step.
    pub fn encode(what: &'static str) -> impl FnOnce(signet_x509::Error) -> BuildError {
        move |source| BuildError::Encode { what, source }
    }

    /// A `map_err` adapter for a signing step.
    pub fn sign(what: &'static str) -> impl FnOnce(SignerError) -> BuildError {
        move |source| BuildError::Sign { what, source }
    }
}

/// A CA signing key. The private key never leaves the implementation; callers hand it the
/// bytes to sign and get the signature (DER for ECDSA, raw for Ed25519/RSA/ML-DSA) back.
pub trait Signer: Send + Sync {
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The SubjectPublicKeyInfo of the key, DER.
    fn public_key_der(&self) -> &[u8];
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
    /// Whether the key can sign now, for `/healthz`. A key in memory always can (the
    /// default); a key on a device asks the device, reconnecting if it can.
    fn check(&self) -> Result<(), SignerError> {
        Ok(())
    }
    /// Whether this is no key at all but the stand-in of an offline CA's
    /// ([`crate::offline::OfflineKey`]): the engine then signs nothing for the CA (no
    /// certificates, CRLs or OCSP responses) and refuses what would need a signature.
    fn offline(&self) -> bool {
        false
    }
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
