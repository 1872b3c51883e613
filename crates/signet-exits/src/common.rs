//! The `log` and `file` exit modules.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use signet_core::{BoxFuture, CaInfo, Event, EventMask, Exit, ExitCtx, ModuleError};

use signet_policy::DurationSetting;

use crate::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonConfig {
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    directory: Option<String>,
}

fn parse_common(module: &str, config: &toml::Value) -> Result<CommonConfig, ConfigError> {
    config
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::new(module, e.message()))
}

pub fn parse_mask(module: &str, events: Option<&Vec<String>>) -> Result<EventMask, ConfigError> {
    match events {
        None => Ok(EventMask::ALL),
        Some(names) => {
            EventMask::from_names(names).map_err(|e| ConfigError::new(module, e.to_string()))
        }
    }
}

/// The JSON record of one event, as the `file` module writes it and the `log` module logs it.
pub fn event_record(ctx: &ExitCtx) -> serde_json::Value {
    let at = unix(ctx.at);
    let details: serde_json::Value =
        serde_json::from_str(&ctx.details).unwrap_or(serde_json::Value::Null);
    let mut record = serde_json::json!({
        "seq": ctx.seq,
        "event": ctx.event.name(),
        "event_bit": ctx.event.bit(),
        "ca": ctx.ca.name.as_str(),
        "config": ctx.ca.config,
        "at": at,
        "details": details,
    });
    if let Some(r) = &ctx.request {
        record["request"] = serde_json::json!({
            "id": r.id.get(),
            "status": r.status.as_str(),
            // pkcs10, imported, or ocsp-responder (the CA's own responder certificate).
            "format": r.format,
            "profile": r.profile.as_ref().map(|p| p.as_str()),
            "requester": r.requester,
            "subject": r.subject,
            "message": r.message,
            "attributes": r.attributes.iter().map(|(k, v)| serde_json::json!({"name": k, "value": v})).collect::<Vec<_>>(),
            "extensions": r.extensions.iter().map(|e| serde_json::json!({
                "oid": e.oid, "critical": e.critical, "disabled": e.disabled,
                "origin": e.origin.as_str(), "value": hex::encode(&e.value),
            })).collect::<Vec<_>>(),
        });
        if let Some(c) = &r.certificate {
            record["certificate"] = serde_json::json!({
                "serial": c.serial.to_hex(),
                "subject": c.subject,
                "sans": c.sans,
                "not_before": unix(c.not_before),
                "not_after": unix(c.not_after),
            });
        }
    }
    record
}

/// [`event_record`] plus, on `Issued`, the certificate as PEM (`certificate.pem`): what the
/// `command` and `webhook` modules hand their receivers.
pub fn event_record_with_pem(ctx: &ExitCtx) -> serde_json::Value {
    let mut record = event_record(ctx);
    if ctx.event == Event::Issued
        && let Some(der) = ctx.certificate_der()
    {
        record["certificate"]["pem"] =
            serde_json::Value::String(signet_x509::pem::encode("CERTIFICATE", der));
    }
    record
}

/// `log`: one structured line per event (target `signet::exit`).
pub struct LogExit {
    name: String,
    mask: EventMask,
}

impl LogExit {
    pub fn from_toml(name: &str, config: &toml::Value) -> Result<LogExit, ConfigError> {
        let c = parse_common("log", config)?;
        if c.directory.is_some() {
            return Err(ConfigError::new("log", "unknown option `directory`"));
        }
        Ok(LogExit {
            name: name.to_string(),
            mask: parse_mask("log", c.events.as_ref())?,
        })
    }
}

impl Exit for LogExit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        "writes one structured log line per event".into()
    }
    fn start(&self, _ca: &CaInfo) -> Result<EventMask, ModuleError> {
        Ok(self.mask)
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(async move {
            let request = ctx.request.as_ref();
            tracing::info!(
                target: "signet::exit",
                exit = %self.name,
                ca = %ctx.ca.name,
                seq = ctx.seq,
                event = ctx.event.name(),
                request = request.map(|r| r.id.get()),
                status = request.map(|r| r.status.as_str()),
                subject = request.map(|r| r.subject.as_str()),
                serial = request.and_then(|r| r.certificate.as_ref()).map(|c| c.serial.to_hex()),
                // The signed checkpoint as JSON, so the log is a witness `signet audit verify
                // --checkpoint` reads back.
                checkpoint = (ctx.event == Event::AuditCheckpoint)
                    .then_some(ctx.details.as_str())
                    .map(tracing::field::display),
                "exit event"
            );
            Ok(())
        })
    }
}

/// `file`: writes each issued certificate as `<serial>.pem` and a JSON record of every event
/// it receives as `events/<seq>-<Event>.json` (a redelivered event overwrites its own file,
/// so at-least-once delivery leaves no duplicates). Files are written atomically and fsynced
/// before the event is acknowledged.
pub struct FileExit {
    name: String,
    mask: EventMask,
    directory: PathBuf,
}

impl FileExit {
    pub fn from_toml(
        name: &str,
        config: &toml::Value,
        data_dir: &Path,
    ) -> Result<FileExit, ConfigError> {
        let c = parse_common("file", config)?;
        let dir = c
            .directory
            .ok_or_else(|| ConfigError::new("file", "`directory` is required"))?;
        let directory = if Path::new(&dir).is_absolute() {
            dir.into()
        } else {
            data_dir.join(dir)
        };
        Ok(FileExit {
            name: name.to_string(),
            mask: parse_mask("file", c.events.as_ref())?,
            directory,
        })
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }
}

/// The blocking half of `FileExit`.
struct FileWriter {
    directory: PathBuf,
}

impl FileWriter {
    fn write(&self, ctx: &ExitCtx) -> std::io::Result<()> {
        let events = self.directory.join("events");
        fs::create_dir_all(&events)?;
        if ctx.event == Event::Issued
            && let Some(cert) = ctx.request.as_ref().and_then(|r| r.certificate.as_ref())
        {
            let pem = signet_x509::pem::encode("CERTIFICATE", &cert.der);
            write_atomic(
                &self.directory.join(format!("{}.pem", cert.serial.to_hex())),
                pem.as_bytes(),
            )?;
        }
        let record =
            serde_json::to_vec_pretty(&event_record(ctx)).map_err(std::io::Error::other)?;
        write_atomic(
            &events.join(format!("{:012}-{}.json", ctx.seq, ctx.event.name())),
            &record,
        )
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

impl Exit for FileExit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        format!(
            "writes certificates and event records to {}",
            self.directory.display()
        )
    }
    fn start(&self, _ca: &CaInfo) -> Result<EventMask, ModuleError> {
        fs::create_dir_all(self.directory.join("events")).map_err(|e| {
            ModuleError::new(
                &self.name,
                format!("cannot create {}: {e}", self.directory.display()),
            )
        })?;
        Ok(self.mask)
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(async move {
            // fsync blocks: keep it off the runtime's threads, which serve HTTP.
            let writer = FileWriter {
                directory: self.directory.clone(),
            };
            let owned = ctx.clone();
            let result = tokio::task::spawn_blocking(move || writer.write(&owned))
                .await
                .map_err(|e| ModuleError::new(&self.name, format!("writer task: {e}")))?;
            result.map_err(|e| {
                ModuleError::new(
                    &self.name,
                    format!("writing to {}: {e}", self.directory.display()),
                )
            })
        })
    }
}

/// A network exit's `timeout` (`default` when absent): more than zero, in any unit of the
/// one duration grammar (`"500ms"`, `"10s"`, `"2m"`, or whole seconds).
pub fn timeout(
    module: &str,
    setting: Option<&DurationSetting>,
    default: std::time::Duration,
) -> Result<std::time::Duration, ConfigError> {
    match setting {
        None => Ok(default),
        Some(t) => t
            .positive()
            .map_err(|e| ConfigError::caused(module, "`timeout`", e)),
    }
}

/// A module error whose message is `e` and its causes, `"a: b: c"` (a delivery's error is
/// stored and shown as text).
pub fn module_error(module: &str, e: &dyn std::error::Error) -> ModuleError {
    ModuleError::new(module, describe(e))
}

/// `e` and its causes, `"a: b: c"`.
pub fn describe(e: &dyn std::error::Error) -> String {
    signet_core::ErrorChain(e).to_string()
}

/// A configured path: absolute as given, else relative to the data directory.
pub fn data_path(data_dir: &Path, p: &str) -> PathBuf {
    if Path::new(p).is_absolute() {
        p.into()
    } else {
        data_dir.join(p)
    }
}

/// A Unix time in seconds (0 before the epoch).
pub use signet_x509::time::unix_seconds as unix;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        let t = |text: &str| timeout("x", Some(&DurationSetting::from(text)), Default::default());
        let secs = std::time::Duration::from_secs;
        assert_eq!(t("10s").ok(), Some(secs(10)));
        assert_eq!(t("250ms").ok(), Some(std::time::Duration::from_millis(250)));
        assert_eq!(t("2m").ok(), Some(secs(120)));
        assert_eq!(t("10").ok(), Some(secs(10)));
        assert_eq!(timeout("x", None, secs(30)).ok(), Some(secs(30)));
        let zero = t("0s").expect_err("zero");
        assert_eq!(zero.to_string(), "x module: `timeout`");
        let cause = std::error::Error::source(&zero)
            .expect("a cause")
            .to_string();
        assert!(cause.contains("longer than zero"), "{cause}");
        assert!(t("ten seconds").is_err());
    }
}
