//! The REST API (DESIGN §3) and the public endpoints.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use signet_api::{
    Administer, Authenticate, CaName, Directory, Enroll, EnrollError, PublicRevocation, Role,
    SubmitRequest,
};
use signet_x509::pem;

use crate::Metrics;
use crate::auth::{Caller, CertIdentities};
use crate::extract::{CaPath, RequestPath};
use crate::metrics::MetricsAccess;
use crate::problem::Problem;
use crate::routes::Routes;
use crate::wire::{CaView, RequestView};

/// The OpenAPI document, kept beside the code it describes.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Enrollment: submit, retrieve, discovery, chains.
    pub enroll: Arc<dyn Enroll>,
    /// The CA set, read in process.
    pub directory: Arc<dyn Directory>,
    /// API tokens and sessions to identities.
    pub authn: Arc<dyn Authenticate>,
    /// The administration surface (REST admin API and console).
    pub admin: Arc<dyn Administer>,
    /// CRLs and OCSP for relying parties.
    pub revocation: Arc<dyn PublicRevocation>,
    /// Finished OCSP GET answers (see [`crate::revocation_api::OcspHttpCache`]).
    pub ocsp_http: Arc<crate::revocation_api::OcspHttpCache>,
    pub metrics: Arc<Metrics>,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// How TLS client certificates map to identities.
    pub cert_identities: CertIdentities,
    /// The web pages' sessions.
    pub web: Arc<crate::web::WebState>,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    /// What `/healthz` answers.
    pub health: Arc<crate::health::Health>,
}

impl AppState {
    /// The CA a path or form names (by name or config string `host/CAName`), resolved by the
    /// directory: a CA this server does not hold is `UnknownCa`, as the engine answers it.
    pub fn ca(&self, ca: &str) -> Result<CaName, EnrollError> {
        self.directory
            .ca_name(ca)
            .ok_or_else(|| EnrollError::UnknownCa(ca.chars().take(100).collect()))
    }
}

/// The whole HTTP surface: the REST routes ([`rest_routes`]) and the web pages.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body;
    let web = if state.web.enabled {
        crate::web::routes()
    } else {
        Router::new()
    };
    rest_routes(state.metrics_access)
        .into_router()
        .merge(web)
        .fallback(|| async { Problem::not_found("no such resource") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Every route but the web pages, recorded so the OpenAPI test can check `openapi.json`
/// against what is served. `/metrics` is served unless [`MetricsAccess::Off`].
pub fn rest_routes(metrics_access: MetricsAccess) -> Routes {
    let routes = Routes::new().get("/healthz", healthz);
    let routes = match metrics_access {
        MetricsAccess::Off => routes,
        MetricsAccess::Public | MetricsAccess::Token => routes.get("/metrics", metrics),
    };
    routes
        .get("/api/v1/openapi.json", openapi)
        .get("/api/v1/cas", list_cas)
        .get("/api/v1/cas/{ca}/certificate", ca_certificate)
        .get("/api/v1/cas/{ca}/chain", ca_chain)
        .get("/api/v1/cas/{ca}/cross-certificates", ca_cross_certificates)
        .post("/api/v1/cas/{ca}/requests", submit)
        .get("/api/v1/cas/{ca}/requests", crate::admin_api::view_requests)
        .get("/api/v1/cas/{ca}/requests/{id}", retrieve)
        .merge(crate::admin_api::routes())
        .merge(crate::revocation_api::routes())
        .get("/ca/{file}", public_ca_certificate)
}

/// 200 `ok`, or 503 with the reason when the node has lost its database.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.health.problem() {
        None => "ok\n".into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unavailable: {why}\n"),
        )
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus text, to anyone or only to auditors and administrators of
/// every CA ([`MetricsAccess`]).
async fn metrics(
    State(state): State<AppState>,
    caller: Result<Caller, crate::auth::Unauthorized>,
) -> Response {
    if state.metrics_access == MetricsAccess::Token {
        let caller = match caller {
            Ok(c) => c,
            Err(refused) => return refused.into_response(),
        };
        let Some(who) = caller.identity() else {
            return crate::auth::unauthorized(
                "/metrics needs an auditor or admin token: Authorization: Bearer TOKEN",
            )
            .into_response();
        };
        let separation = state.admin.role_separation();
        let allowed = [Role::Auditor, Role::Admin]
            .into_iter()
            .any(|role| who.authorize(role, None, separation).is_ok());
        if !allowed {
            return Problem::from(EnrollError::Forbidden(format!(
                "{} needs the auditor or admin role on every CA to read /metrics",
                who.name
            )))
            .into_response();
        }
    }
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

async fn openapi() -> Response {
    let mut resp = OPENAPI.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

async fn list_cas(State(state): State<AppState>) -> Result<Response, Problem> {
    let cas = state.enroll.list_cas().await?;
    let views: Vec<CaView> = cas.into_iter().map(CaView::from).collect();
    Ok(axum::Json(views).into_response())
}

#[derive(Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

fn certificates_response(ders: &[Vec<u8>], format: Option<&str>) -> Result<Response, Problem> {
    match format.unwrap_or("pem") {
        "pem" => {
            let text: String = ders.iter().map(|d| pem::encode("CERTIFICATE", d)).collect();
            let mut resp = text.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            );
            Ok(resp)
        }
        "der" if ders.len() == 1 => {
            let mut resp = ders[0].clone().into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pkix-cert"),
            );
            Ok(resp)
        }
        "der" => Err(Problem::bad_request(
            "a chain of several certificates has no DER form; use PEM",
        )),
        other => Err(Problem::bad_request(format!(
            "unknown format {other:?} (pem or der)"
        ))),
    }
}

async fn ca_certificate(
    State(state): State<AppState>,
    CaPath { ca, .. }: CaPath,
    Query(q): Query<FormatQuery>,
) -> Result<Response, Problem> {
    let der = state.enroll.ca_certificate(ca.as_str()).await?;
    certificates_response(&[der], q.format.as_deref())
}

async fn ca_chain(
    State(state): State<AppState>,
    CaPath { ca, .. }: CaPath,
    Query(q): Query<FormatQuery>,
) -> Result<Response, Problem> {
    let chain = state.enroll.chain(ca.as_str()).await?;
    certificates_response(&chain, q.format.as_deref())
}

/// `GET /api/v1/cas/{ca}/cross-certificates`: the cross certificates a root renewed with a
/// new key made (each key's certificate signed by the other), PEM; empty when there are
/// none.
async fn ca_cross_certificates(
    State(state): State<AppState>,
    CaPath { ca, .. }: CaPath,
) -> Result<Response, Problem> {
    certificates_response(&state.revocation.cross_certificates(&ca), Some("pem"))
}

/// `GET /ca/{ca}.crt`: the certificate of the CA's first key, DER, for AIA caIssuers;
/// `GET /ca/{ca}(k).crt` that of key index k (a CA renewed with a new key).
async fn public_ca_certificate(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, Problem> {
    let not_found = || Problem::not_found("CA certificates are served as /ca/NAME.crt");
    let (ca, key) = file
        .strip_suffix(".crt")
        .and_then(signet_api::revocation::split_key_index)
        .ok_or_else(not_found)?;
    let ca = state.ca(ca)?;
    let der = state
        .revocation
        .key_certificate(&ca, key)
        .ok_or_else(not_found)?;
    let mut resp = der.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pkix-cert"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(resp)
}

/// The JSON body of `POST /api/v1/cas/{ca}/requests`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    csr: String,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

/// Whether `body` is a [`SubmitBody`], for
/// [`decode_json_bodies`](crate::admin_api::decode_json_bodies).
pub(crate) fn decode_submit_body(body: &[u8]) -> bool {
    serde_json::from_slice::<SubmitBody>(body).is_ok()
}

#[derive(Deserialize)]
struct SubmitQuery {
    profile: Option<String>,
}

/// `POST /api/v1/cas/{ca}/requests`: JSON `{csr, profile?, attributes?}`, or a raw PKCS#10
/// body (`Content-Type: application/pkcs10`, DER or PEM) with `?profile=`.
async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ca: Result<CaPath, Problem>,
    Query(q): Query<SubmitQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let started = Instant::now();
    // An unknown CA is counted as a rejected request too, under the label `unknown`: a
    // caller must not be able to mint metric series.
    let (label, result) = match ca {
        Ok(CaPath { ca, .. }) => {
            let result = submit_inner(&state, caller, &ca, q, &headers, body).await;
            (Some(ca), result)
        }
        Err(refused) => (None, Err(refused)),
    };
    state.metrics.observe_latency(started.elapsed());
    let label = label.as_ref().map_or("unknown", |n| n.as_str());
    match &result {
        Ok(v) => state.metrics.count_request(label, &v.status),
        Err(_) => state.metrics.count_request(label, "rejected"),
    }
    let v = result?;
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

async fn submit_inner(
    state: &AppState,
    caller: Caller,
    ca: &CaName,
    q: SubmitQuery,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<RequestView, Problem> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Request body too large",
                format!("the body exceeds the limit of {} bytes", state.max_body),
            )
        } else {
            Problem::bad_request(format!("could not read the body: {e}"))
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let request = match content_type.as_str() {
        "application/json" => {
            let b: SubmitBody = serde_json::from_slice(&body)
                .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))?;
            SubmitRequest {
                ca: ca.to_string(),
                csr: b.csr.into_bytes(),
                profile: b.profile.or(q.profile),
                attributes: b.attributes.into_iter().collect(),
                caller: caller.0,
            }
        }
        "application/pkcs10" => SubmitRequest {
            ca: ca.to_string(),
            csr: body.to_vec(),
            profile: q.profile,
            attributes: Vec::new(),
            caller: caller.0,
        },
        other => {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!("{other:?} is not accepted: send application/json or application/pkcs10"),
            ));
        }
    };
    let response = state.enroll.submit(request).await?;
    Ok(RequestView::new(ca.as_str(), response))
}

/// `GET /api/v1/cas/{ca}/requests/{id}`.
async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    RequestPath { ca, id, .. }: RequestPath,
) -> Result<Response, Problem> {
    let anonymous = caller.identity().is_none();
    let response = match state
        .enroll
        .retrieve(ca.as_str(), id, caller.identity())
        .await
    {
        Ok(r) => r,
        // Without credentials, a request that belongs to an identity and one that does not
        // exist get the same answer, so ids cannot be probed. (CA names are public; an
        // unknown one was refused by the extractor.)
        Err(EnrollError::NotFound(_) | EnrollError::Unauthenticated(_)) if anonymous => {
            return Ok(crate::auth::unauthorized(format!(
                "request {id}: authenticate to retrieve it (requests of an identity are shown \
                 only to it and to officers)"
            ))
            .into_response());
        }
        Err(EnrollError::NotFound(d)) => return Err(Problem::not_found(format!("request {d}"))),
        Err(e) => return Err(e.into()),
    };
    Ok(axum::Json(RequestView::new(ca.as_str(), response)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths whose axum pattern differs from the document's: axum cannot match a literal
    /// suffix after a parameter, so the handler strips `.crt`/`.crl` itself, and OCSP's GET
    /// takes the rest of the path (the base64 request may contain `/`).
    const ALIASES: &[(&str, &str)] = &[
        ("/ca/{file}", "/ca/{ca}.crt"),
        ("/crl/{file}", "/crl/{ca}.crl"),
        ("/ocsp/{ca}/{*request}", "/ocsp/{ca}/{request}"),
    ];

    fn documented(path: &str) -> &str {
        ALIASES
            .iter()
            .find(|(axum, _)| *axum == path)
            .map_or(path, |(_, doc)| doc)
    }

    #[test]
    fn openapi_document_matches_the_routes_served() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        // The table of the router `router()` serves, with `/metrics` on.
        let routes = rest_routes(MetricsAccess::Public);
        let served: std::collections::BTreeSet<(String, String)> = routes
            .table()
            .iter()
            .map(|(method, path)| {
                (
                    method.as_str().to_ascii_lowercase(),
                    documented(path).to_string(),
                )
            })
            .collect();
        assert_eq!(
            served.len(),
            routes.table().len(),
            "a route registered twice"
        );
        for (method, path) in &served {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{} {path} is served but missing from openapi.json",
                method.to_ascii_uppercase()
            );
        }
        for (path, item) in paths {
            let item = item.as_object().expect("a path item");
            for method in item.keys().filter(|k| {
                [
                    "get", "put", "post", "delete", "options", "head", "patch", "trace",
                ]
                .contains(&k.as_str())
            }) {
                assert!(
                    served.contains(&(method.clone(), path.clone())),
                    "openapi.json documents {} {path}, which is not served",
                    method.to_ascii_uppercase()
                );
            }
        }
    }
}
