//! Key and signature algorithms Signet accepts, with their AlgorithmIdentifiers.

use std::fmt;

/// The algorithm (and size) of a subject public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (id-ecPublicKey + prime256v1).
    P256,
    /// ECDSA on NIST P-384 (id-ecPublicKey + secp384r1).
    P384,
    /// Ed25519 (RFC 8410).
    Ed25519,
    /// RSA with the modulus size in bits.
    Rsa { bits: u32 },
    /// ML-DSA-65 (FIPS 204, id-ml-dsa-65).
    MlDsa65,
}

impl KeyAlgorithm {
    /// Short family name used in configuration: `ec`, `ed25519`, `rsa`, `mldsa`.
    pub fn family(&self) -> &'static str {
        match self {
            KeyAlgorithm::P256 | KeyAlgorithm::P384 => "ec",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa { .. } => "rsa",
            KeyAlgorithm::MlDsa65 => "mldsa",
        }
    }

    /// Key strength in bits as administrators quote it (curve size, modulus size).
    pub fn bits(&self) -> u32 {
        match self {
            KeyAlgorithm::P256 | KeyAlgorithm::Ed25519 => 256,
            KeyAlgorithm::P384 => 384,
            KeyAlgorithm::Rsa { bits } => *bits,
            KeyAlgorithm::MlDsa65 => 1952 * 8,
        }
    }

    /// The configuration name: `p256`, `p384`, `ed25519`, `rsa2048`, `mldsa65`.
    pub fn config_name(&self) -> String {
        match self {
            KeyAlgorithm::P256 => "p256".into(),
            KeyAlgorithm::P384 => "p384".into(),
            KeyAlgorithm::Ed25519 => "ed25519".into(),
            KeyAlgorithm::Rsa { bits } => format!("rsa{bits}"),
            KeyAlgorithm::MlDsa65 => "mldsa65".into(),
        }
    }

    /// Parses a configuration name (`p256`, `p384`, `ed25519`, `rsa2048`, `rsa3072`,
    /// `rsa4096`, `mldsa65`).
    pub fn from_config_name(s: &str) -> Option<KeyAlgorithm> {
        Some(match s {
            "p256" => KeyAlgorithm::P256,
            "p384" => KeyAlgorithm::P384,
            "ed25519" => KeyAlgorithm::Ed25519,
            "mldsa65" => KeyAlgorithm::MlDsa65,
            _ => {
                let bits: u32 = s.strip_prefix("rsa")?.parse().ok()?;
                KeyAlgorithm::Rsa { bits }
            }
        })
    }

    /// The RSASSA-PSS signature algorithm for this key, or `None` when it is not RSA.
    pub fn rsa_pss_signature(&self) -> Option<SignatureAlgorithm> {
        matches!(self, KeyAlgorithm::Rsa { .. }).then_some(SignatureAlgorithm::RsaPssSha256)
    }

    /// The signature algorithm a CA with this key signs with.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        match self {
            KeyAlgorithm::P256 => SignatureAlgorithm::EcdsaSha256,
            KeyAlgorithm::P384 => SignatureAlgorithm::EcdsaSha384,
            KeyAlgorithm::Ed25519 => SignatureAlgorithm::Ed25519,
            KeyAlgorithm::Rsa { .. } => SignatureAlgorithm::RsaPkcs1Sha256,
            KeyAlgorithm::MlDsa65 => SignatureAlgorithm::MlDsa65,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.config_name())
    }
}

/// A signature algorithm the CA signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// ecdsa-with-SHA256 (1.2.840.10045.4.3.2), parameters absent.
    EcdsaSha256,
    /// ecdsa-with-SHA384 (1.2.840.10045.4.3.3), parameters absent.
    EcdsaSha384,
    /// id-Ed25519 (1.3.101.112), parameters absent.
    Ed25519,
    /// sha256WithRSAEncryption (1.2.840.113549.1.1.11), parameters NULL.
    RsaPkcs1Sha256,
    /// id-RSASSA-PSS (1.2.840.113549.1.1.10) with SHA-256, MGF1 with SHA-256 and a 32-byte
    /// salt: the encoding the CA/Browser Forum Baseline Requirements (7.1.3.2) prescribe.
    RsaPssSha256,
    /// id-ml-dsa-65 (2.16.840.1.101.3.4.3.18), parameters absent.
    MlDsa65,
}

impl SignatureAlgorithm {
    /// The DER encoding of this algorithm's `AlgorithmIdentifier`.
    pub fn algorithm_identifier_der(&self) -> Vec<u8> {
        crate::cert::algorithm_identifier_der(*self)
    }
}

/// The public exponent of an RSA SubjectPublicKeyInfo (DER), saturated at `u64::MAX`;
/// `None` for any other key or a malformed one.
pub fn rsa_public_exponent(spki_der: &[u8]) -> Option<u64> {
    // RSAPublicKey ::= SEQUENCE {
    //     modulus           INTEGER,  -- n
    //     publicExponent    INTEGER   -- e }
    const WHAT: &str = "RSA public key";
    let spki = crate::asn1::Spki::decode(spki_der, WHAT).ok()?;
    if spki.alg.oid != const_oid::db::rfc5912::RSA_ENCRYPTION.as_bytes() {
        return None;
    }
    let seq = crate::asn1::single(spki.key, crate::asn1::SEQUENCE, WHAT).ok()?;
    let mut r = crate::asn1::Reader::new(seq.value, WHAT);
    r.read(crate::asn1::INTEGER, "modulus").ok()?;
    let e = r.read(crate::asn1::INTEGER, "publicExponent").ok()?;
    let e = crate::asn1::unsigned_integer(e.value, WHAT).ok()?;
    if e.len() > 8 {
        return Some(u64::MAX);
    }
    Some(e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}
