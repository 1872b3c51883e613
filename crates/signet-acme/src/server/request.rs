//! What every ACME resource shares: the POST pipeline (media type, JWS, nonce, key, `url`),
//! the directory and nonce resources, and responses (each with a fresh `Replay-Nonce` and the
//! directory as `Link: rel="index"`; failures as RFC 8555 problem documents).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signet_api::acme::{AccountStatus, AcmeAccount, AcmeMutation, AcmeStoreError, NonceUse};
use signet_api::{CaName, EnrollError};

use super::{Acme, AcmeCa, NONCE_LIFETIME};
use crate::directory::{Directory, Meta};
use crate::jwk::Jwk;
use crate::jws::{JwsRequest, KeyRef, VerifiedRequest};
use crate::problem::{AcmeError, CONTENT_TYPE, Problem, ProblemType};

/// The media type of every ACME POST body.
const JOSE_JSON: &str = "application/jose+json";

/// A failed ACME request: the problem document, and when to retry for `rateLimited` and
/// `badNonce`-style answers.
#[derive(Debug, Clone)]
pub struct AcmeFailure {
    pub problem: Box<Problem>,
    pub retry_after: Option<Duration>,
}

impl AcmeFailure {
    pub(super) fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        AcmeFailure {
            problem: Box::new(Problem::new(kind, detail)),
            retry_after: None,
        }
    }

    pub(super) fn internal(detail: &str) -> Self {
        tracing::error!(detail, "ACME request failed");
        Self::new(
            ProblemType::ServerInternal,
            "the server failed; try again later",
        )
    }

    /// A store failure: conflicts and absences are the client's; the rest is logged.
    pub(super) fn store(e: AcmeStoreError) -> Self {
        match e {
            AcmeStoreError::Conflict(detail) => Self::new(ProblemType::Malformed, detail),
            AcmeStoreError::NotFound(detail) => Self::new(ProblemType::Malformed, detail),
            AcmeStoreError::NonceUsed => {
                Self::new(ProblemType::BadNonce, "the nonce was already used")
            }
            AcmeStoreError::Store(detail) => {
                tracing::error!(error = %detail, "ACME store failure");
                Self::new(
                    ProblemType::ServerInternal,
                    "the CA's database failed; try again later",
                )
            }
        }
    }

    /// An answer of the CA through `Enroll` that is not a disposition.
    pub(super) fn enroll(e: EnrollError) -> Self {
        match e {
            EnrollError::BadRequest(detail) => Self::new(ProblemType::BadCsr, detail),
            EnrollError::UnknownProfile { profile, .. } => Self::new(
                ProblemType::InvalidProfile,
                format!("the CA has no profile {profile:?}"),
            ),
            EnrollError::Forbidden(detail) | EnrollError::Unauthenticated(detail) => {
                Self::new(ProblemType::Unauthorized, detail)
            }
            EnrollError::RateLimited {
                detail,
                retry_after,
            } => AcmeFailure {
                problem: Box::new(Problem::new(ProblemType::RateLimited, detail)),
                retry_after: Some(retry_after),
            },
            EnrollError::Conflict(detail) => Self::new(ProblemType::Malformed, detail),
            EnrollError::NotFound(detail) => Self::new(ProblemType::Malformed, detail),
            other => Self::internal(&other.to_string()),
        }
    }

    pub(super) fn from_error<E: AcmeError>(e: &E) -> Self {
        AcmeFailure {
            problem: Box::new(e.problem()),
            retry_after: None,
        }
    }

    pub(super) fn rate_limited(detail: impl Into<String>, retry_after: Duration) -> Self {
        AcmeFailure {
            problem: Box::new(Problem::new(ProblemType::RateLimited, detail)),
            retry_after: Some(retry_after.max(Duration::from_secs(1))),
        }
    }
}

/// A successful answer: status, `Location`, the body and its media type, extra headers.
pub(super) struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub retry_after: Option<Duration>,
    pub links: Vec<String>,
}

impl Reply {
    pub(super) fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
        Reply {
            status,
            location: None,
            body: serde_json::to_vec(value).unwrap_or_default(),
            content_type: "application/json",
            retry_after: None,
            links: Vec::new(),
        }
    }

    pub(super) fn at(mut self, location: String) -> Reply {
        self.location = Some(location);
        self
    }

    pub(super) fn with_link(mut self, link: String) -> Reply {
        self.links.push(link);
        self
    }

    pub(super) fn retry(mut self, after: Duration) -> Reply {
        self.retry_after = Some(after);
        self
    }
}

/// Writes a reply or a failure with a fresh nonce and the directory link.
pub(super) fn respond(acme: &Acme, ca: &str, result: Result<Reply, AcmeFailure>) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(nonce) = acme.nonces.mint(SystemTime::now())
        && let Ok(v) = HeaderValue::from_str(&nonce)
    {
        headers.insert("replay-nonce", v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let mut links = vec![format!("<{}>;rel=\"index\"", acme.directory_url(ca))];
    let (status, body, content_type, location, retry) = match result {
        Ok(reply) => {
            links.extend(reply.links);
            (
                reply.status,
                reply.body,
                reply.content_type,
                reply.location,
                reply.retry_after,
            )
        }
        Err(failure) => (
            StatusCode::from_u16(failure.problem.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            serde_json::to_vec(&failure.problem).unwrap_or_default(),
            CONTENT_TYPE,
            None,
            failure.retry_after,
        ),
    };
    for link in links {
        if let Ok(v) = HeaderValue::from_str(&link) {
            headers.append(header::LINK, v);
        }
    }
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    if let Some(retry) = retry {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry.as_secs().max(1)),
        );
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (status, headers, Body::from(body)).into_response()
}

/// How a resource names the key of its requests.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyMode {
    /// `jwk` (`newAccount`).
    Jwk,
    /// `kid`, an existing valid account (everything else).
    Kid,
    /// Either (`revokeCert`: the account, or the certificate's key).
    Either,
}

/// When a request's nonce is spent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Spend {
    /// In `accept`, before the resource does anything.
    Now,
    /// In the transaction of the resource's first write ([`Acme::write_spending`]), or at
    /// the end ([`Acme::spend_rest`]) when it wrote nothing: one commit instead of two. For
    /// resources whose only effects before that write are reads.
    WithWrite,
}

/// An authenticated request.
pub(super) struct Posted {
    pub ca: CaName,
    pub req: VerifiedRequest,
    /// The account, for `kid` requests.
    pub account: Option<AcmeAccount>,
    /// The nonce, while not yet spent ([`Spend::WithWrite`]).
    nonce: std::sync::Mutex<Option<NonceUse>>,
}

impl Posted {
    fn take_nonce(&self) -> Option<NonceUse> {
        self.nonce
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn keep_nonce(&self, nonce: Option<NonceUse>) {
        if nonce.is_some() {
            *self
                .nonce
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = nonce;
        }
    }

    /// The account of a `kid` request.
    pub(super) fn account(&self) -> Result<&AcmeAccount, AcmeFailure> {
        self.account
            .as_ref()
            .ok_or_else(|| AcmeFailure::new(ProblemType::Malformed, "this request needs a kid"))
    }

    /// `found`, an object of this CA named in the URL, if the requesting account owns it
    /// (`owner` gives its account): 404 when absent, `unauthorized` when another's.
    pub(super) fn owned<T>(
        &self,
        found: Option<T>,
        owner: impl Fn(&T) -> &str,
        what: &str,
    ) -> Result<T, AcmeFailure> {
        let account = self.account()?;
        let object = found.ok_or_else(|| super::order::not_found(what))?;
        if owner(&object) != account.id {
            return Err(AcmeFailure::new(
                ProblemType::Unauthorized,
                format!("the {what} belongs to another account"),
            ));
        }
        Ok(object)
    }
}

impl Acme {
    pub(super) fn ca_settings(&self, ca: &str) -> Result<&AcmeCa, AcmeFailure> {
        self.cas.get(ca).ok_or_else(|| {
            let mut failure = AcmeFailure::new(
                ProblemType::Malformed,
                format!(
                    "no CA {:?} serves ACME here",
                    ca.chars().take(64).collect::<String>()
                ),
            );
            failure.problem.status = Some(404);
            failure
        })
    }

    /// The POST pipeline: media type, JWS, the key (`jwk` or the `kid` account's), the
    /// signature, `url` against `path` (this resource's path under the CA's ACME base), and
    /// the nonce, spent last so a forged request cannot burn someone's nonce (with
    /// [`Spend::WithWrite`], later: see there).
    pub(super) async fn accept(
        &self,
        ca: &str,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        mode: KeyMode,
    ) -> Result<Posted, AcmeFailure> {
        self.accept_spending(ca, path, headers, body, mode, Spend::Now)
            .await
    }

    /// [`Acme::accept`], spending the nonce as `spend` says.
    pub(super) async fn accept_spending(
        &self,
        ca: &str,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        mode: KeyMode,
        spend: Spend,
    ) -> Result<Posted, AcmeFailure> {
        let settings = self.ca_settings(ca)?;
        let ca = settings.ca.clone();
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !media
            .split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(JOSE_JSON))
        {
            let mut failure = AcmeFailure::new(
                ProblemType::Malformed,
                format!("the request's Content-Type must be {JOSE_JSON}"),
            );
            failure.problem.status = Some(415);
            return Err(failure);
        }
        let jws = JwsRequest::parse(body).map_err(|e| AcmeFailure::from_error(&e))?;
        let now = SystemTime::now();
        let nonce = self
            .nonces
            .check(&jws.header().nonce, now, NONCE_LIFETIME)
            .map_err(|e| AcmeFailure::from_error(&e))?;
        let (req, account) = match (&jws.header().key, mode) {
            (KeyRef::Jwk(_), KeyMode::Jwk | KeyMode::Either) => (
                jws.verify_embedded()
                    .map_err(|e| AcmeFailure::from_error(&e))?,
                None,
            ),
            (KeyRef::Kid(kid), KeyMode::Kid | KeyMode::Either) => {
                let (account, key) = self.account_of_kid(&ca, kid).await?;
                (
                    jws.verify_with(&key)
                        .map_err(|e| AcmeFailure::from_error(&e))?,
                    Some(account),
                )
            }
            (KeyRef::Kid(_), KeyMode::Jwk) => {
                return Err(AcmeFailure::new(
                    ProblemType::Malformed,
                    "this request must carry the account key as \"jwk\", not \"kid\"",
                ));
            }
            (KeyRef::Jwk(_), KeyMode::Kid) => {
                return Err(AcmeFailure::new(
                    ProblemType::Malformed,
                    "this request must name the account with \"kid\", not \"jwk\"",
                ));
            }
        };
        req.check_url(&format!("{}/{path}", self.base(&ca)))
            .map_err(|e| AcmeFailure::from_error(&e))?;
        let nonce = NonceUse {
            id: nonce.id,
            expires: nonce.expires,
        };
        let posted = Posted {
            ca,
            req,
            account,
            nonce: std::sync::Mutex::new(Some(nonce)),
        };
        if spend == Spend::Now {
            self.spend_rest(&posted).await?;
        }
        Ok(posted)
    }

    /// Spends the request's nonce if no write has: `badNonce` if it was already used.
    pub(super) async fn spend_rest(&self, posted: &Posted) -> Result<(), AcmeFailure> {
        let Some(nonce) = posted.take_nonce() else {
            return Ok(());
        };
        match self.store.use_nonce(nonce.id, nonce.expires).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(AcmeFailure::store(AcmeStoreError::NonceUsed)),
            Err(e) => {
                posted.keep_nonce(Some(nonce));
                Err(AcmeFailure::store(e))
            }
        }
    }

    /// Ends a [`Spend::WithWrite`] request: its answer, once its nonce is spent (if no write
    /// spent it, now: a request whose nonce turns out used gets `badNonce`, not its answer).
    pub(super) async fn finish(
        &self,
        posted: &Posted,
        result: Result<Reply, AcmeFailure>,
    ) -> Result<Reply, AcmeFailure> {
        self.spend_rest(posted).await?;
        result
    }

    /// `write`, spending the request's nonce in the same transaction if it is not yet
    /// spent; `badNonce` (nothing written) if the nonce was already used.
    pub(super) async fn write_spending(
        &self,
        posted: &Posted,
        write: AcmeMutation,
    ) -> Result<bool, AcmeStoreError> {
        let Some(nonce) = posted.take_nonce() else {
            return match write {
                AcmeMutation::CreateOrder(order, authzs) => {
                    self.store.create_order(*order, authzs).await.map(|()| true)
                }
                AcmeMutation::UpdateOrder(u) => self.store.update_order(u).await,
                AcmeMutation::UpdateAuthz(u) => self.store.update_authz(u).await,
            };
        };
        let result = self.store.write_spending(nonce, write).await;
        // Not committed: the nonce is still unspent, and `finish` spends it.
        if matches!(
            result,
            Err(AcmeStoreError::Store(_)
                | AcmeStoreError::Conflict(_)
                | AcmeStoreError::NotFound(_))
        ) {
            posted.keep_nonce(Some(nonce));
        }
        result
    }

    /// The valid account a `kid` names, and its key.
    async fn account_of_kid(
        &self,
        ca: &CaName,
        kid: &str,
    ) -> Result<(AcmeAccount, Jwk), AcmeFailure> {
        let prefix = format!("{}/acct/", self.base(ca));
        let id = kid
            .strip_prefix(&prefix)
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or_else(|| {
                AcmeFailure::new(
                    ProblemType::AccountDoesNotExist,
                    "the kid is not an account URL of this CA",
                )
            })?;
        let (account, key) = match self.cached_account(ca, id) {
            Some(found) => found,
            None => {
                let account = self
                    .store
                    .account(ca, id)
                    .await
                    .map_err(AcmeFailure::store)?
                    .ok_or_else(|| {
                        AcmeFailure::new(ProblemType::AccountDoesNotExist, "no such account")
                    })?;
                let key = Jwk::from_json(account.jwk.as_bytes()).map_err(|e| {
                    AcmeFailure::internal(&format!("stored account key does not parse: {e}"))
                })?;
                self.remember_account_key(&account, key.clone());
                (account, key)
            }
        };
        if account.status != AccountStatus::Valid {
            return Err(inactive_account(&account));
        }
        Ok((account, key))
    }
}

/// A deactivated or revoked account's request: 401 `unauthorized` (RFC 8555 §7.3.6).
pub(super) fn inactive_account(account: &AcmeAccount) -> AcmeFailure {
    let mut failure = AcmeFailure::new(
        ProblemType::Unauthorized,
        format!("the account is {}", account.status),
    );
    failure.problem.status = Some(401);
    failure
}

/// `GET /acme/{ca}/directory`.
pub(super) async fn directory(State(acme): State<Arc<Acme>>, Path(ca): Path<String>) -> Response {
    let result = acme.ca_settings(&ca).map(|settings| {
        let meta = Meta {
            terms_of_service: settings.terms_of_service.clone(),
            website: None,
            caa_identities: settings.caa_identities.clone(),
            external_account_required: settings.eab_required,
            profiles: settings
                .profiles
                .iter()
                .map(|p| (p.name.clone(), p.description.clone()))
                .collect(),
        };
        let dir = Directory::new(&acme.public_url, settings.ca.as_str(), meta);
        Reply::json(
            StatusCode::OK,
            &serde_json::to_value(dir).unwrap_or_default(),
        )
    });
    let mut response = respond(&acme, &ca, result);
    // The directory is cacheable and carries no nonce (RFC 8555 §7.1.1 does not need one).
    response.headers_mut().remove("replay-nonce");
    response.headers_mut().remove(header::LINK);
    response
}

/// `HEAD /acme/{ca}/new-nonce`: 200 with a nonce.
pub(super) async fn new_nonce_head(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
) -> Response {
    nonce_reply(&acme, &ca, StatusCode::OK)
}

/// `GET /acme/{ca}/new-nonce`: 204 with a nonce.
pub(super) async fn new_nonce_get(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
) -> Response {
    nonce_reply(&acme, &ca, StatusCode::NO_CONTENT)
}

fn nonce_reply(acme: &Acme, ca: &str, status: StatusCode) -> Response {
    let result = acme.ca_settings(ca).map(|_| Reply {
        status,
        location: None,
        body: Vec::new(),
        content_type: "application/json",
        retry_after: None,
        links: Vec::new(),
    });
    let mut response = respond(acme, ca, result);
    if status == StatusCode::NO_CONTENT || status == StatusCode::OK {
        response.headers_mut().remove(header::CONTENT_TYPE);
    }
    response
}

/// The body of a POST handler: the bytes as they came.
pub(super) type RawBody = Bytes;
