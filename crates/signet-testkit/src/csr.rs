//! PKCS#10 requests for tests, signed by a fresh key.

use signet_core::Signer;
use signet_keys::SoftwareKey;
use signet_x509::{DistinguishedName, KeyAlgorithm};

/// A request for `CN=host` with `host` as a DNS subjectAltName, signed by a new P-256 key.
pub fn for_host(host: &str) -> Vec<u8> {
    let key = SoftwareKey::generate(KeyAlgorithm::P256).expect("generating a P-256 key");
    signed(&key, &format!("CN={host}"), &[host])
}

/// A request for `subject` with DNS subjectAltNames `dns`, signed by `key`.
///
/// ```text
/// CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
/// CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name,
///      subjectPKInfo SubjectPublicKeyInfo, attributes [0] IMPLICIT SET OF Attribute }
/// Attribute (extensionRequest) ::= SEQUENCE { 1.2.840.113549.1.9.14, SET { Extensions } }
/// ```
pub fn signed(key: &SoftwareKey, subject: &str, dns: &[&str]) -> Vec<u8> {
    const OID_EXT_REQ: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e,
    ];
    const OID_SAN: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];
    let name = DistinguishedName::parse(subject).expect("a valid subject");
    let mut attributes = Vec::new();
    if !dns.is_empty() {
        // GeneralNames ::= SEQUENCE OF GeneralName; dNSName [2] IMPLICIT IA5String.
        let names: Vec<u8> = dns.iter().flat_map(|d| tlv(0x82, d.as_bytes())).collect();
        let extension = tlv(0x30, &[OID_SAN, &tlv(0x04, &tlv(0x30, &names))].concat());
        let request = tlv(
            0x30,
            &[OID_EXT_REQ, &tlv(0x31, &tlv(0x30, &extension))].concat(),
        );
        attributes = request;
    }
    let info = tlv(
        0x30,
        &[
            &[0x02, 0x01, 0x00][..],
            name.as_der(),
            key.public_key_der(),
            &tlv(0xa0, &attributes),
        ]
        .concat(),
    );
    let signature = key.sign(&info).expect("signing the request");
    let algorithm = key.algorithm().algorithm_identifier_der();
    let bits = tlv(0x03, &[&[0u8][..], &signature].concat());
    tlv(0x30, &[info, algorithm, bits].concat())
}

/// One DER TLV with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
