//! [`EstError`]: every way an EST request fails, and the one place it becomes HTTP.
//!
//! RFC 7030 §4.2.3 leaves error bodies free-form; Signet answers a short `text/plain`
//! explanation, except for 401: Bouncy Castle's client fails on a 401 with a body, so the
//! challenge goes out with an empty one and the reason is logged.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signet_api::{EnrollError, RequestId};

use crate::wire::WireError;

/// Why an EST request failed.
#[derive(Debug, thiserror::Error)]
pub enum EstError {
    /// The request did not come over the HTTPS listener.
    #[error("EST is served on the HTTPS listener only")]
    NotOverTls,
    /// The path names a CA without EST.
    #[error("no CA named {0:?} offers EST here")]
    UnknownCa(String),
    /// No credentials, or credentials that are not valid: 401 with the Basic challenge.
    #[error("unauthenticated: {why}")]
    Unauthenticated { realm: String, why: String },
    /// Valid credentials that may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The body is not base64.
    #[error("{0}")]
    Body(#[from] WireError),
    /// The body is larger than [`crate::MAX_BODY`].
    #[error("the body is larger than {} bytes", crate::MAX_BODY)]
    TooLarge,
    /// The body could not be read.
    #[error("the body could not be read: {0}")]
    BodyUnreadable(String),
    /// The body is not a well-formed, correctly signed PKCS#10 request.
    #[error("bad certification request: {0}")]
    Csr(#[source] signet_x509::Error),
    /// The request's `Content-Type` is not the one the operation takes.
    #[error("Content-Type must be {expected}")]
    MediaType { expected: &'static str },
    /// The CSR's challengePassword is not this connection's tls-exporter value.
    #[error(
        "channel binding mismatch: the CSR's challengePassword must be the base64 of this \
         TLS connection's RFC 9266 tls-exporter value, or be left out"
    )]
    ChannelBinding,
    /// `simplereenroll` asked for other names than the certificate it renews.
    #[error("simplereenroll must keep the names of the certificate it renews: {0}")]
    NamesChanged(String),
    /// The CA denied the request (policy or a manager).
    #[error("request {id} was denied: {message}")]
    Denied { id: RequestId, message: String },
    /// `serverkeygen` is off for this CA.
    #[error("serverkeygen is not enabled for this CA ([ca.est] serverkeygen = true)")]
    ServerKeygenOff,
    /// The `serverkeygen` CSR asks for the key encrypted (DecryptKeyIdentifier or
    /// AsymmetricDecryptKeyIdentifier, RFC 7030 §4.4.1.1-2).
    #[error(
        "encrypted key delivery is not supported: send the CSR without DecryptKeyIdentifier \
         or AsymmetricDecryptKeyIdentifier; the key comes back unencrypted inside TLS"
    )]
    EncryptedKeyDelivery,
    /// `serverkeygen` on a profile whose requests wait for a manager: the key would have
    /// nowhere to wait, so nothing is submitted.
    #[error(
        "serverkeygen needs a profile that issues at once; profile {profile:?} waits for a \
         certificate manager (use simpleenroll with your own key)"
    )]
    ServerKeygenNeedsAutoProfile { profile: String },
    /// The profile accepts no key type `serverkeygen` makes (P-256, P-384, RSA).
    #[error("serverkeygen makes P-256, P-384 or RSA keys, and the profile accepts none of them")]
    ServerKeygenNoKeyType,
    /// The policy held a `serverkeygen` request although the profile issues at once; its
    /// key is gone, so a manager must deny it.
    #[error(
        "request {id} is pending, but serverkeygen keeps no keys: the generated key was \
         discarded; a manager should deny request {id}"
    )]
    ServerKeygenPending { id: RequestId },
    /// Generating the key, signing the new request or writing the answer failed (logged).
    #[error("the server could not generate the key")]
    KeyGeneration,
    /// An error from the CA.
    #[error(transparent)]
    Enroll(#[from] EnrollError),
}

impl EstError {
    /// The 401 for `realm`, with `why` logged.
    pub fn unauthenticated(realm: &str, why: impl Into<String>) -> EstError {
        EstError::Unauthenticated {
            realm: realm.to_owned(),
            why: why.into(),
        }
    }
}

impl IntoResponse for EstError {
    fn into_response(self) -> Response {
        let status = match &self {
            EstError::NotOverTls | EstError::UnknownCa(_) => StatusCode::NOT_FOUND,
            EstError::Unauthenticated { realm, why } => {
                tracing::info!(why = %why.chars().take(300).collect::<String>(), "EST: 401");
                return challenge(realm);
            }
            EstError::Forbidden(_) | EstError::Denied { .. } => StatusCode::FORBIDDEN,
            EstError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            EstError::Body(_)
            | EstError::BodyUnreadable(_)
            | EstError::Csr(_)
            | EstError::ChannelBinding
            | EstError::NamesChanged(_) => StatusCode::BAD_REQUEST,
            EstError::MediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            EstError::ServerKeygenOff | EstError::EncryptedKeyDelivery => {
                StatusCode::NOT_IMPLEMENTED
            }
            EstError::ServerKeygenNeedsAutoProfile { .. } => StatusCode::BAD_REQUEST,
            EstError::ServerKeygenNoKeyType
            | EstError::ServerKeygenPending { .. }
            | EstError::KeyGeneration => {
                tracing::error!(error = %self, "EST serverkeygen failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            EstError::Enroll(e) => return enroll_error(e),
        };
        text(status, &self.to_string())
    }
}

/// The front-end API's errors as HTTP.
fn enroll_error(e: &EnrollError) -> Response {
    let status = match e {
        EnrollError::UnknownCa(_) | EnrollError::NotFound(_) => StatusCode::NOT_FOUND,
        EnrollError::BadRequest(_) => StatusCode::BAD_REQUEST,
        // The caller authenticated at EST but the CA refuses the identity (a token revoked
        // meanwhile): its reason is worth more than an empty 401.
        EnrollError::Unauthenticated(_) | EnrollError::Forbidden(_) => StatusCode::FORBIDDEN,
        EnrollError::Conflict(_) => StatusCode::CONFLICT,
        EnrollError::RateLimited { retry_after, .. } => {
            let mut resp = text(StatusCode::TOO_MANY_REQUESTS, &e.to_string());
            resp.headers_mut()
                .insert(header::RETRY_AFTER, retry_after_value(*retry_after));
            return resp;
        }
        EnrollError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        // A configuration error (the profile vanished) or an incident: the details are in
        // the log, under the incident id the message names.
        EnrollError::UnknownProfile { .. }
        | EnrollError::Internal { .. }
        | EnrollError::Remote { .. } => {
            tracing::error!(error = %e, "EST: the CA failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    text(status, &e.to_string())
}

/// A `Retry-After` value in whole seconds, at least 1.
pub(crate) fn retry_after_value(d: Duration) -> HeaderValue {
    HeaderValue::from(d.as_secs().max(1))
}

/// The 401 with `WWW-Authenticate: Basic realm="..."` and an empty body.
fn challenge(realm: &str) -> Response {
    let value = HeaderValue::from_str(&format!("Basic realm=\"{realm}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic realm=\"signet\""));
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
    )
        .into_response()
}

/// A short `text/plain` answer.
fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("{message}\n"),
    )
        .into_response()
}
