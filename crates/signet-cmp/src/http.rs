//! HTTP transfer (RFC 6712): `POST` with `Content-Type: application/pkixcmp` exactly, the
//! answer likewise with a Content-Length (HTTP/1.0 and 1.1, keep-alive or close: the
//! server's HTTP layer). A CMP-level failure is an `error` message in a 200 answer; a
//! transfer-level one (wrong media type, unknown CA, unreadable or oversized body) gets
//! its HTTP status, with an unprotected `error` message as the body where one can be made.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use signet_x509::cmp::{FailInfo, PkiMessage, ResponseBody, ResponseHeader, write_unprotected};

use crate::Cmp;
use crate::failure::Failure;
use crate::sender::write_answer;

/// The one media type of CMP over HTTP (RFC 6712 §3.4).
pub const MEDIA_TYPE: &str = "application/pkixcmp";

/// `POST /cmp/{ca}`, `/.well-known/cmp/p/{ca}`, `/.well-known/cmp`.
pub async fn post_message(
    State(cmp): State<Arc<Cmp>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let label = uri
        .path()
        .strip_prefix("/cmp/")
        .or_else(|| uri.path().strip_prefix("/.well-known/cmp/p/"));
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return transfer_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                Failure::new(
                    FailInfo::BAD_DATA_FORMAT,
                    format!("the message is larger than {} bytes", crate::MAX_BODY),
                ),
            );
        }
        Err(rejection) => {
            return transfer_error(
                StatusCode::BAD_REQUEST,
                None,
                Failure::new(FailInfo::BAD_DATA_FORMAT, rejection.body_text()),
            );
        }
    };
    let parsed = signet_x509::cmp::parse_message(&body);
    let content_type_ok = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(MEDIA_TYPE.as_bytes()));
    if !content_type_ok {
        return transfer_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            parsed.as_ref().ok(),
            Failure::new(
                FailInfo::BAD_DATA_FORMAT,
                format!("the Content-Type must be {MEDIA_TYPE}"),
            ),
        );
    }
    let msg = match parsed {
        Ok(m) => m,
        Err(e) => {
            let fail = match &e {
                signet_x509::Error::Unsupported { what, .. }
                    if *what == signet_x509::cmp::UNSUPPORTED_PVNO =>
                {
                    FailInfo::UNSUPPORTED_VERSION
                }
                _ => FailInfo::BAD_DATA_FORMAT,
            };
            return transfer_error(
                StatusCode::BAD_REQUEST,
                None,
                Failure::new(fail, format!("not a CMP message Signet can read: {e}")),
            );
        }
    };
    let Some(ca) = cmp.ca(label) else {
        return transfer_error(
            StatusCode::NOT_FOUND,
            Some(&msg),
            Failure::new(
                FailInfo::WRONG_AUTHORITY,
                format!(
                    "no CA {:?} serves CMP here",
                    label
                        .unwrap_or_default()
                        .chars()
                        .take(64)
                        .collect::<String>()
                ),
            ),
        );
    };
    let ca_chain = match cmp.enroll.chain(ca.ca.as_str()).await {
        Ok(chain) => chain,
        Err(e) => return transfer_error(StatusCode::SERVICE_UNAVAILABLE, Some(&msg), e.into()),
    };
    let ca_subject = ca_chain
        .first()
        .and_then(|c| signet_x509::parse_certificate(c).ok())
        .map(|c| c.subject.as_der().to_vec())
        .unwrap_or_else(|| EMPTY_NAME.to_vec());
    let (protection, answer) = crate::flow::handle(&cmp, ca, &msg, &ca_subject).await;
    let (body, implicit) = match answer {
        Ok(a) => a,
        Err(f) => (ResponseBody::Error(f.error_content()), false),
    };
    let written = write_answer(&msg, &protection, &ca_subject, &ca_chain, &body, implicit);
    match written {
        Ok(der) => pkixcmp(StatusCode::OK, der),
        Err(e) => {
            tracing::error!(ca = %ca.ca, error = %e, "writing a CMP answer");
            transfer_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(&msg),
                Failure::new(FailInfo::SYSTEM_FAILURE, "the answer could not be written"),
            )
        }
    }
}

/// An empty Name (`SEQUENCE {}`).
const EMPTY_NAME: [u8; 2] = [0x30, 0x00];
/// The NULL-DN GeneralName (`directoryName [4] SEQUENCE {}`).
const NULL_DN: [u8; 4] = [0xa4, 0x02, 0x30, 0x00];

/// A transfer-level failure: `status` with an unprotected `error` message, answering `req`
/// when it could be read.
fn transfer_error(status: StatusCode, req: Option<&PkiMessage>, failure: Failure) -> Response {
    tracing::debug!(status = status.as_u16(), failure = %failure.text, "CMP request refused");
    let body = ResponseBody::Error(failure.error_content());
    let header = match req {
        Some(req) => ResponseHeader::reply_to(req, &EMPTY_NAME).map(|mut h| {
            h.pvno = req.header.pvno;
            h.sender_kid = None;
            h
        }),
        None => ResponseHeader::reply_to_unreadable(&EMPTY_NAME, &NULL_DN),
    };
    match header.and_then(|h| write_unprotected(&h, &body, &[])) {
        Ok(der) => pkixcmp(status, der),
        Err(_) => status.into_response(),
    }
}

fn pkixcmp(status: StatusCode, der: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE))],
        der,
    )
        .into_response()
}
