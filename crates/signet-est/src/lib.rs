//! EST (RFC 7030): enrollment over HTTPS for devices, as an intermediary on the front-end
//! API: every request reaches the CA through `Enroll`, every credential is checked through
//! `Authenticate`. Nothing here issues, stores or signs a certificate.
//!
//! The server answers `/.well-known/est/{ca}/{operation}` for every CA with EST enabled and
//! `/.well-known/est/{operation}` for the default one (the first configured). Operations:
//! `cacerts`, `simpleenroll`, `simplereenroll`, `csrattrs` and `serverkeygen`.
//!
//! Security model:
//! - EST runs over TLS only. The binary merges [`router`] into the HTTPS listener's router
//!   alone, and each handler also refuses a request without the listener's
//!   [`signet_api::transport::OverTls`] mark.
//! - A caller authenticates with HTTP Basic (user = an API token's name, password = the
//!   token) or with a TLS client certificate: one this CA issued (valid, not revoked), or
//!   one the server's `[[identity]]` mappings know ([`CertificateMapper`]).
//! - `simplereenroll` needs the certificate it renews as the TLS client certificate, and
//!   keeps its names (RFC 7030 §4.2.2).
//! - A CSR carrying a challengePassword must carry the connection's RFC 9266 tls-exporter
//!   channel binding there (RFC 7030 §3.5 with tls-exporter in place of tls-unique, which
//!   TLS 1.3 does not have).
//!
//! # Layout
//! - this file: [`Est`] (configuration and trait objects), [`EstCa`], [`EstParts`],
//!   [`router`];
//! - `wire`: base64 bodies, the Basic header, media types;
//! - `csrattrs`: [`KeyKind`] and the `CsrAttrs` DER (RFC 7030 §4.5.2);
//! - `pending`: the bounded map that lets a client repeat a request answered 202;
//! - `auth`: who is calling (Basic, CA-issued or mapped client certificate);
//! - `handlers`: the five operations;
//! - `serverkeygen`: RFC 7030 §4.4 (the CA makes the key; off unless configured);
//! - `multipart`: the `serverkeygen` answer body (key and certificate, wiped after use);
//! - `error`: [`EstError`], mapped to HTTP in one place.
#![forbid(unsafe_code)]

mod auth;
mod csrattrs;
mod error;
mod handlers;
mod multipart;
mod pending;
mod serverkeygen;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use signet_api::{Authenticate, CaName, Enroll, Identity};

pub use csrattrs::{KeyKind, encode_csr_attrs};
pub use error::EstError;
pub use wire::{BasicCredentials, decode_base64_body, encode_base64_body, parse_basic};

/// The largest request body accepted (a PKCS#10 request in base64); more gets 413.
pub const MAX_BODY: usize = 64 * 1024;

/// Maps a TLS client certificate (DER) to an identity by the server's own rules (the
/// binary's `[[identity]]` mappings); `None` when none matches. Revocation and validity are
/// checked by EST before it is called.
pub type CertificateMapper = Arc<dyn Fn(&[u8]) -> Option<Identity> + Send + Sync>;

/// One CA's EST settings (`[ca.est]`).
#[derive(Clone, Debug)]
pub struct EstCa {
    pub ca: CaName,
    /// The profile every EST request goes to.
    pub profile: String,
    /// The realm of the `WWW-Authenticate: Basic` challenge (printable ASCII, no `"` or `\`).
    pub realm: String,
    /// `serverkeygen` is allowed (RFC 7030 §4.4): the CA makes the key and returns it with
    /// the certificate. Off: 501.
    pub serverkeygen: bool,
    /// The profile issues at once (`approval = "auto"`). `serverkeygen` refuses a profile
    /// that waits for a manager (400) rather than keep a generated key until approval.
    pub issues_at_once: bool,
    /// `simplereenroll` may change the subject or SANs of the certificate it renews.
    pub reenroll_may_change_names: bool,
    /// The key algorithms the profile accepts, for `csrattrs` and `serverkeygen`.
    pub key_kinds: Vec<KeyKind>,
    /// The `Retry-After` of a 202 (the request waits for a manager).
    pub retry_after: std::time::Duration,
}

/// What [`Est::new`] is built from.
pub struct EstParts {
    /// The CAs with EST enabled, in configuration order: the first is the default CA of
    /// `/.well-known/est/{operation}`.
    pub cas: Vec<EstCa>,
    pub enroll: Arc<dyn Enroll>,
    pub authn: Arc<dyn Authenticate>,
    pub map_certificate: CertificateMapper,
}

/// The EST server: configuration, the front-end API it calls, and the requests answered
/// 202 that a client may repeat.
pub struct Est {
    cas: HashMap<String, EstCa>,
    default_ca: String,
    enroll: Arc<dyn Enroll>,
    authn: Arc<dyn Authenticate>,
    map_certificate: CertificateMapper,
    pending: pending::PendingRequests,
}

/// Why [`Est::new`] refused its settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no CA has EST enabled")]
    NoCa,
    #[error("CA {0}: the realm must be 1-100 printable ASCII characters without '\"' or '\\'")]
    BadRealm(CaName),
    #[error("CA {0}: the profile accepts no key algorithm EST knows")]
    NoKeyKind(CaName),
    #[error(
        "CA {0}: serverkeygen makes P-256, P-384 or RSA keys, and the profile accepts none of them"
    )]
    NoServerKeygenKey(CaName),
}

impl Est {
    /// Checks the settings and builds the server.
    pub fn new(parts: EstParts) -> Result<Arc<Est>, ConfigError> {
        let default_ca = parts
            .cas
            .first()
            .map(|c| c.ca.as_str().to_owned())
            .ok_or(ConfigError::NoCa)?;
        let mut cas = HashMap::new();
        for ca in parts.cas {
            let realm_ok = (1..=100).contains(&ca.realm.len())
                && ca
                    .realm
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
            if !realm_ok {
                return Err(ConfigError::BadRealm(ca.ca));
            }
            if ca.key_kinds.is_empty() {
                return Err(ConfigError::NoKeyKind(ca.ca));
            }
            if ca.serverkeygen
                && serverkeygen::choose_key(&ca.key_kinds, signet_x509::KeyAlgorithm::P256)
                    .is_none()
            {
                return Err(ConfigError::NoServerKeygenKey(ca.ca));
            }
            cas.insert(ca.ca.as_str().to_owned(), ca);
        }
        Ok(Arc::new(Est {
            cas,
            default_ca,
            enroll: parts.enroll,
            authn: parts.authn,
            map_certificate: parts.map_certificate,
            pending: pending::PendingRequests::new(pending::MAX_ENTRIES, pending::PENDING_LIFETIME),
        }))
    }

    /// The CAs with EST, default first.
    pub fn ca_names(&self) -> Vec<&CaName> {
        let mut names: Vec<&CaName> = self.cas.values().map(|c| &c.ca).collect();
        names.sort_by_key(|n| (n.as_str() != self.default_ca, n.as_str().to_owned()));
        names
    }

    /// The CA a path names (`None`: the default CA).
    fn ca(&self, label: Option<&str>) -> Option<&EstCa> {
        self.cas.get(label.unwrap_or(&self.default_ca))
    }
}

/// The EST routes, for the HTTPS listener's router only.
pub fn router(est: Arc<Est>) -> Router {
    use handlers::*;
    Router::new()
        .route("/.well-known/est/cacerts", get(cacerts))
        .route("/.well-known/est/{ca}/cacerts", get(cacerts))
        .route("/.well-known/est/csrattrs", get(csrattrs))
        .route("/.well-known/est/{ca}/csrattrs", get(csrattrs))
        .route("/.well-known/est/simpleenroll", post(simpleenroll))
        .route("/.well-known/est/{ca}/simpleenroll", post(simpleenroll))
        .route("/.well-known/est/simplereenroll", post(simplereenroll))
        .route("/.well-known/est/{ca}/simplereenroll", post(simplereenroll))
        .route("/.well-known/est/serverkeygen", post(serverkeygen))
        .route("/.well-known/est/{ca}/serverkeygen", post(serverkeygen))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(est)
}
