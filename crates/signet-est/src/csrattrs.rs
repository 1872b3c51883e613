//! `csrattrs` (RFC 7030 §4.5): what a CSR for this CA's EST profile should carry: the key
//! algorithms the profile accepts, the challengePassword attribute (where the client puts
//! the channel binding, §3.5) and the extensionRequest attribute (for the SANs).

use std::str::FromStr;

/// A key algorithm a profile accepts, as `key_algorithms` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    P256,
    P384,
    Ed25519,
    /// RSA, any size the profile allows.
    Rsa,
    MlDsa65,
}

/// A `key_algorithms` name that is not one of [`KeyKind`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key algorithm {0:?} (p256, p384, ed25519, rsa, mldsa65)")]
pub struct UnknownKeyKind(pub String);

impl FromStr for KeyKind {
    type Err = UnknownKeyKind;
    fn from_str(s: &str) -> Result<KeyKind, UnknownKeyKind> {
        Ok(match s {
            "p256" => KeyKind::P256,
            "p384" => KeyKind::P384,
            "ed25519" => KeyKind::Ed25519,
            "rsa" => KeyKind::Rsa,
            "mldsa65" => KeyKind::MlDsa65,
            other => return Err(UnknownKeyKind(other.chars().take(40).collect())),
        })
    }
}

// OBJECT IDENTIFIER contents (X.690 §8.19).
/// id-ecPublicKey, 1.2.840.10045.2.1.
const ID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// secp256r1 (prime256v1), 1.2.840.10045.3.1.7.
const SECP256R1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34.
const SECP384R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// rsaEncryption, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-Ed25519, 1.3.101.112.
const ID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// id-ml-dsa-65, 2.16.840.1.101.3.4.3.18.
const ID_ML_DSA_65: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12];
/// pkcs-9-at-challengePassword, 1.2.840.113549.1.9.7.
const CHALLENGE_PASSWORD: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07];
/// pkcs-9-at-extensionRequest, 1.2.840.113549.1.9.14.
const EXTENSION_REQUEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e];

const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// The `CsrAttrs` DER for a profile accepting `keys`.
///
/// ```text
/// CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
/// AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }
/// Attribute { ATTRIBUTE:IOSet } ::= SEQUENCE {
///      type   ATTRIBUTE.&id({IOSet}),
///      values SET SIZE(1..MAX) OF ATTRIBUTE.&Type({IOSet}{@type}) }
/// ```
///
/// Elliptic curves are written as RFC 7030's example does: one id-ecPublicKey attribute
/// whose values are the curves; the other key types as their algorithm OID.
pub fn encode_csr_attrs(keys: &[KeyKind]) -> Vec<u8> {
    let mut items = vec![tlv(OID, CHALLENGE_PASSWORD)];
    let mut curves: Vec<Vec<u8>> = Vec::new();
    for key in keys {
        let item = match key {
            KeyKind::P256 => {
                curves.push(tlv(OID, SECP256R1));
                continue;
            }
            KeyKind::P384 => {
                curves.push(tlv(OID, SECP384R1));
                continue;
            }
            KeyKind::Rsa => tlv(OID, RSA_ENCRYPTION),
            KeyKind::Ed25519 => tlv(OID, ID_ED25519),
            KeyKind::MlDsa65 => tlv(OID, ID_ML_DSA_65),
        };
        if !items.contains(&item) {
            items.push(item);
        }
    }
    if !curves.is_empty() {
        // SET OF is sorted by encoding in DER (X.690 §11.6).
        curves.sort();
        curves.dedup();
        let mut attr = tlv(OID, ID_EC_PUBLIC_KEY);
        attr.extend(tlv(SET, &curves.concat()));
        items.insert(1, tlv(SEQUENCE, &attr));
    }
    items.push(tlv(OID, EXTENSION_REQUEST));
    tlv(SEQUENCE, &items.concat())
}

pub(crate) use signet_x509::der_tlv as tlv;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_profile_asks_for_curves_rsa_and_the_binding() {
        let der = encode_csr_attrs(&[KeyKind::P256, KeyKind::P384, KeyKind::Rsa]);
        let expected = [
            "30 3f",
            // challengePassword
            "06 09 2a864886f70d010907",
            // SEQUENCE { id-ecPublicKey, SET { secp384r1, secp256r1 } } (sorted)
            "30 1c 06 07 2a8648ce3d0201 31 11 06 05 2b81040022 06 08 2a8648ce3d030107",
            // rsaEncryption
            "06 09 2a864886f70d010101",
            // extensionRequest
            "06 09 2a864886f70d01090e",
        ]
        .concat()
        .replace(' ', "");
        assert_eq!(hex(&der), expected);
    }

    #[test]
    fn other_keys_are_oids_and_lists_have_no_duplicates() {
        let der = encode_csr_attrs(&[KeyKind::Ed25519, KeyKind::Ed25519, KeyKind::MlDsa65]);
        assert_eq!(
            hex(&der),
            "302606092a864886f70d010907\
             06032b6570\
             0609608648016503040312\
             06092a864886f70d01090e"
        );
        assert_eq!("rsa".parse(), Ok(KeyKind::Rsa));
        assert!("rsa2048".parse::<KeyKind>().is_err());
    }

    #[test]
    fn long_lengths_are_encoded_in_long_form() {
        assert_eq!(tlv(0x04, &[0; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x04, &[0; 0x1234])[..4], [0x04, 0x82, 0x12, 0x34]);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
