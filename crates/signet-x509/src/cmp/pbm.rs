//! Password-based MAC protection (RFC 4210 §5.1.3.1, `id-PasswordBasedMac`).
//!
//! The key is the one-way function applied `iterationCount` times, first to
//! `secret || salt`, then to its own output; the MAC is HMAC with that key over the DER of
//! the ProtectedPart.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::{digest, hmac};

use crate::asn1::{self, AlgId, Reader, malformed};
use crate::{Error, cmp::oid};

/// Largest iterationCount accepted: the count is attacker-chosen and costs one hash each.
pub const MAX_ITERATIONS: u32 = 100_000;
/// Smallest iterationCount accepted (RFC 4210 requires at least 100).
pub const MIN_ITERATIONS: u32 = 100;
/// Largest salt accepted.
pub const MAX_SALT: usize = 64;

const WHAT: &str = "PBMParameter";

/// The one-way function (`owf`) of a PBM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PbmOwf {
    /// SHA-256 (what OpenSSL sends).
    Sha256,
    /// SHA-1 (older clients).
    Sha1,
}

/// The MAC algorithm of a PBM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PbmMac {
    /// `hmac-sha1` (the OpenSSL default).
    HmacSha1,
    /// `hmacWithSHA256`.
    HmacSha256,
}

/// `PBMParameter ::= SEQUENCE { salt, owf, iterationCount, mac }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PbmParams {
    /// The salt octets.
    pub salt: Vec<u8>,
    /// The one-way function.
    pub owf: PbmOwf,
    /// How many times the owf is applied.
    pub iterations: u32,
    /// The MAC algorithm.
    pub mac: PbmMac,
}

const SHA256_OID: &str = "2.16.840.1.101.3.4.2.1";
const SHA1_OID: &str = "1.3.14.3.2.26";

impl PbmParams {
    /// Decodes a PBMParameter TLV, enforcing the salt and iteration bounds.
    pub fn decode(der: &[u8]) -> crate::Result<PbmParams> {
        let seq = asn1::single(der, asn1::SEQUENCE, WHAT)?;
        let mut r = Reader::new(seq.value, WHAT);
        let salt = r.read(asn1::OCTET_STRING, "salt")?.value.to_vec();
        let owf = AlgId::decode(&r.read(asn1::SEQUENCE, "owf")?, WHAT)?;
        let iterations = asn1::small_uint(r.read(asn1::INTEGER, "iterationCount")?.value, WHAT)?;
        let mac = AlgId::decode(&r.read(asn1::SEQUENCE, "mac")?, WHAT)?;
        r.finish("PBMParameter")?;
        check_bounds(WHAT, &salt, iterations)?;
        let owf = match owf.oid_string().as_str() {
            SHA256_OID => PbmOwf::Sha256,
            SHA1_OID => PbmOwf::Sha1,
            other => return Err(unsupported("PBM one-way function", other)),
        };
        let mac = match mac.oid_string().as_str() {
            oid::HMAC_SHA1 => PbmMac::HmacSha1,
            oid::HMAC_SHA256 => PbmMac::HmacSha256,
            other => return Err(unsupported("PBM MAC algorithm", other)),
        };
        Ok(PbmParams {
            salt,
            owf,
            iterations,
            mac,
        })
    }

    /// OpenSSL's defaults (sha256, 500 iterations, hmac-sha1) with a fresh 16-byte salt.
    pub fn fresh() -> crate::Result<PbmParams> {
        PbmParams {
            salt: Vec::new(),
            owf: PbmOwf::Sha256,
            iterations: 500,
            mac: PbmMac::HmacSha1,
        }
        .with_fresh_salt()
    }

    /// The same parameters with a fresh random 16-byte salt (for a response).
    pub fn with_fresh_salt(&self) -> crate::Result<PbmParams> {
        Ok(PbmParams {
            salt: fresh_salt()?,
            ..self.clone()
        })
    }

    /// The `protectionAlg` AlgorithmIdentifier DER: `id-PasswordBasedMac` with these
    /// parameters.
    pub fn algorithm_identifier(&self) -> Vec<u8> {
        let alg = |dotted: &str, null: bool| {
            let mut c = oid_tlv(dotted);
            if null {
                c.extend_from_slice(&[asn1::NULL, 0]);
            }
            asn1::tlv(asn1::SEQUENCE, &c)
        };
        let mut p = asn1::tlv(asn1::OCTET_STRING, &self.salt);
        p.extend(match self.owf {
            PbmOwf::Sha256 => alg(SHA256_OID, false),
            PbmOwf::Sha1 => alg(SHA1_OID, false),
        });
        p.extend(asn1::tlv(
            asn1::INTEGER,
            &uint_bytes(u64::from(self.iterations)),
        ));
        p.extend(match self.mac {
            PbmMac::HmacSha1 => alg(oid::HMAC_SHA1, false),
            PbmMac::HmacSha256 => alg(oid::HMAC_SHA256, true),
        });
        let mut c = oid_tlv(oid::PASSWORD_BASED_MAC);
        c.extend(asn1::tlv(asn1::SEQUENCE, &p));
        asn1::tlv(asn1::SEQUENCE, &c)
    }

    fn key(&self, secret: &[u8]) -> hmac::Key {
        let owf = match self.owf {
            PbmOwf::Sha256 => &digest::SHA256,
            PbmOwf::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        };
        let mut ctx = digest::Context::new(owf);
        ctx.update(secret);
        ctx.update(&self.salt);
        let mut k = ctx.finish();
        for _ in 1..self.iterations.min(MAX_ITERATIONS) {
            k = digest::digest(owf, k.as_ref());
        }
        let mac = match self.mac {
            PbmMac::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            PbmMac::HmacSha256 => hmac::HMAC_SHA256,
        };
        hmac::Key::new(mac, k.as_ref())
    }

    /// The MAC of `data` under `secret`.
    pub fn mac(&self, secret: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&self.key(secret), data).as_ref().to_vec()
    }

    /// Checks `tag` is the MAC of `data` under `secret` (constant-time comparison);
    /// [`Error::BadSignature`] otherwise.
    pub fn verify(&self, secret: &[u8], data: &[u8], tag: &[u8]) -> crate::Result<()> {
        hmac::verify(&self.key(secret), data, tag).map_err(|_| Error::BadSignature)
    }
}

/// The salt and iteration bounds both shared-secret protections enforce: the values are
/// chosen by whoever sent the message, and each iteration costs a hash.
pub(crate) fn check_bounds(what: &'static str, salt: &[u8], iterations: u32) -> crate::Result<()> {
    if salt.is_empty() || salt.len() > MAX_SALT {
        return Err(malformed(what, format!("salt of {} bytes", salt.len())));
    }
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(malformed(
            what,
            format!("iterationCount {iterations} outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"),
        ));
    }
    Ok(())
}

/// A fresh random 16-byte salt (for a response's MAC).
pub(crate) fn fresh_salt() -> crate::Result<Vec<u8>> {
    let mut salt = vec![0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| Error::Unsupported {
            what: "random source",
            detail: "the system random generator failed".into(),
        })?;
    Ok(salt)
}

fn unsupported(what: &'static str, detail: &str) -> Error {
    Error::Unsupported {
        what,
        detail: detail.to_string(),
    }
}

pub(crate) fn oid_tlv(dotted: &str) -> Vec<u8> {
    let mut v = Vec::new();
    // The OIDs passed here are constants of this module.
    let _ = asn1::oid_from_dotted(dotted, &mut v);
    asn1::tlv(asn1::OID, &v)
}

/// Minimal unsigned INTEGER content octets.
pub(crate) fn uint_bytes(v: u64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let start = b.iter().position(|&x| x != 0).unwrap_or(7);
    let mut out = Vec::with_capacity(9);
    if b[start] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&b[start..]);
    out
}
