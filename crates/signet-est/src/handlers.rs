//! The EST operations (RFC 7030 §4): `cacerts`, `simpleenroll`, `simplereenroll`,
//! `csrattrs` and `serverkeygen`. Each resolves the CA from the path, authenticates where
//! the operation needs it, and reaches the CA through `Enroll`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64ct::{Base64, Encoding};
use signet_api::transport::{OverTls, PeerCertificates, TlsExporter};
use signet_api::{Identity, RequestStatus, SubmitRequest};
use signet_x509::{CertificateInfo, CertificationRequest, San};

use crate::auth::{Caller, Operation, authenticate};
use crate::error::{EstError, retry_after_value};
use crate::pending::PendingKey;
use crate::wire::{decode_base64_body, encode_base64_body, media_type_is};
use crate::{Est, EstCa};

/// `cacerts` answers (RFC 7030 §4.1.3).
const CACERTS_TYPE: &str = "application/pkcs7-mime";
/// `simpleenroll` and `simplereenroll` answers (RFC 7030 §4.2.3).
pub(crate) const CERTS_ONLY_TYPE: &str = "application/pkcs7-mime; smime-type=certs-only";
/// `csrattrs` answers (RFC 7030 §4.5.2).
const CSRATTRS_TYPE: &str = "application/csrattrs";
/// What `simpleenroll`, `simplereenroll` and `serverkeygen` take.
const PKCS10_TYPE: &str = "application/pkcs10";

/// What the connection and the request head say, for every operation.
pub struct Conn {
    over_tls: bool,
    peer: Option<PeerCertificates>,
    exporter: Option<TlsExporter>,
    /// The CA label of `/.well-known/est/{ca}/{operation}`; `None` for the default CA.
    label: Option<String>,
    pub(crate) authorization: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for Conn {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Conn, Infallible> {
        let label = parts
            .uri
            .path()
            .strip_prefix("/.well-known/est/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(ca, _)| ca.to_owned());
        Ok(Conn {
            over_tls: parts.extensions.get::<OverTls>().is_some(),
            peer: parts.extensions.get::<PeerCertificates>().cloned(),
            exporter: parts.extensions.get::<TlsExporter>().copied(),
            label,
            authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
            content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
        })
    }
}

impl Conn {
    /// The TLS client certificate (DER), if the client sent one.
    pub(crate) fn client_leaf(&self) -> Option<&[u8]> {
        self.peer.as_ref().and_then(PeerCertificates::leaf)
    }
}

impl Est {
    /// The CA of a request that came over TLS.
    pub(crate) fn ca_for(&self, conn: &Conn) -> Result<&EstCa, EstError> {
        if !conn.over_tls {
            return Err(EstError::NotOverTls);
        }
        self.ca(conn.label.as_deref()).ok_or_else(|| {
            EstError::UnknownCa(
                conn.label
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(64)
                    .collect(),
            )
        })
    }
}

/// `GET cacerts`: the CA's chain as a certs-only PKCS#7, base64 (RFC 7030 §4.1).
pub async fn cacerts(State(est): State<Arc<Est>>, conn: Conn) -> Response {
    let answer = async {
        let ca = est.ca_for(&conn)?;
        let chain = est.enroll.chain(ca.ca.as_str()).await?;
        Ok::<_, EstError>(base64_response(
            StatusCode::OK,
            CACERTS_TYPE,
            &signet_x509::pkcs7::certs_only(&chain),
        ))
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET csrattrs`: what a CSR should carry (RFC 7030 §4.5). No credentials needed (§4.5.1:
/// the server should not require them).
pub async fn csrattrs(State(est): State<Arc<Est>>, conn: Conn) -> Response {
    match est.ca_for(&conn) {
        Ok(ca) => base64_response(
            StatusCode::OK,
            CSRATTRS_TYPE,
            &crate::csrattrs::encode_csr_attrs(&ca.key_kinds),
        ),
        Err(e) => e.into_response(),
    }
}

/// `POST simpleenroll` (RFC 7030 §4.2.1).
pub async fn simpleenroll(
    State(est): State<Arc<Est>>,
    conn: Conn,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    enroll(&est, &conn, body, Operation::Enroll)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST simplereenroll` (RFC 7030 §4.2.2): renewal with the current certificate as the
/// TLS client certificate.
pub async fn simplereenroll(
    State(est): State<Arc<Est>>,
    conn: Conn,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    enroll(&est, &conn, body, Operation::Reenroll)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST serverkeygen` (RFC 7030 §4.4).
pub async fn serverkeygen(
    State(est): State<Arc<Est>>,
    conn: Conn,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    crate::serverkeygen::handle(&est, &conn, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `simpleenroll` and `simplereenroll`.
async fn enroll(
    est: &Est,
    conn: &Conn,
    body: Result<Bytes, BytesRejection>,
    op: Operation,
) -> Result<Response, EstError> {
    let ca = est.ca_for(conn)?;
    let caller = authenticate(
        est,
        ca,
        conn.authorization.as_ref().map(HeaderValue::as_bytes),
        conn.client_leaf(),
        op,
    )
    .await?;
    let csr = read_csr(conn, body)?;
    check_channel_binding(conn, &csr)?;
    if let Some(current) = &caller.renewing
        && !ca.reenroll_may_change_names
    {
        check_same_names(current, &csr)?;
    }
    match submit_or_retrieve(est, ca, &caller, &csr.der).await? {
        Outcome::Issued(certificate) => Ok(base64_response(
            StatusCode::OK,
            CERTS_ONLY_TYPE,
            &signet_x509::pkcs7::certs_only(&[certificate]),
        )),
        Outcome::Pending { retry_after } => Ok(accepted(retry_after)),
    }
}

/// The body's PKCS#10 request, parsed and signature-checked.
pub(crate) fn read_csr(
    conn: &Conn,
    body: Result<Bytes, BytesRejection>,
) -> Result<CertificationRequest, EstError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            EstError::TooLarge
        } else {
            EstError::BodyUnreadable(rejection.body_text())
        }
    })?;
    if let Some(ct) = &conn.content_type
        && !media_type_is(ct.as_bytes(), PKCS10_TYPE)
    {
        return Err(EstError::MediaType {
            expected: PKCS10_TYPE,
        });
    }
    let der = decode_base64_body(&body)?;
    signet_x509::parse_csr(&der).map_err(EstError::Csr)
}

/// RFC 7030 §3.5 with RFC 9266: a challengePassword in the CSR must be the base64 of this
/// connection's tls-exporter value. (tls-unique, which §3.5 names, does not exist in TLS
/// 1.3 and is not offered.)
pub(crate) fn check_channel_binding(
    conn: &Conn,
    csr: &CertificationRequest,
) -> Result<(), EstError> {
    let Some(password) = &csr.challenge_password else {
        return Ok(());
    };
    let expected = conn.exporter.map(|e| Base64::encode_string(&e.0));
    if expected.as_deref() == Some(password.trim()) {
        Ok(())
    } else {
        Err(EstError::ChannelBinding)
    }
}

/// RFC 7030 §4.2.2: the renewal keeps the subject of the certificate it renews, and asks
/// for none of the SANs it did not have. (A CSR may leave SANs out: the profile derives
/// them again, e.g. the CN as a DNS name.)
fn check_same_names(current: &CertificateInfo, csr: &CertificationRequest) -> Result<(), EstError> {
    if current.subject.as_der() != csr.subject.as_der() {
        return Err(EstError::NamesChanged(format!(
            "the CSR's subject is {:?}, the certificate's {:?}",
            csr.subject.to_string(),
            current.subject.to_string()
        )));
    }
    let added: Vec<String> = csr
        .sans
        .iter()
        .filter(|s| !current.sans.iter().any(|c| same_san(c, s)))
        .map(ToString::to_string)
        .collect();
    if !added.is_empty() {
        return Err(EstError::NamesChanged(format!(
            "the CSR asks for {} that the certificate does not name",
            added.join(", ")
        )));
    }
    Ok(())
}

/// SANs compare exactly, DNS names without regard to case.
fn same_san(a: &San, b: &San) -> bool {
    match (a, b) {
        (San::Dns(x), San::Dns(y)) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

/// What the CA answered.
pub(crate) enum Outcome {
    /// The certificate, DER.
    Issued(Vec<u8>),
    Pending {
        retry_after: Duration,
    },
}

/// Submits the request, or, when the same caller sent the same CSR and it is pending,
/// asks the CA what became of it.
pub(crate) async fn submit_or_retrieve(
    est: &Est,
    ca: &EstCa,
    caller: &Caller,
    csr_der: &[u8],
) -> Result<Outcome, EstError> {
    let identity: &Identity = &caller.identity;
    let key = PendingKey::new(ca.ca.as_str(), &identity.name, csr_der);
    let retrieved = match est.pending.get(&key) {
        Some(id) => match est
            .enroll
            .retrieve(ca.ca.as_str(), id, Some(identity))
            .await
        {
            Ok(answer) => Some(answer),
            // Gone (or no longer readable by this caller): submit anew.
            Err(signet_api::EnrollError::NotFound(_) | signet_api::EnrollError::Forbidden(_)) => {
                est.pending.remove(&key);
                None
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let answer = match retrieved {
        Some(answer) => answer,
        None => {
            est.enroll
                .submit(SubmitRequest {
                    ca: ca.ca.as_str().to_owned(),
                    csr: csr_der.to_vec(),
                    profile: Some(ca.profile.clone()),
                    attributes: Vec::new(),
                    caller: Some(identity.clone()),
                })
                .await?
        }
    };
    match answer.status {
        RequestStatus::Pending => {
            est.pending.insert(key, answer.id);
            Ok(Outcome::Pending {
                retry_after: ca.retry_after,
            })
        }
        RequestStatus::Issued => {
            est.pending.remove(&key);
            answer.certificate.map(Outcome::Issued).ok_or_else(|| {
                EstError::Enroll(signet_api::EnrollError::Internal {
                    incident: format!("request {} is issued without a certificate", answer.id),
                })
            })
        }
        RequestStatus::Denied | RequestStatus::Failed | RequestStatus::Revoked => {
            est.pending.remove(&key);
            Err(EstError::Denied {
                id: answer.id,
                message: answer
                    .message
                    .unwrap_or_else(|| answer.status.as_str().to_owned()),
            })
        }
    }
}

/// 202 Accepted with `Retry-After` and an empty body (RFC 7030 §4.2.3).
fn accepted(retry_after: Duration) -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::RETRY_AFTER, retry_after_value(retry_after))],
    )
        .into_response()
}

/// A base64 DER answer with `Content-Transfer-Encoding: base64` (RFC 7030 §4; Bouncy
/// Castle reads the body as DER without it).
pub(crate) fn base64_response(
    status: StatusCode,
    content_type: &'static str,
    der: &[u8],
) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                HeaderName::from_static("content-transfer-encoding"),
                HeaderValue::from_static("base64"),
            ),
        ],
        encode_base64_body(der),
    )
        .into_response()
}
