//! RFC 9457 problem details: the one place where errors become HTTP responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use signet_api::EnrollError;

use crate::extract::PathError;

/// An `application/problem+json` body.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Seconds for a `Retry-After` header (429 answers).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of the given slug (the `type` is `urn:signet:problem:SLUG`).
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:signet:problem:{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }
}

impl From<EnrollError> for Problem {
    fn from(e: EnrollError) -> Problem {
        match &e {
            EnrollError::UnknownCa(_) => Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-ca",
                "Unknown CA",
                e.to_string(),
            ),
            EnrollError::UnknownProfile { .. } => Problem::new(
                StatusCode::BAD_REQUEST,
                "unknown-profile",
                "Unknown profile",
                e.to_string(),
            ),
            EnrollError::BadRequest(d) => Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                d.clone(),
            ),
            EnrollError::NotFound(_) => Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                e.to_string(),
            ),
            EnrollError::Unauthenticated(d) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated",
                d.clone(),
            ),
            EnrollError::Forbidden(d) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", d.clone())
            }
            EnrollError::Conflict(d) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", d.clone())
            }
            EnrollError::RateLimited {
                detail,
                retry_after,
            } => Problem {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many requests",
                    detail.clone(),
                )
            },
            EnrollError::Unavailable(d) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "CA unavailable",
                d.clone(),
            ),
            EnrollError::Internal { .. } => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                e.to_string(),
            ),
            EnrollError::Remote {
                status,
                title,
                detail,
            } => Problem {
                kind: "about:blank".into(),
                title: title.clone(),
                status: *status,
                detail: detail.clone(),
                retry_after: None,
            },
        }
    }
}

/// The REST API's answer: the problems the handlers gave before the extractors existed (an
/// unknown CA is `unknown-ca`, 404; a bad id or serial is `bad-request`, 400).
impl From<PathError> for Problem {
    fn from(e: PathError) -> Problem {
        match e {
            PathError::UnknownCa(e) => Problem::from(e),
            PathError::BadId(e) | PathError::BadSerial(e) => Problem::bad_request(e.to_string()),
            PathError::Unreadable(e) => Problem::bad_request(e.body_text()),
            PathError::Missing(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                e.to_string(),
            ),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
