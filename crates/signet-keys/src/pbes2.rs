//! PKCS#8 `EncryptedPrivateKeyInfo` (RFC 5958 section 3) with PBES2 (RFC 8018 section 6.2):
//! PBKDF2 derives an AES key from the passphrase, AES-CBC with PKCS#7 padding encrypts the
//! DER `PrivateKeyInfo`.
//!
//! We write PBKDF2-HMAC-SHA256 with a random 16-byte salt and [`PBKDF2_ITERATIONS`]
//! iterations, and AES-256-CBC with a random IV: byte for byte the format of
//! `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256`. We read that, and also the
//! other PBES2 combinations OpenSSL writes (PRF HMAC-SHA-1/256/384/512, AES-128/192/256-CBC),
//! with any iteration count up to [`MAX_ITERATIONS`]. scrypt and the old PBES1 schemes are
//! refused with [`KeyError::Unsupported`].

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    self, DecryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::pbkdf2;
use der::asn1::{AnyRef, Null, OctetStringRef};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use crate::KeyError;
use crate::oid;

/// PBKDF2-HMAC-SHA256 iterations used when writing an encrypted key.
///
/// OWASP's Password Storage Cheat Sheet recommends 600,000 for PBKDF2-HMAC-SHA256; we follow
/// it. A CA key is decrypted once per process start, so the cost (a few hundred milliseconds)
/// is paid rarely, while an attacker who steals the file pays it per guess.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// The largest iteration count accepted when reading, so a hostile file cannot make loading
/// hang for minutes. OpenSSL's own default when writing is 2,048.
pub(crate) const MAX_ITERATIONS: u32 = 10_000_000;

const SALT_LEN: usize = 16;
const AES_BLOCK_LEN: usize = 16;

/// Encrypts a DER `PrivateKeyInfo` under `passphrase`; returns the DER
/// `EncryptedPrivateKeyInfo`.
pub(crate) fn encrypt(
    private_key_info: &[u8],
    passphrase: &[u8],
    iterations: u32,
) -> Result<Vec<u8>, KeyError> {
    if passphrase.is_empty() {
        return Err(KeyError::Unsupported(
            "an empty passphrase for an encrypted key".into(),
        ));
    }
    let iterations = NonZeroU32::new(iterations)
        .ok_or_else(|| KeyError::Crypto("PBKDF2 iteration count of zero".into()))?;

    let mut salt = [0u8; SALT_LEN];
    aws_lc_rs::rand::fill(&mut salt)
        .map_err(|_| KeyError::Crypto("the system random generator failed".into()))?;

    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        passphrase,
        key.as_mut(),
    );
    let cipher = UnboundCipherKey::new(&cipher::AES_256, key.as_ref())
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| KeyError::Crypto("setting up AES-256-CBC".into()))?;

    // Reserve room for the padding up front: if the vector had to grow while padding, the
    // old allocation holding the plaintext would be freed without being wiped.
    let mut buf = Zeroizing::new(Vec::with_capacity(private_key_info.len() + AES_BLOCK_LEN));
    buf.extend_from_slice(private_key_info);
    // `encrypt` draws a fresh random IV and returns it as the decryption context.
    let context = cipher
        .encrypt(&mut *buf)
        .map_err(|_| KeyError::Crypto("AES-256-CBC encryption".into()))?;
    let iv: &[u8] = (&context)
        .try_into()
        .map_err(|_| KeyError::Crypto("AES-256-CBC produced no IV".into()))?;

    encode(&salt, iterations.get(), iv, &buf)
        .map_err(|e| KeyError::Crypto(format!("encoding the EncryptedPrivateKeyInfo: {e}")))
}

/// Decrypts a DER `EncryptedPrivateKeyInfo`; returns the DER `PrivateKeyInfo` it holds.
///
/// A padding error is reported as [`KeyError::WrongPassphrase`]. About one wrong passphrase
/// in 256 still yields valid padding; the caller catches those when the result does not
/// parse as a `PrivateKeyInfo`.
pub(crate) fn decrypt(
    encrypted_private_key_info: &[u8],
    passphrase: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let malformed = |what: &str| KeyError::Malformed(format!("EncryptedPrivateKeyInfo: {what}"));

    let info = EncryptedPrivateKeyInfo::from_der(encrypted_private_key_info)
        .map_err(|e| malformed(&e.to_string()))?;
    let scheme = info.encryption_algorithm;
    if scheme.oid != oid::ID_PBES2 {
        return Err(KeyError::Unsupported(format!(
            "key encryption scheme {} (only PBES2; re-encrypt with `openssl pkcs8 -topk8 -v2 \
             aes-256-cbc -v2prf hmacWithSHA256`)",
            scheme.oid
        )));
    }
    let pbes2: Pbes2Params<'_> = decode_params(&scheme, "PBES2-params")?;

    // Key derivation: PBKDF2 only.
    let kdf = pbes2.key_derivation_func;
    if kdf.oid == oid::ID_SCRYPT {
        return Err(KeyError::Unsupported(
            "scrypt key derivation (only PBKDF2)".into(),
        ));
    }
    if kdf.oid != oid::ID_PBKDF2 {
        return Err(KeyError::Unsupported(format!(
            "key derivation function {} (only PBKDF2)",
            kdf.oid
        )));
    }
    let pbkdf2_params: Pbkdf2Params<'_> = decode_params(&kdf, "PBKDF2-params")?;
    let prf = match pbkdf2_params.prf {
        // prf ... DEFAULT algid-hmacWithSHA1
        None => pbkdf2::PBKDF2_HMAC_SHA1,
        Some(prf) => {
            if prf.parameters.is_some_and(|p| !p.is_null()) {
                return Err(malformed("PRF parameters other than NULL"));
            }
            match prf.oid {
                o if o == oid::HMAC_WITH_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
                o if o == oid::HMAC_WITH_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
                o if o == oid::HMAC_WITH_SHA384 => pbkdf2::PBKDF2_HMAC_SHA384,
                o if o == oid::HMAC_WITH_SHA512 => pbkdf2::PBKDF2_HMAC_SHA512,
                other => {
                    return Err(KeyError::Unsupported(format!("PBKDF2 PRF {other}")));
                }
            }
        }
    };
    let iterations = match NonZeroU32::new(pbkdf2_params.iteration_count) {
        Some(n) if n.get() <= MAX_ITERATIONS => n,
        Some(_) => {
            return Err(KeyError::Unsupported(format!(
                "a PBKDF2 iteration count above {MAX_ITERATIONS}"
            )));
        }
        None => return Err(malformed("PBKDF2 iteration count of zero")),
    };

    // Encryption scheme: AES-CBC with a 16-byte IV.
    let enc = pbes2.encryption_scheme;
    let (aes, key_len): (&'static cipher::Algorithm, usize) = match enc.oid {
        o if o == oid::AES256_CBC => (&cipher::AES_256, 32),
        o if o == oid::AES192_CBC => (&cipher::AES_192, 24),
        o if o == oid::AES128_CBC => (&cipher::AES_128, 16),
        other => {
            return Err(KeyError::Unsupported(format!(
                "PBES2 encryption scheme {other} (only AES-CBC)"
            )));
        }
    };
    if let Some(len) = pbkdf2_params.key_length
        && usize::try_from(len).ok() != Some(key_len)
    {
        return Err(malformed("PBKDF2 keyLength does not match the cipher"));
    }
    let iv: &OctetStringRef = decode_params(&enc, "AES-IV")?;
    let iv: [u8; AES_BLOCK_LEN] = iv
        .as_bytes()
        .try_into()
        .map_err(|_| malformed("the AES IV is not 16 bytes"))?;

    let ciphertext = info.encrypted_data.as_bytes();
    if ciphertext.is_empty() || ciphertext.len() % AES_BLOCK_LEN != 0 {
        return Err(malformed(
            "encryptedData is not a whole number of AES blocks",
        ));
    }

    let mut key = Zeroizing::new([0u8; 32]);
    let key = &mut key[..key_len];
    pbkdf2::derive(
        prf,
        iterations,
        pbkdf2_params.salt.as_bytes(),
        passphrase,
        key,
    );
    let cipher = UnboundCipherKey::new(aes, key)
        .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
        .map_err(|_| KeyError::Crypto("setting up AES-CBC".into()))?;

    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = cipher
        .decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| KeyError::WrongPassphrase)?
        .len();
    // `Zeroizing<Vec<u8>>` wipes the whole capacity on drop, padding included.
    buf.truncate(plaintext_len);
    Ok(buf)
}

/// Writes the `EncryptedPrivateKeyInfo` for PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC.
fn encode(salt: &[u8], iterations: u32, iv: &[u8], ciphertext: &[u8]) -> der::Result<Vec<u8>> {
    // OpenSSL writes NULL parameters for the PRF, and so do we. keyLength is omitted:
    // AES-256 has a fixed key size.
    let hmac_sha256 = AlgorithmIdentifierRef {
        oid: oid::HMAC_WITH_SHA256,
        parameters: Some(AnyRef::from(Null)),
    };
    let pbkdf2_params = Pbkdf2Params {
        salt: OctetStringRef::new(salt)?,
        iteration_count: iterations,
        key_length: None,
        prf: Some(hmac_sha256),
    }
    .to_der()?;
    let pbes2_params = Pbes2Params {
        key_derivation_func: AlgorithmIdentifierRef {
            oid: oid::ID_PBKDF2,
            parameters: Some(AnyRef::try_from(pbkdf2_params.as_slice())?),
        },
        encryption_scheme: AlgorithmIdentifierRef {
            oid: oid::AES256_CBC,
            parameters: Some(AnyRef::from(OctetStringRef::new(iv)?)),
        },
    }
    .to_der()?;
    EncryptedPrivateKeyInfo {
        encryption_algorithm: AlgorithmIdentifierRef {
            oid: oid::ID_PBES2,
            parameters: Some(AnyRef::try_from(pbes2_params.as_slice())?),
        },
        encrypted_data: OctetStringRef::new(ciphertext)?,
    }
    .to_der()
}

/// Decodes the parameters of an `AlgorithmIdentifier` as `T`; they must be present.
fn decode_params<'a, T>(alg: &AlgorithmIdentifierRef<'a>, what: &str) -> Result<T, KeyError>
where
    T: der::Choice<'a> + der::DecodeValue<'a, Error = der::Error>,
{
    let malformed =
        |detail: String| KeyError::Malformed(format!("EncryptedPrivateKeyInfo: {what}{detail}"));
    alg.parameters
        .ok_or_else(|| malformed(" missing".into()))?
        .decode_as::<T>()
        .map_err(|e| malformed(format!(": {e}")))
}

// RFC 5958 section 3:
//
// EncryptedPrivateKeyInfo ::= SEQUENCE {
//   encryptionAlgorithm  EncryptionAlgorithmIdentifier,
//   encryptedData        EncryptedData }
//
// EncryptionAlgorithmIdentifier ::= AlgorithmIdentifier
//                                    { CONTENT-ENCRYPTION,
//                                      { KeyEncryptionAlgorithms } }
//
// EncryptedData ::= OCTET STRING
#[derive(Sequence)]
struct EncryptedPrivateKeyInfo<'a> {
    encryption_algorithm: AlgorithmIdentifierRef<'a>,
    encrypted_data: &'a OctetStringRef,
}

// RFC 8018 appendix A.4:
//
// PBES2-params ::= SEQUENCE {
//   keyDerivationFunc AlgorithmIdentifier {{PBES2-KDFs}},
//   encryptionScheme AlgorithmIdentifier {{PBES2-Encs}} }
#[derive(Sequence)]
struct Pbes2Params<'a> {
    key_derivation_func: AlgorithmIdentifierRef<'a>,
    encryption_scheme: AlgorithmIdentifierRef<'a>,
}

// RFC 8018 appendix A.2:
//
// PBKDF2-params ::= SEQUENCE {
//   salt CHOICE {
//     specified OCTET STRING,
//     otherSource AlgorithmIdentifier {{PBKDF2-SaltSources}}
//   },
//   iterationCount INTEGER (1..MAX),
//   keyLength INTEGER (1..MAX) OPTIONAL,
//   prf AlgorithmIdentifier {{PBKDF2-PRFs}} DEFAULT algid-hmacWithSHA1 }
//
// Only the `specified` salt is used in practice (RFC 8018 reserves `otherSource`); a file with
// another salt fails to decode. The DEFAULT prf is modelled as OPTIONAL, so an explicit
// hmacWithSHA1 (not strictly DER) is accepted too.
//
// RFC 8018 appendix B.2.5 and RFC 3565: the AES-CBC parameters are
//   AES-IV ::= OCTET STRING (SIZE(16))
#[derive(Sequence)]
struct Pbkdf2Params<'a> {
    salt: &'a OctetStringRef,
    iteration_count: u32,
    #[asn1(optional = "true")]
    key_length: Option<u32>,
    #[asn1(optional = "true")]
    prf: Option<AlgorithmIdentifierRef<'a>>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use der::asn1::ObjectIdentifier;

    const FAST: u32 = 1_000;

    #[test]
    fn round_trip() {
        let secret = b"a private key info, pretend";
        let der = encrypt(secret, b"correct horse", FAST).unwrap();
        let back = decrypt(&der, b"correct horse").unwrap();
        assert_eq!(&back[..], secret);
    }

    #[test]
    fn writes_pbes2_pbkdf2_sha256_aes256cbc() {
        let der = encrypt(b"x", b"pw", FAST).unwrap();
        let info = EncryptedPrivateKeyInfo::from_der(&der).unwrap();
        assert_eq!(info.encryption_algorithm.oid, oid::ID_PBES2);
        let pbes2: Pbes2Params<'_> = decode_params(&info.encryption_algorithm, "p").unwrap();
        assert_eq!(pbes2.key_derivation_func.oid, oid::ID_PBKDF2);
        assert_eq!(pbes2.encryption_scheme.oid, oid::AES256_CBC);
        let kdf: Pbkdf2Params<'_> = decode_params(&pbes2.key_derivation_func, "k").unwrap();
        assert_eq!(kdf.salt.as_bytes().len(), SALT_LEN);
        assert_eq!(kdf.iteration_count, FAST);
        assert_eq!(kdf.prf.unwrap().oid, oid::HMAC_WITH_SHA256);
        let iv: &OctetStringRef = decode_params(&pbes2.encryption_scheme, "iv").unwrap();
        assert_eq!(iv.as_bytes().len(), 16);
    }

    #[test]
    fn salt_and_iv_are_fresh_each_time() {
        let a = encrypt(b"same", b"pw", FAST).unwrap();
        let b = encrypt(b"same", b"pw", FAST).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_passphrase_is_reported_as_such() {
        let der = encrypt(&[7u8; 100], b"right", FAST).unwrap();
        // A wrong passphrase breaks the padding, except about 1 time in 256; try a few so the
        // test does not depend on luck, and accept only WrongPassphrase or garbage plaintext.
        let mut wrong = 0;
        for guess in [&b"wrong"[..], b"Right", b"right ", b"r"] {
            match decrypt(&der, guess) {
                Err(KeyError::WrongPassphrase) => wrong += 1,
                Ok(plain) => assert_ne!(&plain[..], &[7u8; 100][..]),
                Err(other) => panic!("unexpected error {other:?}"),
            }
        }
        assert!(wrong >= 3);
    }

    #[test]
    fn empty_passphrase_is_refused_when_writing() {
        assert!(matches!(
            encrypt(b"x", b"", FAST),
            Err(KeyError::Unsupported(_))
        ));
    }

    #[test]
    fn huge_iteration_count_is_refused_before_deriving() {
        let der = encode(&[1; 16], MAX_ITERATIONS + 1, &[2; 16], &[3; 32]).unwrap();
        assert!(matches!(
            decrypt(&der, b"pw"),
            Err(KeyError::Unsupported(_))
        ));
    }

    #[test]
    fn ciphertext_not_a_block_multiple_is_malformed() {
        let der = encode(&[1; 16], FAST, &[2; 16], &[3; 33]).unwrap();
        assert!(matches!(decrypt(&der, b"pw"), Err(KeyError::Malformed(_))));
        let der = encode(&[1; 16], FAST, &[2; 16], &[]).unwrap();
        assert!(matches!(decrypt(&der, b"pw"), Err(KeyError::Malformed(_))));
    }

    #[test]
    fn bad_iv_length_is_malformed() {
        let der = encode(&[1; 16], FAST, &[2; 8], &[3; 32]).unwrap();
        assert!(matches!(decrypt(&der, b"pw"), Err(KeyError::Malformed(_))));
    }

    #[test]
    fn pbes1_is_unsupported() {
        // pbeWithSHA1AndDES-CBC (PKCS#5 v1.5) with some parameters.
        let info = EncryptedPrivateKeyInfo {
            encryption_algorithm: AlgorithmIdentifierRef {
                oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.10"),
                parameters: Some(AnyRef::from(Null)),
            },
            encrypted_data: OctetStringRef::new(&[0; 16]).unwrap(),
        }
        .to_der()
        .unwrap();
        assert!(matches!(
            decrypt(&info, b"pw"),
            Err(KeyError::Unsupported(_))
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        for junk in [
            &[][..],
            &[0x30, 0x00],
            &[0x30, 0x80, 0x00, 0x00],
            &[0xff; 40],
        ] {
            assert!(matches!(decrypt(junk, b"pw"), Err(KeyError::Malformed(_))));
        }
    }
}
