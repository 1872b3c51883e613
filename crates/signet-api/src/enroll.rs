//! `Enroll`: the one interface every intermediary (REST, CLI, web pages, ACME, EST, SCEP,
//! CMP) uses to reach a CA (AD CS `ICertConfig` + `ICertRequest`). `Authority` implements it
//! in process; `signet-client` has an HTTP implementation so a front end can run elsewhere.
//! [`Directory`] is the CA set as a front end beside the engine reads it, without a round
//! trip.

use crate::BoxFuture;
use crate::auth::Identity;
use crate::ids::{CaName, ProfileName, RequestId, SerialNumber};
use crate::model::RequestStatus;

/// One CA as discovered (`ICertConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaSummary {
    pub name: String,
    /// `host/CAName`.
    pub config: String,
    pub subject: String,
    pub key_algorithm: String,
    pub policy: String,
    pub exits: Vec<String>,
    pub profiles: Vec<String>,
    pub default_profile: Option<String>,
    /// AD CS certificate index: how many times the CA certificate was renewed.
    pub cert_index: u32,
    /// The CA's keys: the one that issues now first, then earlier ones (AD CS key indexes).
    pub keys: Vec<CaKeySummary>,
}

/// One key of a CA (AD CS key index) as discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaKeySummary {
    /// Its key index: 0 for the first key, then one more per renewal with a new key.
    pub index: u32,
    /// Whether it issues now; an earlier key only signs the CRLs and OCSP responses of the
    /// certificates it issued, while its CA certificate is valid.
    pub current: bool,
    /// SHA-256 of its (newest) CA certificate, hex.
    pub certificate_sha256: String,
    /// Its CA certificate's notAfter.
    pub not_after: std::time::SystemTime,
    /// Its main CRL's public URL, when the CA has a public base URL.
    pub crl_url: Option<String>,
}

/// A request as an intermediary submits it (`ICertRequest::Submit`).
#[derive(Debug, Clone)]
pub struct SubmitRequest {
    /// CA name or config string `host/CAName`.
    pub ca: String,
    /// PKCS#10, PEM or DER.
    pub csr: Vec<u8>,
    pub profile: Option<String>,
    pub attributes: Vec<(String, String)>,
    /// The authenticated caller (`None`: anonymous, which only some profiles allow). Its name
    /// is recorded as the requester. `RemoteEnroll` ignores it and sends its own credential.
    pub caller: Option<Identity>,
}

/// The CA's answer (`ICertRequest::GetDisposition` and friends).
#[derive(Debug, Clone)]
pub struct SubmitResponse {
    pub id: RequestId,
    pub status: RequestStatus,
    pub message: Option<String>,
    /// The serial when issued (or revoked).
    pub serial: Option<SerialNumber>,
    /// The certificate, DER, when issued (or revoked).
    pub certificate: Option<Vec<u8>>,
    /// The issuing chain, DER, leaf's issuer first.
    pub chain: Vec<Vec<u8>>,
}

/// Why an intermediary call failed. Each maps to one RFC 9457 problem type in the REST layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EnrollError {
    #[error("unknown CA {0:?}")]
    UnknownCa(String),
    #[error("unknown profile {profile:?} for CA {ca:?}")]
    UnknownProfile { ca: String, profile: String },
    /// The request could not be parsed or verified; nothing was stored.
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("request {0} not found")]
    NotFound(String),
    /// No credentials, or credentials that are not valid (unknown, expired, revoked).
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Valid credentials without the role this needs; nothing was changed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request or certificate is not in a state that allows this (e.g. approving an
    /// issued request, or a concurrent change won).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller went past a rate limit or quota (`crate::limits`); nothing was stored.
    #[error("rate limited: {detail}")]
    RateLimited {
        detail: String,
        /// When a retry may succeed.
        retry_after: std::time::Duration,
    },
    /// The CA is shutting down or not started.
    #[error("the CA is unavailable: {0}")]
    Unavailable(String),
    /// An unexpected error; details are in the server log under `incident`.
    #[error("internal error (incident {incident})")]
    Internal { incident: String },
    /// An error reported by a remote CA over HTTP.
    #[error("{title} (HTTP {status}): {detail}")]
    Remote {
        status: u16,
        title: String,
        detail: String,
    },
}

/// The intermediary's view of the CA.
pub trait Enroll: Send + Sync {
    /// Config discovery.
    fn list_cas(&self) -> BoxFuture<'_, Result<Vec<CaSummary>, EnrollError>>;
    /// Submit a request.
    fn submit(&self, req: SubmitRequest) -> BoxFuture<'_, Result<SubmitResponse, EnrollError>>;
    /// Retrieve a request's disposition (`RetrievePending`). A requester sees their own
    /// requests (and anonymous ones); managers, administrators and auditors see every request.
    fn retrieve<'a>(
        &'a self,
        ca: &'a str,
        id: RequestId,
        caller: Option<&'a Identity>,
    ) -> BoxFuture<'a, Result<SubmitResponse, EnrollError>>;
    /// The CA certificate, DER.
    fn ca_certificate<'a>(&'a self, ca: &'a str) -> BoxFuture<'a, Result<Vec<u8>, EnrollError>>;
    /// The issuing chain, DER, CA certificate first.
    fn chain<'a>(&'a self, ca: &'a str) -> BoxFuture<'a, Result<Vec<Vec<u8>>, EnrollError>>;
    /// The canonical name of a CA given by name or config string `host/CAName`;
    /// `UnknownCa` when the server does not hold it. By default, from [`Enroll::list_cas`]
    /// (a remote client); the engine answers from its own table.
    fn resolve_ca<'a>(&'a self, ca: &'a str) -> BoxFuture<'a, Result<CaName, EnrollError>> {
        Box::pin(async move {
            let cas = self.list_cas().await?;
            cas.iter()
                .find(|c| c.name == ca || c.config.eq_ignore_ascii_case(ca))
                .and_then(|c| CaName::new(&c.name).ok())
                .ok_or_else(|| EnrollError::UnknownCa(ca.chars().take(100).collect()))
        })
    }
}

/// The CA set of a server, read in process (the CAs are fixed while it runs): names, the
/// resolution of a name or config string, discovery, and the profiles a caller may use.
pub trait Directory: Send + Sync {
    /// Every CA's canonical name, in configuration order.
    fn ca_names(&self) -> Vec<CaName>;
    /// The canonical name of a CA given by name or config string `host/CAName`, if it is
    /// one of this server's.
    fn ca_name(&self, ca: &str) -> Option<CaName>;
    /// Discovery (`ICertConfig`), as [`Enroll::list_cas`] answers it.
    fn summaries(&self) -> Vec<CaSummary>;
    /// The profiles of `ca` that `caller` may enroll in, default first.
    fn enrollable_profiles(
        &self,
        ca: &CaName,
        caller: Option<&Identity>,
    ) -> Result<Vec<ProfileName>, EnrollError>;
}

/// Why a certificate is not a current certificate of a CA ([`current_certificate`]).
#[derive(Debug, thiserror::Error)]
pub enum NotCurrent {
    /// Its signature does not verify with the CA's key (or it does not parse): another
    /// issuer's, whatever its issuer name says.
    #[error("not a certificate of this CA: {0}")]
    Foreign(#[source] signet_x509::Error),
    /// One of this CA's, outside its validity.
    #[error("the certificate {subject} (serial {serial}) is not valid now")]
    NotValidNow { subject: String, serial: String },
    /// One of this CA's, revoked or on hold.
    #[error("the certificate {subject} (serial {serial}) is revoked")]
    Revoked { subject: String, serial: String },
}

/// Whether `cert` (DER) is a current certificate of `ca`: its signature verifies with the CA
/// certificate's key (not merely its issuer name), it is within its validity at `now`, and
/// the CA has not revoked it or put it on hold. What front ends check before they let a
/// certificate stand for its holder (SCEP RenewalReq and GetCert, EST re-enrollment).
/// `Err` only when the CA could not be asked.
pub async fn current_certificate(
    enroll: &dyn Enroll,
    authn: &dyn crate::auth::Authenticate,
    ca: &str,
    cert: &[u8],
    now: std::time::SystemTime,
) -> Result<Result<signet_x509::CertificateInfo, NotCurrent>, EnrollError> {
    let ca_der = enroll.ca_certificate(ca).await?;
    let ca_info = signet_x509::parse_certificate(&ca_der).map_err(|e| EnrollError::Internal {
        incident: format!("the CA certificate of {ca} does not parse: {e}"),
    })?;
    let info = match signet_x509::verify_issued_by(cert, &ca_info.subject, &ca_info.spki_der) {
        Ok(info) => info,
        Err(e) => return Ok(Err(NotCurrent::Foreign(e))),
    };
    let named =
        |info: &signet_x509::CertificateInfo| (info.subject.to_string(), info.serial_hex.clone());
    if now < info.not_before || now > info.not_after {
        let (subject, serial) = named(&info);
        return Ok(Err(NotCurrent::NotValidNow { subject, serial }));
    }
    // A serial this CA did not write cannot be on its list.
    if let Ok(serial) = info.serial_hex.parse::<SerialNumber>()
        && authn.is_revoked(&ca_info.subject, &serial).await?
    {
        let (subject, serial) = named(&info);
        return Ok(Err(NotCurrent::Revoked { subject, serial }));
    }
    Ok(Ok(info))
}
