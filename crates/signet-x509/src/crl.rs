//! CRLs (RFC 5280 §5): full, delta and partitioned, written in one pass so a list of a million
//! entries costs one buffer, and a summary parser.
//!
//! [`CrlWriter`] takes the entries one at a time (straight from a database scan), leaves
//! room in front of them for the header, and fills the header in when the count and length
//! are known: the TBSCertList is never copied, and the signed CRL is the same buffer.

use std::time::SystemTime;

use crate::asn1::{self, AlgId, CivilTime, Reader, invalid};
use crate::{DistinguishedName, Extension, SignatureAlgorithm};

/// CRL and CRL entry extension OIDs.
pub mod oid {
    pub const CRL_NUMBER: &str = "2.5.29.20";
    pub const REASON_CODE: &str = "2.5.29.21";
    pub const INVALIDITY_DATE: &str = "2.5.29.24";
    pub const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
    /// issuingDistributionPoint. (x509-cert 0.3.0 gets this one wrong; we write it by hand.)
    pub const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
    pub const FRESHEST_CRL: &str = "2.5.29.46";
}

/// `removeFromCRL`: only in delta CRLs, for a certificate released from hold.
pub const REMOVE_FROM_CRL: u8 = 8;

/// What goes into a CRL besides its entries.
#[derive(Clone, Debug)]
pub struct CrlParams<'a> {
    pub issuer: &'a DistinguishedName,
    pub signature: SignatureAlgorithm,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
    /// cRLNumber; base and delta CRLs of one scope share the sequence.
    pub number: u64,
    /// The CA's key id (authorityKeyIdentifier, RFC 5280 §5.2.1 MUST).
    pub authority_key_id: &'a [u8],
    /// A delta CRL: the number of the base CRL it updates (deltaCRLIndicator, critical).
    pub delta_base: Option<u64>,
    /// The URL of the scope (issuingDistributionPoint fullName, critical): the CRL
    /// distribution point that certificates of this partition name. A delta CRL carries its
    /// base CRL's URL, because both have the same scope (RFC 5280 §5.2.4).
    pub distribution_point: Option<&'a str>,
    /// Where the delta CRLs for this base are (freshestCRL, non-critical; base CRLs only).
    pub freshest: Option<&'a str>,
}

/// One revoked certificate.
#[derive(Clone, Copy, Debug)]
pub struct RevokedEntry<'a> {
    /// The serial's unsigned magnitude (at most 20 octets, no leading zero needed).
    pub serial: &'a [u8],
    pub revoked_at: SystemTime,
    /// RFC 5280 CRLReason; `None` or `Some(0)` (unspecified) writes no reasonCode.
    pub reason: Option<u8>,
    pub invalidity_date: Option<SystemTime>,
}

/// The largest DER header (tag + 5 length octets) any structure here can have.
const MAX_HEADER: usize = 6;

/// Builds one CRL. `push` the entries, then [`CrlWriter::tbs`], sign it, and
/// [`CrlWriter::assemble`].
#[derive(Debug)]
pub struct CrlWriter {
    buf: Vec<u8>,
    /// Where the entries start (the header is written in front of them).
    entries_at: usize,
    /// version, signature, issuer, thisUpdate, nextUpdate: written in front at the end.
    fixed: Vec<u8>,
    /// `[0] EXPLICIT Extensions`, appended after the entries.
    extensions: Vec<u8>,
    count: u64,
    /// Where the TBSCertList starts once `tbs` has run.
    tbs_at: Option<usize>,
    algorithm: SignatureAlgorithm,
}

impl CrlWriter {
    /// `expected_entries` sizes the buffer (about 60 octets per entry).
    pub fn new(params: &CrlParams<'_>, expected_entries: usize) -> crate::Result<CrlWriter> {
        // TBSCertList  ::=  SEQUENCE  {
        //      version                 Version OPTIONAL,   -- if present, MUST be v2
        //      signature               AlgorithmIdentifier,
        //      issuer                  Name,
        //      thisUpdate              Time,
        //      nextUpdate              Time OPTIONAL,
        //      revokedCertificates     SEQUENCE OF SEQUENCE  { ... } OPTIONAL,
        //      crlExtensions           [0]  EXPLICIT Extensions OPTIONAL }
        const V2: [u8; 3] = [asn1::INTEGER, 0x01, 0x01];
        let this_update = civil(params.this_update, "thisUpdate")?;
        let next_update = civil(params.next_update, "nextUpdate")?;
        if params.next_update < params.this_update {
            return Err(invalid("nextUpdate", "before thisUpdate"));
        }
        let mut fixed = Vec::with_capacity(256);
        fixed.extend_from_slice(&V2);
        fixed.extend_from_slice(crate::cert::algorithm_identifier_bytes(params.signature));
        fixed.extend_from_slice(params.issuer.as_der());
        this_update.push_der(&mut fixed);
        next_update.push_der(&mut fixed);

        let mut exts = vec![
            crate::ext::authority_key_identifier(params.authority_key_id),
            Extension {
                oid: oid::CRL_NUMBER.into(),
                critical: false,
                value: uint_tlv(params.number),
            },
        ];
        if let Some(base) = params.delta_base {
            if params.freshest.is_some() {
                return Err(invalid(
                    "freshestCRL",
                    "a delta CRL cannot name another delta",
                ));
            }
            exts.push(Extension {
                oid: oid::DELTA_CRL_INDICATOR.into(),
                critical: true,
                value: uint_tlv(base),
            });
        }
        if let Some(url) = params.distribution_point {
            exts.push(issuing_distribution_point(url)?);
        }
        if let Some(url) = params.freshest {
            exts.push(Extension {
                oid: oid::FRESHEST_CRL.into(),
                critical: false,
                value: crate::ext::distribution_points_value(url)?,
            });
        }
        let encoded = crate::cert::encode_extensions(&exts)?;
        let mut extensions = Vec::with_capacity(encoded.len() + 2 * MAX_HEADER);
        asn1::push_header(
            &mut extensions,
            asn1::context_constructed(0),
            asn1::tlv_len(encoded.len()),
        );
        asn1::push_header(&mut extensions, asn1::SEQUENCE, encoded.len());
        extensions.extend_from_slice(&encoded);

        // Room for: Certificate header, TBS header, the fixed fields, entries header.
        let entries_at = 3 * MAX_HEADER + fixed.len();
        let mut buf = Vec::with_capacity(entries_at + expected_entries.saturating_mul(60) + 1024);
        buf.resize(entries_at, 0);
        Ok(CrlWriter {
            buf,
            entries_at,
            fixed,
            extensions,
            count: 0,
            tbs_at: None,
            algorithm: params.signature,
        })
    }

    /// Entries so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends one entry.
    pub fn push(&mut self, entry: &RevokedEntry<'_>) -> crate::Result<()> {
        // SEQUENCE  {
        //      userCertificate         CertificateSerialNumber,
        //      revocationDate          Time,
        //      crlEntryExtensions      Extensions OPTIONAL }
        //
        // reasonCode ::= { CRLReason }  -- ENUMERATED, 2.5.29.21
        // InvalidityDate ::=  GeneralizedTime  -- 2.5.29.24
        if self.tbs_at.is_some() {
            return Err(invalid("CRL entry", "the CRL is already finished"));
        }
        let magnitude = match entry.serial.iter().position(|&b| b != 0) {
            Some(i) => &entry.serial[i..],
            None => return Err(invalid("serial number", "zero")),
        };
        if magnitude.len() > 20 {
            return Err(invalid("serial number", "longer than 20 octets"));
        }
        let pad = usize::from(magnitude[0] & 0x80 != 0);
        let revoked_at = civil(entry.revoked_at, "revocationDate")?;
        let invalidity = entry
            .invalidity_date
            .map(|t| civil(t, "invalidityDate"))
            .transpose()?;
        let reason = entry.reason.filter(|&r| r != 0);
        if reason.is_some_and(|r| r == 7 || r > 10) {
            return Err(invalid("reasonCode", "not an RFC 5280 CRLReason"));
        }
        // Extension { extnID, extnValue OCTET STRING { ENUMERATED } }: 2 + 5 + 5.
        const REASON_LEN: usize = 12;
        // Extension { extnID, extnValue OCTET STRING { GeneralizedTime } }: 5 + 2+17 + 2.
        const INVALIDITY_LEN: usize = 26;
        let ext_len = reason.map_or(0, |_| REASON_LEN) + invalidity.map_or(0, |_| INVALIDITY_LEN);
        let serial_len = asn1::tlv_len(magnitude.len() + pad);
        let content = serial_len
            + asn1::time_tlv_len(&revoked_at)
            + if ext_len > 0 {
                asn1::tlv_len(ext_len)
            } else {
                0
            };
        let out = &mut self.buf;
        asn1::push_header(out, asn1::SEQUENCE, content);
        asn1::push_header(out, asn1::INTEGER, magnitude.len() + pad);
        if pad == 1 {
            out.push(0);
        }
        out.extend_from_slice(magnitude);
        revoked_at.push_der(out);
        if ext_len > 0 {
            asn1::push_header(out, asn1::SEQUENCE, ext_len);
            if let Some(r) = reason {
                // 30 0a 06 03 55 1d 15 04 03 0a 01 rr
                out.extend_from_slice(&[
                    0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, r,
                ]);
            }
            if let Some(t) = invalidity {
                // 30 18 06 03 55 1d 18 04 11 18 0f YYYYMMDDHHMMSSZ
                out.extend_from_slice(&[0x30, 0x18, 0x06, 0x03, 0x55, 0x1d, 0x18, 0x04, 0x11]);
                t.push_generalized(out);
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Finishes the TBSCertList and returns it, for the CA key to sign.
    pub fn tbs(&mut self) -> &[u8] {
        let start = match self.tbs_at {
            Some(s) => s,
            None => {
                let entries_len = self.buf.len() - self.entries_at;
                let entries_tlv = if self.count == 0 {
                    0
                } else {
                    asn1::tlv_len(entries_len)
                };
                let content = self.fixed.len() + entries_tlv + self.extensions.len();
                let mut head = Vec::with_capacity(3 * MAX_HEADER + self.fixed.len());
                asn1::push_header(&mut head, asn1::SEQUENCE, content);
                head.extend_from_slice(&self.fixed);
                // No entries: revokedCertificates is absent, not an empty SEQUENCE.
                if self.count > 0 {
                    asn1::push_header(&mut head, asn1::SEQUENCE, entries_len);
                }
                let start = self.entries_at - head.len();
                self.buf[start..self.entries_at].copy_from_slice(&head);
                self.buf.extend_from_slice(&self.extensions);
                self.tbs_at = Some(start);
                start
            }
        };
        &self.buf[start..]
    }

    /// `CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }`,
    /// in the same buffer. `signature` is what the Signer returned for [`CrlWriter::tbs`].
    pub fn assemble(mut self, signature: &[u8]) -> crate::Result<Vec<u8>> {
        if signature.is_empty() {
            return Err(invalid("signature", "empty"));
        }
        self.tbs();
        let start = self.tbs_at.unwrap_or(self.entries_at);
        let tbs_len = self.buf.len() - start;
        let alg = crate::cert::algorithm_identifier_bytes(self.algorithm);
        let sig_len = signature.len() + 1;
        let content = tbs_len + alg.len() + asn1::tlv_len(sig_len);
        let mut head = Vec::with_capacity(MAX_HEADER);
        asn1::push_header(&mut head, asn1::SEQUENCE, content);
        let outer = start
            .checked_sub(head.len())
            .ok_or_else(|| invalid("CRL", "no room for the header"))?;
        self.buf[outer..start].copy_from_slice(&head);
        self.buf.extend_from_slice(alg);
        asn1::push_header(&mut self.buf, asn1::BIT_STRING, sig_len);
        self.buf.push(0);
        self.buf.extend_from_slice(signature);
        self.buf.drain(..outer);
        Ok(self.buf)
    }
}

/// issuingDistributionPoint, critical, with one URI as the distribution point's full name.
pub fn issuing_distribution_point(url: &str) -> crate::Result<Extension> {
    // IssuingDistributionPoint ::= SEQUENCE {
    //      distributionPoint          [0] DistributionPointName OPTIONAL,
    //      onlyContainsUserCerts      [1] BOOLEAN DEFAULT FALSE,
    //      onlyContainsCACerts        [2] BOOLEAN DEFAULT FALSE,
    //      onlySomeReasons            [3] ReasonFlags OPTIONAL,
    //      indirectCRL                [4] BOOLEAN DEFAULT FALSE,
    //      onlyContainsAttributeCerts [5] BOOLEAN DEFAULT FALSE }
    let dp = crate::ext::distribution_point_name(url)?;
    Ok(Extension {
        oid: oid::ISSUING_DISTRIBUTION_POINT.into(),
        critical: true,
        value: asn1::tlv(asn1::SEQUENCE, &dp),
    })
}

/// A decoded summary of a CRL, for tests, tooling and display.
#[derive(Clone, Debug)]
pub struct CrlInfo {
    pub issuer: DistinguishedName,
    pub this_update: SystemTime,
    pub next_update: Option<SystemTime>,
    pub number: Option<u64>,
    pub delta_base: Option<u64>,
    pub extensions: Vec<Extension>,
    /// (serial magnitude hex, revocation date, reason code)
    pub entries: Vec<(String, SystemTime, Option<u8>)>,
    /// The TBSCertList as signed, and the signature, for verification.
    pub tbs: Vec<u8>,
    pub signature: Vec<u8>,
}

impl CrlInfo {
    /// The URI of the issuingDistributionPoint's full name, if there is one.
    pub fn distribution_point(&self) -> Option<String> {
        let e = self
            .extensions
            .iter()
            .find(|e| e.oid == oid::ISSUING_DISTRIBUTION_POINT)?;
        let idp = asn1::single(&e.value, asn1::SEQUENCE, "IDP").ok()?;
        first_uri(idp.value)
    }
}

/// Parses a CRL (DER). Does not verify the signature.
pub fn parse_crl(der: &[u8]) -> crate::Result<CrlInfo> {
    const WHAT: &str = "CRL";
    let list = asn1::single(der, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(list.value, WHAT);
    let tbs = r.read(asn1::SEQUENCE, "tbsCertList")?;
    AlgId::decode(&r.read(asn1::SEQUENCE, "signatureAlgorithm")?, WHAT)?;
    let signature =
        asn1::octet_aligned_bits(r.read(asn1::BIT_STRING, "signatureValue")?.value, WHAT)?;
    r.finish("signatureValue")?;

    let mut t = Reader::new(tbs.value, WHAT);
    if let Some(v) = t.read_optional(asn1::INTEGER)?
        && asn1::small_uint(v.value, WHAT)? != 1
    {
        return Err(asn1::malformed(WHAT, "version is not v2"));
    }
    AlgId::decode(&t.read(asn1::SEQUENCE, "signature")?, WHAT)?;
    let issuer = crate::dn::from_der(t.read(asn1::SEQUENCE, "issuer")?.raw)?;
    let time = |tlv: &asn1::Tlv<'_>| {
        CivilTime::from_der(tlv, WHAT)?
            .to_system_time()
            .ok_or_else(|| asn1::malformed(WHAT, "time not representable"))
    };
    let this_update = time(&t.read_any()?)?;
    let next_update = match t.peek_tag() {
        Some(asn1::UTC_TIME | asn1::GENERALIZED_TIME) => Some(time(&t.read_any()?)?),
        _ => None,
    };
    let mut entries = Vec::new();
    if let Some(list) = t.read_optional(asn1::SEQUENCE)? {
        let mut l = Reader::new(list.value, WHAT);
        while !l.is_empty() {
            let mut e = l.nested(asn1::SEQUENCE, "revoked certificate")?;
            let serial =
                asn1::unsigned_integer(e.read(asn1::INTEGER, "userCertificate")?.value, WHAT)?;
            let at = time(&e.read_any()?)?;
            let mut reason = None;
            if let Some(x) = e.read_optional(asn1::SEQUENCE)? {
                for ext in crate::cert::decode_extensions(x.value, WHAT)? {
                    if ext.oid == oid::REASON_CODE {
                        let v = asn1::single(&ext.value, 0x0a, WHAT)?;
                        reason = v.value.first().copied();
                    }
                }
            }
            e.finish("crlEntryExtensions")?;
            entries.push((hex::encode(serial), at, reason));
        }
    }
    let extensions = match t.read_optional(asn1::context_constructed(0))? {
        Some(e) => crate::cert::decode_extensions(
            asn1::single(e.value, asn1::SEQUENCE, WHAT)?.value,
            WHAT,
        )?,
        None => Vec::new(),
    };
    t.finish("crlExtensions")?;
    let uint = |oid: &str| -> crate::Result<Option<u64>> {
        match extensions.iter().find(|e| e.oid == oid) {
            Some(e) => {
                let v = asn1::unsigned_integer(
                    asn1::single(&e.value, asn1::INTEGER, WHAT)?.value,
                    WHAT,
                )?;
                if v.len() > 8 {
                    return Err(asn1::malformed(WHAT, "CRL number too large"));
                }
                Ok(Some(v.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))))
            }
            None => Ok(None),
        }
    };
    Ok(CrlInfo {
        issuer,
        this_update,
        next_update,
        number: uint(oid::CRL_NUMBER)?,
        delta_base: uint(oid::DELTA_CRL_INDICATOR)?,
        extensions,
        entries,
        tbs: tbs.raw.to_vec(),
        signature: signature.to_vec(),
    })
}

/// The first `uniformResourceIdentifier` inside `[0] DistributionPointName { [0] fullName }`.
pub(crate) fn first_uri(content: &[u8]) -> Option<String> {
    let mut r = Reader::new(content, "distribution point");
    let dp = r
        .read(asn1::context_constructed(0), "distributionPoint")
        .ok()?;
    let full = asn1::single(dp.value, asn1::context_constructed(0), "fullName").ok()?;
    let mut names = Reader::new(full.value, "GeneralNames");
    while !names.is_empty() {
        let n = names.read_any().ok()?;
        if n.tag == asn1::context_primitive(6) {
            return String::from_utf8(n.value.to_vec()).ok();
        }
    }
    None
}

/// INTEGER TLV of a non-negative number, minimal.
fn uint_tlv(n: u64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    let mag = &bytes[first..];
    let mut content = Vec::with_capacity(9);
    if mag[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(mag);
    asn1::tlv(asn1::INTEGER, &content)
}

fn civil(t: SystemTime, what: &'static str) -> crate::Result<CivilTime> {
    CivilTime::from_system_time(t).ok_or_else(|| invalid(what, "outside years 0..=9999"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn params<'a>(dn: &'a DistinguishedName, delta: Option<u64>) -> CrlParams<'a> {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        CrlParams {
            issuer: dn,
            signature: SignatureAlgorithm::EcdsaSha256,
            this_update: now,
            next_update: now + Duration::from_secs(86_400),
            number: 300,
            authority_key_id: &[7; 20],
            delta_base: delta,
            distribution_point: Some("http://pki.example/crl/demo.crl"),
            freshest: if delta.is_some() {
                None
            } else {
                Some("http://pki.example/crl/demo/delta.crl")
            },
        }
    }

    #[test]
    fn writes_what_it_parses() {
        let dn = DistinguishedName::parse("CN=Test CA").unwrap();
        let p = params(&dn, Some(299));
        let mut w = CrlWriter::new(&p, 3).unwrap();
        let t = p.this_update - Duration::from_secs(60);
        for (i, reason) in [None, Some(1), Some(6), Some(REMOVE_FROM_CRL)]
            .into_iter()
            .enumerate()
        {
            let serial = [0x80 | i as u8; 20];
            w.push(&RevokedEntry {
                serial: &serial,
                revoked_at: t,
                reason,
                invalidity_date: (i == 1).then_some(t - Duration::from_secs(3600)),
            })
            .unwrap();
        }
        let tbs = w.tbs().to_vec();
        let der = w.assemble(&[0x30, 0x03, 0x02, 0x01, 0x01]).unwrap();
        let info = parse_crl(&der).unwrap();
        assert_eq!(info.tbs, tbs);
        assert_eq!(info.number, Some(300));
        assert_eq!(info.delta_base, Some(299));
        assert_eq!(info.entries.len(), 4);
        assert_eq!(info.entries[1].2, Some(1));
        assert_eq!(info.entries[0].2, None);
        assert_eq!(info.entries[3].2, Some(REMOVE_FROM_CRL));
        assert_eq!(info.entries[0].0, hex::encode([0x80u8; 20]));
        assert_eq!(
            info.distribution_point().as_deref(),
            Some("http://pki.example/crl/demo.crl")
        );
        let idp = info
            .extensions
            .iter()
            .find(|e| e.oid == "2.5.29.28")
            .unwrap();
        assert!(idp.critical);
        assert!(
            info.extensions
                .iter()
                .any(|e| e.oid == "2.5.29.27" && e.critical)
        );
    }

    #[test]
    fn an_empty_crl_has_no_revoked_certificates_field() {
        let dn = DistinguishedName::parse("CN=Test CA").unwrap();
        let p = params(&dn, None);
        let mut w = CrlWriter::new(&p, 0).unwrap();
        w.tbs();
        let der = w.assemble(&[1, 2, 3]).unwrap();
        let info = parse_crl(&der).unwrap();
        assert!(info.entries.is_empty());
        assert!(info.extensions.iter().any(|e| e.oid == oid::FRESHEST_CRL));
    }

    #[test]
    fn the_idp_has_the_rfc_5280_oid() {
        let e = issuing_distribution_point("http://x/y.crl").unwrap();
        assert_eq!(e.oid, "2.5.29.28");
        // SEQUENCE { [0] { [0] { [6] "http://x/y.crl" } } }
        assert_eq!(&e.value[..6], &[0x30, 0x14, 0xa0, 0x12, 0xa0, 0x10]);
        assert_eq!(e.value[6], 0x86);
    }
}
