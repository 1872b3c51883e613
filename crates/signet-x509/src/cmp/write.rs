//! Writing CMP responses (DER): the header echoing the request's transaction, the bodies a CA
//! answers with, and PBM or signature protection.

use std::time::SystemTime;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::pbm::{PbmParams, oid_tlv, uint_bytes};
use super::{PkiMessage, oid};
use crate::Error;
use crate::asn1::{self, CivilTime, invalid};

const WHAT: &str = "CMP response";

/// `PKIStatus` (RFC 4210 §5.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PkiStatus {
    /// accepted (0).
    Accepted,
    /// grantedWithMods (1).
    GrantedWithMods,
    /// rejection (2).
    Rejection,
    /// waiting (3).
    Waiting,
    /// revocationWarning (4).
    RevocationWarning,
    /// revocationNotification (5).
    RevocationNotification,
    /// keyUpdateWarning (6).
    KeyUpdateWarning,
}

impl PkiStatus {
    /// The INTEGER value.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The status for an INTEGER value, if defined.
    pub fn from_code(code: u32) -> Option<PkiStatus> {
        use PkiStatus::*;
        [
            Accepted,
            GrantedWithMods,
            Rejection,
            Waiting,
            RevocationWarning,
            RevocationNotification,
            KeyUpdateWarning,
        ]
        .get(usize::try_from(code).ok()?)
        .copied()
    }
}

/// `PKIFailureInfo` bits (RFC 4210 §5.2.3): bit `n` of the value is named bit `n`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailInfo(pub u32);

impl FailInfo {
    /// badAlg.
    pub const BAD_ALG: FailInfo = FailInfo(1 << 0);
    /// badMessageCheck (protection did not verify).
    pub const BAD_MESSAGE_CHECK: FailInfo = FailInfo(1 << 1);
    /// badRequest.
    pub const BAD_REQUEST: FailInfo = FailInfo(1 << 2);
    /// badTime.
    pub const BAD_TIME: FailInfo = FailInfo(1 << 3);
    /// badCertId.
    pub const BAD_CERT_ID: FailInfo = FailInfo(1 << 4);
    /// badDataFormat.
    pub const BAD_DATA_FORMAT: FailInfo = FailInfo(1 << 5);
    /// wrongAuthority.
    pub const WRONG_AUTHORITY: FailInfo = FailInfo(1 << 6);
    /// incorrectData.
    pub const INCORRECT_DATA: FailInfo = FailInfo(1 << 7);
    /// missingTimeStamp.
    pub const MISSING_TIME_STAMP: FailInfo = FailInfo(1 << 8);
    /// badPOP.
    pub const BAD_POP: FailInfo = FailInfo(1 << 9);
    /// certRevoked.
    pub const CERT_REVOKED: FailInfo = FailInfo(1 << 10);
    /// certConfirmed.
    pub const CERT_CONFIRMED: FailInfo = FailInfo(1 << 11);
    /// badCertTemplate.
    pub const BAD_CERT_TEMPLATE: FailInfo = FailInfo(1 << 19);
    /// signerNotTrusted.
    pub const SIGNER_NOT_TRUSTED: FailInfo = FailInfo(1 << 20);
    /// transactionIdInUse.
    pub const TRANSACTION_ID_IN_USE: FailInfo = FailInfo(1 << 21);
    /// unsupportedVersion.
    pub const UNSUPPORTED_VERSION: FailInfo = FailInfo(1 << 22);
    /// notAuthorized.
    pub const NOT_AUTHORIZED: FailInfo = FailInfo(1 << 23);
    /// systemUnavail.
    pub const SYSTEM_UNAVAIL: FailInfo = FailInfo(1 << 24);
    /// systemFailure.
    pub const SYSTEM_FAILURE: FailInfo = FailInfo(1 << 25);
    /// duplicateCertReq.
    pub const DUPLICATE_CERT_REQ: FailInfo = FailInfo(1 << 26);

    /// True when named bit `n` is set.
    pub fn has(self, other: FailInfo) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The BIT STRING content (named-bit DER: trailing zero bits removed).
    fn bit_string_content(self) -> Vec<u8> {
        if self.0 == 0 {
            return vec![0];
        }
        let high = 31 - self.0.leading_zeros();
        let n = (high / 8 + 1) as usize;
        let mut out = vec![(7 - high % 8) as u8];
        out.extend((0..n).map(|i| ((self.0 >> (8 * i)) as u8).reverse_bits()));
        out
    }
}

/// `PKIStatusInfo`: status, an optional statusString, failInfo bits (omitted when zero).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusInfo {
    /// The status.
    pub status: PkiStatus,
    /// One UTF8String of statusString, if any (several are joined with "; " when parsed).
    pub status_string: Option<String>,
    /// The failure bits.
    pub fail_info: FailInfo,
}

impl StatusInfo {
    /// `accepted` with nothing else.
    pub fn accepted() -> StatusInfo {
        StatusInfo {
            status: PkiStatus::Accepted,
            status_string: None,
            fail_info: FailInfo::default(),
        }
    }

    /// `rejection` with `fail_info` and a text.
    pub fn rejection(fail_info: FailInfo, text: &str) -> StatusInfo {
        StatusInfo {
            status: PkiStatus::Rejection,
            status_string: Some(text.to_string()),
            fail_info,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut c = asn1::tlv(asn1::INTEGER, &uint_bytes(u64::from(self.status.code())));
        if let Some(s) = &self.status_string {
            c.extend(free_text(s));
        }
        if self.fail_info.0 != 0 {
            c.extend(asn1::tlv(
                asn1::BIT_STRING,
                &self.fail_info.bit_string_content(),
            ));
        }
        asn1::tlv(asn1::SEQUENCE, &c)
    }
}

/// `ErrorMsgContent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorContent {
    /// The status (normally rejection with failInfo).
    pub status: StatusInfo,
    /// errorCode, if any.
    pub error_code: Option<i64>,
    /// errorDetails texts.
    pub details: Vec<String>,
}

/// One `CertResponse` of an ip/cp/kup.
#[derive(Clone, Debug)]
pub struct CertResponse {
    /// The certReqId answered (-1 for p10cr, RFC 4210 §5.3.4 / RFC 9483 §4.1.4).
    pub cert_req_id: i64,
    /// The status.
    pub status: StatusInfo,
    /// The issued certificate DER, when accepted.
    pub certificate: Option<Vec<u8>>,
}

/// One entry of a pollRep.
#[derive(Clone, Copy, Debug)]
pub struct PollResponse {
    /// The certReqId polled for.
    pub cert_req_id: i64,
    /// Seconds the client should wait.
    pub check_after: u64,
}

/// The response bodies Signet writes.
#[derive(Clone, Debug)]
pub enum ResponseBody {
    /// ip `[1]`: caPubs (may be empty) and the responses.
    Ip(Vec<Vec<u8>>, Vec<CertResponse>),
    /// cp `[3]`.
    Cp(Vec<Vec<u8>>, Vec<CertResponse>),
    /// kup `[8]`.
    Kup(Vec<Vec<u8>>, Vec<CertResponse>),
    /// rp `[12]`: one status per RevDetails.
    Rp(Vec<StatusInfo>),
    /// pkiconf `[19]`.
    PkiConf,
    /// genp `[22]`: (infoType dotted OID, infoValue TLV) pairs.
    Genp(Vec<(String, Option<Vec<u8>>)>),
    /// error `[23]`.
    Error(ErrorContent),
    /// pollRep `[26]`.
    PollRep(Vec<PollResponse>),
}

impl ResponseBody {
    // RevRepContent ::= SEQUENCE { status SEQUENCE SIZE (1..MAX) OF PKIStatusInfo, ... }
    // GenRepContent ::= SEQUENCE OF InfoTypeAndValue
    // PollRepContent ::= SEQUENCE OF SEQUENCE {
    //     certReqId INTEGER, checkAfter INTEGER, reason PKIFreeText OPTIONAL }
    fn encode(&self) -> crate::Result<Vec<u8>> {
        let (tag, content) = match self {
            ResponseBody::Ip(ca, r) => (1, cert_rep(ca, r)?),
            ResponseBody::Cp(ca, r) => (3, cert_rep(ca, r)?),
            ResponseBody::Kup(ca, r) => (8, cert_rep(ca, r)?),
            ResponseBody::Rp(statuses) => {
                let s: Vec<u8> = statuses.iter().flat_map(StatusInfo::encode).collect();
                (
                    12,
                    asn1::tlv(asn1::SEQUENCE, &asn1::tlv(asn1::SEQUENCE, &s)),
                )
            }
            ResponseBody::PkiConf => (19, vec![asn1::NULL, 0]),
            ResponseBody::Genp(items) => {
                let mut c = Vec::new();
                for (ty, value) in items {
                    let mut i = oid_checked(ty)?;
                    if let Some(v) = value {
                        check_tlv(v, "infoValue")?;
                        i.extend_from_slice(v);
                    }
                    c.extend(asn1::tlv(asn1::SEQUENCE, &i));
                }
                (22, asn1::tlv(asn1::SEQUENCE, &c))
            }
            ResponseBody::Error(e) => {
                let mut c = e.status.encode();
                if let Some(code) = e.error_code {
                    c.extend(asn1::tlv(asn1::INTEGER, &int_bytes(code)));
                }
                if !e.details.is_empty() {
                    let t: Vec<u8> = e
                        .details
                        .iter()
                        .flat_map(|d| asn1::tlv(asn1::UTF8_STRING, d.as_bytes()))
                        .collect();
                    c.extend(asn1::tlv(asn1::SEQUENCE, &t));
                }
                (23, asn1::tlv(asn1::SEQUENCE, &c))
            }
            ResponseBody::PollRep(entries) => {
                let mut c = Vec::new();
                for e in entries {
                    let mut i = asn1::tlv(asn1::INTEGER, &int_bytes(e.cert_req_id));
                    i.extend(asn1::tlv(asn1::INTEGER, &uint_bytes(e.check_after)));
                    c.extend(asn1::tlv(asn1::SEQUENCE, &i));
                }
                (26, asn1::tlv(asn1::SEQUENCE, &c))
            }
        };
        Ok(asn1::tlv(asn1::context_constructed(tag), &content))
    }
}

// CertRepMessage ::= SEQUENCE {
//     caPubs    [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL,
//     response      SEQUENCE OF CertResponse }
// CertResponse ::= SEQUENCE {
//     certReqId         INTEGER,
//     status            PKIStatusInfo,
//     certifiedKeyPair  CertifiedKeyPair OPTIONAL,
//     rspInfo           OCTET STRING     OPTIONAL }
// CertifiedKeyPair ::= SEQUENCE { certOrEncCert CertOrEncCert, ... }
// CertOrEncCert ::= CHOICE { certificate [0] CMPCertificate, encryptedCert [1] ... }
fn cert_rep(ca_pubs: &[Vec<u8>], responses: &[CertResponse]) -> crate::Result<Vec<u8>> {
    let mut c = Vec::new();
    if !ca_pubs.is_empty() {
        let mut certs = Vec::new();
        for cert in ca_pubs {
            check_tlv(cert, "caPubs certificate")?;
            certs.extend_from_slice(cert);
        }
        c.extend(asn1::tlv(
            asn1::context_constructed(1),
            &asn1::tlv(asn1::SEQUENCE, &certs),
        ));
    }
    let mut rs = Vec::new();
    for r in responses {
        let mut i = asn1::tlv(asn1::INTEGER, &int_bytes(r.cert_req_id));
        i.extend(r.status.encode());
        if let Some(cert) = &r.certificate {
            check_tlv(cert, "certificate")?;
            // CertifiedKeyPair { certOrEncCert CertOrEncCert { certificate [0] CMPCertificate } }
            let coec = asn1::tlv(asn1::context_constructed(0), cert);
            i.extend(asn1::tlv(asn1::SEQUENCE, &coec));
        }
        rs.extend(asn1::tlv(asn1::SEQUENCE, &i));
    }
    c.extend(asn1::tlv(asn1::SEQUENCE, &rs));
    Ok(asn1::tlv(asn1::SEQUENCE, &c))
}

/// The response header: built from the request with [`ResponseHeader::reply_to`], then
/// adjusted field by field.
#[derive(Clone, Debug)]
pub struct ResponseHeader {
    /// pvno (2 for OpenSSL 3.0 clients).
    pub pvno: u32,
    /// Our name (a `Name` DER), sent as the sender directoryName.
    pub sender_name: Vec<u8>,
    /// The recipient GeneralName TLV (the request's sender).
    pub recipient: Vec<u8>,
    /// messageTime.
    pub message_time: SystemTime,
    /// senderKID (the PBM reference echoed, or our SKI).
    pub sender_kid: Option<Vec<u8>>,
    /// recipKID, if any.
    pub recip_kid: Option<Vec<u8>>,
    /// transactionID echoed.
    pub transaction_id: Option<Vec<u8>>,
    /// A fresh senderNonce.
    pub sender_nonce: Vec<u8>,
    /// recipNonce = the request's senderNonce.
    pub recip_nonce: Option<Vec<u8>>,
    /// Put `id-it-implicitConfirm` in generalInfo (when granting it).
    pub implicit_confirm: bool,
}

impl ResponseHeader {
    /// A header answering `req` from `sender_name` (a `Name` DER): pvno 2, transactionID
    /// echoed, recipNonce = the request's senderNonce, a fresh 16-byte senderNonce, recipient =
    /// the request's sender, messageTime now, senderKID echoed (right for PBM; replace it with
    /// our SKI for signature protection), no implicitConfirm.
    pub fn reply_to(req: &PkiMessage, sender_name: &[u8]) -> crate::Result<ResponseHeader> {
        let mut header = ResponseHeader::reply_to_unreadable(sender_name, &req.header.sender)?;
        header.sender_kid = req.header.sender_kid.clone();
        header.transaction_id = req.header.transaction_id.clone();
        header.recip_nonce = req.header.sender_nonce.clone();
        Ok(header)
    }

    /// A header answering a message that could not be read: pvno 2, `recipient` (a
    /// GeneralName TLV, e.g. the NULL-DN), messageTime now, a fresh 16-byte senderNonce,
    /// nothing echoed.
    pub fn reply_to_unreadable(
        sender_name: &[u8],
        recipient: &[u8],
    ) -> crate::Result<ResponseHeader> {
        let mut nonce = vec![0u8; 16];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Unsupported {
                what: "random source",
                detail: "the system random generator failed".into(),
            })?;
        Ok(ResponseHeader {
            pvno: 2,
            sender_name: sender_name.to_vec(),
            recipient: recipient.to_vec(),
            message_time: SystemTime::now(),
            sender_kid: None,
            recip_kid: None,
            transaction_id: None,
            sender_nonce: nonce,
            recip_nonce: None,
            implicit_confirm: false,
        })
    }

    fn encode(&self, protection_alg: Option<&[u8]>) -> crate::Result<Vec<u8>> {
        check_tlv(&self.sender_name, "sender name")?;
        check_tlv(&self.recipient, "recipient")?;
        let ctx = asn1::context_constructed;
        let mut c = asn1::tlv(asn1::INTEGER, &uint_bytes(u64::from(self.pvno)));
        c.extend(asn1::tlv(ctx(4), &self.sender_name));
        c.extend_from_slice(&self.recipient);
        let time = CivilTime::from_system_time(crate::time::whole_seconds(self.message_time))
            .ok_or_else(|| invalid(WHAT, "messageTime out of range"))?;
        let mut t = Vec::new();
        time.push_generalized(&mut t);
        c.extend(asn1::tlv(ctx(0), &t));
        if let Some(alg) = protection_alg {
            c.extend(asn1::tlv(ctx(1), alg));
        }
        let octets = |n: u8, v: &Option<Vec<u8>>| {
            v.as_ref()
                .map(|v| asn1::tlv(ctx(n), &asn1::tlv(asn1::OCTET_STRING, v)))
                .unwrap_or_default()
        };
        c.extend(octets(2, &self.sender_kid));
        c.extend(octets(3, &self.recip_kid));
        c.extend(octets(4, &self.transaction_id));
        c.extend(octets(5, &Some(self.sender_nonce.clone())));
        c.extend(octets(6, &self.recip_nonce));
        if self.implicit_confirm {
            let mut i = oid_tlv(oid::IMPLICIT_CONFIRM);
            i.extend_from_slice(&[asn1::NULL, 0]);
            let seq = asn1::tlv(asn1::SEQUENCE, &asn1::tlv(asn1::SEQUENCE, &i));
            c.extend(asn1::tlv(ctx(8), &seq));
        }
        Ok(asn1::tlv(asn1::SEQUENCE, &c))
    }
}

fn assemble(
    header: &[u8],
    body: &[u8],
    protection: Option<&[u8]>,
    extra_certs: &[Vec<u8>],
) -> crate::Result<Vec<u8>> {
    let mut c = header.to_vec();
    c.extend_from_slice(body);
    if let Some(p) = protection {
        let mut bits = vec![0u8];
        bits.extend_from_slice(p);
        c.extend(asn1::tlv(
            asn1::context_constructed(0),
            &asn1::tlv(asn1::BIT_STRING, &bits),
        ));
    }
    if !extra_certs.is_empty() {
        let mut certs = Vec::new();
        for cert in extra_certs {
            check_tlv(cert, "extraCerts certificate")?;
            certs.extend_from_slice(cert);
        }
        c.extend(asn1::tlv(
            asn1::context_constructed(1),
            &asn1::tlv(asn1::SEQUENCE, &certs),
        ));
    }
    Ok(asn1::tlv(asn1::SEQUENCE, &c))
}

fn protected_part(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut c = header.to_vec();
    c.extend_from_slice(body);
    asn1::tlv(asn1::SEQUENCE, &c)
}

/// Writes a response protected by PBM with `secret` and `params` (normally the request's
/// parameters with a fresh salt, [`PbmParams::with_fresh_salt`]).
pub fn write_pbm(
    header: &ResponseHeader,
    body: &ResponseBody,
    secret: &[u8],
    params: &PbmParams,
    extra_certs: &[Vec<u8>],
) -> crate::Result<Vec<u8>> {
    write_mac(
        header,
        body,
        secret,
        &super::MacAlgorithm::Pbm(params.clone()),
        extra_certs,
    )
}

/// Writes a response protected by a shared-secret MAC (PBM or PBMAC1) with `secret` and
/// `alg` (normally the request's with a fresh salt, [`MacAlgorithm::with_fresh_salt`]).
pub fn write_mac(
    header: &ResponseHeader,
    body: &ResponseBody,
    secret: &[u8],
    alg: &super::MacAlgorithm,
    extra_certs: &[Vec<u8>],
) -> crate::Result<Vec<u8>> {
    let h = header.encode(Some(&alg.algorithm_identifier()))?;
    let b = body.encode()?;
    let mac = alg.mac(secret, &protected_part(&h, &b));
    assemble(&h, &b, Some(&mac), extra_certs)
}

/// Writes a response protected by a signature: `signature_alg_der` is the AlgorithmIdentifier
/// DER put in protectionAlg (e.g. ecdsa-with-SHA256) and `sign` returns the signature over the
/// DER ProtectedPart it receives. `extra_certs` should start with the signer certificate.
pub fn write_signed(
    header: &ResponseHeader,
    body: &ResponseBody,
    signature_alg_der: &[u8],
    sign: impl FnOnce(&[u8]) -> crate::Result<Vec<u8>>,
    extra_certs: &[Vec<u8>],
) -> crate::Result<Vec<u8>> {
    let alg = asn1::single(signature_alg_der, asn1::SEQUENCE, WHAT)
        .map_err(|_| invalid(WHAT, "signature algorithm is not an AlgorithmIdentifier"))?;
    let h = header.encode(Some(alg.raw))?;
    let b = body.encode()?;
    let sig = sign(&protected_part(&h, &b))?;
    assemble(&h, &b, Some(&sig), extra_certs)
}

/// Writes an unprotected response (RFC 4210 allows it for some errors; OpenSSL accepts it
/// only with `-unprotected_errors`).
pub fn write_unprotected(
    header: &ResponseHeader,
    body: &ResponseBody,
    extra_certs: &[Vec<u8>],
) -> crate::Result<Vec<u8>> {
    let h = header.encode(None)?;
    let b = body.encode()?;
    assemble(&h, &b, None, extra_certs)
}

fn free_text(s: &str) -> Vec<u8> {
    asn1::tlv(asn1::SEQUENCE, &asn1::tlv(asn1::UTF8_STRING, s.as_bytes()))
}

fn oid_checked(dotted: &str) -> crate::Result<Vec<u8>> {
    let mut v = Vec::new();
    asn1::oid_from_dotted(dotted, &mut v).ok_or_else(|| invalid(WHAT, "invalid OID"))?;
    Ok(asn1::tlv(asn1::OID, &v))
}

fn check_tlv(der: &[u8], field: &'static str) -> crate::Result<()> {
    let mut r = asn1::Reader::new(der, field);
    r.read_any()
        .and_then(|_| r.finish(field))
        .map_err(|_| invalid(WHAT, format!("{field} is not one DER value")))
}

/// Minimal two's-complement INTEGER content octets.
fn int_bytes(v: i64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((b[start] == 0 && b[start + 1] & 0x80 == 0)
            || (b[start] == 0xff && b[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    b[start..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_info_is_a_named_bit_string() {
        assert_eq!(FailInfo::BAD_ALG.bit_string_content(), [7, 0x80]);
        assert_eq!(FailInfo::BAD_POP.bit_string_content(), [6, 0x00, 0x40]);
        assert_eq!(
            FailInfo::SYSTEM_FAILURE.bit_string_content(),
            [6, 0, 0, 0, 0x40]
        );
        assert_eq!(FailInfo::default().bit_string_content(), [0]);
    }

    #[test]
    fn integers_are_minimal() {
        assert_eq!(int_bytes(0), [0]);
        assert_eq!(int_bytes(-1), [0xff]);
        assert_eq!(int_bytes(127), [0x7f]);
        assert_eq!(int_bytes(128), [0, 0x80]);
        assert_eq!(int_bytes(-129), [0xff, 0x7f]);
        assert_eq!(uint_bytes(500), [0x01, 0xf4]);
        assert_eq!(uint_bytes(0), [0]);
        assert_eq!(uint_bytes(255), [0, 0xff]);
    }
}
