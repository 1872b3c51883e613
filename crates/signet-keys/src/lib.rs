#![forbid(unsafe_code)]
//! Software signing keys for Signet: generation, signing, and storage at rest.
//!
//! [`SoftwareKey`] implements [`signet_core::Signer`] on top of aws-lc-rs for P-256, P-384,
//! Ed25519, RSA (2048/3072/4096, PKCS#1 v1.5 with SHA-256) and ML-DSA-65. Keys are stored as
//! PKCS#8: encrypted (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, PBES2 with
//! PBKDF2-HMAC-SHA256 and AES-256-CBC, the same format `openssl pkcs8 -topk8 -v2 aes-256-cbc
//! -v2prf hmacWithSHA256` writes), or unencrypted for development only.
//! [`SystemRandom`] implements [`signet_core::Random`] with the operating system's generator
//! through aws-lc-rs.
//!
//! The private key never leaves a [`SoftwareKey`] except as PKCS#8 PEM, on request. Plaintext
//! key bytes and derived encryption keys are wiped (`zeroize`) once used, and neither
//! [`SoftwareKey`]'s `Debug` output nor any [`KeyError`] message contains key material or
//! passphrases.
//!
//! # Layout
//!
//! - `software.rs`: [`SoftwareKey`]: generation, signing, PEM import and export, the
//!   [`signet_core::Signer`] implementation.
//! - `pkcs8.rs`: the unencrypted PKCS#8 `PrivateKeyInfo` (RFC 5958): reading the algorithm
//!   identifier of a key, and building the SubjectPublicKeyInfo of each algorithm.
//! - `pbes2.rs`: the PKCS#8 `EncryptedPrivateKeyInfo` with PBES2 (RFC 8018): PBKDF2 and
//!   AES-CBC, encrypt and decrypt.
//! - `oid.rs`: the object identifiers this crate reads and writes.
//! - `random.rs`: [`SystemRandom`].
//! - `error.rs`: [`KeyError`].
//!
//! Tests that check our output against the `openssl` command line (and, for ML-DSA, Python's
//! `cryptography`) live in `tests/openssl.rs`.

mod error;
mod oid;
mod pbes2;
mod pkcs8;
mod random;
mod software;

pub use error::KeyError;
pub use pbes2::PBKDF2_ITERATIONS;
pub use pkcs8::spki_der;
pub use random::SystemRandom;
pub use software::{SealingKeyFactory, SoftwareKey, SoftwareKeyFactory};
