//! The administration console at `/admin` (AD CS "Certification Authority" snap-in): a CA's
//! dashboard, the pending queue with the officer's actions, issued certificates and
//! revocation, CRLs, exit delivery and the audit log.
//!
//! Every page and action calls the same engine operations as the REST API
//! ([`crate::admin_api`], [`crate::revocation_api`]) with the signed-in identity; the engine
//! decides what each role may do, so a forbidden action shows the engine's refusal and
//! changes nothing. Actions are plain forms (`POST`, CSRF-checked by [`CsrfForm`]) answered
//! with `303 See Other` back to the page (post/redirect/get); a refused action renders the
//! page again with the engine's message. `console.js` only adds a confirmation step.
//!
//! # Layout
//! - routes and the shared frame ([`Nav`], [`Notice`]);
//! - one section per page: dashboard, pending queue and request, certificates, CRLs, exits,
//!   audit log;
//! - helpers (decoding extensions, the chart) last.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use signet_api::admin::AuditRecord;
use signet_api::admin::{ExtensionEdit, RequestDetails};
use signet_api::{
    EnrollError, RequestId, RequestRecord, RequestStatus, RevocationReason, SerialNumber,
};
use signet_x509::{ext, pem};

use signet_api::admin::{StatisticsSpec, ViewQuery};

use super::{Chrome, CsrfForm, PageError, PageQuery, WebUser, fmt_time, render, url_encode};
use crate::api::AppState;

/// How far ahead the dashboard looks for expiring certificates.
const EXPIRING_WITHIN: Duration = Duration::from_secs(30 * 86_400);
/// Rows per page of the certificate list and the audit log.
const PAGE_ROWS: u32 = 100;
const AUDIT_ROWS: u64 = 50;

/// CA names the console's own pages use as path segments (`/admin/audit`, `/admin/switch`):
/// a CA with one of them would have no reachable dashboard, so `signet serve` refuses it while
/// the pages are on.
pub const RESERVED_CA_NAMES: [&str; 2] = ["audit", "switch"];

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(console_home))
        .route("/admin/switch", get(switch_ca))
        .route("/admin/audit", get(audit_page))
        .route("/admin/{ca}", get(dashboard))
        .route("/admin/{ca}/pending", get(pending_page))
        .route("/admin/{ca}/requests/{id}", get(request_page))
        .route("/admin/{ca}/requests/{id}/approve", post(approve))
        .route("/admin/{ca}/requests/{id}/deny", post(deny))
        .route("/admin/{ca}/requests/{id}/attributes", post(set_attribute))
        .route("/admin/{ca}/requests/{id}/extensions", post(set_extension))
        .route("/admin/{ca}/certificates", get(certificates_page))
        .route("/admin/{ca}/certificates/{serial}", get(certificate_page))
        .route("/admin/{ca}/certificates/{serial}/revoke", post(revoke))
        .route("/admin/{ca}/certificates/{serial}/unrevoke", post(unrevoke))
        .route("/admin/{ca}/crls", get(crls_page))
        .route("/admin/{ca}/crls/publish", post(publish_crls))
        .route("/admin/{ca}/exits", get(exits_page))
        .route(
            "/admin/{ca}/exits/{exit}/parked/{seq}/retry",
            post(retry_parked),
        )
        .route("/admin/{ca}/exits/{exit}/skip", post(skip_exit))
}

// ---- the frame ------------------------------------------------------------------------------

/// What the console's sub-navigation needs: the CA the pages are about and the others.
struct Nav {
    ca: String,
    cas: Vec<String>,
}

/// A message above a page's content: `ok` after an action, `bad` when the engine refused.
struct Notice {
    kind: &'static str,
    text: String,
}

impl Notice {
    fn ok(text: impl Into<String>) -> Option<Notice> {
        Some(Notice {
            kind: "ok",
            text: text.into(),
        })
    }
    fn bad(text: impl Into<String>) -> Option<Notice> {
        Some(Notice {
            kind: "bad",
            text: text.into(),
        })
    }
}

/// `?done=...` after a redirect: one of a fixed set of messages (never text from the URL,
/// so a link cannot make the console say something it did not).
#[derive(Deserialize, Default)]
struct Done {
    #[serde(default)]
    done: Option<String>,
}

impl Done {
    fn notice(&self) -> Option<Notice> {
        let text = match self.done.as_deref()? {
            "approved" => "Approval recorded.",
            "issued" => "Approved: the certificate was issued.",
            "denied" => "The request was denied.",
            "attribute" => "Attributes saved. The policy reads them when the request is approved.",
            "extension" => "Extension saved. It applies when the request is approved.",
            "revoked" => "The certificate was revoked. It is on the next CRL.",
            "held" => "The certificate is on hold.",
            "released" => "The hold was released: the certificate is valid again.",
            "published" => "CRLs published.",
            "retried" => "The parked event was delivered.",
            "skipped" => "The event was parked; delivery goes on with the next one.",
            _ => return None,
        };
        Notice::ok(text)
    }
}

fn nav(state: &AppState, ca: &str) -> Nav {
    let cas: Vec<String> = state
        .directory
        .ca_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    let ca = state
        .directory
        .ca_name(ca)
        .map_or_else(|| ca.to_string(), |n| n.to_string());
    Nav { ca, cas }
}

fn chrome(title: impl Into<String>, section: &'static str, user: &WebUser) -> Chrome {
    Chrome::new(title, section, Some(user))
}

/// An action the engine refused: the page shown again (`view`, given the refusal as its
/// notice), under the status the refusal carries.
async fn refused<F>(
    e: EnrollError,
    view: impl FnOnce(Option<Notice>) -> F,
) -> Result<Response, PageError>
where
    F: std::future::Future<Output = Result<Response, PageError>>,
{
    let status = PageError::from(e.clone()).status;
    let page = view(Notice::bad(e.to_string())).await?;
    Ok((status, page).into_response())
}

/// Who submitted a request, as the pages show it.
fn requester_of(r: &RequestRecord) -> String {
    r.requester.clone().unwrap_or_else(|| "anonymous".into())
}

fn profile_of(r: &RequestRecord) -> String {
    r.profile
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The key of a request's CSR, e.g. `ECDSA P-256 (256 bits)`; `—` when it has none.
fn csr_key(r: &RequestRecord) -> String {
    (r.format == "pkcs10")
        .then(|| signet_x509::parse_csr(&r.raw).ok())
        .flatten()
        .map_or_else(
            || "—".to_string(),
            |c| format!("{} ({} bits)", key_name(&c.key), c.key.bits()),
        )
}

fn back(path: String, done: &str) -> Response {
    Redirect::to(&format!("{path}?done={done}")).into_response()
}

fn ca_path(ca: &str) -> String {
    format!("/admin/{}", url_encode(ca))
}

/// `GET /admin`: the dashboard of the first CA the engine lets this user read.
async fn console_home(State(state): State<AppState>, user: WebUser) -> Result<Response, PageError> {
    let mut refusal = None;
    for ca in state.directory.ca_names() {
        match state.admin.authorize_reader(Some(&user.identity), &ca) {
            Ok(()) => return Ok(Redirect::to(&ca_path(ca.as_str())).into_response()),
            Err(e) => refusal = Some(e),
        }
    }
    Err(refusal.map_or_else(|| PageError::not_found("this server has no CA"), Into::into))
}

#[derive(Deserialize)]
struct SwitchQuery {
    #[serde(default)]
    ca: String,
    #[serde(default)]
    section: String,
}

/// `GET /admin/switch?ca=..&section=..`: the CA picker without JavaScript.
async fn switch_ca(
    State(state): State<AppState>,
    PageQuery(q): PageQuery<SwitchQuery>,
) -> Result<Response, PageError> {
    let ca = state
        .directory
        .ca_name(&q.ca)
        .ok_or_else(|| PageError::not_found(format!("no CA {:?}", q.ca)))?;
    let section = match q.section.as_str() {
        "pending" | "certificates" | "crls" | "exits" => format!("/{}", q.section),
        _ => String::new(),
    };
    Ok(Redirect::to(&format!("{}{section}", ca_path(ca.as_str()))).into_response())
}

// ---- dashboard ----------------------------------------------------------------------------

struct StatusCard {
    status: &'static str,
    count: u64,
    href: String,
}

struct ChartBar {
    x: u32,
    y: u32,
    height: u32,
    label: String,
    count: u64,
}

struct ExitHealth {
    name: String,
    lag: u64,
    attempts: u32,
    parked: u64,
    last_error: Option<String>,
}

struct ExpiringRow {
    serial: String,
    subject: String,
    not_after: String,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    nav: Nav,
    notice: Option<Notice>,
    cards: Vec<StatusCard>,
    bars: Vec<ChartBar>,
    chart_max: u64,
    issued_30d: u64,
    chart_from: String,
    chart_to: String,
    expiring: u64,
    expiring_rows: Vec<ExpiringRow>,
    exits: Vec<ExitHealth>,
    next_crl: Option<String>,
    last_crl: Option<u64>,
}

/// Chart geometry: the SVG's drawing area (viewBox units).
const CHART_W: u32 = 900;
const CHART_H: u32 = 140;

async fn dashboard(
    State(state): State<AppState>,
    user: WebUser,
    Path(ca): Path<String>,
) -> Result<Response, PageError> {
    let who = Some(&user.identity);
    let stats = state
        .admin
        .statistics(
            who,
            &state.ca(&ca)?,
            StatisticsSpec {
                chart_days: super::CHART_DAYS,
                expiring_within: EXPIRING_WITHIN,
                expiring_list: 10,
            },
        )
        .await?;
    let nav = nav(&state, &ca);
    let base = ca_path(&nav.ca);
    let cards = stats
        .by_status
        .iter()
        .map(|(status, count)| StatusCard {
            status: status.as_str(),
            count: *count,
            href: match status {
                RequestStatus::Pending => format!("{base}/pending"),
                s => format!("{base}/certificates?status={}", s.as_str()),
            },
        })
        .collect();
    let chart_max = stats
        .issued_per_day
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    let bars = chart_bars(&stats.issued_per_day, chart_max);
    let day = |t: Option<&(SystemTime, u64)>| {
        t.map(|(t, _)| fmt_time(*t).chars().take(10).collect())
            .unwrap_or_default()
    };
    let expiring_rows = stats
        .expiring_soonest
        .iter()
        .map(|c| ExpiringRow {
            serial: c.serial.to_hex(),
            subject: c.subject.clone(),
            not_after: fmt_time(c.not_after),
        })
        .collect();
    let exits = state
        .admin
        .exit_status(who, &state.ca(&ca)?)
        .await?
        .into_iter()
        .map(|e| ExitHealth {
            lag: e.lag(),
            name: e.exit,
            attempts: e.state.attempts,
            parked: e.state.parked,
            last_error: e.state.last_error.filter(|_| e.state.attempts > 0),
        })
        .collect();
    let crls = state.admin.list_crls(who, &state.ca(&ca)?, 20).await?;
    let newest_full = crls.iter().find(|c| c.delta_base.is_none());
    let page = DashboardPage {
        chrome: chrome(format!("{} · Dashboard", nav.ca), "admin-dashboard", &user),
        notice: None,
        cards,
        issued_30d: stats.issued_per_day.iter().map(|(_, n)| n).sum(),
        chart_from: day(stats.issued_per_day.first()),
        chart_to: day(stats.issued_per_day.last()),
        bars,
        chart_max,
        expiring: stats.expiring,
        expiring_rows,
        exits,
        next_crl: newest_full.map(|c| fmt_time(c.next_update)),
        last_crl: newest_full.map(|c| c.number),
        nav,
    };
    Ok(render(&page))
}

/// One bar per day, scaled so the busiest day fills the chart (at least 2 units high when
/// non-zero, so a single issuance is visible).
fn chart_bars(days: &[(SystemTime, u64)], max: u64) -> Vec<ChartBar> {
    let n = u32::try_from(days.len().max(1)).unwrap_or(u32::MAX);
    let slot = CHART_W / n;
    days.iter()
        .zip(0u32..)
        .map(|((day, count), i)| {
            let height = (u64::from(CHART_H) * count)
                .checked_div(max)
                .map_or(0, |h| u32::try_from(h).unwrap_or(CHART_H))
                .max(u32::from(*count > 0) * 2)
                .min(CHART_H);
            ChartBar {
                x: i * slot + 1,
                y: CHART_H - height,
                height,
                label: fmt_time(*day).chars().take(10).collect(),
                count: *count,
            }
        })
        .collect()
}

// ---- the pending queue ----------------------------------------------------------------------

struct PendingRow {
    id: String,
    submitted: String,
    requester: String,
    profile: String,
    subject: String,
    approvals: usize,
    required: u32,
}

#[derive(Template)]
#[template(path = "admin/pending.html")]
struct PendingPage {
    chrome: Chrome,
    nav: Nav,
    notice: Option<Notice>,
    rows: Vec<PendingRow>,
}

async fn pending_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(ca): Path<String>,
) -> Result<Response, PageError> {
    let who = Some(&user.identity);
    let records = state
        .admin
        .view(
            who,
            &state.ca(&ca)?,
            ViewQuery {
                status: Some(RequestStatus::Pending),
                limit: signet_api::admin::MAX_PAGE,
                ..Default::default()
            },
        )
        .await?;
    // The approvals a profile needs come with a request's details; ask once per profile.
    let mut required: HashMap<String, u32> = HashMap::new();
    let mut rows = Vec::new();
    for r in records {
        let profile = profile_of(&r);
        let needed = match required.get(&profile) {
            Some(n) => *n,
            None => {
                let d = state
                    .admin
                    .request_details(who, &state.ca(&ca)?, r.id)
                    .await?;
                required.insert(profile.clone(), d.approvals_required);
                d.approvals_required
            }
        };
        rows.push(PendingRow {
            id: r.id.to_string(),
            submitted: fmt_time(r.submitted_at),
            requester: requester_of(&r),
            profile,
            subject: r.subject.clone(),
            approvals: r.approvals.len(),
            required: needed,
        });
    }
    let nav = nav(&state, &ca);
    Ok(render(&PendingPage {
        chrome: chrome(format!("{} · Pending", nav.ca), "admin-pending", &user),
        notice: None,
        nav,
        rows,
    }))
}

// ---- one request ------------------------------------------------------------------------------

struct ExtensionRow {
    oid: String,
    name: &'static str,
    critical: bool,
    disabled: bool,
    origin: &'static str,
    value: String,
}

struct HistoryRow {
    seq: u64,
    at: String,
    actor: String,
    action: String,
    details: String,
}

#[derive(Template)]
#[template(path = "admin/request.html")]
struct RequestPage {
    chrome: Chrome,
    nav: Nav,
    notice: Option<Notice>,
    id: String,
    status: &'static str,
    editable: bool,
    subject: String,
    sans: Vec<String>,
    key: String,
    requester: String,
    profile: String,
    submitted: String,
    resolved: Option<String>,
    message: Option<String>,
    attributes: Vec<(String, String)>,
    extensions: Vec<ExtensionRow>,
    approvals: Vec<(String, String)>,
    required: u32,
    /// Approvals so far as a percentage of those required (the progress bar's width).
    percent: u32,
    serial: Option<String>,
    history: Vec<HistoryRow>,
}

async fn request_page(
    State(state): State<AppState>,
    user: WebUser,
    Path((ca, id)): Path<(String, String)>,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, PageError> {
    let id = request_id(&id)?;
    request_view(&state, &user, &ca, id, done.notice()).await
}

async fn request_view(
    state: &AppState,
    user: &WebUser,
    ca: &str,
    id: RequestId,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let d = state
        .admin
        .request_details(Some(&user.identity), &state.ca(ca)?, id)
        .await?;
    let nav = nav(state, ca);
    Ok(render(&request_page_of(d, nav, user, notice)))
}

fn request_page_of(
    d: RequestDetails,
    nav: Nav,
    user: &WebUser,
    notice: Option<Notice>,
) -> RequestPage {
    let r = &d.record;
    let sans = match &r.certificate {
        Some(c) => c.sans.clone(),
        None => (r.format == "pkcs10")
            .then(|| signet_x509::parse_csr(&r.raw).ok())
            .flatten()
            .map(|c| c.sans.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    };
    let approvals = r.approvals.len();
    let required = d.approvals_required.max(1);
    let percent =
        u32::try_from(approvals.min(required as usize) * 100 / required as usize).unwrap_or(100);
    RequestPage {
        chrome: chrome(format!("Request {}", r.id), "admin-pending", user),
        nav,
        notice,
        id: r.id.to_string(),
        status: r.status.as_str(),
        editable: matches!(r.status, RequestStatus::Pending | RequestStatus::Denied),
        subject: r.subject.clone(),
        sans,
        key: csr_key(r),
        requester: requester_of(r),
        profile: profile_of(r),
        submitted: fmt_time(r.submitted_at),
        resolved: r.resolved_at.map(fmt_time),
        message: r.message.clone(),
        attributes: r.attributes.clone(),
        extensions: r
            .extensions
            .iter()
            .map(|e| ExtensionRow {
                oid: e.oid.clone(),
                name: extension_name(&e.oid),
                critical: e.critical,
                disabled: e.disabled,
                origin: e.origin.as_str(),
                value: hex::encode(&e.value),
            })
            .collect(),
        approvals: r
            .approvals
            .iter()
            .map(|a| (a.approver.clone(), fmt_time(a.at)))
            .collect(),
        required,
        percent,
        serial: r.certificate.as_ref().map(|c| c.serial.to_hex()),
        history: d.history.iter().map(history_row).collect(),
    }
}

fn history_row(a: &AuditRecord) -> HistoryRow {
    HistoryRow {
        seq: a.seq,
        at: fmt_time(a.at),
        actor: a.actor.clone(),
        action: a.action.clone(),
        details: a.details.clone(),
    }
}

fn request_id(s: &str) -> Result<RequestId, PageError> {
    s.parse()
        .map_err(|e: signet_api::ids::IdError| PageError::not_found(e.to_string()))
}

fn request_path(ca: &str, id: RequestId) -> String {
    format!("{}/requests/{id}", ca_path(ca))
}

/// The outcome of an action on a request: back to its page, or the page with the refusal.
async fn request_outcome<T>(
    state: &AppState,
    user: &WebUser,
    ca: &str,
    id: RequestId,
    result: Result<T, EnrollError>,
    done: impl FnOnce(&T) -> &'static str,
) -> Result<Response, PageError> {
    match result {
        Ok(v) => {
            let ca = nav(state, ca).ca;
            Ok(back(request_path(&ca, id), done(&v)))
        }
        Err(e) => refused(e, |n| request_view(state, user, ca, id, n)).await,
    }
}

#[derive(Deserialize)]
struct NoFields {}

async fn approve(
    State(state): State<AppState>,
    Path((ca, id)): Path<(String, String)>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let id = request_id(&id)?;
    let result = state
        .admin
        .approve(Some(&user.identity), &state.ca(&ca)?, id)
        .await;
    request_outcome(&state, &user, &ca, id, result, |r| match r.status {
        RequestStatus::Issued => "issued",
        RequestStatus::Denied => "denied",
        _ => "approved",
    })
    .await
}

#[derive(Deserialize)]
struct DenyForm {
    #[serde(default)]
    reason: String,
}

async fn deny(
    State(state): State<AppState>,
    Path((ca, id)): Path<(String, String)>,
    CsrfForm(user, form): CsrfForm<DenyForm>,
) -> Result<Response, PageError> {
    let id = request_id(&id)?;
    let result = state
        .admin
        .deny(Some(&user.identity), &state.ca(&ca)?, id, &form.reason)
        .await;
    request_outcome(&state, &user, &ca, id, result, |_| "denied").await
}

#[derive(Deserialize)]
struct AttributeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
    /// Present: remove the attribute instead of setting it.
    #[serde(default)]
    remove: Option<String>,
}

async fn set_attribute(
    State(state): State<AppState>,
    Path((ca, id)): Path<(String, String)>,
    CsrfForm(user, form): CsrfForm<AttributeForm>,
) -> Result<Response, PageError> {
    let id = request_id(&id)?;
    let name = form.name.trim().to_string();
    let value = form.remove.is_none().then(|| form.value.trim().to_string());
    let result = if name.is_empty() {
        Err(EnrollError::BadRequest(
            "the attribute name is empty".into(),
        ))
    } else {
        state
            .admin
            .set_attributes(
                Some(&user.identity),
                &state.ca(&ca)?,
                id,
                vec![(name, value)],
            )
            .await
    };
    request_outcome(&state, &user, &ca, id, result, |_| "attribute").await
}

#[derive(Deserialize)]
struct ExtensionForm {
    #[serde(default)]
    oid: String,
    #[serde(default)]
    critical: Option<String>,
    #[serde(default)]
    value: String,
    /// Present: disable the extension (`EXTENSION_DISABLE_FLAG`).
    #[serde(default)]
    disable: Option<String>,
}

async fn set_extension(
    State(state): State<AppState>,
    Path((ca, id)): Path<(String, String)>,
    CsrfForm(user, form): CsrfForm<ExtensionForm>,
) -> Result<Response, PageError> {
    let id = request_id(&id)?;
    let value = if form.disable.is_some() {
        Ok(None)
    } else {
        // The REST API's hex reading: whitespace and colons between octets are allowed.
        let clean: String = form
            .value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        match crate::admin_api::decode_hex(&clean) {
            Some(v) if !v.is_empty() => Ok(Some(v)),
            _ => Err(EnrollError::BadRequest(
                "the value must be the extension's DER in hex".into(),
            )),
        }
    };
    let edit = value.and_then(|value| {
        Ok(ExtensionEdit {
            oid: ExtensionEdit::parse_oid(form.oid.trim())?,
            critical: form.critical.is_some(),
            value,
        })
    });
    let result = match edit {
        Ok(edit) => {
            state
                .admin
                .set_extension(Some(&user.identity), &state.ca(&ca)?, id, edit)
                .await
        }
        Err(e) => Err(e),
    };
    request_outcome(&state, &user, &ca, id, result, |_| "extension").await
}

// ---- issued certificates ----------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    expiring: Option<String>,
    #[serde(default)]
    after: Option<i64>,
}

struct CertificateRow {
    id: String,
    status: &'static str,
    held: bool,
    serial: Option<String>,
    subject: String,
    sans: String,
    not_after: String,
    requester: String,
}

#[derive(Template)]
#[template(path = "admin/certificates.html")]
struct CertificatesPage {
    chrome: Chrome,
    nav: Nav,
    notice: Option<Notice>,
    heading: &'static str,
    q: String,
    status: String,
    serial: String,
    expiring: bool,
    statuses: Vec<(&'static str, &'static str)>,
    rows: Vec<CertificateRow>,
    next: Option<String>,
    error: Option<String>,
}

async fn certificates_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(ca): Path<String>,
    PageQuery(s): PageQuery<SearchQuery>,
) -> Result<Response, PageError> {
    let nav = nav(&state, &ca);
    let status = match s.status.as_str() {
        "" => None,
        other => Some(
            other
                .parse::<RequestStatus>()
                .map_err(PageError::bad_request)?,
        ),
    };
    // Issued and revoked rows are certificates; the other statuses list requests.
    let certificates_only = matches!(
        status,
        None | Some(RequestStatus::Issued | RequestStatus::Revoked)
    );
    let heading = match status {
        Some(RequestStatus::Pending) => "Pending requests",
        Some(RequestStatus::Denied) => "Denied requests",
        Some(RequestStatus::Failed) => "Failed requests",
        Some(RequestStatus::Revoked) => "Revoked certificates",
        _ => "Issued certificates",
    };
    let mut error = None;
    let serial = match s.serial.trim() {
        "" => None,
        text => match text.parse::<SerialNumber>() {
            Ok(v) => Some(v),
            Err(e) => {
                error = Some(e.to_string());
                None
            }
        },
    };
    let q = s.q.trim().to_string();
    if q.len() > 256 {
        return Err(PageError::bad_request(
            "the search text is longer than 256 bytes",
        ));
    }
    let expiring = s.expiring.is_some();
    let rows = if error.is_some() {
        Vec::new()
    } else {
        state
            .admin
            .view(
                Some(&user.identity),
                &state.ca(&ca)?,
                ViewQuery {
                    status,
                    text: (!q.is_empty()).then(|| q.clone()),
                    serial,
                    expiring_before: expiring.then(|| SystemTime::now() + EXPIRING_WITHIN),
                    certificates_only,
                    after_id: s.after.and_then(|a| RequestId::new(a).ok()),
                    limit: PAGE_ROWS,
                    ..Default::default()
                },
            )
            .await?
    };
    let next = (rows.len() >= PAGE_ROWS as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|after| {
            format!(
                "{}/certificates?q={}&status={}&serial={}{}&after={after}",
                ca_path(&nav.ca),
                url_encode(&q),
                url_encode(&s.status),
                url_encode(s.serial.trim()),
                if expiring { "&expiring=30" } else { "" },
            )
        });
    let page = CertificatesPage {
        chrome: chrome(
            format!("{} · Certificates", nav.ca),
            "admin-certificates",
            &user,
        ),
        notice: None,
        nav,
        heading,
        statuses: vec![
            ("", "Issued and revoked"),
            ("issued", "Issued (valid)"),
            ("revoked", "Revoked or on hold"),
            ("pending", "Pending requests"),
            ("denied", "Denied requests"),
            ("failed", "Failed requests"),
        ],
        rows: rows.iter().map(certificate_row).collect(),
        q,
        status: s.status.clone(),
        serial: s.serial.trim().to_string(),
        expiring,
        next,
        error,
    };
    Ok(render(&page))
}

fn certificate_row(r: &RequestRecord) -> CertificateRow {
    let c = r.certificate.as_ref();
    CertificateRow {
        id: r.id.to_string(),
        status: r.status.as_str(),
        held: c
            .and_then(|c| c.revocation)
            .is_some_and(|v| v.reason == RevocationReason::CertificateHold),
        serial: c.map(|c| c.serial.to_hex()),
        subject: c.map_or_else(|| r.subject.clone(), |c| c.subject.clone()),
        sans: c.map(|c| c.sans.join(", ")).unwrap_or_default(),
        not_after: c.map(|c| fmt_time(c.not_after)).unwrap_or_default(),
        requester: requester_of(r),
    }
}

#[derive(Template)]
#[template(path = "admin/certificate.html")]
struct CertificatePage {
    chrome: Chrome,
    nav: Nav,
    notice: Option<Notice>,
    id: String,
    serial: String,
    status: &'static str,
    held: bool,
    revoked: Option<(String, String, Option<String>)>,
    subject: String,
    issuer: String,
    not_before: String,
    not_after: String,
    sans: Vec<String>,
    key: String,
    key_usage: Vec<&'static str>,
    eku: Vec<String>,
    basic: Option<String>,
    extensions: Vec<ExtensionRow>,
    requester: String,
    profile: String,
    pem: String,
    reasons: Vec<&'static str>,
    history: Vec<HistoryRow>,
}

async fn certificate_page(
    State(state): State<AppState>,
    user: WebUser,
    Path((ca, serial)): Path<(String, String)>,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, PageError> {
    let serial = parse_serial(&serial)?;
    certificate_view(&state, &user, &ca, serial, done.notice()).await
}

async fn certificate_view(
    state: &AppState,
    user: &WebUser,
    ca: &str,
    serial: SerialNumber,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let d = state
        .admin
        .certificate_details(Some(&user.identity), &state.ca(ca)?, serial)
        .await?;
    let nav = nav(state, ca);
    let r = &d.record;
    let c = r
        .certificate
        .as_ref()
        .ok_or_else(|| PageError::not_found(format!("certificate {serial}")))?;
    let info = signet_x509::parse_certificate(&c.der)
        .map_err(|e| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let find = |oid: &str| info.extensions.iter().find(|e| e.oid == oid);
    let page = CertificatePage {
        chrome: chrome(
            format!("Certificate {}", c.serial.to_hex()),
            "admin-certificates",
            user,
        ),
        nav,
        notice,
        id: r.id.to_string(),
        serial: c.serial.to_hex(),
        status: r.status.as_str(),
        held: c
            .revocation
            .is_some_and(|v| v.reason == RevocationReason::CertificateHold),
        revoked: c.revocation.map(|v| {
            (
                v.reason.name().to_string(),
                fmt_time(v.at),
                v.invalidity_date.map(fmt_time),
            )
        }),
        subject: info.subject.to_string(),
        issuer: info.issuer.to_string(),
        not_before: fmt_time(info.not_before),
        not_after: fmt_time(info.not_after),
        sans: info.sans.iter().map(ToString::to_string).collect(),
        key: csr_key(r),
        key_usage: find(ext::oid::KEY_USAGE)
            .and_then(|e| ext::parse_key_usage(&e.value).ok())
            .map(key_usage_names)
            .unwrap_or_default(),
        eku: find(ext::oid::EXT_KEY_USAGE)
            .and_then(|e| ext::parse_extended_key_usage(&e.value).ok())
            .map(|oids| oids.iter().map(|o| purpose_name(o)).collect())
            .unwrap_or_default(),
        basic: find(ext::oid::BASIC_CONSTRAINTS)
            .and_then(|e| ext::parse_basic_constraints(&e.value).ok())
            .map(|(ca, path)| match (ca, path) {
                (false, _) => "end entity (cA = false)".to_string(),
                (true, None) => "CA".to_string(),
                (true, Some(n)) => format!("CA, path length {n}"),
            }),
        extensions: info
            .extensions
            .iter()
            .map(|e| ExtensionRow {
                oid: e.oid.clone(),
                name: extension_name(&e.oid),
                critical: e.critical,
                disabled: false,
                origin: "",
                value: hex::encode(&e.value),
            })
            .collect(),
        requester: requester_of(r),
        profile: profile_of(r),
        pem: pem::encode("CERTIFICATE", &c.der),
        reasons: RevocationReason::ALL.iter().map(|r| r.name()).collect(),
        history: d.history.iter().map(history_row).collect(),
    };
    Ok(render(&page))
}

fn parse_serial(s: &str) -> Result<SerialNumber, PageError> {
    crate::admin_api::serial(s).map_err(|p| PageError::not_found(p.detail))
}

fn certificate_path(ca: &str, serial: &SerialNumber) -> String {
    format!("{}/certificates/{}", ca_path(ca), serial.to_hex())
}

async fn certificate_outcome(
    state: &AppState,
    user: &WebUser,
    ca: &str,
    serial: SerialNumber,
    result: Result<RequestRecord, EnrollError>,
    done: &'static str,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(back(certificate_path(&nav(state, ca).ca, &serial), done)),
        Err(e) => refused(e, |n| certificate_view(state, user, ca, serial, n)).await,
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    invalidity_date: String,
}

async fn revoke(
    State(state): State<AppState>,
    Path((ca, serial)): Path<(String, String)>,
    CsrfForm(user, form): CsrfForm<RevokeForm>,
) -> Result<Response, PageError> {
    let serial = parse_serial(&serial)?;
    let parsed = RevocationReason::parse(&form.reason).and_then(|reason| {
        let date = match form.invalidity_date.trim() {
            "" => None,
            t => Some(crate::wire::parse_time(t).map_err(|e| e.to_string())?),
        };
        Ok((reason, date))
    });
    let (result, done) = match parsed {
        Ok((reason, date)) => (
            state
                .admin
                .revoke(Some(&user.identity), &state.ca(&ca)?, serial, reason, date)
                .await,
            if reason == RevocationReason::CertificateHold {
                "held"
            } else {
                "revoked"
            },
        ),
        Err(m) => (Err(EnrollError::BadRequest(m)), "revoked"),
    };
    certificate_outcome(&state, &user, &ca, serial, result, done).await
}

async fn unrevoke(
    State(state): State<AppState>,
    Path((ca, serial)): Path<(String, String)>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let serial = parse_serial(&serial)?;
    let result = state
        .admin
        .unrevoke(Some(&user.identity), &state.ca(&ca)?, serial)
        .await;
    certificate_outcome(&state, &user, &ca, serial, result, "released").await
}

// ---- CRLs -----------------------------------------------------------------------------------

struct CrlRow {
    number: u64,
    shard: u32,
    kind: String,
    this_update: String,
    next_update: String,
    entries: u64,
    /// The DER size of a CRL `/crl/...` serves now (the store lists metadata only).
    size: Option<usize>,
    /// The public download path, for the CRL `/crl/...` serves now (older ones are not).
    download: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/crls.html")]
struct CrlsPage {
    chrome: Chrome,
    nav: Nav,
    notice: Option<Notice>,
    rows: Vec<CrlRow>,
}

async fn crls_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(ca): Path<String>,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, PageError> {
    crls_view(&state, &user, &ca, done.notice()).await
}

async fn crls_view(
    state: &AppState,
    user: &WebUser,
    ca: &str,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let records = state
        .admin
        .list_crls(Some(&user.identity), &state.ca(ca)?, 50)
        .await?;
    let nav = nav(state, ca);
    let name = state.ca(&nav.ca)?;
    let rows = records
        .iter()
        .map(|r| {
            let delta = r.delta_base.is_some();
            let current = state
                .revocation
                .crl(&name, r.shard, delta)
                .filter(|c| c.number == r.number);
            CrlRow {
                number: r.number,
                shard: r.shard,
                kind: r
                    .delta_base
                    .map_or_else(|| "full".to_string(), |b| format!("delta of {b}")),
                this_update: fmt_time(r.this_update),
                next_update: fmt_time(r.next_update),
                entries: r.entries,
                size: current.as_ref().map(|c| c.der.len()),
                download: current.map(|_| crl_path(&nav.ca, r.shard, delta)),
            }
        })
        .collect();
    Ok(render(&CrlsPage {
        chrome: chrome(format!("{} · CRLs", nav.ca), "admin-crls", user),
        nav,
        notice,
        rows,
    }))
}

/// The public path of a shard's current CRL (see [`crate::revocation_api`]).
fn crl_path(ca: &str, shard: u32, delta: bool) -> String {
    let ca = url_encode(ca);
    match (shard, delta) {
        (0, false) => format!("/crl/{ca}.crl"),
        (0, true) => format!("/crl/{ca}/delta.crl"),
        (n, false) => format!("/crl/{ca}/{n}.crl"),
        (n, true) => format!("/crl/{ca}/{n}-delta.crl"),
    }
}

#[derive(Deserialize)]
struct PublishForm {
    #[serde(default)]
    delta: Option<String>,
}

async fn publish_crls(
    State(state): State<AppState>,
    Path(ca): Path<String>,
    CsrfForm(user, form): CsrfForm<PublishForm>,
) -> Result<Response, PageError> {
    match state
        .admin
        .publish_crls(Some(&user.identity), &state.ca(&ca)?, form.delta.is_some())
        .await
    {
        Ok(_) => Ok(back(
            format!("{}/crls", ca_path(&nav(&state, &ca).ca)),
            "published",
        )),
        Err(e) => refused(e, |n| crls_view(&state, &user, &ca, n)).await,
    }
}

// ---- exit delivery ----------------------------------------------------------------------------

struct ParkedRow {
    seq: u64,
    event: String,
    request: Option<String>,
    error: String,
    attempts: u32,
    parked_at: String,
}

struct ExitPanel {
    name: String,
    /// The name as a path segment (module names come from the configuration).
    url_name: String,
    description: String,
    cursor: u64,
    head: u64,
    lag: u64,
    failing_seq: Option<u64>,
    attempts: u32,
    max_attempts: u32,
    next_attempt: Option<String>,
    last_error: Option<String>,
    last_success: Option<String>,
    parked: u64,
    parked_rows: Vec<ParkedRow>,
}

#[derive(Template)]
#[template(path = "admin/exits.html")]
struct ExitsPage {
    chrome: Chrome,
    nav: Nav,
    notice: Option<Notice>,
    exits: Vec<ExitPanel>,
}

async fn exits_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(ca): Path<String>,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, PageError> {
    exits_view(&state, &user, &ca, done.notice()).await
}

async fn exits_view(
    state: &AppState,
    user: &WebUser,
    ca: &str,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let who = Some(&user.identity);
    let statuses = state.admin.exit_status(who, &state.ca(ca)?).await?;
    let parked = state
        .admin
        .parked_events(who, &state.ca(ca)?, None, signet_api::admin::MAX_PAGE)
        .await?;
    let exits = statuses
        .into_iter()
        .map(|s| {
            let failing = s.state.attempts > 0;
            ExitPanel {
                parked_rows: parked
                    .iter()
                    .filter(|p| p.exit == s.exit)
                    .map(|p| ParkedRow {
                        seq: p.seq,
                        event: p.event.name().to_string(),
                        request: p.request_id.map(|r| r.to_string()),
                        error: p.error.clone(),
                        attempts: p.attempts,
                        parked_at: fmt_time(p.parked_at),
                    })
                    .collect(),
                lag: s.lag(),
                url_name: url_encode(&s.exit),
                name: s.exit,
                description: s.description,
                cursor: s.state.cursor,
                head: s.head,
                failing_seq: failing.then_some(s.state.failing_seq),
                attempts: s.state.attempts,
                max_attempts: s.retry.max_attempts,
                next_attempt: s.state.next_attempt_at.filter(|_| failing).map(fmt_time),
                last_error: s.state.last_error.filter(|_| failing),
                last_success: s.state.last_success_at.map(fmt_time),
                parked: s.state.parked,
            }
        })
        .collect();
    let nav = nav(state, ca);
    Ok(render(&ExitsPage {
        chrome: chrome(format!("{} · Exits", nav.ca), "admin-exits", user),
        nav,
        notice,
        exits,
    }))
}

async fn exit_outcome(
    state: &AppState,
    user: &WebUser,
    ca: &str,
    result: Result<(), EnrollError>,
    done: &'static str,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(back(format!("{}/exits", ca_path(&nav(state, ca).ca)), done)),
        Err(e) => refused(e, |n| exits_view(state, user, ca, n)).await,
    }
}

async fn retry_parked(
    State(state): State<AppState>,
    Path((ca, exit, seq)): Path<(String, String, String)>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| PageError::not_found(format!("{seq:?} is not an outbox sequence number")))?;
    let result = state
        .admin
        .retry_parked(Some(&user.identity), &state.ca(&ca)?, &exit, seq)
        .await;
    exit_outcome(&state, &user, &ca, result, "retried").await
}

async fn skip_exit(
    State(state): State<AppState>,
    Path((ca, exit)): Path<(String, String)>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = state
        .admin
        .skip_exit(Some(&user.identity), &state.ca(&ca)?, &exit)
        .await
        .map(|_| ());
    exit_outcome(&state, &user, &ca, result, "skipped").await
}

// ---- the audit log ----------------------------------------------------------------------------

struct AuditRow {
    seq: u64,
    at: String,
    actor: String,
    action: String,
    ca: String,
    target: String,
    details: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    chrome: Chrome,
    nav: Nav,
    notice: Option<Notice>,
    rows: Vec<AuditRow>,
    head: u64,
    newer: Option<u64>,
    older: Option<u64>,
}

#[derive(Deserialize)]
struct AuditQuery {
    /// Show the records before this sequence number (newest first); default: the newest.
    #[serde(default)]
    before: Option<u64>,
    #[serde(default)]
    verify: Option<String>,
}

/// `GET /admin/audit`: newest first, 50 a page. Verifying the chain only reads, so it is a
/// GET form too (`?verify=1`).
async fn audit_page(
    State(state): State<AppState>,
    user: WebUser,
    PageQuery(q): PageQuery<AuditQuery>,
) -> Result<Response, PageError> {
    let who = Some(&user.identity);
    // The engine checks the auditor role.
    let head = state.admin.audit_head(who).await?;
    // The log is server-wide; the sub-navigation points at the first CA.
    let first = state
        .directory
        .ca_names()
        .first()
        .map(ToString::to_string)
        .ok_or_else(|| PageError::not_found("this server has no CA"))?;
    let before = q.before.unwrap_or(head + 1).min(head + 1);
    let after = before.saturating_sub(AUDIT_ROWS + 1);
    let limit = u32::try_from(before.saturating_sub(after + 1))
        .unwrap_or(1)
        .max(1);
    let mut records = if before <= 1 {
        Vec::new()
    } else {
        state.admin.audit_log(who, after, limit).await?
    };
    records.retain(|r| r.seq < before);
    records.reverse();
    let notice = if q.verify.is_some() {
        let check = state.admin.verify_audit(who).await?;
        match check.first_broken {
            None => Notice::ok(format!(
                "The audit chain is intact: {} records checked.",
                check.records
            )),
            Some((seq, why)) => Notice::bad(format!(
                "The audit chain is broken at record {seq}: {why} ({} records checked).",
                check.records
            )),
        }
    } else {
        None
    };
    let nav = nav(&state, &first);
    let page = AuditPage {
        chrome: chrome("Audit log", "admin-audit", &user),
        nav,
        notice,
        newer: (before <= head).then(|| (before + AUDIT_ROWS).min(head + 1)),
        older: (after > 0).then_some(after + 1),
        head,
        rows: records
            .into_iter()
            .map(|r| AuditRow {
                seq: r.seq,
                at: fmt_time(r.at),
                actor: r.actor,
                action: r.action,
                ca: r.ca.unwrap_or_default(),
                target: r.target,
                details: r.details,
            })
            .collect(),
    };
    Ok(render(&page))
}

// ---- decoding for display ---------------------------------------------------------------------

fn key_name(k: &signet_x509::KeyAlgorithm) -> &'static str {
    use signet_x509::KeyAlgorithm as K;
    match k {
        K::P256 => "ECDSA P-256",
        K::P384 => "ECDSA P-384",
        K::Ed25519 => "Ed25519",
        K::Rsa { .. } => "RSA",
        K::MlDsa65 => "ML-DSA-65",
    }
}

fn extension_name(oid: &str) -> &'static str {
    use ext::oid as o;
    match oid {
        o::SUBJECT_KEY_IDENTIFIER => "subjectKeyIdentifier",
        o::KEY_USAGE => "keyUsage",
        o::SUBJECT_ALT_NAME => "subjectAltName",
        o::BASIC_CONSTRAINTS => "basicConstraints",
        o::AUTHORITY_KEY_IDENTIFIER => "authorityKeyIdentifier",
        o::EXT_KEY_USAGE => "extKeyUsage",
        o::CRL_DISTRIBUTION_POINTS => "cRLDistributionPoints",
        o::AUTHORITY_INFO_ACCESS => "authorityInfoAccess",
        o::CERTIFICATE_POLICIES => "certificatePolicies",
        o::NAME_CONSTRAINTS => "nameConstraints",
        o::OCSP_NOCHECK => "ocspNoCheck",
        _ => "",
    }
}

fn key_usage_names(ku: signet_x509::KeyUsage) -> Vec<&'static str> {
    use signet_x509::KeyUsage as K;
    [
        (K::DIGITAL_SIGNATURE, "digitalSignature"),
        (K::NON_REPUDIATION, "nonRepudiation"),
        (K::KEY_ENCIPHERMENT, "keyEncipherment"),
        (K::DATA_ENCIPHERMENT, "dataEncipherment"),
        (K::KEY_AGREEMENT, "keyAgreement"),
        (K::KEY_CERT_SIGN, "keyCertSign"),
        (K::CRL_SIGN, "cRLSign"),
    ]
    .into_iter()
    .filter(|(bit, _)| ku.contains(*bit))
    .map(|(_, name)| name)
    .collect()
}

fn purpose_name(oid: &str) -> String {
    use ext::oid as o;
    match oid {
        o::KP_SERVER_AUTH => "serverAuth".into(),
        o::KP_CLIENT_AUTH => "clientAuth".into(),
        o::KP_CODE_SIGNING => "codeSigning".into(),
        o::KP_EMAIL_PROTECTION => "emailProtection".into(),
        o::KP_TIME_STAMPING => "timeStamping".into(),
        o::KP_OCSP_SIGNING => "OCSPSigning".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_bars_scale_to_the_busiest_day() {
        let day = SystemTime::UNIX_EPOCH;
        let bars = chart_bars(&[(day, 0), (day, 1), (day, 100)], 100);
        assert_eq!(bars[0].height, 0);
        assert_eq!(bars[1].height, 2, "a single issuance stays visible");
        assert_eq!(bars[2].height, CHART_H);
        assert_eq!(bars[2].y, 0);
        assert!(chart_bars(&[(day, 0)], 0).iter().all(|b| b.height == 0));
    }

    #[test]
    fn crl_paths_match_the_public_routes() {
        assert_eq!(crl_path("demo", 0, false), "/crl/demo.crl");
        assert_eq!(crl_path("demo", 0, true), "/crl/demo/delta.crl");
        assert_eq!(crl_path("demo", 3, true), "/crl/demo/3-delta.crl");
    }

    #[test]
    fn done_messages_come_from_a_fixed_list() {
        let d = Done {
            done: Some("<script>".into()),
        };
        assert!(d.notice().is_none());
    }
}
