//! The accept loop every listener runs, plain HTTP and HTTPS alike: connection caps, the
//! timeouts that close slow and idle connections, and the graceful drain at shutdown.
//!
//! One client must not be able to hold the server's descriptors. So:
//! - [`Connections`] counts open connections over all listeners and per client address
//!   (IPv4 address, or IPv6 /64, since one IPv6 client owns a whole /64). A connection past
//!   either cap is closed at once, unanswered.
//! - The last [`Limits::reserved`] slots are a reserve: a connection admitted there is
//!   served only for revocation and health (`/ocsp/`, `/crl/`, `/ca/`, `/healthz`), one
//!   request and no keep-alive; anything else gets 503. Relying parties checking
//!   certificates keep their answers while the rest of the server is busy.
//! - Every connection has one deadline at a time, kept by [`Activity`]: from accept (or the
//!   first byte of a request) to the end of its head, `header_timeout`; between requests,
//!   `keepalive_timeout`; while a request is served, none for the handler, but a request body
//!   that stops arriving or a response the client stops reading is cut after
//!   `idle_timeout` ([`Guarded`], [`StallBody`]). The TLS handshake gets `header_timeout`.
//!
//! Every request carries `ConnectInfo<SocketAddr>` (the client's address, as axum's
//! `into_make_service_with_connect_info` gives it) and, over TLS, [`OverTls`] and the
//! client's [`PeerCertificates`].

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

use crate::problem::Problem;
use crate::tls::{OverTls, PeerCertificates, TlsExporter};

// Layout: this file holds the caps and the accept loop; `deadline` the per-connection
// deadlines and the wrappers that enforce them.
mod deadline;

use deadline::{Activity, Guarded, StallBody, Tracked};

#[cfg(test)]
mod tests;

/// Pause after an accept error that is not about a single connection (for example running
/// out of file descriptors), so the loop does not spin while the condition lasts.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// How often refused connections are reported at most (a flood must not flood the log).
const REFUSAL_REPORT_EVERY: Duration = Duration::from_secs(60);

/// What one connection and one client address may take (`[server.limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From accept, or the first byte of a request, to the end of the request head; also
    /// the TLS handshake.
    pub header_timeout: Duration,
    /// How long a connection may wait, idle, for its next request.
    pub keepalive_timeout: Duration,
    /// How long a request body may stall, or a client leave the response unread.
    pub idle_timeout: Duration,
    /// Open connections, all listeners together.
    pub max_connections: usize,
    /// Open connections from one address (IPv4) or /64 (IPv6).
    pub max_per_address: usize,
    /// Of `max_connections`, the slots kept for revocation and health.
    pub reserved: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_per_address: 256,
            reserved: 64,
        }
    }
}

/// Why [`Limits`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("max_connections and max_connections_per_address must be at least 1")]
    NoConnections,
    #[error("reserved_connections ({reserved}) must be smaller than max_connections ({max})")]
    ReserveTooLarge { reserved: usize, max: usize },
    #[error("header_timeout, keepalive_timeout and idle_timeout must be longer than zero")]
    ZeroTimeout,
}

/// Open connections over all listeners, by client address.
#[derive(Debug)]
pub struct Connections {
    limits: Limits,
    open: Mutex<Open>,
    /// Refused since the last log line.
    refused: AtomicU64,
    /// Refused since start (`signet_connections_refused_total`).
    refused_total: AtomicU64,
    last_report: Mutex<Option<Instant>>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Only addresses with an open connection are present, so the map is never larger
    /// than `max_connections`.
    by_address: HashMap<AddressKey, usize>,
}

/// A client address as the per-address cap counts it: an IPv4 address, or the /64 of an
/// IPv6 address (IPv4-mapped IPv6 addresses count as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4(u32),
    V6(u64),
}

impl AddressKey {
    pub fn of(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(u32::from(v4)),
                None => {
                    let [a, b, c, d, ..] = v6.segments();
                    AddressKey::V6(
                        (u64::from(a) << 48)
                            | (u64::from(b) << 32)
                            | (u64::from(c) << 16)
                            | u64::from(d),
                    )
                }
            },
        }
    }
}

/// How a connection was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Any request.
    Full,
    /// From the reserve: revocation and health only, one request.
    Reserve,
}

/// One open connection's place in [`Connections`], given back when dropped.
#[derive(Debug)]
struct Slot {
    connections: Arc<Connections>,
    key: AddressKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(n) = open.by_address.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    open.by_address.remove(&self.key);
                }
            }
        }
    }
}

impl Connections {
    /// Checks the limits: at least one connection, a reserve smaller than the total and
    /// timeouts longer than zero.
    pub fn new(limits: Limits) -> Result<Arc<Connections>, LimitsError> {
        if limits.max_connections == 0 || limits.max_per_address == 0 {
            return Err(LimitsError::NoConnections);
        }
        if limits.reserved >= limits.max_connections {
            return Err(LimitsError::ReserveTooLarge {
                reserved: limits.reserved,
                max: limits.max_connections,
            });
        }
        if limits.header_timeout.is_zero()
            || limits.keepalive_timeout.is_zero()
            || limits.idle_timeout.is_zero()
        {
            return Err(LimitsError::ZeroTimeout);
        }
        Ok(Arc::new(Connections {
            limits,
            open: Mutex::new(Open::default()),
            refused: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
            last_report: Mutex::new(None),
        }))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Connections open now, all listeners together.
    pub fn open(&self) -> usize {
        self.open.lock().map_or(0, |o| o.total)
    }

    /// Connections refused at a cap since start.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }

    /// Takes a slot for a connection from `ip`, or `None` when a cap is reached.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<(Slot, Admission)> {
        let key = AddressKey::of(ip);
        let mut open = self.open.lock().ok()?;
        let from_address = open.by_address.get(&key).copied().unwrap_or(0);
        if open.total >= self.limits.max_connections || from_address >= self.limits.max_per_address
        {
            return None;
        }
        let admission = if open.total >= self.limits.max_connections - self.limits.reserved {
            Admission::Reserve
        } else {
            Admission::Full
        };
        open.total += 1;
        *open.by_address.entry(key).or_insert(0) += 1;
        drop(open);
        Some((
            Slot {
                connections: Arc::clone(self),
                key,
            },
            admission,
        ))
    }

    /// Counts a refused connection and says so in the log at most once a minute.
    fn refused(&self, remote: SocketAddr) {
        self.refused_total.fetch_add(1, Ordering::Relaxed);
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let Ok(mut last) = self.last_report.lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= REFUSAL_REPORT_EVERY) {
            *last = Some(now);
            self.refused.store(0, Ordering::Relaxed);
            tracing::warn!(
                refused = n,
                latest = %remote,
                max_connections = self.limits.max_connections,
                max_per_address = self.limits.max_per_address,
                "connection limit reached: connections refused since the last report"
            );
        }
    }
}

/// What a listener serves: an [`axum::Router`], or a service in front of one
/// ([`crate::revocation_api::OcspFront`]).
pub trait App:
    tower_service::Service<
        Request<Body>,
        Response = Response<Body>,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> App for S where
    S: tower_service::Service<
            Request<Body>,
            Response = Response<Body>,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Accepts connections on `listener` until `shutdown` resolves, serving `app` on each (over
/// TLS when `tls` is given). After `shutdown`: stop accepting, let open connections finish
/// their request for at most `drain`, then close the rest and return.
///
/// Accept errors are logged and retried, so this returns only after `shutdown`; the
/// `io::Result` leaves room for start-up failures.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: impl App,
    connections: Arc<Connections>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    // A watch channel rather than a one-shot notification, so a connection that checks late
    // still sees that shutdown has begun.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => match connections.admit(remote.ip()) {
                    Some((slot, admission)) => {
                        tasks.spawn(connection(
                            stream,
                            remote,
                            acceptor.clone(),
                            app.clone(),
                            *connections.limits(),
                            slot,
                            admission,
                            stop_rx.clone(),
                        ));
                    }
                    // Dropping the stream closes it; nothing is read or answered.
                    None => connections.refused(remote),
                },
                Err(e) if is_per_connection(&e) => {
                    tracing::debug!(scheme, error = %e, "accept failed for one connection");
                }
                Err(e) => {
                    tracing::error!(scheme, error = %e, "accept failed; retrying shortly");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => {}
                    }
                }
            },
            // Reap finished connections as we go so the set does not grow with every
            // connection ever served.
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_join(joined),
        }
    }

    // Closing the listening socket first makes new clients fail fast instead of waiting in
    // the backlog for a server that will never accept them.
    drop(listener);
    // Sending fails only when no connection holds a receiver: nothing needs telling.
    let _ = stop_tx.send(true);
    let open = tasks.len();
    if open > 0 {
        tracing::info!(scheme, open, ?drain, "draining open connections");
    }
    let drained = tokio::time::timeout(drain, async {
        while let Some(joined) = tasks.join_next().await {
            log_join(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            scheme,
            remaining = tasks.len(),
            "drain time is over; closing the remaining connections"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Accept errors that concern only the connection being accepted; the listener is fine.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Reports a connection task that panicked; normal completion needs no log line.
fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        tracing::error!(error = %e, "connection task panicked");
    }
}

/// Resolves once shutdown has been signalled (or `serve` is gone).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped, which also means the server is going away.
    let _ = stop.wait_for(|&stopping| stopping).await;
}

/// What the service puts into every request of one connection.
#[derive(Clone)]
struct ConnectionInfo {
    remote: SocketAddr,
    tls: bool,
    peer: Option<PeerCertificates>,
    exporter: Option<TlsExporter>,
}

/// One client connection: the TLS handshake if any, then HTTP/1.1 until the client leaves,
/// a deadline passes, or shutdown asks the connection to finish its request and close.
#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    app: impl App,
    limits: Limits,
    slot: Slot,
    admission: Admission,
    mut stop: watch::Receiver<bool>,
) {
    // Held until the connection is gone.
    let _slot = slot;
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        let info = ConnectionInfo {
            remote,
            tls: false,
            peer: None,
            exporter: None,
        };
        return http(stream, info, app, limits, admission, stop).await;
    };
    let handshake = tokio::time::timeout(limits.header_timeout, acceptor.accept(stream));
    let tls = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%remote, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%remote, timeout = ?limits.header_timeout, "TLS handshake timed out");
                return;
            }
        },
        // A handshake still in progress has no request to finish, so it is simply dropped.
        () = stopping(&mut stop) => return,
    };
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .filter(|chain| !chain.is_empty())
        .map(|chain| PeerCertificates(Arc::new(chain.iter().map(|c| c.to_vec()).collect())));
    // RFC 9266: the channel binding EST checks against a CSR that carries one.
    let mut exporter = [0u8; 32];
    let exporter = tls
        .get_ref()
        .1
        .export_keying_material(&mut exporter, b"EXPORTER-Channel-Binding", None)
        .ok()
        .map(|e| TlsExporter(*e));
    let info = ConnectionInfo {
        remote,
        tls: true,
        peer,
        exporter,
    };
    http(tls, info, app, limits, admission, stop).await;
}

/// Serves HTTP/1.1 on an established connection, closing it when its [`Activity`] deadline
/// passes.
async fn http<S>(
    io: S,
    info: ConnectionInfo,
    app: impl App,
    limits: Limits,
    admission: Admission,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = Guarded {
        inner: io,
        activity: Arc::clone(&activity),
        idle: limits.idle_timeout,
        write_stall: None,
    };
    let router = TowerToHyperService::new(app);
    let service_activity = Arc::clone(&activity);
    let remote = info.remote;
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let busy = service_activity.begin_request();
        let (mut parts, body) = req.into_parts();
        // Inserted per request because hyper hands each request a fresh extension map;
        // the certificate chain is shared behind an Arc.
        parts.extensions.insert(ConnectInfo(info.remote));
        if info.tls {
            parts.extensions.insert(OverTls);
        }
        if let Some(peer) = &info.peer {
            parts.extensions.insert(peer.clone());
        }
        if let Some(exporter) = info.exporter {
            parts.extensions.insert(exporter);
        }
        let refused = admission == Admission::Reserve && !reserve_serves(parts.uri.path());
        let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let body = Body::new(StallBody {
            inner: body,
            idle: limits.idle_timeout,
            timer: None,
            stalled: Arc::clone(&stalled),
        });
        let call = (!refused).then(|| router.call(Request::from_parts(parts, body)));
        async move {
            let mut response = match call {
                Some(call) => match call.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                None => overloaded(),
            };
            // A body that stalled leaves the connection mid-request: close it after this
            // answer instead of waiting for the rest.
            if stalled.load(Ordering::Relaxed) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, std::convert::Infallible>(
                response.map(|inner| Body::new(Tracked { inner, _busy: busy })),
            )
        }
    });

    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // A backstop only: `Activity` closes a slow head or an idle connection first.
        .header_read_timeout(limits.header_timeout + limits.keepalive_timeout)
        .keep_alive(admission == Admission::Full);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    loop {
        // Registered before the deadline is read, so a change in between is not missed.
        let changed = activity.changed.notified();
        let deadline = activity.deadline(&limits);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            () = sleep_until(deadline) => {
                if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%remote, "connection closed: no request within its timeout");
                    return;
                }
            }
            () = changed => {}
            () = stopping(&mut stop), if !draining => {
                // Lets the request in flight (if any) complete, then closes the connection;
                // an idle keep-alive connection closes at once.
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Whether a connection admitted from the reserve is served for `path`: revocation status,
/// CA certificates (AIA caIssuers) and health.
fn reserve_serves(path: &str) -> bool {
    path == "/healthz"
        || ["/ocsp/", "/crl/", "/ca/"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

/// The answer to anything but revocation and health on a reserved connection.
fn overloaded() -> Response<Body> {
    let mut response = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "Too many connections",
        "the server is at its connection limit and serves only OCSP, CRLs and CA certificates; retry shortly",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}
