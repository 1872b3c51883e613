//! `RemoteEnroll`: the `Enroll` trait over HTTP, so the CLI (and any front end) can talk to
//! a CA on another host exactly as the REST handlers talk to the one in process.

use crate::wire::{CaView, RequestView};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use signet_api::{
    BoxFuture, CaSummary, Enroll, EnrollError, Identity, RequestId, SubmitRequest, SubmitResponse,
};

/// An HTTP client of the REST API implementing `Enroll`.
#[derive(Clone)]
pub struct RemoteEnroll {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Sent as `Authorization: Bearer` on every call. Never logged.
    token: Option<zeroize::Zeroizing<String>>,
}

#[derive(Deserialize)]
struct ProblemView {
    title: Option<String>,
    detail: Option<String>,
}

impl RemoteEnroll {
    /// `base` is the server URL, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: &str) -> Result<RemoteEnroll, EnrollError> {
        if !base.starts_with("http://") {
            return Err(EnrollError::BadRequest(format!(
                "server URL {base:?} must start with http:// (TLS comes with client authentication)"
            )));
        }
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(RemoteEnroll {
            base: base.trim_end_matches('/').to_string(),
            client,
            token: None,
        })
    }

    /// Authenticates every call with this API token.
    pub fn with_token(mut self, token: Option<String>) -> RemoteEnroll {
        self.token = token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(zeroize::Zeroizing::new);
        self
    }

    /// Sends one request and returns (status, content type, body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), EnrollError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        if let Some(t) = &self.token {
            builder = builder.header("authorization", format!("Bearer {}", t.as_str()));
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| EnrollError::BadRequest(format!("building the request: {e}")))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| EnrollError::Unavailable(format!("{}: {e}", self.base)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| EnrollError::Unavailable(format!("reading the response: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    pub async fn json<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, EnrollError> {
        let (ct, bytes) = match body {
            Some(v) => (
                Some("application/json"),
                serde_json::to_vec(&v).unwrap_or_default(),
            ),
            None => (None, Vec::new()),
        };
        let (status, body) = self.call(method, path, ct, bytes).await?;
        if !status.is_success() {
            return Err(problem(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| {
            EnrollError::Unavailable(format!("unexpected response from the server: {e}"))
        })
    }
}

pub fn problem(status: StatusCode, body: &[u8]) -> EnrollError {
    let parsed: Option<ProblemView> = serde_json::from_slice(body).ok();
    let (title, detail) = match parsed {
        Some(p) => (p.title.unwrap_or_default(), p.detail.unwrap_or_default()),
        None => (
            status.canonical_reason().unwrap_or("error").to_string(),
            String::from_utf8_lossy(body).chars().take(200).collect(),
        ),
    };
    EnrollError::Remote {
        status: status.as_u16(),
        title,
        detail,
    }
}

pub fn path_segment(s: &str) -> String {
    // CA names are [A-Za-z0-9._-]; a config string's '/' must be escaped.
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn decode_view(v: RequestView) -> Result<SubmitResponse, EnrollError> {
    v.into_response()
        .map_err(|m| EnrollError::Unavailable(format!("unexpected response from the server: {m}")))
}

impl Enroll for RemoteEnroll {
    fn list_cas(&self) -> BoxFuture<'_, Result<Vec<CaSummary>, EnrollError>> {
        Box::pin(async move {
            let cas: Vec<CaView> = self.json(Method::GET, "/api/v1/cas", None).await?;
            Ok(cas.into_iter().map(CaSummary::from).collect())
        })
    }

    fn submit(&self, req: SubmitRequest) -> BoxFuture<'_, Result<SubmitResponse, EnrollError>> {
        Box::pin(async move {
            // PEM travels as JSON text; DER is re-armoured first.
            let csr = if signet_x509::pem::looks_like_pem(&req.csr) {
                String::from_utf8(req.csr)
                    .map_err(|_| EnrollError::BadRequest("the CSR PEM is not UTF-8".into()))?
            } else {
                signet_x509::pem::encode("CERTIFICATE REQUEST", &req.csr)
            };
            let attributes: serde_json::Map<String, serde_json::Value> = req
                .attributes
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            let mut body = serde_json::json!({ "csr": csr, "attributes": attributes });
            if let Some(p) = req.profile {
                body["profile"] = serde_json::Value::String(p);
            }
            let path = format!("/api/v1/cas/{}/requests", path_segment(&req.ca));
            let view: RequestView = self.json(Method::POST, &path, Some(body)).await?;
            decode_view(view)
        })
    }

    fn retrieve<'a>(
        &'a self,
        ca: &'a str,
        id: RequestId,
        _caller: Option<&'a Identity>,
    ) -> BoxFuture<'a, Result<SubmitResponse, EnrollError>> {
        Box::pin(async move {
            let path = format!("/api/v1/cas/{}/requests/{id}", path_segment(ca));
            let view: RequestView = self.json(Method::GET, &path, None).await?;
            decode_view(view)
        })
    }

    fn ca_certificate<'a>(&'a self, ca: &'a str) -> BoxFuture<'a, Result<Vec<u8>, EnrollError>> {
        Box::pin(async move {
            let path = format!("/api/v1/cas/{}/certificate?format=der", path_segment(ca));
            let (status, body) = self.call(Method::GET, &path, None, Vec::new()).await?;
            if !status.is_success() {
                return Err(problem(status, &body));
            }
            Ok(body.to_vec())
        })
    }

    fn chain<'a>(&'a self, ca: &'a str) -> BoxFuture<'a, Result<Vec<Vec<u8>>, EnrollError>> {
        Box::pin(async move {
            let path = format!("/api/v1/cas/{}/chain?format=pem", path_segment(ca));
            let (status, body) = self.call(Method::GET, &path, None, Vec::new()).await?;
            if !status.is_success() {
                return Err(problem(status, &body));
            }
            signet_x509::pem::decode_all(&body, "CERTIFICATE").map_err(|e| {
                EnrollError::Unavailable(format!("unexpected response from the server: {e}"))
            })
        })
    }
}
