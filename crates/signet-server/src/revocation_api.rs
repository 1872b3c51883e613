//! Revocation over HTTP: CRLs at `/crl/...` and the OCSP responder at `/ocsp/{ca}` (plain
//! HTTP, as relying parties fetch them) and the CRL administration routes. The loop that
//! publishes CRLs on schedule drives the engine, so it lives in the binary (`signet serve`).
//!
//! URLs (see `signet_api::revocation`): `/crl/{ca}.crl` (the main CRL, partition 0),
//! `/crl/{ca}/delta.crl`, `/crl/{ca}/{n}.crl` and `/crl/{ca}/{n}-delta.crl` (partitions);
//! `POST /ocsp/{ca}` with `application/ocsp-request`, and `GET /ocsp/{ca}/{base64}`
//! (RFC 5019 §5). A repeated GET is answered from finished answers (`ocsp_cache`), by
//! [`OcspFront`] ahead of the router in `signet serve`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use signet_api::revocation::{OcspReply, PublishedCrl, PublishedSummary};

use crate::AppState;
use crate::auth::Caller;
use crate::extract::CaPath;
use crate::problem::Problem;
use crate::routes::Routes;
use crate::wire::rfc3339;

// Layout: this file holds the routes; `ocsp_cache` the finished GET answers and the front
// that serves them ahead of the router.
mod ocsp_cache;

use ocsp_cache::Finished;
pub use ocsp_cache::{FrontFuture, MAX_FINISHED_PER_SHARD, OcspFront, OcspHttpCache};

/// OCSP requests are small (a CertID is under 100 octets); anything larger is refused.
pub const MAX_OCSP_REQUEST: usize = 8 * 1024;

pub fn routes() -> Routes {
    Routes::new()
        .get("/crl/{file}", main_crl)
        .get("/crl/{ca}/{file}", partition_crl)
        .post("/ocsp/{ca}", ocsp_post)
        .get("/ocsp/{ca}/{*request}", ocsp_get)
        .post("/api/v1/cas/{ca}/crls", publish)
        .get("/api/v1/cas/{ca}/crls", list)
}

async fn main_crl(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((ca, key)) = file
        .strip_suffix(".crl")
        .and_then(signet_api::revocation::split_key_index)
    else {
        return Problem::not_found("CRLs are at /crl/CA.crl").into_response();
    };
    crl_response(published_crl(&state, ca, key, 0, false), &headers)
}

async fn partition_crl(
    State(state): State<AppState>,
    Path((ca, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(stem) = file.strip_suffix(".crl") else {
        return Problem::not_found("no such CRL").into_response();
    };
    // Partition numbers in their canonical form only (no `01`, `+1`): one URL per CRL.
    let partition = |n: &str| {
        n.parse::<u32>()
            .ok()
            .filter(|&p| p > 0 && p.to_string() == n)
    };
    let (shard, delta) = match stem {
        "delta" => (Some(0), true),
        s => match s.strip_suffix("-delta") {
            Some(n) => (partition(n), true),
            None => (partition(s), false),
        },
    };
    let (Some(partition), Some((ca, key))) = (shard, signet_api::revocation::split_key_index(&ca))
    else {
        return Problem::not_found("no such CRL").into_response();
    };
    crl_response(published_crl(&state, ca, key, partition, delta), &headers)
}

/// The newest CRL of a partition of one key of the CA a URL names, if it is one of ours.
fn published_crl(
    state: &AppState,
    ca: &str,
    key: u32,
    partition: u32,
    delta: bool,
) -> Option<Arc<PublishedCrl>> {
    let ca = state.directory.ca_name(ca)?;
    let shard = signet_api::revocation::CrlScope { key, partition }.shard();
    state.revocation.crl(&ca, shard, delta)
}

/// The OCSP answer for the CA a URL names: `unauthorized` when it is not one of ours.
async fn ocsp_answer(state: &AppState, ca: &str, request: &[u8]) -> OcspReply {
    match state.directory.ca_name(ca) {
        Some(ca) => state.revocation.ocsp(&ca, request).await,
        None => OcspReply::unauthorized(),
    }
}

/// A CRL with `Last-Modified`, `Expires` (its nextUpdate), an ETag naming its number, and a
/// `max-age` of at most an hour, so a CRL published on demand reaches caches soon.
fn crl_response(crl: Option<Arc<PublishedCrl>>, headers: &HeaderMap) -> Response {
    let Some(crl) = crl else {
        return Problem::not_found("no such CRL (unknown CA or partition, or not published yet)")
            .into_response();
    };
    let etag = format!(
        "\"{}-{}\"",
        crl.number,
        if crl.delta_base.is_some() { "d" } else { "f" }
    );
    let max_age = remaining(crl.next_update).min(3600);
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        crl.der.as_ref().clone().into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pkix-crl"),
    );
    set(h, header::ETAG, &etag);
    set(
        h,
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(crl.this_update),
    );
    set(
        h,
        header::EXPIRES,
        &httpdate::fmt_http_date(crl.next_update),
    );
    set(
        h,
        header::CACHE_CONTROL,
        &format!("public, max-age={max_age}, no-transform"),
    );
    resp
}

async fn ocsp_post(
    State(state): State<AppState>,
    Path(ca): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/ocsp-request") {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported Media Type",
            "OCSP requests are sent as application/ocsp-request",
        )
        .into_response();
    }
    if body.len() > MAX_OCSP_REQUEST {
        return ocsp_response(&OcspReply::malformed(), true);
    }
    let reply = ocsp_answer(&state, &ca, &body).await;
    state.metrics.ocsp_response();
    ocsp_response(&reply, false)
}

async fn ocsp_get(
    State(state): State<AppState>,
    uri: Uri,
    Path((ca, request)): Path<(String, String)>,
) -> Response {
    // Finished answers are looked up by the path as received, before any decoding. In
    // `signet serve` the `OcspFront` has already looked (a miss brought us here); this serves
    // a router used without it.
    let path = uri.path();
    if let Some(hit) = state.ocsp_http.answer(&*state.revocation, path) {
        state.metrics.ocsp_response();
        state.metrics.ocsp_cache_hit();
        return hit;
    }
    // The generation is read before asking: a change while the engine answers leaves the
    // kept answer stale at once.
    let ca_name = state.directory.ca_name(&ca);
    let generation = ca_name
        .as_ref()
        .and_then(|c| state.revocation.ocsp_generation(c));
    // RFC 5019 §5: the DER request, base64-encoded, then URL-encoded, as the last path
    // segment(s) ('/' is a base64 character).
    let Some(der) = decode_get_request(&request) else {
        return ocsp_response(&OcspReply::malformed(), true);
    };
    let reply = ocsp_answer(&state, &ca, &der).await;
    state.metrics.ocsp_response();
    let Some(finished) = Finished::of(&reply) else {
        return ocsp_response(&reply, false);
    };
    let finished = Arc::new(finished);
    let cache_control = finished.cache_control();
    // `unknown` may become `good` without a revocation change (an import): never kept.
    if reply.settled
        && let (Some(c), Some(g)) = (&ca_name, generation)
    {
        state
            .ocsp_http
            .insert(path, c, g, Arc::clone(&finished), cache_control.clone());
    }
    finished.response(&cache_control)
}

/// `Cache-Control` follows the response's nextUpdate (RFC 5019 §6.2): shared caches may keep
/// a response until it expires. Responses with a nonce and errors are not cached.
fn ocsp_response(reply: &OcspReply, error: bool) -> Response {
    let mut resp = reply.der.to_vec().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ocsp-response"),
    );
    match (reply.this_update, reply.next_update) {
        (Some(this_update), Some(next_update)) if !error => {
            let max_age = remaining(next_update);
            set(
                h,
                header::CACHE_CONTROL,
                &format!("public, max-age={max_age}, no-transform, must-revalidate"),
            );
            set(
                h,
                header::LAST_MODIFIED,
                &httpdate::fmt_http_date(this_update),
            );
            set(h, header::EXPIRES, &httpdate::fmt_http_date(next_update));
            let digest = signet_x509::sha256(&reply.der);
            set(h, header::ETAG, &format!("\"{}\"", hex_prefix(&digest)));
        }
        _ => {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    resp
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    /// Only delta CRLs (AD CS `CA_CRL_DELTA`).
    #[serde(default)]
    delta: bool,
}

#[derive(Serialize)]
struct CrlView {
    shard: u32,
    number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta_base: Option<u64>,
    entries: u64,
    this_update: String,
    next_update: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

impl From<PublishedSummary> for CrlView {
    fn from(p: PublishedSummary) -> Self {
        CrlView {
            shard: p.shard,
            number: p.number,
            delta_base: p.delta_base,
            entries: p.entries,
            this_update: rfc3339(p.this_update),
            next_update: rfc3339(p.next_update),
            url: p.url,
        }
    }
}

/// `POST /api/v1/cas/{ca}/crls` (admin): publish now.
async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    CaPath { ca, .. }: CaPath,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: PublishBody = if body.iter().all(u8::is_ascii_whitespace) {
        PublishBody::default()
    } else {
        crate::admin_api::json_body(&body)?
    };
    let published = state
        .admin
        .publish_crls(caller.identity(), &ca, b.delta)
        .await?;
    let views: Vec<CrlView> = published.into_iter().map(CrlView::from).collect();
    Ok((StatusCode::CREATED, axum::Json(views)).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/cas/{ca}/crls` (admin, manager, auditor): recent CRLs, newest first.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    CaPath { ca, .. }: CaPath,
    Query(q): Query<ListQuery>,
) -> Result<Response, Problem> {
    let records = state
        .admin
        .list_crls(caller.identity(), &ca, q.limit.unwrap_or(50))
        .await?;
    let views: Vec<CrlView> = records
        .into_iter()
        .map(|r| {
            let delta = r.delta_base.is_some();
            CrlView {
                url: state.revocation.crl_url(&ca, r.shard, delta),
                shard: r.shard,
                number: r.number,
                delta_base: r.delta_base,
                entries: r.entries,
                this_update: rfc3339(r.this_update),
                next_update: rfc3339(r.next_update),
            }
        })
        .collect();
    Ok(axum::Json(views).into_response())
}

fn remaining(until: SystemTime) -> u64 {
    until
        .duration_since(SystemTime::now())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn set(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn hex_prefix(digest: &[u8; 32]) -> String {
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The DER OCSP request in the path of a `GET /ocsp/{ca}/{request}` (RFC 5019 §5: base64,
/// then URL-encoded), or `None` when it is not that or longer than [`MAX_OCSP_REQUEST`].
///
/// Public for the `ocsp_get` fuzz target (`fuzz/`): the path comes from anyone.
pub fn decode_get_request(request: &str) -> Option<Vec<u8>> {
    percent_decode(request)
        .and_then(|b64| {
            use base64ct::Encoding;
            base64ct::Base64::decode_vec(b64.trim()).ok()
        })
        .filter(|der| der.len() <= MAX_OCSP_REQUEST)
}

/// `%XX` decoding of a path segment; `None` for a bad escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("MEow%2BQ%3D%3D").as_deref(),
            Some("MEow+Q==")
        );
        assert_eq!(percent_decode("a/b").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
    }
}
