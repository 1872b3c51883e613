//! Public JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037): the account keys ACME accepts,
//! their RFC 7638 thumbprints, and key equality.

use std::fmt;

use aws_lc_rs::{digest, signature};
use serde::{Deserialize, Serialize, Serializer, ser::SerializeMap};

use crate::b64::{self, B64Error};
use crate::jws::Algorithm;
use crate::problem::{AcmeError, ProblemType};

/// Longest JWK JSON accepted on its own ([`Jwk::from_json`]).
pub const MAX_JWK_BYTES: usize = 8 * 1024;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (what aws-lc-rs verifies).
pub const MAX_RSA_BITS: usize = 8192;
/// Longest base64url member (`n` of an 8192-bit key is 1366 characters).
pub const MAX_MEMBER_CHARS: usize = 1400;
/// Longest RSA public exponent, in bytes.
pub const MAX_EXPONENT_BYTES: usize = 4;

/// Why a JWK was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwkError {
    /// The JSON itself (syntax, wrong member types, duplicate members).
    #[error("the JWK is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// Over [`MAX_JWK_BYTES`].
    #[error("the JWK is longer than {MAX_JWK_BYTES} bytes")]
    TooLarge,
    /// A private-key member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`).
    #[error("the JWK carries the private member {0:?}")]
    PrivateMember(&'static str),
    /// A required member is missing.
    #[error("the JWK has no {0:?} member")]
    Missing(&'static str),
    /// A member is not unpadded base64url, or too long.
    #[error("the JWK member {member:?} is invalid")]
    Base64 {
        member: &'static str,
        #[source]
        source: B64Error,
    },
    /// `kty` other than `EC`, `RSA`, `OKP`.
    #[error("unsupported key type {0:?} (EC, RSA and OKP are accepted)")]
    UnsupportedKeyType(String),
    /// `crv` other than `P-256`, `P-384` (EC) or `Ed25519` (OKP).
    #[error("unsupported curve {0:?}")]
    UnsupportedCurve(String),
    /// A coordinate or OKP key of the wrong length for its curve.
    #[error("the JWK member {member:?} has {got} bytes, {curve} needs {want}")]
    BadLength {
        member: &'static str,
        curve: &'static str,
        got: usize,
        want: usize,
    },
    /// The EC point is not on the curve (or is otherwise refused by the library).
    #[error("the EC point is not on {0}")]
    NotOnCurve(&'static str),
    /// An RSA modulus outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
    #[error("the RSA modulus has {0} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted")]
    RsaSize(usize),
    /// An RSA public exponent that is even, below 3 or over [`MAX_EXPONENT_BYTES`].
    #[error("the RSA public exponent is not an odd number from 3 to 2^32-1")]
    RsaExponent,
    /// `n` or `e` with a leading zero octet (RFC 7518 §6.3.1: minimal encoding).
    #[error("the RSA member {0:?} has a leading zero octet")]
    NotMinimal(&'static str),
}

impl AcmeError for JwkError {
    fn problem_type(&self) -> ProblemType {
        match self {
            JwkError::Json(_)
            | JwkError::TooLarge
            | JwkError::PrivateMember(_)
            | JwkError::Missing(_)
            | JwkError::Base64 { .. }
            | JwkError::NotMinimal(_) => ProblemType::Malformed,
            JwkError::UnsupportedKeyType(_)
            | JwkError::UnsupportedCurve(_)
            | JwkError::BadLength { .. }
            | JwkError::NotOnCurve(_)
            | JwkError::RsaSize(_)
            | JwkError::RsaExponent => ProblemType::BadPublicKey,
        }
    }
}

/// An elliptic curve for `kty: EC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (ES256).
    P256,
    /// NIST P-384 (ES384).
    P384,
}

impl Curve {
    /// The JWK `crv` name.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    fn verification(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
        }
    }
}

/// What kind of key a [`Jwk`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `kty: EC` on a curve.
    Ec(Curve),
    /// `kty: RSA`, with the modulus size in bits.
    Rsa { bits: usize },
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
}

impl KeyType {
    /// The one JWS algorithm ACME accepts for this key.
    pub fn algorithm(self) -> Algorithm {
        match self {
            KeyType::Ec(Curve::P256) => Algorithm::Es256,
            KeyType::Ec(Curve::P384) => Algorithm::Es384,
            KeyType::Rsa { .. } => Algorithm::Rs256,
            KeyType::Ed25519 => Algorithm::EdDsa,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Ec(c) => write!(f, "EC {}", c.name()),
            KeyType::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyType::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

/// A validated public JWK. Two `Jwk`s are equal (`==`, [`Jwk::same_key`]) exactly when they
/// are the same public key: members other than the key's own (`kid`, `use`, `alg`...) are
/// not kept.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Jwk {
    key: Key,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jwk({}, {})", self.key_type(), self.thumbprint())
    }
}

/// A JWK as it arrives: the members ACME keys use; other public members are ignored.
/// Duplicate members are refused by serde.
#[derive(Deserialize)]
pub(crate) struct RawJwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    #[serde(default, deserialize_with = "crate::present")]
    d: bool,
    #[serde(default, deserialize_with = "crate::present")]
    p: bool,
    #[serde(default, deserialize_with = "crate::present")]
    q: bool,
    #[serde(default, deserialize_with = "crate::present")]
    dp: bool,
    #[serde(default, deserialize_with = "crate::present")]
    dq: bool,
    #[serde(default, deserialize_with = "crate::present")]
    qi: bool,
    #[serde(default, deserialize_with = "crate::present")]
    oth: bool,
    #[serde(default, deserialize_with = "crate::present")]
    k: bool,
}

fn member(value: Option<&String>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let text = value.ok_or(JwkError::Missing(name))?;
    b64::decode(text, MAX_MEMBER_CHARS).map_err(|source| JwkError::Base64 {
        member: name,
        source,
    })
}

fn rsa_bits(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

impl RawJwk {
    pub(crate) fn validate(self) -> Result<Jwk, JwkError> {
        let private = [
            (self.d, "d"),
            (self.p, "p"),
            (self.q, "q"),
            (self.dp, "dp"),
            (self.dq, "dq"),
            (self.qi, "qi"),
            (self.oth, "oth"),
            (self.k, "k"),
        ];
        if let Some((_, name)) = private.iter().find(|(present, _)| *present) {
            return Err(JwkError::PrivateMember(name));
        }
        let kty = self.kty.as_deref().ok_or(JwkError::Missing("kty"))?;
        let key = match kty {
            "EC" => {
                let curve = match self.crv.as_deref().ok_or(JwkError::Missing("crv"))? {
                    "P-256" => Curve::P256,
                    "P-384" => Curve::P384,
                    other => return Err(JwkError::UnsupportedCurve(other.to_owned())),
                };
                let x = member(self.x.as_ref(), "x")?;
                let y = member(self.y.as_ref(), "y")?;
                for (name, value) in [("x", &x), ("y", &y)] {
                    if value.len() != curve.coordinate_len() {
                        return Err(JwkError::BadLength {
                            member: name,
                            curve: curve.name(),
                            got: value.len(),
                            want: curve.coordinate_len(),
                        });
                    }
                }
                let point = ec_point(&x, &y);
                signature::ParsedPublicKey::new(curve.verification(), &point)
                    .map_err(|_| JwkError::NotOnCurve(curve.name()))?;
                Key::Ec { curve, x, y }
            }
            "RSA" => {
                let n = member(self.n.as_ref(), "n")?;
                let e = member(self.e.as_ref(), "e")?;
                for (name, value) in [("n", &n), ("e", &e)] {
                    if value.first() == Some(&0) {
                        return Err(JwkError::NotMinimal(name));
                    }
                }
                let bits = rsa_bits(&n);
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(JwkError::RsaSize(bits));
                }
                let odd = e.last().is_some_and(|b| b & 1 == 1);
                let at_least_3 = e.len() > 1 || e.first().is_some_and(|&b| b >= 3);
                if e.len() > MAX_EXPONENT_BYTES || !odd || !at_least_3 {
                    return Err(JwkError::RsaExponent);
                }
                Key::Rsa { n, e }
            }
            "OKP" => {
                match self.crv.as_deref().ok_or(JwkError::Missing("crv"))? {
                    "Ed25519" => {}
                    other => return Err(JwkError::UnsupportedCurve(other.to_owned())),
                }
                let x = member(self.x.as_ref(), "x")?;
                if x.len() != 32 {
                    return Err(JwkError::BadLength {
                        member: "x",
                        curve: "Ed25519",
                        got: x.len(),
                        want: 32,
                    });
                }
                Key::Ed25519 { x }
            }
            other => return Err(JwkError::UnsupportedKeyType(other.to_owned())),
        };
        Ok(Jwk { key })
    }
}

/// A DER INTEGER of an unsigned big-endian magnitude (minimal, as JWK members are).
fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_none_or(|b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(magnitude);
    signet_x509::der_tlv(0x02, &value)
}

fn ec_point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    point
}

/// Why a signature did not verify with a key (the JWS layer adds context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureCheck {
    /// The algorithm is not the key's.
    WrongAlgorithm,
    /// The signature is wrong (or has the wrong length).
    Bad,
}

impl Jwk {
    /// Parses and validates a JWK from JSON bytes (e.g. a stored account key).
    pub fn from_json(json: &[u8]) -> Result<Jwk, JwkError> {
        if json.len() > MAX_JWK_BYTES {
            return Err(JwkError::TooLarge);
        }
        serde_json::from_slice::<RawJwk>(json)
            .map_err(JwkError::Json)?
            .validate()
    }

    /// Parses and validates a JWK from a JSON value (e.g. a member of a request payload).
    pub fn from_value(value: &serde_json::Value) -> Result<Jwk, JwkError> {
        serde_json::from_value::<RawJwk>(value.clone())
            .map_err(JwkError::Json)?
            .validate()
    }

    /// The key's kind (and size, for RSA).
    pub fn key_type(&self) -> KeyType {
        match &self.key {
            Key::Ec { curve, .. } => KeyType::Ec(*curve),
            Key::Rsa { n, .. } => KeyType::Rsa { bits: rsa_bits(n) },
            Key::Ed25519 { .. } => KeyType::Ed25519,
        }
    }

    /// Whether `other` is the same public key (RFC 8555 §7.3.5 `keyChange` compares keys so).
    pub fn same_key(&self, other: &Jwk) -> bool {
        self == other
    }

    /// The RFC 7638 canonical JSON: the required members only, in lexicographic order, no
    /// whitespace. Also what [`Serialize`] writes, so a stored key parses back to itself.
    pub fn canonical_json(&self) -> String {
        match &self.key {
            Key::Ec { curve, x, y } => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                curve.name(),
                b64::encode(x),
                b64::encode(y)
            ),
            Key::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                b64::encode(e),
                b64::encode(n)
            ),
            Key::Ed25519 { x } => {
                format!(
                    r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                    b64::encode(x)
                )
            }
        }
    }

    /// The key as a DER SubjectPublicKeyInfo (RFC 5480, RFC 3279, RFC 8410), the form a
    /// certificate carries: `revokeCert` signed with a certificate's key compares the two.
    pub fn spki_der(&self) -> Vec<u8> {
        // AlgorithmIdentifier contents: id-ecPublicKey + named curve, rsaEncryption + NULL,
        // id-Ed25519.
        const EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
        const RSA: &[u8] = &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
        ];
        const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
        let (alg, key): (Vec<u8>, Vec<u8>) = match &self.key {
            Key::Ec { curve, x, y } => {
                let named = match curve {
                    Curve::P256 => P256,
                    Curve::P384 => P384,
                };
                ([EC, named].concat(), ec_point(x, y))
            }
            Key::Rsa { n, e } => {
                let ints = [der_uint(n), der_uint(e)].concat();
                (RSA.to_vec(), signet_x509::der_tlv(0x30, &ints))
            }
            Key::Ed25519 { x } => (ED25519.to_vec(), x.clone()),
        };
        let mut bits = Vec::with_capacity(key.len() + 1);
        bits.push(0);
        bits.extend_from_slice(&key);
        signet_x509::der_tlv(
            0x30,
            &[
                signet_x509::der_tlv(0x30, &alg),
                signet_x509::der_tlv(0x03, &bits),
            ]
            .concat(),
        )
    }

    /// The RFC 7638 thumbprint: base64url(SHA-256(canonical JSON)); ACME's key
    /// authorizations (RFC 8555 §8.1) use it.
    pub fn thumbprint(&self) -> String {
        let digest = digest::digest(&digest::SHA256, self.canonical_json().as_bytes());
        b64::encode(digest.as_ref())
    }

    /// Verifies `signature` over `message` with `alg`, which must be the key's algorithm.
    pub(crate) fn check_signature(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureCheck> {
        if self.key_type().algorithm() != alg {
            return Err(SignatureCheck::WrongAlgorithm);
        }
        let verified = match &self.key {
            Key::Ec { curve, x, y } => {
                // JOSE ECDSA signatures are r ‖ s, fixed width (RFC 7518 §3.4): aws-lc-rs's
                // `_FIXED` algorithms take exactly that form, so no DER conversion is needed.
                if signature.len() != 2 * curve.coordinate_len() {
                    return Err(SignatureCheck::Bad);
                }
                signature::UnparsedPublicKey::new(curve.verification(), ec_point(x, y))
                    .verify(message, signature)
            }
            Key::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }.verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                message,
                signature,
            ),
            Key::Ed25519 { x } => {
                signature::UnparsedPublicKey::new(&signature::ED25519, x).verify(message, signature)
            }
        };
        verified.map_err(|_| SignatureCheck::Bad)
    }
}

impl Serialize for Jwk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match &self.key {
            Key::Ec { curve, x, y } => {
                map.serialize_entry("crv", curve.name())?;
                map.serialize_entry("kty", "EC")?;
                map.serialize_entry("x", &b64::encode(x))?;
                map.serialize_entry("y", &b64::encode(y))?;
            }
            Key::Rsa { n, e } => {
                map.serialize_entry("e", &b64::encode(e))?;
                map.serialize_entry("kty", "RSA")?;
                map.serialize_entry("n", &b64::encode(n))?;
            }
            Key::Ed25519 { x } => {
                map.serialize_entry("crv", "Ed25519")?;
                map.serialize_entry("kty", "OKP")?;
                map.serialize_entry("x", &b64::encode(x))?;
            }
        }
        map.end()
    }
}
