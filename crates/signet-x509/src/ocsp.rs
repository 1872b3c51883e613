//! OCSP (RFC 6960): request parsing, response encoding with a detached signature, and a
//! summary parser of responses for tests and tooling.
//!
//! A responder [`parse_request`]s the untrusted body, matches each [`CertId`] against the
//! [`IssuerHashes`] of the CAs it serves, looks up each status, encodes the signed part with
//! [`encode_response_data`], has the signer sign those bytes and wraps the result with
//! [`assemble_response`]. Requests it cannot answer get an [`error_response`].
//!
//! Like the certificate writer, the encoders compute every length first and write each
//! buffer once: they run on every responder cache miss.

use std::time::SystemTime;

use crate::SignatureAlgorithm;
use crate::asn1::{self, AlgId, CivilTime, Reader, Tlv, invalid};

/// The most `Request`s one `OCSPRequest` may carry; more is rejected as malformed.
pub const MAX_REQUESTS: usize = 16;

/// The longest nonce `extnValue` accepted (RFC 8954 §2.1 allows at most 32 nonce octets;
/// this leaves room for clients that send more).
const MAX_NONCE_LEN: usize = 128;

const WHAT_REQUEST: &str = "OCSP request";
const WHAT_RESPONSE: &str = "OCSP response";

/// The universal ENUMERATED tag (OCSPResponseStatus, CRLReason).
const ENUMERATED: u8 = 0x0a;

/// id-sha1 (1.3.14.3.2.26), OID content octets.
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// id-sha256 (2.16.840.1.101.3.4.2.1).
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// id-sha384 (2.16.840.1.101.3.4.2.2).
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
/// id-sha512 (2.16.840.1.101.3.4.2.3).
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
/// id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1).
const OID_OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// id-pkix-ocsp-nonce (1.3.6.1.5.5.7.48.1.2).
const OID_OCSP_NONCE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];

/// The hash algorithm of a [`CertId`]. RFC 5019 profiles SHA-1, but RFC 6960 lets a client
/// choose, and clients do (`openssl ocsp -sha256`, `-sha384`, `-sha512`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// id-sha1, what most clients (and openssl by default) send.
    Sha1,
    /// id-sha256.
    Sha256,
    /// id-sha384.
    Sha384,
    /// id-sha512.
    Sha512,
}

impl HashAlg {
    /// The digest length in octets.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    fn from_alg_id(alg: &AlgId<'_>) -> crate::Result<HashAlg> {
        let hash = match alg.oid {
            OID_SHA1 => HashAlg::Sha1,
            OID_SHA256 => HashAlg::Sha256,
            OID_SHA384 => HashAlg::Sha384,
            OID_SHA512 => HashAlg::Sha512,
            _ => {
                return Err(crate::Error::Unsupported {
                    what: "CertID hash algorithm",
                    detail: alg.oid_string(),
                });
            }
        };
        if !alg.params_absent_or_null() {
            return Err(asn1::malformed(
                WHAT_REQUEST,
                "CertID hash algorithm parameters must be NULL or absent",
            ));
        }
        Ok(hash)
    }
}

/// One certificate a client asks about, as it identified it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertId {
    pub hash: HashAlg,
    /// The hash of the issuer's DER-encoded Name.
    pub issuer_name_hash: Vec<u8>,
    /// The hash of the issuer's subjectPublicKey BIT STRING value.
    pub issuer_key_hash: Vec<u8>,
    /// The serialNumber INTEGER content octets as sent (minimal DER, any sign).
    pub serial: Vec<u8>,
    /// The whole CertID TLV exactly as received; the response echoes it verbatim so the
    /// client finds its own CertID there.
    pub raw: Vec<u8>,
}

impl CertId {
    /// The serial as a positive magnitude (leading 0x00 stripped); `None` if it is negative,
    /// zero or longer than 20 octets, which no certificate from a conforming CA has
    /// (RFC 5280 §4.1.2.2).
    pub fn serial_magnitude(&self) -> Option<&[u8]> {
        if self.serial.first().is_none_or(|b| b & 0x80 != 0) {
            return None;
        }
        let start = self.serial.iter().position(|&b| b != 0)?;
        let magnitude = &self.serial[start..];
        (magnitude.len() <= 20).then_some(magnitude)
    }
}

/// A parsed OCSP request: what is asked and the nonce to echo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    /// 1..=[`MAX_REQUESTS`] CertIDs, in request order.
    pub certs: Vec<CertId>,
    /// The nonce extension's extnValue octets (the DER OCTET STRING inside extnValue, as
    /// openssl sends it), echoed verbatim in the response.
    pub nonce: Option<Vec<u8>>,
}

/// Parses a DER `OCSPRequest` (the body of a POST, or the decoded path of a GET).
///
/// A request signature and requestorName are accepted and ignored (the responder answers
/// anyone), as are singleRequestExtensions. Fails with
/// [`Error::Malformed`](crate::Error::Malformed) for anything that is not DER of this shape,
/// a version other than v1, zero or more than [`MAX_REQUESTS`] requests, a nonce longer than
/// 128 octets or sent twice, and with [`Error::Unsupported`](crate::Error::Unsupported) for a
/// CertID hash other than SHA-1, SHA-256, SHA-384 or SHA-512, or an unknown critical request
/// extension.
pub fn parse_request(der: &[u8]) -> crate::Result<OcspRequest> {
    // OCSPRequest ::= SEQUENCE {
    //     tbsRequest              TBSRequest,
    //     optionalSignature   [0] EXPLICIT Signature OPTIONAL }
    //
    // Signature ::= SEQUENCE {
    //     signatureAlgorithm      AlgorithmIdentifier,
    //     signature               BIT STRING,
    //     certs               [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
    let outer = asn1::single(der, asn1::SEQUENCE, WHAT_REQUEST)?;
    let mut r = Reader::new(outer.value, WHAT_REQUEST);
    let tbs = r.read(asn1::SEQUENCE, "tbsRequest")?;
    // RFC 6960 §4.1.2 leaves signed requests to local policy; Signet does not check them.
    if let Some(sig) = r.read_optional(asn1::context_constructed(0))? {
        asn1::single(sig.value, asn1::SEQUENCE, WHAT_REQUEST)?;
    }
    r.finish("optionalSignature")?;

    // TBSRequest ::= SEQUENCE {
    //     version             [0] EXPLICIT Version DEFAULT v1,
    //     requestorName       [1] EXPLICIT GeneralName OPTIONAL,
    //     requestList             SEQUENCE OF Request,
    //     requestExtensions   [2] EXPLICIT Extensions OPTIONAL }
    //
    // Version ::= INTEGER { v1(0) }
    let mut t = Reader::new(tbs.value, WHAT_REQUEST);
    // DER omits a DEFAULT value, but an explicit v1 is common enough to tolerate.
    if let Some(v) = t.read_optional(asn1::context_constructed(0))? {
        let version = asn1::single(v.value, asn1::INTEGER, WHAT_REQUEST)?;
        if version.value != [0] {
            return Err(asn1::malformed(WHAT_REQUEST, "version is not v1"));
        }
    }
    if let Some(name) = t.read_optional(asn1::context_constructed(1))? {
        let mut n = Reader::new(name.value, WHAT_REQUEST);
        n.read_any()?;
        n.finish("requestorName")?;
    }

    // Request ::= SEQUENCE {
    //     reqCert                     CertID,
    //     singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
    let mut list = t.nested(asn1::SEQUENCE, "requestList")?;
    let mut certs = Vec::with_capacity(1);
    while !list.is_empty() {
        if certs.len() == MAX_REQUESTS {
            return Err(asn1::malformed(
                WHAT_REQUEST,
                format!("more than {MAX_REQUESTS} requests"),
            ));
        }
        let mut request = list.nested(asn1::SEQUENCE, "Request")?;
        certs.push(decode_request_cert_id(
            &request.read(asn1::SEQUENCE, "reqCert")?,
        )?);
        if let Some(exts) = request.read_optional(asn1::context_constructed(0))? {
            // The only one defined is the service locator (RFC 6960 §4.4.6), which a
            // responder that is not a proxy has no use for.
            for_each_extension(exts.value, WHAT_REQUEST, |_, _, _| Ok(()))?;
        }
        request.finish("singleRequestExtensions")?;
    }
    if certs.is_empty() {
        return Err(asn1::malformed(WHAT_REQUEST, "empty requestList"));
    }

    let mut nonce: Option<Vec<u8>> = None;
    if let Some(exts) = t.read_optional(asn1::context_constructed(2))? {
        for_each_extension(exts.value, WHAT_REQUEST, |oid, critical, value| {
            if oid == OID_OCSP_NONCE {
                if nonce.is_some() {
                    return Err(asn1::malformed(WHAT_REQUEST, "nonce extension repeated"));
                }
                if value.len() > MAX_NONCE_LEN {
                    return Err(asn1::malformed(
                        WHAT_REQUEST,
                        format!("nonce longer than {MAX_NONCE_LEN} octets"),
                    ));
                }
                nonce = Some(value.to_vec());
            } else if critical {
                return Err(crate::Error::Unsupported {
                    what: "critical OCSP request extension",
                    detail: asn1::oid_to_string(oid).unwrap_or_else(|| hex::encode(oid)),
                });
            }
            Ok(())
        })?;
    }
    t.finish("requestExtensions")?;
    Ok(OcspRequest { certs, nonce })
}

/// A request CertID with a hash Signet supports and digests of the right length.
fn decode_request_cert_id(tlv: &Tlv<'_>) -> crate::Result<CertId> {
    let fields = decode_cert_id(tlv, WHAT_REQUEST)?;
    let hash = HashAlg::from_alg_id(&fields.alg)?;
    if fields.name_hash.len() != hash.output_len() || fields.key_hash.len() != hash.output_len() {
        return Err(asn1::malformed(
            WHAT_REQUEST,
            "CertID hash length does not match its algorithm",
        ));
    }
    Ok(CertId {
        hash,
        issuer_name_hash: fields.name_hash.to_vec(),
        issuer_key_hash: fields.key_hash.to_vec(),
        serial: fields.serial.to_vec(),
        raw: tlv.raw.to_vec(),
    })
}

/// The fields of a CertID, whatever its hash algorithm.
struct CertIdFields<'a> {
    alg: AlgId<'a>,
    name_hash: &'a [u8],
    key_hash: &'a [u8],
    serial: &'a [u8],
}

fn decode_cert_id<'a>(tlv: &Tlv<'a>, what: &'static str) -> crate::Result<CertIdFields<'a>> {
    // CertID ::= SEQUENCE {
    //     hashAlgorithm           AlgorithmIdentifier,
    //     issuerNameHash          OCTET STRING, -- Hash of issuer's DN
    //     issuerKeyHash           OCTET STRING, -- Hash of issuer's public key
    //     serialNumber            CertificateSerialNumber }
    let mut r = Reader::new(tlv.value, what);
    let alg = AlgId::decode(&r.read(asn1::SEQUENCE, "hashAlgorithm")?, what)?;
    let name_hash = r.read(asn1::OCTET_STRING, "issuerNameHash")?.value;
    let key_hash = r.read(asn1::OCTET_STRING, "issuerKeyHash")?.value;
    let serial = r.read(asn1::INTEGER, "serialNumber")?.value;
    asn1::check_integer(serial, what)?;
    r.finish("CertID")?;
    Ok(CertIdFields {
        alg,
        name_hash,
        key_hash,
        serial,
    })
}

/// Walks the `Extensions` inside an EXPLICIT tag's content, calling `f(extnID content octets,
/// critical, extnValue content octets)` for each.
fn for_each_extension<'a>(
    explicit_content: &'a [u8],
    what: &'static str,
    mut f: impl FnMut(&'a [u8], bool, &'a [u8]) -> crate::Result<()>,
) -> crate::Result<()> {
    // Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
    //
    // Extension ::= SEQUENCE {
    //     extnID      OBJECT IDENTIFIER,
    //     critical    BOOLEAN DEFAULT FALSE,
    //     extnValue   OCTET STRING }
    //
    // As in certificates, an explicit `critical FALSE` (which DER forbids) is tolerated.
    let seq = asn1::single(explicit_content, asn1::SEQUENCE, what)?;
    let mut r = Reader::new(seq.value, what);
    while !r.is_empty() {
        let mut e = r.nested(asn1::SEQUENCE, "Extension")?;
        let oid = e.read(asn1::OID, "extnID")?.value;
        if oid != OID_OCSP_NONCE && asn1::oid_to_string(oid).is_none() {
            return Err(asn1::malformed(what, "invalid extension OID"));
        }
        let critical = match e.read_optional(asn1::BOOLEAN)? {
            Some(b) => asn1::decode_bool(&b, what)?,
            None => false,
        };
        let value = e.read(asn1::OCTET_STRING, "extnValue")?.value;
        e.finish("Extension")?;
        f(oid, critical, value)?;
    }
    Ok(())
}

/// The name and key hashes of an issuer certificate, as a client puts them in a CertID:
/// SHA-x of the DER of its subject Name, and of its subjectPublicKey BIT STRING value
/// (without tag, length and unused-bits octet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerHashes {
    pub sha1_name: [u8; 20],
    pub sha1_key: [u8; 20],
    pub sha256_name: [u8; 32],
    pub sha256_key: [u8; 32],
    pub sha384_name: [u8; 48],
    pub sha384_key: [u8; 48],
    pub sha512_name: [u8; 64],
    pub sha512_key: [u8; 64],
}

impl IssuerHashes {
    /// Computes the hashes of a DER certificate. It is not verified, only parsed as far as
    /// its subjectPublicKeyInfo.
    pub fn of_certificate(cert_der: &[u8]) -> crate::Result<IssuerHashes> {
        const WHAT: &str = "issuer certificate";
        // Certificate  ::=  SEQUENCE  {
        //      tbsCertificate       TBSCertificate,
        //      signatureAlgorithm   AlgorithmIdentifier,
        //      signatureValue       BIT STRING  }
        //
        // TBSCertificate  ::=  SEQUENCE  {
        //      version         [0]  EXPLICIT Version DEFAULT v1,
        //      serialNumber         CertificateSerialNumber,
        //      signature            AlgorithmIdentifier,
        //      issuer               Name,
        //      validity             Validity,
        //      subject              Name,
        //      subjectPublicKeyInfo SubjectPublicKeyInfo,
        //      ... }
        let cert = asn1::single(cert_der, asn1::SEQUENCE, WHAT)?;
        let mut r = Reader::new(cert.value, WHAT);
        let tbs = r.read(asn1::SEQUENCE, "tbsCertificate")?;
        AlgId::decode(&r.read(asn1::SEQUENCE, "signatureAlgorithm")?, WHAT)?;
        r.read(asn1::BIT_STRING, "signatureValue")?;
        r.finish("signatureValue")?;

        let mut t = Reader::new(tbs.value, WHAT);
        t.read_optional(asn1::context_constructed(0))?;
        t.read(asn1::INTEGER, "serialNumber")?;
        t.read(asn1::SEQUENCE, "signature")?;
        t.read(asn1::SEQUENCE, "issuer")?;
        t.read(asn1::SEQUENCE, "validity")?;
        let subject = t.read(asn1::SEQUENCE, "subject")?.raw;
        let spki = t.read(asn1::SEQUENCE, "subjectPublicKeyInfo")?;
        let key = asn1::Spki::decode(spki.raw, WHAT)?.key;

        use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, SHA384, SHA512, digest};
        let mut out = IssuerHashes {
            sha1_name: [0; 20],
            sha1_key: [0; 20],
            sha256_name: [0; 32],
            sha256_key: [0; 32],
            sha384_name: [0; 48],
            sha384_key: [0; 48],
            sha512_name: [0; 64],
            sha512_key: [0; 64],
        };
        // The digest lengths are fixed by the algorithms, so these copies cannot mismatch.
        out.sha1_name
            .copy_from_slice(digest(&SHA1_FOR_LEGACY_USE_ONLY, subject).as_ref());
        out.sha1_key
            .copy_from_slice(digest(&SHA1_FOR_LEGACY_USE_ONLY, key).as_ref());
        out.sha256_name
            .copy_from_slice(digest(&SHA256, subject).as_ref());
        out.sha256_key
            .copy_from_slice(digest(&SHA256, key).as_ref());
        out.sha384_name
            .copy_from_slice(digest(&SHA384, subject).as_ref());
        out.sha384_key
            .copy_from_slice(digest(&SHA384, key).as_ref());
        out.sha512_name
            .copy_from_slice(digest(&SHA512, subject).as_ref());
        out.sha512_key
            .copy_from_slice(digest(&SHA512, key).as_ref());
        Ok(out)
    }

    /// True when `id` names this issuer (both the name and the key hash match).
    pub fn matches(&self, id: &CertId) -> bool {
        let (name, key): (&[u8], &[u8]) = match id.hash {
            HashAlg::Sha1 => (&self.sha1_name, &self.sha1_key),
            HashAlg::Sha256 => (&self.sha256_name, &self.sha256_key),
            HashAlg::Sha384 => (&self.sha384_name, &self.sha384_key),
            HashAlg::Sha512 => (&self.sha512_name, &self.sha512_key),
        };
        id.issuer_name_hash == name && id.issuer_key_hash == key
    }
}

/// The status of one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked {
        at: SystemTime,
        /// The RFC 5280 CRLReason code (0..=10 except 7).
        reason: Option<u8>,
    },
    Unknown,
}

/// One answer in a response.
#[derive(Clone, Debug)]
pub struct SingleResponse<'a> {
    /// The request's CertID; its `raw` TLV is echoed.
    pub cert_id: &'a CertId,
    pub status: CertStatus,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
}

/// Everything that goes into the signed `ResponseData`.
#[derive(Clone, Debug)]
pub struct ResponseData<'a> {
    /// SHA-1 of the responder's subjectPublicKey BIT STRING value (ResponderID byKey), as
    /// [`ext::key_identifier`](crate::ext::key_identifier) computes it.
    pub responder_key_hash: [u8; 20],
    pub produced_at: SystemTime,
    pub responses: &'a [SingleResponse<'a>],
    /// The request's nonce extnValue octets, echoed verbatim.
    pub nonce: Option<&'a [u8]>,
}

/// Encodes the `ResponseData` DER that the responder key signs. All times are GeneralizedTime
/// in whole seconds; the version is omitted (DEFAULT v1); the responder is identified by key
/// hash; the nonce, when given, is a non-critical response extension.
///
/// Fails with [`Error::Invalid`](crate::Error::Invalid) for no responses, a CertID `raw`
/// that is not one DER SEQUENCE, a revocation reason that is not a CRLReason,
/// `next_update < this_update`, or a time outside years 0..=9999.
pub fn encode_response_data(data: &ResponseData<'_>) -> crate::Result<Vec<u8>> {
    // ResponseData ::= SEQUENCE {
    //     version              [0] EXPLICIT Version DEFAULT v1,
    //     responderID              ResponderID,
    //     producedAt               GeneralizedTime,
    //     responses                SEQUENCE OF SingleResponse,
    //     responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
    //
    // ResponderID ::= CHOICE {
    //     byName               [1] Name,
    //     byKey                [2] KeyHash }
    //
    // KeyHash ::= OCTET STRING -- SHA-1 hash of responder's public key
    //                          -- (excluding the tag and length fields)
    //
    // The OCSP module has EXPLICIT TAGS, so byKey is [2] { OCTET STRING (20) }.
    const BY_KEY_HEADER: [u8; 4] = [0xa2, 0x16, asn1::OCTET_STRING, 0x14];
    const GENERALIZED_TIME_LEN: usize = 17;

    if data.responses.is_empty() {
        return Err(invalid(
            "responses",
            "at least one SingleResponse is needed",
        ));
    }
    let produced_at = generalized_time(data.produced_at, "producedAt")?;

    // First pass: validate and size every SingleResponse.
    let mut responses_len = 0;
    for single in data.responses {
        asn1::single(&single.cert_id.raw, asn1::SEQUENCE, "CertID")
            .map_err(|e| invalid("CertID", e.to_string()))?;
        if single.next_update < single.this_update {
            return Err(invalid("nextUpdate", "before thisUpdate"));
        }
        if let CertStatus::Revoked {
            reason: Some(code), ..
        } = single.status
            && (code > 10 || code == 7)
        {
            return Err(invalid(
                "revocationReason",
                format!("{code} is not a CRLReason"),
            ));
        }
        responses_len += asn1::tlv_len(single_response_len(single));
    }
    let extensions_len = data.nonce.map_or(0, |n| {
        asn1::tlv_len(asn1::tlv_len(asn1::tlv_len(nonce_extension_len(n))))
    });
    let content_len = BY_KEY_HEADER.len()
        + 20
        + GENERALIZED_TIME_LEN
        + asn1::tlv_len(responses_len)
        + extensions_len;

    // Second pass: write.
    let mut out = Vec::with_capacity(asn1::tlv_len(content_len));
    asn1::push_header(&mut out, asn1::SEQUENCE, content_len);
    out.extend_from_slice(&BY_KEY_HEADER);
    out.extend_from_slice(&data.responder_key_hash);
    produced_at.push_generalized(&mut out);
    asn1::push_header(&mut out, asn1::SEQUENCE, responses_len);
    for single in data.responses {
        push_single_response(&mut out, single)?;
    }
    if let Some(nonce) = data.nonce {
        // Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
        // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }
        let ext_len = nonce_extension_len(nonce);
        asn1::push_header(
            &mut out,
            asn1::context_constructed(1),
            asn1::tlv_len(asn1::tlv_len(ext_len)),
        );
        asn1::push_header(&mut out, asn1::SEQUENCE, asn1::tlv_len(ext_len));
        asn1::push_header(&mut out, asn1::SEQUENCE, ext_len);
        asn1::push_tlv(&mut out, asn1::OID, OID_OCSP_NONCE);
        asn1::push_tlv(&mut out, asn1::OCTET_STRING, nonce);
    }
    debug_assert_eq!(out.len(), asn1::tlv_len(content_len));
    Ok(out)
}

// SingleResponse ::= SEQUENCE {
//     certID                       CertID,
//     certStatus                   CertStatus,
//     thisUpdate                   GeneralizedTime,
//     nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
//     singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
//
// CertStatus ::= CHOICE {
//     good        [0]     IMPLICIT NULL,
//     revoked     [1]     IMPLICIT RevokedInfo,
//     unknown     [2]     IMPLICIT UnknownInfo }
//
// RevokedInfo ::= SEQUENCE {
//     revocationTime              GeneralizedTime,
//     revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
//
// UnknownInfo ::= NULL
//
// CRLReason ::= ENUMERATED {
//     unspecified             (0),
//     keyCompromise           (1),
//     cACompromise            (2),
//     affiliationChanged      (3),
//     superseded              (4),
//     cessationOfOperation    (5),
//     certificateHold         (6),
//          -- value 7 is not used
//     removeFromCRL           (8),
//     privilegeWithdrawn      (9),
//     aACompromise           (10) }
//
// IMPLICIT tags replace the NULL tag (good = 80 00, unknown = 82 00) and the SEQUENCE tag of
// RevokedInfo (A1). Signet always writes nextUpdate and no singleExtensions.

/// Content length of a SingleResponse.
fn single_response_len(single: &SingleResponse<'_>) -> usize {
    // thisUpdate (17) + nextUpdate [0] { GeneralizedTime } (19).
    single.cert_id.raw.len() + cert_status_len(&single.status) + 17 + 19
}

fn cert_status_len(status: &CertStatus) -> usize {
    match status {
        CertStatus::Good | CertStatus::Unknown => 2,
        CertStatus::Revoked { reason, .. } => asn1::tlv_len(revoked_info_len(*reason)),
    }
}

/// Content length of RevokedInfo: revocationTime, then [0] { ENUMERATED (1 octet) }.
fn revoked_info_len(reason: Option<u8>) -> usize {
    17 + if reason.is_some() { 5 } else { 0 }
}

fn push_single_response(out: &mut Vec<u8>, single: &SingleResponse<'_>) -> crate::Result<()> {
    let this_update = generalized_time(single.this_update, "thisUpdate")?;
    let next_update = generalized_time(single.next_update, "nextUpdate")?;
    asn1::push_header(out, asn1::SEQUENCE, single_response_len(single));
    out.extend_from_slice(&single.cert_id.raw);
    match single.status {
        CertStatus::Good => out.extend_from_slice(&[asn1::context_primitive(0), 0x00]),
        CertStatus::Unknown => out.extend_from_slice(&[asn1::context_primitive(2), 0x00]),
        CertStatus::Revoked { at, reason } => {
            let at = generalized_time(at, "revocationTime")?;
            asn1::push_header(out, asn1::context_constructed(1), revoked_info_len(reason));
            at.push_generalized(out);
            if let Some(code) = reason {
                out.extend_from_slice(&[
                    asn1::context_constructed(0),
                    0x03,
                    ENUMERATED,
                    0x01,
                    code,
                ]);
            }
        }
    }
    this_update.push_generalized(out);
    out.extend_from_slice(&[asn1::context_constructed(0), 0x11]);
    next_update.push_generalized(out);
    Ok(())
}

/// Content length of the nonce Extension: extnID, extnValue (not critical).
fn nonce_extension_len(nonce: &[u8]) -> usize {
    asn1::tlv_len(OID_OCSP_NONCE.len()) + asn1::tlv_len(nonce.len())
}

fn generalized_time(t: SystemTime, what: &'static str) -> crate::Result<CivilTime> {
    CivilTime::from_system_time(t).ok_or_else(|| invalid(what, "outside years 0..=9999"))
}

/// Wraps a signed `ResponseData` into a complete, successful `OCSPResponse`.
///
/// `signature` is what the signer returned for `response_data` (DER for ECDSA, raw for
/// Ed25519, RSA and ML-DSA), as for [`assemble_certificate`](crate::assemble_certificate).
/// `certs` (DER certificates, e.g. a delegated responder's) are included when not empty.
pub fn assemble_response(
    response_data: &[u8],
    alg: SignatureAlgorithm,
    signature: &[u8],
    certs: &[Vec<u8>],
) -> crate::Result<Vec<u8>> {
    // OCSPResponse ::= SEQUENCE {
    //     responseStatus         OCSPResponseStatus,
    //     responseBytes      [0] EXPLICIT ResponseBytes OPTIONAL }
    //
    // ResponseBytes ::= SEQUENCE {
    //     responseType   OBJECT IDENTIFIER,
    //     response       OCTET STRING }
    //
    // BasicOCSPResponse ::= SEQUENCE {
    //     tbsResponseData      ResponseData,
    //     signatureAlgorithm   AlgorithmIdentifier,
    //     signature            BIT STRING,
    //     certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
    const SUCCESSFUL: [u8; 3] = [ENUMERATED, 0x01, 0x00];

    asn1::single(response_data, asn1::SEQUENCE, "tbsResponseData")
        .map_err(|e| invalid("tbsResponseData", e.to_string()))?;
    if signature.is_empty() {
        return Err(invalid("signature", "empty"));
    }
    for cert in certs {
        asn1::single(cert, asn1::SEQUENCE, "certificate")
            .map_err(|e| invalid("certs", e.to_string()))?;
    }
    let alg = crate::cert::algorithm_identifier_bytes(alg);
    // The BIT STRING holds whole octets: one leading "0 unused bits" octet.
    let sig_len = signature.len() + 1;
    let certs_seq_len: usize = certs.iter().map(Vec::len).sum();
    let certs_len = if certs.is_empty() {
        0
    } else {
        asn1::tlv_len(asn1::tlv_len(certs_seq_len))
    };
    let basic_len = response_data.len() + alg.len() + asn1::tlv_len(sig_len) + certs_len;
    let octets_len = asn1::tlv_len(basic_len);
    let bytes_len = asn1::tlv_len(OID_OCSP_BASIC.len()) + asn1::tlv_len(octets_len);
    let content_len = SUCCESSFUL.len() + asn1::tlv_len(asn1::tlv_len(bytes_len));

    let mut out = Vec::with_capacity(asn1::tlv_len(content_len));
    asn1::push_header(&mut out, asn1::SEQUENCE, content_len);
    out.extend_from_slice(&SUCCESSFUL);
    asn1::push_header(
        &mut out,
        asn1::context_constructed(0),
        asn1::tlv_len(bytes_len),
    );
    asn1::push_header(&mut out, asn1::SEQUENCE, bytes_len);
    asn1::push_tlv(&mut out, asn1::OID, OID_OCSP_BASIC);
    asn1::push_header(&mut out, asn1::OCTET_STRING, octets_len);
    asn1::push_header(&mut out, asn1::SEQUENCE, basic_len);
    out.extend_from_slice(response_data);
    out.extend_from_slice(alg);
    asn1::push_header(&mut out, asn1::BIT_STRING, sig_len);
    out.push(0);
    out.extend_from_slice(signature);
    if !certs.is_empty() {
        asn1::push_header(
            &mut out,
            asn1::context_constructed(0),
            asn1::tlv_len(certs_seq_len),
        );
        asn1::push_header(&mut out, asn1::SEQUENCE, certs_seq_len);
        for cert in certs {
            out.extend_from_slice(cert);
        }
    }
    debug_assert_eq!(out.len(), asn1::tlv_len(content_len));
    Ok(out)
}

// OCSPResponseStatus ::= ENUMERATED {
//     successful            (0),  -- Response has valid confirmations
//     malformedRequest      (1),  -- Illegal confirmation request
//     internalError         (2),  -- Internal error in issuer
//     tryLater              (3),  -- Try again later
//                                 -- (4) is not used
//     sigRequired           (5),  -- Must sign the request
//     unauthorized          (6)   -- Request unauthorized
// }

/// The outcome of a request as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ResponseStatus {
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    SigRequired = 5,
    Unauthorized = 6,
}

impl ResponseStatus {
    /// The OCSPResponseStatus value.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<ResponseStatus> {
        Some(match code {
            0 => ResponseStatus::Successful,
            1 => ResponseStatus::MalformedRequest,
            2 => ResponseStatus::InternalError,
            3 => ResponseStatus::TryLater,
            5 => ResponseStatus::SigRequired,
            6 => ResponseStatus::Unauthorized,
            _ => return None,
        })
    }
}

/// An unsigned `OCSPResponse` that carries only `status` (no responseBytes), as RFC 6960
/// §2.3 prescribes for errors. `Successful` is meant for [`assemble_response`]: encoded here it
/// is a response clients reject.
pub fn error_response(status: ResponseStatus) -> Vec<u8> {
    // OCSPResponse ::= SEQUENCE { responseStatus OCSPResponseStatus } -- responseBytes absent
    vec![asn1::SEQUENCE, 0x03, ENUMERATED, 0x01, status.code()]
}

/// A decoded summary of an `OCSPResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseInfo {
    pub status: ResponseStatus,
    /// `None` for an error response.
    pub produced_at: Option<SystemTime>,
    /// (serial INTEGER content octets, status, thisUpdate, nextUpdate) per SingleResponse.
    pub responses: Vec<(Vec<u8>, CertStatus, SystemTime, Option<SystemTime>)>,
    /// The nonce response extension's extnValue octets.
    pub nonce: Option<Vec<u8>>,
    /// The DER certificates in BasicOCSPResponse `certs`.
    pub certs: Vec<Vec<u8>>,
}

/// Parses an `OCSPResponse` (for tests and tooling). Checks the structure only: the
/// signature is not verified and the responder is not checked.
pub fn parse_response(der: &[u8]) -> crate::Result<ResponseInfo> {
    const WHAT: &str = WHAT_RESPONSE;
    // OCSPResponse, ResponseBytes, BasicOCSPResponse: see `assemble_response` for the ASN.1.
    let outer = asn1::single(der, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(outer.value, WHAT);
    let status = match r.read(ENUMERATED, "responseStatus")?.value {
        [code] => ResponseStatus::from_code(*code),
        _ => None,
    }
    .ok_or_else(|| asn1::malformed(WHAT, "unknown responseStatus"))?;
    let bytes = r.read_optional(asn1::context_constructed(0))?;
    r.finish("responseBytes")?;
    let mut info = ResponseInfo {
        status,
        produced_at: None,
        responses: Vec::new(),
        nonce: None,
        certs: Vec::new(),
    };
    let bytes = match (status, bytes) {
        (ResponseStatus::Successful, Some(bytes)) => bytes,
        (ResponseStatus::Successful, None) => {
            return Err(asn1::malformed(WHAT, "successful but no responseBytes"));
        }
        (_, None) => return Ok(info),
        (_, Some(_)) => {
            return Err(asn1::malformed(WHAT, "an error status with responseBytes"));
        }
    };
    let bytes = asn1::single(bytes.value, asn1::SEQUENCE, WHAT)?;
    let mut b = Reader::new(bytes.value, WHAT);
    let response_type = b.read(asn1::OID, "responseType")?.value;
    let response = b.read(asn1::OCTET_STRING, "response")?.value;
    b.finish("response")?;
    if response_type != OID_OCSP_BASIC {
        return Err(crate::Error::Unsupported {
            what: "OCSP response type",
            detail: asn1::oid_to_string(response_type)
                .unwrap_or_else(|| hex::encode(response_type)),
        });
    }

    let basic = asn1::single(response, asn1::SEQUENCE, WHAT)?;
    let mut b = Reader::new(basic.value, WHAT);
    let tbs = b.read(asn1::SEQUENCE, "tbsResponseData")?;
    AlgId::decode(&b.read(asn1::SEQUENCE, "signatureAlgorithm")?, WHAT)?;
    asn1::bit_string(b.read(asn1::BIT_STRING, "signature")?.value, WHAT)?;
    if let Some(certs) = b.read_optional(asn1::context_constructed(0))? {
        let mut c = Reader::new(asn1::single(certs.value, asn1::SEQUENCE, WHAT)?.value, WHAT);
        while !c.is_empty() {
            info.certs
                .push(c.read(asn1::SEQUENCE, "Certificate")?.raw.to_vec());
        }
    }
    b.finish("certs")?;

    // ResponseData: see `encode_response_data` for the ASN.1.
    let mut t = Reader::new(tbs.value, WHAT);
    if let Some(v) = t.read_optional(asn1::context_constructed(0))?
        && asn1::single(v.value, asn1::INTEGER, WHAT)?.value != [0]
    {
        return Err(asn1::malformed(WHAT, "version is not v1"));
    }
    match t.peek_tag() {
        Some(0xa1) => {
            let name = t.read_any()?;
            crate::dn::from_der(asn1::single(name.value, asn1::SEQUENCE, WHAT)?.raw)?;
        }
        Some(0xa2) => {
            let key = t.read_any()?;
            asn1::single(key.value, asn1::OCTET_STRING, WHAT)?;
        }
        _ => {
            return Err(asn1::malformed(
                WHAT,
                "responderID is neither byName nor byKey",
            ));
        }
    }
    info.produced_at = Some(read_generalized(&mut t, "producedAt")?);
    let mut list = t.nested(asn1::SEQUENCE, "responses")?;
    while !list.is_empty() {
        let mut s = list.nested(asn1::SEQUENCE, "SingleResponse")?;
        let serial = decode_cert_id(&s.read(asn1::SEQUENCE, "certID")?, WHAT)?.serial;
        let status = decode_cert_status(&s.read_any()?)?;
        let this_update = read_generalized(&mut s, "thisUpdate")?;
        let next_update = match s.read_optional(asn1::context_constructed(0))? {
            Some(n) => {
                let mut n = Reader::new(n.value, WHAT);
                let t = read_generalized(&mut n, "nextUpdate")?;
                n.finish("nextUpdate")?;
                Some(t)
            }
            None => None,
        };
        if let Some(exts) = s.read_optional(asn1::context_constructed(1))? {
            for_each_extension(exts.value, WHAT, |_, _, _| Ok(()))?;
        }
        s.finish("singleExtensions")?;
        info.responses
            .push((serial.to_vec(), status, this_update, next_update));
    }
    if let Some(exts) = t.read_optional(asn1::context_constructed(1))? {
        for_each_extension(exts.value, WHAT, |oid, _, value| {
            if oid == OID_OCSP_NONCE {
                if info.nonce.is_some() {
                    return Err(asn1::malformed(WHAT, "nonce extension repeated"));
                }
                info.nonce = Some(value.to_vec());
            }
            Ok(())
        })?;
    }
    t.finish("responseExtensions")?;
    Ok(info)
}

/// CertStatus (see the ASN.1 above `single_response_len`).
fn decode_cert_status(tlv: &Tlv<'_>) -> crate::Result<CertStatus> {
    const WHAT: &str = WHAT_RESPONSE;
    match (tlv.tag, tlv.value) {
        (0x80, []) => Ok(CertStatus::Good),
        (0x82, []) => Ok(CertStatus::Unknown),
        (0xa1, info) => {
            let mut r = Reader::new(info, WHAT);
            let at = read_generalized(&mut r, "revocationTime")?;
            let reason = match r.read_optional(asn1::context_constructed(0))? {
                Some(reason) => match asn1::single(reason.value, ENUMERATED, WHAT)?.value {
                    &[code] if code <= 10 && code != 7 => Some(code),
                    _ => return Err(asn1::malformed(WHAT, "invalid revocationReason")),
                },
                None => None,
            };
            r.finish("revocationReason")?;
            Ok(CertStatus::Revoked { at, reason })
        }
        _ => Err(asn1::malformed(WHAT, "invalid certStatus")),
    }
}

/// Reads a GeneralizedTime (OCSP does not use UTCTime).
fn read_generalized(r: &mut Reader<'_>, field: &str) -> crate::Result<SystemTime> {
    let tlv = r.read(asn1::GENERALIZED_TIME, field)?;
    CivilTime::from_der(&tlv, WHAT_RESPONSE)?
        .to_system_time()
        .ok_or_else(|| asn1::malformed(WHAT_RESPONSE, "time not representable"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn oid_constants() {
        for (oid, dotted) in [
            (OID_SHA1, "1.3.14.3.2.26"),
            (OID_SHA256, "2.16.840.1.101.3.4.2.1"),
            (OID_SHA384, "2.16.840.1.101.3.4.2.2"),
            (OID_SHA512, "2.16.840.1.101.3.4.2.3"),
            (OID_OCSP_BASIC, "1.3.6.1.5.5.7.48.1.1"),
            (OID_OCSP_NONCE, "1.3.6.1.5.5.7.48.1.2"),
        ] {
            assert_eq!(asn1::oid_to_string(oid).unwrap(), dotted);
        }
    }

    #[test]
    fn serial_magnitude() {
        let id = |serial: &[u8]| CertId {
            hash: HashAlg::Sha1,
            issuer_name_hash: vec![],
            issuer_key_hash: vec![],
            serial: serial.to_vec(),
            raw: vec![],
        };
        assert_eq!(id(&[0x00, 0x80]).serial_magnitude(), Some(&[0x80][..]));
        assert_eq!(id(&[0x01]).serial_magnitude(), Some(&[0x01][..]));
        assert_eq!(id(&[0x7f; 20]).serial_magnitude(), Some(&[0x7f; 20][..]));
        let mut long = vec![0x00];
        long.extend_from_slice(&[0xff; 20]);
        assert_eq!(id(&long).serial_magnitude(), Some(&[0xff; 20][..]));
        assert_eq!(id(&[0x01; 21]).serial_magnitude(), None);
        assert_eq!(id(&[0x00]).serial_magnitude(), None);
        assert_eq!(id(&[0xff]).serial_magnitude(), None);
        assert_eq!(id(&[]).serial_magnitude(), None);
    }

    #[test]
    fn ocsp_times_are_generalized_time_in_every_year() {
        // 1970 would be UTCTime in a certificate; OCSP uses GeneralizedTime throughout.
        let t = CivilTime::from_system_time(std::time::UNIX_EPOCH).unwrap();
        let mut out = Vec::new();
        t.push_generalized(&mut out);
        assert_eq!(out, b"\x18\x0f19700101000000Z");
        let mut utc = Vec::new();
        t.push_der(&mut utc);
        assert_eq!(utc[0], asn1::UTC_TIME);
    }
}
