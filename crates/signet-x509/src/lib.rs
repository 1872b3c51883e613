//! DER in and out for Signet: PKCS#10 requests (parse + proof-of-possession check),
//! certificates (TBS encoding from a draft, assembly with a detached signature), extensions,
//! names and PEM.
//!
//! This crate knows ASN.1 and nothing about the CA: no storage, no policy, no HTTP. It is the
//! only crate that touches untrusted DER directly, so every parser here returns a typed
//! [`Error`] and never panics on input.
//!
//! # Layout
//! - [`name`]: `DistinguishedName` (RFC 4514 string form <-> DER `Name`).
//! - [`csr`]: `parse_csr` and `CertificationRequest`; `encode_csr_info` and `assemble_csr`
//!   for requests the server makes itself.
//! - [`cert`]: `TbsCertificateParams`, `encode_tbs_certificate`, `assemble_certificate`,
//!   `CertificateInfo`.
//! - [`ext`]: builders for the extensions the CA writes (KU, EKU, BC, SKI/AKI, SAN).
//! - [`alg`]: `KeyAlgorithm`, `SignatureAlgorithm` and their AlgorithmIdentifiers.
//! - [`cms`]: CMS (RFC 5652) for SCEP: SignedData parse/verify/sign, EnvelopedData
//!   decrypt/encrypt, a bounded BER normaliser for inbound messages.
//! - [`cmp`]: CMP (RFC 4210/9483) and CRMF: `parse_message`, PBM and signature protection
//!   checks, POP checks, and response writers (ip/cp/kup, rp, pkiConf, pollRep, genp, error).
//! - [`crl`]: CRL encoding (full, delta, partitioned) and a summary parser.
//! - [`ocsp`]: RFC 6960 OCSP request parsing and response encoding.
//! - [`pem`]: PEM helpers.
//! - [`time`]: `CivilTime`, RFC 3339 text, and the one duration grammar of the configuration.
#![forbid(unsafe_code)]

pub mod alg;
mod asn1;
pub mod cert;
pub mod cmp;
pub mod cms;
pub mod crl;
pub mod csr;
mod dn;
pub mod ext;
pub mod name;
pub mod ocsp;
pub mod pem;
pub mod pkcs7;
pub mod time;

pub use alg::{KeyAlgorithm, SignatureAlgorithm};
pub use cert::{
    CertificateInfo, TbsCertificateParams, assemble_certificate, certificate_extensions,
    encode_tbs_certificate, hmac_sha256, parse_certificate, sha256, verify_issued_by,
};
pub use csr::{
    CertificationRequest, RequestFormat, assemble_csr, encode_csr_info, parse_csr, parse_request,
    spki_key_algorithm,
};
pub use ext::{Extension, KeyUsage, NameConstraints, NameSubtree, San};
pub use name::{DistinguishedName, Rdn};

/// One DER TLV with a definite length (single-octet tag): for a front end that writes a
/// small structure of its own (EST's CsrAttrs, an ACME JWK's SubjectPublicKeyInfo) without
/// a length encoder of its own.
pub fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    asn1::tlv(tag, content)
}

/// Everything that can go wrong turning bytes into X.509 objects or back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not well-formed DER/PEM for the expected structure.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// The request's self-signature (proof of possession) does not verify.
    #[error("the request signature does not verify (no proof of possession)")]
    BadSignature,
    /// A key or signature algorithm Signet does not accept.
    #[error("unsupported {what}: {detail}")]
    Unsupported { what: &'static str, detail: String },
    /// A value we were asked to encode is invalid (e.g. a bad DN string).
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
