//! Web sessions: a random session id in a `__Host-` cookie (`Secure`, `HttpOnly`,
//! `SameSite=Strict`, `Path=/`), kept server-side with the identity it proved, and a CSRF
//! token per session that every form carries back ([`CsrfForm`]).
//!
//! Sessions live in the database (`SessionStore`): every node of a cluster knows them, a
//! restart signs nobody out, and signing out ends the session everywhere. Each request re-checks the
//! credential the session was opened with (a revoked or expired token, or a revoked client
//! certificate, ends it), so signing in never outlives what it was based on.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::de::DeserializeOwned;
use signet_api::acme::AcmeStoreError;
use signet_api::web_session::{SessionCertificate, SessionCutoff, SessionStore, WebSession};
use signet_api::{Identity, SerialNumber};
use signet_x509::DistinguishedName;

use crate::api::AppState;
use crate::web::{PageError, RandomFailed};

/// The session cookie's name. `__Host-` makes browsers refuse it unless it is `Secure`,
/// host-only and for `/` (RFC 6265bis §4.1.3.2).
pub const COOKIE: &str = "__Host-signet-session";

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Signed out after this long without a request.
    pub idle: Duration,
    /// Signed out this long after signing in, however active.
    pub absolute: Duration,
    /// At most this many sessions at once; the least recently used goes first.
    pub max_sessions: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(8 * 3600),
            max_sessions: 10_000,
        }
    }
}

/// The client certificate a session was opened with, re-checked for revocation.
#[derive(Debug, Clone)]
pub struct CertBinding {
    pub issuer: DistinguishedName,
    pub serial: SerialNumber,
    /// The session ends when the certificate expires.
    pub not_after: std::time::SystemTime,
}

#[derive(Debug, Clone)]
struct Session {
    identity: Identity,
    cert: Option<CertBinding>,
    csrf: String,
    last_seen: SystemTime,
}

/// How stale a session's `last_seen` may get before a request records its activity: a write
/// per page view would cost more than it tells (the idle limit is tens of minutes).
const TOUCH_AFTER: Duration = Duration::from_secs(60);

/// The sessions, in the database (`SessionStore`), so every node of a cluster knows them;
/// found by the SHA-256 of the cookie value (the store never sees a usable cookie).
pub struct Sessions {
    limits: SessionLimits,
    store: Arc<dyn SessionStore>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A new session's cookie value, and the `Set-Cookie` header that sends it.
pub struct NewSession {
    pub cookie: String,
    pub set_cookie: HeaderValue,
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Random(#[from] RandomFailed),
    #[error("storing the session: {0}")]
    Store(#[from] AcmeStoreError),
    /// The `Set-Cookie` value is not a header value (it is built from base64 and constants).
    #[error("{0}")]
    Cookie(#[source] axum::http::header::InvalidHeaderValue),
}

impl Sessions {
    pub fn new(limits: SessionLimits, store: Arc<dyn SessionStore>) -> Sessions {
        Sessions { limits, store }
    }

    /// Which sessions have ended at `now`.
    fn cutoff(&self, now: SystemTime) -> SessionCutoff {
        SessionCutoff {
            idle_before: now.checked_sub(self.limits.idle).unwrap_or(UNIX_EPOCH),
            created_before: now.checked_sub(self.limits.absolute).unwrap_or(UNIX_EPOCH),
        }
    }

    /// Opens a session for `identity`.
    pub async fn open(
        &self,
        identity: Identity,
        cert: Option<CertBinding>,
        random: &(dyn Fn(&mut [u8]) -> Result<(), RandomFailed> + Sync),
    ) -> Result<NewSession, SessionError> {
        let mut id = [0u8; 32];
        random(&mut id)?;
        let mut csrf = [0u8; 32];
        random(&mut csrf)?;
        let cookie = Base64UrlUnpadded::encode_string(&id);
        let now = SystemTime::now();
        let session = WebSession {
            key: signet_x509::sha256(cookie.as_bytes()),
            identity,
            certificate: cert.map(|c| SessionCertificate {
                issuer: c.issuer.as_der().to_vec(),
                serial: c.serial,
                not_after: c.not_after,
            }),
            csrf: Base64UrlUnpadded::encode_string(&csrf),
            created_at: now,
            last_seen: now,
        };
        let max = u32::try_from(self.limits.max_sessions).unwrap_or(u32::MAX);
        self.store
            .open_session(session, self.cutoff(now), max)
            .await?;
        let header = format!(
            "{COOKIE}={cookie}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
            self.limits.absolute.as_secs()
        );
        Ok(NewSession {
            set_cookie: HeaderValue::from_str(&header).map_err(SessionError::Cookie)?,
            cookie,
        })
    }

    /// Ends the session with this cookie value (on every node), returning who it was.
    pub async fn close(&self, cookie: &str) -> Option<Identity> {
        match self
            .store
            .close_session(signet_x509::sha256(cookie.as_bytes()))
            .await
        {
            Ok(identity) => identity,
            Err(e) => {
                tracing::error!(error = %e, "could not end a web session");
                None
            }
        }
    }

    /// The live session with this cookie value. A session the store cannot read is treated
    /// as none (fail closed: the user signs in again).
    async fn get(&self, cookie: &str) -> Option<Session> {
        let key = signet_x509::sha256(cookie.as_bytes());
        let stored = match self
            .store
            .session(key, self.cutoff(SystemTime::now()))
            .await
        {
            Ok(stored) => stored?,
            Err(e) => {
                tracing::error!(error = %e, "could not read a web session");
                return None;
            }
        };
        let cert = match stored.certificate {
            Some(c) => Some(CertBinding {
                issuer: DistinguishedName::from_der(&c.issuer).ok()?,
                serial: c.serial,
                not_after: c.not_after,
            }),
            None => None,
        };
        Some(Session {
            identity: stored.identity,
            cert,
            csrf: stored.csrf,
            last_seen: stored.last_seen,
        })
    }

    /// Records activity and the refreshed identity, when `last_seen` is stale or the
    /// identity changed.
    async fn touch(&self, cookie: &str, session: &Session, identity: &Identity) {
        let now = SystemTime::now();
        let stale = now
            .duration_since(session.last_seen)
            .is_ok_and(|d| d >= TOUCH_AFTER);
        if !stale
            && identity.roles == session.identity.roles
            && identity.cas == session.identity.cas
        {
            return;
        }
        let key = signet_x509::sha256(cookie.as_bytes());
        if let Err(e) = self.store.touch_session(key, now, identity.clone()).await {
            tracing::warn!(error = %e, "could not record web session activity");
        }
    }
}

/// A `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-signet-session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
    )
}

/// The session cookie's value in a request, if any.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The signed-in user of a page. Without a live session, a GET is redirected to the sign-in
/// page (coming back afterwards) and anything else is refused.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub identity: Identity,
    pub csrf: String,
    /// Signed in with a TLS client certificate (the session is bound to it), not a token.
    pub by_certificate: bool,
}

/// The signed-in user, if any (pages anyone may see).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<WebUser>);

async fn session_user(parts: &Parts, state: &AppState) -> Option<WebUser> {
    let cookie = cookie_value(&parts.headers)?;
    let sessions = &state.web.sessions;
    let session = sessions.get(&cookie).await?;
    let identity = match state.authn.refresh_identity(&session.identity) {
        Ok(identity) => identity,
        Err(_) => {
            sessions.close(&cookie).await;
            return None;
        }
    };
    if let Some(cert) = &session.cert {
        // An expired or revoked client certificate ends its sessions; an unreadable status
        // is treated the same way (fail closed).
        if std::time::SystemTime::now() >= cert.not_after
            || !matches!(
                state.authn.is_revoked(&cert.issuer, &cert.serial).await,
                Ok(false)
            )
        {
            sessions.close(&cookie).await;
            return None;
        }
    }
    sessions.touch(&cookie, &session, &identity).await;
    Some(WebUser {
        identity,
        csrf: session.csrf,
        by_certificate: session.cert.is_some(),
    })
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(session_user(parts, state).await))
    }
}

/// Where the sign-in page sends a user back to: a local path only (never `//host`).
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && next.chars().all(|c| c.is_ascii_graphic());
    ok.then_some(next)
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = session_user(parts, state).await {
            return Ok(user);
        }
        if parts.method == Method::GET {
            let here = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string();
            let next = safe_next(&here).unwrap_or("/");
            let target = format!("/signin?next={}", crate::web::url_encode(next));
            return Err(Redirect::to(&target).into_response());
        }
        Err(PageError::signed_out().into_response())
    }
}

/// A form posted by a signed-in user, with its CSRF token checked (constant time) and the
/// request checked to come from this site (`Sec-Fetch-Site`, `Origin`). Every state-changing
/// page handler takes one, so no form can skip the check.
pub struct CsrfForm<T>(pub WebUser, pub T);

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Refuses requests a browser marks as coming from another site.
pub fn same_origin(headers: &HeaderMap) -> Result<(), PageError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(PageError::forbidden(
            "this form was posted from another site",
        ));
    }
    if let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin_host != host {
            return Err(PageError::forbidden(
                "this form was posted from another origin",
            ));
        }
    }
    Ok(())
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<T: DeserializeOwned + Send> axum::extract::FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers).map_err(IntoResponse::into_response)?;
        let user = WebUser::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, state.max_body)
            .await
            .map_err(|_| PageError::bad_request("the form is too large").into_response())?;
        let field: CsrfField = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::bad_request(format!("the form: {e}")).into_response())?;
        if !constant_time_eq(field.csrf.as_bytes(), user.csrf.as_bytes()) {
            return Err(PageError::forbidden(
                "the form's security token is missing or stale; reload the page and try again",
            )
            .into_response());
        }
        let form: T = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::bad_request(format!("the form: {e}")).into_response())?;
        Ok(CsrfForm(user, form))
    }
}
