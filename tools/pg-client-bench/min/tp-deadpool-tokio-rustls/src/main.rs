//! verify-full over rustls for tokio-postgres in ~60 lines: only the CA file is trusted, and
//! rustls checks the name of the host tokio-postgres is trying (each host of a multi-host list).
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

#[derive(Clone)]
struct MakeRustls(tokio_rustls::TlsConnector);
struct Connect(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>);
struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for MakeRustls {
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = rustls::pki_types::InvalidDnsNameError;
    fn make_tls_connect(&mut self, host: &str) -> Result<Connect, Self::Error> {
        Ok(Connect(self.0.clone(), rustls::pki_types::ServerName::try_from(host)?.to_owned()))
    }
}
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for Connect {
    type Stream = Stream<S>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Stream<S>>> + Send>>;
    fn connect(self, s: S) -> Self::Future {
        Box::pin(async move { Ok(Stream(self.0.connect(self.1, s).await?)) })
    }
}
impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // tls-server-end-point needs the hash named by the certificate's signature algorithm;
        // Signet's own DER reader would pick it. Left out of this sketch.
        ChannelBinding::none()
    }
}
impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, b: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, b)
    }
}
impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, b)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "host=localhost port=55432 user=signet dbname=bench sslmode=require".into());
    let ca = std::env::args().nth(2).unwrap_or_else(|| "/tmp/pgb/tls/ca.pem".into());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_file_iter(&ca)? {
        roots.add(c?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = MakeRustls(tokio_rustls::TlsConnector::from(Arc::new(tls)));
    let cfg: tokio_postgres::Config = url.parse()?;
    let mgr = Manager::from_config(cfg, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let pool = Pool::builder(mgr).max_size(4).build()?;
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    let n: i64 = tx.query_one("SELECT $1::bigint + 1", &[&41i64]).await?.get(0);
    let ssl: bool = tx.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await?.get(0);
    tx.commit().await?;
    println!("{n} ssl={ssl}");
    Ok(())
}
