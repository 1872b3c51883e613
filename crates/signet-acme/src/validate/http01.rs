//! http-01 (RFC 8555 §8.3; IP identifiers: RFC 8738 §3):
//! `GET http://{identifier}:{http01_port}/.well-known/acme-challenge/{token}`, following at
//! most [`MAX_REDIRECTS`] redirects to http or https on port 80, 443 or the configured port.
//! The body, without trailing whitespace, must equal the key authorization.
//!
//! Each hop resolves its host again and checks every address against the address policy
//! before connecting. Requests carry only `Host`, `User-Agent: Signet-ACME-VA`, `Accept`
//! and `Connection: close`: no cookies, credentials or internal headers. URLs with userinfo
//! are refused.

use std::net::IpAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{ACCEPT, CONNECTION, CONTENT_LENGTH, HOST, LOCATION, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Inner, Target, ValidationError};

/// The most redirects one validation follows (RFC 8555 §10.2 leaves the number to the
/// server; Boulder follows 10).
pub const MAX_REDIRECTS: usize = 10;
/// The longest `Location` we look at.
const MAX_LOCATION: usize = 2048;
/// The most bytes of status line and headers we read (and hyper's read buffer size).
const MAX_HEADER_BYTES: usize = 16 * 1024;
const USER_AGENT_VALUE: &str = "Signet-ACME-VA";

/// One URL of the redirect chain.
#[derive(Clone, Debug)]
struct Url {
    https: bool,
    host: Target,
    port: u16,
    /// Path and query, starting with `/`.
    path: String,
}

impl Url {
    /// `host[:port]`, the port left out when it is the scheme's default.
    fn authority(&self) -> String {
        let host = match &self.host {
            Target::Name(n) => n.clone(),
            Target::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
            Target::Ip(ip) => ip.to_string(),
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

enum Outcome {
    Body(Vec<u8>),
    Redirect(String),
}

pub(super) async fn validate(
    inner: &Inner,
    target: &Target,
    token: &str,
    key_authorization: &str,
) -> Result<(), ValidationError> {
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ValidationError::Identifier {
            value: token.to_owned(),
        });
    }
    let mut url = Url {
        https: false,
        host: target.clone(),
        port: inner.config.http01_port,
        path: format!("/.well-known/acme-challenge/{token}"),
    };
    let mut redirects = 0;
    loop {
        let fetched = fetch(inner, &url).await;
        // After a redirect, how the target failed (its status, refused or silent) is not
        // shown: a redirect can point anywhere the address policy allows, and the details
        // would map the CA's network for the client.
        let fetched = match fetched {
            Err(e) if redirects > 0 && !matches!(e, ValidationError::Denied { .. }) => {
                tracing::info!(error = %e, "http-01 redirect target failed");
                return Err(ValidationError::RedirectTarget { redirects });
            }
            other => other?,
        };
        match fetched {
            Outcome::Body(body) => {
                let got = body.trim_ascii_end();
                if got == key_authorization.as_bytes() {
                    return Ok(());
                }
                // Show the answer only when it is an attempt at this challenge's key
                // authorization: anything else may be an internal page, and validation must
                // not read the CA's network for a client.
                let what = if got.starts_with(format!("{token}.").as_bytes()) {
                    let shown = String::from_utf8_lossy(&got[..got.len().min(128)]).into_owned();
                    format!("{url} answered {shown:?}")
                } else {
                    format!(
                        "{url} answered {} bytes that are not a key authorization for this token",
                        got.len()
                    )
                };
                return Err(ValidationError::Mismatch { what });
            }
            Outcome::Redirect(location) => {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(ValidationError::TooManyRedirects {
                        limit: MAX_REDIRECTS,
                        url: location,
                    });
                }
                url = follow(inner, &url, &location)?;
            }
        }
    }
}

/// One GET, over TLS for https URLs.
async fn fetch(inner: &Inner, url: &Url) -> Result<Outcome, ValidationError> {
    let addrs = inner.addresses(&url.host).await?;
    let (stream, addr) = inner.connect(&addrs, url.port).await?;
    if !url.https {
        return exchange(inner, TokioIo::new(stream), url).await;
    }
    // A redirect to https is not a TLS validation: like Boulder, we do not verify the
    // server's certificate (the key authorization in the body is the proof, and an
    // internal name rarely has a publicly trusted certificate). The handshake's signature
    // is still checked against the presented certificate.
    let server_name = match &url.host {
        Target::Name(n) => rustls::pki_types::ServerName::try_from(n.clone()).map_err(|_| {
            ValidationError::Identifier {
                value: n.to_string(),
            }
        })?,
        Target::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
    };
    let tls = tokio_rustls::TlsConnector::from(inner.https.clone())
        .connect(server_name, stream)
        .await
        .map_err(|source| ValidationError::Tls { addr, source })?;
    exchange(inner, TokioIo::new(tls), url).await
}

/// Sends the request on `io` and reads the answer: the body (size-limited) of a 200, the
/// `Location` of a redirect, an error otherwise.
async fn exchange<I>(inner: &Inner, io: TokioIo<I>, url: &Url) -> Result<Outcome, ValidationError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http_err = |source| ValidationError::Http {
        url: url.to_string(),
        source,
    };
    // The read buffer bounds the status line and headers too (hyper's default is ~400 KB).
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEADER_BYTES)
        .handshake(io)
        .await
        .map_err(http_err)?;
    let request = Request::builder()
        .method(Method::GET)
        .uri(url.path.as_str())
        .header(HOST, url.authority())
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(ACCEPT, "*/*")
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|_| ValidationError::Identifier {
            value: url.to_string(),
        })?;
    let limit = inner.config.max_response_bytes;
    let exchange = async {
        let response = sender.send_request(request).await.map_err(http_err)?;
        let status = response.status();
        if is_redirect(status) {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= MAX_LOCATION)
                .ok_or_else(|| ValidationError::Redirect {
                    from: url.to_string(),
                    location: String::new(),
                    reason: "no usable Location header",
                })?;
            return Ok(Outcome::Redirect(location.to_owned()));
        }
        if status != StatusCode::OK {
            return Err(ValidationError::HttpStatus {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let too_large = || ValidationError::BodyTooLarge {
            url: url.to_string(),
            limit,
        };
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = response.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(http_err)?.into_data() {
                if out.len() + data.len() > limit {
                    return Err(too_large());
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(Outcome::Body(out))
    };
    // The connection is driven here, in this future, not in a spawned task: when the
    // attempt's timeout drops the future, the socket goes with it.
    let mut exchange = std::pin::pin!(exchange);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        outcome = &mut exchange => outcome,
        done = &mut conn => {
            done.map_err(http_err)?;
            exchange.await
        }
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The URL a redirect leads to, if we follow it: http or https, no userinfo, port 80, 443
/// or the configured http-01 port (https: 443 only), a DNS name or an IP address as host.
fn follow(inner: &Inner, from: &Url, location: &str) -> Result<Url, ValidationError> {
    let refuse = |reason| ValidationError::Redirect {
        from: from.to_string(),
        location: location.to_owned(),
        reason,
    };
    if location.starts_with('/') && !location.starts_with("//") {
        let path: Uri = location.parse().map_err(|_| refuse("not a valid path"))?;
        return Ok(Url {
            path: path
                .path_and_query()
                .map_or("/".to_owned(), |p| p.as_str().to_owned()),
            ..from.clone()
        });
    }
    let uri: Uri = location
        .parse()
        .map_err(|_| refuse("not an absolute URL or path"))?;
    let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(refuse("the scheme is not http or https")),
    };
    let authority = uri.authority().ok_or_else(|| refuse("no host"))?;
    if authority.as_str().contains('@') {
        return Err(refuse("the URL carries credentials"));
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host = match host.parse::<IpAddr>() {
        Ok(ip) => Target::Ip(super::ranges::canonical(ip)),
        Err(_) => {
            let identifier = signet_api::acme::AcmeIdentifier {
                kind: signet_api::acme::IdentifierType::Dns,
                value: host.to_owned(),
            };
            match Target::of(&identifier) {
                Ok(t) if !host.starts_with("*.") => t,
                _ => return Err(refuse("the host is not a DNS name or IP address")),
            }
        }
    };
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let port_ok = if https {
        port == 443
    } else {
        port == 80 || port == inner.config.http01_port
    };
    if !port_ok {
        return Err(refuse("the port is not 80, 443 or the http-01 port"));
    }
    Ok(Url {
        https,
        host,
        port,
        path: uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned()),
    })
}
