//! Typed path parameters: `{ca}`, `{id}` and `{serial}` read, resolved and parsed once, so a
//! handler starts with a [`CaName`], a [`RequestId`] or a [`SerialNumber`] it can trust.
//!
//! The CA is resolved through the [`Directory`](signet_api::Directory) in [`AppState`]: a
//! CA this server does not hold is refused before the handler runs, as the engine would
//! refuse it (`UnknownCa`, 404). What a refusal looks like depends on who asked, so each
//! extractor takes its rejection as a type parameter: the REST API's default is the RFC 9457
//! [`Problem`], the web pages use [`PageError`] (the HTML error page) through the `Page*`
//! aliases. Both are built from one [`PathError`] (`From<PathError>` beside each: in
//! `problem.rs` and `web/mod.rs`).
//!
//! Public endpoints with their own answer for an unknown CA (OCSP's `unauthorized`, the CRL
//! downloads' 404 that does not say which part was unknown) read their paths themselves.

use std::marker::PhantomData;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use signet_api::ids::IdError;
use signet_api::{CaName, EnrollError, RequestId, SerialNumber};

use crate::AppState;
use crate::problem::Problem;
use crate::web::PageError;

/// Why a path parameter was refused.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path could not be read (a segment that is not UTF-8 once percent-decoded).
    #[error("{0}")]
    Unreadable(#[from] RawPathParamsRejection),
    /// The route does not declare the parameter: a programming error, not the caller's.
    #[error("the route has no {{{0}}} parameter")]
    Missing(&'static str),
    /// `{ca}` names no CA of this server (`EnrollError::UnknownCa`).
    #[error(transparent)]
    UnknownCa(EnrollError),
    /// `{id}` is not a request id.
    #[error(transparent)]
    BadId(IdError),
    /// `{serial}` is not a serial number in hex.
    #[error(transparent)]
    BadSerial(IdError),
}

/// `{ca}`, resolved by the directory. `R` is how a refusal is rendered.
#[derive(Debug)]
pub struct CaPath<R = Problem> {
    pub ca: CaName,
    rejection: PhantomData<fn() -> R>,
}

/// `{ca}` and `{id}`: a request of a CA of this server.
#[derive(Debug)]
pub struct RequestPath<R = Problem> {
    pub ca: CaName,
    pub id: RequestId,
    rejection: PhantomData<fn() -> R>,
}

/// `{ca}` and `{serial}` (hex): a certificate of a CA of this server.
#[derive(Debug)]
pub struct SerialPath<R = Problem> {
    pub ca: CaName,
    pub serial: SerialNumber,
    rejection: PhantomData<fn() -> R>,
}

/// [`CaPath`] for the web pages.
pub type PageCaPath = CaPath<PageError>;
/// [`RequestPath`] for the web pages.
pub type PageRequestPath = RequestPath<PageError>;
/// [`SerialPath`] for the web pages.
pub type PageSerialPath = SerialPath<PageError>;

impl<R> FromRequestParts<AppState> for CaPath<R>
where
    R: From<PathError> + IntoResponse,
{
    type Rejection = R;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, R> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(PathError::from)?;
        Ok(CaPath {
            ca: ca(&params, state)?,
            rejection: PhantomData,
        })
    }
}

impl<R> FromRequestParts<AppState> for RequestPath<R>
where
    R: From<PathError> + IntoResponse,
{
    type Rejection = R;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, R> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(PathError::from)?;
        let ca = ca(&params, state)?;
        let id = param(&params, "id")?.parse().map_err(PathError::BadId)?;
        Ok(RequestPath {
            ca,
            id,
            rejection: PhantomData,
        })
    }
}

impl<R> FromRequestParts<AppState> for SerialPath<R>
where
    R: From<PathError> + IntoResponse,
{
    type Rejection = R;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, R> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(PathError::from)?;
        let ca = ca(&params, state)?;
        let serial = param(&params, "serial")?
            .parse()
            .map_err(PathError::BadSerial)?;
        Ok(SerialPath {
            ca,
            serial,
            rejection: PhantomData,
        })
    }
}

/// The percent-decoded value of the parameter `name`.
fn param<'a>(params: &'a RawPathParams, name: &'static str) -> Result<&'a str, PathError> {
    params
        .iter()
        .find_map(|(k, v)| (k == name).then_some(v))
        .ok_or(PathError::Missing(name))
}

/// `{ca}` resolved by the directory (by name or config string `host/CAName`).
fn ca(params: &RawPathParams, state: &AppState) -> Result<CaName, PathError> {
    state.ca(param(params, "ca")?).map_err(PathError::UnknownCa)
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn bad_id() -> IdError {
        "x".parse::<RequestId>().expect_err("not an id")
    }

    #[test]
    fn the_rest_api_gets_the_problems_it_always_gave() {
        let p = Problem::from(PathError::UnknownCa(EnrollError::UnknownCa("nope".into())));
        assert_eq!(
            (p.status, p.kind.as_str()),
            (404, "urn:signet:problem:unknown-ca")
        );
        let p = Problem::from(PathError::BadId(bad_id()));
        assert_eq!(
            (p.status, p.kind.as_str()),
            (400, "urn:signet:problem:bad-request")
        );
        assert_eq!(p.detail, bad_id().to_string());
    }

    #[test]
    fn the_pages_get_their_error_page() {
        let e = PageError::from(PathError::UnknownCa(EnrollError::UnknownCa("nope".into())));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e = PageError::from(PathError::BadSerial(bad_id()));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }
}
