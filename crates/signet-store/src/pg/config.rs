//! [`PgConfig`]: where the PostgreSQL database is and how to reach it, from a libpq-style URL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use postgres::NoTls;
use postgres::config::SslMode;
use signet_core::StoreError;

use super::conn::{PgConn, describe};
use super::tls::{MakeRustls, client_config};

/// The environment variable a database password may come from (when no password file is
/// given).
pub const PASSWORD_ENV: &str = "SIGNET_DATABASE_PASSWORD";

/// How long to wait for each host's TCP connection when the URL sets no `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to connect to the PostgreSQL database: parsed once at startup, then used by every
/// store thread to open (and reopen) its own connection.
///
/// Built from a libpq-style URL:
///
/// ```text
/// postgres://signet@db1:5432,db2:5432/signet?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=/etc/signet/db-ca.pem
/// ```
///
/// - Several `host:port`s are tried in order; with `target_session_attrs=read-write` a server
///   that does not accept writes (a standby) is skipped, so the store follows a failover.
/// - TLS (`sslmode`, `sslrootcert`), which Signet handles itself:
///   - `verify-full`: TLS, the server's certificate must chain to a certificate in the
///     `sslrootcert` PEM file (and nothing else: no system roots) and name the host connected
///     to. `sslrootcert` is required.
///   - `require`: the same as `verify-full` (Signet never uses TLS without authenticating the
///     server, so `require` without `sslrootcert` is refused rather than silently
///     unauthenticated).
///   - absent: `verify-full` when `sslrootcert` is given, otherwise plain TCP. (libpq's default
///     is `prefer`, which falls back to plain TCP anyway and authenticates nothing.)
///   - `disable`, `allow`, `prefer`: plain TCP; with `sslrootcert` they are refused as
///     contradictory. `verify-ca` (the chain without the name) is refused: use `verify-full`.
///   - `sslrootcert=system` (libpq 16) is refused: only a named CA file is trusted.
/// - The password: from the password file if one is given, else from the environment
///   variable [`PASSWORD_ENV`], else from the URL (`user:password@`, allowed but discouraged:
///   URLs end up in process listings and shell histories). [`Debug`] and
///   [`redacted_url`](PgConfig::redacted_url) never show it.
/// - `connect_timeout` (seconds) bounds each host's TCP connection; 5 s when absent. It does
///   not bound what follows (TLS handshake, authentication): a server that accepts the
///   connection and then hangs holds `connect` until it answers or the socket fails.
/// - Anything else tokio-postgres understands (`application_name`, defaulting to `signet`;
///   `keepalives*`, `tcp_user_timeout`, `load_balance_hosts`, `options`, ...) passes through.
#[derive(Clone)]
pub struct PgConfig {
    config: postgres::Config,
    /// `Some`: verify-full with this client configuration; `None`: plain TCP.
    tls: Option<Arc<rustls::ClientConfig>>,
    redacted: String,
    password: PasswordSource,
}

/// Why a database URL or its files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PgConfigError {
    /// Not a `postgres://` URL (the `key=value` form is not accepted).
    #[error("the database URL must start with postgres:// or postgresql://")]
    NotAUrl,
    /// tokio-postgres refused the URL (`url` is redacted).
    #[error("the database URL {url}: {reason}")]
    Url { url: String, reason: String },
    /// An `sslmode` Signet does not implement (`verify-ca`) or that does not exist.
    #[error("sslmode={0} is not supported: use verify-full (or disable)")]
    SslMode(String),
    /// `sslmode=require` without `sslrootcert`: TLS that authenticates nobody.
    #[error(
        "sslmode=require needs sslrootcert (a PEM file of the CA that issued the server's \
         certificate): Signet does not use TLS without authenticating the server"
    )]
    RequireWithoutCa,
    /// `sslmode=verify-full` without `sslrootcert`.
    #[error(
        "sslmode=verify-full needs sslrootcert (a PEM file of the CA that issued the server's certificate)"
    )]
    VerifyFullWithoutCa,
    /// `sslrootcert` with a plain-TCP `sslmode` (`disable`, `allow`, `prefer`).
    #[error("sslrootcert is given but sslmode={0} does not use it: use sslmode=verify-full")]
    CaWithoutTls(String),
    /// `sslrootcert=system`: Signet trusts only a named CA file.
    #[error(
        "sslrootcert=system is not supported: name the PEM file of the CA that issued the \
         server's certificate"
    )]
    SystemRoots,
    /// The CA file cannot be read or holds no usable certificate.
    #[error("sslrootcert {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    /// The password file cannot be read or is empty.
    #[error("password file {path}: {reason}")]
    PasswordFile { path: PathBuf, reason: String },
}

/// Where the password came from (for `Debug`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PasswordSource {
    None,
    Url,
    File,
    Environment,
}

impl PgConfig {
    /// Parses `url`; the password comes from `password_file` if given, else from
    /// [`PASSWORD_ENV`] (if set and not empty), else from the URL. Reads the CA and password
    /// files now, so a bad path fails at startup rather than at the first connection.
    pub fn new(url: &str, password_file: Option<&Path>) -> Result<PgConfig, PgConfigError> {
        let env = std::env::var_os(PASSWORD_ENV)
            .filter(|v| !v.is_empty())
            .map(|v| v.into_encoded_bytes());
        PgConfig::build(url, password_file, env)
    }

    /// [`PgConfig::new`] with the environment's password given.
    pub(crate) fn build(
        url: &str,
        password_file: Option<&Path>,
        env_password: Option<Vec<u8>>,
    ) -> Result<PgConfig, PgConfigError> {
        let parts = UrlParts::split(url)?;
        let url_error = |reason: String| PgConfigError::Url {
            url: parts.redacted(),
            reason,
        };
        let mut config =
            postgres::Config::from_str(&parts.for_client()).map_err(|e| url_error(describe(&e)))?;
        let tls = match tls_mode(parts.sslmode.as_deref(), parts.sslrootcert.as_deref())? {
            Some(ca) => {
                config.ssl_mode(SslMode::Require);
                Some(client_config(ca)?)
            }
            None => {
                config.ssl_mode(SslMode::Disable);
                None
            }
        };
        let mut password = match config.get_password() {
            Some(_) => PasswordSource::Url,
            None => PasswordSource::None,
        };
        if let Some(path) = password_file {
            config.password(read_password_file(path)?);
            password = PasswordSource::File;
        } else if let Some(env) = env_password {
            config.password(env);
            password = PasswordSource::Environment;
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("signet");
        }
        // The client logs server notices through `log`, which Signet does not use.
        config.notice_callback(|notice| {
            tracing::debug!(
                severity = notice.severity(),
                message = notice.message(),
                "PostgreSQL notice"
            );
        });
        Ok(PgConfig {
            config,
            tls,
            redacted: parts.redacted(),
            password,
        })
    }

    /// Opens a connection: each host in turn (skipping those `target_session_attrs` rules
    /// out), over TLS if configured. Must not be called from inside an async runtime.
    pub(crate) fn connect(&self) -> Result<PgConn, StoreError> {
        let client = match &self.tls {
            None => self.config.connect(NoTls),
            Some(tls) => self
                .config
                .connect(MakeRustls(tokio_rustls::TlsConnector::from(Arc::clone(
                    tls,
                )))),
        };
        let client = client.map_err(|e| {
            StoreError::Unavailable(format!(
                "connecting to PostgreSQL at {}: {}",
                self.redacted,
                describe(&e)
            ))
        })?;
        Ok(PgConn::new(client))
    }

    /// The URL as given, with any password replaced by `***`: for logs and error messages.
    pub fn redacted_url(&self) -> String {
        self.redacted.clone()
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &self.redacted)
            .field("tls", &self.tls.as_ref().map_or("none", |_| "verify-full"))
            .field("password", &self.password)
            .finish()
    }
}

/// The CA file to verify the server with (`Some`: verify-full), or `None` for plain TCP.
fn tls_mode<'a>(
    sslmode: Option<&str>,
    sslrootcert: Option<&'a str>,
) -> Result<Option<&'a Path>, PgConfigError> {
    if sslrootcert == Some("system") {
        return Err(PgConfigError::SystemRoots);
    }
    let ca = sslrootcert.filter(|c| !c.is_empty()).map(Path::new);
    match (sslmode, ca) {
        (None, ca) => Ok(ca),
        (Some("verify-full" | "require"), Some(ca)) => Ok(Some(ca)),
        (Some("verify-full"), None) => Err(PgConfigError::VerifyFullWithoutCa),
        (Some("require"), None) => Err(PgConfigError::RequireWithoutCa),
        (Some("disable" | "allow" | "prefer"), None) => Ok(None),
        (Some(mode @ ("disable" | "allow" | "prefer")), Some(_)) => {
            Err(PgConfigError::CaWithoutTls(mode.to_owned()))
        }
        (Some(other), _) => Err(PgConfigError::SslMode(other.to_owned())),
    }
}

/// The password in `path`, without the line break(s) at its end.
fn read_password_file(path: &Path) -> Result<Vec<u8>, PgConfigError> {
    let err = |reason: String| PgConfigError::PasswordFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(err("it is empty".into()));
    }
    Ok(bytes)
}

/// A URL taken apart where Signet and tokio-postgres split the work: `sslmode` and
/// `sslrootcert` (which tokio-postgres's parser refuses in their libpq meanings) are taken out
/// of the query string, everything else is left for tokio-postgres.
struct UrlParts<'a> {
    /// `postgres://` or `postgresql://`.
    scheme: &'a str,
    /// `user` or `user:password`, without the `@`.
    credentials: Option<&'a str>,
    /// Hosts, ports and database name: from after the credentials up to the `?`.
    location: &'a str,
    /// The query's `key=value` pairs, as written.
    query: Vec<&'a str>,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Result<UrlParts<'a>, PgConfigError> {
        let scheme_len = ["postgres://", "postgresql://"]
            .iter()
            .find(|s| url.starts_with(*s))
            .map(|s| s.len())
            .ok_or(PgConfigError::NotAUrl)?;
        let (scheme, rest) = url.split_at(scheme_len);
        // As libpq: credentials end at the first `@`, if it comes before the first `/` (an `@`
        // in a password is written `%40`).
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (credentials, rest) = match rest[..authority_end].find('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (location, query) = match rest.find('?') {
            Some(q) => (&rest[..q], &rest[q + 1..]),
            None => (rest, ""),
        };
        let mut parts = UrlParts {
            scheme,
            credentials,
            location,
            query: Vec::new(),
            sslmode: None,
            sslrootcert: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            match decode(key).as_str() {
                "sslmode" => parts.sslmode = Some(decode(value)),
                "sslrootcert" => parts.sslrootcert = Some(decode(value)),
                _ => {}
            }
            parts.query.push(pair);
        }
        Ok(parts)
    }

    /// The URL for tokio-postgres: without `sslmode` and `sslrootcert`.
    fn for_client(&self) -> String {
        let mut out = String::from(self.scheme);
        if let Some(c) = self.credentials {
            out.push_str(c);
            out.push('@');
        }
        out.push_str(self.location);
        let rest: Vec<&str> = self
            .query
            .iter()
            .copied()
            .filter(|p| !matches!(key_of(p).as_str(), "sslmode" | "sslrootcert"))
            .collect();
        if !rest.is_empty() {
            out.push('?');
            out.push_str(&rest.join("&"));
        }
        out
    }

    /// The URL as written, with the password (`user:password@` or `password=`) as `***`.
    fn redacted(&self) -> String {
        let mut out = String::from(self.scheme);
        if let Some(c) = self.credentials {
            match c.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(c),
            }
            out.push('@');
        }
        out.push_str(self.location);
        if !self.query.is_empty() {
            let pairs: Vec<&str> = self
                .query
                .iter()
                .map(|p| match key_of(p).as_str() {
                    "password" => "password=***",
                    _ => p,
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        out
    }
}

/// A query pair's key, percent-decoded.
fn key_of(pair: &str) -> String {
    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
    percent_decode_str(key).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn build(url: &str) -> Result<PgConfig, PgConfigError> {
        PgConfig::build(url, None, None)
    }

    #[test]
    fn ssl_settings_are_taken_out_of_the_url() {
        let p = UrlParts::split(
            "postgres://u:p%40ss@h1:5432,h2:5433/db?target_session_attrs=read-write&sslmode=verify-full&ssl%72ootcert=%2Fa%20b.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(p.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(p.sslrootcert.as_deref(), Some("/a b.pem"));
        assert_eq!(
            p.for_client(),
            "postgres://u:p%40ss@h1:5432,h2:5433/db?target_session_attrs=read-write&connect_timeout=3"
        );
        assert_eq!(
            p.redacted(),
            "postgres://u:***@h1:5432,h2:5433/db?target_session_attrs=read-write&sslmode=verify-full&ssl%72ootcert=%2Fa%20b.pem&connect_timeout=3"
        );
        let c = build("postgresql://u@h/db?password=hunter2&sslmode=disable").unwrap();
        assert_eq!(
            c.redacted_url(),
            "postgresql://u@h/db?password=***&sslmode=disable"
        );
        assert_eq!(c.config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(c.config.get_password(), Some(&b"hunter2"[..]));
        assert_eq!(
            c.config.get_connect_timeout(),
            Some(&DEFAULT_CONNECT_TIMEOUT)
        );
        let c = build("postgres://h/db?connect_timeout=2").unwrap();
        assert_eq!(
            c.config.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
        assert_eq!(c.config.get_application_name(), Some("signet"));
    }

    #[test]
    fn the_password_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        for (c, source) in [
            (build("postgres://u:in-url@h/db").unwrap(), "Url"),
            (
                PgConfig::build(
                    "postgres://u:in-url@h/db",
                    Some(file.as_path()),
                    Some(b"env".to_vec()),
                )
                .unwrap(),
                "File",
            ),
            (
                PgConfig::build("postgres://u:in-url@h/db", None, Some(b"from-env".to_vec()))
                    .unwrap(),
                "Environment",
            ),
        ] {
            let shown = format!("{c:?} {}", c.redacted_url());
            assert!(
                !shown.contains("in-url") && !shown.contains("from-"),
                "{shown}"
            );
            assert!(shown.contains(source), "{shown}");
        }
        // The file wins over the environment, which wins over the URL.
        let c = PgConfig::build(
            "postgres://u:in-url@h/db",
            Some(file.as_path()),
            Some(b"e".to_vec()),
        );
        assert_eq!(c.unwrap().config.get_password(), Some(&b"from-file"[..]));
        let c = PgConfig::build("postgres://u:in-url@h/db", None, Some(b"e".to_vec()));
        assert_eq!(c.unwrap().config.get_password(), Some(&b"e"[..]));

        std::fs::write(&file, "\n").unwrap();
        let e = PgConfig::build("postgres://u@h/db", Some(file.as_path()), None).unwrap_err();
        assert!(matches!(e, PgConfigError::PasswordFile { .. }), "{e}");
        let e = PgConfig::build("postgres://u@h/db", Some(&dir.path().join("no")), None);
        assert!(matches!(e, Err(PgConfigError::PasswordFile { .. })));
    }

    #[test]
    fn unauthenticated_or_contradictory_tls_is_refused() {
        let cases = [
            ("?sslmode=require", "needs sslrootcert"),
            ("?sslmode=verify-full", "needs sslrootcert"),
            ("?sslmode=verify-ca&sslrootcert=/x", "not supported"),
            ("?sslmode=prefer&sslrootcert=/x", "does not use it"),
            ("?sslmode=disable&sslrootcert=/x", "does not use it"),
            ("?sslrootcert=system", "system"),
            ("?sslmode=bogus", "not supported"),
            (
                "?sslmode=verify-full&sslrootcert=/nonexistent.pem",
                "/nonexistent.pem",
            ),
            ("?bogus=1", "unknown option"),
        ];
        for (query, expected) in cases {
            let e = build(&format!("postgres://u:secret@h/db{query}")).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(expected), "{query}: {text}");
            assert!(!text.contains("secret"), "{query}: {text}");
        }
        assert!(matches!(
            build("host=h user=u"),
            Err(PgConfigError::NotAUrl)
        ));
        for query in ["", "?sslmode=disable", "?sslmode=prefer", "?sslmode=allow"] {
            let c = build(&format!("postgres://h/db{query}")).unwrap();
            assert!(c.tls.is_none(), "{query}");
            assert_eq!(c.config.get_ssl_mode(), SslMode::Disable);
        }
    }
}
