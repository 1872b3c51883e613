//! SCEP (RFC 8894): the enrollment protocol of routers, phones, MDM fleets and certmonger
//! (AD CS NDES), as an intermediary on the front-end API: every request reaches the CA
//! through [`Enroll`], so it passes the CA's policy module, can wait for a manager's
//! approval, and reaches the exit modules like any other.
//!
//! Layout:
//! - [`message`]: a pkiMessage in (SignedData around EnvelopedData, verified and decrypted
//!   with the RA key) and a CertRep out, with the CMS of `signet_x509::cms`.
//! - [`server`]: the HTTP front end at `/scep/{ca}` (GetCACaps, GetCACert, PKIOperation over
//!   GET and POST) and the flows: PKCSReq with a challenge password, RenewalReq signed with
//!   the current certificate, CertPoll and resends as polls, GetCert, GetCRL.
//! - [`admin`]: `POST /api/v1/cas/{ca}/scep/challenges` (a certificate manager makes a
//!   one-time challenge password).
//!
//! Architecture invariant: this crate reaches the CA only through `signet-api` traits
//! ([`Enroll`], [`Authenticate`], [`ScepStore`], [`PublicRevocation`]); all DER goes through
//! `signet-x509`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod message;
pub mod server;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::RsaKeyPair;
use signet_api::scep::ScepStore;
use signet_api::{Authenticate, CaName, Enroll, revocation::PublicRevocation};

/// The RA's key and certificate: SCEP clients encrypt their requests to it, and it signs
/// the replies. RSA (SCEP's key transport is RSA), issued by the CA.
pub struct RaKey {
    certificate: Vec<u8>,
    decrypt: Pkcs1PrivateDecryptingKey,
    sign: RsaKeyPair,
}

impl std::fmt::Debug for RaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaKey").finish_non_exhaustive()
    }
}

/// Why an RA key could not be taken up.
#[derive(Debug, thiserror::Error)]
#[error("the SCEP RA key: {0}")]
pub struct RaKeyError(String);

impl RaKey {
    /// From the RSA key's PKCS#8 DER and its certificate (DER).
    pub fn from_pkcs8(pkcs8: &[u8], certificate: Vec<u8>) -> Result<RaKey, RaKeyError> {
        let decrypt = PrivateDecryptingKey::from_pkcs8(pkcs8)
            .map_err(|e| RaKeyError(format!("not an RSA PKCS#8 key: {e}")))?;
        let decrypt = Pkcs1PrivateDecryptingKey::new(decrypt)
            .map_err(|e| RaKeyError(format!("not usable for PKCS#1 v1.5: {e}")))?;
        let sign =
            RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| RaKeyError(format!("signing key: {e}")))?;
        let info = signet_x509::parse_certificate(&certificate)
            .map_err(|e| RaKeyError(format!("certificate: {e}")))?;
        let public = aws_lc_rs::signature::KeyPair::public_key(&sign);
        if !info.spki_der.ends_with(public.as_ref()) {
            return Err(RaKeyError("the certificate is not the key's".into()));
        }
        Ok(RaKey {
            certificate,
            decrypt,
            sign,
        })
    }

    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }
}

/// What each CA's SCEP offers.
#[derive(Debug, Clone)]
pub struct ScepCa {
    pub ca: CaName,
    /// The profile requests go to.
    pub profile: String,
    /// A static challenge password (besides the one-time ones).
    pub static_challenge: Option<String>,
    /// The policy module checks the challenge (it gets it as `challengePassword`).
    pub policy_checks_challenge: bool,
    /// Accept SHA-1 and DES / 3DES.
    pub legacy_crypto: bool,
}

/// The parts the SCEP server is built from.
pub struct ScepParts {
    pub cas: Vec<ScepCa>,
    pub enroll: Arc<dyn Enroll>,
    pub authn: Arc<dyn Authenticate>,
    pub store: Arc<dyn ScepStore>,
    pub revocation: Arc<dyn PublicRevocation>,
    pub role_separation: bool,
}

/// The SCEP server of every CA with SCEP on.
pub struct Scep {
    cas: HashMap<CaName, ScepCa>,
    /// Each CA's RA keys, the current one first, then the one it replaced (requests
    /// encrypted to it before the renewal still open).
    ras: RwLock<HashMap<CaName, Vec<Arc<RaKey>>>>,
    pub(crate) enroll: Arc<dyn Enroll>,
    pub(crate) authn: Arc<dyn Authenticate>,
    pub(crate) store: Arc<dyn ScepStore>,
    pub(crate) revocation: Arc<dyn PublicRevocation>,
    pub(crate) role_separation: bool,
}

impl std::fmt::Debug for Scep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scep")
            .field("cas", &self.cas.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// How long a one-time challenge lives unless the manager says otherwise, and the longest.
pub const CHALLENGE_VALIDITY: Duration = Duration::from_secs(60 * 60);
pub const MAX_CHALLENGE_VALIDITY: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How long a transaction is remembered (resends and CertPolls find their request).
pub const TRANSACTION_KEEP: Duration = Duration::from_secs(30 * 24 * 60 * 60);

impl Scep {
    pub fn new(parts: ScepParts) -> Arc<Scep> {
        Arc::new(Scep {
            cas: parts.cas.into_iter().map(|c| (c.ca.clone(), c)).collect(),
            ras: RwLock::new(HashMap::new()),
            enroll: parts.enroll,
            authn: parts.authn,
            store: parts.store,
            revocation: parts.revocation,
            role_separation: parts.role_separation,
        })
    }

    /// The CAs with SCEP on.
    pub fn ca_names(&self) -> Vec<CaName> {
        self.cas.keys().cloned().collect()
    }

    /// Installs (or replaces, at renewal) the RA key of `ca`; the key it replaces still
    /// decrypts (and answers) requests made before, until the next renewal.
    pub fn set_ra(&self, ca: &CaName, ra: RaKey) {
        if let Ok(mut ras) = self.ras.write() {
            let keys = ras.entry(ca.clone()).or_default();
            keys.insert(0, Arc::new(ra));
            keys.truncate(2);
        }
    }

    /// The RA certificate of `ca` (DER), if one is installed.
    pub fn ra_certificate(&self, ca: &CaName) -> Option<Vec<u8>> {
        self.ra(ca).map(|r| r.certificate.clone())
    }

    pub(crate) fn ra(&self, ca: &CaName) -> Option<Arc<RaKey>> {
        self.ras.read().ok()?.get(ca)?.first().cloned()
    }

    /// The RA keys of `ca`, current first.
    pub(crate) fn ras(&self, ca: &CaName) -> Vec<Arc<RaKey>> {
        self.ras
            .read()
            .ok()
            .and_then(|r| r.get(ca).cloned())
            .unwrap_or_default()
    }

    pub(crate) fn settings(&self, ca: &str) -> Option<&ScepCa> {
        self.cas
            .iter()
            .find(|(n, _)| n.as_str() == ca)
            .map(|(_, c)| c)
    }

    /// Removes expired challenges and old transactions.
    pub async fn purge(&self) -> Result<u64, signet_api::acme::AcmeStoreError> {
        let now = std::time::SystemTime::now();
        self.store
            .purge_scep(now, now.checked_sub(TRANSACTION_KEEP).unwrap_or(now))
            .await
    }
}
