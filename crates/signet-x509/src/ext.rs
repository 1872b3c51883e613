//! Extensions: the generic `Extension` triple and builders for the ones the CA writes.

use std::net::IpAddr;

use crate::asn1;

/// One X.509 extension. `value` is the DER inside the `extnValue` OCTET STRING.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// Dotted OID, e.g. `2.5.29.17`.
    pub oid: String,
    pub critical: bool,
    pub value: Vec<u8>,
}

/// A subject alternative name of a kind Signet understands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
    Email(String),
    Uri(String),
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(v) => write!(f, "DNS:{v}"),
            San::Ip(v) => write!(f, "IP:{v}"),
            San::Email(v) => write!(f, "email:{v}"),
            San::Uri(v) => write!(f, "URI:{v}"),
        }
    }
}

/// KeyUsage bits (RFC 5280 §4.2.1.3), as a bit set where bit N is `1 << N`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyUsage(pub u16);

impl KeyUsage {
    pub const DIGITAL_SIGNATURE: KeyUsage = KeyUsage(1 << 0);
    pub const NON_REPUDIATION: KeyUsage = KeyUsage(1 << 1);
    pub const KEY_ENCIPHERMENT: KeyUsage = KeyUsage(1 << 2);
    pub const DATA_ENCIPHERMENT: KeyUsage = KeyUsage(1 << 3);
    pub const KEY_AGREEMENT: KeyUsage = KeyUsage(1 << 4);
    pub const KEY_CERT_SIGN: KeyUsage = KeyUsage(1 << 5);
    pub const CRL_SIGN: KeyUsage = KeyUsage(1 << 6);

    /// Parses a configuration name (`digitalSignature`, `keyEncipherment`, ...).
    pub fn from_name(name: &str) -> Option<KeyUsage> {
        Some(match name {
            "digitalSignature" => Self::DIGITAL_SIGNATURE,
            "nonRepudiation" | "contentCommitment" => Self::NON_REPUDIATION,
            "keyEncipherment" => Self::KEY_ENCIPHERMENT,
            "dataEncipherment" => Self::DATA_ENCIPHERMENT,
            "keyAgreement" => Self::KEY_AGREEMENT,
            "keyCertSign" => Self::KEY_CERT_SIGN,
            "cRLSign" => Self::CRL_SIGN,
            _ => return None,
        })
    }

    pub fn union(self, other: KeyUsage) -> KeyUsage {
        KeyUsage(self.0 | other.0)
    }

    pub fn contains(self, other: KeyUsage) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Well-known OIDs, dotted.
pub mod oid {
    pub const SUBJECT_KEY_IDENTIFIER: &str = "2.5.29.14";
    pub const KEY_USAGE: &str = "2.5.29.15";
    pub const SUBJECT_ALT_NAME: &str = "2.5.29.17";
    pub const BASIC_CONSTRAINTS: &str = "2.5.29.19";
    pub const AUTHORITY_KEY_IDENTIFIER: &str = "2.5.29.35";
    pub const EXT_KEY_USAGE: &str = "2.5.29.37";
    pub const KP_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
    pub const KP_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
    pub const KP_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
    pub const KP_EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";
    pub const KP_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";
    pub const KP_OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";
    pub const CRL_DISTRIBUTION_POINTS: &str = "2.5.29.31";
    pub const AUTHORITY_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.1";
    pub const AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
    pub const AD_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";
    pub const CERTIFICATE_POLICIES: &str = "2.5.29.32";
    pub const NAME_CONSTRAINTS: &str = "2.5.29.30";
    /// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
    pub const OCSP_NOCHECK: &str = "1.3.6.1.5.5.7.48.1.5";
}

/// Resolves an EKU configuration name (`serverAuth`, `clientAuth`, ...) or a dotted OID.
pub fn eku_oid(name: &str) -> Option<String> {
    let oid = match name {
        "serverAuth" => oid::KP_SERVER_AUTH,
        "clientAuth" => oid::KP_CLIENT_AUTH,
        "codeSigning" => oid::KP_CODE_SIGNING,
        "emailProtection" => oid::KP_EMAIL_PROTECTION,
        "timeStamping" => oid::KP_TIME_STAMPING,
        "OCSPSigning" => oid::KP_OCSP_SIGNING,
        other if is_dotted_oid(other) => other,
        _ => return None,
    };
    Some(oid.to_string())
}

/// True when `s` looks like a dotted OID with at least two arcs.
pub fn is_dotted_oid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The content octets of the OBJECT IDENTIFIER written `dotted` (no tag, no length), or
/// `None` if `dotted` is not a valid OID: for a compact binary record of OIDs (the store's
/// extension blob) that must not carry them as text.
pub fn oid_to_der(dotted: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(dotted.len() / 2 + 1);
    asn1::oid_from_dotted(dotted, &mut out)?;
    Some(out)
}

/// The dotted form of OBJECT IDENTIFIER content octets, or `None` if they are not a valid,
/// minimally encoded OID. The inverse of [`oid_to_der`].
pub fn oid_from_der(content: &[u8]) -> Option<String> {
    asn1::oid_to_string(content)
}

// Builders. Each returns an `Extension` whose criticality follows RFC 5280 and the CA/B
// Forum profile: KU critical, BC critical, SAN critical only when the subject is empty,
// EKU/SKI/AKI non-critical.

/// keyUsage, critical. `KeyUsage ::= BIT STRING` with named bits (minimal DER encoding).
pub fn key_usage(usage: KeyUsage) -> Extension {
    crate::cert::ext_key_usage_impl(usage)
}

/// extKeyUsage, non-critical. `ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId`.
pub fn extended_key_usage(oids: &[String]) -> crate::Result<Extension> {
    crate::cert::ext_eku_impl(oids)
}

/// basicConstraints, critical. `BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE,
/// pathLenConstraint INTEGER (0..MAX) OPTIONAL }`. `path_len` is ignored when `ca` is false
/// (RFC 5280 §4.2.1.9 forbids it there), so an end-entity value is the empty SEQUENCE.
pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> Extension {
    crate::cert::ext_bc_impl(ca, path_len)
}

/// subjectKeyIdentifier, non-critical, with the given key id.
pub fn subject_key_identifier(key_id: &[u8]) -> Extension {
    crate::cert::ext_ski_impl(key_id)
}

/// authorityKeyIdentifier, non-critical, `keyIdentifier` only.
pub fn authority_key_identifier(key_id: &[u8]) -> Extension {
    crate::cert::ext_aki_impl(key_id)
}

/// subjectAltName; critical when `subject_empty` (RFC 5280 §4.2.1.6).
pub fn subject_alt_name(sans: &[San], subject_empty: bool) -> crate::Result<Extension> {
    crate::cert::ext_san_impl(sans, subject_empty)
}

/// cRLDistributionPoints, non-critical, one distribution point with one URI (RFC 5280
/// §4.2.1.13).
pub fn crl_distribution_points(url: &str) -> crate::Result<Extension> {
    Ok(Extension {
        oid: oid::CRL_DISTRIBUTION_POINTS.to_owned(),
        critical: false,
        value: distribution_points_value(url)?,
    })
}

/// authorityInfoAccess, non-critical: OCSP first, then caIssuers (RFC 5280 §4.2.2.1).
pub fn authority_info_access(
    ocsp: Option<&str>,
    ca_issuers: Option<&str>,
) -> crate::Result<Extension> {
    // AuthorityInfoAccessSyntax  ::= SEQUENCE SIZE (1..MAX) OF AccessDescription
    // AccessDescription  ::=  SEQUENCE { accessMethod OBJECT IDENTIFIER,
    //                                    accessLocation GeneralName  }
    // id-ad-ocsp 1.3.6.1.5.5.7.48.1, id-ad-caIssuers 1.3.6.1.5.5.7.48.2
    const OCSP: [u8; 10] = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    const CA_ISSUERS: [u8; 10] = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let mut content = Vec::new();
    for (method, url) in [(OCSP, ocsp), (CA_ISSUERS, ca_issuers)] {
        if let Some(url) = url {
            let name = uri_general_name(url)?;
            asn1::push_header(&mut content, asn1::SEQUENCE, method.len() + name.len());
            content.extend_from_slice(&method);
            content.extend_from_slice(&name);
        }
    }
    if content.is_empty() {
        return Err(crate::Error::Invalid {
            what: "authorityInfoAccess",
            reason: "no access location".into(),
        });
    }
    Ok(Extension {
        oid: oid::AUTHORITY_INFO_ACCESS.to_owned(),
        critical: false,
        value: asn1::tlv(asn1::SEQUENCE, &content),
    })
}

/// certificatePolicies, non-critical, with bare policy identifiers (no qualifiers, as the
/// CA/B Forum profiles recommend). Fails on an empty list, a bad or a repeated OID.
pub fn certificate_policies(oids: &[String]) -> crate::Result<Extension> {
    // certificatePolicies ::= SEQUENCE SIZE (1..MAX) OF PolicyInformation
    // PolicyInformation ::= SEQUENCE {
    //      policyIdentifier   CertPolicyId,
    //      policyQualifiers   SEQUENCE SIZE (1..MAX) OF PolicyQualifierInfo OPTIONAL }
    // CertPolicyId ::= OBJECT IDENTIFIER
    if oids.is_empty() {
        return Err(asn1::invalid("certificatePolicies", "no policy"));
    }
    let mut content = Vec::new();
    let mut oid = Vec::with_capacity(16);
    for (i, dotted) in oids.iter().enumerate() {
        if oids[..i].contains(dotted) {
            return Err(asn1::invalid(
                "certificatePolicies",
                format!("{dotted} is listed twice (RFC 5280 §4.2.1.4)"),
            ));
        }
        oid.clear();
        asn1::oid_from_dotted(dotted, &mut oid)
            .ok_or_else(|| asn1::invalid("certificatePolicies", format!("bad OID {dotted:?}")))?;
        asn1::push_header(&mut content, asn1::SEQUENCE, asn1::tlv_len(oid.len()));
        asn1::push_tlv(&mut content, asn1::OID, &oid);
    }
    Ok(Extension {
        oid: oid::CERTIFICATE_POLICIES.to_owned(),
        critical: false,
        value: asn1::tlv(asn1::SEQUENCE, &content),
    })
}

/// One subtree of a nameConstraints extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameSubtree {
    /// `dNSName`: the host and every name below it (RFC 5280 §4.2.1.10).
    Dns(String),
    /// `rfc822Name`: a mailbox (`a@example.com`), every mailbox at a host (`example.com`), or
    /// at any host below a domain (`.example.com`).
    Email(String),
    /// `iPAddress`: an address range, as the network address and prefix length.
    Ip { network: IpAddr, prefix: u8 },
}

/// The permitted and excluded subtrees of a nameConstraints extension.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameConstraints {
    pub permitted: Vec<NameSubtree>,
    pub excluded: Vec<NameSubtree>,
}

/// nameConstraints, critical (RFC 5280 §4.2.1.10: conforming CAs MUST mark it critical).
/// Fails when both lists are empty, on a name that is not IA5 (ASCII), or on an IP range
/// whose host bits are set.
pub fn name_constraints(nc: &NameConstraints) -> crate::Result<Extension> {
    // NameConstraints ::= SEQUENCE {
    //      permittedSubtrees       [0]     GeneralSubtrees OPTIONAL,
    //      excludedSubtrees        [1]     GeneralSubtrees OPTIONAL }
    // GeneralSubtrees ::= SEQUENCE SIZE (1..MAX) OF GeneralSubtree
    // GeneralSubtree ::= SEQUENCE {
    //      base                    GeneralName,
    //      minimum         [0]     BaseDistance DEFAULT 0,
    //      maximum         [1]     BaseDistance OPTIONAL }
    // The module has IMPLICIT TAGS: [0] and [1] replace the SEQUENCE tag of GeneralSubtrees,
    // and DER leaves out `minimum` (its default) and `maximum` (RFC 5280: MUST be absent).
    if nc.permitted.is_empty() && nc.excluded.is_empty() {
        return Err(asn1::invalid("nameConstraints", "no subtree"));
    }
    let mut content = Vec::new();
    for (tag, subtrees) in [(0, &nc.permitted), (1, &nc.excluded)] {
        if subtrees.is_empty() {
            continue;
        }
        let mut list = Vec::new();
        for subtree in subtrees {
            let base = subtree_general_name(subtree)?;
            asn1::push_tlv(&mut list, asn1::SEQUENCE, &base);
        }
        asn1::push_tlv(&mut content, asn1::context_constructed(tag), &list);
    }
    Ok(Extension {
        oid: oid::NAME_CONSTRAINTS.to_owned(),
        critical: true,
        value: asn1::tlv(asn1::SEQUENCE, &content),
    })
}

/// The `base` GeneralName of a subtree: `rfc822Name [1] IA5String`, `dNSName [2] IA5String`
/// or `iPAddress [7] OCTET STRING` (address then mask, RFC 5280 §4.2.1.10).
fn subtree_general_name(subtree: &NameSubtree) -> crate::Result<Vec<u8>> {
    let ia5 = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic()) {
            Err(asn1::invalid(
                "nameConstraints",
                format!("{s:?} is not a printable ASCII name"),
            ))
        } else {
            Ok(s.as_bytes().to_vec())
        }
    };
    Ok(match subtree {
        NameSubtree::Email(e) => asn1::tlv(asn1::context_primitive(1), &ia5(e)?),
        NameSubtree::Dns(d) => asn1::tlv(asn1::context_primitive(2), &ia5(d)?),
        NameSubtree::Ip { network, prefix } => {
            let (addr, width): (Vec<u8>, u8) = match network {
                IpAddr::V4(a) => (a.octets().to_vec(), 32),
                IpAddr::V6(a) => (a.octets().to_vec(), 128),
            };
            if *prefix > width {
                return Err(asn1::invalid(
                    "nameConstraints",
                    format!("prefix /{prefix} is longer than the address"),
                ));
            }
            let mask: Vec<u8> = (0..addr.len())
                .map(|i| {
                    let bits = u32::from(*prefix).saturating_sub(8 * i as u32).min(8);
                    // `bits` is 0..=8: the top `bits` bits of the byte set.
                    (0xff_u16 << (8 - bits)) as u8
                })
                .collect();
            if addr.iter().zip(&mask).any(|(a, m)| a & !m != 0) {
                return Err(asn1::invalid(
                    "nameConstraints",
                    format!("{network}/{prefix} has host bits set"),
                ));
            }
            let mut octets = addr;
            octets.extend_from_slice(&mask);
            asn1::tlv(asn1::context_primitive(7), &octets)
        }
    })
}

/// id-pkix-ocsp-nocheck, non-critical, value NULL: relying parties need not check the
/// revocation of a delegated OCSP responder's certificate (RFC 6960 §4.2.2.2.1).
pub fn ocsp_nocheck() -> Extension {
    Extension {
        oid: oid::OCSP_NOCHECK.to_owned(),
        critical: false,
        value: vec![asn1::NULL, 0x00],
    }
}

/// The value of cRLDistributionPoints / freshestCRL with one URI.
pub(crate) fn distribution_points_value(url: &str) -> crate::Result<Vec<u8>> {
    // CRLDistributionPoints ::= SEQUENCE SIZE (1..MAX) OF DistributionPoint
    // DistributionPoint ::= SEQUENCE {
    //      distributionPoint       [0]     DistributionPointName OPTIONAL,
    //      reasons                 [1]     ReasonFlags OPTIONAL,
    //      cRLIssuer               [2]     GeneralNames OPTIONAL }
    let dp = asn1::tlv(asn1::SEQUENCE, &distribution_point_name(url)?);
    Ok(asn1::tlv(asn1::SEQUENCE, &dp))
}

/// `[0] DistributionPointName` holding `fullName` with one URI, as a whole TLV.
pub(crate) fn distribution_point_name(url: &str) -> crate::Result<Vec<u8>> {
    // DistributionPointName ::= CHOICE {
    //      fullName                [0]     GeneralNames,
    //      nameRelativeToCRLIssuer [1]     RelativeDistinguishedName }
    // A tagged CHOICE is explicitly tagged; fullName's [0] replaces the SEQUENCE tag of
    // GeneralNames (the module has IMPLICIT TAGS).
    let full_name = asn1::tlv(asn1::context_constructed(0), &uri_general_name(url)?);
    Ok(asn1::tlv(asn1::context_constructed(0), &full_name))
}

/// `GeneralName uniformResourceIdentifier [6] IA5String`.
fn uri_general_name(url: &str) -> crate::Result<Vec<u8>> {
    let ok = !url.is_empty() && url.len() <= 2048 && url.bytes().all(|b| b.is_ascii_graphic());
    if !ok || !url.contains(':') {
        return Err(crate::Error::Invalid {
            what: "URL",
            reason: format!("{url:?} is not an absolute ASCII URI"),
        });
    }
    Ok(asn1::tlv(asn1::context_primitive(6), url.as_bytes()))
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents of an SPKI.
pub fn key_identifier(spki_der: &[u8]) -> crate::Result<[u8; 20]> {
    crate::cert::key_identifier_impl(spki_der)
}

/// Decodes a subjectAltName extension value into the SANs Signet understands; other
/// GeneralName forms are reported as `Unsupported` so nothing is silently dropped.
pub fn parse_subject_alt_name(value: &[u8]) -> crate::Result<Vec<San>> {
    crate::csr::parse_san_impl(value)
}

/// Decodes an extKeyUsage value into dotted OIDs.
pub fn parse_extended_key_usage(value: &[u8]) -> crate::Result<Vec<String>> {
    crate::csr::parse_eku_impl(value)
}

/// Decodes a keyUsage value (bits beyond `decipherOnly` are ignored).
pub fn parse_key_usage(value: &[u8]) -> crate::Result<KeyUsage> {
    crate::csr::parse_key_usage_impl(value)
}

/// Decodes a basicConstraints value into (cA, pathLenConstraint).
pub fn parse_basic_constraints(value: &[u8]) -> crate::Result<(bool, Option<u32>)> {
    crate::csr::parse_basic_constraints_impl(value)
}

/// Decodes a nameConstraints value: its DNS, e-mail and IP subtrees (other name forms, such
/// as directoryName, are left out: they constrain names of their own form only). A subtree
/// with a `minimum` or `maximum` (RFC 5280: MUST NOT be used) is malformed.
pub fn parse_name_constraints(value: &[u8]) -> crate::Result<NameConstraints> {
    const WHAT: &str = "nameConstraints";
    let outer = asn1::single(value, asn1::SEQUENCE, WHAT)?;
    let mut r = asn1::Reader::new(outer.value, WHAT);
    let mut nc = NameConstraints::default();
    for (tag, list) in [(0, &mut nc.permitted), (1, &mut nc.excluded)] {
        let Some(subtrees) = r.read_optional(asn1::context_constructed(tag))? else {
            continue;
        };
        let mut subtrees = asn1::Reader::new(subtrees.value, WHAT);
        while !subtrees.is_empty() {
            let mut subtree = subtrees.nested(asn1::SEQUENCE, "GeneralSubtree")?;
            let base = subtree.read_any()?;
            subtree.finish("GeneralSubtree (minimum and maximum must be absent)")?;
            let text = || {
                std::str::from_utf8(base.value)
                    .ok()
                    .filter(|t| t.is_ascii())
                    .map(str::to_ascii_lowercase)
                    .ok_or_else(|| asn1::malformed(WHAT, "a name that is not IA5"))
            };
            match base.tag {
                t if t == asn1::context_primitive(1) => list.push(NameSubtree::Email(text()?)),
                t if t == asn1::context_primitive(2) => list.push(NameSubtree::Dns(text()?)),
                t if t == asn1::context_primitive(7) => {
                    let half = base.value.len() / 2;
                    let (addr, mask) = base.value.split_at(half);
                    let network = match addr.len() {
                        4 => IpAddr::from(<[u8; 4]>::try_from(addr).unwrap_or_default()),
                        16 => IpAddr::from(<[u8; 16]>::try_from(addr).unwrap_or_default()),
                        _ => return Err(asn1::malformed(WHAT, "an iPAddress of odd length")),
                    };
                    let prefix = mask.iter().map(|b| b.leading_ones()).sum::<u32>();
                    list.push(NameSubtree::Ip {
                        network,
                        prefix: u8::try_from(prefix).unwrap_or(u8::MAX),
                    });
                }
                _ => {}
            }
        }
    }
    r.finish(WHAT)?;
    Ok(nc)
}

/// Checks that `value` is exactly one DER TLV, as an extension value must be.
pub fn check_der(value: &[u8]) -> crate::Result<()> {
    let mut r = crate::asn1::Reader::new(value, "extension value");
    r.read_any()?;
    r.finish("extension value")
}

/// Checks that `value` is exactly one DER TLV and, recursively, that the content of every
/// constructed TLV in it is a sequence of well-formed TLVs (lengths definite and minimal,
/// nothing trailing). For extension values an administrator or a requester supplies.
pub fn check_der_tree(value: &[u8]) -> crate::Result<()> {
    // Deep enough for any real extension; bounded so hostile input cannot exhaust the stack.
    const MAX_DEPTH: usize = 32;
    fn walk(input: &[u8], depth: usize) -> crate::Result<()> {
        let mut r = crate::asn1::Reader::new(input, "extension value");
        while !r.is_empty() {
            let tlv = r.read_any()?;
            if tlv.tag & 0x20 != 0 {
                if depth >= MAX_DEPTH {
                    return Err(asn1::malformed("extension value", "nested too deeply"));
                }
                walk(tlv.value, depth + 1)?;
            }
        }
        Ok(())
    }
    check_der(value)?;
    walk(value, 0)
}

/// A host name of LDH labels (RFC 1123: letters, digits and inner hyphens, 1–63 characters
/// each), at most 253 characters: the shape of a `dNSName` without a wildcard.
pub fn is_ldh_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    #[test]
    fn builders_and_decoders_agree() {
        let usage = KeyUsage::DIGITAL_SIGNATURE
            .union(KeyUsage::KEY_ENCIPHERMENT)
            .union(KeyUsage::CRL_SIGN);
        assert_eq!(parse_key_usage(&key_usage(usage).value).ok(), Some(usage));
        let ekus = vec![
            oid::KP_SERVER_AUTH.to_string(),
            oid::KP_CLIENT_AUTH.to_string(),
        ];
        let e = extended_key_usage(&ekus)
            .map(|e| e.value)
            .unwrap_or_default();
        assert_eq!(parse_extended_key_usage(&e).ok(), Some(ekus));
        assert_eq!(
            parse_basic_constraints(&basic_constraints(true, Some(2)).value).ok(),
            Some((true, Some(2)))
        );
        assert_eq!(
            parse_basic_constraints(&basic_constraints(false, None).value).ok(),
            Some((false, None))
        );
        assert!(parse_key_usage(&[0x30, 0x00]).is_err());
        assert!(parse_extended_key_usage(&[0x30, 0x00]).is_err());
    }

    #[test]
    fn name_constraints_encode_as_rfc_5280_says() {
        let nc = NameConstraints {
            permitted: vec![
                NameSubtree::Dns("example.com".into()),
                NameSubtree::Ip {
                    network: "10.0.0.0".parse().expect("ip"),
                    prefix: 8,
                },
            ],
            excluded: vec![NameSubtree::Email(".evil.example.com".into())],
        };
        let e = name_constraints(&nc).expect("encodes");
        assert!(e.critical);
        let mut want = vec![0x30, 0x34, 0xa0, 0x1b];
        want.extend([0x30, 0x0d, 0x82, 0x0b]);
        want.extend(b"example.com");
        want.extend([0x30, 0x0a, 0x87, 0x08, 10, 0, 0, 0, 0xff, 0, 0, 0]);
        want.extend([0xa1, 0x15, 0x30, 0x13, 0x81, 0x11]);
        want.extend(b".evil.example.com");
        assert_eq!(e.value, want);
        assert!(check_der_tree(&e.value).is_ok());
        let host_bits = NameConstraints {
            permitted: vec![NameSubtree::Ip {
                network: "10.0.0.1".parse().expect("ip"),
                prefix: 8,
            }],
            excluded: Vec::new(),
        };
        assert!(name_constraints(&host_bits).is_err());
        assert!(name_constraints(&NameConstraints::default()).is_err());
    }

    #[test]
    fn der_trees_are_checked_inside() {
        assert!(check_der_tree(&[0x30, 0x03, 0x02, 0x01, 0x05]).is_ok());
        assert!(check_der_tree(&[0x0c, 0x02, b'h', b'i']).is_ok());
        // A SEQUENCE whose content is not a TLV, trailing bytes, a bad length.
        assert!(check_der_tree(&[0x30, 0x02, 0x02, 0x05]).is_err());
        assert!(check_der_tree(&[0x05, 0x00, 0x00]).is_err());
        assert!(check_der_tree(&[0x04, 0x81, 0x01, 0x00]).is_err());
        assert!(check_der_tree(&[]).is_err());
    }
}
