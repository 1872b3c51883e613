//! The HTTPS listener: an axum `Router` served over TLS with optional client certificates.
//!
//! axum's own `serve` hides the TLS session from handlers, but enrollment protocols need the
//! certificate a client authenticated with (EST re-enrollment, admin clients with
//! certificates). This module therefore runs its own accept loop: a `tokio_rustls`
//! handshake, then one hyper HTTP/1.1 connection per socket, whose service puts
//! [`PeerCertificates`] (and axum's `ConnectInfo<SocketAddr>`) into every request's
//! extensions before handing the request to the router.
//!
//! Client certificates are optional on the same port, so token and password clients can
//! connect without one; a certificate that is presented must chain to one of the configured
//! client roots, or the handshake fails.
//!
//! Cryptography comes from rustls' aws-lc-rs provider, passed explicitly, so the process-wide
//! default provider does not matter and ring is never needed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::RootCertStore;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete the TLS handshake. Without a limit a client that
/// opens a socket and sends nothing (slowloris) would hold a task and a file descriptor
/// forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send a complete request head. hyper also applies this to an
/// idle keep-alive connection waiting for its next request, so it doubles as the idle timeout.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause after an accept error that is not about a single connection (for example running
/// out of file descriptors), so the loop does not spin while the condition lasts.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// The TLS client certificate a request arrived with (leaf first, DER), put into the
/// request extensions by `serve`. Absent when the client sent no certificate or on plain HTTP.
///
/// When present, the chain has already been verified against the client roots given to
/// [`server_config`], including the clientAuth extended key usage.
#[derive(Clone, Debug)]
pub struct PeerCertificates(pub Arc<Vec<Vec<u8>>>);

/// Marks a request that came over the HTTPS listener (the web pages warn when a sign-in
/// cookie, which is `Secure`, would be dropped by the browser).
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

impl PeerCertificates {
    /// The client's own (end-entity) certificate, DER.
    pub fn leaf(&self) -> Option<&[u8]> {
        self.0.first().map(Vec::as_slice)
    }
}

/// Why a TLS server configuration could not be built. Each message names the input (the
/// server certificate chain, the server private key, or the client CA certificates) and what
/// was wrong with it; callers reading from files should add the file name.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM input could not be decoded.
    #[error("cannot read the {what} as PEM: {source}")]
    Pem {
        what: &'static str,
        #[source]
        source: signet_x509::Error,
    },
    /// A PEM input holds no `CERTIFICATE` block.
    #[error("the {what} contain no -----BEGIN CERTIFICATE----- block")]
    NoCertificates { what: &'static str },
    /// The key PEM holds no private key block Signet understands.
    #[error(
        "the server private key contains no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block"
    )]
    NoPrivateKey,
    /// The key PEM holds a password-protected key.
    #[error(
        "the server private key is encrypted (ENCRYPTED PRIVATE KEY); the TLS listener needs \
         an unencrypted key, e.g. from `openssl pkey -in key.pem -out plain.pem`"
    )]
    EncryptedPrivateKey,
    /// The key PEM holds more than one private key, so which one to use is ambiguous.
    #[error("the server private key input contains {0} private keys; expected exactly one")]
    MultiplePrivateKeys(usize),
    /// rustls rejected the server certificate chain or private key (unsupported key type,
    /// malformed key, or a key that does not belong to the first certificate).
    #[error("the server certificate and private key are not usable: {0}")]
    ServerKey(#[source] rustls::Error),
    /// A client CA certificate is not a usable trust anchor.
    #[error(
        "client CA certificate #{index} (counting from 1) is not a usable trust anchor: {source}"
    )]
    ClientRoot {
        index: usize,
        #[source]
        source: rustls::Error,
    },
    /// The client certificate verifier could not be built from the client CA certificates.
    #[error("cannot build the client certificate verifier: {0}")]
    ClientVerifier(#[source] rustls::server::VerifierBuilderError),
    /// The crypto provider does not support the requested protocol versions. This is a
    /// build problem (missing rustls features), not a configuration problem.
    #[error("the TLS crypto provider does not support TLS 1.2/1.3: {0}")]
    Provider(#[source] rustls::Error),
}

/// Builds the server configuration from PEM inputs: `cert_chain_pem` is the server
/// certificate followed by its intermediates, `key_pem` its unencrypted private key (PKCS#8
/// `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`; other blocks such as
/// `EC PARAMETERS` are ignored), and `client_roots_pem` one or more CA certificates whose
/// client certificates are accepted.
///
/// Client certificates are optional, so token clients can use the same port; a client
/// certificate that does not chain to a root fails the handshake. TLS 1.3 and 1.2 are
/// offered; ALPN advertises only `http/1.1`, matching the HTTP/1.1-only connections of
/// [`serve`].
pub fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_roots_pem: &[u8],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

    let chain: Vec<CertificateDer<'static>> =
        certificates(cert_chain_pem, "server certificate chain")?
            .into_iter()
            .map(CertificateDer::from)
            .collect();
    let key = private_key(key_pem)?;

    let mut roots = RootCertStore::empty();
    for (i, der) in certificates(client_roots_pem, "client CA certificates")?
        .into_iter()
        .enumerate()
    {
        roots
            .add(CertificateDer::from(der))
            .map_err(|source| TlsError::ClientRoot {
                index: i + 1,
                source,
            })?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(TlsError::ClientVerifier)?;

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Provider)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(TlsError::ServerKey)?;
    // Only HTTP/1.1 is compiled into the connection builder; advertising h2 would make
    // clients speak a protocol the server cannot parse.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Decodes every `CERTIFICATE` block of `pem`, refusing an input without any.
fn certificates(pem: &[u8], what: &'static str) -> Result<Vec<Vec<u8>>, TlsError> {
    let certs = signet_x509::pem::decode_all(pem, "CERTIFICATE")
        .map_err(|source| TlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates { what });
    }
    Ok(certs)
}

/// Finds the single private key in `pem`: PKCS#8, SEC1 (EC) or PKCS#1 (RSA). Other blocks,
/// such as the `EC PARAMETERS` that `openssl ecparam -genkey` writes first, are skipped.
fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = "server private key";
    let decode = |label| {
        signet_x509::pem::decode_all(pem, label).map_err(|source| TlsError::Pem { what, source })
    };
    let mut keys: Vec<PrivateKeyDer<'static>> = Vec::new();
    keys.extend(
        decode("PRIVATE KEY")?
            .into_iter()
            .map(|der| PrivatePkcs8KeyDer::from(der).into()),
    );
    keys.extend(
        decode("EC PRIVATE KEY")?
            .into_iter()
            .map(|der| PrivateSec1KeyDer::from(der).into()),
    );
    keys.extend(
        decode("RSA PRIVATE KEY")?
            .into_iter()
            .map(|der| PrivatePkcs1KeyDer::from(der).into()),
    );
    match keys.len() {
        0 if !decode("ENCRYPTED PRIVATE KEY")?.is_empty() => Err(TlsError::EncryptedPrivateKey),
        0 => Err(TlsError::NoPrivateKey),
        1 => keys.pop().ok_or(TlsError::NoPrivateKey),
        n => Err(TlsError::MultiplePrivateKeys(n)),
    }
}

/// Accepts TLS connections on `listener` until `shutdown` resolves, serving `app` on each.
/// A failed handshake is logged at debug level (tracing) and dropped, never stops the loop.
/// After `shutdown`, stop accepting and let open connections finish (graceful shutdown of
/// each hyper connection) for at most `drain` time, then return.
///
/// Every request carries `ConnectInfo<SocketAddr>` (the client's address, as with axum's
/// `into_make_service_with_connect_info`) and, when the client authenticated with a
/// certificate, [`PeerCertificates`]. Accept errors are logged and retried, so this returns
/// only after `shutdown`; the `io::Result` leaves room for start-up failures.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    // A watch channel rather than a one-shot notification, so a connection that checks late
    // still sees that shutdown has begun.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    connections.spawn(connection(
                        acceptor.clone(),
                        stream,
                        remote,
                        app.clone(),
                        stop_rx.clone(),
                    ));
                }
                Err(e) if is_per_connection(&e) => {
                    tracing::debug!(error = %e, "TLS listener: accept failed for one connection");
                }
                Err(e) => {
                    tracing::error!(error = %e, "TLS listener: accept failed; retrying shortly");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => {}
                    }
                }
            },
            // Reap finished connections as we go so the set does not grow with every
            // connection ever served.
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                log_join(joined);
            }
        }
    }

    // Closing the listening socket first makes new clients fail fast instead of waiting in
    // the backlog for a server that will never accept them.
    drop(listener);
    // Sending fails only when no connection holds a receiver, in which case nothing needs
    // to be told.
    let _ = stop_tx.send(true);
    let open = connections.len();
    if open > 0 {
        tracing::info!(open, ?drain, "TLS listener: draining open connections");
    }
    let drained = tokio::time::timeout(drain, async {
        while let Some(joined) = connections.join_next().await {
            log_join(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            "TLS listener: drain time is over; closing the remaining connections"
        );
        connections.shutdown().await;
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
        tracing::error!(error = %e, "TLS listener: connection task panicked");
    }
}

/// Resolves once shutdown has been signalled (or `serve` is gone).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped, which also means the server is going away.
    let _ = stop.wait_for(|&stopping| stopping).await;
}

/// Runs one client connection: the TLS handshake, then HTTP/1.1 until the client leaves or
/// shutdown asks the connection to finish its current request and close.
async fn connection(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let tls = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%remote, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%remote, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out");
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

    let router = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        // Inserted per request because hyper hands each request a fresh extension map;
        // the chain is shared behind an Arc, so this is a reference-count increment.
        req.extensions_mut().insert(ConnectInfo(remote));
        req.extensions_mut().insert(OverTls);
        if let Some(peer) = &peer {
            req.extensions_mut().insert(peer.clone());
        }
        router.call(req)
    });

    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    let mut conn = std::pin::pin!(conn);

    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping(&mut stop) => {
            // Lets the request in flight (if any) complete, then closes the connection; an
            // idle keep-alive connection closes at once.
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%remote, error = %e, "HTTPS connection ended with an error");
    }
}
