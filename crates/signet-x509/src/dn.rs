//! Distinguished names: decoding DER `Name`s and encoding them from strings.
//!
//! Name ::= CHOICE { -- only one possibility for now --
//!   rdnSequence  RDNSequence }
//!
//! RDNSequence ::= SEQUENCE OF RelativeDistinguishedName
//!
//! RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
//!
//! AttributeTypeAndValue ::= SEQUENCE {
//!   type     AttributeType,          -- OBJECT IDENTIFIER
//!   value    AttributeValue }        -- ANY, in practice a DirectoryString

use crate::DistinguishedName;
use crate::asn1::{self, Reader, Tlv};

/// How a known attribute's value is encoded when we write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StringKind {
    Utf8,
    /// PrintableString; `country` additionally requires exactly two letters.
    Printable {
        country: bool,
    },
    Ia5,
}

struct Attr {
    /// The name we print.
    short: &'static str,
    /// Other accepted names (compared case-insensitively, like `short`).
    aliases: &'static [&'static str],
    /// OID content octets.
    oid: &'static [u8],
    kind: StringKind,
}

const fn x520(n: u8) -> [u8; 3] {
    [0x55, 0x04, n] // 2.5.4.n
}

const ATTRS: &[Attr] = &[
    Attr {
        short: "CN",
        aliases: &["commonName"],
        oid: &x520(3),
        kind: StringKind::Utf8,
    },
    Attr {
        short: "SN",
        aliases: &["surname"],
        oid: &x520(4),
        kind: StringKind::Utf8,
    },
    Attr {
        short: "SERIALNUMBER",
        aliases: &["serialNumber"],
        oid: &x520(5),
        kind: StringKind::Printable { country: false },
    },
    Attr {
        short: "C",
        aliases: &["countryName"],
        oid: &x520(6),
        kind: StringKind::Printable { country: true },
    },
    Attr {
        short: "L",
        aliases: &["localityName"],
        oid: &x520(7),
        kind: StringKind::Utf8,
    },
    Attr {
        short: "ST",
        aliases: &["S", "stateOrProvinceName"],
        oid: &x520(8),
        kind: StringKind::Utf8,
    },
    Attr {
        short: "street",
        aliases: &["streetAddress"],
        oid: &x520(9),
        kind: StringKind::Utf8,
    },
    Attr {
        short: "O",
        aliases: &["organizationName"],
        oid: &x520(10),
        kind: StringKind::Utf8,
    },
    Attr {
        short: "OU",
        aliases: &["organizationalUnitName"],
        oid: &x520(11),
        kind: StringKind::Utf8,
    },
    Attr {
        short: "title",
        aliases: &[],
        oid: &x520(12),
        kind: StringKind::Utf8,
    },
    Attr {
        short: "GN",
        aliases: &["givenName"],
        oid: &x520(42),
        kind: StringKind::Utf8,
    },
    // 0.9.2342.19200300.100.1.25
    Attr {
        short: "DC",
        aliases: &["domainComponent"],
        oid: &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        kind: StringKind::Ia5,
    },
    // 0.9.2342.19200300.100.1.1
    Attr {
        short: "UID",
        aliases: &["userId"],
        oid: &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        kind: StringKind::Utf8,
    },
    // 1.2.840.113549.1.9.1
    Attr {
        short: "emailAddress",
        aliases: &["E", "email"],
        oid: &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        kind: StringKind::Ia5,
    },
];

fn attr_by_name(name: &str) -> Option<&'static Attr> {
    ATTRS.iter().find(|a| {
        a.short.eq_ignore_ascii_case(name) || a.aliases.iter().any(|x| x.eq_ignore_ascii_case(name))
    })
}

fn attr_by_oid(oid: &[u8]) -> Option<&'static Attr> {
    ATTRS.iter().find(|a| a.oid == oid)
}

/// An attribute value as shown to people: decoded text, or `#hex` of the whole value TLV
/// (RFC 4514 §2.4) when it is not a string we can decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AttrValue {
    Text(String),
    Hex(String),
}

impl AttrValue {
    pub(crate) fn into_string(self) -> String {
        match self {
            AttrValue::Text(s) | AttrValue::Hex(s) => s,
        }
    }
}

/// One RDN: its (type name, value) pairs.
pub(crate) type Rdn = Vec<(String, AttrValue)>;

/// Decodes a DER `Name` into RDNs in DER order, checking the structure strictly.
pub(crate) fn decode_name(der: &[u8]) -> crate::Result<Vec<Rdn>> {
    const WHAT: &str = "Name";
    let seq = asn1::single(der, asn1::SEQUENCE, WHAT)?;
    let mut rdns = Reader::new(seq.value, WHAT);
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let mut set = rdns.nested(asn1::SET, "RelativeDistinguishedName")?;
        if set.is_empty() {
            return Err(asn1::malformed(WHAT, "empty RelativeDistinguishedName"));
        }
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let mut atv = set.nested(asn1::SEQUENCE, "AttributeTypeAndValue")?;
            let oid = atv.read(asn1::OID, "attribute type")?.value;
            let value = atv.read_any()?;
            atv.finish("AttributeTypeAndValue")?;
            let name = match attr_by_oid(oid) {
                Some(a) => a.short.to_owned(),
                None => asn1::oid_to_string(oid)
                    .ok_or_else(|| asn1::malformed(WHAT, "invalid attribute type OID"))?,
            };
            rdn.push((name, display_value(&value)));
        }
        out.push(rdn);
    }
    Ok(out)
}

/// The RDNs of a DER `Name` with their encodings.
pub(crate) fn split_rdns(der: &[u8]) -> crate::Result<Vec<crate::name::Rdn>> {
    const WHAT: &str = "Name";
    let decoded = decode_name(der)?;
    let seq = asn1::single(der, asn1::SEQUENCE, WHAT)?;
    let mut reader = Reader::new(seq.value, WHAT);
    let mut out = Vec::with_capacity(decoded.len());
    for rdn in decoded {
        let set = reader.read(asn1::SET, "RelativeDistinguishedName")?;
        out.push(crate::name::Rdn {
            der: set.raw.to_vec(),
            attributes: rdn.into_iter().map(|(k, v)| (k, v.into_string())).collect(),
        });
    }
    Ok(out)
}

fn display_value(value: &Tlv<'_>) -> AttrValue {
    match asn1::decode_string(value) {
        Some(s) => AttrValue::Text(s),
        None => AttrValue::Hex(format!("#{}", hex::encode(value.raw))),
    }
}

/// A requested name with its string values re-encoded as RFC 5280 §4.1.2.4 wants them in a
/// certificate (issue 14): a requester may send any string type, and a profile copies the
/// RDNs it allows as they are, so legacy types are replaced here, before anyone sees the name.
///
/// - Every string value is decoded: UTF8String strictly, PrintableString and IA5String as
///   ASCII, TeletexString as Latin-1 (what OpenSSL and most CAs assume of T.61), BMPString as
///   UTF-16BE (an unpaired surrogate or an odd length is refused) and UniversalString as
///   UTF-32BE. A value that does not decode is refused, naming its attribute.
/// - countryName, serialNumber and dnQualifier, whose X.520 syntax is PrintableString, are
///   written as PrintableString (refused if the text does not fit its alphabet);
///   emailAddress and domainComponent as IA5String (refused if not ASCII); everything else
///   as UTF8String, except that a valid PrintableString is kept (RFC 5280 allows both).
/// - A value that is not one of those string types (an OCTET STRING under a private OID) is
///   kept as it is; the profile decides about it.
///
/// RDNs are rebuilt with their values sorted as DER sorts a SET OF; a name that needs no
/// change comes back byte for byte.
pub(crate) fn normalize_strings(der: &[u8]) -> crate::Result<DistinguishedName> {
    const WHAT: &str = "Name";
    decode_name(der)?;
    let seq = asn1::single(der, asn1::SEQUENCE, WHAT)?;
    let mut rdns = Reader::new(seq.value, WHAT);
    let mut sets: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut changed = false;
    while !rdns.is_empty() {
        let mut set = rdns.nested(asn1::SET, "RelativeDistinguishedName")?;
        let mut atvs = Vec::new();
        while !set.is_empty() {
            let atv_tlv = set.read(asn1::SEQUENCE, "AttributeTypeAndValue")?;
            let mut atv = Reader::new(atv_tlv.value, WHAT);
            let oid = atv.read(asn1::OID, "attribute type")?.value;
            let value = atv.read_any()?;
            atv.finish("AttributeTypeAndValue")?;
            match normalized_value(oid, &value)? {
                None => atvs.push(atv_tlv.raw.to_vec()),
                Some(new_value) => {
                    changed = true;
                    // AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
                    let content_len = asn1::tlv_len(oid.len()) + new_value.len();
                    let mut out = Vec::with_capacity(asn1::tlv_len(content_len));
                    asn1::push_header(&mut out, asn1::SEQUENCE, content_len);
                    asn1::push_tlv(&mut out, asn1::OID, oid);
                    out.extend_from_slice(&new_value);
                    atvs.push(out);
                }
            }
        }
        // RelativeDistinguishedName is a SET OF: DER sorts the encoded members.
        if !atvs.is_sorted() {
            changed = true;
            atvs.sort();
        }
        sets.push(atvs);
    }
    if !changed {
        return Ok(DistinguishedName::from_der_unchecked(der.to_vec()));
    }
    let set_len = |atvs: &Vec<Vec<u8>>| atvs.iter().map(Vec::len).sum::<usize>();
    let content_len: usize = sets.iter().map(|s| asn1::tlv_len(set_len(s))).sum();
    let mut out = Vec::with_capacity(asn1::tlv_len(content_len));
    asn1::push_header(&mut out, asn1::SEQUENCE, content_len);
    for atvs in &sets {
        asn1::push_header(&mut out, asn1::SET, set_len(atvs));
        for atv in atvs {
            out.extend_from_slice(atv);
        }
    }
    Ok(DistinguishedName::from_der_unchecked(out))
}

/// dnQualifier (2.5.4.46): PrintableString in X.520, like countryName and serialNumber.
const OID_DN_QUALIFIER: &[u8] = &x520(46);

/// The value TLV `value` should be replaced with, or `None` to keep it.
fn normalized_value(oid: &[u8], value: &Tlv<'_>) -> crate::Result<Option<Vec<u8>>> {
    let kind = match attr_by_oid(oid) {
        Some(a) => a.kind,
        None if oid == OID_DN_QUALIFIER => StringKind::Printable { country: false },
        None => StringKind::Utf8,
    };
    let type_name = match value.tag {
        asn1::UTF8_STRING => "UTF8String",
        asn1::PRINTABLE_STRING => "PrintableString",
        asn1::IA5_STRING => "IA5String",
        asn1::TELETEX_STRING => "TeletexString",
        asn1::BMP_STRING => "BMPString",
        asn1::UNIVERSAL_STRING => "UniversalString",
        _ => return Ok(None),
    };
    let attr_name = || match attr_by_oid(oid) {
        Some(a) => a.short.to_owned(),
        None if oid == OID_DN_QUALIFIER => "dnQualifier".to_owned(),
        None => asn1::oid_to_string(oid).unwrap_or_else(|| hex::encode(oid)),
    };
    let refuse = |reason: String| crate::Error::Invalid {
        what: "subject",
        reason: format!("{} {reason}", attr_name()),
    };
    // PrintableString and IA5String are decoded as ASCII here: a PrintableString holding
    // `*` or `@` (outside its alphabet, but common) is still unambiguous text.
    let text = match value.tag {
        asn1::PRINTABLE_STRING | asn1::IA5_STRING => value
            .value
            .is_ascii()
            .then(|| value.value.iter().map(|&b| char::from(b)).collect()),
        _ => asn1::decode_string(value),
    }
    .ok_or_else(|| {
        refuse(format!(
            "is a {type_name} that does not decode{}",
            match value.tag {
                asn1::BMP_STRING => " as UTF-16 (an odd length or an unpaired surrogate)",
                asn1::UNIVERSAL_STRING =>
                    " as UTF-32 (a length not a multiple of 4, or not a Unicode scalar value)",
                asn1::UTF8_STRING => " as UTF-8",
                _ => " as ASCII",
            }
        ))
    })?;
    let printable = text.bytes().all(asn1::is_printable_char);
    let (tag, keep) = match kind {
        StringKind::Printable { .. } => {
            if !printable {
                return Err(refuse(format!(
                    "must be a PrintableString (X.520), but its {type_name} value has characters outside that alphabet"
                )));
            }
            (asn1::PRINTABLE_STRING, value.tag == asn1::PRINTABLE_STRING)
        }
        StringKind::Ia5 => {
            if !text.is_ascii() {
                return Err(refuse(format!(
                    "must be an IA5String, but its {type_name} value is not ASCII"
                )));
            }
            (asn1::IA5_STRING, value.tag == asn1::IA5_STRING)
        }
        StringKind::Utf8 => (
            asn1::UTF8_STRING,
            value.tag == asn1::UTF8_STRING || (value.tag == asn1::PRINTABLE_STRING && printable),
        ),
    };
    Ok((!keep).then(|| asn1::tlv(tag, text.as_bytes())))
}

pub(crate) fn from_der(der: &[u8]) -> crate::Result<DistinguishedName> {
    decode_name(der)?;
    Ok(DistinguishedName::from_der_unchecked(der.to_vec()))
}

/// The flattened attribute list; empty if the DER does not decode (it always does for a
/// `DistinguishedName`, whose constructors validate).
pub(crate) fn attributes(der: &[u8]) -> Vec<(String, String)> {
    decode_name(der)
        .map(|rdns| {
            rdns.into_iter()
                .flatten()
                .map(|(k, v)| (k, v.into_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn invalid(reason: impl Into<String>) -> crate::Error {
    crate::Error::Invalid {
        what: "distinguished name",
        reason: reason.into(),
    }
}

/// Parses the string form. See [`DistinguishedName::parse`] for the grammar and ordering.
pub(crate) fn parse(s: &str) -> crate::Result<DistinguishedName> {
    // Trailing spaces are left to the value parser, which keeps escaped ones (`CN=x\ `).
    let trimmed = s.trim_start().trim_end_matches(['\n', '\r', '\t']);
    if trimmed.trim().is_empty() {
        return Ok(DistinguishedName::empty());
    }
    // OpenSSL's `-subj` form starts with '/' and separates RDNs with '/'.
    let (body, rdn_sep) = match trimmed.strip_prefix('/') {
        Some(rest) => (rest, b'/'),
        None => (trimmed, b','),
    };
    let bytes = body.as_bytes();
    let mut pos = 0;
    let mut rdns: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut current: Vec<Vec<u8>> = Vec::new();
    loop {
        let (atv, next) = parse_atv(bytes, &mut pos, rdn_sep)?;
        current.push(atv);
        match next {
            Some(b'+') => {}
            Some(_) => rdns.push(std::mem::take(&mut current)),
            None => {
                rdns.push(current);
                break;
            }
        }
    }

    // RelativeDistinguishedName is a SET OF: DER sorts the encoded members.
    let mut content_len = 0;
    for rdn in &mut rdns {
        rdn.sort();
        rdn.dedup();
        content_len += asn1::tlv_len(rdn.iter().map(Vec::len).sum());
    }
    let mut der = Vec::with_capacity(asn1::tlv_len(content_len));
    asn1::push_header(&mut der, asn1::SEQUENCE, content_len);
    for rdn in &rdns {
        asn1::push_header(&mut der, asn1::SET, rdn.iter().map(Vec::len).sum());
        for atv in rdn {
            der.extend_from_slice(atv);
        }
    }
    Ok(DistinguishedName::from_der_unchecked(der))
}

/// Parses `type=value` starting at `*pos`; returns the encoded AttributeTypeAndValue and the
/// separator that ended it (`+`, the RDN separator, or `None` at the end).
fn parse_atv(bytes: &[u8], pos: &mut usize, rdn_sep: u8) -> crate::Result<(Vec<u8>, Option<u8>)> {
    // Attribute type: everything up to '=', surrounding spaces ignored.
    let rest = bytes.get(*pos..).unwrap_or_default();
    let eq = rest.iter().position(|&b| b == b'=').ok_or_else(|| {
        invalid(format!(
            "expected `type=value` in {:?}",
            String::from_utf8_lossy(rest)
        ))
    })?;
    let type_str = std::str::from_utf8(&rest[..eq])
        .map_err(|_| invalid("attribute type is not UTF-8"))?
        .trim();
    if type_str.is_empty() {
        return Err(invalid("empty attribute type"));
    }
    if type_str
        .bytes()
        .any(|b| b == rdn_sep || b == b'+' || b == b'\\')
    {
        return Err(invalid(format!("empty or malformed RDN near {type_str:?}")));
    }
    *pos += eq + 1;

    let (oid, kind) = match attr_by_name(type_str) {
        Some(a) => (a.oid.to_vec(), a.kind),
        None if crate::ext::is_dotted_oid(type_str) => {
            let mut oid = Vec::new();
            asn1::oid_from_dotted(type_str, &mut oid)
                .ok_or_else(|| invalid(format!("invalid OID {type_str}")))?;
            (oid, StringKind::Utf8)
        }
        None => return Err(invalid(format!("unknown attribute type {type_str:?}"))),
    };

    // Skip unescaped leading spaces.
    while bytes.get(*pos) == Some(&b' ') {
        *pos += 1;
    }

    // `#hex`: the value's whole DER encoding (RFC 4514 §2.4).
    let value_tlv = if bytes.get(*pos) == Some(&b'#') {
        let start = *pos + 1;
        let mut end = start;
        while bytes.get(end).is_some_and(|b| b.is_ascii_hexdigit()) {
            end += 1;
        }
        let raw = hex::decode(&bytes[start..end])
            .map_err(|_| invalid(format!("bad hex value for {type_str}")))?;
        let mut r = Reader::new(&raw, "distinguished name");
        r.read_any()
            .and_then(|_| r.finish("attribute value"))
            .map_err(|_| invalid(format!("hex value for {type_str} is not one DER value")))?;
        *pos = end;
        while bytes.get(*pos) == Some(&b' ') {
            *pos += 1;
        }
        raw
    } else {
        let value = parse_text_value(bytes, pos, rdn_sep)?;
        if value.is_empty() {
            return Err(invalid(format!("empty value for {type_str}")));
        }
        encode_text_value(type_str, &value, kind)?
    };

    let next = match bytes.get(*pos) {
        None => None,
        Some(&b) if b == rdn_sep || b == b'+' => {
            *pos += 1;
            if *pos >= bytes.len() {
                return Err(invalid("trailing separator"));
            }
            Some(b)
        }
        Some(&b) => {
            return Err(invalid(format!(
                "unexpected {:?} after value of {type_str}",
                char::from(b)
            )));
        }
    };

    // AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
    let content_len = asn1::tlv_len(oid.len()) + value_tlv.len();
    let mut atv = Vec::with_capacity(asn1::tlv_len(content_len));
    asn1::push_header(&mut atv, asn1::SEQUENCE, content_len);
    asn1::push_tlv(&mut atv, asn1::OID, &oid);
    atv.extend_from_slice(&value_tlv);
    Ok((atv, next))
}

/// Reads a string value up to an unescaped separator, resolving `\c` and `\XX` escapes and
/// dropping unescaped trailing spaces.
fn parse_text_value(bytes: &[u8], pos: &mut usize, rdn_sep: u8) -> crate::Result<String> {
    let mut out: Vec<u8> = Vec::new();
    // Length of `out` up to the last character that must be kept (non-space or escaped).
    let mut keep = 0;
    while let Some(&b) = bytes.get(*pos) {
        if b == rdn_sep || b == b'+' {
            break;
        }
        *pos += 1;
        if b == b'\\' {
            let hex_pair = bytes
                .get(*pos..*pos + 2)
                .filter(|p| p.iter().all(u8::is_ascii_hexdigit));
            if let Some(pair) = hex_pair {
                let hi = hex_val(pair[0]);
                let lo = hex_val(pair[1]);
                out.push(hi << 4 | lo);
                *pos += 2;
            } else {
                let &c = bytes
                    .get(*pos)
                    .ok_or_else(|| invalid("dangling backslash at the end"))?;
                out.push(c);
                *pos += 1;
            }
            keep = out.len();
        } else {
            out.push(b);
            if b != b' ' {
                keep = out.len();
            }
        }
    }
    out.truncate(keep);
    String::from_utf8(out).map_err(|_| invalid("escaped bytes are not UTF-8"))
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

fn encode_text_value(type_str: &str, value: &str, kind: StringKind) -> crate::Result<Vec<u8>> {
    let tag = match kind {
        StringKind::Utf8 => asn1::UTF8_STRING,
        StringKind::Printable { country } => {
            if country && !(value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic())) {
                return Err(invalid(format!(
                    "{type_str} must be a two-letter country code, got {value:?}"
                )));
            }
            if !value.bytes().all(asn1::is_printable_char) {
                return Err(invalid(format!(
                    "{type_str} must be a PrintableString, got {value:?}"
                )));
            }
            asn1::PRINTABLE_STRING
        }
        StringKind::Ia5 => {
            if !value.is_ascii() {
                return Err(invalid(format!("{type_str} must be ASCII, got {value:?}")));
            }
            asn1::IA5_STRING
        }
    };
    Ok(asn1::tlv(tag, value.as_bytes()))
}

/// RFC 4514 §2.4 escaping for a text value.
pub(crate) fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
            out.push(c);
        } else if c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn attribute_oids_match_their_dotted_form() {
        let dotted = [
            ("CN", "2.5.4.3"),
            ("SN", "2.5.4.4"),
            ("SERIALNUMBER", "2.5.4.5"),
            ("C", "2.5.4.6"),
            ("L", "2.5.4.7"),
            ("ST", "2.5.4.8"),
            ("street", "2.5.4.9"),
            ("O", "2.5.4.10"),
            ("OU", "2.5.4.11"),
            ("title", "2.5.4.12"),
            ("GN", "2.5.4.42"),
            ("DC", "0.9.2342.19200300.100.1.25"),
            ("UID", "0.9.2342.19200300.100.1.1"),
            ("emailAddress", "1.2.840.113549.1.9.1"),
        ];
        assert_eq!(dotted.len(), ATTRS.len());
        for (name, oid) in dotted {
            let mut buf = Vec::new();
            asn1::oid_from_dotted(oid, &mut buf).unwrap();
            assert_eq!(attr_by_name(name).unwrap().oid, buf.as_slice(), "{name}");
        }
    }
}
