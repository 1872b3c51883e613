//! Challenge validation (RFC 8555 §8.3–8.4, RFC 8737, RFC 8738) and CAA checking (RFC 8659).
//!
//! Validation is an outbound connection whose target a client chooses, so every step is
//! bounded and fenced:
//! - every address is checked against the [`AddressPolicy`] (allowed and denied ranges)
//!   before anything connects to it, redirect targets included;
//! - each attempt has one overall time limit ([`ValidationConfig::timeout`]) and a
//!   [`Validator`] runs at most [`MAX_CONCURRENT`] attempts at once;
//! - http-01 bodies are size-limited, at most [`http01::MAX_REDIRECTS`] redirects are
//!   followed, and requests carry no cookies, credentials or internal headers;
//! - names are resolved by the crate's own stub client ([`dns`]) through the configured
//!   resolvers with no cache, so a retry sees current records.
//!
//! Layout: [`ranges`] (CIDR ranges and the address policy), [`dns`] (the DNS client and
//! message parser), `http01`, `dns01`, `tlsalpn` (the three challenges), `caa` (RFC 8659).

mod caa;
pub mod dns;
mod dns01;
mod http01;
pub mod ranges;
mod tlsalpn;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use signet_api::acme::{AcmeIdentifier, ChallengeType, IdentifierType};

use crate::problem::{AcmeError, Problem, ProblemType};
pub use ranges::{AddressPolicy, DEFAULT_DENIED, IpRange, IpRangeError};

/// How many validation attempts (and CAA checks) one [`Validator`] runs at once; more wait.
pub const MAX_CONCURRENT: usize = 32;

/// Where and how validation connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationConfig {
    /// The port of http-01 requests (80; tests use a high port). Redirects may go to port 80,
    /// 443 or this port.
    pub http01_port: u16,
    /// The port of tls-alpn-01 connections (443).
    pub tlsalpn01_port: u16,
    /// The resolvers to ask; empty: the `nameserver`s of `/etc/resolv.conf`, port 53.
    pub dns_resolvers: Vec<SocketAddr>,
    /// When non-empty, validation targets (and redirect targets) must lie in one of these.
    /// See [`AddressPolicy`] for how it combines with `denied`.
    pub allowed: Vec<IpRange>,
    /// Never connect to these (unless an at least as specific `allowed` range names the
    /// address); the default is [`DEFAULT_DENIED`].
    pub denied: Vec<IpRange>,
    /// The issuer-domain-names this CA answers to in CAA records; empty: CAA is not checked.
    pub caa_identities: Vec<String>,
    /// The limit of one validation attempt, DNS lookups and redirects included (10 s).
    pub timeout: Duration,
    /// The largest http-01 response body accepted (8 KiB).
    pub max_response_bytes: usize,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            http01_port: 80,
            tlsalpn01_port: 443,
            dns_resolvers: Vec::new(),
            allowed: Vec::new(),
            denied: DEFAULT_DENIED
                .iter()
                .filter_map(|r| r.parse().ok())
                .collect(),
            caa_identities: Vec::new(),
            timeout: Duration::from_secs(10),
            max_response_bytes: 8 * 1024,
        }
    }
}

/// Why a [`Validator`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ValidationSetupError {
    /// No resolver was configured and `/etc/resolv.conf` could not be read.
    #[error("no DNS resolver configured and /etc/resolv.conf is unreadable")]
    ResolvConf(#[source] io::Error),
    /// No resolver was configured and `/etc/resolv.conf` names none.
    #[error("no DNS resolver configured and /etc/resolv.conf has no nameserver")]
    NoNameservers,
    /// The timeout is zero.
    #[error("the validation timeout must be positive")]
    ZeroTimeout,
    /// The TLS client configuration could not be built.
    #[error("building the TLS client configuration")]
    Tls(#[source] rustls::Error),
}

/// Runs challenge validations and CAA checks. Cheap to clone; clones share the concurrency
/// limit.
#[derive(Clone, Debug)]
pub struct Validator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ValidationConfig,
    policy: AddressPolicy,
    resolvers: Vec<SocketAddr>,
    limit: tokio::sync::Semaphore,
    /// For tls-alpn-01: ALPN `acme-tls/1`, any certificate (checked by hand afterwards).
    tls_alpn: Arc<rustls::ClientConfig>,
    /// For http-01 redirects to https: no certificate verification (see `http01`).
    https: Arc<rustls::ClientConfig>,
}

impl Validator {
    /// A validator for `config`; reads `/etc/resolv.conf` when no resolver is configured.
    pub fn new(config: ValidationConfig) -> Result<Validator, ValidationSetupError> {
        if config.timeout.is_zero() {
            return Err(ValidationSetupError::ZeroTimeout);
        }
        let resolvers = if config.dns_resolvers.is_empty() {
            let text = std::fs::read_to_string("/etc/resolv.conf")
                .map_err(ValidationSetupError::ResolvConf)?;
            let servers = dns::resolv_conf_nameservers(&text);
            if servers.is_empty() {
                return Err(ValidationSetupError::NoNameservers);
            }
            servers
        } else {
            config.dns_resolvers.clone()
        };
        let policy = AddressPolicy {
            allowed: config.allowed.clone(),
            denied: config.denied.clone(),
        };
        Ok(Validator {
            inner: Arc::new(Inner {
                tls_alpn: tlsalpn::client_config(vec![tlsalpn::ACME_TLS_1.to_vec()])?,
                https: tlsalpn::client_config(Vec::new())?,
                config,
                policy,
                resolvers,
                limit: tokio::sync::Semaphore::new(MAX_CONCURRENT),
            }),
        })
    }

    /// The configuration this validator was built from.
    pub fn config(&self) -> &ValidationConfig {
        &self.inner.config
    }

    /// Validates one challenge. `key_authorization` = token + "." + account thumbprint. A
    /// wildcard identifier's `*.` (if the caller left it on) is ignored.
    pub async fn validate(
        &self,
        kind: ChallengeType,
        identifier: &AcmeIdentifier,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), Problem> {
        let what = format!("{} for {}", kind.as_str(), identifier.value);
        self.bounded(what, async {
            let target = Target::of(identifier)?;
            match kind {
                ChallengeType::Http01 => {
                    http01::validate(&self.inner, &target, token, key_authorization).await
                }
                ChallengeType::Dns01 => {
                    dns01::validate(&self.inner, &target, key_authorization).await
                }
                ChallengeType::TlsAlpn01 => {
                    tlsalpn::validate(&self.inner, &target, key_authorization).await
                }
            }
        })
        .await
    }

    /// CAA (RFC 8659) for a DNS identifier (`wildcard`: the `issuewild` property governs).
    /// Ok when `caa_identities` is empty and for IP identifiers.
    pub async fn check_caa(
        &self,
        identifier: &AcmeIdentifier,
        wildcard: bool,
    ) -> Result<(), Problem> {
        if self.inner.config.caa_identities.is_empty() || identifier.kind != IdentifierType::Dns {
            return Ok(());
        }
        let what = format!("CAA for {}", identifier.value);
        self.bounded(what, async {
            let wildcard = wildcard || identifier.value.starts_with("*.");
            match Target::of(identifier)? {
                Target::Name(name) => caa::check(&self.inner, &name, wildcard).await,
                Target::Ip(_) => Ok(()),
            }
        })
        .await
    }

    /// Runs `work` under the concurrency limit and the overall timeout (which starts once a
    /// permit is held: waiting in line does not count against an attempt).
    async fn bounded(
        &self,
        what: String,
        work: impl Future<Output = Result<(), ValidationError>>,
    ) -> Result<(), Problem> {
        let result = async {
            let _permit = self
                .inner
                .limit
                .acquire()
                .await
                .map_err(|_| ValidationError::Closed)?;
            let after = self.inner.config.timeout;
            tokio::time::timeout(after, work)
                .await
                .map_err(|_| ValidationError::Timeout { what, after })?
        }
        .await;
        result.map_err(|e| e.problem())
    }
}

/// What a validation is about: a DNS name (lowercase, no trailing dot, no `*.`) or an IP.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Name(String),
    Ip(IpAddr),
}

impl Target {
    fn of(identifier: &AcmeIdentifier) -> Result<Target, ValidationError> {
        let value = identifier.value.as_str();
        match identifier.kind {
            IdentifierType::Ip => value
                .parse::<IpAddr>()
                .map(|ip| Target::Ip(ranges::canonical(ip)))
                .map_err(|_| ValidationError::Identifier {
                    value: value.to_owned(),
                }),
            IdentifierType::Dns => {
                let name = value.strip_prefix("*.").unwrap_or(value);
                let name = dns::normalize(name);
                let ok = !name.is_empty()
                    && name.len() <= 253
                    && name.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    });
                if ok {
                    Ok(Target::Name(name))
                } else {
                    Err(ValidationError::Identifier {
                        value: value.to_owned(),
                    })
                }
            }
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Name(n) => f.write_str(n),
            Target::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Why a validation attempt or CAA check failed. Each variant maps to one ACME problem type
/// ([`AcmeError`]); the detail says what happened.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// The identifier is not a DNS name or IP address we can validate.
    #[error("{value:?} is not a valid identifier")]
    Identifier { value: String },
    /// The challenge type does not apply to the identifier type (dns-01 for an IP).
    #[error("{kind} does not apply to IP address identifiers")]
    Unsupported { kind: &'static str },
    /// A DNS lookup failed.
    #[error("DNS lookup of {name} failed")]
    Dns {
        name: String,
        #[source]
        source: dns::DnsError,
    },
    /// The name has no A or AAAA records.
    #[error("no A or AAAA record for {name}")]
    NoAddresses { name: String },
    /// The address policy refuses every address of the target.
    #[error("{host} resolves to {addr}, which is not an allowed validation target")]
    Denied { host: String, addr: IpAddr },
    /// Connecting failed (for every address tried; this is the last error). The detail
    /// reads `127.0.0.1:5002: Connection refused (os error 111)`: the cause follows.
    #[error("{addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// The attempt as a whole took longer than the configured timeout.
    #[error("{what}: no answer within {after:?}")]
    Timeout { what: String, after: Duration },
    /// The HTTP exchange failed.
    #[error("HTTP request to {url} failed")]
    Http {
        url: String,
        #[source]
        source: hyper::Error,
    },
    /// The HTTP status was not 200 (nor a redirect).
    #[error("got {status} from {url}")]
    HttpStatus { url: String, status: u16 },
    /// More redirects than [`http01::MAX_REDIRECTS`].
    /// A redirect target did not answer with the key authorization (how it failed is logged,
    /// not shown to the client).
    #[error("the target of redirect {redirects} did not answer with the key authorization")]
    RedirectTarget { redirects: usize },
    #[error("too many redirects (more than {limit}), last to {url}")]
    TooManyRedirects { limit: usize, url: String },
    /// A redirect we will not follow.
    #[error("refusing redirect from {from} to {location:?}: {reason}")]
    Redirect {
        from: String,
        location: String,
        reason: &'static str,
    },
    /// The response body exceeds the limit.
    #[error("response from {url} is larger than {limit} bytes")]
    BodyTooLarge { url: String, limit: usize },
    /// The response (body, TXT records or certificate) does not carry the key authorization.
    #[error("key authorization mismatch: {what}")]
    Mismatch { what: String },
    /// No TXT record at the challenge name.
    #[error("no TXT record at {name}")]
    NoTxt { name: String },
    /// The TLS handshake failed.
    #[error("TLS handshake with {addr} failed")]
    Tls {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// The tls-alpn-01 responder did not negotiate `acme-tls/1`.
    #[error("{addr} did not negotiate the acme-tls/1 protocol")]
    Alpn { addr: SocketAddr },
    /// The tls-alpn-01 certificate is not a valid challenge certificate.
    #[error("{addr} presented an invalid challenge certificate: {reason}")]
    Certificate { addr: SocketAddr, reason: String },
    /// CAA forbids issuance, or the CAA lookup failed.
    #[error("CAA for {name}: {reason}")]
    Caa { name: String, reason: String },
    /// The validator is shutting down.
    #[error("the validator is shutting down")]
    Closed,
}

impl AcmeError for ValidationError {
    fn problem_type(&self) -> ProblemType {
        use ValidationError as E;
        match self {
            E::Identifier { .. } | E::Denied { .. } => ProblemType::RejectedIdentifier,
            E::Unsupported { .. } => ProblemType::UnsupportedIdentifier,
            E::Dns { .. } | E::NoAddresses { .. } => ProblemType::Dns,
            E::Connect { .. }
            | E::Timeout { .. }
            | E::Http { .. }
            | E::TooManyRedirects { .. }
            | E::Redirect { .. } => ProblemType::Connection,
            E::RedirectTarget { .. } => ProblemType::IncorrectResponse,
            E::HttpStatus { .. } | E::BodyTooLarge { .. } | E::NoTxt { .. } => {
                ProblemType::Unauthorized
            }
            E::Mismatch { .. } => ProblemType::IncorrectResponse,
            E::Tls { .. } | E::Alpn { .. } => ProblemType::Tls,
            E::Certificate { .. } => ProblemType::Unauthorized,
            E::Caa { .. } => ProblemType::Caa,
            E::Closed => ProblemType::ServerInternal,
        }
    }
}

impl Inner {
    fn dns(&self) -> dns::DnsClient {
        // Each server gets a third of the attempt (at least 500 ms), so one dead resolver
        // leaves time for the next.
        let per_server = (self.config.timeout / 3).max(Duration::from_millis(500));
        dns::DnsClient::new(self.resolvers.clone(), per_server)
    }

    /// The addresses to connect to for `host`: IPv4 first, then IPv6, only those the policy
    /// permits. Refused when every address is denied (nothing is connected then).
    async fn addresses(&self, host: &Target) -> Result<Vec<IpAddr>, ValidationError> {
        let all = match host {
            Target::Ip(ip) => vec![*ip],
            Target::Name(name) => {
                let client = self.dns();
                let v4 = client.lookup(name, dns::TYPE_A).await;
                let v6 = client.lookup(name, dns::TYPE_AAAA).await;
                let mut all = Vec::new();
                let mut error = None;
                for result in [v4, v6] {
                    match result {
                        Ok(lookup) => all.extend(lookup.records.iter().filter_map(|r| match r {
                            dns::RData::A(a) => Some(IpAddr::V4(*a)),
                            dns::RData::Aaaa(a) => Some(ranges::canonical(IpAddr::V6(*a))),
                            _ => None,
                        })),
                        Err(e) => error = error.or(Some(e)),
                    }
                }
                match (all.is_empty(), error) {
                    (true, Some(source)) => {
                        return Err(ValidationError::Dns {
                            name: name.clone(),
                            source,
                        });
                    }
                    (true, None) => {
                        return Err(ValidationError::NoAddresses { name: name.clone() });
                    }
                    _ => all,
                }
            }
        };
        let permitted: Vec<IpAddr> = all
            .iter()
            .copied()
            .filter(|a| self.policy.permits(*a))
            .collect();
        if permitted.is_empty() {
            return Err(ValidationError::Denied {
                host: host.to_string(),
                addr: all[0],
            });
        }
        Ok(permitted)
    }

    /// Connects to the first address that accepts, in order.
    async fn connect(
        &self,
        addrs: &[IpAddr],
        port: u16,
    ) -> Result<(tokio::net::TcpStream, SocketAddr), ValidationError> {
        let mut last = None;
        for &ip in addrs {
            let addr = SocketAddr::new(ip, port);
            match tokio::net::TcpStream::connect(addr).await {
                Ok(stream) => return Ok((stream, addr)),
                Err(source) => last = Some(ValidationError::Connect { addr, source }),
            }
        }
        Err(last.unwrap_or(ValidationError::NoAddresses {
            name: String::new(),
        }))
    }
}

/// base64url(SHA-256(key authorization)): the dns-01 TXT value (RFC 8555 §8.4).
pub fn dns01_txt_value(key_authorization: &str) -> String {
    crate::b64::encode(&signet_x509::sha256(key_authorization.as_bytes()))
}
