//! Certificates: TBS encoding from parameters, assembly with a detached signature, and a
//! summary parser for display and exit modules.

use std::time::SystemTime;

use crate::{DistinguishedName, Extension, KeyUsage, San, SignatureAlgorithm};

/// Everything that goes into a `TBSCertificate` (always v3).
#[derive(Clone, Debug)]
pub struct TbsCertificateParams<'a> {
    /// 20 bytes, first byte in 0x01..=0x7f (positive, minimal DER, exactly 20 octets).
    pub serial: &'a [u8; 20],
    pub signature: SignatureAlgorithm,
    pub issuer: &'a DistinguishedName,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub subject: &'a DistinguishedName,
    /// SubjectPublicKeyInfo DER, copied verbatim.
    pub spki_der: &'a [u8],
    /// In the order they should appear.
    pub extensions: &'a [Extension],
}

/// Encodes the `TBSCertificate` DER that the CA key signs. Times before 2050 are UTCTime,
/// from 2050 on GeneralizedTime (RFC 5280 §4.1.2.5), both truncated to whole seconds.
pub fn encode_tbs_certificate(params: &TbsCertificateParams<'_>) -> crate::Result<Vec<u8>> {
    let _ = params;
    unimplemented!()
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }`.
pub fn assemble_certificate(
    tbs_der: &[u8],
    alg: SignatureAlgorithm,
    signature: &[u8],
) -> crate::Result<Vec<u8>> {
    let _ = (tbs_der, alg, signature);
    unimplemented!()
}

/// A decoded summary of a certificate.
#[derive(Clone, Debug)]
pub struct CertificateInfo {
    /// Lowercase hex of the serial number's unsigned magnitude bytes.
    pub serial_hex: String,
    pub subject: DistinguishedName,
    pub issuer: DistinguishedName,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub spki_der: Vec<u8>,
    pub extensions: Vec<Extension>,
    pub sans: Vec<San>,
}

/// Parses a certificate (PEM or DER) into a summary. Does not verify anything.
pub fn parse_certificate(input: &[u8]) -> crate::Result<CertificateInfo> {
    let _ = input;
    unimplemented!()
}

pub(crate) fn algorithm_identifier_der(alg: SignatureAlgorithm) -> Vec<u8> {
    let _ = alg;
    unimplemented!()
}

pub(crate) fn ext_key_usage_impl(usage: KeyUsage) -> Extension {
    let _ = usage;
    unimplemented!()
}
pub(crate) fn ext_eku_impl(oids: &[String]) -> crate::Result<Extension> {
    let _ = oids;
    unimplemented!()
}
pub(crate) fn ext_bc_impl(ca: bool, path_len: Option<u8>) -> Extension {
    let _ = (ca, path_len);
    unimplemented!()
}
pub(crate) fn ext_ski_impl(key_id: &[u8]) -> Extension {
    let _ = key_id;
    unimplemented!()
}
pub(crate) fn ext_aki_impl(key_id: &[u8]) -> Extension {
    let _ = key_id;
    unimplemented!()
}
pub(crate) fn ext_san_impl(sans: &[San], subject_empty: bool) -> crate::Result<Extension> {
    let _ = (sans, subject_empty);
    unimplemented!()
}
pub(crate) fn key_identifier_impl(spki_der: &[u8]) -> crate::Result<[u8; 20]> {
    let _ = spki_der;
    unimplemented!()
}
