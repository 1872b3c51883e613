//! `signet.toml`: the schema and the commented template `signet init` writes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    #[serde(default)]
    pub security: SecurityConfig,
    /// TLS client certificates mapped to identities.
    #[serde(rename = "identity", default)]
    pub identities: Vec<IdentityConfig>,
    #[serde(rename = "ca", default)]
    pub cas: Vec<CaConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// AD CS `RoleSeparationEnabled`: no identity may be both admin and manager.
    pub role_separation: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            role_separation: true,
        }
    }
}

/// One `[[identity]]`: a TLS client certificate (by exact subject or by one SAN) and the
/// identity it authenticates as.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    pub name: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub cas: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub san: Option<String>,
}

/// `[server.tls]`: an HTTPS listener beside the plain one, accepting client certificates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub listen: String,
    /// The server certificate chain (PEM) and its private key (PKCS#8 PEM).
    pub certificate: String,
    pub key: String,
    /// CA certificates whose client certificates are accepted (PEM); default: this server's
    /// own CA certificates.
    #[serde(default)]
    pub client_ca: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    pub host: String,
    pub database: String,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub tls: Option<TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            host: "localhost".into(),
            database: "signet.db".into(),
            max_body_bytes: 64 * 1024,
            workers: 0,
            tls: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub format: String,
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// One `[[ca]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaConfig {
    pub name: String,
    pub key: String,
    pub certificate: String,
    pub policy: toml::Value,
    #[serde(rename = "exit", default)]
    pub exits: Vec<toml::Table>,
}

impl Config {
    /// Reads and checks `DIR/signet.toml`.
    pub fn load(data: &Path) -> Result<Config> {
        let path = data.join("signet.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (run `signet init` first?)", path.display()))?;
        let config: Config =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if config.cas.is_empty() {
            bail!("{} configures no CA ([[ca]] tables)", path.display());
        }
        Ok(config)
    }

    pub fn resolve(data: &Path, p: &str) -> PathBuf {
        if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            data.join(p)
        }
    }
}

/// What `signet init` puts in the template.
pub struct Template<'a> {
    pub ca: &'a str,
    pub domains: &'a [String],
    pub listen: &'a str,
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

impl Template<'_> {
    /// The commented configuration, every option shown.
    pub fn render(&self) -> String {
        let ca = self.ca;
        let domains = toml_list(self.domains);
        format!(
            r#"# Signet configuration, written by `signet init`. Every option is shown; edit and
# restart `signet serve` to apply. Relative paths are relative to this directory.

[server]
# Address the HTTP API listens on (`signet serve --listen` overrides it).
listen = "{listen}"
# The host part of config strings (`host/CAName`, AD CS ICertConfig::GetConfig).
host = "localhost"
# The SQLite database (WAL, synchronous=FULL).
database = "signet.db"
# Largest request body accepted, in bytes; larger bodies get 413.
max_body_bytes = 65536
# Worker threads for CSR checks, policy and signing; 0 = one per CPU core.
workers = 0

# An HTTPS listener beside the plain one; clients may authenticate with a certificate
# (mapped by [[identity]] below) or with an API token. Uncomment to use:
# [server.tls]
# listen = "127.0.0.1:8443"
# certificate = "tls/server.pem"    # chain, PEM
# key = "tls/server.key"            # PKCS#8 PEM
# client_ca = "tls/clients.pem"     # default: this server's CA certificates

[security]
# AD CS RoleSeparationEnabled: no identity may hold both the admin and manager roles (an
# identity that does may do nothing). Turn off only for a one-person test installation.
role_separation = true

# TLS client certificates mapped to identities (by exact subject, or by one SAN written
# dns:, email:, uri: or ip:). Roles: admin, manager, auditor, requester; `cas` limits them.
# [[identity]]
# name = "alice"
# subject = "CN=alice,O=Example"
# roles = ["manager"]
# cas = ["{ca}"]

[logging]
# "text" or "json" (one JSON object per line). Keys and tokens are never logged.
format = "text"
# A tracing filter: "info", "debug", "signet=debug,info", ... (RUST_LOG overrides it).
level = "info"

[[ca]]
name = "{ca}"
# The CA key: an encrypted PKCS#8 PEM (PBES2) unless the CA was made with --dev.
# Its passphrase comes from --passphrase-file or SIGNET_PASSPHRASE at `signet serve`.
key = "ca/{ca}/key.pem"
certificate = "ca/{ca}/cert.pem"

# The policy module (AD CS ICertPolicy). Built in: "profiles".
[ca.policy]
module = "profiles"
# The profile used when a request names none.
default_profile = "server"

# A profile is an AD CS certificate template. Options:
#   approval            "auto" (issue at once) or "manual" (pending until a manager approves)
#   validity_days       certificate lifetime (never beyond the CA certificate's notAfter)
#   key_algorithms      allowed subject keys: "p256", "p384", "ed25519", "rsa", "mldsa65"
#   rsa_min_bits        smallest RSA modulus accepted (default 2048)
#   subject_attributes  subject attribute types copied from the request; any other is refused
#   common_name_as_dns  the CN must be an allowed host name; it is added to the SANs
#   require_san         refuse requests that end up without a subjectAltName
#   dns_suffixes        DNS names allowed: equal to a suffix or below it
#   allow_wildcards     allow "*.name" DNS names
#   ip_ranges           IP addresses allowed, as CIDR ranges
#   email_domains       e-mail SANs allowed by domain
#   uri_prefixes        URI SANs allowed by prefix
#   max_sans            most subjectAltNames in one certificate (default 100)
#   key_usage           digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment,
#                       keyAgreement (the encipherment bits are applied to RSA keys only)
#   extended_key_usage  serverAuth, clientAuth, codeSigning, emailProtection, timeStamping,
#                       OCSPSigning, or dotted OIDs
#   anonymous           allow requests without credentials (default false; never with
#                       approval = "auto" and clientAuth)
#   enroll              identity names / "group:NAME" that may enroll (default: any identity
#                       with the requester role)
#   approvals           with approval = "manual": distinct managers who must approve (M of N)
# A request naming anything a profile does not allow is denied with a message naming it.
[ca.policy.profiles.server]
description = "TLS server certificates, issued at once"
approval = "auto"
validity_days = 90
key_algorithms = ["p256", "p384", "rsa"]
rsa_min_bits = 2048
subject_attributes = ["CN"]
common_name_as_dns = true
require_san = true
dns_suffixes = {domains}
allow_wildcards = false
ip_ranges = ["127.0.0.0/8", "::1/128"]
email_domains = []
uri_prefixes = []
max_sans = 100
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["serverAuth"]

[ca.policy.profiles.manual]
description = "TLS server and client certificates, issued after a certificate manager approves"
approval = "manual"
validity_days = 365
key_algorithms = ["p256", "p384", "ed25519", "rsa"]
rsa_min_bits = 2048
subject_attributes = ["CN", "O", "OU", "C"]
common_name_as_dns = false
require_san = false
dns_suffixes = {domains}
allow_wildcards = false
ip_ranges = ["127.0.0.0/8", "::1/128"]
email_domains = []
uri_prefixes = []
max_sans = 100
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["serverAuth", "clientAuth"]
approvals = 1

# Exit modules (AD CS ICertExit), notified of the events they ask for, at least once and
# in order, from a durable outbox. `events` takes: all, Issued, Pending, Denied, Revoked,
# RetrievePending, CrlIssued, Shutdown, Startup, Imported.
[[ca.exit]]
name = "log"
module = "log"
events = ["all"]

# The `file` module writes <serial>.pem for each issued certificate and a JSON record of
# every event it receives under `directory`/events/ (each file fsynced). Uncomment to use:
# [[ca.exit]]
# name = "archive"
# module = "file"
# directory = "exits/{ca}"
# events = ["Issued", "Pending", "Denied", "RetrievePending", "Startup", "Shutdown"]
"#,
            listen = self.listen,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_builds_its_modules() {
        let domains = vec!["example.com".to_string()];
        let text = Template {
            ca: "demo",
            domains: &domains,
            listen: "127.0.0.1:0",
        }
        .render();
        let config: Config = toml::from_str(&text).expect("template parses");
        assert_eq!(config.cas.len(), 1);
        let ca = &config.cas[0];
        let module = ca
            .policy
            .get("module")
            .and_then(|m| m.as_str())
            .expect("module");
        signet_modules::build_policy(module, &ca.policy).expect("policy builds");
        assert_eq!(ca.exits.len(), 1);
    }
}
