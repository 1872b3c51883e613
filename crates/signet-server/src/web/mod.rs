//! The web pages (DESIGN §3): enrollment for requesters at `/`, the administration console
//! at `/admin`. Server-rendered HTML (askama templates under `templates/`, checked at compile
//! time) with a little progressive enhancement: htmx and Signet's own scripts, vendored into
//! the binary and served from `/static/`, so the pages work offline and without JavaScript
//! except where the browser itself must act (generating a key).
//!
//! Every page goes through the same engine calls as the REST API, so authorization is the
//! engine's; this layer authenticates (sessions, [`session`]) and renders.
//!
//! # Security
//! - Sessions: a `__Host-` cookie, `Secure; HttpOnly; SameSite=Strict`, in-memory and
//!   re-checked against its credential on every request ([`session`]).
//! - CSRF: every form carries the session's token and is posted through [`CsrfForm`], which
//!   also refuses cross-site requests (`Sec-Fetch-Site`, `Origin`).
//! - Refused sign-ins are limited per client address and their warnings sampled
//!   ([`throttle`]); nothing a sign-in form sends is logged.
//! - Content-Security-Policy without `unsafe-inline` or `unsafe-eval`; no inline script or
//!   style in any template; `frame-ancestors 'none'`; pages are `no-store`.

pub mod admin;
pub mod enroll;
pub mod session;
pub mod throttle;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use signet_api::admin::{SessionAction, SessionAudit};
use signet_api::{EnrollError, Identity, Role};

use crate::api::AppState;
use crate::extract::PathError;
pub use session::{CsrfForm, MaybeUser, SessionLimits, Sessions, WebUser};

/// What the pages share.
#[derive(Debug)]
pub struct WebState {
    /// Whether the pages are served (`[server.web] enabled`).
    pub enabled: bool,
    pub sessions: Sessions,
    /// Refused sign-ins per client address.
    pub signin_throttle: throttle::SigninThrottle,
}

impl WebState {
    pub fn new(
        enabled: bool,
        limits: SessionLimits,
        store: Arc<dyn signet_api::web_session::SessionStore>,
    ) -> Arc<WebState> {
        Arc::new(WebState {
            enabled,
            sessions: Sessions::new(limits, store),
            signin_throttle: throttle::SigninThrottle::default(),
        })
    }
}

/// The policy every page and asset is served with.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// The web routes (merged into [`crate::api::router`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(enroll::routes())
        .merge(admin::routes())
        .route("/static/{file}", get(asset))
        .layer(middleware::from_fn(security_headers))
}

async fn security_headers(req: axum::extract::Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        // `same-origin`, not `no-referrer`: with no-referrer, browsers send `Origin: null` on
        // form posts, which [`session::same_origin`] must refuse.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The vendored assets: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "signet.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/static/signet.css"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/static/htmx-2.0.11.min.js"),
    ),
    (
        "pkcs10.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/static/pkcs10.js"),
    ),
    (
        "enroll.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/static/enroll.js"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/static/console.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../web/static/favicon.svg"),
    ),
];

async fn asset(Path(file): Path<String>) -> Response {
    let Some((_, ty, body)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return PageError::not_found("no such file").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ty)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        *body,
    )
        .into_response()
}

/// The page frame: who is signed in and what the navigation shows.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub title: String,
    /// The signed-in user's name and roles.
    pub user: Option<(String, String)>,
    pub csrf: String,
    /// Whether the user may open the console.
    pub console: bool,
    /// Whether the user may read the audit log.
    pub auditor: bool,
    /// The navigation entry to mark current: `enroll`, `dashboard`, `pending`, ...
    pub section: &'static str,
}

impl Chrome {
    pub fn new(title: impl Into<String>, section: &'static str, user: Option<&WebUser>) -> Chrome {
        Chrome {
            title: title.into(),
            user: user.map(|u| (u.identity.name.clone(), u.identity.roles.to_string())),
            csrf: user.map(|u| u.csrf.clone()).unwrap_or_default(),
            console: user.is_some_and(|u| may_use_console(&u.identity)),
            auditor: user.is_some_and(|u| u.identity.roles.contains(Role::Auditor)),
            section,
        }
    }
}

/// The issuance chart covers this many days, today included.
pub const CHART_DAYS: u32 = 30;

/// Whether `identity` may open the console at all: it holds a role other than requester on
/// some CA. What it may read there, the engine decides (`Administer::authorize_reader`).
pub fn may_use_console(identity: &Identity) -> bool {
    [Role::Admin, Role::Manager, Role::Auditor]
        .into_iter()
        .any(|r| identity.roles.contains(r))
}

/// Fills `buf` from the TLS provider's random generator (session ids, CSRF tokens).
pub fn fill_random(buf: &mut [u8]) -> Result<(), RandomFailed> {
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(buf)
        .map_err(|_| RandomFailed)
}

/// The system random generator failed (rustls's `GetRandomFailed` carries no detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomFailed;

/// The audit record of a web sign-in or sign-out (`web-sign-in`, `web-sign-out`). `how` is
/// the method (`token`, `certificate`); `peer` the client address.
pub fn session_audit(action: SessionAction, how: &str, peer: &str) -> SessionAudit {
    SessionAudit {
        front_end: "web",
        action,
        method: how.to_string(),
        peer: peer.to_string(),
    }
}

/// Renders a template, or the error page if rendering fails.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
            .into_response()
        }
    }
}

/// An error shown as a page.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    reason: &'a str,
    message: &'a str,
    signin: bool,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn forbidden(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn signed_out() -> PageError {
        PageError::new(
            StatusCode::UNAUTHORIZED,
            "Your session has ended or you are not signed in. Sign in and try again.",
        )
    }
}

impl From<EnrollError> for PageError {
    fn from(e: EnrollError) -> PageError {
        let problem = crate::problem::Problem::from(e.clone());
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        PageError::new(status, problem.detail)
    }
}

/// The web pages' answer: the HTML error page (an id or serial that does not parse names
/// no page, so it is a 404 there).
impl From<PathError> for PageError {
    fn from(e: PathError) -> PageError {
        match e {
            PathError::UnknownCa(e) => PageError::from(e),
            PathError::BadId(e) | PathError::BadSerial(e) => PageError::not_found(e.to_string()),
            PathError::Unreadable(e) => PageError::bad_request(e.body_text()),
            PathError::Missing(_) => {
                PageError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            chrome: Chrome::new(self.status.canonical_reason().unwrap_or("Error"), "", None),
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
            signin: self.status == StatusCode::UNAUTHORIZED,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {}", self.status, self.message));
        (self.status, Html(body)).into_response()
    }
}

/// A page's query string, like axum's `Query`, but a malformed one gets the HTML error page
/// (400) rather than a plain-text rejection.
#[derive(Debug, Clone)]
pub struct PageQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S>
    for PageQuery<T>
{
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map(PageQuery)
            .map_err(|e| PageError::bad_request(format!("the address's query: {e}")))
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A time as `2026-12-02 01:45 UTC`.
pub use signet_x509::time::minutes as fmt_time;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_urls() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_175_900);
        assert_eq!(fmt_time(t), "2026-12-02 01:45 UTC");
        assert_eq!(url_encode("/admin?x=1&y"), "%2Fadmin%3Fx%3D1%26y");
    }
}
