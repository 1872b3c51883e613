//! PBMAC1 protection (RFC 8018 §7.1, profiled for CMP by RFC 9481 §6.1.2): the key is
//! PBKDF2 of the secret with the message's salt, iteration count and PRF; the MAC is the
//! messageAuthScheme's HMAC with that key over the DER of the ProtectedPart. And
//! [`MacAlgorithm`], either of CMP's two shared-secret protections.

use std::num::NonZeroU32;

use aws_lc_rs::{hmac, pbkdf2};

use super::pbm::{MAX_ITERATIONS, PbmParams, check_bounds, fresh_salt, oid_tlv, uint_bytes};
use crate::asn1::{self, AlgId, Reader, malformed};
use crate::{Error, cmp::oid};

const WHAT: &str = "PBMAC1-params";
/// id-PBMAC1 (RFC 8018).
pub const ID_PBMAC1: &str = "1.2.840.113549.1.5.14";
/// id-PBKDF2 (RFC 8018).
const ID_PBKDF2: &str = "1.2.840.113549.1.5.12";
const HMAC_SHA1: &str = "1.2.840.113549.2.7";
const HMAC_SHA384: &str = "1.2.840.113549.2.10";
const HMAC_SHA512: &str = "1.2.840.113549.2.11";
/// Longest derived key accepted (bytes).
const MAX_KEY_LENGTH: u32 = 64;

/// An HMAC of PBMAC1 (as PBKDF2's PRF or as the messageAuthScheme).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hmac {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hmac {
    fn from_oid(dotted: &str) -> Option<Hmac> {
        Some(match dotted {
            HMAC_SHA1 => Hmac::Sha1,
            oid::HMAC_SHA256 => Hmac::Sha256,
            HMAC_SHA384 => Hmac::Sha384,
            HMAC_SHA512 => Hmac::Sha512,
            _ => return None,
        })
    }

    fn oid(self) -> &'static str {
        match self {
            Hmac::Sha1 => HMAC_SHA1,
            Hmac::Sha256 => oid::HMAC_SHA256,
            Hmac::Sha384 => HMAC_SHA384,
            Hmac::Sha512 => HMAC_SHA512,
        }
    }

    fn output_len(self) -> u32 {
        match self {
            Hmac::Sha1 => 20,
            Hmac::Sha256 => 32,
            Hmac::Sha384 => 48,
            Hmac::Sha512 => 64,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Hmac::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
            Hmac::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Hmac::Sha384 => pbkdf2::PBKDF2_HMAC_SHA384,
            Hmac::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hmac::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Hmac::Sha256 => hmac::HMAC_SHA256,
            Hmac::Sha384 => hmac::HMAC_SHA384,
            Hmac::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// PBMAC1-params with PBKDF2 (the only key derivation RFC 9481 names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pbmac1Params {
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// The derived key's length in bytes.
    pub key_length: u32,
    pub prf: Hmac,
    pub mac: Hmac,
}

// PBMAC1-params ::= SEQUENCE {
//     keyDerivationFunc AlgorithmIdentifier {{PBMAC1-KDFs}},    -- id-PBKDF2
//     messageAuthScheme AlgorithmIdentifier {{PBMAC1-MACs}} }
// PBKDF2-params ::= SEQUENCE {
//     salt CHOICE { specified OCTET STRING, otherSource AlgorithmIdentifier },
//     iterationCount INTEGER (1..MAX),
//     keyLength INTEGER (1..MAX) OPTIONAL,
//     prf AlgorithmIdentifier {{PBKDF2-PRFs}} DEFAULT algid-hmacWithSHA1 }
impl Pbmac1Params {
    /// Decodes PBMAC1-params (the TLV), enforcing the salt, iteration and key bounds.
    pub fn decode(der: &[u8]) -> crate::Result<Pbmac1Params> {
        let seq = asn1::single(der, asn1::SEQUENCE, WHAT)?;
        let mut r = Reader::new(seq.value, WHAT);
        let kdf = AlgId::decode(&r.read(asn1::SEQUENCE, "keyDerivationFunc")?, WHAT)?;
        let mac = AlgId::decode(&r.read(asn1::SEQUENCE, "messageAuthScheme")?, WHAT)?;
        r.finish(WHAT)?;
        if kdf.oid_string() != ID_PBKDF2 {
            return Err(unsupported("PBMAC1 key derivation", &kdf.oid_string()));
        }
        let mac = Hmac::from_oid(&mac.oid_string())
            .ok_or_else(|| unsupported("PBMAC1 MAC", &mac.oid_string()))?;
        let params = kdf
            .params
            .ok_or_else(|| malformed(WHAT, "PBKDF2 without parameters"))?;
        let p = asn1::single(params.raw, asn1::SEQUENCE, WHAT)?;
        let mut r = Reader::new(p.value, WHAT);
        let salt = r
            .read(
                asn1::OCTET_STRING,
                "salt (only a specified salt is accepted)",
            )?
            .value
            .to_vec();
        let iterations = asn1::small_uint(r.read(asn1::INTEGER, "iterationCount")?.value, WHAT)?;
        let key_length = match r.read_optional(asn1::INTEGER)? {
            Some(k) => Some(asn1::small_uint(k.value, WHAT)?),
            None => None,
        };
        let prf = match r.read_optional(asn1::SEQUENCE)? {
            Some(alg) => {
                let alg = AlgId::decode(&alg, WHAT)?;
                Hmac::from_oid(&alg.oid_string())
                    .ok_or_else(|| unsupported("PBKDF2 PRF", &alg.oid_string()))?
            }
            None => Hmac::Sha1,
        };
        r.finish("PBKDF2-params")?;
        check_bounds(WHAT, &salt, iterations)?;
        let key_length = key_length.unwrap_or(mac.output_len());
        if !(16..=MAX_KEY_LENGTH).contains(&key_length) {
            return Err(malformed(
                WHAT,
                format!("keyLength {key_length} outside 16..={MAX_KEY_LENGTH}"),
            ));
        }
        Ok(Pbmac1Params {
            salt,
            iterations,
            key_length,
            prf,
            mac,
        })
    }

    /// The `protectionAlg` AlgorithmIdentifier DER: `id-PBMAC1` with these parameters.
    pub fn algorithm_identifier(&self) -> Vec<u8> {
        let alg = |dotted: &str| {
            let mut c = oid_tlv(dotted);
            c.extend_from_slice(&[asn1::NULL, 0]);
            asn1::tlv(asn1::SEQUENCE, &c)
        };
        let mut kdf = asn1::tlv(asn1::OCTET_STRING, &self.salt);
        kdf.extend(asn1::tlv(
            asn1::INTEGER,
            &uint_bytes(u64::from(self.iterations)),
        ));
        kdf.extend(asn1::tlv(
            asn1::INTEGER,
            &uint_bytes(u64::from(self.key_length)),
        ));
        kdf.extend(alg(self.prf.oid()));
        let mut kdf_alg = oid_tlv(ID_PBKDF2);
        kdf_alg.extend(asn1::tlv(asn1::SEQUENCE, &kdf));
        let mut params = asn1::tlv(asn1::SEQUENCE, &kdf_alg);
        params.extend(alg(self.mac.oid()));
        let mut c = oid_tlv(ID_PBMAC1);
        c.extend(asn1::tlv(asn1::SEQUENCE, &params));
        asn1::tlv(asn1::SEQUENCE, &c)
    }

    fn key(&self, secret: &[u8]) -> hmac::Key {
        let mut key = vec![0u8; self.key_length.min(MAX_KEY_LENGTH) as usize];
        let iterations =
            NonZeroU32::new(self.iterations.clamp(1, MAX_ITERATIONS)).unwrap_or(NonZeroU32::MIN);
        pbkdf2::derive(self.prf.pbkdf2(), iterations, &self.salt, secret, &mut key);
        hmac::Key::new(self.mac.hmac(), &key)
    }
}

/// A shared-secret protection: RFC 4210's password-based MAC or PBMAC1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MacAlgorithm {
    Pbm(PbmParams),
    Pbmac1(Pbmac1Params),
}

impl MacAlgorithm {
    /// The MAC protection a `protectionAlg` AlgorithmIdentifier (TLV) names, or `None` when
    /// it names another algorithm (a signature).
    pub fn from_algorithm_identifier(der: &[u8]) -> crate::Result<Option<MacAlgorithm>> {
        let alg = AlgId::decode(&asn1::single(der, asn1::SEQUENCE, WHAT)?, WHAT)?;
        let params = || {
            alg.params
                .as_ref()
                .map(|p| p.raw)
                .ok_or_else(|| malformed(WHAT, "MAC protection without parameters"))
        };
        Ok(match alg.oid_string().as_str() {
            oid::PASSWORD_BASED_MAC => Some(MacAlgorithm::Pbm(PbmParams::decode(params()?)?)),
            ID_PBMAC1 => Some(MacAlgorithm::Pbmac1(Pbmac1Params::decode(params()?)?)),
            _ => None,
        })
    }

    /// The same parameters with a fresh random 16-byte salt (for a response).
    pub fn with_fresh_salt(&self) -> crate::Result<MacAlgorithm> {
        Ok(match self {
            MacAlgorithm::Pbm(p) => MacAlgorithm::Pbm(p.with_fresh_salt()?),
            MacAlgorithm::Pbmac1(p) => MacAlgorithm::Pbmac1(Pbmac1Params {
                salt: fresh_salt()?,
                ..p.clone()
            }),
        })
    }

    /// The `protectionAlg` AlgorithmIdentifier DER.
    pub fn algorithm_identifier(&self) -> Vec<u8> {
        match self {
            MacAlgorithm::Pbm(p) => p.algorithm_identifier(),
            MacAlgorithm::Pbmac1(p) => p.algorithm_identifier(),
        }
    }

    /// The MAC of `data` under `secret`.
    pub fn mac(&self, secret: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            MacAlgorithm::Pbm(p) => p.mac(secret, data),
            MacAlgorithm::Pbmac1(p) => hmac::sign(&p.key(secret), data).as_ref().to_vec(),
        }
    }

    /// Checks `tag` is the MAC of `data` under `secret` (constant-time comparison);
    /// [`Error::BadSignature`] otherwise.
    pub fn verify(&self, secret: &[u8], data: &[u8], tag: &[u8]) -> crate::Result<()> {
        match self {
            MacAlgorithm::Pbm(p) => p.verify(secret, data, tag),
            MacAlgorithm::Pbmac1(p) => {
                hmac::verify(&p.key(secret), data, tag).map_err(|_| Error::BadSignature)
            }
        }
    }
}

fn unsupported(what: &'static str, detail: &str) -> Error {
    Error::Unsupported {
        what,
        detail: detail.to_string(),
    }
}
