//! Finished OCSP GET answers (RFC 5019 §5), and [`OcspFront`], the service in front of the
//! router that serves them before any routing.
//!
//! Relying parties and CDNs send the same GET again and again. `ocsp_get` (the route) keeps
//! each settled answer it sends in [`OcspHttpCache`], keyed by the request's path as it came
//! (`/ocsp/demo/MEow...`, before any decoding); [`OcspFront`] answers a later GET of that
//! path from there, with the same status, headers and body the route sent, as long as:
//! 1. the CA's OCSP generation is the one read before the engine was asked (every
//!    invalidation of the engine's OCSP cache moves it: revocation, release, cluster sync,
//!    a new responder), so a revoked certificate is never answered `good` from here;
//! 2. the answer is not due for its refresh (half its validity, as the engine's own cache).
//!
//! Anything else (another method, another path, a miss) goes to the router unchanged.
//! What the listener does around every request (connection caps, the reserve, deadlines)
//! happens before the front, so it applies alike.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};
use signet_api::revocation::OcspReply;
use signet_api::{CaName, PublicRevocation};

use super::{hex_prefix, remaining};
use crate::{AppState, Metrics};

/// The paths [`OcspFront`] looks at: RFC 5019 GETs, `/ocsp/{ca}/{request}`.
const OCSP_GET_PREFIX: &str = "/ocsp/";

/// Entries per shard of [`OcspHttpCache`] (16 shards).
pub const MAX_FINISHED_PER_SHARD: usize = 1024;

/// The longest request path kept (a CertID's GET path is about 100 characters).
const MAX_CACHED_PATH: usize = 512;

/// The router behind a front that answers repeated OCSP GETs from [`OcspHttpCache`] without
/// routing, extracting or resolving anything. `signet serve` puts it in front of each
/// listener's router; a miss, and every other request, reaches the router unchanged.
#[derive(Clone)]
pub struct OcspFront {
    router: Router,
    cache: Arc<OcspHttpCache>,
    revocation: Arc<dyn PublicRevocation>,
    metrics: Arc<Metrics>,
}

impl OcspFront {
    /// `router` behind the finished answers of `state` (the state the router was built
    /// with, so both share one cache and one engine).
    pub fn new(router: Router, state: &AppState) -> OcspFront {
        OcspFront {
            router,
            cache: Arc::clone(&state.ocsp_http),
            revocation: Arc::clone(&state.revocation),
            metrics: Arc::clone(&state.metrics),
        }
    }
}

impl tower_service::Service<Request<Body>> for OcspFront {
    type Response = Response;
    type Error = Infallible;
    type Future = FrontFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<Request<Body>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, req: Request<Body>) -> FrontFuture {
        // HEAD is left to the router, which answers it without a body.
        if req.method() == Method::GET
            && req.uri().path().starts_with(OCSP_GET_PREFIX)
            && let Some(answer) = self.cache.answer(&*self.revocation, req.uri().path())
        {
            self.metrics.ocsp_response();
            self.metrics.ocsp_cache_hit();
            return FrontFuture::Answered(Some(answer));
        }
        FrontFuture::Routed(self.router.call(req))
    }
}

/// What [`OcspFront`] returns: the finished answer at once, or the router's future.
pub enum FrontFuture {
    /// Served from [`OcspHttpCache`]; `None` once polled to completion.
    Answered(Option<Response>),
    /// Routed.
    Routed(<Router as tower_service::Service<Request<Body>>>::Future),
}

impl Future for FrontFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            FrontFuture::Answered(answer) => match answer.take() {
                Some(answer) => Poll::Ready(Ok(answer)),
                // Polled again after completion: a caller's bug, and nothing left to give.
                None => Poll::Pending,
            },
            FrontFuture::Routed(routed) => Pin::new(routed).poll(cx),
        }
    }
}

/// An OCSP answer as sent, with the headers that do not change while it is served.
pub(crate) struct Finished {
    body: Bytes,
    last_modified: HeaderValue,
    expires: HeaderValue,
    etag: HeaderValue,
    /// Set here, last, as axum's router sets it on what a route returns: without it hyper
    /// would write the header after its own, and the front's answer would differ in order.
    content_length: HeaderValue,
    next_update: SystemTime,
    /// When the engine signs it afresh: half its validity (as its own cache does).
    refresh_at: SystemTime,
}

impl Finished {
    /// A cacheable (single, nonce-free) answer: `None` for others and for errors.
    pub(crate) fn of(reply: &OcspReply) -> Option<Finished> {
        let (this_update, next_update) = (reply.this_update?, reply.next_update?);
        let value = |s: &str| HeaderValue::from_str(s).ok();
        let digest = signet_x509::sha256(&reply.der);
        Some(Finished {
            body: Bytes::copy_from_slice(&reply.der),
            last_modified: value(&httpdate::fmt_http_date(this_update))?,
            expires: value(&httpdate::fmt_http_date(next_update))?,
            etag: value(&format!("\"{}\"", hex_prefix(&digest)))?,
            content_length: HeaderValue::from(reply.der.len()),
            next_update,
            refresh_at: this_update
                + next_update.duration_since(this_update).unwrap_or_default() / 2,
        })
    }

    /// `Cache-Control` follows nextUpdate (RFC 5019 §6.2): shared caches may keep the
    /// answer until it expires. The number of seconds left, and its header.
    pub(crate) fn cache_control(&self) -> CacheControl {
        CacheControl::new(remaining(self.next_update))
    }

    /// The HTTP answer: the one function both the route and the front build it with, so a
    /// repeated GET gets the very headers of the first.
    pub(crate) fn response(&self, cache_control: &CacheControl) -> Response {
        let mut resp = self.body.clone().into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/ocsp-response"),
        );
        h.insert(header::CACHE_CONTROL, cache_control.value.clone());
        h.insert(header::LAST_MODIFIED, self.last_modified.clone());
        h.insert(header::EXPIRES, self.expires.clone());
        h.insert(header::ETAG, self.etag.clone());
        h.insert(header::CONTENT_LENGTH, self.content_length.clone());
        resp
    }
}

/// A `Cache-Control` value for one `max-age`: formatted when the count of seconds left
/// changes, not for every answer.
#[derive(Clone)]
pub(crate) struct CacheControl {
    max_age: u64,
    value: HeaderValue,
}

impl CacheControl {
    fn new(max_age: u64) -> CacheControl {
        let text = format!("public, max-age={max_age}, no-transform, must-revalidate");
        CacheControl {
            max_age,
            // Digits and ASCII punctuation only.
            value: HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("no-store")),
        }
    }
}

/// Finished OCSP GET answers by request path (RFC 5019 §5), for the repeated GETs relying
/// parties and CDNs send. An entry is served only while the CA's OCSP generation is the one
/// read before it was asked (any revocation change, cluster sync or new responder moves it,
/// so a revoked certificate is never answered `good` from here) and before its refresh
/// time; only settled answers (every status good or revoked) are kept, since `unknown` may
/// become `good` without a revocation change (an import). Each shard holds at most
/// [`MAX_FINISHED_PER_SHARD`] and starts over when full.
#[derive(Default)]
pub struct OcspHttpCache {
    shards: [Mutex<FinishedShard>; 16],
}

/// By request path as received.
type FinishedShard = std::collections::HashMap<String, Entry>;

/// One finished answer: the CA and the generation it was asked at, and the Cache-Control
/// header last sent with it (renewed under the shard's lock when its max-age moves on).
struct Entry {
    ca: CaName,
    generation: u64,
    finished: Arc<Finished>,
    cache_control: CacheControl,
}

impl OcspHttpCache {
    /// The finished answer to a GET of `path`, if there is one still valid: the same HTTP
    /// answer the route gave, with the current max-age.
    pub fn answer(&self, revocation: &dyn PublicRevocation, path: &str) -> Option<Response> {
        let (ca, generation, finished, cache_control) = {
            let mut shard = self.shard(path).lock().ok()?;
            let entry = shard.get_mut(path)?;
            if SystemTime::now() >= entry.finished.refresh_at {
                return None;
            }
            let max_age = remaining(entry.finished.next_update);
            if entry.cache_control.max_age != max_age {
                entry.cache_control = CacheControl::new(max_age);
            }
            (
                entry.ca.clone(),
                entry.generation,
                Arc::clone(&entry.finished),
                entry.cache_control.clone(),
            )
        };
        // Read after the entry: a change between the two only makes this a miss.
        (revocation.ocsp_generation(&ca) == Some(generation))
            .then(|| finished.response(&cache_control))
    }

    /// Keeps the answer the route just sent for `path`, asked of `ca` at `generation`.
    pub(crate) fn insert(
        &self,
        path: &str,
        ca: &CaName,
        generation: u64,
        finished: Arc<Finished>,
        cache_control: CacheControl,
    ) {
        if path.len() > MAX_CACHED_PATH {
            return;
        }
        let Ok(mut shard) = self.shard(path).lock() else {
            return;
        };
        if shard.len() >= MAX_FINISHED_PER_SHARD {
            shard.clear();
        }
        shard.insert(
            path.to_owned(),
            Entry {
                ca: ca.clone(),
                generation,
                finished,
                cache_control,
            },
        );
    }

    /// The shard of a path: its last bytes (the serial's, in a CertID) spread the lock.
    fn shard(&self, path: &str) -> &Mutex<FinishedShard> {
        let tail = &path.as_bytes()[path.len().saturating_sub(8)..];
        let i = tail.iter().fold(0usize, |a, &b| {
            a.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.shards[i % self.shards.len()]
    }
}
