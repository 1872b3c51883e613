//! Authentication: who is calling. An `Authorization: Bearer TOKEN` header (the scheme in
//! any case, RFC 9110 §11.1) is checked against the engine's tokens; otherwise a TLS client
//! certificate (put into the request by [`crate::listener::serve`]) is mapped to an identity
//! by the configured [`CertMapping`]s.
//! Authorization — what the identity may do — is the engine's job (`signet_api::admin`).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signet_api::{EnrollError, Identity, Roles};
use signet_x509::{DistinguishedName, San};

use crate::api::AppState;
use crate::problem::Problem;
use crate::tls::PeerCertificates;

/// Maps a TLS client certificate to an identity: by exact subject DN or by one SAN.
#[derive(Debug, Clone)]
pub struct CertMapping {
    /// RFC 4514 subject, compared as DER after parsing (so spacing does not matter).
    pub subject: Option<DistinguishedName>,
    /// A SAN in `dns:`, `email:`, `uri:` or `ip:` form.
    pub san: Option<San>,
    pub name: String,
    pub roles: Roles,
    pub cas: Vec<signet_api::CaName>,
    pub groups: Vec<String>,
}

impl CertMapping {
    fn matches(&self, subject: &DistinguishedName, sans: &[San]) -> bool {
        let subject_ok = self
            .subject
            .as_ref()
            .is_none_or(|s| s.as_der() == subject.as_der());
        let san_ok = self.san.as_ref().is_none_or(|s| sans.contains(s));
        (self.subject.is_some() || self.san.is_some()) && subject_ok && san_ok
    }
}

/// Parses a SAN written `dns:NAME`, `email:ADDR`, `uri:URI` or `ip:ADDR`.
pub fn parse_san(s: &str) -> Result<San, SanError> {
    let (kind, value) = s
        .split_once(':')
        .ok_or_else(|| SanError::NoKind(s.to_string()))?;
    let value = value.trim();
    if value.is_empty() {
        return Err(SanError::Empty(s.to_string()));
    }
    Ok(match kind.trim().to_ascii_lowercase().as_str() {
        "dns" => San::Dns(value.to_ascii_lowercase()),
        "email" => San::Email(value.to_string()),
        "uri" | "url" => San::Uri(value.to_string()),
        "ip" => San::Ip(value.parse().map_err(|source| SanError::BadIp {
            value: value.to_string(),
            source,
        })?),
        other => return Err(SanError::UnknownKind(other.to_string())),
    })
}

/// Why [`parse_san`] refused a SAN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SanError {
    /// No `kind:` prefix.
    #[error("{0:?}: write dns:NAME, ip:ADDR, email:ADDR or uri:URI")]
    NoKind(String),
    #[error("{0:?}: empty value")]
    Empty(String),
    #[error("{value:?} is not an IP address")]
    BadIp {
        value: String,
        #[source]
        source: std::net::AddrParseError,
    },
    #[error("unknown SAN kind {0:?} (dns, ip, email, uri)")]
    UnknownKind(String),
}

/// The authenticated caller of a request, or `None` (anonymous). Invalid credentials are
/// refused with 401 before the handler runs.
pub struct Caller(pub Option<Identity>);

impl Caller {
    pub fn identity(&self) -> Option<&Identity> {
        self.0.as_ref()
    }
}

/// A 401 with the `WWW-Authenticate` challenge RFC 9110 §11.6.1 asks for.
pub struct Unauthorized(Problem);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let mut resp = self.0.into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"signet\""),
        );
        resp
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Unauthorized;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| unauthorized("the Authorization header is not text"))?;
            let token = bearer_token(value)
                .ok_or_else(|| unauthorized("use Authorization: Bearer TOKEN"))?;
            return state
                .authn
                .authenticate_token(token)
                .map(|i| Caller(Some(i)))
                .map_err(|e| unauthorized(e.to_string()));
        }
        if let Some(peer) = parts.extensions.get::<PeerCertificates>() {
            let Some(leaf) = peer.0.first() else {
                return Ok(Caller(None));
            };
            let info = signet_x509::parse_certificate(leaf)
                .map_err(|e| unauthorized(CertRefused::Unreadable(e).to_string()))?;
            return certificate_caller(state, &info)
                .await
                .map(|i| Caller(Some(i)))
                .map_err(|refused| unauthorized(refused.to_string()));
        }
        Ok(Caller(None))
    }
}

pub use signet_api::auth::bearer_token;

/// A 401 problem with the `Bearer` challenge.
pub(crate) fn unauthorized(detail: impl Into<String>) -> Unauthorized {
    Unauthorized(Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Unauthenticated",
        detail,
    ))
}

/// The identity a TLS client certificate maps to: refused when the certificate is revoked
/// (or on hold) or no mapping matches.
pub async fn certificate_caller(
    state: &AppState,
    info: &signet_x509::CertificateInfo,
) -> Result<Identity, CertRefused> {
    let revoked = match hex::decode(&info.serial_hex)
        .ok()
        .and_then(|m| signet_api::SerialNumber::from_magnitude(&m).ok())
    {
        Some(serial) => state
            .authn
            .is_revoked(&info.issuer, &serial)
            .await
            .map_err(CertRefused::RevocationUnknown)?,
        None => false,
    };
    if revoked {
        return Err(CertRefused::Revoked {
            subject: info.subject.to_string(),
            serial: info.serial_hex.clone(),
        });
    }
    mapped_identity(&state.cert_identities, info).ok_or_else(|| CertRefused::NotMapped {
        subject: info.subject.to_string(),
    })
}

/// The identity the first of `mappings` that matches the certificate gives, with no
/// revocation check (the caller makes it): [`certificate_caller`]'s mapping, for front ends
/// that hold the mappings as a callback (EST).
pub fn mapped_identity(
    mappings: &[CertMapping],
    info: &signet_x509::CertificateInfo,
) -> Option<Identity> {
    let mapping = mappings
        .iter()
        .find(|m| m.matches(&info.subject, &info.sans))?;
    Some(Identity {
        name: mapping.name.clone(),
        roles: mapping.roles,
        cas: mapping.cas.clone(),
        groups: mapping.groups.clone(),
        via: format!("certificate:{}", info.serial_hex),
    })
}

/// Why a TLS client certificate gives no identity (the REST API's 401, the sign-in page's
/// refusal).
#[derive(Debug, thiserror::Error)]
pub enum CertRefused {
    #[error(
        "this connection presented no client certificate (use the HTTPS listener with your certificate)"
    )]
    NoCertificate,
    #[error("the client certificate: {0}")]
    Unreadable(#[source] signet_x509::Error),
    /// Whether it is revoked could not be told.
    #[error(transparent)]
    RevocationUnknown(EnrollError),
    #[error("the client certificate {subject} (serial {serial}) is revoked")]
    Revoked { subject: String, serial: String },
    #[error("the client certificate {subject} is not mapped to an identity")]
    NotMapped { subject: String },
    #[error("the client certificate's serial number is not usable")]
    UnusableSerial,
}

/// Shared list of certificate mappings.
pub type CertIdentities = Arc<Vec<CertMapping>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR   t0k"] {
            assert_eq!(bearer_token(v), Some("t0k"), "{v}");
        }
        for v in [
            "Basic dXNlcg==",
            "Bearer",
            "Bearer ",
            "Bearertok",
            "Token t0k",
        ] {
            assert_eq!(bearer_token(v), None, "{v}");
        }
    }
}
