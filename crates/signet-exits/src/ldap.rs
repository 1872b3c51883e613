//! The `ldap` exit module: publishes issued certificates to the subject's directory entry
//! (`userCertificate;binary`), removes them again on revocation, and publishes CRLs to a
//! CRL distribution point entry (`certificateRevocationList;binary`,
//! `deltaRevocationList;binary`), as AD CS's exit module does with Active Directory.
//!
//! 1. `Issued`: the entry is named by `dn_template` or found by `filter` under `base`
//!    (placeholders filled from the certificate and request, escaped per RFC 4514 / RFC 4515);
//!    the certificate is added as one more value (a redelivery finds it there already).
//! 2. `Revoked` (with `remove_on_revoke`): the value is deleted; a release from hold adds it
//!    back.
//! 3. `CrlIssued` (with `crl_dn`): the CRL the engine hands over in [`ExitCtx::crl`] replaces
//!    the attribute's value.
//!
//! One connection is kept and reused; after any failure it is dropped and the next event
//! reconnects (and binds) first. The bind password is read once at start and never logged.
//! See docs/exits-ldap.md.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry};
use serde::Deserialize;
use signet_core::{BoxFuture, CaInfo, Event, EventMask, Exit, ExitCtx, ModuleError};

use crate::ConfigError;
use signet_policy::DurationSetting;

mod template;

use template::{CertificateValues, Escape, Field, Template};

const MODULE: &str = "ldap";
const USER_CERTIFICATE: &str = "userCertificate;binary";
const CRL_ATTRIBUTE: &str = "certificateRevocationList;binary";
const DELTA_CRL_ATTRIBUTE: &str = "deltaRevocationList;binary";

// LDAP result codes (RFC 4511 appendix A.1) the module treats specially.
const NO_SUCH_ATTRIBUTE: u32 = 16;
const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
const NO_SUCH_OBJECT: u32 = 32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LdapConfig {
    url: String,
    #[serde(default)]
    starttls: bool,
    #[serde(default)]
    bind_dn: Option<String>,
    #[serde(default)]
    password_file: Option<String>,
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    timeout: Option<DurationSetting>,
    #[serde(default)]
    base: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    dn_template: Option<String>,
    #[serde(default)]
    missing_entry: Option<String>,
    #[serde(default)]
    remove_on_revoke: bool,
    #[serde(default)]
    profiles: Option<Vec<String>>,
    #[serde(default)]
    crl_dn: Option<String>,
}

/// What to do when no entry matches a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MissingEntry {
    /// The event is not delivered: it is retried, and later events wait behind it.
    Fail,
    /// The event is acknowledged with a warning.
    Skip,
}

/// How the entry of a certificate is found.
#[derive(Debug)]
enum Locator {
    /// The DN itself, values escaped per RFC 4514.
    Dn(Template),
    /// A subtree search under `base`, values escaped per RFC 4515; exactly one entry must
    /// match.
    Search { base: String, filter: Template },
}

/// The bind credentials. `Debug` leaves the password out.
struct Credentials {
    dn: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("dn", &self.dn)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `ldap`: see the module documentation.
pub struct LdapExit {
    name: String,
    url: String,
    settings: LdapConnSettings,
    timeout: Duration,
    credentials: Option<Credentials>,
    locator: Option<Locator>,
    missing_entry: MissingEntry,
    remove_on_revoke: bool,
    profiles: Option<Vec<String>>,
    crl_dn: Option<Template>,
    connection: tokio::sync::Mutex<Option<Ldap>>,
}

impl LdapExit {
    pub fn from_toml(
        name: &str,
        config: &toml::Value,
        data_dir: &Path,
    ) -> Result<LdapExit, ConfigError> {
        let c: LdapConfig = config
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::new(MODULE, e.message()))?;
        let err = |m: String| ConfigError::new(MODULE, m);
        let tls = if c.url.starts_with("ldaps://") {
            true
        } else if c.url.starts_with("ldap://") {
            false
        } else {
            return Err(err(format!(
                "`url` must start with ldap:// or ldaps://, not {:?}",
                c.url
            )));
        };
        if c.starttls && tls {
            return Err(err(
                "`starttls` is for ldap:// URLs; ldaps:// is TLS already".into(),
            ));
        }
        // At most ten minutes: every operation of a delivery waits this long.
        let timeout = match &c.timeout {
            None => Duration::from_secs(10),
            Some(v) => v
                .within(Duration::from_millis(1), Duration::from_secs(600))
                .map_err(|e| ConfigError::caused(MODULE, "`timeout`", e))?,
        };
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(c.starttls);
        // Without `ca_file`, ldap3 verifies against the system's trust store.
        if let Some(file) = &c.ca_file {
            if !tls && !c.starttls {
                return Err(err(
                    "`ca_file` needs an ldaps:// URL or starttls = true".into()
                ));
            }
            settings = settings.set_config(tls_config(&resolve(data_dir, file))?);
        }
        let credentials = match (c.bind_dn, c.password_file) {
            (None, None) => None,
            (Some(dn), Some(file)) => {
                let path = resolve(data_dir, &file);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    err(format!("cannot read password_file {}: {e}", path.display()))
                })?;
                let password = text.trim_end_matches(['\r', '\n']).to_string();
                // RFC 4513 §5.1.2: a DN with an empty password is an unauthenticated bind,
                // which servers may accept without checking anything.
                if password.is_empty() {
                    return Err(err(format!("password_file {} is empty", path.display())));
                }
                Some(Credentials { dn, password })
            }
            (Some(_), None) => return Err(err("`bind_dn` needs `password_file`".into())),
            (None, Some(_)) => return Err(err("`password_file` needs `bind_dn`".into())),
        };
        let certificate_fields = &[
            Field::CommonName,
            Field::Email,
            Field::Dns,
            Field::Uid,
            Field::Requester,
            Field::Serial,
            Field::Ca,
        ];
        let locator = match (c.dn_template, c.filter, c.base) {
            (None, None, None) => None,
            (Some(dn), None, None) => Some(Locator::Dn(
                Template::parse(&dn, certificate_fields)
                    .map_err(|e| ConfigError::caused(MODULE, "dn_template", e))?,
            )),
            (None, Some(filter), Some(base)) => {
                let filter = Template::parse(&filter, certificate_fields)
                    .map_err(|e| ConfigError::caused(MODULE, "filter", e))?;
                // A filter that does not parse is a configuration error, not a failed
                // delivery: try it with a sample value.
                let sample = filter.render(|_| Some("x".into()), Escape::Filter);
                if let Some(s) = sample
                    && ldap3::parse_filter(&s).is_err()
                {
                    return Err(err(format!("filter {s:?} is not an RFC 4515 filter")));
                }
                Some(Locator::Search { base, filter })
            }
            (None, Some(_), None) => return Err(err("`filter` needs `base`".into())),
            (None, None, Some(_)) => return Err(err("`base` needs `filter`".into())),
            (Some(_), Some(_), _) | (Some(_), None, Some(_)) => {
                return Err(err(
                    "set either `dn_template` or `filter` and `base`, not both".into(),
                ));
            }
        };
        let missing_entry = match c.missing_entry.as_deref() {
            None | Some("fail") => MissingEntry::Fail,
            Some("skip") => MissingEntry::Skip,
            Some(other) => {
                return Err(err(format!(
                    "missing_entry must be \"fail\" or \"skip\", not {other:?}"
                )));
            }
        };
        if locator.is_none() {
            if c.remove_on_revoke {
                return Err(err(
                    "`remove_on_revoke` needs `dn_template` or `filter`".into()
                ));
            }
            if c.missing_entry.is_some() || c.profiles.is_some() {
                return Err(err(
                    "`missing_entry` and `profiles` need `dn_template` or `filter`".into(),
                ));
            }
        }
        let crl_dn = c
            .crl_dn
            .map(|t| Template::parse(&t, &[Field::Ca, Field::Shard]))
            .transpose()
            .map_err(|e| ConfigError::caused(MODULE, "crl_dn", e))?;
        if locator.is_none() && crl_dn.is_none() {
            return Err(err(
                "nothing to publish: set `dn_template` or `filter` (certificates) and/or `crl_dn` (CRLs)"
                    .into(),
            ));
        }
        Ok(LdapExit {
            name: name.to_string(),
            url: c.url,
            settings,
            timeout,
            credentials,
            locator,
            missing_entry,
            remove_on_revoke: c.remove_on_revoke,
            profiles: c.profiles,
            crl_dn,
            connection: tokio::sync::Mutex::new(None),
        })
    }

    fn mask(&self) -> EventMask {
        let mut mask = EventMask::NONE;
        if self.locator.is_some() {
            mask = mask.with(Event::Issued);
        }
        if self.remove_on_revoke {
            mask = mask.with(Event::Revoked);
        }
        if self.crl_dn.is_some() {
            mask = mask.with(Event::CrlIssued);
        }
        mask
    }

    fn error(&self, message: impl Into<String>) -> ModuleError {
        ModuleError::new(&self.name, message)
    }

    /// Handles one event on the kept connection (opening and binding one first if there is
    /// none). Any failure drops the connection, so the retry starts afresh.
    async fn deliver(&self, ctx: &ExitCtx) -> Result<(), ModuleError> {
        // Events with nothing to publish need no connection (the server may be down).
        let wanted = match ctx.event {
            Event::Issued | Event::Revoked => {
                self.locator.is_some() && publishable(ctx, &self.profiles).is_some()
            }
            Event::CrlIssued => self.crl_dn.is_some(),
            _ => false,
        };
        if !wanted {
            return Ok(());
        }
        let mut guard = self.connection.lock().await;
        // A connection the server has closed meanwhile (an idle timeout) is replaced
        // before use rather than failing the event.
        let kept = guard.take().and_then(|mut l| (!l.is_closed()).then_some(l));
        let mut ldap = match kept {
            Some(l) => l,
            None => self.connect().await?,
        };
        let result = self.handle(&mut ldap, ctx).await;
        if result.is_ok() {
            *guard = Some(ldap);
        } else {
            let _ = tokio::time::timeout(self.timeout, ldap.unbind()).await;
        }
        result
    }

    async fn connect(&self) -> Result<Ldap, ModuleError> {
        let (conn, mut ldap) = LdapConnAsync::with_settings(self.settings.clone(), &self.url)
            .await
            .map_err(|e| self.error(format!("connecting to {}: {e}", self.url)))?;
        let name = self.name.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(exit = %name, error = %e, "LDAP connection closed");
            }
        });
        if let Some(c) = &self.credentials {
            ldap.with_timeout(self.timeout)
                .simple_bind(&c.dn, &c.password)
                .await
                .and_then(|r| r.success())
                .map_err(|e| self.error(format!("binding to {} as {}: {e}", self.url, c.dn)))?;
        }
        Ok(ldap)
    }

    async fn handle(&self, ldap: &mut Ldap, ctx: &ExitCtx) -> Result<(), ModuleError> {
        match ctx.event {
            Event::Issued => self.publish_certificate(ldap, ctx, true).await,
            Event::Revoked if self.remove_on_revoke => {
                // A release from hold puts the certificate back.
                let released = serde_json::from_str::<serde_json::Value>(&ctx.details)
                    .ok()
                    .and_then(|d| d.get("released").and_then(serde_json::Value::as_bool))
                    .unwrap_or(false);
                self.publish_certificate(ldap, ctx, released).await
            }
            Event::CrlIssued => self.publish_crl(ldap, ctx).await,
            _ => Ok(()),
        }
    }

    /// Adds (`add`) or removes the certificate of `ctx` at its entry.
    async fn publish_certificate(
        &self,
        ldap: &mut Ldap,
        ctx: &ExitCtx,
        add: bool,
    ) -> Result<(), ModuleError> {
        let (Some(locator), Some(cert)) = (&self.locator, publishable(ctx, &self.profiles)) else {
            return Ok(());
        };
        let serial = cert.serial.to_hex();
        let values = CertificateValues::of(ctx, &cert.der, &serial);
        let dn = match self.locate(ldap, locator, &values).await? {
            Ok(dn) => dn,
            Err(why) => return self.missing(ctx, &serial, add, &why),
        };
        let set = HashSet::from([cert.der.as_slice()]);
        let change = if add {
            Mod::Add(USER_CERTIFICATE.as_bytes(), set)
        } else {
            Mod::Delete(USER_CERTIFICATE.as_bytes(), set)
        };
        let result = ldap
            .with_timeout(self.timeout)
            .modify(&dn, vec![change])
            .await
            .map_err(|e| self.error(format!("modifying {dn}: {e}")))?;
        match result.rc {
            0 => {}
            // At-least-once delivery: the value is already there, or already gone.
            ATTRIBUTE_OR_VALUE_EXISTS if add => {}
            NO_SUCH_ATTRIBUTE if !add => {}
            NO_SUCH_OBJECT => {
                return self.missing(ctx, &serial, add, &NoEntry::NoObject(dn));
            }
            _ => {
                return Err(self.error(format!("modifying {dn}: {}", LdapError::from(result))));
            }
        }
        tracing::info!(
            exit = %self.name, ca = %ctx.ca.name, seq = ctx.seq, %serial, %dn,
            "{}",
            if add { "certificate published to LDAP" } else { "certificate removed from LDAP" }
        );
        Ok(())
    }

    /// The DN of a certificate's entry, `Err(why)` inside `Ok` when there is none.
    async fn locate(
        &self,
        ldap: &mut Ldap,
        locator: &Locator,
        values: &CertificateValues,
    ) -> Result<Result<String, NoEntry>, ModuleError> {
        match locator {
            Locator::Dn(template) => Ok(template
                .render(|f| values.get(f), Escape::Dn)
                .ok_or_else(|| NoEntry::MissingFields(template.missing_fields(|f| values.get(f))))),
            Locator::Search { base, filter } => {
                let Some(rendered) = filter.render(|f| values.get(f), Escape::Filter) else {
                    return Ok(Err(NoEntry::MissingFields(
                        filter.missing_fields(|f| values.get(f)),
                    )));
                };
                let (entries, _) = ldap
                    .with_timeout(self.timeout)
                    .search(base, Scope::Subtree, &rendered, vec!["1.1"])
                    .await
                    .map_err(|e| self.error(format!("searching {base} for {rendered}: {e}")))?
                    .non_error()
                    .map_err(|e| self.error(format!("searching {base} for {rendered}: {e}")))?;
                let mut dns: Vec<String> = entries
                    .into_iter()
                    .map(|e| SearchEntry::construct(e).dn)
                    .collect();
                match dns.len() {
                    0 => Ok(Err(NoEntry::NoMatch {
                        base: base.clone(),
                        filter: rendered,
                    })),
                    1 => Ok(Ok(dns.remove(0))),
                    n => Err(self.error(format!(
                        "{n} entries under {base} match {rendered} ({}, ...): the filter must find one",
                        dns[0]
                    ))),
                }
            }
        }
    }

    /// No entry for a certificate: nothing to remove on revocation; for publishing, fail or
    /// skip as configured.
    fn missing(
        &self,
        ctx: &ExitCtx,
        serial: &str,
        add: bool,
        why: &NoEntry,
    ) -> Result<(), ModuleError> {
        if !add {
            tracing::info!(exit = %self.name, ca = %ctx.ca.name, seq = ctx.seq, %serial, reason = %why, "no LDAP entry to remove the certificate from");
            return Ok(());
        }
        match self.missing_entry {
            MissingEntry::Fail => Err(self.error(format!(
                "certificate {serial} not published: {why} (set missing_entry = \"skip\" to acknowledge such events)"
            ))),
            MissingEntry::Skip => {
                tracing::warn!(exit = %self.name, ca = %ctx.ca.name, seq = ctx.seq, %serial, reason = %why, "certificate not published to LDAP: no entry (missing_entry = \"skip\")");
                Ok(())
            }
        }
    }

    async fn publish_crl(&self, ldap: &mut Ldap, ctx: &ExitCtx) -> Result<(), ModuleError> {
        let Some(template) = &self.crl_dn else {
            return Ok(());
        };
        let Some(crl) = &ctx.crl else {
            // The engine always attaches the CRL; a retry would not change that.
            tracing::warn!(exit = %self.name, ca = %ctx.ca.name, seq = ctx.seq, "CrlIssued event without its CRL; nothing published");
            return Ok(());
        };
        // Without {shard} the entry holds the CA's main CRL only: a partition's CRL written
        // there would replace it.
        if crl.shard != 0 && !template.uses(Field::Shard) {
            tracing::debug!(exit = %self.name, shard = crl.shard, "CRL partition not published: crl_dn has no {{shard}}");
            return Ok(());
        }
        let shard = crl.shard.to_string();
        let values = |f: Field| match f {
            Field::Ca => Some(ctx.ca.name.as_str().to_string()),
            Field::Shard => Some(shard.clone()),
            _ => None,
        };
        let Some(dn) = template.render(values, Escape::Dn) else {
            return Err(self.error("crl_dn has a placeholder without a value"));
        };
        let attribute = if crl.delta_base.is_some() {
            DELTA_CRL_ATTRIBUTE
        } else {
            CRL_ATTRIBUTE
        };
        let result = ldap
            .with_timeout(self.timeout)
            .modify(
                &dn,
                vec![Mod::Replace(
                    attribute.as_bytes(),
                    HashSet::from([crl.der.as_slice()]),
                )],
            )
            .await
            .map_err(|e| self.error(format!("modifying {dn}: {e}")))?;
        if result.rc == NO_SUCH_OBJECT {
            return Err(self.error(format!(
                "CRL {} not published: crl_dn {dn} does not exist",
                crl.number
            )));
        }
        result
            .success()
            .map_err(|e| self.error(format!("modifying {dn}: {e}")))?;
        tracing::info!(exit = %self.name, ca = %ctx.ca.name, seq = ctx.seq, shard = crl.shard, number = crl.number, delta = crl.delta_base.is_some(), %dn, "CRL published to LDAP");
        Ok(())
    }
}

impl Exit for LdapExit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        format!("publishes certificates and CRLs to {}", self.url)
    }
    fn start(&self, _ca: &CaInfo) -> Result<EventMask, ModuleError> {
        Ok(self.mask())
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(self.deliver(ctx))
    }
}

/// The certificate of a request event if it is one to publish: not the CA's own OCSP
/// responder certificate (it has no directory entry), and of one of `profiles` if set.
fn publishable<'a>(
    ctx: &'a ExitCtx,
    profiles: &Option<Vec<String>>,
) -> Option<&'a signet_core::CertificateRecord> {
    let request = ctx.request.as_ref()?;
    if ctx.is_service_certificate() {
        return None;
    }
    if let Some(profiles) = profiles
        && !request
            .profile
            .as_ref()
            .is_some_and(|p| profiles.iter().any(|q| q == p.as_str()))
    {
        return None;
    }
    request.certificate.as_ref()
}

fn resolve(data_dir: &Path, file: &str) -> PathBuf {
    if Path::new(file).is_absolute() {
        file.into()
    } else {
        data_dir.join(file)
    }
}

/// A TLS client configuration that trusts only the certificates in `path` (PEM).
fn tls_config(path: &Path) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let err = |m: String| ConfigError::new(MODULE, m);
    let pem = std::fs::read(path)
        .map_err(|e| err(format!("cannot read ca_file {}: {e}", path.display())))?;
    let certs = signet_x509::pem::decode_all(&pem, "CERTIFICATE")
        .map_err(|e| err(format!("ca_file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(err(format!(
            "ca_file {} holds no CERTIFICATE",
            path.display()
        )));
    }
    let mut roots = rustls::RootCertStore::empty();
    for der in certs {
        roots
            .add(rustls::pki_types::CertificateDer::from(der))
            .map_err(|e| err(format!("ca_file {}: {e}", path.display())))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why a certificate has no entry in the directory: on revocation nothing to remove; on
/// publication a failure or a skip, as `missing_entry` says.
#[derive(Debug, thiserror::Error)]
enum NoEntry {
    /// The certificate lacks a value the DN or filter needs (the text names them).
    #[error("{0}")]
    MissingFields(String),
    #[error("no entry under {base} matches {filter}")]
    NoMatch { base: String, filter: String },
    #[error("no entry {0}")]
    NoObject(String),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn values(f: Field) -> Option<String> {
        match f {
            Field::CommonName => Some("Doe, John (*) #1 ".into()),
            Field::Email => Some("j*)(uid=*@example.test".into()),
            _ => None,
        }
    }

    #[test]
    fn filter_values_are_escaped_per_rfc_4515() {
        let t = Template::parse("(&(objectClass=person)(mail={email}))", &Field::ALL).unwrap();
        assert_eq!(
            t.render(values, Escape::Filter).unwrap(),
            r"(&(objectClass=person)(mail=j\2a\29\28uid=\2a@example.test))"
        );
    }

    #[test]
    fn dn_values_are_escaped_per_rfc_4514() {
        let t =
            Template::parse("cn={common_name},ou=people,dc=example,dc=test", &Field::ALL).unwrap();
        assert_eq!(
            t.render(values, Escape::Dn).unwrap(),
            r"cn=Doe\2c John (*) #1\20,ou=people,dc=example,dc=test"
        );
    }

    #[test]
    fn templates_name_what_is_wrong() {
        let e = Template::parse("(cn={name})", &Field::ALL).unwrap_err();
        assert!(e.to_string().contains("unknown placeholder {name}"), "{e}");
        let e = Template::parse("cn={email},dc=x", &[Field::Ca, Field::Shard]).unwrap_err();
        assert!(e.to_string().contains("cannot be used here"), "{e}");
        assert!(Template::parse("(cn={common_name)", &Field::ALL).is_err());
        assert!(Template::parse("(cn=x})", &Field::ALL).is_err());
        let t = Template::parse("(uid={uid})", &Field::ALL).unwrap();
        assert_eq!(t.render(values, Escape::Filter), None);
        assert!(t.missing_fields(values).contains("{uid}"));
    }

    fn config(extra: &str) -> Result<LdapExit, ConfigError> {
        let text = format!("url = \"ldap://127.0.0.1:389\"\n{extra}");
        let value: toml::Value = toml::from_str(&text).unwrap();
        LdapExit::from_toml("dir", &value, Path::new("/nonexistent"))
    }

    #[test]
    fn configuration_is_checked_at_load() {
        for (extra, expect) in [
            ("", "nothing to publish"),
            (
                "crl_dn = \"cn=x\"\nfrobnicate = 1",
                "unknown field `frobnicate`",
            ),
            ("filter = \"(cn={common_name})\"", "`filter` needs `base`"),
            (
                "dn_template = \"cn={common_name}\"\nfilter = \"(cn=x)\"\nbase = \"dc=x\"",
                "not both",
            ),
            (
                "filter = \"(&(cn={common_name})\"\nbase = \"dc=x\"",
                "not an RFC 4515 filter",
            ),
            (
                "crl_dn = \"cn=x\"\nbind_dn = \"cn=admin\"",
                "needs `password_file`",
            ),
            (
                "crl_dn = \"cn=x\"\nbind_dn = \"cn=a\"\npassword_file = \"pw\"",
                "cannot read password_file",
            ),
            (
                "crl_dn = \"cn=x\"\nstarttls = true\nca_file = \"ca.pem\"",
                "cannot read ca_file",
            ),
            (
                "crl_dn = \"cn=x\"\nremove_on_revoke = true",
                "needs `dn_template`",
            ),
            (
                "dn_template = \"cn={common_name}\"\nmissing_entry = \"ignore\"",
                "\"fail\" or \"skip\"",
            ),
            ("crl_dn = \"cn=x\"\ntimeout = \"10h\"", "timeout"),
        ] {
            let e = config(extra)
                .err()
                .unwrap_or_else(|| panic!("{extra:?} must fail"));
            let e = crate::common::describe(&e);
            assert!(e.contains(expect), "{extra:?}: {e}");
        }
        let ok = config("dn_template = \"cn={common_name},dc=x\"\nremove_on_revoke = true\ncrl_dn = \"cn={ca} {shard},dc=x\"\ntimeout = \"2s\"").unwrap();
        assert_eq!(ok.timeout, Duration::from_secs(2));
        assert_eq!(ok.missing_entry, MissingEntry::Fail);
        // The old spellings of `timeout` still load: whole seconds, a bare number, ms.
        for (timeout, expect) in [
            ("10", Duration::from_secs(10)),
            ("\"10\"", Duration::from_secs(10)),
            ("\"500ms\"", Duration::from_millis(500)),
            ("\"1m\"", Duration::from_secs(60)),
        ] {
            let ok = config(&format!("crl_dn = \"cn=x\"\ntimeout = {timeout}")).unwrap();
            assert_eq!(ok.timeout, expect, "{timeout}");
        }
        let long = config("crl_dn = \"cn=x\"\ntimeout = \"10h\"")
            .err()
            .unwrap();
        let cause = std::error::Error::source(&long).unwrap().to_string();
        assert_eq!(
            cause,
            "\"10h\" is not between 1ms and 10m: write a duration from \"1ms\" to \"10m\""
        );
        let mask = ok.mask();
        for e in [Event::Issued, Event::Revoked, Event::CrlIssued] {
            assert!(mask.contains(e), "{e:?}");
        }
        assert!(!mask.contains(Event::Denied));
    }
}
