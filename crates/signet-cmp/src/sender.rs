//! Who sent a request (from its protection) and how the answer is protected.
//!
//! - MAC (RFC 4210 password-based MAC, or PBMAC1 per RFC 9481): senderKID names a
//!   shared-secret API token; the MAC must verify with that token. The answer carries a MAC
//!   of the same algorithm with the same secret (a fresh salt, the client's other
//!   parameters).
//! - Signature: the first extraCerts certificate signed the message and is a current
//!   certificate of this CA. The answer is signed by the CA's CMP responder key, whose
//!   certificate and the CA chain go in extraCerts.
//! - A request that cannot be authenticated is answered unprotected (there is nothing the
//!   client and Signet share to protect it with).

use std::sync::Arc;
use std::time::SystemTime;

use signet_api::Identity;
use signet_api::enroll::{NotCurrent, current_certificate};
use signet_x509::CertificateInfo;
use signet_x509::cmp::{
    FailInfo, MacAlgorithm, PkiMessage, ResponseBody, ResponseHeader, write_mac, write_signed,
    write_unprotected,
};
use zeroize::Zeroizing;

use crate::failure::Failure;
use crate::{Cmp, CmpCa, ResponderKey};

/// The group of identities taken from certificates (profiles may name `group:cmp`).
pub const CERTIFICATE_GROUP: &str = "cmp";

/// ecdsa-with-SHA256 AlgorithmIdentifier (RFC 5758: no parameters).
const ECDSA_WITH_SHA256: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

/// How an answer is protected.
pub enum Protection {
    Mac {
        secret: Zeroizing<String>,
        alg: MacAlgorithm,
    },
    Signature(Arc<ResponderKey>),
    None,
}

/// An authenticated sender.
pub struct Sender {
    pub identity: Identity,
    /// The certificate that signed the request (signature protection only), DER and
    /// summary.
    pub certificate: Option<(Vec<u8>, CertificateInfo)>,
    pub protection: Protection,
}

/// Authenticates `msg` for `ca`. On failure, the [`Failure`] to answer (unprotected).
pub async fn authenticate(cmp: &Cmp, ca: &CmpCa, msg: &PkiMessage) -> Result<Sender, Failure> {
    if msg.protection.is_none() || msg.header.protection_alg.is_none() {
        return Err(Failure::new(
            FailInfo::BAD_MESSAGE_CHECK,
            "the message is not protected (MAC with a shared-secret token, or a signature with a certificate of this CA)",
        ));
    }
    let mac = msg
        .mac_algorithm()
        .map_err(|e| Failure::new(FailInfo::BAD_ALG, format!("the MAC parameters: {e}")))?;
    match mac {
        Some(alg) => mac_sender(cmp, msg, alg),
        None => signature_sender(cmp, ca, msg).await,
    }
}

fn mac_sender(cmp: &Cmp, msg: &PkiMessage, alg: MacAlgorithm) -> Result<Sender, Failure> {
    let name = msg
        .header
        .sender_kid
        .as_deref()
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or_else(|| {
            Failure::new(
                FailInfo::BAD_MESSAGE_CHECK,
                "a MAC-protected message must name its shared-secret token's name in senderKID",
            )
        })?;
    let (identity, secret) = cmp
        .authn
        .shared_secret(name)
        .map_err(|e| Failure::new(FailInfo::SIGNER_NOT_TRUSTED, e.to_string()))?;
    let secret = Zeroizing::new(secret);
    msg.verify_mac(secret.as_bytes()).map_err(|_| {
        Failure::new(
            FailInfo::BAD_MESSAGE_CHECK,
            format!("the MAC does not verify with the secret of token {name:?}"),
        )
    })?;
    let alg = alg
        .with_fresh_salt()
        .map_err(|e| Failure::new(FailInfo::SYSTEM_FAILURE, e.to_string()))?;
    Ok(Sender {
        identity,
        certificate: None,
        protection: Protection::Mac { secret, alg },
    })
}

async fn signature_sender(cmp: &Cmp, ca: &CmpCa, msg: &PkiMessage) -> Result<Sender, Failure> {
    let cert = msg.extra_certs.first().ok_or_else(|| {
        Failure::new(
            FailInfo::SIGNER_NOT_TRUSTED,
            "a signature-protected message must carry its signer's certificate first in extraCerts",
        )
    })?;
    let info = match current_certificate(
        cmp.enroll.as_ref(),
        cmp.authn.as_ref(),
        ca.ca.as_str(),
        cert,
        SystemTime::now(),
    )
    .await
    .map_err(Failure::from)?
    {
        Ok(info) => info,
        Err(NotCurrent::Revoked { subject, serial }) => {
            return Err(Failure::new(
                FailInfo::CERT_REVOKED,
                format!("the signer's certificate {subject} (serial {serial}) is revoked"),
            ));
        }
        Err(why) => {
            return Err(Failure::new(
                FailInfo::SIGNER_NOT_TRUSTED,
                format!("the signer's certificate: {why}"),
            ));
        }
    };
    msg.verify_signature(cert).map_err(|e| {
        Failure::new(
            FailInfo::BAD_MESSAGE_CHECK,
            format!("the message's signature does not verify with its certificate: {e}"),
        )
    })?;
    let identity = signet_api::auth::certificate_identity(&ca.ca, &info, CERTIFICATE_GROUP)
        .map_err(|e| Failure::new(FailInfo::NOT_AUTHORIZED, e.to_string()))?;
    let responder = cmp.responder(&ca.ca).ok_or_else(|| {
        Failure::new(
            FailInfo::SYSTEM_UNAVAIL,
            "the CMP responder certificate is not ready",
        )
    })?;
    Ok(Sender {
        identity,
        certificate: Some((cert.clone(), info)),
        protection: Protection::Signature(responder),
    })
}

/// Writes the answer to `req` protected as `protection` says: `ca_subject` (Name DER)
/// is the sender of MAC-protected and unprotected answers, `chain` (the CA's, leaf's
/// issuer first) goes in extraCerts.
pub fn write_answer(
    req: &PkiMessage,
    protection: &Protection,
    ca_subject: &[u8],
    chain: &[Vec<u8>],
    body: &ResponseBody,
    implicit_confirm: bool,
) -> signet_x509::Result<Vec<u8>> {
    let sender_name = match protection {
        Protection::Signature(r) => r.subject.as_slice(),
        _ => ca_subject,
    };
    let mut header = ResponseHeader::reply_to(req, sender_name)?;
    header.pvno = req.header.pvno;
    header.implicit_confirm = implicit_confirm;
    match protection {
        Protection::Mac { secret, alg } => write_mac(&header, body, secret.as_bytes(), alg, chain),
        Protection::Signature(responder) => {
            header.sender_kid = Some(responder.key_id.clone());
            let mut extra = vec![responder.certificate.clone()];
            extra.extend(chain.iter().cloned());
            write_signed(
                &header,
                body,
                &ECDSA_WITH_SHA256,
                |data| responder.sign(data),
                &extra,
            )
        }
        Protection::None => {
            header.sender_kid = None;
            write_unprotected(&header, body, &[])
        }
    }
}
