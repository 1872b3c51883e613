//! Distinguished names: DER `Name` and its RFC 4514 string form.

/// A distinguished name, held as its DER `Name` encoding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DistinguishedName {
    der: Vec<u8>,
}

impl DistinguishedName {
    /// Parses an RFC 4514-style string (`CN=demo,O=Example`; also accepts the OpenSSL form
    /// `/O=Example/CN=demo`). Attribute types: CN, C, O, OU, L, ST, SERIALNUMBER, DC, E
    /// (emailAddress), UID, street, title, GN, SN, or a dotted OID. Values are encoded as
    /// UTF8String (PrintableString for C and SERIALNUMBER, IA5String for DC and E).
    pub fn parse(s: &str) -> crate::Result<DistinguishedName> {
        crate::csr::parse_dn_impl(s)
    }

    /// Wraps DER `Name` bytes after checking they decode.
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
}

/// RFC 4514 string form, most significant RDN first as written in configuration
/// (`CN=demo,O=Example` is printed in the order the RDNs were given).
impl std::fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .attributes()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", escape_rfc4514(&v)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl std::fmt::Debug for DistinguishedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DistinguishedName({self})")
    }
}

fn escape_rfc4514(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '));
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
