//! CMS (RFC 5652) as SCEP (RFC 8894) needs it: SignedData parsed and its signers verified,
//! EnvelopedData decrypted with the CA's RSA key, and both written for the replies.
//!
//! Inbound messages come from SCEP clients and may be BER (indefinite lengths, content in
//! OCTET STRING chunks), so [`parse_signed_data`] and [`parse_enveloped_data`] first rewrite
//! them with a bounded BER normaliser ([`MAX_INPUT`] octets, [`MAX_DEPTH`] levels), then read
//! the result with the crate's strict DER reader. Everything written here is DER.
//!
//! Supported: signers identified by issuerAndSerialNumber or subjectKeyIdentifier, signed
//! attributes required; RSA PKCS#1 v1.5 with SHA-1/256/384/512 (as `rsaEncryption` with the
//! digest algorithm, or `shaNWithRSAEncryption`), ECDSA P-256/P-384 and the other signature
//! algorithms of [`parse_csr`](crate::parse_csr); KeyTransRecipientInfo with `rsaEncryption`;
//! content encryption with DES-CBC, DES-EDE3-CBC, AES-128-CBC and AES-256-CBC.

use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use const_oid::db::{rfc5911, rfc5912};

use crate::asn1::{self, AlgId, Reader, Tlv, malformed};
use crate::cert::CertificateFields;
use crate::{Error, ext};

mod ber;
mod enveloped;
mod signed;

pub use ber::{MAX_DEPTH, MAX_INPUT};
pub use enveloped::{EnvelopedMessage, Recipient, envelope, parse_enveloped_data};
pub use signed::{SignedMessage, SignerInfo, parse_signed_data, sign};

/// The IssuerAndSerialNumber (RFC 5652 §10.2.4) of a certificate, DER: what SCEP's GetCert
/// and GetCRL carry.
pub fn issuer_and_serial(cert_der: &[u8]) -> crate::Result<Vec<u8>> {
    CertId::issuer_and_serial_of(cert_der)
}

/// Dotted OIDs of the content types and attributes CMS and SCEP use.
pub mod oid {
    /// id-data (RFC 5652 §4).
    pub const DATA: &str = "1.2.840.113549.1.7.1";
    /// id-signedData (RFC 5652 §5.1).
    pub const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
    /// id-envelopedData (RFC 5652 §6.1).
    pub const ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
    /// id-contentType, the signed attribute naming eContentType (RFC 5652 §11.1).
    pub const CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
    /// id-messageDigest, the signed attribute holding the content's digest (RFC 5652 §11.2).
    pub const MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
    /// id-signingTime (RFC 5652 §11.3).
    pub const SIGNING_TIME: &str = "1.2.840.113549.1.9.5";
    /// SCEP messageType, a PrintableString of digits (RFC 8894 §3.2.1.2).
    pub const SCEP_MESSAGE_TYPE: &str = "2.16.840.1.113733.1.9.2";
    /// SCEP pkiStatus, a PrintableString of digits (RFC 8894 §3.2.1.3).
    pub const SCEP_PKI_STATUS: &str = "2.16.840.1.113733.1.9.3";
    /// SCEP failInfo, a PrintableString of digits (RFC 8894 §3.2.1.4).
    pub const SCEP_FAIL_INFO: &str = "2.16.840.1.113733.1.9.4";
    /// SCEP senderNonce, a 16-octet OCTET STRING (RFC 8894 §3.2.1.5).
    pub const SCEP_SENDER_NONCE: &str = "2.16.840.1.113733.1.9.5";
    /// SCEP recipientNonce, an OCTET STRING echoing the request's senderNonce.
    pub const SCEP_RECIPIENT_NONCE: &str = "2.16.840.1.113733.1.9.6";
    /// SCEP transactionID, a PrintableString (RFC 8894 §3.2.1.1).
    pub const SCEP_TRANSACTION_ID: &str = "2.16.840.1.113733.1.9.7";
}

/// A message digest algorithm of SignedData (digestAlgorithm, messageDigest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    /// SHA-1, still the default of many SCEP clients (RFC 8894 allows it for compatibility).
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    /// The algorithm's OID, dotted.
    pub fn oid(self) -> &'static str {
        match self {
            DigestAlg::Sha1 => "1.3.14.3.2.26",
            DigestAlg::Sha256 => "2.16.840.1.101.3.4.2.1",
            DigestAlg::Sha384 => "2.16.840.1.101.3.4.2.2",
            DigestAlg::Sha512 => "2.16.840.1.101.3.4.2.3",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest;
        let alg = match self {
            DigestAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            DigestAlg::Sha256 => &digest::SHA256,
            DigestAlg::Sha384 => &digest::SHA384,
            DigestAlg::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }

    fn oid_bytes(self) -> &'static [u8] {
        match self {
            DigestAlg::Sha1 => rfc5912::ID_SHA_1.as_bytes(),
            DigestAlg::Sha256 => rfc5912::ID_SHA_256.as_bytes(),
            DigestAlg::Sha384 => rfc5912::ID_SHA_384.as_bytes(),
            DigestAlg::Sha512 => rfc5912::ID_SHA_512.as_bytes(),
        }
    }

    /// Recognises a DigestAlgorithmIdentifier; parameters absent or NULL (RFC 5754 §2).
    fn from_alg_id(alg: &AlgId<'_>) -> crate::Result<DigestAlg> {
        let found = [
            DigestAlg::Sha1,
            DigestAlg::Sha256,
            DigestAlg::Sha384,
            DigestAlg::Sha512,
        ]
        .into_iter()
        .find(|d| d.oid_bytes() == alg.oid)
        .ok_or_else(|| unsupported("digest algorithm", alg.oid_string()))?;
        if !alg.params_absent_or_null() {
            return Err(malformed(
                WHAT,
                "digest algorithm parameters must be absent or NULL",
            ));
        }
        Ok(found)
    }

    /// The AlgorithmIdentifier DER, parameters absent (RFC 5754 §2, RFC 3370 §2.1).
    fn algorithm_identifier(self) -> Vec<u8> {
        asn1::tlv(asn1::SEQUENCE, &asn1::tlv(asn1::OID, self.oid_bytes()))
    }
}

/// A content-encryption algorithm of EnvelopedData, CBC with PKCS#7 padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentCipher {
    /// DES-CBC (1.3.14.3.2.7): SCEP's historical default; decryption only makes sense for
    /// old clients, and replies should use it only when the client offers nothing else.
    DesCbc,
    /// DES-EDE3-CBC (1.2.840.113549.3.7).
    DesEde3Cbc,
    /// AES-128-CBC (2.16.840.1.101.3.4.1.2).
    Aes128Cbc,
    /// AES-256-CBC (2.16.840.1.101.3.4.1.42).
    Aes256Cbc,
}

/// DES-CBC, 1.3.14.3.2.7 (not in `const_oid`'s database).
const DES_CBC: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.14.3.2.7");

impl ContentCipher {
    const ALL: [ContentCipher; 4] = [
        ContentCipher::DesCbc,
        ContentCipher::DesEde3Cbc,
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes256Cbc,
    ];

    /// The algorithm's OID, dotted.
    pub fn oid(self) -> &'static str {
        match self {
            ContentCipher::DesCbc => "1.3.14.3.2.7",
            ContentCipher::DesEde3Cbc => "1.2.840.113549.3.7",
            ContentCipher::Aes128Cbc => "2.16.840.1.101.3.4.1.2",
            ContentCipher::Aes256Cbc => "2.16.840.1.101.3.4.1.42",
        }
    }

    /// Key length in octets.
    pub fn key_len(self) -> usize {
        match self {
            ContentCipher::DesCbc => 8,
            ContentCipher::DesEde3Cbc => 24,
            ContentCipher::Aes128Cbc => 16,
            ContentCipher::Aes256Cbc => 32,
        }
    }

    /// Block (and IV) length in octets.
    pub fn block_len(self) -> usize {
        match self {
            ContentCipher::DesCbc | ContentCipher::DesEde3Cbc => 8,
            ContentCipher::Aes128Cbc | ContentCipher::Aes256Cbc => 16,
        }
    }

    fn oid_bytes(self) -> &'static [u8] {
        match self {
            ContentCipher::DesCbc => DES_CBC.as_bytes(),
            ContentCipher::DesEde3Cbc => rfc5911::DES_EDE_3_CBC.as_bytes(),
            ContentCipher::Aes128Cbc => rfc5911::ID_AES_128_CBC.as_bytes(),
            ContentCipher::Aes256Cbc => rfc5911::ID_AES_256_CBC.as_bytes(),
        }
    }

    /// Recognises a ContentEncryptionAlgorithmIdentifier and returns its IV, the parameters'
    /// OCTET STRING (RFC 3370 §5.1, RFC 3565 §4.1; DES-CBC likewise in practice).
    fn from_alg_id<'a>(alg: &AlgId<'a>) -> crate::Result<(ContentCipher, &'a [u8])> {
        let cipher = Self::ALL
            .into_iter()
            .find(|c| c.oid_bytes() == alg.oid)
            .ok_or_else(|| unsupported("content-encryption algorithm", alg.oid_string()))?;
        match alg.params {
            Some(Tlv {
                tag: asn1::OCTET_STRING,
                value,
                ..
            }) if value.len() == cipher.block_len() => Ok((cipher, value)),
            _ => Err(malformed(
                WHAT,
                format!(
                    "{cipher:?} parameters must be a {}-octet IV",
                    cipher.block_len()
                ),
            )),
        }
    }

    /// The AlgorithmIdentifier DER with `iv` as its parameters.
    fn algorithm_identifier(self, iv: &[u8]) -> Vec<u8> {
        let mut content = asn1::tlv(asn1::OID, self.oid_bytes());
        asn1::push_tlv(&mut content, asn1::OCTET_STRING, iv);
        asn1::tlv(asn1::SEQUENCE, &content)
    }

    /// CBC-encrypts `plaintext` with PKCS#7 padding. `key` and `iv` must have the cipher's
    /// lengths.
    fn encrypt(self, key: &[u8], iv: &[u8], plaintext: &[u8]) -> crate::Result<Vec<u8>> {
        let fail = || invalid_key(self);
        match self {
            ContentCipher::DesCbc => Ok(cbc::Encryptor::<des::Des>::new_from_slices(key, iv)
                .map_err(|_| fail())?
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext)),
            ContentCipher::DesEde3Cbc => {
                Ok(cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, iv)
                    .map_err(|_| fail())?
                    .encrypt_padded_vec_mut::<Pkcs7>(plaintext))
            }
            ContentCipher::Aes128Cbc | ContentCipher::Aes256Cbc => {
                let alg = if self == ContentCipher::Aes128Cbc {
                    &AES_128
                } else {
                    &AES_256
                };
                let iv = FixedLength::<16>::try_from(iv).map_err(|_| fail())?;
                let key = UnboundCipherKey::new(alg, key).map_err(|_| fail())?;
                let key = PaddedBlockEncryptingKey::cbc_pkcs7(key).map_err(|_| fail())?;
                let mut out = plaintext.to_vec();
                key.less_safe_encrypt(&mut out, EncryptionContext::Iv128(iv))
                    .map_err(|_| fail())?;
                Ok(out)
            }
        }
    }

    /// CBC-decrypts `ciphertext` and removes the PKCS#7 padding. Every failure (bad
    /// padding above all) is the same [`Error::Malformed`], so it tells nothing about the
    /// plaintext.
    fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> crate::Result<Vec<u8>> {
        let fail = || malformed(WHAT, "the content does not decrypt");
        match self {
            ContentCipher::DesCbc => cbc::Decryptor::<des::Des>::new_from_slices(key, iv)
                .map_err(|_| fail())?
                .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
                .map_err(|_| fail()),
            ContentCipher::DesEde3Cbc => cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .map_err(|_| fail())?
                .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
                .map_err(|_| fail()),
            ContentCipher::Aes128Cbc | ContentCipher::Aes256Cbc => {
                let alg = if self == ContentCipher::Aes128Cbc {
                    &AES_128
                } else {
                    &AES_256
                };
                let iv = FixedLength::<16>::try_from(iv).map_err(|_| fail())?;
                let key = UnboundCipherKey::new(alg, key).map_err(|_| fail())?;
                let key = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| fail())?;
                let mut buf = ciphertext.to_vec();
                let len = key
                    .decrypt(&mut buf, DecryptionContext::Iv128(iv))
                    .map_err(|_| fail())?
                    .len();
                buf.truncate(len);
                Ok(buf)
            }
        }
    }
}

/// One attribute (RFC 5652 §5.3): its type and each value's whole DER TLV.
///
/// ```text
/// Attribute ::= SEQUENCE {
///      attrType OBJECT IDENTIFIER,
///      attrValues SET OF AttributeValue }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute type, dotted.
    pub oid: String,
    /// Each value's TLV, DER.
    pub values: Vec<Vec<u8>>,
}

impl Attribute {
    /// An attribute with one PrintableString value (SCEP's messageType, pkiStatus,
    /// failInfo, transactionID). Fails with [`Error::Invalid`] for a bad OID or a character
    /// outside PrintableString's alphabet.
    pub fn printable_string(oid: &str, value: &str) -> crate::Result<Attribute> {
        if !value.bytes().all(asn1::is_printable_char) {
            return Err(asn1::invalid(
                "attribute value",
                format!("{value:?} is not a PrintableString"),
            ));
        }
        Attribute::single(oid, asn1::tlv(asn1::PRINTABLE_STRING, value.as_bytes()))
    }

    /// An attribute with one OCTET STRING value (SCEP's senderNonce, recipientNonce).
    pub fn octet_string(oid: &str, value: &[u8]) -> crate::Result<Attribute> {
        Attribute::single(oid, asn1::tlv(asn1::OCTET_STRING, value))
    }

    fn single(oid: &str, value: Vec<u8>) -> crate::Result<Attribute> {
        oid_der(oid)?;
        Ok(Attribute {
            oid: oid.to_owned(),
            values: vec![value],
        })
    }

    /// The first value as text, when it is a PrintableString (or another directory string).
    pub fn string_value(&self) -> Option<String> {
        let der = self.values.first()?;
        let tlv = asn1::single(der, *der.first()?, WHAT).ok()?;
        asn1::decode_string(&tlv)
    }

    /// The first value's octets, when it is an OCTET STRING.
    pub fn octets_value(&self) -> Option<&[u8]> {
        let der = self.values.first()?;
        asn1::single(der, asn1::OCTET_STRING, WHAT)
            .ok()
            .map(|t| t.value)
    }
}

/// Decodes `SET OF Attribute` content (signedAttrs, unsignedAttrs).
fn decode_attributes(content: &[u8]) -> crate::Result<Vec<Attribute>> {
    let mut r = Reader::new(content, WHAT);
    let mut out: Vec<Attribute> = Vec::new();
    while !r.is_empty() {
        let mut a = r.nested(asn1::SEQUENCE, "Attribute")?;
        let oid = asn1::oid_to_string(a.read(asn1::OID, "attrType")?.value)
            .ok_or_else(|| malformed(WHAT, "invalid attribute OID"))?;
        let mut vr = a.nested(asn1::SET, "attrValues")?;
        a.finish("Attribute")?;
        let mut values = Vec::new();
        while !vr.is_empty() {
            values.push(vr.read_any()?.raw.to_vec());
        }
        if values.is_empty() {
            return Err(malformed(WHAT, format!("attribute {oid} has no value")));
        }
        if out.iter().any(|x| x.oid == oid) {
            return Err(malformed(WHAT, format!("attribute {oid} appears twice")));
        }
        out.push(Attribute { oid, values });
    }
    Ok(out)
}

/// Encodes attributes as the content of a DER `SET OF Attribute`: values sorted within each
/// attribute, attributes sorted by encoding (X.690 §11.6).
fn encode_attributes(attrs: &[Attribute]) -> crate::Result<Vec<u8>> {
    let mut encoded = Vec::with_capacity(attrs.len());
    for a in attrs {
        let mut values: Vec<&[u8]> = Vec::with_capacity(a.values.len());
        for v in &a.values {
            asn1::single(v, v.first().copied().unwrap_or(0), WHAT)
                .map_err(|e| asn1::invalid("attribute value", e.to_string()))?;
            values.push(v);
        }
        if values.is_empty() {
            return Err(asn1::invalid(
                "attribute",
                format!("{} has no value", a.oid),
            ));
        }
        values.sort_unstable();
        let mut content = oid_der(&a.oid)?;
        asn1::push_tlv(&mut content, asn1::SET, &values.concat());
        encoded.push(asn1::tlv(asn1::SEQUENCE, &content));
    }
    encoded.sort_unstable();
    Ok(encoded.concat())
}

/// The OID TLV of a dotted OID.
fn oid_der(dotted: &str) -> crate::Result<Vec<u8>> {
    let mut content = Vec::new();
    asn1::oid_from_dotted(dotted, &mut content)
        .ok_or_else(|| asn1::invalid("attribute", format!("bad OID {dotted:?}")))?;
    Ok(asn1::tlv(asn1::OID, &content))
}

// SignerIdentifier ::= CHOICE {
//      issuerAndSerialNumber IssuerAndSerialNumber,
//      subjectKeyIdentifier [0] SubjectKeyIdentifier }
// RecipientIdentifier has the same shape.
// IssuerAndSerialNumber ::= SEQUENCE {
//      issuer Name,
//      serialNumber CertificateSerialNumber }

/// How a signer or recipient names its certificate (RFC 5652 §5.3, §6.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertId {
    /// The certificate's issuer Name (DER) and serialNumber (the INTEGER's content octets).
    IssuerAndSerial { issuer: Vec<u8>, serial: Vec<u8> },
    /// The certificate's subjectKeyIdentifier extension value.
    SubjectKeyId(Vec<u8>),
}

impl CertId {
    fn decode(tlv: &Tlv<'_>) -> crate::Result<CertId> {
        match tlv.tag {
            asn1::SEQUENCE => {
                let mut r = Reader::new(tlv.value, WHAT);
                let issuer = r.read(asn1::SEQUENCE, "issuer")?.raw.to_vec();
                let serial = r.read(asn1::INTEGER, "serialNumber")?.value;
                asn1::check_integer(serial, WHAT)?;
                r.finish("IssuerAndSerialNumber")?;
                Ok(CertId::IssuerAndSerial {
                    issuer,
                    serial: serial.to_vec(),
                })
            }
            0x80 => Ok(CertId::SubjectKeyId(tlv.value.to_vec())),
            t => Err(malformed(
                WHAT,
                format!("unknown signer or recipient identifier (tag 0x{t:02x})"),
            )),
        }
    }

    /// The IssuerAndSerialNumber of `cert_der`.
    fn issuer_and_serial_of(cert_der: &[u8]) -> crate::Result<Vec<u8>> {
        let cert = CertificateFields::decode(cert_der)?;
        let mut content = cert.issuer.to_vec();
        asn1::push_tlv(&mut content, asn1::INTEGER, cert.serial);
        Ok(asn1::tlv(asn1::SEQUENCE, &content))
    }

    /// Whether this identifier names `cert_der`.
    fn matches(&self, cert_der: &[u8]) -> bool {
        let Ok(cert) = CertificateFields::decode(cert_der) else {
            return false;
        };
        match self {
            CertId::IssuerAndSerial { issuer, serial } => {
                cert.issuer == issuer.as_slice() && cert.serial == serial.as_slice()
            }
            CertId::SubjectKeyId(id) => subject_key_id(&cert).is_some_and(|ski| ski == *id),
        }
    }
}

/// The subjectKeyIdentifier extension's KeyIdentifier, if the certificate has one.
fn subject_key_id(cert: &CertificateFields<'_>) -> Option<Vec<u8>> {
    let exts = crate::cert::decode_extensions(cert.extensions?, WHAT).ok()?;
    let e = exts
        .iter()
        .find(|e| e.oid == ext::oid::SUBJECT_KEY_IDENTIFIER)?;
    // SubjectKeyIdentifier ::= KeyIdentifier ::= OCTET STRING
    asn1::single(&e.value, asn1::OCTET_STRING, WHAT)
        .ok()
        .map(|t| t.value.to_vec())
}

/// Reads `ContentInfo` and returns the content of its `[0] EXPLICIT` content, checking the
/// content type is `expected` (id-signedData or id-envelopedData).
fn content_info<'a>(der: &'a [u8], expected: &[u8], name: &str) -> crate::Result<Tlv<'a>> {
    // ContentInfo ::= SEQUENCE {
    //      contentType ContentType,
    //      content [0] EXPLICIT ANY DEFINED BY contentType }
    let outer = asn1::single(der, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(outer.value, WHAT);
    let ty = r.read(asn1::OID, "contentType")?.value;
    if ty != expected {
        let found = asn1::oid_to_string(ty).unwrap_or_else(|| hex::encode(ty));
        return Err(unsupported(
            "CMS content type",
            format!("{found}, expected {name}"),
        ));
    }
    let mut explicit = r.nested(asn1::context_constructed(0), "content")?;
    r.finish("ContentInfo")?;
    let inner = explicit.read(asn1::SEQUENCE, name)?;
    explicit.finish("content")?;
    Ok(inner)
}

/// `ContentInfo { contentType, [0] EXPLICIT content }` DER.
fn wrap_content_info(content_type: &[u8], content: &[u8]) -> Vec<u8> {
    let mut body = asn1::tlv(asn1::OID, content_type);
    asn1::push_tlv(&mut body, asn1::context_constructed(0), content);
    asn1::tlv(asn1::SEQUENCE, &body)
}

const WHAT: &str = "CMS";

fn unsupported(what: &'static str, detail: impl Into<String>) -> Error {
    Error::Unsupported {
        what,
        detail: detail.into(),
    }
}

fn invalid_key(cipher: ContentCipher) -> Error {
    asn1::invalid(
        "content-encryption key",
        format!("{cipher:?} needs a {}-octet key", cipher.key_len()),
    )
}
