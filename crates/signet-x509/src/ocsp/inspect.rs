//! A summary parser of `OCSPResponse`s, for tests and tooling.

use super::*;

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
