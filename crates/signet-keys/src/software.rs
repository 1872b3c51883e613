//! [`SoftwareKey`]: a private key held in process memory by aws-lc-rs.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, ML_DSA_65_SIGNING, PqdsaKeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair,
};
use der::pem::{self, LineEnding};
use signet_core::{Signer, SignerError};
use signet_x509::{KeyAlgorithm, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::KeyError;
use crate::pbes2;
use crate::pkcs8::{self, Pkcs8Algorithm};

const LABEL_ENCRYPTED: &str = "ENCRYPTED PRIVATE KEY";
const LABEL_PLAIN: &str = "PRIVATE KEY";

/// A signing key held in memory: P-256, P-384, Ed25519, RSA 2048/3072/4096 or ML-DSA-65.
///
/// Signatures are what X.509 wants: DER `Ecdsa-Sig-Value` for ECDSA (SHA-256 with P-256,
/// SHA-384 with P-384), PKCS#1 v1.5 with SHA-256 for RSA, raw for Ed25519 and ML-DSA-65 (pure
/// mode, empty context). The key is `Send + Sync` and [`Signer::sign`] takes `&self`, so one
/// key can sign from many threads at once.
///
/// `Debug` shows the algorithm only.
pub struct SoftwareKey {
    pair: Pair,
    algorithm: KeyAlgorithm,
    /// The SubjectPublicKeyInfo DER, computed once.
    spki: Vec<u8>,
    /// What it signs with: the key's own algorithm, or RSASSA-PSS (SHA-256, MGF1-SHA-256,
    /// 32-byte salt) for an RSA key ([`SoftwareKey::with_rsa_pss`]).
    signature: SignatureAlgorithm,
}

/// The aws-lc-rs key pair. Each of these is `Send + Sync`. The private key is wiped when the
/// pair is dropped: aws-lc's `OPENSSL_free` runs `OPENSSL_cleanse` over every allocation.
enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
    MlDsa65(PqdsaKeyPair),
}

impl SoftwareKey {
    /// Generates a fresh key. RSA sizes other than 2048, 3072 and 4096 bits are refused.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<SoftwareKey, KeyError> {
        let failed = |_| KeyError::Crypto(format!("generating a {algorithm} key"));
        let pair = match algorithm {
            KeyAlgorithm::P256 => Pair::Ecdsa(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(failed)?,
            ),
            KeyAlgorithm::P384 => Pair::Ecdsa(
                EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).map_err(failed)?,
            ),
            KeyAlgorithm::Ed25519 => Pair::Ed25519(Ed25519KeyPair::generate().map_err(failed)?),
            KeyAlgorithm::Rsa { bits } => {
                let size = rsa_key_size(bits)?;
                Pair::Rsa(RsaKeyPair::generate(size).map_err(failed)?)
            }
            KeyAlgorithm::MlDsa65 => {
                Pair::MlDsa65(PqdsaKeyPair::generate(&ML_DSA_65_SIGNING).map_err(failed)?)
            }
        };
        SoftwareKey::new(pair, algorithm)
    }

    /// Reads a PKCS#8 private key from PEM: either `-----BEGIN ENCRYPTED PRIVATE KEY-----`
    /// (PBES2, as written by [`SoftwareKey::to_encrypted_pem`] or by `openssl pkcs8 -topk8
    /// -v2 aes-256-cbc`), which needs `passphrase`, or `-----BEGIN PRIVATE KEY-----`, for
    /// which the passphrase is ignored. The algorithm comes from the PKCS#8
    /// AlgorithmIdentifier.
    ///
    /// Errors: [`KeyError::PassphraseRequired`] for an encrypted key without a passphrase,
    /// [`KeyError::WrongPassphrase`] when decryption fails or yields something that is not a
    /// private key, [`KeyError::Unsupported`] for other algorithms, curves, RSA sizes and
    /// encryption schemes (and the pre-PKCS#8 `EC PRIVATE KEY`/`RSA PRIVATE KEY` forms),
    /// [`KeyError::Malformed`] for anything else that does not parse.
    pub fn from_pem(pem: &[u8], passphrase: Option<&[u8]>) -> Result<SoftwareKey, KeyError> {
        let pem = pem.trim_ascii();
        let (label, der) = pem::decode_vec(pem)
            .map_err(|e| KeyError::Malformed(format!("not a PEM document: {e}")))?;
        let der = Zeroizing::new(der);
        match label {
            LABEL_ENCRYPTED => {
                let passphrase = passphrase.ok_or(KeyError::PassphraseRequired)?;
                let plain = pbes2::decrypt(&der, passphrase)?;
                SoftwareKey::from_pkcs8(&plain, Origin::Decrypted)
            }
            LABEL_PLAIN => SoftwareKey::from_pkcs8(&der, Origin::Plain),
            "EC PRIVATE KEY" | "RSA PRIVATE KEY" => Err(KeyError::Unsupported(format!(
                "the legacy `{label}` PEM form; convert it to PKCS#8 with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256`"
            ))),
            other => Err(KeyError::Malformed(format!(
                "PEM label `{other}` (expected `{LABEL_ENCRYPTED}` or `{LABEL_PLAIN}`)"
            ))),
        }
    }

    /// The key as a PKCS#8 `EncryptedPrivateKeyInfo` PEM (`-----BEGIN ENCRYPTED PRIVATE
    /// KEY-----`): PBES2 with PBKDF2-HMAC-SHA256 ([`crate::PBKDF2_ITERATIONS`] iterations,
    /// random 16-byte salt) and AES-256-CBC (random IV). OpenSSL reads it with
    /// `openssl pkey -in key.pem`. An empty passphrase is refused.
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<String, KeyError> {
        self.to_encrypted_pem_with_iterations(passphrase, pbes2::PBKDF2_ITERATIONS)
    }

    /// The key as an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). For development
    /// set-ups only: anyone who can read the file holds the key.
    pub fn to_unencrypted_pem(&self) -> Result<String, KeyError> {
        let der = self.pkcs8_der()?;
        pem::encode_string(LABEL_PLAIN, LineEnding::LF, &der)
            .map_err(|e| KeyError::Crypto(format!("PEM encoding: {e}")))
    }

    /// The same RSA key, signing RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte
    /// salt (the parameters the CA/Browser Forum's requirements allow) instead of PKCS#1
    /// v1.5. Refused for other key types.
    pub fn with_rsa_pss(mut self) -> Result<SoftwareKey, KeyError> {
        self.signature = self.algorithm.rsa_pss_signature().ok_or_else(|| {
            KeyError::Unsupported(format!("RSASSA-PSS with a {} key", self.algorithm))
        })?;
        Ok(self)
    }

    /// The algorithm and size of this key.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    pub(crate) fn to_encrypted_pem_with_iterations(
        &self,
        passphrase: &[u8],
        iterations: u32,
    ) -> Result<String, KeyError> {
        let der = self.pkcs8_der()?;
        let encrypted = pbes2::encrypt(&der, passphrase, iterations)?;
        pem::encode_string(LABEL_ENCRYPTED, LineEnding::LF, &encrypted)
            .map_err(|e| KeyError::Crypto(format!("PEM encoding: {e}")))
    }

    fn new(pair: Pair, algorithm: KeyAlgorithm) -> Result<SoftwareKey, KeyError> {
        // aws-lc-rs hands out the uncompressed point (ECDSA), the raw key (Ed25519, ML-DSA)
        // or the PKCS#1 RSAPublicKey DER (RSA); spki_der wraps each in its SPKI.
        let public_key: &[u8] = match &pair {
            Pair::Ecdsa(k) => k.public_key().as_ref(),
            Pair::Ed25519(k) => k.public_key().as_ref(),
            Pair::Rsa(k) => k.public_key().as_ref(),
            Pair::MlDsa65(k) => k.public_key().as_ref(),
        };
        let spki = pkcs8::spki_der(algorithm, public_key)?;
        Ok(SoftwareKey {
            pair,
            signature: algorithm.signature_algorithm(),
            algorithm,
            spki,
        })
    }

    /// Loads a DER `PrivateKeyInfo`. `origin` says whether it was just decrypted, in which
    /// case bytes that are not a `PrivateKeyInfo` mean the passphrase was wrong.
    fn from_pkcs8(der: &[u8], origin: Origin) -> Result<SoftwareKey, KeyError> {
        let family = pkcs8::algorithm_of(der).map_err(|e| match origin {
            Origin::Decrypted => KeyError::WrongPassphrase,
            Origin::Plain => KeyError::Malformed(format!("not a PKCS#8 PrivateKeyInfo: {e}")),
        })??;
        let rejected = |name: &str, e: aws_lc_rs::error::KeyRejected| {
            KeyError::Malformed(format!("{name} private key rejected: {e}"))
        };
        match family {
            Pkcs8Algorithm::P256 => {
                let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
                    .map_err(|e| rejected("P-256", e))?;
                SoftwareKey::new(Pair::Ecdsa(k), KeyAlgorithm::P256)
            }
            Pkcs8Algorithm::P384 => {
                let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der)
                    .map_err(|e| rejected("P-384", e))?;
                SoftwareKey::new(Pair::Ecdsa(k), KeyAlgorithm::P384)
            }
            Pkcs8Algorithm::Ed25519 => {
                let k = Ed25519KeyPair::from_pkcs8(der).map_err(|e| rejected("Ed25519", e))?;
                SoftwareKey::new(Pair::Ed25519(k), KeyAlgorithm::Ed25519)
            }
            Pkcs8Algorithm::Rsa => {
                let k = RsaKeyPair::from_pkcs8(der).map_err(|e| match e.description_() {
                    // aws-lc refuses moduli under 2048 or over 8192 bits this way.
                    "TooSmall" | "TooLarge" => KeyError::Unsupported(
                        "an RSA key of this size (only 2048, 3072 and 4096 bits)".into(),
                    ),
                    _ => rejected("RSA", e),
                })?;
                let bits = u32::try_from(k.public_modulus_len() * 8)
                    .map_err(|_| KeyError::Unsupported("an RSA modulus this large".into()))?;
                rsa_key_size(bits)?;
                SoftwareKey::new(Pair::Rsa(k), KeyAlgorithm::Rsa { bits })
            }
            Pkcs8Algorithm::MlDsa65 => {
                let k = PqdsaKeyPair::from_pkcs8(&ML_DSA_65_SIGNING, der)
                    .map_err(|e| rejected("ML-DSA-65", e))?;
                SoftwareKey::new(Pair::MlDsa65(k), KeyAlgorithm::MlDsa65)
            }
        }
    }

    /// The unencrypted PKCS#8 v1 DER, wiped when dropped.
    /// For keys that do more than sign: the SCEP RA key also decrypts what devices send.
    pub fn pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let failed = |_| KeyError::Crypto(format!("serializing the {} key", self.algorithm));
        // Each of these aws-lc-rs documents wipes itself on drop; the copy is ours to wipe.
        let der = match &self.pair {
            Pair::Ecdsa(k) => Zeroizing::new(k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()),
            // v1 (no public key), the form `openssl genpkey` writes and every reader accepts.
            Pair::Ed25519(k) => Zeroizing::new(k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()),
            Pair::Rsa(k) => {
                let doc: Pkcs8V1Der<'static> = k.as_der().map_err(failed)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
            // aws-lc writes the 32-byte seed form of the ML-DSA private key.
            Pair::MlDsa65(k) => Zeroizing::new(k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()),
        };
        Ok(der)
    }
}

impl Signer for SoftwareKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.signature
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let failed = |_| SignerError::Failed(format!("{} signing failed", self.algorithm));
        // aws-lc-rs ignores the `rng` argument of the ECDSA and RSA signers (it draws from
        // its own generator); it is there for API compatibility with ring.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.pair {
            Pair::Ecdsa(k) => Ok(k.sign(&rng, message).map_err(failed)?.as_ref().to_vec()),
            Pair::Ed25519(k) => Ok(k.try_sign(message).map_err(failed)?.as_ref().to_vec()),
            Pair::Rsa(k) => {
                let mut signature = vec![0u8; k.public_modulus_len()];
                let padding: &'static dyn aws_lc_rs::signature::RsaEncoding =
                    if self.signature == SignatureAlgorithm::RsaPssSha256 {
                        &RSA_PSS_SHA256
                    } else {
                        &RSA_PKCS1_SHA256
                    };
                k.sign(padding, &rng, message, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
            Pair::MlDsa65(k) => {
                let mut signature = vec![0u8; ML_DSA_65_SIGNING.signature_len()];
                let len = k.sign(message, &mut signature).map_err(failed)?;
                signature.truncate(len);
                Ok(signature)
            }
        }
    }
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
enum Origin {
    Plain,
    Decrypted,
}

fn rsa_key_size(bits: u32) -> Result<KeySize, KeyError> {
    match bits {
        2048 => Ok(KeySize::Rsa2048),
        3072 => Ok(KeySize::Rsa3072),
        4096 => Ok(KeySize::Rsa4096),
        other => Err(KeyError::Unsupported(format!(
            "RSA-{other} (only 2048, 3072 and 4096 bits)"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, ML_DSA_65,
        RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey, VerificationAlgorithm,
    };

    const FAST: u32 = 1_000;

    fn verifier(alg: KeyAlgorithm) -> &'static dyn VerificationAlgorithm {
        match alg {
            KeyAlgorithm::P256 => &ECDSA_P256_SHA256_ASN1,
            KeyAlgorithm::P384 => &ECDSA_P384_SHA384_ASN1,
            KeyAlgorithm::Ed25519 => &ED25519,
            KeyAlgorithm::Rsa { .. } => &RSA_PKCS1_2048_8192_SHA256,
            KeyAlgorithm::MlDsa65 => &ML_DSA_65,
        }
    }

    const FAST_ALGORITHMS: [KeyAlgorithm; 5] = [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa { bits: 2048 },
        KeyAlgorithm::MlDsa65,
    ];

    #[test]
    fn signatures_verify_against_our_spki() {
        for alg in FAST_ALGORITHMS {
            let key = SoftwareKey::generate(alg).unwrap();
            assert_eq!(key.key_algorithm(), alg);
            assert_eq!(key.algorithm(), alg.signature_algorithm());
            let sig = key.sign(b"to be signed").unwrap();
            // aws-lc-rs parses the SubjectPublicKeyInfo DER here, so this also checks it.
            let public = UnparsedPublicKey::new(verifier(alg), key.public_key_der());
            public.verify(b"to be signed", &sig).unwrap();
            assert!(public.verify(b"to be signed!", &sig).is_err(), "{alg}");
        }
    }

    #[test]
    fn mldsa65_spki_matches_aws_lc() {
        let key = SoftwareKey::generate(KeyAlgorithm::MlDsa65).unwrap();
        let Pair::MlDsa65(pair) = &key.pair else {
            panic!("not ML-DSA")
        };
        let theirs = pair.public_key().as_der().unwrap();
        assert_eq!(key.public_key_der(), theirs.as_ref());
    }

    #[test]
    fn rsa_spki_matches_aws_lc() {
        let key = SoftwareKey::generate(KeyAlgorithm::Rsa { bits: 2048 }).unwrap();
        let Pair::Rsa(pair) = &key.pair else {
            panic!("not RSA")
        };
        let theirs = pair.public_key().as_der().unwrap();
        assert_eq!(key.public_key_der(), theirs.as_ref());
    }

    #[test]
    fn pem_round_trips_for_every_algorithm() {
        for alg in FAST_ALGORITHMS {
            let key = SoftwareKey::generate(alg).unwrap();
            let pem = key.to_encrypted_pem_with_iterations(b"pw", FAST).unwrap();
            let back = SoftwareKey::from_pem(pem.as_bytes(), Some(b"pw")).unwrap();
            assert_eq!(back.key_algorithm(), alg);
            assert_eq!(back.public_key_der(), key.public_key_der());

            let plain = key.to_unencrypted_pem().unwrap();
            let back = SoftwareKey::from_pem(plain.as_bytes(), None).unwrap();
            assert_eq!(back.public_key_der(), key.public_key_der());
        }
    }

    #[test]
    fn passphrase_errors() {
        let key = SoftwareKey::generate(KeyAlgorithm::P256).unwrap();
        let pem = key.to_encrypted_pem_with_iterations(b"pw", FAST).unwrap();
        assert!(matches!(
            SoftwareKey::from_pem(pem.as_bytes(), None),
            Err(KeyError::PassphraseRequired)
        ));
        assert!(matches!(
            SoftwareKey::from_pem(pem.as_bytes(), Some(b"not it")),
            Err(KeyError::WrongPassphrase)
        ));
    }

    #[test]
    fn unsupported_rsa_sizes_are_refused() {
        for bits in [1024, 2047, 8192] {
            assert!(matches!(
                SoftwareKey::generate(KeyAlgorithm::Rsa { bits }),
                Err(KeyError::Unsupported(_))
            ));
        }
    }

    #[test]
    fn debug_shows_the_algorithm_only() {
        let key = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        assert_eq!(format!("{key:?}"), "SoftwareKey { algorithm: Ed25519, .. }");
    }
}

/// Makes fresh in-memory software keys (the delegated OCSP responder's key).
#[derive(Debug, Default, Clone, Copy)]
pub struct SoftwareKeyFactory;

impl signet_core::revocation::KeyFactory for SoftwareKeyFactory {
    fn generate(
        &self,
        algorithm: KeyAlgorithm,
    ) -> Result<std::sync::Arc<dyn signet_core::Signer>, signet_core::SignerError> {
        SoftwareKey::generate(algorithm)
            .map(|k| std::sync::Arc::new(k) as std::sync::Arc<dyn signet_core::Signer>)
            .map_err(|e| signet_core::SignerError::Failed(e.to_string()))
    }
}

/// Makes software keys that can be stored: the delegated OCSP responder's key is sealed as a
/// PKCS#8 PEM, encrypted under the CA passphrase (PBES2, exactly as the CA key is written),
/// so a restart takes up the stored responder certificate instead of issuing a new one.
/// Without a passphrase (a `--dev` CA, whose own key is stored unencrypted) the sealed form is
/// an unencrypted PKCS#8 PEM: the responder key is then protected exactly as the CA key is.
pub struct SealingKeyFactory {
    passphrase: Option<Zeroizing<Vec<u8>>>,
}

impl SealingKeyFactory {
    /// Seals with `passphrase` (the one the CA key was opened with), or unencrypted without.
    pub fn new(passphrase: Option<&[u8]>) -> SealingKeyFactory {
        SealingKeyFactory {
            passphrase: passphrase.map(|p| Zeroizing::new(p.to_vec())),
        }
    }
}

impl std::fmt::Debug for SealingKeyFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKeyFactory")
            .field("encrypted", &self.passphrase.is_some())
            .finish()
    }
}

impl signet_core::revocation::KeyFactory for SealingKeyFactory {
    fn generate(
        &self,
        algorithm: KeyAlgorithm,
    ) -> Result<std::sync::Arc<dyn signet_core::Signer>, signet_core::SignerError> {
        SoftwareKeyFactory.generate(algorithm)
    }

    fn generate_sealed(
        &self,
        algorithm: KeyAlgorithm,
    ) -> Result<
        (
            std::sync::Arc<dyn signet_core::Signer>,
            Option<signet_core::revocation::SealedKey>,
        ),
        signet_core::SignerError,
    > {
        let failed = |e: KeyError| signet_core::SignerError::Failed(e.to_string());
        let key = SoftwareKey::generate(algorithm).map_err(failed)?;
        let pem = match &self.passphrase {
            Some(p) => key.to_encrypted_pem(p),
            None => key.to_unencrypted_pem(),
        }
        .map_err(failed)?;
        let sealed = signet_core::revocation::SealedKey::new(pem.into_bytes());
        Ok((std::sync::Arc::new(key), Some(sealed)))
    }

    fn open(
        &self,
        sealed: &signet_core::revocation::SealedKey,
    ) -> Result<std::sync::Arc<dyn signet_core::Signer>, signet_core::SignerError> {
        SoftwareKey::from_pem(
            sealed.as_bytes(),
            self.passphrase.as_deref().map(Vec::as_slice),
        )
        .map(|k| std::sync::Arc::new(k) as std::sync::Arc<dyn signet_core::Signer>)
        .map_err(|e| signet_core::SignerError::Failed(e.to_string()))
    }
}
