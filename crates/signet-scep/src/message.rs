//! SCEP messages (RFC 8894 §3): a pkiMessage in — SignedData whose content is EnvelopedData
//! to the RA — verified and decrypted; a CertRep out, signed by the RA, its certificates
//! enveloped to the requester's signing certificate.

use signet_x509::cms::{self, Attribute, ContentCipher, DigestAlg, oid};

use crate::RaKey;

/// The messageType values (RFC 8894 §3.2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    CertRep,
    RenewalReq,
    PkcsReq,
    CertPoll,
    GetCert,
    GetCrl,
}

impl MessageType {
    fn from_code(code: &str) -> Option<MessageType> {
        Some(match code {
            "3" => MessageType::CertRep,
            "17" => MessageType::RenewalReq,
            "19" => MessageType::PkcsReq,
            "20" => MessageType::CertPoll,
            "21" => MessageType::GetCert,
            "22" => MessageType::GetCrl,
            _ => return None,
        })
    }
}

/// failInfo (RFC 8894 §3.2.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailInfo {
    BadAlg,
    BadMessageCheck,
    BadRequest,
    BadTime,
    BadCertId,
}

impl FailInfo {
    fn code(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "0",
            FailInfo::BadMessageCheck => "1",
            FailInfo::BadRequest => "2",
            FailInfo::BadTime => "3",
            FailInfo::BadCertId => "4",
        }
    }
}

/// The parts of a request every reply needs, available once the SignedData parsed.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub transaction_id: String,
    pub sender_nonce: Vec<u8>,
    /// The certificate that signed the message (the reply is encrypted to it).
    pub signer_cert: Vec<u8>,
    /// The request's digest algorithm; the reply uses it (SHA-256 instead of SHA-1).
    pub digest: DigestAlg,
    pub message_type: Option<MessageType>,
}

/// A request that verified and decrypted.
#[derive(Clone, Debug)]
pub struct Request {
    pub envelope: Envelope,
    pub message_type: MessageType,
    /// The decrypted content: a PKCS#10 (PKCSReq, RenewalReq), IssuerAndSubject (CertPoll),
    /// IssuerAndSerialNumber (GetCert, GetCRL).
    pub content: Vec<u8>,
    pub cipher: ContentCipher,
}

/// Why a message was refused. With an [`Envelope`] the answer is a CertRep FAILURE;
/// without one (the message did not even parse), a plain HTTP 400.
#[derive(Debug)]
pub enum Refusal {
    Unreadable(String),
    Failure(Box<Envelope>, FailInfo, String),
    /// The envelope did not decrypt with this RA key (another RA's, or garbage): a
    /// badMessageCheck unless an earlier RA key of the CA opens it.
    NotDecrypted(Box<Envelope>, String),
}

/// Reads a pkiMessage: verifies the signature with the signer certificate it carries,
/// checks the attributes, and decrypts the content with the RA key.
pub fn read(der: &[u8], ra: &RaKey, legacy_crypto: bool) -> Result<Request, Refusal> {
    let signed = cms::parse_signed_data(der)
        .map_err(|e| Refusal::Unreadable(format!("not a SCEP pkiMessage (CMS SignedData): {e}")))?;
    let [signer] = signed.signers.as_slice() else {
        return Err(Refusal::Unreadable(format!(
            "a pkiMessage has one signer, this one {}",
            signed.signers.len()
        )));
    };
    let text = |o: &str| signer.signed_attribute(o).and_then(Attribute::string_value);
    let transaction_id = text(oid::SCEP_TRANSACTION_ID)
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or_else(|| Refusal::Unreadable("no transactionID attribute".into()))?;
    let sender_nonce = signer
        .signed_attribute(oid::SCEP_SENDER_NONCE)
        .and_then(Attribute::octets_value)
        .filter(|n| !n.is_empty() && n.len() <= 64)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| Refusal::Unreadable("no senderNonce attribute".into()))?;
    let signer_cert = signer
        .find_certificate(&signed.certificates)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            Refusal::Unreadable("the signer's certificate is not in the message".into())
        })?;
    let message_type = text(oid::SCEP_MESSAGE_TYPE)
        .as_deref()
        .and_then(MessageType::from_code);
    let envelope = Envelope {
        transaction_id,
        sender_nonce,
        signer_cert,
        digest: signer.digest,
        message_type,
    };
    let fail = |info, why: String| Refusal::Failure(Box::new(envelope.clone()), info, why);
    if signer.digest == DigestAlg::Sha1 && !legacy_crypto {
        return Err(fail(FailInfo::BadAlg, "SHA-1 is refused by this CA".into()));
    }
    let content = signed.content.as_deref().unwrap_or_default();
    if let Err(e) = signer.verify(content, &envelope.signer_cert) {
        return Err(fail(
            FailInfo::BadMessageCheck,
            format!("the signature: {e}"),
        ));
    }
    let Some(message_type) = message_type else {
        return Err(fail(FailInfo::BadRequest, "unknown messageType".into()));
    };
    if message_type == MessageType::CertRep {
        return Err(fail(
            FailInfo::BadRequest,
            "a CertRep is the CA's to send".into(),
        ));
    }
    let enveloped = cms::parse_enveloped_data(content)
        .map_err(|e| fail(FailInfo::BadRequest, format!("the pkcsPKIEnvelope: {e}")))?;
    let cipher = enveloped.cipher;
    if matches!(cipher, ContentCipher::DesCbc | ContentCipher::DesEde3Cbc) && !legacy_crypto {
        return Err(fail(
            FailInfo::BadAlg,
            "DES and 3DES are refused by this CA".into(),
        ));
    }
    let content = enveloped
        .decrypt(&ra.certificate, &ra.decrypt)
        .map_err(|e| {
            Refusal::NotDecrypted(Box::new(envelope.clone()), format!("decrypting: {e}"))
        })?;
    Ok(Request {
        envelope,
        message_type,
        content,
        cipher,
    })
}

/// A CertRep's outcome.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// SUCCESS with a degenerate PKCS#7 (certificates, or a CRL) enveloped to the requester.
    Success(&'a [u8], ContentCipher),
    Pending,
    Failure(FailInfo),
}

/// Why a CertRep could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CertRepError {
    #[error("no randomness for the senderNonce")]
    Random,
    /// Encrypting to the requester (a key that is not RSA) or signing failed.
    #[error(transparent)]
    Cms(#[from] signet_x509::Error),
}

/// Writes a CertRep (RFC 8894 §3.3.2) answering `to`, signed by the RA.
pub fn cert_rep(to: &Envelope, outcome: Outcome<'_>, ra: &RaKey) -> Result<Vec<u8>, CertRepError> {
    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CertRepError::Random)?;
    let mut attrs = vec![
        Attribute::printable_string(oid::SCEP_MESSAGE_TYPE, "3")?,
        Attribute::printable_string(oid::SCEP_TRANSACTION_ID, &to.transaction_id)?,
        Attribute::octet_string(oid::SCEP_SENDER_NONCE, &nonce)?,
        Attribute::octet_string(oid::SCEP_RECIPIENT_NONCE, &to.sender_nonce)?,
    ];
    let (status, content) = match outcome {
        Outcome::Success(degenerate, cipher) => {
            ("0", cms::envelope(degenerate, &to.signer_cert, cipher)?)
        }
        Outcome::Pending => ("3", Vec::new()),
        Outcome::Failure(info) => {
            attrs.push(Attribute::printable_string(
                oid::SCEP_FAIL_INFO,
                info.code(),
            )?);
            ("2", Vec::new())
        }
    };
    attrs.push(Attribute::printable_string(oid::SCEP_PKI_STATUS, status)?);
    // aws-lc-rs signs RSA with SHA-256 and up only: a SHA-1 request gets SHA-256 (which
    // every client that verifies SHA-1 also verifies).
    let (digest, padding, alg): (_, &'static dyn aws_lc_rs::signature::RsaEncoding, &[u8]) =
        match to.digest {
            DigestAlg::Sha512 => (
                DigestAlg::Sha512,
                &aws_lc_rs::signature::RSA_PKCS1_SHA512,
                &SHA512_WITH_RSA,
            ),
            _ => (
                DigestAlg::Sha256,
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &SHA256_WITH_RSA,
            ),
        };
    cms::sign(&content, digest, alg, &ra.certificate, &attrs, &[], |tbs| {
        let mut sig = vec![0u8; ra.sign.public_modulus_len()];
        ra.sign
            .sign(
                padding,
                &aws_lc_rs::rand::SystemRandom::new(),
                tbs,
                &mut sig,
            )
            .map_err(|_| signet_x509::Error::Invalid {
                what: "CertRep signature",
                reason: "RSA signing failed".into(),
            })?;
        Ok(sig)
    })
    .map_err(CertRepError::from)
}

/// sha256WithRSAEncryption with NULL parameters.
const SHA256_WITH_RSA: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
/// sha512WithRSAEncryption with NULL parameters.
const SHA512_WITH_RSA: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
];
