//! The administration API (DESIGN §3): the ICertView queries, the pending queue (approve,
//! deny, edit), revocation, import, API tokens and the audit log.
//!
//! Handlers parse and authenticate; the engine (`signet_api::admin`) authorizes each call by
//! role and does the work, so a forbidden call changes nothing.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use signet_api::admin::{ExtensionEdit, TokenSpec, ViewQuery};
use signet_api::{CaName, RequestId, RequestStatus, RevocationReason, Roles, SerialNumber};
use signet_x509::ext;

use crate::api::AppState;
use crate::auth::{Caller, parse_san};
use crate::extract::{CaPath, RequestPath, SerialPath};
use crate::problem::Problem;
use crate::routes::Routes;
use crate::wire::{AuditCheckView, AuditView, RecordView, RequestView, TokenView, parse_time};

/// The administration routes (merged into [`crate::api::router`]).
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/whoami", whoami)
        .get("/api/v1/cas/{ca}/requests/{id}/details", request_details)
        .post("/api/v1/cas/{ca}/requests/{id}/approve", approve)
        .post("/api/v1/cas/{ca}/requests/{id}/deny", deny)
        .patch("/api/v1/cas/{ca}/requests/{id}/attributes", set_attributes)
        .put(
            "/api/v1/cas/{ca}/requests/{id}/extensions/{oid}",
            set_extension,
        )
        .delete(
            "/api/v1/cas/{ca}/requests/{id}/extensions/{oid}",
            disable_extension,
        )
        .get("/api/v1/cas/{ca}/certificates", view_certificates)
        .post("/api/v1/cas/{ca}/certificates", import)
        .get("/api/v1/cas/{ca}/certificates/{serial}", certificate)
        .post("/api/v1/cas/{ca}/certificates/{serial}/revoke", revoke)
        .post("/api/v1/cas/{ca}/certificates/{serial}/unrevoke", unrevoke)
        .get("/api/v1/tokens", list_tokens)
        .post("/api/v1/tokens", create_token)
        .delete("/api/v1/tokens/{id}", revoke_token)
        .get("/api/v1/cas/{ca}/exits", exit_status)
        .get("/api/v1/cas/{ca}/exits/parked", parked_events)
        .post(
            "/api/v1/cas/{ca}/exits/{exit}/parked/{seq}/retry",
            retry_parked,
        )
        .post("/api/v1/cas/{ca}/exits/{exit}/skip", skip_exit)
        .get("/api/v1/audit", audit_log)
        .get("/api/v1/audit/verify", audit_verify)
        .post("/api/v1/audit/verify", audit_verify_witnessed)
}

/// The other parameters of `.../extensions/{oid}` (`{ca}` and `{id}`: [`RequestPath`]).
#[derive(Deserialize)]
pub(crate) struct ExtensionPath {
    oid: String,
}

/// The other parameters of `.../exits/{exit}/parked/{seq}/retry` (`{ca}`: [`CaPath`]).
#[derive(Deserialize)]
pub(crate) struct ParkedPath {
    pub(crate) exit: String,
    pub(crate) seq: String,
}

/// The other parameter of `.../exits/{exit}/skip` (`{ca}`: [`CaPath`]).
#[derive(Deserialize)]
pub(crate) struct ExitPath {
    pub(crate) exit: String,
}

pub(crate) fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Problem> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| Problem::bad_request(format!("a JSON body is required: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))
}

/// Reads `body` as each JSON body the REST API accepts (the submission's and the admin
/// endpoints'), as their handlers do before they call the engine: the JSON itself, then the
/// extension value (hex, SAN or EKU text), the revocation reason and invalidity date, the
/// token roles and the witnessed checkpoints' hex. Returns how many bodies accepted it.
///
/// No handler runs and nothing is stored. It exists for the `rest_json` fuzz target
/// (`fuzz/`) and its corpus replay, so a body that makes a decoder panic is found without a
/// server.
pub fn decode_json_bodies(body: &[u8]) -> usize {
    let body = Bytes::copy_from_slice(body);
    let mut accepted = usize::from(crate::api::decode_submit_body(&body));
    if json_body::<DenyBody>(&body).is_ok() {
        accepted += 1;
    }
    if json_body::<std::collections::BTreeMap<String, Option<String>>>(&body).is_ok() {
        accepted += 1;
    }
    if let Ok(b) = json_body::<ExtensionBody>(&body) {
        let oid = match (&b.san, &b.eku) {
            (Some(_), _) => "2.5.29.17",
            (_, Some(_)) => "2.5.29.37",
            _ => "1.2.3.4",
        };
        accepted += usize::from(extension_value(oid, b.value, b.san, b.eku).is_ok());
    }
    if let Ok(b) = json_body::<RevokeBody>(&body) {
        let reason = RevocationReason::parse(&b.reason);
        let time = b.invalidity_date.as_deref().map(parse_time);
        accepted += usize::from(reason.is_ok() && !matches!(time, Some(Err(_))));
    }
    if let Ok(b) = json_body::<TokenBody>(&body) {
        accepted += usize::from(Roles::parse_list(&b.roles.join(",")).is_ok());
    }
    if let Ok(w) = json_body::<Witnessed>(&body) {
        let hex_ok = w
            .checkpoints
            .iter()
            .all(|c| hex::decode(&c.hash).is_ok() && hex::decode(&c.signature).is_ok());
        accepted += usize::from(hex_ok);
    }
    accepted
}

pub(crate) fn serial(s: &str) -> Result<SerialNumber, Problem> {
    s.parse()
        .map_err(|e: signet_api::ids::IdError| Problem::bad_request(e.to_string()))
}

async fn whoami(caller: Caller) -> Result<Response, Problem> {
    let who = signet_api::auth::require(caller.identity())?;
    Ok(axum::Json(serde_json::json!({
        "name": who.name,
        "roles": who.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "cas": who.cas.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "groups": who.groups,
        "via": who.via,
    }))
    .into_response())
}

/// ICertView filters, as query parameters.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ViewParams {
    status: Option<String>,
    profile: Option<String>,
    requester: Option<String>,
    /// Substring of the subject or a SAN.
    q: Option<String>,
    serial: Option<String>,
    submitted_after: Option<String>,
    submitted_before: Option<String>,
    issued_after: Option<String>,
    issued_before: Option<String>,
    expiring_within_days: Option<u32>,
    after: Option<i64>,
    limit: Option<u32>,
}

impl ViewParams {
    fn into_query(self, certificates_only: bool) -> Result<ViewQuery, Problem> {
        let time = |v: Option<String>| {
            v.map(|s| parse_time(&s).map_err(|e| Problem::bad_request(e.to_string())))
                .transpose()
        };
        let text = self.q.filter(|q| !q.is_empty());
        if text.as_ref().is_some_and(|t| t.len() > 256) {
            return Err(Problem::bad_request("q is longer than 256 bytes"));
        }
        Ok(ViewQuery {
            status: self
                .status
                .map(|s| {
                    s.parse::<RequestStatus>()
                        .map_err(|e| Problem::bad_request(e.to_string()))
                })
                .transpose()?,
            profile: self.profile,
            requester: self.requester,
            text,
            serial: self.serial.map(|s| serial(&s)).transpose()?,
            submitted_after: time(self.submitted_after)?,
            submitted_before: time(self.submitted_before)?,
            issued_after: time(self.issued_after)?,
            issued_before: time(self.issued_before)?,
            expiring_before: self.expiring_within_days.map(|d| {
                std::time::SystemTime::now() + std::time::Duration::from_secs(u64::from(d) * 86_400)
            }),
            certificates_only,
            newest_first: false,
            after_id: self
                .after
                .map(|a| RequestId::new(a).map_err(|e| Problem::bad_request(e.to_string())))
                .transpose()?,
            limit: self.limit.unwrap_or(100),
        })
    }
}

/// A page of the view: the rows and the cursor for the next page.
fn page(rows: Vec<signet_api::RequestRecord>, limit: u32) -> Response {
    let next = (rows.len() as u32 >= limit.clamp(1, signet_api::admin::MAX_PAGE))
        .then(|| rows.last().map(|r| r.id.get()))
        .flatten();
    let items: Vec<RecordView> = rows.iter().map(|r| RecordView::new(r, None)).collect();
    axum::Json(serde_json::json!({ "items": items, "next": next })).into_response()
}

/// `GET /api/v1/cas/{ca}/requests`.
pub async fn view_requests(
    State(state): State<AppState>,
    caller: Caller,
    CaPath { ca, .. }: CaPath,
    Query(params): Query<ViewParams>,
) -> Result<Response, Problem> {
    view(&state, &caller, &ca, params, false).await
}

/// `GET /api/v1/cas/{ca}/certificates`: the same view, rows with a certificate only.
async fn view_certificates(
    State(state): State<AppState>,
    caller: Caller,
    CaPath { ca, .. }: CaPath,
    Query(params): Query<ViewParams>,
) -> Result<Response, Problem> {
    view(&state, &caller, &ca, params, true).await
}

async fn view(
    state: &AppState,
    caller: &Caller,
    ca: &CaName,
    params: ViewParams,
    certificates_only: bool,
) -> Result<Response, Problem> {
    let query = params.into_query(certificates_only)?;
    let limit = query.limit;
    let rows = state.admin.view(caller.identity(), ca, query).await?;
    Ok(page(rows, limit))
}

async fn request_details(
    State(state): State<AppState>,
    caller: Caller,
    RequestPath { ca, id, .. }: RequestPath,
) -> Result<Response, Problem> {
    let d = state
        .admin
        .request_details(caller.identity(), &ca, id)
        .await?;
    Ok(axum::Json(RecordView::new(&d.record, Some(&d))).into_response())
}

async fn certificate(
    State(state): State<AppState>,
    caller: Caller,
    SerialPath { ca, serial, .. }: SerialPath,
) -> Result<Response, Problem> {
    let d = state
        .admin
        .certificate_details(caller.identity(), &ca, serial)
        .await?;
    Ok(axum::Json(RecordView::new(&d.record, Some(&d))).into_response())
}

async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    RequestPath { ca, id, .. }: RequestPath,
) -> Result<Response, Problem> {
    let r = state.admin.approve(caller.identity(), &ca, id).await?;
    Ok(axum::Json(RequestView::new(ca.as_str(), r)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DenyBody {
    reason: String,
}

async fn deny(
    State(state): State<AppState>,
    caller: Caller,
    RequestPath { ca, id, .. }: RequestPath,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: DenyBody = json_body(&body)?;
    let r = state
        .admin
        .deny(caller.identity(), &ca, id, &b.reason)
        .await?;
    Ok(axum::Json(RequestView::new(ca.as_str(), r)).into_response())
}

/// `PATCH .../attributes`: `{"name": "value", "other": null}` (null removes).
async fn set_attributes(
    State(state): State<AppState>,
    caller: Caller,
    RequestPath { ca, id, .. }: RequestPath,
    body: Bytes,
) -> Result<Response, Problem> {
    let changes: std::collections::BTreeMap<String, Option<String>> = json_body(&body)?;
    let record = state
        .admin
        .set_attributes(caller.identity(), &ca, id, changes.into_iter().collect())
        .await?;
    Ok(axum::Json(RecordView::new(&record, None)).into_response())
}

/// `PUT .../extensions/{oid}`: exactly one of `value` (hex DER), `san` (`["dns:x", ...]`) or
/// `eku` (`["serverAuth", "1.2.3"]`); `critical` defaults to false. `"disabled": true`
/// disables instead (as `DELETE` does).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtensionBody {
    #[serde(default)]
    critical: bool,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    san: Option<Vec<String>>,
    #[serde(default)]
    eku: Option<Vec<String>>,
    #[serde(default)]
    disabled: bool,
}

async fn set_extension(
    State(state): State<AppState>,
    caller: Caller,
    RequestPath { ca, id, .. }: RequestPath,
    Path(ExtensionPath { oid }): Path<ExtensionPath>,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: ExtensionBody = json_body(&body)?;
    let given = [b.value.is_some(), b.san.is_some(), b.eku.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    let value = if b.disabled {
        if given > 0 {
            return Err(Problem::bad_request("disabled takes no value"));
        }
        None
    } else {
        if given != 1 {
            return Err(Problem::bad_request(
                "give exactly one of value (hex DER), san or eku, or disabled: true",
            ));
        }
        Some(extension_value(&oid, b.value, b.san, b.eku)?)
    };
    let oid = ExtensionEdit::parse_oid(&oid)?;
    let record = state
        .admin
        .set_extension(
            caller.identity(),
            &ca,
            id,
            ExtensionEdit {
                oid,
                critical: b.critical,
                value,
            },
        )
        .await?;
    Ok(axum::Json(RecordView::new(&record, None)).into_response())
}

fn extension_value(
    oid: &str,
    value: Option<String>,
    san: Option<Vec<String>>,
    eku: Option<Vec<String>>,
) -> Result<Vec<u8>, Problem> {
    if let Some(hex) = value {
        let clean: String = hex
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        return decode_hex(&clean).ok_or_else(|| Problem::bad_request("value is not hex"));
    }
    if let Some(names) = san {
        if oid != ext::oid::SUBJECT_ALT_NAME {
            return Err(Problem::bad_request(format!(
                "san is the friendly form of subjectAltName ({}), not {oid}",
                ext::oid::SUBJECT_ALT_NAME
            )));
        }
        let sans = names
            .iter()
            .map(|n| parse_san(n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Problem::bad_request(e.to_string()))?;
        return ext::subject_alt_name(&sans, false)
            .map(|e| e.value)
            .map_err(|e| Problem::bad_request(e.to_string()));
    }
    if let Some(purposes) = eku {
        if oid != ext::oid::EXT_KEY_USAGE {
            return Err(Problem::bad_request(format!(
                "eku is the friendly form of extKeyUsage ({}), not {oid}",
                ext::oid::EXT_KEY_USAGE
            )));
        }
        let oids = purposes
            .iter()
            .map(|p| {
                ext::eku_oid(p)
                    .ok_or_else(|| Problem::bad_request(format!("unknown purpose {p:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        return ext::extended_key_usage(&oids)
            .map(|e| e.value)
            .map_err(|e| Problem::bad_request(e.to_string()));
    }
    Err(Problem::bad_request("no value"))
}

pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

async fn disable_extension(
    State(state): State<AppState>,
    caller: Caller,
    RequestPath { ca, id, .. }: RequestPath,
    Path(ExtensionPath { oid }): Path<ExtensionPath>,
) -> Result<Response, Problem> {
    let oid = ExtensionEdit::parse_oid(&oid)?;
    let record = state
        .admin
        .set_extension(
            caller.identity(),
            &ca,
            id,
            ExtensionEdit {
                oid,
                critical: false,
                value: None,
            },
        )
        .await?;
    Ok(axum::Json(RecordView::new(&record, None)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: String,
    #[serde(default)]
    invalidity_date: Option<String>,
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    SerialPath { ca, serial, .. }: SerialPath,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: RevokeBody = json_body(&body)?;
    let reason =
        RevocationReason::parse(&b.reason).map_err(|e| Problem::bad_request(e.to_string()))?;
    let invalidity = b
        .invalidity_date
        .map(|t| parse_time(&t).map_err(|e| Problem::bad_request(e.to_string())))
        .transpose()?;
    let record = state
        .admin
        .revoke(caller.identity(), &ca, serial, reason, invalidity)
        .await?;
    Ok(axum::Json(RecordView::new(&record, None)).into_response())
}

async fn unrevoke(
    State(state): State<AppState>,
    caller: Caller,
    SerialPath { ca, serial, .. }: SerialPath,
) -> Result<Response, Problem> {
    let record = state.admin.unrevoke(caller.identity(), &ca, serial).await?;
    Ok(axum::Json(RecordView::new(&record, None)).into_response())
}

/// `POST .../certificates`: a certificate, PEM or DER (`application/pkix-cert`), or JSON
/// `{"certificate": PEM}`.
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    CaPath { ca, .. }: CaPath,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let certificate = if json {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ImportBody {
            certificate: String,
        }
        json_body::<ImportBody>(&body)?.certificate.into_bytes()
    } else {
        body.to_vec()
    };
    let r = state
        .admin
        .import(caller.identity(), &ca, &certificate)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(RequestView::new(ca.as_str(), r)),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    roles: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    cas: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    expires_days: Option<u32>,
    /// The token may serve as a shared secret (CMP's password-based MAC).
    #[serde(default)]
    shared_secret: bool,
}

async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: TokenBody = json_body(&body)?;
    let roles =
        Roles::parse_list(&b.roles.join(",")).map_err(|e| Problem::bad_request(e.to_string()))?;
    let (record, secret) = state
        .admin
        .create_token(
            caller.identity(),
            TokenSpec {
                name: b.name,
                roles,
                cas: b.cas,
                groups: b.groups,
                expires_days: b.expires_days,
                shared_secret: b.shared_secret,
            },
        )
        .await?;
    let mut view = TokenView::from(&record);
    view.token = Some(secret);
    let mut resp = (StatusCode::CREATED, axum::Json(view)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

async fn list_tokens(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let tokens = state.admin.list_tokens(caller.identity()).await?;
    let views: Vec<TokenView> = tokens.iter().map(TokenView::from).collect();
    Ok(axum::Json(views).into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: u64 = id
        .parse()
        .map_err(|_| Problem::bad_request(format!("{id:?} is not a token id")))?;
    state.admin.revoke_token(caller.identity(), id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/v1/audit`: JSON lines (`application/x-ndjson`), one record per line; the
/// `Signet-Next` header holds the cursor for the next page when there may be more.
async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Response, Problem> {
    let limit = p.limit.unwrap_or(signet_api::admin::MAX_PAGE);
    let records = state
        .admin
        .audit_log(caller.identity(), p.after, limit)
        .await?;
    let mut out = String::new();
    for r in &records {
        out.push_str(&serde_json::to_string(&AuditView::from(r)).unwrap_or_default());
        out.push('\n');
    }
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if records.len() as u32 >= limit.clamp(1, signet_api::admin::MAX_PAGE)
        && let Some(last) = records.last()
        && let Ok(v) = HeaderValue::from_str(&last.seq.to_string())
    {
        resp.headers_mut().insert("signet-next", v);
    }
    Ok(resp)
}

/// The chain checked with the audit key and every stored checkpoint: how far back the server
/// can vouch (`AuditCheckView::statement`).
async fn audit_verify(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let report = state
        .admin
        .audit_report(caller.identity(), Vec::new())
        .await?;
    Ok(axum::Json(AuditCheckView::from(&report)).into_response())
}

/// The body of `POST /api/v1/audit/verify`.
#[derive(Deserialize)]
struct Witnessed {
    #[serde(default)]
    checkpoints: Vec<WitnessedCheckpoint>,
}

/// One checkpoint of [`Witnessed`], as an `AuditCheckpoint` event's details give it.
#[derive(Deserialize)]
struct WitnessedCheckpoint {
    checkpoint: u64,
    seq: u64,
    hash: String,
    at: u64,
    signature: String,
}

/// `POST /api/v1/audit/verify` with `{"checkpoints": [...]}`: as the GET, plus checkpoints
/// kept outside the database (the `AuditCheckpoint` event details an exit module recorded).
async fn audit_verify_witnessed(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, Problem> {
    let w: Witnessed = json_body(&body)?;
    let mut witnessed = Vec::with_capacity(w.checkpoints.len());
    for (i, c) in w.checkpoints.into_iter().enumerate() {
        let bad =
            || Problem::bad_request(format!("checkpoints[{i}]: hash and signature must be hex"));
        witnessed.push((
            format!("the request (checkpoints[{i}])"),
            signet_api::admin::AuditCheckpoint {
                number: c.checkpoint,
                seq: c.seq,
                hash: hex::decode(&c.hash).map_err(|_| bad())?,
                at: std::time::UNIX_EPOCH + std::time::Duration::from_secs(c.at),
                signature: hex::decode(&c.signature).map_err(|_| bad())?,
            },
        ));
    }
    let report = state
        .admin
        .audit_report(caller.identity(), witnessed)
        .await?;
    Ok(axum::Json(AuditCheckView::from(&report)).into_response())
}

// ---- Exit delivery ---------------------------------------------------------------------

fn opt_time(t: Option<std::time::SystemTime>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| {
        serde_json::Value::String(crate::wire::rfc3339(t))
    })
}

fn parked_view(p: &signet_api::admin::ParkedEvent) -> serde_json::Value {
    serde_json::json!({
        "ca": p.ca.as_str(),
        "exit": p.exit,
        "seq": p.seq,
        "event": p.event.name(),
        "request_id": p.request_id.map(|r| r.get()),
        "error": p.error,
        "attempts": p.attempts,
        "parked_at": crate::wire::rfc3339(p.parked_at),
    })
}

/// `GET /api/v1/cas/{ca}/exits`: per exit module, cursor, outbox head, lag, the failure
/// state of the current event and the parked count.
async fn exit_status(
    State(state): State<AppState>,
    caller: Caller,
    CaPath { ca, .. }: CaPath,
) -> Result<Response, Problem> {
    let rows = state.admin.exit_status(caller.identity(), &ca).await?;
    let views: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "ca": r.ca.as_str(),
                "exit": r.exit,
                "description": r.description,
                "cursor": r.state.cursor,
                "head": r.head,
                "lag": r.lag(),
                "failing_seq": (r.state.attempts > 0).then_some(r.state.failing_seq),
                "attempts": r.state.attempts,
                "next_attempt_at": opt_time(r.state.next_attempt_at),
                "last_error": r.state.last_error,
                "last_success_at": opt_time(r.state.last_success_at),
                "parked": r.state.parked,
                "max_attempts": r.retry.max_attempts,
                "backoff_initial_ms": u64::try_from(r.retry.backoff_initial.as_millis()).unwrap_or(u64::MAX),
                "backoff_max_ms": u64::try_from(r.retry.backoff_max.as_millis()).unwrap_or(u64::MAX),
            })
        })
        .collect();
    Ok(axum::Json(views).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParkedParams {
    #[serde(default)]
    exit: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/v1/cas/{ca}/exits/parked[?exit=M]`: parked events, oldest first.
async fn parked_events(
    State(state): State<AppState>,
    caller: Caller,
    CaPath { ca, .. }: CaPath,
    Query(p): Query<ParkedParams>,
) -> Result<Response, Problem> {
    let rows = state
        .admin
        .parked_events(
            caller.identity(),
            &ca,
            p.exit.as_deref(),
            p.limit.unwrap_or(signet_api::admin::MAX_PAGE),
        )
        .await?;
    Ok(axum::Json(rows.iter().map(parked_view).collect::<Vec<_>>()).into_response())
}

/// `POST .../exits/{exit}/parked/{seq}/retry`: delivers a parked event again; 204 when the
/// module acknowledged it (it leaves the parked list), 409 with the module's error if not.
async fn retry_parked(
    State(state): State<AppState>,
    caller: Caller,
    CaPath { ca, .. }: CaPath,
    Path(ParkedPath { exit, seq }): Path<ParkedPath>,
) -> Result<Response, Problem> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| Problem::bad_request(format!("{seq:?} is not an outbox sequence number")))?;
    state
        .admin
        .retry_parked(caller.identity(), &ca, &exit, seq)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST .../exits/{exit}/skip`: parks the event the module is failing on now.
async fn skip_exit(
    State(state): State<AppState>,
    caller: Caller,
    CaPath { ca, .. }: CaPath,
    Path(ExitPath { exit }): Path<ExitPath>,
) -> Result<Response, Problem> {
    let parked = state.admin.skip_exit(caller.identity(), &ca, &exit).await?;
    Ok(axum::Json(parked_view(&parked)).into_response())
}
