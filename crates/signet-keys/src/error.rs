//! The one error type of this crate.

/// Why a key could not be generated, loaded, stored or used.
///
/// No message ever contains key bytes or passphrases: the strings carried by
/// [`KeyError::Malformed`], [`KeyError::Crypto`] and [`KeyError::Unsupported`] are written by
/// this crate and describe structure only.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is encrypted and no passphrase was given.
    #[error("the private key is encrypted and no passphrase was given")]
    PassphraseRequired,
    /// Decryption failed: the padding was wrong or the decrypted bytes are not a private key.
    /// With AES-CBC this is what a wrong passphrase looks like (a corrupted file too).
    #[error("wrong passphrase (the encrypted private key could not be decrypted)")]
    WrongPassphrase,
    /// The algorithm, key size or encryption scheme is not one this crate supports.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The input is not a well-formed PEM / PKCS#8 document.
    #[error("malformed private key: {0}")]
    Malformed(String),
    /// The cryptographic library failed (key generation, serialization, random source).
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}
