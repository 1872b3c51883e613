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

// Layout: this file parses requests and matches CertIDs to issuers; `response` encodes
// responses, `inspect` parses them back for tests and tooling.
mod inspect;
mod response;

pub use inspect::{ResponseInfo, parse_response};
pub use response::{
    CertStatus, ResponseData, ResponseStatus, SingleResponse, assemble_response,
    encode_response_data, error_response,
};

#[cfg(test)]
mod tests;

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
