//! The `webhook` exit module: POSTs each event as JSON to a URL, signed with HMAC-SHA256.
//!
//! 1. The body is a JSON object (see `docs/exits-webhook.md`): the event, the CA, the outbox
//!    sequence number and an idempotency key built from it, the request and certificate
//!    fields, and the certificate PEM on `Issued`.
//! 2. At each attempt the module takes the current Unix time `T` (decimal seconds) and sends
//!    `Signet-Timestamp: T` and `Signet-Signature: sha256=<hex HMAC-SHA256(secret, T "." body)>`.
//!    Receivers recompute the MAC over the raw body and reject old timestamps (replays).
//! 3. A 2xx answer acknowledges the event; anything else, a connection error or the
//!    `timeout` is a failed delivery, which the engine retries (in order, at least once).
//!
//! One connection per delivery (hyper's HTTP/1.1 client connection over tokio, with
//! tokio-rustls for `https`): hyper-util's pooled legacy `Client` needs a `tower` connector
//! service for custom TLS, and exit events are rare enough that a pool buys nothing.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::hmac;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;
use signet_core::{BoxFuture, CaInfo, EventMask, Exit, ExitCtx, ModuleError};
use tokio::net::TcpStream;

use crate::ConfigError;
use crate::common::{data_path, describe, parse_mask, timeout, unix};
use signet_policy::DurationSetting;

const MODULE: &str = "webhook";
/// Shorter secrets are refused: HMAC keys should carry at least 128 bits.
const MIN_SECRET_LEN: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookConfig {
    url: String,
    secret_file: String,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    timeout: Option<DurationSetting>,
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    client_cert: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    allow_insecure_http: bool,
}

/// `webhook`: see the module documentation.
pub struct WebhookExit {
    name: String,
    mask: EventMask,
    target: Target,
    /// The HMAC key. `hmac::Key`'s `Debug` shows only the algorithm; this type has no
    /// `Debug` at all, so the secret cannot reach a log line.
    key: hmac::Key,
    timeout: Duration,
    /// Set for `https` URLs.
    tls: Option<tokio_rustls::TlsConnector>,
}

/// Where events go, parsed once.
struct Target {
    uri: Uri,
    host: String,
    port: u16,
    /// `scheme://authority/path`, without the query (which may hold a token): for messages.
    shown: String,
}

impl WebhookExit {
    pub fn from_toml(
        name: &str,
        config: &toml::Value,
        data_dir: &Path,
    ) -> Result<WebhookExit, ConfigError> {
        let c: WebhookConfig = config
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::new(MODULE, e.message()))?;
        let target = parse_target(&c.url)?;
        let https = target.uri.scheme_str() == Some("https");
        if !https && !c.allow_insecure_http && !is_loopback(&target.host) {
            return Err(ConfigError::new(
                MODULE,
                format!(
                    "`url` {}: plain http is allowed only to a loopback address; use https, \
                     or set allow_insecure_http = true",
                    target.shown
                ),
            ));
        }
        if !https && (c.ca_file.is_some() || c.client_cert.is_some() || c.client_key.is_some()) {
            return Err(ConfigError::new(
                MODULE,
                "`ca_file`, `client_cert` and `client_key` apply to https URLs only",
            ));
        }
        let key = read_secret(&data_path(data_dir, &c.secret_file))?;
        let timeout = timeout(MODULE, c.timeout.as_ref(), Duration::from_secs(10))?;
        let tls = if https {
            Some(tls_connector(&c, data_dir)?)
        } else {
            None
        };
        Ok(WebhookExit {
            name: name.to_string(),
            mask: parse_mask(MODULE, c.events.as_ref())?,
            target,
            key,
            timeout,
            tls,
        })
    }

    /// Sends one event; any failure is described without the secret.
    async fn deliver(&self, ctx: &ExitCtx) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&payload(ctx)).map_err(DeliveryError::Encoding)?;
        let timestamp = unix(SystemTime::now()).to_string();
        let signature = sign(&self.key, &timestamp, &body);
        let path = self
            .target
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let authority = self
            .target
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("signet/", env!("CARGO_PKG_VERSION")),
            )
            .header("Signet-Event", ctx.event.name())
            .header("Signet-Timestamp", &timestamp)
            .header("Signet-Signature", format!("sha256={signature}"))
            .header("Idempotency-Key", idempotency_key(ctx))
            .body(Full::new(Bytes::from(body)))
            .map_err(DeliveryError::Request)?;

        let exchange = async {
            let tcp = TcpStream::connect((self.target.host.as_str(), self.target.port))
                .await
                .map_err(DeliveryError::Connect)?;
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                Some(tls) => {
                    let name = ServerName::try_from(self.target.host.clone())
                        .map_err(DeliveryError::ServerName)?;
                    let stream = tls.connect(name, tcp).await.map_err(DeliveryError::Tls)?;
                    send(TokioIo::new(stream), request).await
                }
                None => send(TokioIo::new(tcp), request).await,
            }
        };
        let status = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| DeliveryError::Timeout(self.timeout))??;
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status))
        }
    }
}

impl Exit for WebhookExit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        format!("POSTs signed JSON events to {}", self.target.shown)
    }
    fn start(&self, _ca: &CaInfo) -> Result<EventMask, ModuleError> {
        Ok(self.mask)
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(async move {
            self.deliver(ctx).await.map_err(|e| {
                ModuleError::new(
                    &self.name,
                    format!(
                        "POST {} (event {} seq {}): {}",
                        self.target.shown,
                        ctx.event.name(),
                        ctx.seq,
                        describe(&e)
                    ),
                )
            })
        })
    }
}

/// Why one POST failed (never with the secret); the delivery's error shows it and its cause.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("encoding")]
    Encoding(#[source] serde_json::Error),
    #[error("building the request")]
    Request(#[source] hyper::http::Error),
    #[error("connecting")]
    Connect(#[source] std::io::Error),
    #[error("server name")]
    ServerName(#[source] rustls::pki_types::InvalidDnsNameError),
    #[error("TLS")]
    Tls(#[source] std::io::Error),
    #[error("HTTP handshake")]
    Handshake(#[source] hyper::Error),
    #[error("HTTP")]
    Http(#[source] hyper::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answered HTTP {0}")]
    Status(hyper::StatusCode),
}

/// Performs one HTTP/1.1 exchange and returns the status (the body is not read).
async fn send<I>(
    io: I,
    request: hyper::Request<Full<Bytes>>,
) -> Result<hyper::StatusCode, DeliveryError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(DeliveryError::Handshake)?;
    // The connection task ends when `sender` and the response are dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(DeliveryError::Http)?;
    Ok(response.status())
}

/// The JSON body of one event (documented in `docs/exits-webhook.md`): the record the
/// `file` and `command` modules write, with the idempotency key.
fn payload(ctx: &ExitCtx) -> serde_json::Value {
    let mut v = crate::common::event_record_with_pem(ctx);
    v["idempotency_key"] = idempotency_key(ctx).into();
    v
}

/// `<ca>:<seq>`: unique per event, the same on every redelivery.
fn idempotency_key(ctx: &ExitCtx) -> String {
    format!("{}:{}", ctx.ca.name.as_str(), ctx.seq)
}

/// Lowercase hex HMAC-SHA256 over `timestamp "." body`.
fn sign(key: &hmac::Key, timestamp: &str, body: &[u8]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    hex::encode(ctx.sign().as_ref())
}

/// Reads the shared secret: the file's bytes without trailing whitespace (a final newline).
fn read_secret(path: &Path) -> Result<hmac::Key, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(MODULE, format!("`secret_file` {}: {e}", path.display())))?;
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let secret = &bytes[..end];
    if secret.len() < MIN_SECRET_LEN {
        return Err(ConfigError::new(
            MODULE,
            format!(
                "`secret_file` {}: the secret must be at least {MIN_SECRET_LEN} bytes",
                path.display()
            ),
        ));
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, secret))
}

fn parse_target(url: &str) -> Result<Target, ConfigError> {
    let bad = |why: &str| ConfigError::new(MODULE, format!("`url` {url:?}: {why}"));
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err(bad("the scheme must be http or https")),
    };
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("user information in the URL is not supported"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = authority.port_u16().unwrap_or(default_port);
    let shown = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or_default(),
        authority.as_str(),
        uri.path()
    );
    Ok(Target {
        uri,
        host,
        port,
        shown,
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The rustls client for `https`: trust only `ca_file`; present `client_cert` if set.
fn tls_connector(
    c: &WebhookConfig,
    data_dir: &Path,
) -> Result<tokio_rustls::TlsConnector, ConfigError> {
    let ca_file = c.ca_file.as_deref().ok_or_else(|| {
        ConfigError::new(
            MODULE,
            "https needs `ca_file`, the CA certificates to trust for the receiver (e.g. \
             /etc/ssl/certs/ca-certificates.crt for the system's public CAs)",
        )
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(&data_path(data_dir, ca_file), "ca_file")? {
        roots
            .add(cert)
            .map_err(|e| ConfigError::new(MODULE, format!("`ca_file` {ca_file}: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new(MODULE, format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let mut config = match (&c.client_cert, &c.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(&data_path(data_dir, cert), "client_cert")?;
            let key = read_key(&data_path(data_dir, key))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ConfigError::new(MODULE, format!("`client_cert`/`client_key`: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(ConfigError::new(
                MODULE,
                "`client_cert` and `client_key` go together",
            ));
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn read_certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(MODULE, format!("`{key}` {}: {e}", path.display())))?;
    let ders = signet_x509::pem::decode_all(&bytes, "CERTIFICATE")
        .map_err(|e| ConfigError::new(MODULE, format!("`{key}` {}: {e}", path.display())))?;
    if ders.is_empty() {
        return Err(ConfigError::new(
            MODULE,
            format!("`{key}` {}: no CERTIFICATE block", path.display()),
        ));
    }
    Ok(ders.into_iter().map(CertificateDer::from).collect())
}

/// A PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC 1
/// (`EC PRIVATE KEY`). Errors never quote the file's contents.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let what = || format!("`client_key` {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| ConfigError::caused(MODULE, what(), e))?;
    for label in ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"] {
        let found = signet_x509::pem::decode_all(&bytes, label)
            .map_err(|e| ConfigError::caused(MODULE, what(), e))?;
        if let Some(der) = found.into_iter().next() {
            return Ok(match label {
                "PRIVATE KEY" => PrivateKeyDer::Pkcs8(der.into()),
                "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(der.into()),
                _ => PrivateKeyDer::Sec1(der.into()),
            });
        }
    }
    Err(ConfigError::new(
        MODULE,
        format!(
            "{}: no unencrypted PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block",
            what()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str, dir: &Path) -> Result<WebhookExit, ConfigError> {
        std::fs::write(dir.join("secret"), "0123456789abcdef0123\n").expect("secret");
        let text = format!("secret_file = \"secret\"\n{extra}");
        let value: toml::Value = toml::from_str(&text).expect("toml");
        WebhookExit::from_toml("hook", &value, dir)
    }

    #[test]
    fn known_signature() {
        // Computed with Python: hmac.new(b"0123456789abcdef0123", b"1700000000.{}", "sha256").
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef0123");
        assert_eq!(
            sign(&key, "1700000000", b"{}"),
            "19ecdc0e607efbadb3c4a4ac61543ed0f9b88019950c2e31536f94e89ad1b7df"
        );
    }

    #[test]
    fn insecure_http_only_to_loopback() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(config("url = \"http://127.0.0.1:9/hook\"", dir.path()).is_ok());
        assert!(config("url = \"http://[::1]:9/hook\"", dir.path()).is_ok());
        assert!(config("url = \"http://localhost/hook\"", dir.path()).is_ok());
        let e = config("url = \"http://example.org/hook\"", dir.path())
            .err()
            .expect("refused");
        assert!(e.message.contains("allow_insecure_http"), "{e}");
        assert!(
            config(
                "url = \"http://example.org/hook\"\nallow_insecure_http = true",
                dir.path()
            )
            .is_ok()
        );
        assert!(config("url = \"ftp://example.org/\"", dir.path()).is_err());
        assert!(
            config("url = \"https://example.org/\"", dir.path()).is_err(),
            "needs ca_file"
        );
        assert!(config("url = \"http://127.0.0.1/\"\nbogus = 1", dir.path()).is_err());
    }

    #[test]
    fn short_secret_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("short"), "abc\n").expect("secret");
        let value: toml::Value =
            toml::from_str("url = \"http://127.0.0.1/\"\nsecret_file = \"short\"").expect("toml");
        let e = WebhookExit::from_toml("hook", &value, dir.path())
            .err()
            .expect("refused");
        assert!(
            !e.message.contains("abc"),
            "the secret is never quoted: {e}"
        );
    }
}
