//! Object identifiers read and written by this crate, spelled out so they can be checked
//! against their RFCs at a glance.

use der::asn1::ObjectIdentifier;

// Key algorithms (the `algorithm` of a PrivateKeyInfo or SubjectPublicKeyInfo).

/// id-ecPublicKey, RFC 5480.
pub(crate) const ID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 (prime256v1), the namedCurve parameter of P-256, RFC 5480.
pub(crate) const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1, the namedCurve parameter of P-384, RFC 5480.
pub(crate) const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// id-Ed25519, RFC 8410.
pub(crate) const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// rsaEncryption, RFC 8017.
pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ml-dsa-65 (NIST CSOR), FIPS 204; its X.509 use is in draft-ietf-lamps-dilithium-certificates.
pub(crate) const ID_ML_DSA_65: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.18");

// Password-based encryption, RFC 8018 and RFC 3565 / NIST.

/// id-PBES2, RFC 8018 appendix A.4.
pub(crate) const ID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
/// id-PBKDF2, RFC 8018 appendix A.2.
pub(crate) const ID_PBKDF2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
/// id-hmacWithSHA1, the default PBKDF2 PRF, RFC 8018 appendix B.1.1.
pub(crate) const HMAC_WITH_SHA1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.2.7");
/// id-hmacWithSHA256, RFC 8018 appendix B.1.2.
pub(crate) const HMAC_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.2.9");
/// id-hmacWithSHA384, RFC 8018 appendix B.1.2.
pub(crate) const HMAC_WITH_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.2.10");
/// id-hmacWithSHA512, RFC 8018 appendix B.1.2.
pub(crate) const HMAC_WITH_SHA512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.2.11");
/// id-aes128-CBC, RFC 3565 / NIST CSOR.
pub(crate) const AES128_CBC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
/// id-aes192-CBC, RFC 3565 / NIST CSOR.
pub(crate) const AES192_CBC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
/// id-aes256-CBC, RFC 3565 / NIST CSOR.
pub(crate) const AES256_CBC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
/// id-scrypt, RFC 7914; recognised only to name it in an error.
pub(crate) const ID_SCRYPT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11591.4.11");
