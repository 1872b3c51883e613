//! Certificates: TBS encoding from parameters, assembly with a detached signature, and a
//! summary parser for display and exit modules.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::asn1::{self, AlgId, CivilTime, Reader, Spki, invalid};
use crate::ext::oid;
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
///
/// The issuer, subject and SPKI are copied verbatim; lengths are computed first and the whole
/// structure is written into one buffer. Fails with [`Error::Invalid`](crate::Error::Invalid)
/// for a serial whose first byte is outside `0x01..=0x7f`, times outside years 0..=9999 or
/// `not_after < not_before`, an SPKI that is not one DER SEQUENCE, or a bad or repeated
/// extension OID.
pub fn encode_tbs_certificate(params: &TbsCertificateParams<'_>) -> crate::Result<Vec<u8>> {
    // TBSCertificate  ::=  SEQUENCE  {
    //      version         [0]  EXPLICIT Version DEFAULT v1,
    //      serialNumber         CertificateSerialNumber,
    //      signature            AlgorithmIdentifier,
    //      issuer               Name,
    //      validity             Validity,
    //      subject              Name,
    //      subjectPublicKeyInfo SubjectPublicKeyInfo,
    //      issuerUniqueID  [1]  IMPLICIT UniqueIdentifier OPTIONAL,
    //      subjectUniqueID [2]  IMPLICIT UniqueIdentifier OPTIONAL,
    //      extensions      [3]  EXPLICIT Extensions OPTIONAL }
    //
    // Version  ::=  INTEGER  {  v1(0), v2(1), v3(2)  }
    // CertificateSerialNumber  ::=  INTEGER
    // Validity ::= SEQUENCE { notBefore Time, notAfter Time }
    const V3: [u8; 5] = [0xa0, 0x03, asn1::INTEGER, 0x01, 0x02];

    let serial = params.serial;
    if !(0x01..=0x7f).contains(&serial[0]) {
        return Err(invalid(
            "serial number",
            "the first byte must be in 0x01..=0x7f (positive, exactly 20 octets)",
        ));
    }
    let not_before = CivilTime::from_system_time(params.not_before)
        .ok_or_else(|| invalid("notBefore", "outside years 0..=9999"))?;
    let not_after = CivilTime::from_system_time(params.not_after)
        .ok_or_else(|| invalid("notAfter", "outside years 0..=9999"))?;
    if params.not_after < params.not_before {
        return Err(invalid("validity", "notAfter is before notBefore"));
    }
    check_single_sequence(params.spki_der, "subjectPublicKeyInfo")?;
    let exts = encode_extensions(params.extensions)?;

    let alg = algorithm_identifier_bytes(params.signature);
    let issuer = params.issuer.as_der();
    let subject = params.subject.as_der();
    let validity_len = asn1::time_tlv_len(&not_before) + asn1::time_tlv_len(&not_after);
    let extensions_len = if exts.is_empty() {
        0
    } else {
        asn1::tlv_len(asn1::tlv_len(exts.len()))
    };
    let content_len = V3.len()
        + asn1::tlv_len(serial.len())
        + alg.len()
        + issuer.len()
        + asn1::tlv_len(validity_len)
        + subject.len()
        + params.spki_der.len()
        + extensions_len;

    let mut out = Vec::with_capacity(asn1::tlv_len(content_len));
    asn1::push_header(&mut out, asn1::SEQUENCE, content_len);
    out.extend_from_slice(&V3);
    asn1::push_tlv(&mut out, asn1::INTEGER, serial);
    out.extend_from_slice(alg);
    out.extend_from_slice(issuer);
    asn1::push_header(&mut out, asn1::SEQUENCE, validity_len);
    not_before.push_der(&mut out);
    not_after.push_der(&mut out);
    out.extend_from_slice(subject);
    out.extend_from_slice(params.spki_der);
    if !exts.is_empty() {
        asn1::push_header(
            &mut out,
            asn1::context_constructed(3),
            asn1::tlv_len(exts.len()),
        );
        asn1::push_header(&mut out, asn1::SEQUENCE, exts.len());
        out.extend_from_slice(&exts);
    }
    debug_assert_eq!(out.len(), asn1::tlv_len(content_len));
    Ok(out)
}

/// The content octets of `Extensions` (empty for no extensions).
pub(crate) fn encode_extensions(extensions: &[Extension]) -> crate::Result<Vec<u8>> {
    // Extensions  ::=  SEQUENCE SIZE (1..MAX) OF Extension
    //
    // Extension  ::=  SEQUENCE  {
    //      extnID      OBJECT IDENTIFIER,
    //      critical    BOOLEAN DEFAULT FALSE,
    //      extnValue   OCTET STRING }
    const CRITICAL: [u8; 3] = [asn1::BOOLEAN, 0x01, 0xff];

    let capacity = extensions.iter().map(|e| e.value.len() + 24).sum();
    let mut out = Vec::with_capacity(capacity);
    let mut oid = Vec::with_capacity(16);
    for (i, ext) in extensions.iter().enumerate() {
        if extensions[..i].iter().any(|e| e.oid == ext.oid) {
            return Err(invalid(
                "extension",
                format!("{} appears more than once (RFC 5280 §4.2)", ext.oid),
            ));
        }
        oid.clear();
        asn1::oid_from_dotted(&ext.oid, &mut oid)
            .ok_or_else(|| invalid("extension", format!("bad OID {:?}", ext.oid)))?;
        let critical_len = if ext.critical { CRITICAL.len() } else { 0 };
        let len = asn1::tlv_len(oid.len()) + critical_len + asn1::tlv_len(ext.value.len());
        asn1::push_header(&mut out, asn1::SEQUENCE, len);
        asn1::push_tlv(&mut out, asn1::OID, &oid);
        if ext.critical {
            out.extend_from_slice(&CRITICAL);
        }
        asn1::push_tlv(&mut out, asn1::OCTET_STRING, &ext.value);
    }
    Ok(out)
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }`.
pub fn assemble_certificate(
    tbs_der: &[u8],
    alg: SignatureAlgorithm,
    signature: &[u8],
) -> crate::Result<Vec<u8>> {
    // Certificate  ::=  SEQUENCE  {
    //      tbsCertificate       TBSCertificate,
    //      signatureAlgorithm   AlgorithmIdentifier,
    //      signatureValue       BIT STRING  }
    assemble_signed(tbs_der, "tbsCertificate", alg, signature)
}

/// `SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }`: a certificate or a PKCS#10 request
/// (whose signed part is named `what` in errors) with its signature.
pub(crate) fn assemble_signed(
    tbs_der: &[u8],
    what: &'static str,
    alg: SignatureAlgorithm,
    signature: &[u8],
) -> crate::Result<Vec<u8>> {
    check_single_sequence(tbs_der, what)?;
    if signature.is_empty() {
        return Err(invalid("signature", "empty"));
    }
    let alg = algorithm_identifier_bytes(alg);
    // The BIT STRING holds whole octets: one leading "0 unused bits" octet.
    let sig_len = signature.len() + 1;
    let content_len = tbs_der.len() + alg.len() + asn1::tlv_len(sig_len);
    let mut out = Vec::with_capacity(asn1::tlv_len(content_len));
    asn1::push_header(&mut out, asn1::SEQUENCE, content_len);
    out.extend_from_slice(tbs_der);
    out.extend_from_slice(alg);
    asn1::push_header(&mut out, asn1::BIT_STRING, sig_len);
    out.push(0);
    out.extend_from_slice(signature);
    Ok(out)
}

/// Checks that `der` is exactly one SEQUENCE TLV (a cheap guard on values we copy verbatim).
fn check_single_sequence(der: &[u8], what: &'static str) -> crate::Result<()> {
    asn1::single(der, asn1::SEQUENCE, what)
        .map(|_| ())
        .map_err(|e| invalid(what, e.to_string()))
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
///
/// SAN entries of kinds [`San`] cannot represent are skipped here (this is a summary), unlike
/// in [`parse_csr`](crate::parse_csr).
pub fn parse_certificate(input: &[u8]) -> crate::Result<CertificateInfo> {
    const WHAT: &str = "certificate";
    let pem_der;
    let der: &[u8] = if input.first() == Some(&asn1::SEQUENCE) {
        input
    } else {
        let (label, der) = crate::pem::decode(input)?;
        if label != "CERTIFICATE" {
            return Err(asn1::malformed(
                "PEM",
                format!("expected a CERTIFICATE block, found {label}"),
            ));
        }
        pem_der = der;
        &pem_der
    };

    let fields = CertificateFields::decode(der)?;
    let magnitude = match fields.serial.iter().position(|&b| b != 0) {
        Some(i) => &fields.serial[i..],
        None => &fields.serial[fields.serial.len() - 1..],
    };
    let issuer = crate::dn::from_der(fields.issuer)?;
    let mut validity = Reader::new(fields.validity, WHAT);
    let not_before = CivilTime::from_der(&validity.read_any()?, WHAT)?;
    let not_after = CivilTime::from_der(&validity.read_any()?, WHAT)?;
    validity.finish("validity")?;
    let subject = crate::dn::from_der(fields.subject)?;
    let extensions = match fields.extensions {
        Some(e) => decode_extensions(e, WHAT)?,
        None => Vec::new(),
    };

    let sans = match extensions.iter().find(|e| e.oid == oid::SUBJECT_ALT_NAME) {
        Some(e) => crate::csr::decode_sans(&e.value, false)?,
        None => Vec::new(),
    };
    let time = |t: CivilTime| {
        t.to_system_time()
            .ok_or_else(|| asn1::malformed(WHAT, "time not representable"))
    };
    Ok(CertificateInfo {
        serial_hex: hex::encode(magnitude),
        subject,
        issuer,
        not_before: time(not_before)?,
        not_after: time(not_after)?,
        spki_der: fields.spki.to_vec(),
        extensions,
        sans,
    })
}

/// The extensions of one DER certificate, in order, without decoding its names, times or
/// SANs: what a reader needs that only compares extension values (the store's extension
/// records kept by reference to the certificate). Refuses what [`parse_certificate`]
/// refuses in the certificate's shape and its extensions.
pub fn certificate_extensions(der: &[u8]) -> crate::Result<Vec<Extension>> {
    match CertificateFields::decode(der)?.extensions {
        Some(e) => decode_extensions(e, "certificate"),
        None => Ok(Vec::new()),
    }
}

/// The fields of a certificate as slices of its DER, checked for shape but not interpreted:
/// what [`parse_certificate`] decodes further, and what CMS matches a certificate by
/// (IssuerAndSerialNumber, RFC 5652 §10.2.4) without caring how its names are spelt.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CertificateFields<'a> {
    /// The serialNumber INTEGER's content octets (minimal, either sign).
    pub serial: &'a [u8],
    /// The issuer Name TLV.
    pub issuer: &'a [u8],
    /// The content of the Validity SEQUENCE.
    pub validity: &'a [u8],
    /// The subject Name TLV.
    pub subject: &'a [u8],
    /// The SubjectPublicKeyInfo TLV (checked with [`Spki::decode`]).
    pub spki: &'a [u8],
    /// The content of the Extensions SEQUENCE, if present.
    pub extensions: Option<&'a [u8]>,
}

impl<'a> CertificateFields<'a> {
    /// Splits one DER certificate into its fields.
    pub(crate) fn decode(der: &'a [u8]) -> crate::Result<CertificateFields<'a>> {
        const WHAT: &str = "certificate";
        // Certificate  ::=  SEQUENCE  { tbsCertificate, signatureAlgorithm, signatureValue }
        let cert = asn1::single(der, asn1::SEQUENCE, WHAT)?;
        let mut r = Reader::new(cert.value, WHAT);
        let tbs = r.read(asn1::SEQUENCE, "tbsCertificate")?;
        AlgId::decode(&r.read(asn1::SEQUENCE, "signatureAlgorithm")?, WHAT)?;
        asn1::bit_string(r.read(asn1::BIT_STRING, "signatureValue")?.value, WHAT)?;
        r.finish("signatureValue")?;

        // TBSCertificate: see `encode_tbs_certificate` for the ASN.1.
        let mut t = Reader::new(tbs.value, WHAT);
        let version = match t.read_optional(asn1::context_constructed(0))? {
            Some(v) => asn1::small_uint(asn1::single(v.value, asn1::INTEGER, WHAT)?.value, WHAT)?,
            None => 0,
        };
        if version > 2 {
            return Err(asn1::malformed(WHAT, format!("unknown version {version}")));
        }
        let serial = t.read(asn1::INTEGER, "serialNumber")?.value;
        asn1::check_integer(serial, WHAT)?;
        AlgId::decode(&t.read(asn1::SEQUENCE, "signature")?, WHAT)?;
        let issuer = t.read(asn1::SEQUENCE, "issuer")?.raw;
        let validity = t.read(asn1::SEQUENCE, "validity")?.value;
        let subject = t.read(asn1::SEQUENCE, "subject")?.raw;
        let spki = t.read(asn1::SEQUENCE, "subjectPublicKeyInfo")?.raw;
        Spki::decode(spki, WHAT)?;
        for unique_id in [1, 2] {
            if let Some(id) = t.read_optional(asn1::context_primitive(unique_id))? {
                asn1::bit_string(id.value, WHAT)?;
            }
        }
        let extensions = match t.read_optional(asn1::context_constructed(3))? {
            Some(e) => Some(asn1::single(e.value, asn1::SEQUENCE, WHAT)?.value),
            None => None,
        };
        t.finish("extensions")?;
        Ok(CertificateFields {
            serial,
            issuer,
            validity,
            subject,
            spki,
            extensions,
        })
    }
}

/// Decodes the content of an `Extensions` SEQUENCE (see `encode_extensions` for the ASN.1).
/// Rejects repeated extensions (RFC 5280 §4.2). An explicit `critical FALSE`, which DER
/// forbids, is tolerated because some request generators write it.
pub(crate) fn decode_extensions(
    content: &[u8],
    what: &'static str,
) -> crate::Result<Vec<Extension>> {
    let mut r = Reader::new(content, what);
    let mut out: Vec<Extension> = Vec::new();
    while !r.is_empty() {
        let mut e = r.nested(asn1::SEQUENCE, "Extension")?;
        let oid = asn1::oid_to_string(e.read(asn1::OID, "extnID")?.value)
            .ok_or_else(|| asn1::malformed(what, "invalid extension OID"))?;
        let critical = match e.read_optional(asn1::BOOLEAN)? {
            Some(b) => asn1::decode_bool(&b, what)?,
            None => false,
        };
        let value = e.read(asn1::OCTET_STRING, "extnValue")?.value.to_vec();
        e.finish("Extension")?;
        if out.iter().any(|x| x.oid == oid) {
            return Err(asn1::malformed(
                what,
                format!("extension {oid} appears twice"),
            ));
        }
        out.push(Extension {
            oid,
            critical,
            value,
        });
    }
    Ok(out)
}

/// The DER `AlgorithmIdentifier` of each algorithm the CA signs with.
pub(crate) fn algorithm_identifier_bytes(alg: SignatureAlgorithm) -> &'static [u8] {
    match alg {
        // SEQUENCE { OID 1.2.840.10045.4.3.2 } -- parameters absent (RFC 5758 §3.2)
        SignatureAlgorithm::EcdsaSha256 => &[
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
        ],
        // SEQUENCE { OID 1.2.840.10045.4.3.3 } -- parameters absent
        SignatureAlgorithm::EcdsaSha384 => &[
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
        ],
        // SEQUENCE { OID 1.3.101.112 } -- parameters absent (RFC 8410 §3)
        SignatureAlgorithm::Ed25519 => &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
        // SEQUENCE { OID 1.2.840.113549.1.1.11, NULL } (RFC 4055 §5)
        SignatureAlgorithm::RsaPkcs1Sha256 => &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
            0x00,
        ],
        // SEQUENCE { OID 1.2.840.113549.1.1.10, RSASSA-PSS-params { [0] sha256 (NULL),
        // [1] mgf1 { sha256 (NULL) }, [2] saltLength 32 } } -- byte for byte the encoding of
        // the CA/Browser Forum Baseline Requirements 7.1.3.2.
        SignatureAlgorithm::RsaPssSha256 => &[
            0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30,
            0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
            0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
            0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
            0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
        ],
        // SEQUENCE { OID 2.16.840.1.101.3.4.3.18 } -- parameters absent (RFC 9881)
        SignatureAlgorithm::MlDsa65 => &[
            0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12,
        ],
    }
}

pub(crate) fn algorithm_identifier_der(alg: SignatureAlgorithm) -> Vec<u8> {
    algorithm_identifier_bytes(alg).to_vec()
}

pub(crate) fn ext_key_usage_impl(usage: KeyUsage) -> Extension {
    // KeyUsage ::= BIT STRING {
    //      digitalSignature        (0),
    //      nonRepudiation          (1), -- recent editions of X.509 have
    //                                   -- renamed this bit to contentCommitment
    //      keyEncipherment         (2),
    //      dataEncipherment        (3),
    //      keyAgreement            (4),
    //      keyCertSign             (5),
    //      cRLSign                 (6),
    //      encipherOnly            (7),
    //      decipherOnly            (8) }
    //
    // Named bit N is the (N % 8)-th most significant bit of octet N / 8. DER (X.690 §11.2.2)
    // drops trailing zero bits, so the string ends at the highest bit set.
    let bits = usage.0;
    let value = if bits == 0 {
        vec![asn1::BIT_STRING, 0x01, 0x00]
    } else {
        let highest = 15 - bits.leading_zeros() as usize;
        let octets = highest / 8 + 1;
        let unused = (7 - highest % 8) as u8;
        let mut v = Vec::with_capacity(3 + octets);
        v.extend_from_slice(&[asn1::BIT_STRING, (octets + 1) as u8, unused]);
        for i in 0..octets {
            let chunk = (bits >> (8 * i)) as u8; // bits 8i..8i+7, bit 8i in the LSB
            v.push(chunk.reverse_bits());
        }
        v
    };
    Extension {
        oid: oid::KEY_USAGE.to_owned(),
        critical: true,
        value,
    }
}

pub(crate) fn ext_eku_impl(oids: &[String]) -> crate::Result<Extension> {
    // ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId
    // KeyPurposeId ::= OBJECT IDENTIFIER
    if oids.is_empty() {
        return Err(invalid("extendedKeyUsage", "empty list"));
    }
    let mut content = Vec::with_capacity(oids.len() * 10);
    let mut buf = Vec::with_capacity(16);
    for o in oids {
        buf.clear();
        asn1::oid_from_dotted(o, &mut buf)
            .ok_or_else(|| invalid("extendedKeyUsage", format!("bad OID {o:?}")))?;
        asn1::push_tlv(&mut content, asn1::OID, &buf);
    }
    Ok(Extension {
        oid: oid::EXT_KEY_USAGE.to_owned(),
        critical: false,
        value: asn1::tlv(asn1::SEQUENCE, &content),
    })
}

/// `pathLenConstraint` is only written for a CA: RFC 5280 §4.2.1.9 forbids it otherwise.
pub(crate) fn ext_bc_impl(ca: bool, path_len: Option<u8>) -> Extension {
    // BasicConstraints ::= SEQUENCE {
    //      cA                      BOOLEAN DEFAULT FALSE,
    //      pathLenConstraint       INTEGER (0..MAX) OPTIONAL }
    //
    // DER omits a DEFAULT value, so an end-entity's value is the empty SEQUENCE.
    let mut content = Vec::with_capacity(7);
    if ca {
        content.extend_from_slice(&[asn1::BOOLEAN, 0x01, 0xff]);
        if let Some(n) = path_len {
            if n < 0x80 {
                content.extend_from_slice(&[asn1::INTEGER, 0x01, n]);
            } else {
                content.extend_from_slice(&[asn1::INTEGER, 0x02, 0x00, n]);
            }
        }
    }
    Extension {
        oid: oid::BASIC_CONSTRAINTS.to_owned(),
        critical: true,
        value: asn1::tlv(asn1::SEQUENCE, &content),
    }
}

pub(crate) fn ext_ski_impl(key_id: &[u8]) -> Extension {
    // SubjectKeyIdentifier ::= KeyIdentifier
    // KeyIdentifier ::= OCTET STRING
    Extension {
        oid: oid::SUBJECT_KEY_IDENTIFIER.to_owned(),
        critical: false,
        value: asn1::tlv(asn1::OCTET_STRING, key_id),
    }
}

pub(crate) fn ext_aki_impl(key_id: &[u8]) -> Extension {
    // AuthorityKeyIdentifier ::= SEQUENCE {
    //     keyIdentifier             [0] KeyIdentifier           OPTIONAL,
    //     authorityCertIssuer       [1] GeneralNames            OPTIONAL,
    //     authorityCertSerialNumber [2] CertificateSerialNumber OPTIONAL  }
    //
    // The module uses IMPLICIT tags, so [0] directly replaces the OCTET STRING tag.
    Extension {
        oid: oid::AUTHORITY_KEY_IDENTIFIER.to_owned(),
        critical: false,
        value: asn1::tlv(
            asn1::SEQUENCE,
            &asn1::tlv(asn1::context_primitive(0), key_id),
        ),
    }
}

pub(crate) fn ext_san_impl(sans: &[San], subject_empty: bool) -> crate::Result<Extension> {
    // SubjectAltName ::= GeneralNames
    // GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
    // GeneralName ::= CHOICE {
    //      otherName                 [0]  AnotherName,
    //      rfc822Name                [1]  IA5String,
    //      dNSName                   [2]  IA5String,
    //      x400Address               [3]  ORAddress,
    //      directoryName             [4]  Name,
    //      ediPartyName              [5]  EDIPartyName,
    //      uniformResourceIdentifier [6]  IA5String,
    //      iPAddress                 [7]  OCTET STRING,
    //      registeredID              [8]  OBJECT IDENTIFIER }
    //
    // IMPLICIT tags: each primitive choice is written with its context tag only.
    if sans.is_empty() {
        return Err(invalid("subjectAltName", "empty list"));
    }
    let mut content = Vec::with_capacity(sans.len() * 24);
    for san in sans {
        let (tag, text) = match san {
            San::Ip(IpAddr::V4(ip)) => {
                asn1::push_tlv(&mut content, asn1::context_primitive(7), &ip.octets());
                continue;
            }
            San::Ip(IpAddr::V6(ip)) => {
                asn1::push_tlv(&mut content, asn1::context_primitive(7), &ip.octets());
                continue;
            }
            San::Email(s) => (1, s),
            San::Dns(s) => (2, s),
            San::Uri(s) => (6, s),
        };
        if text.is_empty() || !text.is_ascii() {
            return Err(invalid(
                "subjectAltName",
                format!("{san} must be non-empty ASCII (IA5String)"),
            ));
        }
        asn1::push_tlv(&mut content, asn1::context_primitive(tag), text.as_bytes());
    }
    Ok(Extension {
        oid: oid::SUBJECT_ALT_NAME.to_owned(),
        critical: subject_empty,
        value: asn1::tlv(asn1::SEQUENCE, &content),
    })
}

pub(crate) fn key_identifier_impl(spki_der: &[u8]) -> crate::Result<[u8; 20]> {
    let spki = Spki::decode(spki_der, "subjectPublicKeyInfo")?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, spki.key);
    let mut out = [0u8; 20];
    out.copy_from_slice(digest.as_ref());
    Ok(out)
}

/// Checks that `cert` (PEM or DER) was signed by the key in `issuer_spki_der` and names
/// `issuer` as its issuer: how a CA recognises a certificate issued elsewhere with its own key
/// (AD CS `ICertAdmin::ImportCertificate`). Returns the parsed summary.
pub fn verify_issued_by(
    cert: &[u8],
    issuer: &DistinguishedName,
    issuer_spki_der: &[u8],
) -> crate::Result<CertificateInfo> {
    const WHAT: &str = "certificate";
    let info = parse_certificate(cert)?;
    if info.issuer.as_der() != issuer.as_der() {
        return Err(crate::Error::Invalid {
            what: "issuer",
            reason: format!("the certificate's issuer is {}, not {issuer}", info.issuer),
        });
    }
    let pem_der;
    let der: &[u8] = if cert.first() == Some(&asn1::SEQUENCE) {
        cert
    } else {
        pem_der = crate::pem::decode(cert)?.1;
        &pem_der
    };
    // Certificate  ::=  SEQUENCE  {
    //      tbsCertificate       TBSCertificate,
    //      signatureAlgorithm   AlgorithmIdentifier,
    //      signatureValue       BIT STRING  }
    let outer = asn1::single(der, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(outer.value, WHAT);
    let tbs = r.read(asn1::SEQUENCE, "tbsCertificate")?;
    let alg = AlgId::decode(&r.read(asn1::SEQUENCE, "signatureAlgorithm")?, WHAT)?;
    let signature =
        asn1::octet_aligned_bits(r.read(asn1::BIT_STRING, "signatureValue")?.value, WHAT)?;
    let spki = Spki::decode(issuer_spki_der, "issuer public key")?;
    let key = crate::csr::classify_key(&spki)?;
    crate::csr::verify_signature(key, spki.key, &alg, tbs.raw, signature).map_err(|e| match e {
        crate::Error::BadSignature => crate::Error::Invalid {
            what: "signature",
            reason: "the certificate was not signed by this CA's key".into(),
        },
        other => other,
    })?;
    Ok(info)
}

/// HMAC-SHA256 of `data` under `key`: secrets derived from a server key.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&key, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// SHA-256 of `data`: certificate fingerprints, token hashes, audit chain links.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
