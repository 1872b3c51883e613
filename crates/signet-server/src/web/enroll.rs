//! The enrollment pages (AD CS "Certificate Services Web Enrollment"): sign in, request a
//! certificate (paste or upload a CSR, or let the browser make the key and the CSR), see a
//! request's disposition and download the certificate, its chain, the CA certificate and CRL.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64ct::{Base64, Encoding};
use serde::Deserialize;
use signet_api::admin::SessionAction;
use signet_api::{CaName, EnrollError, Identity, RequestId, SerialNumber, SubmitRequest};
use signet_x509::pem;

use super::session::{CertBinding, clear_cookie, cookie_value, safe_next, same_origin};
use super::throttle::Admit;
use super::{Chrome, CsrfForm, MaybeUser, PageError, PageQuery, WebUser, fmt_time, render};
use crate::api::AppState;
use crate::auth::CertRefused;
use crate::extract::PageRequestPath;
use crate::tls::{OverTls, PeerCertificates};
use crate::untrusted::Untrusted;

/// The enrollment routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/enroll", get(enroll_page).post(enroll))
        .route("/requests", get(my_requests))
        .route("/requests/{ca}/{id}", get(request_page))
        .route("/requests/{ca}/{id}/{file}", get(request_download))
}

/// The client's address, when the listener records it (always, with
/// [`crate::listener::serve`]), as text for the audit log.
struct Peer(String, Option<SocketAddr>);

impl Peer {
    /// The address sign-in attempts are counted by; all requests without one share a
    /// single count.
    fn ip(&self) -> IpAddr {
        self.1
            .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |a| a.ip())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Peer(
            addr.map_or_else(|| "unknown".into(), |a| a.to_string()),
            addr,
        ))
    }
}

/// One CA as the pages show it.
struct CaLink {
    name: String,
    subject: String,
    key_algorithm: String,
    cert_index: u32,
    /// Its keys, the issuing one first; more than one after a renewal with a new key.
    keys: Vec<KeyLink>,
}

/// One key of a CA (AD CS key index) and the public names of its certificate and CRL.
struct KeyLink {
    index: u32,
    current: bool,
    not_after: String,
    /// `NAME` for key 0, `NAME(k)` for key k: `/ca/{stem}.crt`, `/crl/{stem}.crl`.
    stem: String,
}

fn ca_links(state: &AppState) -> Vec<CaLink> {
    state
        .directory
        .summaries()
        .into_iter()
        .map(|c| CaLink {
            keys: c
                .keys
                .iter()
                .map(|k| KeyLink {
                    index: k.index,
                    current: k.current,
                    not_after: signet_x509::time::rfc3339(k.not_after),
                    stem: match k.index {
                        0 => c.name.clone(),
                        i => format!("{}({i})", c.name),
                    },
                })
                .collect(),
            name: c.name,
            subject: c.subject,
            key_algorithm: c.key_algorithm,
            cert_index: c.cert_index,
        })
        .collect()
}

// ---- start page ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    cas: Vec<CaLink>,
}

async fn home(State(state): State<AppState>, MaybeUser(user): MaybeUser) -> Response {
    render(&HomePage {
        chrome: Chrome::new("Certificate services", "home", user.as_ref()),
        cas: ca_links(&state),
    })
}

// ---- signing in and out -----------------------------------------------------------------

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    chrome: Chrome,
    next: String,
    error: Option<String>,
    /// The subject of the TLS client certificate this connection presented, if any.
    certificate: Option<String>,
    /// Plain HTTP to a name other than localhost: the browser will not keep the `Secure`
    /// session cookie.
    insecure: bool,
}

/// Whether a browser would drop a `Secure` cookie from this request's origin: plain HTTP to
/// anything but a loopback name (browsers treat `localhost` and loopback as secure).
fn cookie_would_be_dropped(headers: &HeaderMap, tls: bool) -> bool {
    if tls {
        return false;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let loopback_ip = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    !(name == "localhost" || name.ends_with(".localhost") || loopback_ip)
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

fn peer_subject(parts: Option<&PeerCertificates>) -> Option<String> {
    let leaf = parts?.0.first()?;
    signet_x509::parse_certificate(leaf)
        .ok()
        .map(|c| c.subject.to_string())
}

async fn signin_page(
    MaybeUser(user): MaybeUser,
    PageQuery(q): PageQuery<NextQuery>,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificates>>,
    tls: Option<axum::Extension<OverTls>>,
) -> Response {
    let next = q
        .next
        .as_deref()
        .and_then(safe_next)
        .unwrap_or("/")
        .to_string();
    if user.is_some() {
        return Redirect::to(&next).into_response();
    }
    render(&SigninPage {
        chrome: Chrome::new("Sign in", "signin", None),
        next,
        error: None,
        certificate: peer_subject(peer.as_ref().map(|p| &p.0)),
        insecure: cookie_would_be_dropped(&headers, tls.is_some()),
    })
}

#[derive(Deserialize)]
struct SigninForm {
    #[serde(default)]
    method: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

/// How a sign-in form says the browser authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigninMethod {
    Token,
    Certificate,
}

impl SigninMethod {
    fn parse(s: &str) -> Option<SigninMethod> {
        match s {
            "token" => Some(SigninMethod::Token),
            "certificate" => Some(SigninMethod::Certificate),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SigninMethod::Token => "token",
            SigninMethod::Certificate => "certificate",
        }
    }
}

async fn signin(
    State(state): State<AppState>,
    peer_addr: Peer,
    headers: HeaderMap,
    certs: Option<axum::Extension<PeerCertificates>>,
    tls: Option<axum::Extension<OverTls>>,
    body: axum::body::Bytes,
) -> Response {
    // No session yet, so no CSRF token: the browser's own marks must show this came from
    // this site (and the cookie is SameSite=Strict besides).
    if let Err(e) = same_origin(&headers) {
        return e.into_response();
    }
    let ip = peer_addr.ip();
    let peer = peer_addr.0;
    let throttle = &state.web.signin_throttle;
    // Refused sign-ins are limited per address before any credential is looked at.
    if let Admit::No { retry_after, log } = throttle.admit(ip) {
        if let Some(unlogged) = log {
            tracing::warn!(%peer, unlogged, "web sign-ins refused: too many from this address");
        }
        let mut resp = PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many refused sign-ins from your address. Wait a minute and try again.",
        )
        .into_response();
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after.as_secs()),
        );
        return resp;
    }
    // The form's values are never logged: the method is one of two words or refused.
    let parsed = serde_urlencoded::from_bytes::<SigninForm>(&body)
        .map_err(SigninFormError::Form)
        .and_then(|f| match SigninMethod::parse(&f.method) {
            Some(m) => Ok((f, m)),
            None => Err(SigninFormError::UnknownMethod),
        });
    let (form, method) = match parsed {
        Ok(p) => p,
        Err(refused) => {
            if let Some(unlogged) = throttle.refused(ip) {
                tracing::warn!(%peer, unlogged, "web sign-in refused: malformed form");
            }
            return PageError::bad_request(refused.to_string()).into_response();
        }
    };
    let next = safe_next(&form.next).unwrap_or("/").to_string();
    let certificate = peer_subject(certs.as_ref().map(|p| &p.0));
    let refuse = |message: String| {
        if let Some(unlogged) = throttle.refused(ip) {
            tracing::warn!(
                %peer,
                method = method.as_str(),
                unlogged,
                reason = %Untrusted(&message),
                "web sign-in refused"
            );
        }
        let page = SigninPage {
            chrome: Chrome::new("Sign in", "signin", None),
            next: next.clone(),
            error: Some(message),
            certificate: certificate.clone(),
            insecure: cookie_would_be_dropped(&headers, tls.is_some()),
        };
        (StatusCode::UNAUTHORIZED, render(&page)).into_response()
    };
    let (identity, binding, how) = if method == SigninMethod::Certificate {
        match certificate_identity(&state, certs.as_ref().map(|c| &c.0)).await {
            Ok((identity, binding)) => (identity, Some(binding), "certificate"),
            Err(refused) => return refuse(refused.to_string()),
        }
    } else {
        match state.authn.authenticate_token(&form.token) {
            Ok(identity) => (identity, None, "token"),
            Err(e) => return refuse(e.to_string()),
        }
    };
    let session = match state
        .web
        .sessions
        .open(identity.clone(), binding, &super::fill_random)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "could not open a web session");
            return PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "could not sign in")
                .into_response();
        }
    };
    if let Err(e) = state
        .admin
        .record_session(
            &identity,
            super::session_audit(SessionAction::SignIn, how, &peer),
        )
        .await
    {
        // No sign-in without its audit record.
        state.web.sessions.close(&session.cookie).await;
        return PageError::from(e).into_response();
    }
    // A browser signing in again gets a new session id; the old one ends (no fixation).
    if let Some(old) = cookie_value(&headers) {
        state.web.sessions.close(&old).await;
    }
    let mut resp = Redirect::to(&next).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session.set_cookie);
    resp
}

/// The identity of the connection's TLS client certificate, checked as the REST API
/// checks it (mapped, not revoked).
async fn certificate_identity(
    state: &AppState,
    peer: Option<&PeerCertificates>,
) -> Result<(Identity, CertBinding), CertRefused> {
    let leaf = peer
        .and_then(|p| p.0.first())
        .ok_or(CertRefused::NoCertificate)?;
    let info = signet_x509::parse_certificate(leaf).map_err(CertRefused::Unreadable)?;
    let identity = crate::auth::certificate_caller(state, &info).await?;
    let serial = hex::decode(&info.serial_hex)
        .ok()
        .and_then(|m| SerialNumber::from_magnitude(&m).ok())
        .ok_or(CertRefused::UnusableSerial)?;
    Ok((
        identity,
        CertBinding {
            issuer: info.issuer,
            serial,
            not_after: info.not_after,
        },
    ))
}

async fn signout(
    State(state): State<AppState>,
    Peer(peer, _): Peer,
    headers: HeaderMap,
    MaybeUser(current): MaybeUser,
    form: Result<CsrfForm<serde::de::IgnoredAny>, Response>,
) -> Response {
    // A session that has already ended has nothing to sign out of: clear the cookie.
    if current.is_none() {
        let mut resp = Redirect::to("/signin").into_response();
        resp.headers_mut()
            .insert(header::SET_COOKIE, clear_cookie());
        return resp;
    }
    let user = match form {
        Ok(CsrfForm(user, _)) => user,
        Err(refused) => return refused,
    };
    if let Some(cookie) = cookie_value(&headers) {
        state.web.sessions.close(&cookie).await;
    }
    let how = if user.by_certificate {
        "certificate"
    } else {
        "token"
    };
    if let Err(e) = state
        .admin
        .record_session(
            &user.identity,
            super::session_audit(SessionAction::SignOut, how, &peer),
        )
        .await
    {
        tracing::warn!(error = %e, "could not audit a sign-out");
    }
    let mut resp = Redirect::to("/signin").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie());
    resp
}

// ---- requesting a certificate -------------------------------------------------------------

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage {
    chrome: Chrome,
    cas: Vec<CaLink>,
    ca: Option<String>,
    profiles: Vec<String>,
    form: EnrollForm,
    error: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
struct EnrollForm {
    #[serde(default)]
    ca: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    csr: String,
    #[serde(default)]
    attributes: String,
}

#[derive(Deserialize)]
struct CaQuery {
    #[serde(default)]
    ca: Option<String>,
}

fn enroll_form_page(
    state: &AppState,
    user: &WebUser,
    form: EnrollForm,
    error: Option<String>,
) -> Result<EnrollPage, PageError> {
    let cas = ca_links(state);
    let ca = if form.ca.is_empty() {
        (cas.len() == 1).then(|| cas[0].name.clone())
    } else {
        Some(form.ca.clone())
    };
    let profiles = match &ca {
        Some(ca) => state
            .directory
            .enrollable_profiles(&state.ca(ca)?, Some(&user.identity))?
            .into_iter()
            .map(|p| p.to_string())
            .collect(),
        None => Vec::new(),
    };
    Ok(EnrollPage {
        chrome: Chrome::new("Request a certificate", "enroll", Some(user)),
        cas,
        ca,
        profiles,
        form,
        error,
    })
}

async fn enroll_page(
    State(state): State<AppState>,
    user: WebUser,
    PageQuery(q): PageQuery<CaQuery>,
) -> Result<Response, PageError> {
    let form = EnrollForm {
        ca: q.ca.unwrap_or_default(),
        ..Default::default()
    };
    Ok(render(&enroll_form_page(&state, &user, form, None)?))
}

/// Why the sign-in form was refused.
#[derive(Debug, thiserror::Error)]
enum SigninFormError {
    #[error("the form: {0}")]
    Form(#[source] serde_urlencoded::de::Error),
    #[error("unknown sign-in method (token or certificate)")]
    UnknownMethod,
}

/// Why the enrollment form's attribute text was refused (the line, as written).
#[derive(Debug, thiserror::Error)]
enum AttributeLineError {
    #[error("attribute line {0:?}: write name=value")]
    NoSeparator(String),
    #[error("attribute line {0:?}: the name is empty")]
    EmptyName(String),
}

/// `name=value` (or `name: value`) per line.
fn parse_attributes(text: &str) -> Result<Vec<(String, String)>, AttributeLineError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .or_else(|| l.split_once(':'))
                .ok_or_else(|| AttributeLineError::NoSeparator(l.to_string()))?;
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() {
                return Err(AttributeLineError::EmptyName(l.to_string()));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

async fn enroll(
    State(state): State<AppState>,
    CsrfForm(user, form): CsrfForm<EnrollForm>,
) -> Result<Response, PageError> {
    let again = |form: EnrollForm, status: StatusCode, message: String| {
        let page = enroll_form_page(&state, &user, form, Some(message))?;
        Ok::<Response, PageError>((status, render(&page)).into_response())
    };
    if form.csr.trim().is_empty() {
        return again(
            form,
            StatusCode::BAD_REQUEST,
            "Paste or upload a certificate request (PEM), or generate a key in the browser.".into(),
        );
    }
    let attributes = match parse_attributes(&form.attributes) {
        Ok(a) => a,
        Err(e) => return again(form, StatusCode::BAD_REQUEST, e.to_string()),
    };
    let request = SubmitRequest {
        ca: form.ca.clone(),
        csr: form.csr.trim().as_bytes().to_vec(),
        profile: (!form.profile.is_empty()).then(|| form.profile.clone()),
        attributes,
        caller: Some(user.identity.clone()),
    };
    match state.enroll.submit(request).await {
        Ok(resp) => {
            let ca = state
                .directory
                .ca_name(&form.ca)
                .map_or_else(|| form.ca.clone(), |n| n.to_string());
            Ok(
                Redirect::to(&format!("/requests/{}/{}", super::url_encode(&ca), resp.id))
                    .into_response(),
            )
        }
        Err(e @ (EnrollError::BadRequest(_) | EnrollError::UnknownProfile { .. })) => {
            let status = StatusCode::BAD_REQUEST;
            again(form, status, e.to_string())
        }
        Err(e) => Err(e.into()),
    }
}

// ---- a request's disposition and downloads -----------------------------------------------

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    chrome: Chrome,
    ca: String,
    id: String,
    status: &'static str,
    message: Option<String>,
    serial: Option<String>,
    subject: Option<String>,
    sans: Vec<String>,
    not_before: Option<String>,
    not_after: Option<String>,
    /// Base64 DER of the certificate and of its chain (leaf's issuer first), for the script
    /// that builds a PKCS#12 from a key kept in this browser.
    certificate_b64: String,
    chain_b64: String,
    spki_b64: String,
}

/// Request `id` of `ca` as the signed-in user may see it (RetrievePending).
async fn retrieve(
    state: &AppState,
    user: &WebUser,
    ca: &CaName,
    id: RequestId,
) -> Result<signet_api::SubmitResponse, PageError> {
    Ok(state
        .enroll
        .retrieve(ca.as_str(), id, Some(&user.identity))
        .await?)
}

async fn request_page(
    State(state): State<AppState>,
    user: WebUser,
    PageRequestPath { ca, id, .. }: PageRequestPath,
) -> Result<Response, PageError> {
    let resp = retrieve(&state, &user, &ca, id).await?;
    let info = resp
        .certificate
        .as_deref()
        .and_then(|der| signet_x509::parse_certificate(der).ok());
    let b64 = |d: &[u8]| Base64::encode_string(d);
    let page = RequestPage {
        chrome: Chrome::new(format!("Request {id}"), "requests", Some(&user)),
        ca: ca.to_string(),
        id: id.to_string(),
        status: resp.status.as_str(),
        message: resp.message.clone(),
        serial: resp.serial.map(|s| s.to_hex()),
        subject: info.as_ref().map(|i| i.subject.to_string()),
        sans: info
            .as_ref()
            .map(|i| i.sans.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        not_before: info.as_ref().map(|i| fmt_time(i.not_before)),
        not_after: info.as_ref().map(|i| fmt_time(i.not_after)),
        certificate_b64: resp.certificate.as_deref().map(b64).unwrap_or_default(),
        chain_b64: resp
            .chain
            .iter()
            .map(|c| b64(c))
            .collect::<Vec<_>>()
            .join(","),
        spki_b64: info.as_ref().map(|i| b64(&i.spki_der)).unwrap_or_default(),
    };
    Ok(render(&page))
}

/// The last parameter of `/requests/{ca}/{id}/{file}` (`{ca}` and `{id}`: [`PageRequestPath`]).
#[derive(Deserialize)]
struct DownloadPath {
    file: String,
}

async fn request_download(
    State(state): State<AppState>,
    user: WebUser,
    PageRequestPath { ca, id, .. }: PageRequestPath,
    Path(DownloadPath { file }): Path<DownloadPath>,
) -> Result<Response, PageError> {
    let resp = retrieve(&state, &user, &ca, id).await?;
    let cert = resp
        .certificate
        .ok_or_else(|| PageError::not_found(format!("request {id} has no certificate")))?;
    let serial = resp.serial.map(|s| s.to_hex()).unwrap_or_default();
    let mut full = vec![cert.clone()];
    full.extend(resp.chain);
    let (body, ty, name) = match file.as_str() {
        "certificate.pem" => (
            pem::encode("CERTIFICATE", &cert).into_bytes(),
            "application/x-pem-file",
            format!("{serial}.pem"),
        ),
        "certificate.der" => (cert, "application/pkix-cert", format!("{serial}.cer")),
        "chain.pem" => (
            full.iter()
                .map(|d| pem::encode("CERTIFICATE", d))
                .collect::<String>()
                .into_bytes(),
            "application/x-pem-file",
            format!("{serial}-chain.pem"),
        ),
        "chain.p7b" => (
            signet_x509::pkcs7::certs_only(&full),
            "application/pkcs7-mime",
            format!("{serial}.p7b"),
        ),
        other => {
            return Err(PageError::not_found(format!(
                "no download {other:?} (certificate.pem, certificate.der, chain.pem, chain.p7b)"
            )));
        }
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .map_err(|_| PageError::bad_request("bad file name"))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ty)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

// ---- my requests --------------------------------------------------------------------------

struct RequestRow {
    ca: String,
    id: String,
    status: &'static str,
    subject: String,
    profile: String,
    submitted: String,
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    chrome: Chrome,
    rows: Vec<RequestRow>,
}

async fn my_requests(State(state): State<AppState>, user: WebUser) -> Result<Response, PageError> {
    let cas = ca_links(&state);
    let mut rows = Vec::new();
    for ca in &cas {
        let mine = match state
            .admin
            .requests_of(Some(&user.identity), &state.ca(&ca.name)?, 100)
            .await
        {
            Ok(r) => r,
            Err(EnrollError::Forbidden(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        rows.extend(mine.into_iter().map(|r| RequestRow {
            ca: ca.name.clone(),
            id: r.id.to_string(),
            status: r.status.as_str(),
            subject: r.subject,
            profile: r.profile.map(|p| p.to_string()).unwrap_or_default(),
            submitted: fmt_time(r.submitted_at),
        }));
    }
    Ok(render(&RequestsPage {
        chrome: Chrome::new("My requests", "requests", Some(&user)),
        rows,
    }))
}
