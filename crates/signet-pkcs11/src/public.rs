//! The public half of a token key: which algorithm it is, its bytes for the
//! SubjectPublicKeyInfo, the templates that generate one, and the ECDSA signature format.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use der::Encode;
use der::asn1::UintRef;
use signet_x509::KeyAlgorithm;

use crate::key::{find_one, key_type, token};
use crate::{Pkcs11Error, Pkcs11Uri};

/// DER of the namedCurve OIDs in CKA_EC_PARAMS.
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
/// id-Ed25519 (RFC 8410), and the PrintableString "edwards25519" some tokens use instead.
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";

/// A token key's public half: its algorithm and the bytes [`signet_keys::spki_der`] takes
/// (the uncompressed point, the 32 Ed25519 bytes, or the PKCS#1 `RSAPublicKey`).
pub(crate) struct PublicKey {
    pub(crate) algorithm: KeyAlgorithm,
    pub(crate) key: Vec<u8>,
}

impl PublicKey {
    /// Checks a signature the token made ([`crate::Pkcs11Key`]'s output format).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), ()> {
        let algorithm: &'static dyn VerificationAlgorithm = match self.algorithm {
            KeyAlgorithm::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyAlgorithm::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            KeyAlgorithm::Ed25519 => &signature::ED25519,
            KeyAlgorithm::Rsa { .. } => &signature::RSA_PKCS1_2048_8192_SHA256,
            KeyAlgorithm::MlDsa65 => return Err(()),
        };
        UnparsedPublicKey::new(algorithm, &self.key)
            .verify(message, signature)
            .map_err(|_| ())
    }
}

/// Reads the public key of the private key `private`: from the public key object of the
/// same label and id (EC and Ed25519 private keys do not carry their point), or, for RSA,
/// from the private key's own modulus and exponent when there is no such object.
pub(crate) fn read(
    session: &Session,
    uri: &Pkcs11Uri,
    private: ObjectHandle,
) -> Result<PublicKey, Pkcs11Error> {
    let kind = key_type(session, private)?;
    let public = find_one(session, uri, ObjectClass::PUBLIC_KEY)?;
    if kind == KeyType::RSA {
        let from = public.unwrap_or(private);
        let attrs = session
            .get_attributes(
                from,
                &[AttributeType::Modulus, AttributeType::PublicExponent],
            )
            .map_err(token("reading the RSA public key"))?;
        let (mut n, mut e) = (None, None);
        for a in attrs {
            match a {
                Attribute::Modulus(m) => n = Some(m),
                Attribute::PublicExponent(x) => e = Some(x),
                _ => {}
            }
        }
        let (Some(n), Some(e)) = (n, e) else {
            return Err(Pkcs11Error::Key(
                "the RSA key has no modulus or exponent".into(),
            ));
        };
        return rsa_public_key(&n, &e);
    }
    let public = public.ok_or_else(|| {
        Pkcs11Error::Key(format!(
            "no public key object beside the private key {uri} (its point is needed)"
        ))
    })?;
    let attrs = session
        .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(token("reading the public key"))?;
    let (mut params, mut point) = (None, None);
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let (Some(params), Some(point)) = (params, point) else {
        return Err(Pkcs11Error::Key(
            "the public key has no CKA_EC_PARAMS or CKA_EC_POINT".into(),
        ));
    };
    let algorithm = match (kind, params.as_slice()) {
        (KeyType::EC, P256) => KeyAlgorithm::P256,
        (KeyType::EC, P384) => KeyAlgorithm::P384,
        (KeyType::EC_EDWARDS, ED25519_OID | ED25519_NAME) => KeyAlgorithm::Ed25519,
        _ => {
            return Err(Pkcs11Error::Key(
                "the key's curve is not P-256, P-384 or Ed25519".into(),
            ));
        }
    };
    Ok(PublicKey {
        algorithm,
        key: ec_point(algorithm, &point)?,
    })
}

/// CKA_EC_POINT as the raw point: PKCS#11 says a DER OCTET STRING wrapping it, some tokens
/// store it bare. Told apart by length, which is fixed per curve.
pub(crate) fn ec_point(algorithm: KeyAlgorithm, value: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
    let raw_len = match algorithm {
        KeyAlgorithm::P256 => 65,
        KeyAlgorithm::P384 => 97,
        KeyAlgorithm::Ed25519 => 32,
        _ => return Err(Pkcs11Error::Key("not an elliptic-curve key".into())),
    };
    let raw = if value.len() == raw_len {
        value
    } else if value.len() == raw_len + 2 && value[0] == 0x04 && usize::from(value[1]) == raw_len {
        &value[2..]
    } else {
        return Err(Pkcs11Error::Key(format!(
            "CKA_EC_POINT of {} bytes is not a {algorithm} point",
            value.len()
        )));
    };
    if algorithm != KeyAlgorithm::Ed25519 && raw[0] != 0x04 {
        return Err(Pkcs11Error::Key("the EC point is not uncompressed".into()));
    }
    Ok(raw.to_vec())
}

/// The PKCS#1 `RSAPublicKey` DER of a modulus and exponent (big-endian, unsigned).
fn rsa_public_key(n: &[u8], e: &[u8]) -> Result<PublicKey, Pkcs11Error> {
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: UintRef<'a>,
        exponent: UintRef<'a>,
    }
    let bad = |e: der::Error| Pkcs11Error::Key(format!("encoding the RSA public key: {e}"));
    let key = RsaPublicKey {
        modulus: UintRef::new(n).map_err(bad)?,
        exponent: UintRef::new(e).map_err(bad)?,
    };
    let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
    let bits = u32::try_from(bits).map_err(|_| Pkcs11Error::Key("an absurd modulus".into()))?;
    if !(2048..=8192).contains(&bits) {
        return Err(Pkcs11Error::Key(format!(
            "an RSA modulus of {bits} bits (2048 to 8192 are accepted)"
        )));
    }
    Ok(PublicKey {
        algorithm: KeyAlgorithm::Rsa { bits },
        key: key.to_der().map_err(bad)?,
    })
}

/// The mechanism and the algorithm part of the public key template that generate a key.
pub(crate) fn generation(
    algorithm: KeyAlgorithm,
) -> Result<(Mechanism<'static>, Vec<Attribute>), Pkcs11Error> {
    Ok(match algorithm {
        KeyAlgorithm::P256 => (
            Mechanism::EccKeyPairGen,
            vec![Attribute::EcParams(P256.to_vec())],
        ),
        KeyAlgorithm::P384 => (
            Mechanism::EccKeyPairGen,
            vec![Attribute::EcParams(P384.to_vec())],
        ),
        KeyAlgorithm::Ed25519 => (
            Mechanism::EccEdwardsKeyPairGen,
            vec![Attribute::EcParams(ED25519_OID.to_vec())],
        ),
        KeyAlgorithm::Rsa { bits } if matches!(bits, 2048 | 3072 | 4096) => (
            Mechanism::RsaPkcsKeyPairGen,
            vec![
                Attribute::ModulusBits(u64::from(bits).into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ],
        ),
        KeyAlgorithm::Rsa { bits } => {
            return Err(Pkcs11Error::Key(format!(
                "RSA keys of {bits} bits (2048, 3072 or 4096)"
            )));
        }
        KeyAlgorithm::MlDsa65 => {
            return Err(Pkcs11Error::Key(
                "ML-DSA keys are not generated on tokens: no packaged PKCS#11 token supports ML-DSA yet, so ML-DSA CA keys stay in software".into(),
            ));
        }
    })
}

/// An ECDSA signature from the token (raw r‖s, each half the curve's size) as the DER
/// `Ecdsa-Sig-Value` X.509 wants; `Err` for an odd or empty length.
pub(crate) fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, ()> {
    #[derive(der::Sequence)]
    struct EcdsaSig<'a> {
        r: UintRef<'a>,
        s: UintRef<'a>,
    }
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(());
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let sig = EcdsaSig {
        r: UintRef::new(r).map_err(|_| ())?,
        s: UintRef::new(s).map_err(|_| ())?,
    };
    sig.to_der().map_err(|_| ())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ec_points_are_taken_bare_or_wrapped() {
        let mut point = vec![0x04];
        point.extend([0x11; 64]);
        let mut wrapped = vec![0x04, 65];
        wrapped.extend(&point);
        assert_eq!(ec_point(KeyAlgorithm::P256, &point).unwrap(), point);
        assert_eq!(ec_point(KeyAlgorithm::P256, &wrapped).unwrap(), point);
        assert!(ec_point(KeyAlgorithm::P256, &point[1..]).is_err());
        assert!(ec_point(KeyAlgorithm::P384, &point).is_err());
        let ed = [0x22u8; 32];
        let mut ed_wrapped = vec![0x04, 32];
        ed_wrapped.extend(ed);
        assert_eq!(ec_point(KeyAlgorithm::Ed25519, &ed_wrapped).unwrap(), ed);
    }

    #[test]
    fn raw_ecdsa_signatures_become_der_with_minimal_integers() {
        // r has its high bit set (a 0x00 is prepended); s has leading zeros (dropped).
        let mut raw = vec![0x80; 32];
        raw.extend([0x00, 0x00, 0x01]);
        raw.extend([0x02; 29]);
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 2 + 33 + 2 + 30, 0x02, 33, 0x00]);
        assert_eq!(&der[5..37], &[0x80; 32][..]);
        assert_eq!(&der[37..40], &[0x02, 30, 0x01]);
        assert!(ecdsa_raw_to_der(&raw[1..]).is_err());
        assert!(ecdsa_raw_to_der(&[]).is_err());
    }
}
