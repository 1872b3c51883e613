//! Response encoding: the signed `ResponseData` and the `OCSPResponse` around its detached
//! signature, and the unsigned error responses.

use super::*;

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
