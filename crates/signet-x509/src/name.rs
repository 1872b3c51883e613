//! Distinguished names: DER `Name` and its RFC 4514 string form.

/// A distinguished name, held as its DER `Name` encoding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DistinguishedName {
    der: Vec<u8>,
}

impl DistinguishedName {
    /// Parses an RFC 4514-style string (`C=US,O=Example,CN=demo`; also accepts the OpenSSL
    /// `-subj` form `/C=US/O=Example/CN=demo`).
    ///
    /// **Ordering:** the RDNs are written in the order they appear in the DER `Name`, so
    /// `C=US,O=Example,CN=demo` encodes `C` first and `CN` last. This is the reverse of
    /// RFC 4514's "most specific first" convention, and it is deliberate: it is how
    /// `openssl req -subj` and `openssl x509 -nameopt oneline` users read and write names, and
    /// [`Display`](std::fmt::Display) prints in the same order, so `parse(&dn.to_string())`
    /// reproduces a `dn` that `parse` wrote. It does **not** for every DER name: `Display`
    /// prints a value's text, not its string type, so a PrintableString CN comes back as a
    /// UTF8String (the fuzz target `distinguished_name --features strict` shows such cases).
    /// Keep names as DER; never rebuild one from its text.
    ///
    /// Grammar: RDNs separated by `,` (or `/` in the OpenSSL form); attributes of a multi-valued
    /// RDN joined by `+`; spaces around types and unescaped spaces around values are ignored;
    /// `\c` escapes any character and `\XX` a byte (UTF-8 sequences may be spelt as several);
    /// a value written `#hex` is taken as the DER of the whole value (RFC 4514 §2.4). An empty
    /// string is the empty name.
    ///
    /// Attribute types (case-insensitive): CN, C, O, OU, L, ST, SERIALNUMBER, DC, E
    /// (emailAddress), UID, street, title, GN, SN, a few long names (`commonName`, ...), or a
    /// dotted OID. Values are encoded as UTF8String, except C and SERIALNUMBER
    /// (PrintableString; C must be two letters) and DC and emailAddress (IA5String). Empty
    /// values are rejected.
    pub fn parse(s: &str) -> crate::Result<DistinguishedName> {
        crate::csr::parse_dn_impl(s)
    }

    /// Wraps DER `Name` bytes after checking they decode. The bytes are kept as they are
    /// (an issuer name must match byte for byte); it is [`crate::parse_csr`] that re-encodes
    /// a requested subject's strings (BMPString, UniversalString, TeletexString) as a
    /// certificate should carry them.
    pub fn from_der(der: &[u8]) -> crate::Result<DistinguishedName> {
        crate::csr::dn_from_der_impl(der)
    }

    /// The empty name (an empty RDNSequence).
    pub fn empty() -> DistinguishedName {
        DistinguishedName {
            der: vec![0x30, 0x00],
        }
    }

    pub(crate) fn from_der_unchecked(der: Vec<u8>) -> DistinguishedName {
        DistinguishedName { der }
    }

    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    pub fn is_empty(&self) -> bool {
        self.der == [0x30, 0x00]
    }

    /// The attributes in order, as (short name or dotted OID, value) pairs.
    pub fn attributes(&self) -> Vec<(String, String)> {
        crate::csr::dn_attributes_impl(&self.der)
    }

    /// The first commonName, if any.
    pub fn common_name(&self) -> Option<String> {
        self.attributes()
            .into_iter()
            .find(|(k, _)| k == "CN")
            .map(|(_, v)| v)
    }

    /// The RDNs in DER order, each with its encoding and attributes, so that a name can be
    /// recomposed from parts of others without going through text.
    pub fn rdns(&self) -> Vec<Rdn> {
        crate::dn::split_rdns(&self.der).unwrap_or_default()
    }

    /// The name made of these RDNs, in this order (their DER is taken as it is: each came
    /// from [`DistinguishedName::rdns`] of a valid name).
    pub fn from_rdns(rdns: &[Rdn]) -> DistinguishedName {
        let content: Vec<u8> = rdns.iter().flat_map(|r| r.der.iter().copied()).collect();
        DistinguishedName::from_der_unchecked(crate::asn1::tlv(crate::asn1::SEQUENCE, &content))
    }
}

/// One RelativeDistinguishedName of a [`DistinguishedName`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rdn {
    /// The whole `SET OF AttributeTypeAndValue` TLV.
    pub der: Vec<u8>,
    /// Its (short name or dotted OID, value) pairs, as [`DistinguishedName::attributes`]
    /// gives them.
    pub attributes: Vec<(String, String)>,
}

/// The string form accepted by [`DistinguishedName::parse`]: RDNs in DER order separated by
/// `,`, multi-valued RDNs joined by `+`, RFC 4514 escaping, and `#hex` for values that are not
/// strings.
impl std::fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rdns = crate::dn::decode_name(&self.der).unwrap_or_default();
        for (i, rdn) in rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, (k, v)) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                match v {
                    crate::dn::AttrValue::Text(t) => write!(f, "{k}={}", escape_rfc4514(t))?,
                    crate::dn::AttrValue::Hex(h) => write!(f, "{k}={h}")?,
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for DistinguishedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DistinguishedName({self})")
    }
}

fn escape_rfc4514(v: &str) -> String {
    crate::dn::escape_value(v)
}
