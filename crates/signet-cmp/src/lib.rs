//! CMP (RFC 4210 as profiled by RFC 9483, Lightweight CMP; HTTP transfer per RFC 6712):
//! the enrollment protocol of industrial automation, 5G and many PKI products, as an
//! intermediary on the front-end API. Every request reaches the CA through [`Enroll`] (so it
//! passes the policy module, can wait for a manager, reaches the exit modules), every
//! revocation through [`HolderRevocation`]. Nothing here issues, stores or signs a
//! certificate; the message layer (parsing, protection, response DER) is
//! `signet_x509::cmp`.
//!
//! Served at `/cmp/{ca}` and `/.well-known/cmp/p/{ca}` (RFC 9483 §6.1 names the path
//! segment after `p/` a profile label; Signet names the CA there), and
//! `/.well-known/cmp` for the default CA (the first configured).
//!
//! Security model:
//! - Every request is protected. MAC protection (RFC 4210 password-based MAC): senderKID
//!   is the name of an API token made with `--shared-secret`, the secret is the token.
//!   Signature protection: the first extraCerts certificate must be a current certificate
//!   of this CA (signature checked with the CA key, valid, not revoked).
//! - The answer is protected the same way: with the same secret, or by this CA's CMP
//!   responder certificate (digitalSignature, id-kp-cmcCA, issued by the CA).
//! - kur and rr speak for one certificate: they must be signed with it.
//! - A failure is answered with an `error` message whose PKIFailureInfo says what was
//!   wrong, and stores nothing.
//!
//! # Layout
//! - this file: [`Cmp`], [`CmpCa`], [`CmpParts`], [`ResponderKey`], [`router`];
//! - `http`: RFC 6712 transfer (media type, sizes, status codes);
//! - `sender`: who is calling (MAC or signature) and how the answer is protected;
//! - `flow`: the request bodies (ir/cr/kur/p10cr, certConf, pollReq, rr, genm);
//! - `genm`: the general messages (RFC 9483 §4.3 and what OpenSSL 3.0 asks);
//! - `transactions`: open transactions (waiting for approval or for confirmation);
//! - `failure`: [`Failure`], a PKIFailureInfo with its text.
#![forbid(unsafe_code)]

mod failure;
mod flow;
mod genm;
mod http;
mod sender;
mod transactions;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use signet_api::revocation::{HolderRevocation, PublicRevocation};
use signet_api::{Authenticate, CaName, Enroll};

pub use failure::Failure;

/// The largest request body accepted; more gets 413.
pub const MAX_BODY: usize = signet_x509::cmp::MAX_MESSAGE;

/// One CA's CMP settings (`[ca.cmp]`).
#[derive(Clone, Debug)]
pub struct CmpCa {
    pub ca: CaName,
    /// The profile every CMP request goes to.
    pub profile: String,
    /// Grant implicitConfirm when a client asks for it (RFC 9483 §4.1.1); otherwise the
    /// client must send certConf.
    pub implicit_confirm: bool,
    /// How long an issued certificate waits for its certConf before it is revoked.
    pub confirm_wait: Duration,
    /// The checkAfter of a pollRep (the request waits for a manager).
    pub check_after: Duration,
}

/// What [`Cmp::new`] is built from.
pub struct CmpParts {
    /// The CAs with CMP on, in configuration order: the first is the default CA.
    pub cas: Vec<CmpCa>,
    pub enroll: Arc<dyn Enroll>,
    pub authn: Arc<dyn Authenticate>,
    pub holder: Arc<dyn HolderRevocation>,
    pub revocation: Arc<dyn PublicRevocation>,
}

/// The key and certificate the CMP front end signs its answers to signature-protected
/// requests with (ECDSA P-256, issued by the CA).
pub struct ResponderKey {
    certificate: Vec<u8>,
    subject: Vec<u8>,
    key_id: Vec<u8>,
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for ResponderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderKey").finish_non_exhaustive()
    }
}

/// Why a responder key could not be taken up.
#[derive(Debug, thiserror::Error)]
#[error("the CMP responder key: {0}")]
pub struct ResponderKeyError(String);

impl ResponderKey {
    /// From a P-256 key's PKCS#8 DER and its certificate (DER).
    pub fn from_pkcs8(
        pkcs8: &[u8],
        certificate: Vec<u8>,
    ) -> Result<ResponderKey, ResponderKeyError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8)
            .map_err(|e| ResponderKeyError(format!("not a P-256 PKCS#8 key: {e}")))?;
        let info = signet_x509::parse_certificate(&certificate)
            .map_err(|e| ResponderKeyError(format!("certificate: {e}")))?;
        if !info.spki_der.ends_with(key.public_key().as_ref()) {
            return Err(ResponderKeyError("the certificate is not the key's".into()));
        }
        let key_id = signet_x509::ext::key_identifier(&info.spki_der)
            .map_err(|e| ResponderKeyError(format!("key identifier: {e}")))?;
        Ok(ResponderKey {
            subject: info.subject.as_der().to_vec(),
            key_id: key_id.to_vec(),
            certificate,
            key,
        })
    }

    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }
}

/// The CMP server of every CA with CMP on.
pub struct Cmp {
    cas: HashMap<String, CmpCa>,
    default_ca: String,
    pub(crate) enroll: Arc<dyn Enroll>,
    pub(crate) authn: Arc<dyn Authenticate>,
    pub(crate) holder: Arc<dyn HolderRevocation>,
    pub(crate) revocation: Arc<dyn PublicRevocation>,
    responders: RwLock<HashMap<CaName, Arc<ResponderKey>>>,
    pub(crate) transactions: transactions::Transactions,
}

impl std::fmt::Debug for Cmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cmp")
            .field("cas", &self.cas.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why [`Cmp::new`] refused its settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no CA has CMP enabled")]
    NoCa,
}

impl Cmp {
    /// Checks the settings and builds the server.
    pub fn new(parts: CmpParts) -> Result<Arc<Cmp>, ConfigError> {
        let default_ca = parts
            .cas
            .first()
            .map(|c| c.ca.as_str().to_owned())
            .ok_or(ConfigError::NoCa)?;
        Ok(Arc::new(Cmp {
            cas: parts
                .cas
                .into_iter()
                .map(|c| (c.ca.as_str().to_owned(), c))
                .collect(),
            default_ca,
            enroll: parts.enroll,
            authn: parts.authn,
            holder: parts.holder,
            revocation: parts.revocation,
            responders: RwLock::new(HashMap::new()),
            transactions: transactions::Transactions::new(),
        }))
    }

    /// The CAs with CMP on.
    pub fn ca_names(&self) -> Vec<CaName> {
        self.cas.values().map(|c| c.ca.clone()).collect()
    }

    /// Installs (or replaces, at renewal) the responder key of `ca`.
    pub fn set_responder(&self, ca: &CaName, key: ResponderKey) {
        if let Ok(mut r) = self.responders.write() {
            r.insert(ca.clone(), Arc::new(key));
        }
    }

    /// The responder certificate of `ca` (DER), if one is installed.
    pub fn responder_certificate(&self, ca: &CaName) -> Option<Vec<u8>> {
        self.responder(ca).map(|r| r.certificate.clone())
    }

    pub(crate) fn responder(&self, ca: &CaName) -> Option<Arc<ResponderKey>> {
        self.responders.read().ok()?.get(ca).cloned()
    }

    /// The CA a path names (`None`: the default CA).
    pub(crate) fn ca(&self, label: Option<&str>) -> Option<&CmpCa> {
        self.cas.get(label.unwrap_or(&self.default_ca))
    }

    /// Revokes the certificates whose confirmation did not come in time (RFC 9483
    /// §4.1.1: the PKI management entity revokes a certificate the client did not
    /// confirm). Returns how many were revoked. Run every few seconds.
    pub async fn expire_unconfirmed(&self) -> usize {
        flow::expire_unconfirmed(self).await
    }
}

/// The CMP routes (both listeners: CMP protects its own messages).
pub fn router(cmp: Arc<Cmp>) -> Router {
    Router::new()
        .route("/cmp/{ca}", post(http::post_message))
        .route("/.well-known/cmp", post(http::post_message))
        .route("/.well-known/cmp/p/{ca}", post(http::post_message))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(cmp)
}

impl ResponderKey {
    /// ecdsa-with-SHA256 over `data`, DER.
    pub(crate) fn sign(&self, data: &[u8]) -> signet_x509::Result<Vec<u8>> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key
            .sign(&rng, data)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| signet_x509::Error::Unsupported {
                what: "CMP responder signature",
                detail: "signing failed".into(),
            })
    }
}
