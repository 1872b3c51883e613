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
//! - this file: the routes, the shared frame ([`Nav`], [`Notice`]) and decoding for display;
//! - one file per page: `dashboard`, `pending`, `request` (one request and the officer's
//!   actions), `certificates` (search, one certificate, revoke), `crls`, `exits`, `audit`.

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
    CaName, EnrollError, RequestId, RequestRecord, RequestStatus, RevocationReason, SerialNumber,
};
use signet_x509::{ext, pem};

use signet_api::admin::{StatisticsSpec, ViewQuery};

use super::{Chrome, CsrfForm, PageError, PageQuery, WebUser, fmt_time, render, url_encode};
use crate::admin_api::{ExitPath, ParkedPath};
use crate::api::AppState;
use crate::extract::{PageCaPath, PageRequestPath, PageSerialPath};

mod audit;
mod certificates;
mod crls;
mod dashboard;
mod exits;
mod pending;
mod request;
use audit::*;
use certificates::*;
use crls::*;
use dashboard::*;
use exits::*;
use pending::*;
use request::*;

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

fn nav(state: &AppState, ca: &CaName) -> Nav {
    let cas: Vec<String> = state
        .directory
        .ca_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    Nav {
        ca: ca.to_string(),
        cas,
    }
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
    matches!(r.format.as_str(), "pkcs10" | "crmf")
        .then(|| signet_x509::parse_request(&r.raw).ok())
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
