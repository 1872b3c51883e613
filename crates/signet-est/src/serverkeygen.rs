//! `serverkeygen` (RFC 7030 §4.4): the CA makes the client's key. Off unless `[ca.est]
//! serverkeygen = true` (then 501 with the reason).
//!
//! 1. The caller authenticates as for `simpleenroll` (Basic token or client certificate),
//!    and a challengePassword in the CSR must be the connection's channel binding.
//! 2. The client's CSR (signed by some key the client holds, §4.4.1) gives the subject and
//!    the requested extensions (SANs); its key is not used. A CSR asking for an encrypted
//!    key (DecryptKeyIdentifier, AsymmetricDecryptKeyIdentifier) is refused (501): the key
//!    goes back unencrypted inside TLS only.
//! 3. The profile must issue at once: a request that waited for a manager would leave the
//!    generated key nowhere (Signet does not keep private keys). A manual profile is refused
//!    (400) before anything is stored.
//! 4. A new key (aws-lc-rs): the CSR's key type when the profile accepts it, else P-256,
//!    RSA 2048 or P-384, the first the profile accepts.
//! 5. A new PKCS#10 with the CSR's subject and extensions, signed by the new key, goes
//!    through `Enroll::submit` like `simpleenroll` (same profile, caller, attributes).
//! 6. The answer is `multipart/mixed`: the PKCS#8 key, then the certificate as a certs-only
//!    PKCS#7, both base64 (§4.4.2); the body is wiped when the server drops it.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_SHA256, RsaKeyPair,
};
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signet_api::{RequestStatus, SubmitRequest};
use signet_x509::{CertificationRequest, KeyAlgorithm, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::auth::{Operation, authenticate};
use crate::error::EstError;
use crate::handlers::{CERTS_ONLY_TYPE, Conn, check_channel_binding, read_csr};
use crate::{Est, KeyKind, multipart};

/// id-aa-decryptKeyID (RFC 4108), RFC 7030 §4.4.1.1: encrypt the key with a shared key.
const DECRYPT_KEY_ID: &str = "1.2.840.113549.1.9.16.2.37";
/// id-aa-asymmDecryptKeyID (RFC 7030 §4.4.1.2): encrypt the key to the client's key.
const ASYMM_DECRYPT_KEY_ID: &str = "1.2.840.113549.1.9.16.2.54";

/// `POST serverkeygen`.
pub async fn handle(
    est: &Est,
    conn: &Conn,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, EstError> {
    let ca = est.ca_for(conn)?;
    if !ca.serverkeygen {
        return Err(EstError::ServerKeygenOff);
    }
    let caller = authenticate(
        est,
        ca,
        conn.authorization.as_ref().map(HeaderValue::as_bytes),
        conn.client_leaf(),
        Operation::Enroll,
    )
    .await?;
    let csr = read_csr(conn, body)?;
    check_channel_binding(conn, &csr)?;
    if csr
        .other_attributes
        .iter()
        .any(|a| a == DECRYPT_KEY_ID || a == ASYMM_DECRYPT_KEY_ID)
    {
        return Err(EstError::EncryptedKeyDelivery);
    }
    if !ca.issues_at_once {
        return Err(EstError::ServerKeygenNeedsAutoProfile {
            profile: ca.profile.clone(),
        });
    }
    let kind = choose_key(&ca.key_kinds, csr.key).ok_or(EstError::ServerKeygenNoKeyType)?;
    let key = NewKey::generate(kind).map_err(|_| EstError::KeyGeneration)?;
    let request = key.request_for(&csr)?;

    let answer = est
        .enroll
        .submit(SubmitRequest {
            ca: ca.ca.as_str().to_owned(),
            csr: request,
            profile: Some(ca.profile.clone()),
            attributes: Vec::new(),
            caller: Some(caller.identity.clone()),
        })
        .await?;
    let certificate = match answer.status {
        RequestStatus::Issued => answer.certificate.ok_or_else(|| {
            EstError::Enroll(signet_api::EnrollError::Internal {
                incident: format!("request {} is issued without a certificate", answer.id),
            })
        })?,
        // The profile issues at once, but the policy held the request anyway: the key is
        // dropped here, so the certificate must never be issued.
        RequestStatus::Pending => {
            return Err(EstError::ServerKeygenPending { id: answer.id });
        }
        RequestStatus::Denied | RequestStatus::Failed | RequestStatus::Revoked => {
            return Err(EstError::Denied {
                id: answer.id,
                message: answer
                    .message
                    .unwrap_or_else(|| answer.status.as_str().to_owned()),
            });
        }
    };
    tracing::info!(
        ca = %ca.ca,
        request = %answer.id,
        key = %kind,
        requester = %caller.identity.name,
        "EST serverkeygen: issued with a server-generated key"
    );
    key.response(&certificate)
}

/// The key type to generate for a profile accepting `kinds`: the client CSR's own type when
/// the profile accepts it, else P-256, RSA (2048 bits) or P-384, the first accepted.
/// `None` when the profile accepts none of them (Ed25519 or ML-DSA only).
pub fn choose_key(kinds: &[KeyKind], csr_key: KeyAlgorithm) -> Option<KeyAlgorithm> {
    let accepted = |k: KeyAlgorithm| {
        kinds.contains(&match k {
            KeyAlgorithm::P256 => KeyKind::P256,
            KeyAlgorithm::P384 => KeyKind::P384,
            KeyAlgorithm::Rsa { .. } => KeyKind::Rsa,
            KeyAlgorithm::Ed25519 | KeyAlgorithm::MlDsa65 => return false,
        })
    };
    let rsa = KeyAlgorithm::Rsa { bits: 2048 };
    let from_csr = match csr_key {
        KeyAlgorithm::Rsa { .. } => rsa,
        other => other,
    };
    [from_csr, KeyAlgorithm::P256, rsa, KeyAlgorithm::P384]
        .into_iter()
        .find(|k| accepted(*k))
}

/// A key made for one `serverkeygen` request. aws-lc-rs frees it (and wipes its PKCS#8
/// documents) on drop.
enum NewKey {
    Ec(EcdsaKeyPair, SignatureAlgorithm),
    Rsa(RsaKeyPair),
}

impl NewKey {
    /// Generates a key of `kind` (one [`choose_key`] returns).
    fn generate(kind: KeyAlgorithm) -> Result<NewKey, aws_lc_rs::error::Unspecified> {
        Ok(match kind {
            KeyAlgorithm::P384 => NewKey::Ec(
                EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING)?,
                SignatureAlgorithm::EcdsaSha384,
            ),
            KeyAlgorithm::Rsa { .. } => {
                NewKey::Rsa(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?)
            }
            _ => NewKey::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)?,
                SignatureAlgorithm::EcdsaSha256,
            ),
        })
    }

    /// A PKCS#10 request (DER) with `csr`'s subject and requested extensions, for this key
    /// and signed by it.
    fn request_for(&self, csr: &CertificationRequest) -> Result<Vec<u8>, EstError> {
        let failed = |what: &str| {
            tracing::error!(what, "EST serverkeygen: building the request failed");
            EstError::KeyGeneration
        };
        let spki: PublicKeyX509Der<'static> = match self {
            NewKey::Ec(k, _) => k.public_key().as_der(),
            NewKey::Rsa(k) => k.public_key().as_der(),
        }
        .map_err(|_| failed("public key"))?;
        // The extensions were parsed from a CSR and so encode again; a duplicate was refused
        // there too. An error here is the client's request, not the server.
        let info = signet_x509::encode_csr_info(&csr.subject, spki.as_ref(), &csr.extensions)
            .map_err(EstError::Csr)?;
        let rng = SystemRandom::new();
        let (alg, signature) = match self {
            NewKey::Ec(k, alg) => (
                *alg,
                k.sign(&rng, &info)
                    .map_err(|_| failed("signature"))?
                    .as_ref()
                    .to_vec(),
            ),
            NewKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, &info, &mut sig)
                    .map_err(|_| failed("signature"))?;
                (SignatureAlgorithm::RsaPkcs1Sha256, sig)
            }
        };
        signet_x509::assemble_csr(&info, alg, &signature).map_err(|_| failed("assembly"))
    }

    /// The 200 answer: this key as PKCS#8 and `certificate` as a certs-only PKCS#7, in a
    /// `multipart/mixed` body with its `Content-Length`, wiped when the server drops it.
    fn response(&self, certificate: &[u8]) -> Result<Response, EstError> {
        let failed = |what: &str| {
            tracing::error!(what, "EST serverkeygen: writing the answer failed");
            EstError::KeyGeneration
        };
        let boundary = multipart::new_boundary().map_err(|_| failed("boundary"))?;
        let certs = signet_x509::pkcs7::certs_only(&[certificate.to_vec()]);
        let write =
            |pkcs8: &[u8]| multipart::two_part_body(&boundary, pkcs8, CERTS_ONLY_TYPE, &certs);
        // aws-lc-rs wipes both PKCS#8 documents when they drop, at the end of each arm.
        let body = match self {
            NewKey::Ec(k, _) => k.to_pkcs8v1().map(|d| write(d.as_ref())),
            NewKey::Rsa(k) => AsDer::<Pkcs8V1Der<'static>>::as_der(k).map(|d| write(d.as_ref())),
        }
        .map_err(|_| failed("PKCS#8"))?;
        let length = body.len();
        let content_type = HeaderValue::from_str(&multipart::content_type(&boundary))
            .map_err(|_| failed("type"))?;
        // `from_owner` keeps the zeroizing buffer as the body's storage: no copy is made,
        // and the buffer is wiped when hyper drops the body after writing it.
        let body = Body::from(Bytes::from_owner(ZeroizingBody(body)));
        Ok((
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_LENGTH, HeaderValue::from(length)),
                // A private key: no cache along the way may keep it.
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response())
    }
}

/// A response body buffer that is wiped when dropped (`Bytes::from_owner` needs `AsRef`).
struct ZeroizingBody(Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for ZeroizingBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_key_type_follows_the_csr_then_p256_then_rsa() {
        use KeyKind::*;
        let rsa = KeyAlgorithm::Rsa { bits: 2048 };
        let p256 = KeyAlgorithm::P256;
        let p384 = KeyAlgorithm::P384;
        let csr_rsa = KeyAlgorithm::Rsa { bits: 4096 };
        assert_eq!(choose_key(&[P256, P384, Rsa], p256), Some(p256));
        assert_eq!(choose_key(&[P256, P384, Rsa], csr_rsa), Some(rsa));
        assert_eq!(choose_key(&[P256, P384, Rsa], p384), Some(p384));
        assert_eq!(choose_key(&[P256, Rsa], p384), Some(p256));
        assert_eq!(choose_key(&[Rsa], p256), Some(rsa));
        assert_eq!(
            choose_key(&[P384, Ed25519], KeyAlgorithm::Ed25519),
            Some(p384)
        );
        assert_eq!(choose_key(&[Ed25519, MlDsa65], p256), None);
    }

    #[test]
    fn generated_requests_carry_the_csr_names_and_parse() {
        // A client CSR made with another key; the new request keeps its subject and SANs.
        let client = NewKey::generate(KeyAlgorithm::P256).unwrap();
        let subject = signet_x509::DistinguishedName::parse("CN=dev.test").unwrap();
        let san =
            signet_x509::ext::subject_alt_name(&[signet_x509::San::Dns("dev.test".into())], false)
                .unwrap();
        let spki = match &client {
            NewKey::Ec(k, _) => k.public_key().as_der().unwrap().as_ref().to_vec(),
            NewKey::Rsa(_) => unreachable!(),
        };
        let info = signet_x509::encode_csr_info(&subject, &spki, &[san]).unwrap();
        let NewKey::Ec(k, _) = &client else {
            unreachable!()
        };
        let sig = k.sign(&SystemRandom::new(), &info).unwrap();
        let der = signet_x509::assemble_csr(&info, SignatureAlgorithm::EcdsaSha256, sig.as_ref())
            .unwrap();
        let csr = signet_x509::parse_csr(&der).unwrap();

        for kind in [
            KeyAlgorithm::P256,
            KeyAlgorithm::P384,
            KeyAlgorithm::Rsa { bits: 2048 },
        ] {
            let key = NewKey::generate(kind).unwrap();
            let made = signet_x509::parse_csr(&key.request_for(&csr).unwrap()).unwrap();
            assert_eq!(made.key, kind);
            assert_eq!(made.subject, csr.subject);
            assert_eq!(made.sans, csr.sans);
            assert_ne!(made.spki_der, csr.spki_der);
        }
    }
}
