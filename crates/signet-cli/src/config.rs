//! `signet.toml`: the schema (the commented template `signet init` writes is in `template`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
pub use signet_policy::DurationSetting;
pub use template::{Template, toml_string};

mod template;

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
    /// Requests one identity may submit to one CA per minute; 0: no limit.
    pub requests_per_minute: u32,
    /// Requests all anonymous callers together may submit to one CA per minute; 0: no limit.
    pub anonymous_requests_per_minute: u32,
    /// Pending requests one requester may have waiting on one CA; 0: no limit.
    pub pending_per_requester: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        let limits = signet_core::Limits::default();
        SecurityConfig {
            role_separation: true,
            requests_per_minute: limits.requests_per_minute,
            anonymous_requests_per_minute: limits.anonymous_requests_per_minute,
            pending_per_requester: limits.pending_per_requester,
        }
    }
}

impl SecurityConfig {
    /// The engine's limits.
    pub fn limits(&self) -> signet_core::Limits {
        signet_core::Limits {
            requests_per_minute: self.requests_per_minute,
            anonymous_requests_per_minute: self.anonymous_requests_per_minute,
            pending_per_requester: self.pending_per_requester,
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
    /// A SQLite file, or a `postgres://` URL (see [`Config::database`]).
    pub database: String,
    /// The PostgreSQL password, in a file (never in `signet.toml`).
    pub database_password_file: Option<String>,
    pub max_body_bytes: usize,
    /// `/healthz` answers 503 when the SQLite database's file system has less free space
    /// than this, before a full disk refuses writes.
    pub min_free_disk_bytes: u64,
    pub workers: usize,
    /// The public base URL relying parties reach this server at (CDP, AIA, IDP URLs).
    pub public_url: Option<String>,
    pub tls: Option<TlsConfig>,
    pub web: WebConfig,
    /// Sign a checkpoint of the audit chain head this often (when records were appended)...
    pub audit_checkpoint: DurationSetting,
    /// ... or after this many records, whichever comes first; and always at shutdown.
    pub audit_checkpoint_records: u64,
    /// How often this node brings what it keeps in memory (API tokens, CRLs, the OCSP
    /// responder certificate and cached answers) up to what other nodes sharing the database
    /// wrote: the bound on how stale a node may be (see `signet_core::cluster`).
    pub cluster_sync: DurationSetting,
    /// How far the clock may fall behind the newest time on record (a certificate's
    /// issuance, a CRL's thisUpdate, an audit record) before the CA signs nothing:
    /// `/healthz` answers 503 until the clock is corrected (see `signet_core::time_mark`).
    pub max_clock_regression: DurationSetting,
    /// Who may read `/metrics`.
    pub metrics: MetricsToml,
    pub limits: LimitsConfig,
}

/// `[server] metrics`: who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsToml {
    /// Anyone (Prometheus scrapes without credentials).
    Public,
    /// A caller with the auditor or admin role on every CA (`Authorization: Bearer`).
    Token,
    /// Not served.
    Off,
}

/// `[server.limits]`: what every listener (plain and TLS) allows one connection and one
/// client address. Durations are whole seconds, written `10s`, `2m` or as a number of
/// seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// From a new connection, or the first byte of a request, to the end of its head (and
    /// the TLS handshake).
    pub header_timeout: DurationSetting,
    /// How long a kept-alive connection may wait for the next request.
    pub keepalive_timeout: DurationSetting,
    /// How long the server waits for the next piece of a request body, or for the client
    /// to take the next piece of a response.
    pub idle_timeout: DurationSetting,
    /// Open connections, all listeners together (capped below the process's descriptor
    /// limit at start).
    pub max_connections: usize,
    /// Open connections from one client address (IPv6: one /64).
    pub max_connections_per_address: usize,
    /// Of `max_connections`, the last slots, kept for OCSP, CRLs, CA certificates and
    /// `/healthz`.
    pub reserved_connections: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_timeout: "10s".into(),
            keepalive_timeout: "15s".into(),
            idle_timeout: "30s".into(),
            max_connections: 4096,
            max_connections_per_address: 256,
            reserved_connections: 64,
        }
    }
}

/// `[server.web]`: the enrollment pages and the console.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serve the web pages at all (the REST API is served either way).
    pub enabled: bool,
    /// Sign a browser out after this many minutes without a request.
    pub idle_minutes: u64,
    /// Sign a browser out this many hours after signing in, however active.
    pub session_hours: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            idle_minutes: 30,
            session_hours: 8,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            host: "localhost".into(),
            database: "signet.db".into(),
            database_password_file: None,
            max_body_bytes: 64 * 1024,
            min_free_disk_bytes: 64 * 1024 * 1024,
            workers: 0,
            public_url: None,
            tls: None,
            web: WebConfig::default(),
            audit_checkpoint: "5m".into(),
            audit_checkpoint_records: 1000,
            cluster_sync: "1s".into(),
            max_clock_regression: "5m".into(),
            metrics: MetricsToml::Public,
            limits: LimitsConfig::default(),
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
    /// The key file or PKCS#11 URI; empty (absent) for an offline CA.
    #[serde(default)]
    pub key: String,
    /// An offline CA (`signet ca create --self-signed`): `signet serve` loads no key for it
    /// and signs nothing with it; `signet ca sign --offline` signs its sub-CA certificates
    /// and CRLs where the key is, and the server publishes the newest CRL stored.
    #[serde(default)]
    pub offline: bool,
    pub certificate: String,
    /// An RSA CA key signs RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) instead of
    /// PKCS#1 v1.5.
    #[serde(default)]
    pub rsa_pss: bool,
    /// AD CS key index of `key`: 0 until the CA is renewed with a new key
    /// (`signet ca renew --new-key` sets it).
    #[serde(default)]
    pub key_index: u32,
    /// AD CS certificate index of `certificate`: 0 until the CA is renewed.
    #[serde(default)]
    pub cert_index: u32,
    /// `[[ca.retired]]`: the CA's earlier keys, which sign the CRLs and OCSP responses of
    /// what they issued until their certificates expire.
    #[serde(default)]
    pub retired: Vec<RetiredKeyToml>,
    /// Cross certificates (PEM files) of a root renewed with a new key, served at
    /// `/api/v1/cas/{ca}/cross-certificates`.
    #[serde(default)]
    pub cross_certificates: Vec<String>,
    /// `[ca.policy]`; none for an offline CA, which takes no requests.
    #[serde(default = "no_policy")]
    pub policy: toml::Value,
    #[serde(rename = "exit", default)]
    pub exits: Vec<toml::Table>,
    #[serde(default)]
    pub revocation: RevocationToml,
    /// `[ca.acme]`: the ACME server of this CA (off unless `enabled = true`).
    #[serde(default)]
    pub acme: Option<AcmeToml>,
    /// `[ca.scep]`: SCEP (RFC 8894) for devices (off unless `enabled = true`).
    #[serde(default)]
    pub scep: Option<ScepToml>,
    /// `[ca.est]`: EST (RFC 7030) on the HTTPS listener (off unless `enabled = true`).
    #[serde(default)]
    pub est: Option<EstToml>,
    /// `[ca.cmp]`: CMP (RFC 9483) at `/cmp/{ca}` (off unless `enabled = true`).
    #[serde(default)]
    pub cmp: Option<CmpToml>,
}

/// An absent `[ca.policy]`: an empty table (`signet serve` asks for its `module` unless the
/// CA is offline).
fn no_policy() -> toml::Value {
    toml::Value::Table(toml::Table::new())
}

/// One `[[ca.retired]]` table: an earlier key of a CA and its newest certificate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredKeyToml {
    pub key_index: u32,
    /// A key file (relative to the data directory) or a PKCS#11 URI, as `[[ca]] key`.
    pub key: String,
    /// The key's newest CA certificate (PEM; the first certificate of the file).
    pub certificate: String,
    #[serde(default)]
    pub rsa_pss: bool,
}

impl CaConfig {
    /// Checks what depends on `offline`: an online CA names its key; an offline one names
    /// none and runs no enrollment protocol (nothing here could sign for it).
    pub fn check_offline(&self) -> Result<()> {
        let name = &self.name;
        match (self.offline, self.key.is_empty()) {
            (false, true) => bail!("CA {name}: `key` is required (or `offline = true`)"),
            (true, false) => bail!(
                "CA {name}: an offline CA names no `key` (its key is not on this server; `signet ca sign --offline` is given it)"
            ),
            _ => {}
        }
        if self.offline {
            let protocols = [
                ("acme", self.acme.as_ref().is_some_and(|a| a.enabled)),
                ("scep", self.scep.as_ref().is_some_and(|a| a.enabled)),
                ("est", self.est.as_ref().is_some_and(|a| a.enabled)),
                ("cmp", self.cmp.as_ref().is_some_and(|a| a.enabled)),
            ];
            if let Some((p, _)) = protocols.iter().find(|(_, on)| *on) {
                bail!("CA {name}: an offline CA takes no requests: [ca.{p}] cannot be enabled");
            }
            if !self.retired.is_empty() {
                bail!("CA {name}: an offline CA with [[ca.retired]] keys is not supported yet");
            }
        }
        Ok(())
    }

    /// The profile table of the `profiles` policy module: `[ca.policy.profiles]`, or that of
    /// a `profiles` module inside a `chain`. `None` for other modules.
    pub fn profiles(&self) -> Option<&toml::Table> {
        if let Some(t) = self.policy.get("profiles").and_then(|p| p.as_table()) {
            return Some(t);
        }
        self.policy
            .get("chain")?
            .as_array()?
            .iter()
            .find_map(|m| m.get("profiles")?.as_table())
    }

    /// The profile a front end's requests go to: `given`, else the policy's
    /// `default_profile`; when the policy has a profile table, it must be one of its
    /// profiles.
    pub fn front_end_profile(&self, given: Option<&str>) -> anyhow::Result<String> {
        let profile = given
            .or_else(|| self.policy.get("default_profile").and_then(|d| d.as_str()))
            .ok_or_else(|| anyhow::anyhow!("name the `profile` its requests go to"))?;
        if let Some(table) = self.profiles()
            && !table.contains_key(profile)
        {
            anyhow::bail!(
                "profile {profile:?} is not a profile of [ca.policy] (known: {})",
                table.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(profile.to_owned())
    }
}

/// `[ca.scep]`: SCEP (RFC 8894) for this CA at `{public_url}/scep/{ca}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScepToml {
    pub enabled: bool,
    /// The profile every SCEP request goes to.
    pub profile: Option<String>,
    /// A static challenge password accepted besides the one-time ones (`signet doctor`
    /// flags it: anyone who learns it enrolls until it is changed).
    pub challenge: Option<String>,
    /// `"signet"`: Signet checks the challenge (one-time or static) and refuses a wrong one;
    /// `"policy"`: the challenge goes to the policy module as the `challengePassword`
    /// attribute, which decides (an external system's dynamic challenges).
    pub challenge_check: ChallengeCheck,
    /// Accept SHA-1 signatures and DES / 3DES envelopes (what micromdm's scepclient and many
    /// older devices send). Off: such requests get FAILURE badAlg.
    pub legacy_crypto: bool,
    /// The RA certificate's lifetime; it is renewed when a third of it is left.
    pub ra_validity: DurationSetting,
}

impl Default for ScepToml {
    fn default() -> Self {
        ScepToml {
            enabled: false,
            profile: None,
            challenge: None,
            challenge_check: ChallengeCheck::Signet,
            legacy_crypto: true,
            ra_validity: DurationSetting::Text("365d".into()),
        }
    }
}

/// Who decides whether a SCEP challenge password is good.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChallengeCheck {
    Signet,
    Policy,
}

/// `[ca.est]`: EST (RFC 7030) for this CA at `{public_url}/.well-known/est/{ca}/` on the
/// HTTPS listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EstToml {
    pub enabled: bool,
    /// The profile every EST request goes to.
    pub profile: Option<String>,
    /// The realm of the `WWW-Authenticate: Basic` challenge.
    pub realm: String,
    /// `serverkeygen`: the CA generates the key (RFC 7030 §4.4). Off by default.
    pub serverkeygen: bool,
    /// `simplereenroll` may change the subject or SANs of the certificate it renews.
    pub reenroll_may_change_names: bool,
    /// The `Retry-After` of a 202 answer (a request waiting for a manager), whole seconds.
    pub retry_after: DurationSetting,
}

impl Default for EstToml {
    fn default() -> Self {
        EstToml {
            enabled: false,
            profile: None,
            realm: "signet".into(),
            serverkeygen: false,
            reenroll_may_change_names: false,
            retry_after: DurationSetting::Text("60s".into()),
        }
    }
}

/// `[ca.cmp]`: CMP (RFC 4210 / RFC 9483 Lightweight CMP) at `{public_url}/cmp/{ca}` and
/// `/.well-known/cmp/p/{ca}`, on both listeners (CMP protects its own messages).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmpToml {
    pub enabled: bool,
    /// The profile every CMP request goes to (default: the policy's `default_profile`).
    pub profile: Option<String>,
    /// Grant implicitConfirm when a client asks for it; else every certificate waits for
    /// the client's certConf.
    pub implicit_confirm: bool,
    /// How long an issued certificate waits for certConf before it is revoked.
    pub confirm_wait: DurationSetting,
    /// The checkAfter of a pollRep (a request waiting for a manager).
    pub check_after: DurationSetting,
    /// The validity of the CMP responder certificate (renewed when a third is left).
    pub responder_validity: DurationSetting,
}

impl Default for CmpToml {
    fn default() -> Self {
        CmpToml {
            enabled: false,
            profile: None,
            implicit_confirm: true,
            confirm_wait: DurationSetting::Text("300s".into()),
            check_after: DurationSetting::Text("10s".into()),
            responder_validity: DurationSetting::Text("365d".into()),
        }
    }
}

/// `[ca.acme]`: ACME (RFC 8555) for this CA at `{public_url}/acme/{ca}/directory`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeToml {
    pub enabled: bool,
    /// The profiles offered over ACME; default: every profile with `approval = "auto"`.
    pub profiles: Option<Vec<String>>,
    /// Default: the policy's default profile if offered, else the first offered.
    pub default_profile: Option<String>,
    /// `newAccount` needs an External Account Binding (`signet admin acme eab create`).
    pub eab: bool,
    /// Where http-01 and tls-alpn-01 validation connect.
    pub http01_port: u16,
    pub tlsalpn01_port: u16,
    /// DNS servers (`host:port`) for validation and CAA; default: the system's.
    pub dns_resolvers: Vec<String>,
    /// Check CAA (RFC 8659) for DNS identifiers.
    pub caa: bool,
    /// CAA issuer domain names meaning this CA; default: the host of `public_url`.
    pub caa_identities: Vec<String>,
    /// Validation targets allowed (CIDR); an explicit range lifts the default denial of
    /// loopback and link-local addresses for that range.
    pub allowed_ranges: Vec<String>,
    /// Validation targets refused (CIDR); default: loopback, link-local, multicast,
    /// unspecified.
    pub denied_ranges: Option<Vec<String>>,
    /// How long a valid authorization is kept and reused by new orders of the account.
    pub authz_reuse: DurationSetting,
    /// RFC 9773: the renewal window opens when this percentage of the lifetime is left.
    pub renew_before_percent: u8,
    /// New orders per account per hour; pending authorizations per account; new orders
    /// per registered domain per hour (per node). 0: no limit.
    pub orders_per_account_per_hour: u32,
    pub pending_authzs_per_account: u32,
    pub orders_per_domain_per_hour: u32,
    /// Shown as `meta.termsOfService`; when set, new accounts must agree to it.
    pub terms_of_service: Option<String>,
}

impl Default for AcmeToml {
    fn default() -> Self {
        AcmeToml {
            enabled: false,
            profiles: None,
            default_profile: None,
            eab: false,
            http01_port: 80,
            tlsalpn01_port: 443,
            dns_resolvers: Vec::new(),
            caa: true,
            caa_identities: Vec::new(),
            allowed_ranges: Vec::new(),
            denied_ranges: None,
            authz_reuse: DurationSetting::Text("30d".into()),
            renew_before_percent: 33,
            orders_per_account_per_hour: 300,
            pending_authzs_per_account: 1000,
            orders_per_domain_per_hour: 300,
            terms_of_service: None,
        }
    }
}

/// `[ca.revocation]`: CRL publication and OCSP. Durations are whole seconds, written `90s`,
/// `30m`, `12h`, `7d` or as a number of seconds (`DurationSetting`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationToml {
    /// Overrides `[server] public_url` for this CA.
    pub public_url: Option<String>,
    pub partitions: u32,
    pub crl_period: DurationSetting,
    pub crl_overlap: DurationSetting,
    /// `0s` turns delta CRLs off.
    pub delta_period: DurationSetting,
    pub delta_overlap: DurationSetting,
    pub keep_expired: DurationSetting,
    pub ocsp_validity: DurationSetting,
    /// `delegated` or `ca`.
    pub ocsp_signer: String,
    pub ocsp_responder_validity: DurationSetting,
}

impl Default for RevocationToml {
    fn default() -> Self {
        RevocationToml {
            public_url: None,
            partitions: 0,
            crl_period: "7d".into(),
            crl_overlap: "1d".into(),
            delta_period: "1h".into(),
            delta_overlap: "10m".into(),
            keep_expired: "0s".into(),
            ocsp_validity: "1d".into(),
            ocsp_signer: "delegated".into(),
            ocsp_responder_validity: "7d".into(),
        }
    }
}

impl RevocationToml {
    /// The engine's settings, with `public_url` from `[server]` unless overridden.
    pub fn to_config(
        &self,
        server_url: Option<&str>,
    ) -> Result<signet_core::revocation::RevocationConfig> {
        use signet_core::revocation::{ResponderMode, RevocationConfig};
        // Certificates, CRLs and OCSP responses count whole seconds.
        let d = |field: &str, v: &DurationSetting| {
            v.whole_seconds()
                .with_context(|| format!("[ca.revocation] {field}"))
        };
        let delta = d("delta_period", &self.delta_period)?;
        Ok(RevocationConfig {
            base_url: self
                .public_url
                .as_deref()
                .or(server_url)
                .map(|u| u.trim_end_matches('/').to_string()),
            partitions: self.partitions,
            crl_period: d("crl_period", &self.crl_period)?,
            crl_overlap: d("crl_overlap", &self.crl_overlap)?,
            delta_period: (!delta.is_zero()).then_some(delta),
            delta_overlap: d("delta_overlap", &self.delta_overlap)?,
            keep_expired: d("keep_expired", &self.keep_expired)?,
            ocsp_validity: d("ocsp_validity", &self.ocsp_validity)?,
            responder: match self.ocsp_signer.as_str() {
                "delegated" => ResponderMode::Delegated,
                "ca" => ResponderMode::Ca,
                other => bail!(
                    "[ca.revocation] ocsp_signer = {other:?}: expected \"delegated\" or \"ca\""
                ),
            },
            responder_validity: d("ocsp_responder_validity", &self.ocsp_responder_validity)?,
        })
    }
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
        for ca in &config.cas {
            ca.check_offline()
                .with_context(|| format!("checking {}", path.display()))?;
        }
        Ok(config)
    }

    /// Where the records live: `[server] database`, a SQLite file (relative to the data
    /// directory) or a `postgres://` URL, whose password comes from
    /// `[server] database_password_file`, else the environment (`SIGNET_DATABASE_PASSWORD`).
    pub fn database(&self, data: &Path) -> Result<signet_store::Database> {
        database(
            data,
            &self.server.database,
            self.server.database_password_file.as_deref(),
        )
    }

    pub fn resolve(data: &Path, p: &str) -> PathBuf {
        if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            data.join(p)
        }
    }
}

/// A `[server] database` setting as the store opens it (see [`Config::database`]).
pub fn database(
    data: &Path,
    setting: &str,
    password_file: Option<&str>,
) -> Result<signet_store::Database> {
    if setting.starts_with("postgres://") || setting.starts_with("postgresql://") {
        let password_file = password_file.map(|f| Config::resolve(data, f));
        let config = signet_store::PgConfig::new(setting, password_file.as_deref())
            .map_err(|e| anyhow::anyhow!("[server] database: {e}"))?;
        return Ok(signet_store::Database::Postgres(Box::new(config)));
    }
    if password_file.is_some() {
        bail!("[server] database_password_file is only for a postgres:// database");
    }
    Ok(signet_store::Database::Sqlite(Config::resolve(
        data, setting,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_builds_its_modules() {
        let domains = vec!["example.com".to_string()];
        for acme in [false, true] {
            let text = Template {
                ca: "demo",
                domains: &domains,
                listen: "127.0.0.1:0",
                acme,
                database: "signet.db",
                database_password_file: None,
                key_uri: None,
                rsa_pss: false,
            }
            .render();
            let config: Config = toml::from_str(&text).expect("template parses");
            assert_eq!(
                config.cas[0].acme.as_ref().is_some_and(|a| a.enabled),
                acme,
                "[ca.acme] is enabled exactly with --dev"
            );
        }
        let text = Template {
            ca: "demo",
            domains: &domains,
            listen: "127.0.0.1:0",
            acme: false,
            database: "signet.db",
            database_password_file: None,
            key_uri: None,
            rsa_pss: false,
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
        crate::modules::build_policy(module, &ca.policy, std::path::Path::new("."))
            .expect("policy builds");
        assert_eq!(ca.exits.len(), 1);
    }

    #[test]
    fn durations_keep_their_old_spellings_and_refuse_what_a_key_cannot_use() {
        let revocation = |text: &str| toml::from_str::<RevocationToml>(text).expect("parses");
        let config = revocation(
            "crl_period = \"7d\"\ncrl_overlap = \"12h\"\ndelta_period = \"30m\"\ndelta_overlap = \"90s\"\nocsp_validity = 86400",
        )
        .to_config(None)
        .expect("loads");
        let secs = std::time::Duration::from_secs;
        assert_eq!(config.crl_period, secs(604_800));
        assert_eq!(config.crl_overlap, secs(43_200));
        assert_eq!(config.delta_period, Some(secs(1800)));
        assert_eq!(config.delta_overlap, secs(90));
        assert_eq!(config.ocsp_validity, secs(86_400));

        // The grammar has milliseconds; a CRL period does not.
        let e = revocation("crl_period = \"250ms\"")
            .to_config(None)
            .expect_err("sub-second");
        assert_eq!(
            format!("{e:#}"),
            "[ca.revocation] crl_period: \"250ms\" is not a whole number of seconds: write seconds or more, e.g. \"1s\""
        );
        let e = revocation("crl_period = \"7 days\"")
            .to_config(None)
            .expect_err("not a duration");
        assert!(
            format!("{e:#}").contains("write a number and one unit"),
            "{e:#}"
        );

        let limits: LimitsConfig =
            toml::from_str("header_timeout = \"10s\"\nidle_timeout = 30").expect("parses");
        assert_eq!(limits.header_timeout.whole_seconds(), Ok(secs(10)));
        assert_eq!(limits.idle_timeout.whole_seconds(), Ok(secs(30)));
    }
}
