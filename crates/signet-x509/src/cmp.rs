//! CMP (RFC 4210, profiled by RFC 9483 "Lightweight CMP") and the CRMF request format it
//! carries (RFC 4211): a strict DER parser for `PKIMessage` requests, proof-of-possession and
//! protection checks (password-based MAC and signature), and a writer for the responses a CA
//! sends (ip/cp/kup, rp, pkiConf, pollRep, genp, error).
//!
//! Requests arrive from anyone before authentication, so parsing is bounded: at most
//! [`MAX_MESSAGE`] bytes, at most [`MAX_ITEMS`] entries in any list, PBM iteration counts at
//! most [`pbm::MAX_ITERATIONS`]. BER (indefinite lengths, non-minimal encodings) is refused:
//! the protection is computed over the DER of header and body, so a re-encoding could not be
//! verified anyway. Only pvno 2 (cmp2000) and 3 (cmp2021) are accepted.

pub mod pbm;
pub mod pbmac1;
mod write;

use crate::asn1::{self, AlgId, Reader, Spki, Tlv, malformed};
use crate::cert::CertificateFields;
use crate::{DistinguishedName, Error};

pub use pbm::{PbmMac, PbmOwf, PbmParams};
pub use pbmac1::{MacAlgorithm, Pbmac1Params};
pub use write::{
    CertResponse, ErrorContent, FailInfo, PkiStatus, PollResponse, ResponseBody, ResponseHeader,
    StatusInfo, write_mac, write_pbm, write_signed, write_unprotected,
};

/// Largest PKIMessage accepted (256 KiB): enough for a request with a chain in extraCerts.
pub const MAX_MESSAGE: usize = 256 * 1024;
/// The `what` of the [`Error::Unsupported`] [`parse_message`] returns for a pvno other than
/// 2 or 3 (answered with unsupportedVersion).
pub const UNSUPPORTED_PVNO: &str = "CMP protocol version";
/// Largest number of entries read from any SEQUENCE OF (requests, statuses, certificates...).
pub const MAX_ITEMS: usize = 64;

const WHAT: &str = "CMP message";

/// Object identifiers CMP and CRMF use.
pub mod oid {
    /// `id-PasswordBasedMac` (RFC 4210 §5.1.3.1).
    pub const PASSWORD_BASED_MAC: &str = "1.2.840.113533.7.66.13";
    /// `hmac-sha1` (RFC 2104 / RFC 3370).
    pub const HMAC_SHA1: &str = "1.3.6.1.5.5.8.1.2";
    /// `hmacWithSHA256` (RFC 4231 / PKCS#5).
    pub const HMAC_SHA256: &str = "1.2.840.113549.2.9";
    /// `id-it-implicitConfirm` (RFC 4210 §5.1.1.1).
    pub const IMPLICIT_CONFIRM: &str = "1.3.6.1.5.5.7.4.13";
    /// `id-it-caCerts` (RFC 9483 §4.3.1).
    pub const CA_CERTS: &str = "1.3.6.1.5.5.7.4.17";
    /// `id-regCtrl-oldCertID` (RFC 4211 §6.5), the kur control naming the certificate to update.
    pub const OLD_CERT_ID: &str = "1.3.6.1.5.5.7.5.1.5";
    /// `id-ce-cRLReasons`, the extension carrying a revocation reason in rr.
    pub const CRL_REASON: &str = "2.5.29.21";
}

/// One parsed `PKIMessage` (RFC 4210 §5.1).
#[derive(Clone, Debug)]
pub struct PkiMessage {
    /// The header fields.
    pub header: PkiHeader,
    /// The body, by kind.
    pub body: PkiBody,
    /// The `protection` BIT STRING octets, if present.
    pub protection: Option<Vec<u8>>,
    /// Certificates from `extraCerts` (DER), in order.
    pub extra_certs: Vec<Vec<u8>>,
    /// DER of `header` (the whole TLV), for the protected part.
    header_der: Vec<u8>,
    /// DER of `body` (the whole TLV), for the protected part.
    body_der: Vec<u8>,
}

/// The `PKIHeader` fields Signet uses.
#[derive(Clone, Debug)]
pub struct PkiHeader {
    /// Protocol version: 2 (cmp2000) or 3 (cmp2021).
    pub pvno: u32,
    /// The sender `GeneralName` TLV as received.
    pub sender: Vec<u8>,
    /// The sender's `directoryName`, when it is one and decodes.
    pub sender_name: Option<DistinguishedName>,
    /// The recipient `GeneralName` TLV as received.
    pub recipient: Vec<u8>,
    /// The recipient's `directoryName`, when it is one and decodes.
    pub recipient_name: Option<DistinguishedName>,
    /// `messageTime`, if present.
    pub message_time: Option<std::time::SystemTime>,
    /// The `protectionAlg` AlgorithmIdentifier TLV, if present.
    pub protection_alg: Option<Vec<u8>>,
    /// `senderKID` octets (the PBM reference or the signer's SKI).
    pub sender_kid: Option<Vec<u8>>,
    /// `recipKID` octets.
    pub recip_kid: Option<Vec<u8>>,
    /// `transactionID` octets.
    pub transaction_id: Option<Vec<u8>>,
    /// `senderNonce` octets.
    pub sender_nonce: Option<Vec<u8>>,
    /// `recipNonce` octets.
    pub recip_nonce: Option<Vec<u8>>,
    /// `generalInfo` entries.
    pub general_info: Vec<InfoTypeAndValue>,
    /// True when `generalInfo` holds `id-it-implicitConfirm`.
    pub implicit_confirm: bool,
}

/// One `InfoTypeAndValue`: the type OID (dotted) and the raw value TLV, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoTypeAndValue {
    /// The infoType OID in dotted form.
    pub info_type: String,
    /// The infoValue TLV, if present.
    pub value: Option<Vec<u8>>,
}

/// The request bodies Signet handles; anything else is [`PkiBody::Other`].
#[derive(Clone, Debug)]
pub enum PkiBody {
    /// Initialization request `[0]`.
    Ir(Vec<CertReqMsg>),
    /// Certification request `[2]`.
    Cr(Vec<CertReqMsg>),
    /// PKCS#10 request `[4]`: the CertificationRequest DER (parse with [`crate::parse_csr`]).
    P10cr(Vec<u8>),
    /// Key update request `[7]`.
    Kur(Vec<CertReqMsg>),
    /// Revocation request `[11]`.
    Rr(Vec<RevDetails>),
    /// PKI confirmation `[19]`.
    PkiConf,
    /// General message `[21]`.
    Genm(Vec<InfoTypeAndValue>),
    /// General response `[22]`.
    Genp(Vec<InfoTypeAndValue>),
    /// Error message `[23]`.
    Error(ErrorContent),
    /// Certificate confirmation `[24]`.
    CertConf(Vec<CertStatus>),
    /// Polling request `[25]`: the certReqIds polled for.
    PollReq(Vec<i64>),
    /// Any other body; the value is its context tag number.
    Other(u8),
}

impl PkiBody {
    /// The body's context tag number (ir 0, cr 2, p10cr 4, kur 7, rr 11, ...).
    pub fn tag_number(&self) -> u8 {
        match self {
            PkiBody::Ir(_) => 0,
            PkiBody::Cr(_) => 2,
            PkiBody::P10cr(_) => 4,
            PkiBody::Kur(_) => 7,
            PkiBody::Rr(_) => 11,
            PkiBody::PkiConf => 19,
            PkiBody::Genm(_) => 21,
            PkiBody::Genp(_) => 22,
            PkiBody::Error(_) => 23,
            PkiBody::CertConf(_) => 24,
            PkiBody::PollReq(_) => 25,
            PkiBody::Other(n) => *n,
        }
    }
}

/// One CRMF `CertReqMsg` (RFC 4211 §3).
#[derive(Clone, Debug)]
pub struct CertReqMsg {
    /// `certReqId`.
    pub cert_req_id: i64,
    /// The template's fields.
    pub template: CertTemplate,
    /// `oldCertID` control (kur): the issuer GeneralName TLV and the serial's INTEGER content.
    pub old_cert_id: Option<(Vec<u8>, Vec<u8>)>,
    /// The proof of possession.
    pub pop: Pop,
    /// DER of `certReq` (the whole CertRequest TLV), which a signature POP signs.
    cert_req_der: Vec<u8>,
    /// DER of the whole `CertReqMsg`.
    der: Vec<u8>,
}

/// The `CertTemplate` fields Signet uses (RFC 4211 §5).
#[derive(Clone, Debug, Default)]
pub struct CertTemplate {
    /// `serialNumber` INTEGER content octets, if present.
    pub serial: Option<Vec<u8>>,
    /// `issuer` Name DER, if present.
    pub issuer: Option<Vec<u8>>,
    /// `subject` Name DER, if present.
    pub subject: Option<Vec<u8>>,
    /// `publicKey` as a SubjectPublicKeyInfo DER (re-tagged from `[6] IMPLICIT`), if present.
    pub public_key: Option<Vec<u8>>,
    /// `extensions` as an `Extensions` SEQUENCE DER (re-tagged from `[9] IMPLICIT`).
    pub extensions: Option<Vec<u8>>,
}

/// `ProofOfPossession` (RFC 4211 §4).
#[derive(Clone, Debug)]
pub enum Pop {
    /// No POP given.
    None,
    /// `raVerified [0] NULL`.
    RaVerified,
    /// `signature [1] POPOSigningKey` without `poposkInput`.
    Signature {
        /// The signature AlgorithmIdentifier TLV.
        alg: Vec<u8>,
        /// The signature octets, over the DER of `certReq`.
        signature: Vec<u8>,
    },
    /// Any other POP (`keyEncipherment`, `keyAgreement`, or a signature with
    /// `poposkInput`); the value is its context tag number.
    Other(u8),
}

/// One `RevDetails` (rr): what the certDetails template names, and the reason code.
#[derive(Clone, Debug)]
pub struct RevDetails {
    /// The template's `issuer` Name DER.
    pub issuer: Option<Vec<u8>>,
    /// The template's `serialNumber` INTEGER content.
    pub serial: Option<Vec<u8>>,
    /// The CRLReason from `crlEntryDetails`, if given.
    pub reason: Option<u8>,
}

/// One `CertStatus` (certConf).
#[derive(Clone, Debug)]
pub struct CertStatus {
    /// `certHash` octets.
    pub cert_hash: Vec<u8>,
    /// `certReqId`.
    pub cert_req_id: i64,
    /// `statusInfo`, if present (absent means accepted).
    pub status: Option<StatusInfo>,
}

// PKIMessage ::= SEQUENCE {
//     header           PKIHeader,
//     body             PKIBody,
//     protection   [0] PKIProtection OPTIONAL,      -- BIT STRING
//     extraCerts   [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL }
// (The CMP module uses EXPLICIT tags; the CRMF module IMPLICIT ones.)

/// Parses one DER `PKIMessage`.
///
/// Fails with [`Error::Malformed`] for anything that is not DER, exceeds [`MAX_MESSAGE`] or
/// [`MAX_ITEMS`], has an unknown pvno or a malformed field in a body Signet understands.
pub fn parse_message(der: &[u8]) -> crate::Result<PkiMessage> {
    if der.len() > MAX_MESSAGE {
        return Err(malformed(WHAT, format!("larger than {MAX_MESSAGE} bytes")));
    }
    let msg = asn1::single(der, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(msg.value, WHAT);
    let header_tlv = r.read(asn1::SEQUENCE, "header")?;
    let header = decode_header(header_tlv.value)?;
    let body_tlv = r.read_any()?;
    let body = decode_body(&body_tlv)?;
    let protection = match r.read_optional(asn1::context_constructed(0))? {
        Some(t) => {
            let bits = asn1::single(t.value, asn1::BIT_STRING, WHAT)?;
            Some(asn1::octet_aligned_bits(bits.value, WHAT)?.to_vec())
        }
        None => None,
    };
    let extra_certs = match r.read_optional(asn1::context_constructed(1))? {
        Some(t) => {
            let seq = asn1::single(t.value, asn1::SEQUENCE, WHAT)?;
            seq_of(seq.value, "extraCerts", |c| {
                if c.tag != asn1::SEQUENCE {
                    return Err(malformed(WHAT, "extraCerts entry is not a certificate"));
                }
                Ok(c.raw.to_vec())
            })?
        }
        None => Vec::new(),
    };
    r.finish("PKIMessage")?;
    Ok(PkiMessage {
        header,
        body,
        protection,
        extra_certs,
        header_der: header_tlv.raw.to_vec(),
        body_der: body_tlv.raw.to_vec(),
    })
}

impl PkiMessage {
    /// DER of `ProtectedPart ::= SEQUENCE { header, body }`: what the protection covers.
    pub fn protected_part(&self) -> Vec<u8> {
        let mut content = self.header_der.clone();
        content.extend_from_slice(&self.body_der);
        asn1::tlv(asn1::SEQUENCE, &content)
    }

    /// The PBM parameters when `protectionAlg` is `id-PasswordBasedMac`, else `None`.
    ///
    /// Fails with [`Error::Malformed`] or [`Error::Unsupported`] for bad parameters.
    pub fn pbm_params(&self) -> crate::Result<Option<PbmParams>> {
        let Some(alg) = &self.header.protection_alg else {
            return Ok(None);
        };
        let alg = AlgId::decode(&asn1::single(alg, asn1::SEQUENCE, WHAT)?, WHAT)?;
        if alg.oid_string() != oid::PASSWORD_BASED_MAC {
            return Ok(None);
        }
        let params = alg
            .params
            .ok_or_else(|| malformed(WHAT, "PBM without parameters"))?;
        PbmParams::decode(params.raw).map(Some)
    }

    /// The shared-secret protection (PBM or PBMAC1) `protectionAlg` names, else `None`.
    ///
    /// Fails with [`Error::Malformed`] or [`Error::Unsupported`] for bad parameters.
    pub fn mac_algorithm(&self) -> crate::Result<Option<MacAlgorithm>> {
        match &self.header.protection_alg {
            Some(alg) => MacAlgorithm::from_algorithm_identifier(alg),
            None => Ok(None),
        }
    }

    /// Checks a shared-secret protection (PBM or PBMAC1) with `secret`: as
    /// [`PkiMessage::verify_pbm`], for either algorithm.
    pub fn verify_mac(&self, secret: &[u8]) -> crate::Result<()> {
        let alg = self
            .mac_algorithm()?
            .ok_or_else(|| malformed(WHAT, "the message is not MAC-protected"))?;
        let protection = self
            .protection
            .as_deref()
            .ok_or_else(|| malformed(WHAT, "the message has no protection"))?;
        alg.verify(secret, &self.protected_part(), protection)
    }

    /// Checks a password-based MAC protection with the shared `secret`.
    ///
    /// Fails with [`Error::BadSignature`] when the MAC does not match (compared in constant
    /// time), [`Error::Malformed`]/[`Error::Unsupported`] when the message is not PBM-protected
    /// or the parameters are bad.
    pub fn verify_pbm(&self, secret: &[u8]) -> crate::Result<()> {
        let params = self
            .pbm_params()?
            .ok_or_else(|| malformed(WHAT, "the message is not protected by PBM"))?;
        let protection = self
            .protection
            .as_deref()
            .ok_or_else(|| malformed(WHAT, "the message has no protection"))?;
        params.verify(secret, &self.protected_part(), protection)
    }

    /// Checks a signature protection with `signer_cert_der`'s public key (ECDSA, RSA, Ed25519,
    /// ML-DSA as for certificate requests). Says nothing about whether the certificate is
    /// trusted. Fails with [`Error::BadSignature`] for a wrong signature.
    pub fn verify_signature(&self, signer_cert_der: &[u8]) -> crate::Result<()> {
        let alg = self
            .header
            .protection_alg
            .as_deref()
            .ok_or_else(|| malformed(WHAT, "the message has no protectionAlg"))?;
        let protection = self
            .protection
            .as_deref()
            .ok_or_else(|| malformed(WHAT, "the message has no protection"))?;
        let cert = CertificateFields::decode(signer_cert_der)?;
        verify_with_spki(cert.spki, alg, &self.protected_part(), protection)
    }
}

/// Parses one DER `CertReqMsg` (RFC 4211 §3), as [`PkiBody::Ir`] carries them; the POP is
/// not checked here ([`CertReqMsg::verify_pop`]).
pub fn parse_cert_req_msg(der: &[u8]) -> crate::Result<CertReqMsg> {
    if der.len() > MAX_MESSAGE {
        return Err(malformed(WHAT, format!("larger than {MAX_MESSAGE} bytes")));
    }
    let t = asn1::single(der, asn1::SEQUENCE, WHAT)?;
    cert_req_msg(&t)
}

impl CertReqMsg {
    /// DER of the whole `CertReqMsg` (what Signet stores as a `crmf` request).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Checks a signature proof of possession (`POPOSigningKey` without `poposkInput`) over
    /// the DER of `certReq` with the template's public key.
    ///
    /// Fails with [`Error::BadSignature`] for a wrong signature, [`Error::Malformed`] when the
    /// template has no public key, [`Error::Unsupported`] for another kind of POP.
    pub fn verify_pop(&self) -> crate::Result<()> {
        let Pop::Signature { alg, signature } = &self.pop else {
            return Err(Error::Unsupported {
                what: "proof of possession",
                detail: "only a signature POP is checked".into(),
            });
        };
        let spki = self
            .template
            .public_key
            .as_deref()
            .ok_or_else(|| malformed(WHAT, "the certificate template has no public key"))?;
        verify_with_spki(spki, alg, &self.cert_req_der, signature)
    }
}

fn verify_with_spki(spki_der: &[u8], alg: &[u8], message: &[u8], sig: &[u8]) -> crate::Result<()> {
    let spki = Spki::decode(spki_der, WHAT)?;
    let key = crate::csr::classify_key(&spki)?;
    let alg = AlgId::decode(&asn1::single(alg, asn1::SEQUENCE, WHAT)?, WHAT)?;
    crate::csr::verify_signature(key, spki.key, &alg, message, sig)
}

/// Reads a SEQUENCE OF's content with `f` per element, at most [`MAX_ITEMS`] of them.
fn seq_of<'a, T>(
    content: &'a [u8],
    field: &str,
    mut f: impl FnMut(Tlv<'a>) -> crate::Result<T>,
) -> crate::Result<Vec<T>> {
    let mut r = Reader::new(content, WHAT);
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() == MAX_ITEMS {
            return Err(malformed(WHAT, format!("more than {MAX_ITEMS} {field}")));
        }
        out.push(f(r.read_any()?)?);
    }
    Ok(out)
}

/// A DER INTEGER that fits in an i64.
fn small_int(value: &[u8], what: &'static str) -> crate::Result<i64> {
    asn1::check_integer(value, what)?;
    if value.len() > 8 {
        return Err(malformed(what, "INTEGER too large"));
    }
    let init: i64 = if value.first().is_some_and(|b| b & 0x80 != 0) {
        -1
    } else {
        0
    };
    Ok(value.iter().fold(init, |acc, &b| (acc << 8) | i64::from(b)))
}

fn octets(t: &Tlv<'_>, field: &str) -> crate::Result<Vec<u8>> {
    let inner = asn1::single(t.value, asn1::OCTET_STRING, WHAT)
        .map_err(|_| malformed(WHAT, format!("{field} is not an OCTET STRING")))?;
    Ok(inner.value.to_vec())
}

/// A GeneralName: the `directoryName [4]` decoded when it is one.
fn general_name(t: &Tlv<'_>) -> Option<DistinguishedName> {
    if t.tag != asn1::context_constructed(4) {
        return None;
    }
    DistinguishedName::from_der(t.value).ok()
}

// PKIHeader ::= SEQUENCE {
//     pvno                INTEGER { cmp1999(1), cmp2000(2), cmp2021(3) },
//     sender              GeneralName,
//     recipient           GeneralName,
//     messageTime     [0] GeneralizedTime         OPTIONAL,
//     protectionAlg   [1] AlgorithmIdentifier     OPTIONAL,
//     senderKID       [2] KeyIdentifier           OPTIONAL,
//     recipKID        [3] KeyIdentifier           OPTIONAL,
//     transactionID   [4] OCTET STRING            OPTIONAL,
//     senderNonce     [5] OCTET STRING            OPTIONAL,
//     recipNonce      [6] OCTET STRING            OPTIONAL,
//     freeText        [7] PKIFreeText             OPTIONAL,
//     generalInfo     [8] SEQUENCE SIZE (1..MAX) OF InfoTypeAndValue OPTIONAL }
fn decode_header(content: &[u8]) -> crate::Result<PkiHeader> {
    let mut r = Reader::new(content, WHAT);
    let pvno = asn1::small_uint(r.read(asn1::INTEGER, "pvno")?.value, WHAT)?;
    if !(2..=3).contains(&pvno) {
        return Err(Error::Unsupported {
            what: UNSUPPORTED_PVNO,
            detail: format!("pvno {pvno} (Signet speaks 2 and 3)"),
        });
    }
    let sender = r.read_any()?;
    let recipient = r.read_any()?;
    let mut h = PkiHeader {
        pvno,
        sender: sender.raw.to_vec(),
        sender_name: general_name(&sender),
        recipient: recipient.raw.to_vec(),
        recipient_name: general_name(&recipient),
        message_time: None,
        protection_alg: None,
        sender_kid: None,
        recip_kid: None,
        transaction_id: None,
        sender_nonce: None,
        recip_nonce: None,
        general_info: Vec::new(),
        implicit_confirm: false,
    };
    let mut last: Option<u8> = None;
    while !r.is_empty() {
        let t = r.read_any()?;
        let n = t.tag ^ asn1::context_constructed(0);
        if n > 8 || last.is_some_and(|l| n <= l) {
            return Err(malformed(
                WHAT,
                format!("unexpected header field 0x{:02x}", t.tag),
            ));
        }
        last = Some(n);
        match n {
            0 => {
                let time = asn1::single(t.value, asn1::GENERALIZED_TIME, WHAT)?;
                let civil = asn1::CivilTime::from_der(&time, WHAT)?;
                h.message_time = civil.to_system_time();
            }
            1 => {
                let alg = asn1::single(t.value, asn1::SEQUENCE, WHAT)?;
                AlgId::decode(&alg, WHAT)?;
                h.protection_alg = Some(alg.raw.to_vec());
            }
            2 => h.sender_kid = Some(octets(&t, "senderKID")?),
            3 => h.recip_kid = Some(octets(&t, "recipKID")?),
            4 => h.transaction_id = Some(octets(&t, "transactionID")?),
            5 => h.sender_nonce = Some(octets(&t, "senderNonce")?),
            6 => h.recip_nonce = Some(octets(&t, "recipNonce")?),
            7 => {
                asn1::single(t.value, asn1::SEQUENCE, WHAT)?;
            }
            _ => {
                let seq = asn1::single(t.value, asn1::SEQUENCE, WHAT)?;
                h.general_info = seq_of(seq.value, "generalInfo entries", |i| itav(&i))?;
                h.implicit_confirm = h
                    .general_info
                    .iter()
                    .any(|i| i.info_type == oid::IMPLICIT_CONFIRM);
            }
        }
    }
    Ok(h)
}

// InfoTypeAndValue ::= SEQUENCE { infoType OBJECT IDENTIFIER, infoValue ANY OPTIONAL }
fn itav(t: &Tlv<'_>) -> crate::Result<InfoTypeAndValue> {
    if t.tag != asn1::SEQUENCE {
        return Err(malformed(WHAT, "InfoTypeAndValue is not a SEQUENCE"));
    }
    let mut r = Reader::new(t.value, WHAT);
    let oid = r.read(asn1::OID, "infoType")?;
    let info_type =
        asn1::oid_to_string(oid.value).ok_or_else(|| malformed(WHAT, "invalid infoType"))?;
    let value = if r.is_empty() {
        None
    } else {
        Some(r.read_any()?.raw.to_vec())
    };
    r.finish("InfoTypeAndValue")?;
    Ok(InfoTypeAndValue { info_type, value })
}

// PKIBody ::= CHOICE {
//     ir [0] CertReqMessages, ip [1], cr [2] CertReqMessages, cp [3],
//     p10cr [4] CertificationRequest, ..., kur [7] CertReqMessages, kup [8], ...,
//     rr [11] RevReqContent, rp [12], ..., pkiconf [19] PKIConfirmContent (NULL), ...,
//     genm [21] GenMsgContent, genp [22] GenRepContent, error [23] ErrorMsgContent,
//     certConf [24] CertConfirmContent, pollReq [25] PollReqContent, pollRep [26] ... }
// PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER }
fn decode_body(t: &Tlv<'_>) -> crate::Result<PkiBody> {
    if t.tag & 0xe0 != 0xa0 {
        return Err(malformed(WHAT, format!("body tag 0x{:02x}", t.tag)));
    }
    let n = t.tag & 0x1f;
    let inner = || asn1::single(t.value, asn1::SEQUENCE, WHAT);
    Ok(match n {
        0 | 2 | 7 => {
            let reqs = seq_of(inner()?.value, "CertReqMsg", |m| cert_req_msg(&m))?;
            if reqs.is_empty() {
                return Err(malformed(WHAT, "empty CertReqMessages"));
            }
            match n {
                0 => PkiBody::Ir(reqs),
                2 => PkiBody::Cr(reqs),
                _ => PkiBody::Kur(reqs),
            }
        }
        4 => PkiBody::P10cr(inner()?.raw.to_vec()),
        11 => PkiBody::Rr(seq_of(inner()?.value, "RevDetails", |d| rev_details(&d))?),
        19 => {
            let null = asn1::single(t.value, asn1::NULL, WHAT)?;
            if !null.value.is_empty() {
                return Err(malformed(WHAT, "pkiconf is not NULL"));
            }
            PkiBody::PkiConf
        }
        21 => PkiBody::Genm(seq_of(inner()?.value, "InfoTypeAndValue", |i| itav(&i))?),
        22 => PkiBody::Genp(seq_of(inner()?.value, "InfoTypeAndValue", |i| itav(&i))?),
        23 => PkiBody::Error(error_content(inner()?.value)?),
        24 => PkiBody::CertConf(seq_of(inner()?.value, "CertStatus", |s| cert_status(&s))?),
        25 => PkiBody::PollReq(seq_of(inner()?.value, "pollReq entries", |e| {
            let mut r = Reader::new(seq_value(&e)?, WHAT);
            let id = small_int(r.read(asn1::INTEGER, "certReqId")?.value, WHAT)?;
            r.finish("pollReq entry")?;
            Ok(id)
        })?),
        _ => PkiBody::Other(n),
    })
}

fn seq_value<'a>(t: &Tlv<'a>) -> crate::Result<&'a [u8]> {
    if t.tag == asn1::SEQUENCE {
        Ok(t.value)
    } else {
        Err(malformed(WHAT, "expected a SEQUENCE"))
    }
}

// CertReqMsg ::= SEQUENCE {
//     certReq   CertRequest,
//     popo      ProofOfPossession  OPTIONAL,
//     regInfo   SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue OPTIONAL }
// CertRequest ::= SEQUENCE {
//     certReqId     INTEGER,
//     certTemplate  CertTemplate,
//     controls      Controls OPTIONAL }      -- SEQUENCE OF AttributeTypeAndValue
// OldCertId ::= CertId ::= SEQUENCE { issuer GeneralName, serialNumber INTEGER }
// ProofOfPossession ::= CHOICE {
//     raVerified        [0] NULL,
//     signature         [1] POPOSigningKey,
//     keyEncipherment   [2] POPOPrivKey,
//     keyAgreement      [3] POPOPrivKey }
// POPOSigningKey ::= SEQUENCE {
//     poposkInput         [0] POPOSigningKeyInput OPTIONAL,
//     algorithmIdentifier AlgorithmIdentifier,
//     signature           BIT STRING }        -- over the DER of certReq when no poposkInput
fn cert_req_msg(t: &Tlv<'_>) -> crate::Result<CertReqMsg> {
    let mut r = Reader::new(seq_value(t)?, WHAT);
    let cert_req = r.read(asn1::SEQUENCE, "certReq")?;
    let mut cr = Reader::new(cert_req.value, WHAT);
    let cert_req_id = small_int(cr.read(asn1::INTEGER, "certReqId")?.value, WHAT)?;
    let template = cert_template(cr.read(asn1::SEQUENCE, "certTemplate")?.value)?;
    let mut old_cert_id = None;
    if let Some(controls) = cr.read_optional(asn1::SEQUENCE)? {
        for (ty, value) in seq_of(controls.value, "controls", |c| {
            let mut a = Reader::new(seq_value(&c)?, WHAT);
            let ty = a.read(asn1::OID, "control type")?.value;
            let value = a.read_any()?;
            a.finish("control")?;
            Ok((ty, value))
        })? {
            if asn1::oid_to_string(ty).as_deref() == Some(oid::OLD_CERT_ID) {
                let mut c = Reader::new(seq_value(&value)?, WHAT);
                let issuer = c.read_any()?.raw.to_vec();
                let serial = c.read(asn1::INTEGER, "oldCertID serialNumber")?.value;
                asn1::check_integer(serial, WHAT)?;
                c.finish("oldCertID")?;
                old_cert_id = Some((issuer, serial.to_vec()));
            }
        }
    }
    cr.finish("certReq")?;
    let pop = match r.peek_tag() {
        Some(0x80) => {
            let t = r.read_any()?;
            if !t.value.is_empty() {
                return Err(malformed(WHAT, "raVerified is not NULL"));
            }
            Pop::RaVerified
        }
        Some(0xa1) => {
            let t = r.read_any()?;
            let mut p = Reader::new(t.value, WHAT);
            if p.peek_tag() == Some(asn1::context_constructed(0)) {
                Pop::Other(1)
            } else {
                let alg = p.read(asn1::SEQUENCE, "POP algorithm")?;
                AlgId::decode(&alg, WHAT)?;
                let sig = p.read(asn1::BIT_STRING, "POP signature")?;
                let signature = asn1::octet_aligned_bits(sig.value, WHAT)?.to_vec();
                p.finish("POPOSigningKey")?;
                Pop::Signature {
                    alg: alg.raw.to_vec(),
                    signature,
                }
            }
        }
        Some(tag @ (0xa2 | 0xa3)) => {
            r.read_any()?;
            Pop::Other(tag & 0x1f)
        }
        _ => Pop::None,
    };
    if !r.is_empty() {
        r.read(asn1::SEQUENCE, "regInfo")?;
    }
    r.finish("CertReqMsg")?;
    Ok(CertReqMsg {
        cert_req_id,
        template,
        old_cert_id,
        pop,
        cert_req_der: cert_req.raw.to_vec(),
        der: t.raw.to_vec(),
    })
}

// CertTemplate ::= SEQUENCE {                 -- IMPLICIT tags (RFC 4211 module)
//     version      [0] Version               OPTIONAL,
//     serialNumber [1] INTEGER               OPTIONAL,
//     signingAlg   [2] AlgorithmIdentifier   OPTIONAL,
//     issuer       [3] Name                  OPTIONAL,   -- CHOICE, so explicit in effect
//     validity     [4] OptionalValidity      OPTIONAL,
//     subject      [5] Name                  OPTIONAL,
//     publicKey    [6] SubjectPublicKeyInfo  OPTIONAL,   -- re-tagged as a SEQUENCE here
//     issuerUID    [7] UniqueIdentifier      OPTIONAL,
//     subjectUID   [8] UniqueIdentifier      OPTIONAL,
//     extensions   [9] Extensions            OPTIONAL }
fn cert_template(content: &[u8]) -> crate::Result<CertTemplate> {
    let mut r = Reader::new(content, WHAT);
    let mut t = CertTemplate::default();
    let mut last: Option<u8> = None;
    while !r.is_empty() {
        let f = r.read_any()?;
        let n = f.tag & 0x1f;
        if f.tag & 0xc0 != 0x80 || n > 9 || last.is_some_and(|l| n <= l) {
            return Err(malformed(
                WHAT,
                format!("unexpected CertTemplate field 0x{:02x}", f.tag),
            ));
        }
        last = Some(n);
        match (n, f.tag & 0x20 != 0) {
            (1, false) => {
                asn1::check_integer(f.value, WHAT)?;
                t.serial = Some(f.value.to_vec());
            }
            (3, true) => t.issuer = Some(asn1::single(f.value, asn1::SEQUENCE, WHAT)?.raw.to_vec()),
            (5, true) => {
                t.subject = Some(asn1::single(f.value, asn1::SEQUENCE, WHAT)?.raw.to_vec())
            }
            (6, true) => {
                let spki = asn1::tlv(asn1::SEQUENCE, f.value);
                Spki::decode(&spki, WHAT)?;
                t.public_key = Some(spki);
            }
            (9, true) => t.extensions = Some(asn1::tlv(asn1::SEQUENCE, f.value)),
            (0 | 7 | 8, false) | (2 | 4, true) => {}
            _ => {
                return Err(malformed(
                    WHAT,
                    format!("CertTemplate field 0x{:02x} has the wrong form", f.tag),
                ));
            }
        }
    }
    Ok(t)
}

// RevDetails ::= SEQUENCE {
//     certDetails      CertTemplate,
//     crlEntryDetails  Extensions OPTIONAL }   -- the reasonCode extension
fn rev_details(t: &Tlv<'_>) -> crate::Result<RevDetails> {
    let mut r = Reader::new(seq_value(t)?, WHAT);
    let template = cert_template(r.read(asn1::SEQUENCE, "certDetails")?.value)?;
    let mut reason = None;
    if let Some(exts) = r.read_optional(asn1::SEQUENCE)? {
        for ext in seq_of(exts.value, "crlEntryDetails", |e| {
            let mut x = Reader::new(seq_value(&e)?, WHAT);
            let id = x.read(asn1::OID, "extnID")?.value;
            x.read_optional(asn1::BOOLEAN)?;
            let v = x.read(asn1::OCTET_STRING, "extnValue")?.value;
            x.finish("Extension")?;
            Ok((id, v))
        })? {
            if asn1::oid_to_string(ext.0).as_deref() == Some(oid::CRL_REASON) {
                let e = asn1::single(ext.1, 0x0a, WHAT)?;
                match e.value {
                    [b] if *b <= 10 && *b != 7 => reason = Some(*b),
                    _ => return Err(malformed(WHAT, "invalid CRLReason")),
                }
            }
        }
    }
    r.finish("RevDetails")?;
    Ok(RevDetails {
        issuer: template.issuer,
        serial: template.serial,
        reason,
    })
}

// CertStatus ::= SEQUENCE {
//     certHash    OCTET STRING,
//     certReqId   INTEGER,
//     statusInfo  PKIStatusInfo OPTIONAL,
//     hashAlg [0] AlgorithmIdentifier OPTIONAL }   -- RFC 9480
fn cert_status(t: &Tlv<'_>) -> crate::Result<CertStatus> {
    let mut r = Reader::new(seq_value(t)?, WHAT);
    let cert_hash = r.read(asn1::OCTET_STRING, "certHash")?.value.to_vec();
    let cert_req_id = small_int(r.read(asn1::INTEGER, "certReqId")?.value, WHAT)?;
    let status = match r.read_optional(asn1::SEQUENCE)? {
        Some(s) => Some(status_info(s.value)?),
        None => None,
    };
    // RFC 9480 adds hashAlg [0]; tolerated, not used.
    r.read_optional(asn1::context_constructed(0))?;
    r.finish("CertStatus")?;
    Ok(CertStatus {
        cert_hash,
        cert_req_id,
        status,
    })
}

// PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String
fn free_text(t: &Tlv<'_>) -> crate::Result<Vec<String>> {
    seq_of(seq_value(t)?, "freeText entries", |s| {
        if s.tag != asn1::UTF8_STRING {
            return Err(malformed(WHAT, "PKIFreeText entry is not a UTF8String"));
        }
        String::from_utf8(s.value.to_vec()).map_err(|_| malformed(WHAT, "invalid UTF-8"))
    })
}

// PKIStatusInfo ::= SEQUENCE {
//     status        PKIStatus,                   -- INTEGER
//     statusString  PKIFreeText     OPTIONAL,
//     failInfo      PKIFailureInfo  OPTIONAL }   -- named BIT STRING, bit 0 first
fn status_info(content: &[u8]) -> crate::Result<StatusInfo> {
    let mut r = Reader::new(content, WHAT);
    let status = asn1::small_uint(r.read(asn1::INTEGER, "status")?.value, WHAT)?;
    let status = PkiStatus::from_code(status)
        .ok_or_else(|| malformed(WHAT, format!("unknown PKIStatus {status}")))?;
    let text = match r.read_optional(asn1::SEQUENCE)? {
        Some(t) => free_text(&t)?,
        None => Vec::new(),
    };
    let fail_info = match r.read_optional(asn1::BIT_STRING)? {
        Some(b) => {
            let (_, bits) = asn1::bit_string(b.value, WHAT)?;
            if bits.len() > 4 {
                return Err(malformed(WHAT, "PKIFailureInfo too long"));
            }
            bits.iter().enumerate().fold(0u32, |acc, (i, &b)| {
                acc | (u32::from(b.reverse_bits()) << (8 * i))
            })
        }
        None => 0,
    };
    r.finish("PKIStatusInfo")?;
    Ok(StatusInfo {
        status,
        status_string: (!text.is_empty()).then(|| text.join("; ")),
        fail_info: FailInfo(fail_info),
    })
}

// ErrorMsgContent ::= SEQUENCE {
//     pKIStatusInfo  PKIStatusInfo,
//     errorCode      INTEGER      OPTIONAL,
//     errorDetails   PKIFreeText  OPTIONAL }
fn error_content(content: &[u8]) -> crate::Result<ErrorContent> {
    let mut r = Reader::new(content, WHAT);
    let status = status_info(r.read(asn1::SEQUENCE, "pKIStatusInfo")?.value)?;
    let error_code = match r.read_optional(asn1::INTEGER)? {
        Some(i) => Some(small_int(i.value, WHAT)?),
        None => None,
    };
    let details = match r.read_optional(asn1::SEQUENCE)? {
        Some(t) => free_text(&t)?,
        None => Vec::new(),
    };
    r.finish("ErrorMsgContent")?;
    Ok(ErrorContent {
        status,
        error_code,
        details,
    })
}
