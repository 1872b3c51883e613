//! EnvelopedData (RFC 5652 §6) with KeyTransRecipientInfo and RSA PKCS#1 v1.5 key transport
//! (RFC 3370 §4.2.1): decryption of inbound SCEP pkcsPKIEnvelopes, encryption of replies.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey};
use const_oid::db::{rfc5911, rfc5912};

use super::{CertId, ContentCipher, WHAT, ber, content_info, unsupported, wrap_content_info};
use crate::asn1::{self, AlgId, Reader, Spki, malformed};
use crate::cert::CertificateFields;

/// A parsed EnvelopedData. Decrypt it with [`EnvelopedMessage::decrypt`].
#[derive(Clone, Debug)]
pub struct EnvelopedMessage {
    /// The KeyTransRecipientInfos with `rsaEncryption` key transport, in the order sent.
    /// Recipients of other kinds are left out.
    pub recipients: Vec<Recipient>,
    /// The content-encryption algorithm.
    pub cipher: ContentCipher,
    /// The encrypted content's type, dotted (id-data for SCEP).
    pub content_type: String,
    iv: Vec<u8>,
    encrypted_content: Vec<u8>,
}

/// One KeyTransRecipientInfo.
#[derive(Clone, Debug)]
pub struct Recipient {
    /// The certificate whose key the content-encryption key was encrypted to.
    pub rid: CertId,
    /// The content-encryption key, RSA PKCS#1 v1.5 encrypted.
    pub encrypted_key: Vec<u8>,
}

/// Parses a `ContentInfo` holding EnvelopedData, BER or DER, at most
/// [`MAX_INPUT`](super::MAX_INPUT) octets. The encrypted content may be primitive or in
/// chunks.
///
/// Errors: [`Error::Malformed`](crate::Error::Malformed) for anything that is not such a
/// message (including absent encrypted content), [`Error::Unsupported`](crate::Error::Unsupported)
/// for another content type, a content-encryption algorithm other than those of
/// [`ContentCipher`], or no KeyTransRecipientInfo with `rsaEncryption` (key agreement, KEK,
/// password, RSAES-OAEP recipients).
pub fn parse_enveloped_data(ber: &[u8]) -> crate::Result<EnvelopedMessage> {
    let der = ber::normalize(ber)?;
    let ed = content_info(&der, rfc5911::ID_ENVELOPED_DATA.as_bytes(), "EnvelopedData")?;

    // EnvelopedData ::= SEQUENCE {
    //      version CMSVersion,
    //      originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
    //      recipientInfos RecipientInfos,
    //      encryptedContentInfo EncryptedContentInfo,
    //      unprotectedAttrs [1] IMPLICIT UnprotectedAttributes OPTIONAL }
    // RecipientInfos ::= SET SIZE (1..MAX) OF RecipientInfo
    let mut r = Reader::new(ed.value, WHAT);
    let version = asn1::small_uint(r.read(asn1::INTEGER, "version")?.value, WHAT)?;
    if version > 4 {
        return Err(malformed(WHAT, format!("EnvelopedData version {version}")));
    }
    r.read_optional(asn1::context_constructed(0))?;
    let mut infos = r.nested(asn1::SET, "recipientInfos")?;
    let mut recipients = Vec::new();
    let mut others = 0usize;
    while !infos.is_empty() {
        // RecipientInfo ::= CHOICE {
        //      ktri KeyTransRecipientInfo,
        //      kari [1] KeyAgreeRecipientInfo,
        //      kekri [2] KEKRecipientInfo,
        //      pwri [3] PasswordRecipientinfo,
        //      ori [4] OtherRecipientInfo }
        let info = infos.read_any()?;
        match info.tag {
            asn1::SEQUENCE => match decode_ktri(info.value)? {
                Some(recipient) => recipients.push(recipient),
                None => others += 1,
            },
            0xa1..=0xa4 => others += 1,
            t => {
                return Err(malformed(
                    WHAT,
                    format!("unknown RecipientInfo (tag 0x{t:02x})"),
                ));
            }
        }
    }
    if recipients.is_empty() {
        return Err(unsupported(
            "CMS recipient",
            format!("{others} recipient(s), none a KeyTransRecipientInfo with rsaEncryption"),
        ));
    }

    // EncryptedContentInfo ::= SEQUENCE {
    //      contentType ContentType,
    //      contentEncryptionAlgorithm ContentEncryptionAlgorithmIdentifier,
    //      encryptedContent [0] IMPLICIT EncryptedContent OPTIONAL }
    // EncryptedContent ::= OCTET STRING
    let mut eci = r.nested(asn1::SEQUENCE, "encryptedContentInfo")?;
    let content_type = asn1::oid_to_string(eci.read(asn1::OID, "contentType")?.value)
        .ok_or_else(|| malformed(WHAT, "invalid contentType"))?;
    let alg = AlgId::decode(
        &eci.read(asn1::SEQUENCE, "contentEncryptionAlgorithm")?,
        WHAT,
    )?;
    let (cipher, iv) = ContentCipher::from_alg_id(&alg)?;
    let encrypted_content = match eci.read_any() {
        Ok(t) if t.tag == asn1::context_primitive(0) => t.value.to_vec(),
        // The constructed form of the IMPLICIT OCTET STRING: its chunks, which the BER
        // normaliser has already made primitive OCTET STRINGs.
        Ok(t) if t.tag == asn1::context_constructed(0) => {
            let mut chunks = Reader::new(t.value, WHAT);
            let mut joined = Vec::with_capacity(t.value.len());
            while !chunks.is_empty() {
                joined.extend_from_slice(chunks.read(asn1::OCTET_STRING, "chunk")?.value);
            }
            joined
        }
        _ => return Err(malformed(WHAT, "encryptedContent is missing")),
    };
    eci.finish("encryptedContentInfo")?;
    r.read_optional(asn1::context_constructed(1))?;
    r.finish("EnvelopedData")?;
    if encrypted_content.is_empty() || encrypted_content.len() % cipher.block_len() != 0 {
        return Err(malformed(
            WHAT,
            "encryptedContent is not a whole number of cipher blocks",
        ));
    }
    Ok(EnvelopedMessage {
        recipients,
        cipher,
        content_type,
        iv: iv.to_vec(),
        encrypted_content,
    })
}

/// Decodes a KeyTransRecipientInfo's content; `None` when its key transport is not
/// `rsaEncryption`.
fn decode_ktri(content: &[u8]) -> crate::Result<Option<Recipient>> {
    // KeyTransRecipientInfo ::= SEQUENCE {
    //      version CMSVersion,  -- always set to 0 or 2
    //      rid RecipientIdentifier,
    //      keyEncryptionAlgorithm KeyEncryptionAlgorithmIdentifier,
    //      encryptedKey EncryptedKey }
    // EncryptedKey ::= OCTET STRING
    let mut r = Reader::new(content, WHAT);
    let version = asn1::small_uint(r.read(asn1::INTEGER, "version")?.value, WHAT)?;
    if version != 0 && version != 2 {
        return Err(malformed(
            WHAT,
            format!("KeyTransRecipientInfo version {version}"),
        ));
    }
    let rid = CertId::decode(&r.read_any()?)?;
    let alg = AlgId::decode(&r.read(asn1::SEQUENCE, "keyEncryptionAlgorithm")?, WHAT)?;
    let encrypted_key = r.read(asn1::OCTET_STRING, "encryptedKey")?.value.to_vec();
    r.finish("KeyTransRecipientInfo")?;
    if alg.oid != rfc5912::RSA_ENCRYPTION.as_bytes() || !alg.params_absent_or_null() {
        return Ok(None);
    }
    Ok(Some(Recipient { rid, encrypted_key }))
}

impl EnvelopedMessage {
    /// Decrypts the content with our RSA `key`, whose certificate is `our_cert_der`.
    ///
    /// The recipient is the one naming `our_cert_der` (issuer and serial number, or
    /// subjectKeyIdentifier), or the only recipient when there is one: SCEP clients encrypt
    /// to the CA certificate they fetched, which may since have been renewed.
    ///
    /// A content-encryption key that does not decrypt or has the wrong length for the cipher
    /// is replaced by a random one (implicit rejection, RFC 3218 §2.3.2), so a bad key and bad
    /// content padding give the same error and the answer is no padding oracle.
    /// Errors: [`Error::Malformed`](crate::Error::Malformed) when no recipient matches or the
    /// content does not decrypt.
    pub fn decrypt(
        &self,
        our_cert_der: &[u8],
        key: &Pkcs1PrivateDecryptingKey,
    ) -> crate::Result<Vec<u8>> {
        let recipient = match self.recipients.iter().find(|r| r.rid.matches(our_cert_der)) {
            Some(r) => r,
            None => match self.recipients.as_slice() {
                [only] => only,
                _ => return Err(malformed(WHAT, "no recipient is our certificate")),
            },
        };
        let key_len = self.cipher.key_len();
        let mut cek = random_bytes(key_len)?;
        let mut buf = vec![0u8; key.min_output_size()];
        if let Ok(plain) = key.decrypt(&recipient.encrypted_key, &mut buf)
            && plain.len() == key_len
        {
            cek.copy_from_slice(plain);
        }
        self.cipher.decrypt(&cek, &self.iv, &self.encrypted_content)
    }
}

/// Writes a `ContentInfo` holding EnvelopedData of `content` (id-data) for the RSA key of
/// `recipient_cert_der`: version 0, one KeyTransRecipientInfo (issuerAndSerialNumber,
/// `rsaEncryption`), the content encrypted with `cipher` under a fresh random key and IV.
///
/// The encryptedContent is a primitive `[0] IMPLICIT OCTET STRING`, as some SCEP clients
/// (pyscep) require. Fails with [`Error::Invalid`](crate::Error::Invalid) when the certificate
/// does not parse, [`Error::Unsupported`](crate::Error::Unsupported) when its key is not RSA.
pub fn envelope(
    content: &[u8],
    recipient_cert_der: &[u8],
    cipher: ContentCipher,
) -> crate::Result<Vec<u8>> {
    let cert = CertificateFields::decode(recipient_cert_der)
        .map_err(|e| asn1::invalid("recipient certificate", e.to_string()))?;
    let spki = Spki::decode(cert.spki, WHAT)?;
    if spki.alg.oid != rfc5912::RSA_ENCRYPTION.as_bytes() {
        return Err(unsupported(
            "recipient key",
            format!("{} (key transport needs RSA)", spki.alg.oid_string()),
        ));
    }
    let public = PublicEncryptingKey::from_der(cert.spki)
        .map_err(|e| unsupported("recipient key", e.to_string()))?;
    let public = Pkcs1PublicEncryptingKey::new(public)
        .map_err(|_| unsupported("recipient key", "not usable for RSA PKCS#1 v1.5"))?;

    let mut cek = random_bytes(cipher.key_len())?;
    if matches!(cipher, ContentCipher::DesCbc | ContentCipher::DesEde3Cbc) {
        set_des_parity(&mut cek);
    }
    let iv = random_bytes(cipher.block_len())?;
    let encrypted_content = cipher.encrypt(&cek, &iv, content)?;
    let mut encrypted_key = vec![0u8; public.ciphertext_size()];
    let encrypted_key = public
        .encrypt(&cek, &mut encrypted_key)
        .map_err(|_| unsupported("recipient key", "RSA encryption failed"))?;

    // KeyTransRecipientInfo: see `decode_ktri` for the ASN.1.
    let mut ktri = vec![asn1::INTEGER, 0x01, 0x00];
    ktri.extend_from_slice(&CertId::issuer_and_serial_of(recipient_cert_der)?);
    let mut rsa = asn1::tlv(asn1::OID, rfc5912::RSA_ENCRYPTION.as_bytes());
    rsa.extend_from_slice(&[asn1::NULL, 0x00]);
    asn1::push_tlv(&mut ktri, asn1::SEQUENCE, &rsa);
    asn1::push_tlv(&mut ktri, asn1::OCTET_STRING, encrypted_key);

    // EncryptedContentInfo and EnvelopedData: see `parse_enveloped_data` for the ASN.1.
    let mut eci = asn1::tlv(asn1::OID, rfc5911::ID_DATA.as_bytes());
    eci.extend_from_slice(&cipher.algorithm_identifier(&iv));
    asn1::push_tlv(&mut eci, asn1::context_primitive(0), &encrypted_content);
    let mut ed = vec![asn1::INTEGER, 0x01, 0x00];
    asn1::push_tlv(&mut ed, asn1::SET, &asn1::tlv(asn1::SEQUENCE, &ktri));
    asn1::push_tlv(&mut ed, asn1::SEQUENCE, &eci);
    Ok(wrap_content_info(
        rfc5911::ID_ENVELOPED_DATA.as_bytes(),
        &asn1::tlv(asn1::SEQUENCE, &ed),
    ))
}

fn random_bytes(n: usize) -> crate::Result<Vec<u8>> {
    let mut out = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| unsupported("random source", "the system random generator failed"))?;
    Ok(out)
}

/// Sets each octet's low bit so it has odd parity, as DES keys conventionally do (FIPS 46-3
/// §3); the ciphers ignore these bits, some peers check them.
fn set_des_parity(key: &mut [u8]) {
    for b in key {
        let high = (*b & 0xfe).count_ones();
        *b = (*b & 0xfe) | u8::from(high % 2 == 0);
    }
}
