//! TLS for PostgreSQL connections: tokio-postgres's `MakeTlsConnect` over tokio-rustls, trusting
//! only the configured CA file and checking each host's name (libpq's `sslmode=verify-full`).
//!
//! tokio-postgres asks [`MakeRustls`] for a connector once per host it tries, with that host's
//! name (for a multi-host URL, each in turn), so every server is checked against its own name.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::config::PgConfigError;

/// A rustls client configuration that trusts only the certificates in `ca_file` (PEM), with
/// PostgreSQL's ALPN protocol name (which PostgreSQL 17's direct TLS requires and older
/// servers ignore).
pub(crate) fn client_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, PgConfigError> {
    let err = |reason: String| PgConfigError::CaFile {
        path: ca_file.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(ca_file).map_err(|e| err(e.to_string()))?;
    let certs =
        signet_x509::pem::decode_all(&pem, "CERTIFICATE").map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("it holds no CERTIFICATE".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for der in certs {
        roots
            .add(rustls::pki_types::CertificateDer::from(der))
            .map_err(|e| err(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(config))
}

/// Makes a TLS connector per host, named for it.
#[derive(Clone)]
pub(crate) struct MakeRustls(pub(crate) tokio_rustls::TlsConnector);

/// Connects one host's socket.
pub(crate) struct RustlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

/// A TLS stream tokio-postgres reads and writes.
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect {
            connector: self.0.clone(),
            name: ServerName::try_from(host)?.to_owned(),
        })
    }
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, socket: S) -> Self::Future {
        Box::pin(async move {
            let tls = self.connector.connect(self.name, socket).await?;
            Ok(RustlsStream(tls))
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// No SCRAM channel binding (`tls-server-end-point` needs the hash named by the server
    /// certificate's signature algorithm): with verify-full the server is already
    /// authenticated by its certificate. `channel_binding=require` therefore fails to connect.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
