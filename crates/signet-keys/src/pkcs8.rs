//! The unencrypted PKCS#8 private key (RFC 5958) as far as this crate needs to read it (the
//! version and the algorithm; aws-lc-rs parses and checks the key itself), and the
//! SubjectPublicKeyInfo (RFC 5280) of each supported algorithm.

use der::asn1::{AnyRef, BitStringRef, Null, ObjectIdentifier, OctetStringRef};
use der::{Decode, DecodeValue, Encode, FixedTag, Header, Reader, Tag};
use signet_x509::KeyAlgorithm;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use crate::KeyError;
use crate::oid;

/// The key families a PKCS#8 document can name. RSA's size is only known once the key has
/// been parsed, so it is not part of this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pkcs8Algorithm {
    P256,
    P384,
    Ed25519,
    Rsa,
    MlDsa65,
}

/// Reads the `privateKeyAlgorithm` of a PKCS#8 `PrivateKeyInfo` and says which supported
/// algorithm it names.
///
/// The outer error is a DER error (the bytes are not a `PrivateKeyInfo`); the caller decides
/// what that means (a malformed file, or a wrong passphrase when the bytes were just
/// decrypted). The inner error says the document is a `PrivateKeyInfo` but not one we support.
pub(crate) fn algorithm_of(
    private_key_info: &[u8],
) -> Result<Result<Pkcs8Algorithm, KeyError>, der::Error> {
    let info = PrivateKeyInfoHead::from_der(private_key_info)?;
    if info.version > 1 {
        return Ok(Err(KeyError::Malformed(format!(
            "PKCS#8 version {} (only v1 and v2 exist)",
            info.version
        ))));
    }
    Ok(classify(&info.algorithm))
}

/// The SubjectPublicKeyInfo DER for `public_key` in the form aws-lc-rs hands it out: the
/// uncompressed point for ECDSA, the 32 raw bytes for Ed25519, the PKCS#1 `RSAPublicKey` DER
/// for RSA and the raw FIPS 204 encoding for ML-DSA.
//
// SubjectPublicKeyInfo  ::=  SEQUENCE  {
//      algorithm            AlgorithmIdentifier,
//      subjectPublicKey     BIT STRING  }
//
// RFC 5480: algorithm = id-ecPublicKey, parameters = namedCurve OBJECT IDENTIFIER,
//           subjectPublicKey = ECPoint (uncompressed).
// RFC 8410: algorithm = id-Ed25519, parameters absent, subjectPublicKey = the 32-byte key.
// RFC 8017: algorithm = rsaEncryption, parameters NULL, subjectPublicKey = RSAPublicKey DER.
// ML-DSA:   algorithm = id-ml-dsa-65, parameters absent, subjectPublicKey = the raw key.
pub fn spki_der(algorithm: KeyAlgorithm, public_key: &[u8]) -> Result<Vec<u8>, KeyError> {
    let (oid, parameters): (ObjectIdentifier, Option<AnyRef<'_>>) = match algorithm {
        KeyAlgorithm::P256 => (oid::ID_EC_PUBLIC_KEY, Some(AnyRef::from(&oid::SECP256R1))),
        KeyAlgorithm::P384 => (oid::ID_EC_PUBLIC_KEY, Some(AnyRef::from(&oid::SECP384R1))),
        KeyAlgorithm::Ed25519 => (oid::ID_ED25519, None),
        KeyAlgorithm::Rsa { .. } => (oid::RSA_ENCRYPTION, Some(AnyRef::from(Null))),
        KeyAlgorithm::MlDsa65 => (oid::ID_ML_DSA_65, None),
    };
    let spki = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef { oid, parameters },
        subject_public_key: BitStringRef::from_bytes(public_key)
            .map_err(|e| KeyError::Crypto(format!("encoding the public key: {e}")))?,
    };
    spki.to_der()
        .map_err(|e| KeyError::Crypto(format!("encoding the SubjectPublicKeyInfo: {e}")))
}

/// Maps a `privateKeyAlgorithm` to a supported algorithm, checking its parameters as the
/// defining RFC requires.
fn classify(algorithm: &AlgorithmIdentifierRef<'_>) -> Result<Pkcs8Algorithm, KeyError> {
    let oid = algorithm.oid;
    let params = algorithm.parameters;
    if oid == oid::ID_EC_PUBLIC_KEY {
        // ECParameters ::= CHOICE { namedCurve OBJECT IDENTIFIER, ... } (RFC 5480); only named
        // curves are allowed in PKIX, and only P-256 and P-384 are supported here.
        let curve = params
            .and_then(|p| ObjectIdentifier::try_from(p).ok())
            .ok_or_else(|| {
                KeyError::Unsupported("an EC key without a named curve parameter".into())
            })?;
        return match curve {
            c if c == oid::SECP256R1 => Ok(Pkcs8Algorithm::P256),
            c if c == oid::SECP384R1 => Ok(Pkcs8Algorithm::P384),
            other => Err(KeyError::Unsupported(format!(
                "EC curve {other} (only P-256 and P-384)"
            ))),
        };
    }
    if oid == oid::ID_ED25519 {
        // RFC 8410 section 3: "the parameters MUST be absent".
        return match params {
            None => Ok(Pkcs8Algorithm::Ed25519),
            Some(_) => Err(KeyError::Malformed(
                "id-Ed25519 with parameters (RFC 8410 says they must be absent)".into(),
            )),
        };
    }
    if oid == oid::RSA_ENCRYPTION {
        // RFC 8017 appendix A.1: the parameters "SHALL have a value of type NULL". Absent
        // parameters are tolerated on input, as OpenSSL does.
        return match params {
            None => Ok(Pkcs8Algorithm::Rsa),
            Some(p) if p.is_null() => Ok(Pkcs8Algorithm::Rsa),
            Some(_) => Err(KeyError::Malformed(
                "rsaEncryption with parameters other than NULL".into(),
            )),
        };
    }
    if oid == oid::ID_ML_DSA_65 {
        return match params {
            None => Ok(Pkcs8Algorithm::MlDsa65),
            Some(_) => Err(KeyError::Malformed(
                "id-ml-dsa-65 with parameters (they must be absent)".into(),
            )),
        };
    }
    Err(KeyError::Unsupported(format!(
        "private key algorithm {oid} (supported: P-256, P-384, Ed25519, RSA, ML-DSA-65)"
    )))
}

/// The first fields of a PKCS#8 private key; the rest is checked by aws-lc-rs.
//
// OneAsymmetricKey ::= SEQUENCE {
//   version                   Version,
//   privateKeyAlgorithm       PrivateKeyAlgorithmIdentifier,
//   privateKey                PrivateKey,
//   attributes            [0] Attributes OPTIONAL,
//   ...,
//   [[2: publicKey        [1] PublicKey OPTIONAL ]],
//   ...
// }
// PrivateKeyInfo ::= OneAsymmetricKey
// Version ::= INTEGER { v1(0), v2(1) } (v1, ..., v2)
// PrivateKeyAlgorithmIdentifier ::= AlgorithmIdentifier
//                                   { PUBLIC-KEY, { PrivateKeyAlgorithms } }
// PrivateKey ::= OCTET STRING
struct PrivateKeyInfoHead<'a> {
    version: u8,
    algorithm: AlgorithmIdentifierRef<'a>,
}

impl<'a> DecodeValue<'a> for PrivateKeyInfoHead<'a> {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, _header: Header) -> der::Result<Self> {
        let version = u8::decode(reader)?;
        let algorithm = AlgorithmIdentifierRef::decode(reader)?;
        let _private_key = <&OctetStringRef>::decode(reader)?;
        // [0] attributes and [1] publicKey: read as TLVs so the SEQUENCE is consumed exactly;
        // their contents are aws-lc-rs's business.
        while !reader.is_finished() {
            AnyRef::decode(reader)?;
        }
        Ok(PrivateKeyInfoHead { version, algorithm })
    }
}

impl FixedTag for PrivateKeyInfoHead<'_> {
    const TAG: Tag = Tag::Sequence;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spki_for_p256_has_the_rfc5480_prefix() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[0x11; 64]);
        let der = spki_der(KeyAlgorithm::P256, &point).unwrap();
        // The fixed 26-byte prefix every P-256 SPKI starts with.
        let prefix = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        assert_eq!(&der[..prefix.len()], &prefix);
        assert_eq!(&der[prefix.len()..], &point[..]);
    }

    #[test]
    fn spki_for_ed25519_has_the_rfc8410_prefix() {
        let der = spki_der(KeyAlgorithm::Ed25519, &[0x22; 32]).unwrap();
        let prefix = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        assert_eq!(&der[..prefix.len()], &prefix);
        assert_eq!(der.len(), prefix.len() + 32);
    }

    #[test]
    fn classify_rejects_unknown_and_misparameterised_algorithms() {
        // secp521r1 is a named curve we do not support.
        let p521 = ObjectIdentifier::new_unwrap("1.3.132.0.35");
        let alg = AlgorithmIdentifierRef {
            oid: oid::ID_EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&p521)),
        };
        assert!(matches!(classify(&alg), Err(KeyError::Unsupported(_))));

        let alg = AlgorithmIdentifierRef {
            oid: oid::ID_ED25519,
            parameters: Some(AnyRef::from(Null)),
        };
        assert!(matches!(classify(&alg), Err(KeyError::Malformed(_))));

        // RSASSA-PSS keys are not supported.
        let alg = AlgorithmIdentifierRef {
            oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10"),
            parameters: None,
        };
        assert!(matches!(classify(&alg), Err(KeyError::Unsupported(_))));
    }

    #[test]
    fn head_decoder_rejects_trailing_garbage_and_truncation() {
        // A minimal v1 Ed25519 PrivateKeyInfo: version 0, id-Ed25519, OCTET STRING wrapping
        // a 32-byte OCTET STRING.
        let mut doc = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        doc.extend_from_slice(&[0x33; 32]);
        assert_eq!(
            algorithm_of(&doc).unwrap().unwrap(),
            Pkcs8Algorithm::Ed25519
        );

        let mut trailing = doc.clone();
        trailing.push(0);
        assert!(algorithm_of(&trailing).is_err());
        assert!(algorithm_of(&doc[..doc.len() - 1]).is_err());
        assert!(algorithm_of(&[]).is_err());
    }
}
