//! The ACME (RFC 8555) message layer: what a client sends and what the server answers,
//! without HTTP and without storage. The HTTP front end and the store come later; they call
//! into this crate to parse and verify requests and to write problem documents.
//!
//! Layout:
//! - [`jws`]: flattened JWS requests (RFC 8555 §6.2): parse, decode the protected header,
//!   verify ES256, ES384, RS256 (≥ 2048 bits) and EdDSA (Ed25519) signatures.
//! - [`jwk`]: public JWKs (EC P-256/P-384, RSA, OKP Ed25519), RFC 7638 thumbprints, key
//!   equality (for `keyChange`).
//! - [`eab`]: External Account Binding (RFC 8555 §7.3.4), the inner HS256 JWS.
//! - [`nonce`]: stateless, authenticated, dated nonces ([`nonce::NonceKey`]) and the replay
//!   ledger trait ([`nonce::NonceLedger`]) that makes each one single-use.
//! - [`problem`]: the RFC 8555 §6.7 error types and the problem document; every error of this
//!   crate maps to exactly one problem type through [`problem::AcmeError`].
//! - [`directory`]: the directory document of one CA.
//!
//! Architecture invariant: this crate parses untrusted JSON and JWS from anyone on the
//! network; it never panics on input, bounds every field's size, and returns typed errors
//! (`thiserror`), each mapped to one ACME problem type. It depends on no other workspace crate.
#![forbid(unsafe_code)]

pub mod directory;
pub mod eab;
pub mod jwk;
pub mod jws;
pub mod nonce;
pub mod problem;
pub mod server;
pub mod validate;

pub use directory::{Directory, Meta};
pub use eab::{EabError, EabRequest};
pub use jwk::{Curve, Jwk, JwkError, KeyType};
pub use jws::{Algorithm, JwsError, JwsRequest, KeyRef, ProtectedHeader, VerifiedRequest};
pub use nonce::{CheckedNonce, MemoryNonceLedger, NonceError, NonceKey, NonceLedger};
pub use problem::{AcmeError, Identifier, Problem, ProblemType};
pub use validate::{IpRange, ValidationConfig, ValidationError, ValidationSetupError, Validator};

/// Strict unpadded base64url (RFC 7515 §2): no padding, no whitespace, no other alphabet.
pub(crate) mod b64 {
    use base64ct::{Base64UrlUnpadded, Encoding};

    /// Why a base64url field did not decode.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    pub enum B64Error {
        /// Longer than the field's limit (checked before decoding).
        #[error("longer than {limit} characters")]
        TooLong { limit: usize },
        /// A character outside the base64url alphabet, padding, or non-canonical trailing bits.
        #[error("not unpadded base64url")]
        Invalid,
    }

    pub fn decode(text: &str, max_chars: usize) -> Result<Vec<u8>, B64Error> {
        if text.len() > max_chars {
            return Err(B64Error::TooLong { limit: max_chars });
        }
        Base64UrlUnpadded::decode_vec(text).map_err(|_| B64Error::Invalid)
    }

    pub fn encode(bytes: &[u8]) -> String {
        Base64UrlUnpadded::encode_string(bytes)
    }
}

/// Deserializes any JSON value and records that the member was present (even `null`).
pub(crate) fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    <serde::de::IgnoredAny as serde::Deserialize>::deserialize(d).map(|_| true)
}
