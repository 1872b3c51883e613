//! The `smtp` exit module: e-mails about requests, from templates.
//!
//! 1. For each event in its mask the module picks the event's template (configured under
//!    `templates.<Event>`, else a built-in one for `Pending`, `Issued`, `Denied` and
//!    `Revoked`); an event without a template is acknowledged without mail.
//! 2. Recipients: the request's e-mail SANs (the certificate's, else the CSR's) when
//!    `email_sans` is on, the value of the attribute `recipient_attribute`, and `to`. No
//!    recipient: the event is acknowledged (logged at debug).
//!    Events about the CA's own OCSP responder certificate are not mailed.
//! 3. On `Pending`, a second mail (template `Manager`) goes to `managers`.
//! 4. Placeholders (`{request_id}`, `{subject}`, ...) are checked when the configuration
//!    loads. Nothing holding CR or LF goes into a header: configured values are refused at
//!    load, a request-derived address is skipped, and a mail whose rendered subject would
//!    hold one is not sent (retrying cannot change the request).
//! 5. A transient SMTP failure (connection, TLS, timeout, 4xx) fails the delivery, which the
//!    engine retries; a permanent rejection (5xx) of a mail is logged at error and the event
//!    acknowledged, so one bad address cannot hold up every later event.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use signet_core::{BoxFuture, CaInfo, Event, EventMask, Exit, ExitCtx, ModuleError};

use crate::ConfigError;
use crate::common::{data_path, parse_mask, timeout};
use signet_policy::DurationSetting;
use signet_x509::time::rfc3339;

const MODULE: &str = "smtp";
/// The template key of the notice to `managers` on `Pending`.
const MANAGER: &str = "Manager";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpConfig {
    server: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    tls: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password_file: Option<String>,
    from: String,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    managers: Vec<String>,
    #[serde(default = "yes")]
    email_sans: bool,
    #[serde(default)]
    recipient_attribute: Option<String>,
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    timeout: Option<DurationSetting>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    templates: BTreeMap<String, TemplateConfig>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateConfig {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

/// `smtp`: see the module documentation.
pub struct SmtpExit {
    name: String,
    mask: EventMask,
    /// The transport holds the password, if any; this type has no `Debug`.
    transport: AsyncSmtpTransport<Tokio1Executor>,
    shown: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    managers: Vec<Mailbox>,
    email_sans: bool,
    recipient_attribute: Option<String>,
    /// By event name, plus `Manager`.
    templates: BTreeMap<String, Template>,
}

impl SmtpExit {
    pub fn from_toml(
        name: &str,
        config: &toml::Value,
        data_dir: &Path,
    ) -> Result<SmtpExit, ConfigError> {
        let c: SmtpConfig = config
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::new(MODULE, e.message()))?;
        let mask = match &c.events {
            Some(_) => parse_mask(MODULE, c.events.as_ref())?,
            None => EventMask::NONE
                .with(Event::Pending)
                .with(Event::Issued)
                .with(Event::Denied)
                .with(Event::Revoked),
        };
        let from = mailbox("from", &c.from)?;
        let to =
            c.to.iter()
                .map(|a| mailbox("to", a))
                .collect::<Result<Vec<_>, _>>()?;
        let managers = c
            .managers
            .iter()
            .map(|a| mailbox("managers", a))
            .collect::<Result<Vec<_>, _>>()?;
        let templates = templates(&c.templates)?;
        let transport = transport(&c, data_dir)?;
        Ok(SmtpExit {
            name: name.to_string(),
            mask,
            transport,
            shown: format!("{}:{}", c.server, port(&c)?),
            from,
            to,
            managers,
            email_sans: c.email_sans,
            recipient_attribute: c.recipient_attribute,
            templates,
        })
    }

    async fn deliver(&self, ctx: &ExitCtx) -> Result<(), ModuleError> {
        let Some(template) = self.templates.get(ctx.event.name()) else {
            tracing::debug!(exit = %self.name, seq = ctx.seq, event = ctx.event.name(), "no template for this event; no mail");
            return Ok(());
        };
        // The CA's own OCSP responder certificate (issued at every start) has no requester
        // to tell: mailing `to` about it at each restart would be noise.
        if ctx.is_service_certificate() {
            tracing::debug!(exit = %self.name, seq = ctx.seq, "the CA's own responder certificate; no mail");
            return Ok(());
        }
        let mut recipients = self.request_recipients(ctx);
        for m in &self.to {
            if !recipients.contains(m) {
                recipients.push(m.clone());
            }
        }
        if recipients.is_empty() {
            tracing::debug!(exit = %self.name, seq = ctx.seq, event = ctx.event.name(), "no recipient; no mail");
        } else {
            self.send(ctx, template, recipients, "requester").await?;
        }
        if ctx.event == Event::Pending
            && !self.managers.is_empty()
            && let Some(notice) = self.templates.get(MANAGER)
        {
            self.send(ctx, notice, self.managers.clone(), "manager")
                .await?;
        }
        Ok(())
    }

    /// The request's own addresses: e-mail SANs and the `recipient_attribute` value.
    fn request_recipients(&self, ctx: &ExitCtx) -> Vec<Mailbox> {
        let mut found: Vec<String> = Vec::new();
        if let Some(r) = &ctx.request {
            if self.email_sans {
                match &r.certificate {
                    Some(c) => found.extend(
                        c.sans
                            .iter()
                            .filter_map(|s| s.strip_prefix("email:"))
                            .map(str::to_string),
                    ),
                    None if matches!(r.format.as_str(), "pkcs10" | "crmf") => {
                        if let Ok(csr) = signet_x509::parse_request(&r.raw) {
                            found.extend(csr.sans.into_iter().filter_map(|s| match s {
                                signet_x509::San::Email(e) => Some(e),
                                _ => None,
                            }));
                        }
                    }
                    None => {}
                }
            }
            if let Some(attr) = &self.recipient_attribute
                && let Some(v) = ctx.attribute(attr)
            {
                found.extend(v.split(',').map(|s| s.trim().to_string()));
            }
        }
        let mut out: Vec<Mailbox> = Vec::new();
        for a in found.iter().filter(|a| !a.is_empty()) {
            // The address came from the request: never let it near a header unchecked.
            let parsed = if has_line_break(a) {
                None
            } else {
                a.parse::<Address>().ok()
            };
            match parsed {
                Some(addr) => {
                    let m = Mailbox::new(None, addr);
                    if !out.contains(&m) {
                        out.push(m);
                    }
                }
                None => tracing::warn!(
                    exit = %self.name,
                    seq = ctx.seq,
                    address = %a.escape_debug(),
                    "skipping a recipient from the request that is not an e-mail address"
                ),
            }
        }
        out
    }

    async fn send(
        &self,
        ctx: &ExitCtx,
        template: &Template,
        recipients: Vec<Mailbox>,
        kind: &str,
    ) -> Result<(), ModuleError> {
        let subject = template.subject.render(ctx);
        if has_line_break(&subject) {
            tracing::warn!(
                exit = %self.name,
                seq = ctx.seq,
                event = ctx.event.name(),
                "not sending the {kind} mail: its subject would hold a line break"
            );
            return Ok(());
        }
        let body = template.body.render(ctx);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        let mut to = Mailboxes::new();
        for r in recipients {
            to.push(r);
        }
        builder = builder.mailbox(lettre::message::header::To::from(to));
        let message = builder
            .body(body)
            .map_err(|e| ModuleError::new(&self.name, format!("building the {kind} mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => {
                tracing::error!(
                    exit = %self.name,
                    seq = ctx.seq,
                    event = ctx.event.name(),
                    error = %e,
                    "{} refused the {kind} mail permanently; not retrying", self.shown
                );
                Ok(())
            }
            Err(e) => Err(ModuleError::new(
                &self.name,
                format!(
                    "sending the {kind} mail for event {} seq {} via {}: {e}",
                    ctx.event.name(),
                    ctx.seq,
                    self.shown
                ),
            )),
        }
    }
}

impl Exit for SmtpExit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        format!("e-mails request events via {}", self.shown)
    }
    fn start(&self, _ca: &CaInfo) -> Result<EventMask, ModuleError> {
        Ok(self.mask)
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(self.deliver(ctx))
    }
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n'])
}

fn mailbox(key: &str, s: &str) -> Result<Mailbox, ConfigError> {
    if has_line_break(s) {
        return Err(ConfigError::new(
            MODULE,
            format!("`{key}`: an address may not hold CR or LF"),
        ));
    }
    s.parse::<Mailbox>()
        .map_err(|e| ConfigError::new(MODULE, format!("`{key}` {s:?}: {e}")))
}

fn port(c: &SmtpConfig) -> Result<u16, ConfigError> {
    Ok(c.port.unwrap_or(match tls_mode(c)? {
        TlsMode::None => 25,
        TlsMode::StartTls => 587,
        TlsMode::Tls => 465,
    }))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    None,
    StartTls,
    Tls,
}

fn tls_mode(c: &SmtpConfig) -> Result<TlsMode, ConfigError> {
    match c.tls.as_deref().unwrap_or("starttls") {
        "none" => Ok(TlsMode::None),
        "starttls" => Ok(TlsMode::StartTls),
        "tls" => Ok(TlsMode::Tls),
        other => Err(ConfigError::new(
            MODULE,
            format!("`tls` {other:?}: one of \"none\", \"starttls\", \"tls\""),
        )),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn transport(
    c: &SmtpConfig,
    data_dir: &Path,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, ConfigError> {
    let mode = tls_mode(c)?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.server.as_str())
        .port(port(c)?)
        .timeout(Some(timeout(
            MODULE,
            c.timeout.as_ref(),
            Duration::from_secs(30),
        )?));
    if mode == TlsMode::None {
        if c.ca_file.is_some() {
            return Err(ConfigError::new(
                MODULE,
                "`ca_file` needs tls = \"starttls\" or \"tls\"",
            ));
        }
    } else {
        let mut params = TlsParameters::builder(c.server.clone());
        if let Some(ca) = &c.ca_file {
            let path = data_path(data_dir, ca);
            let pem = std::fs::read(&path).map_err(|e| {
                ConfigError::new(MODULE, format!("`ca_file` {}: {e}", path.display()))
            })?;
            let ders = signet_x509::pem::decode_all(&pem, "CERTIFICATE").map_err(|e| {
                ConfigError::new(MODULE, format!("`ca_file` {}: {e}", path.display()))
            })?;
            if ders.is_empty() {
                return Err(ConfigError::new(
                    MODULE,
                    format!("`ca_file` {}: no CERTIFICATE block", path.display()),
                ));
            }
            // Only the named CAs: a private relay's certificate should not be checked
            // against the public roots too.
            params = params.certificate_store(CertificateStore::None);
            for der in ders {
                let cert = Certificate::from_der(der).map_err(|e| {
                    ConfigError::new(MODULE, format!("`ca_file` {}: {e}", path.display()))
                })?;
                params = params.add_root_certificate(cert);
            }
        }
        let params = params
            .build_rustls()
            .map_err(|e| ConfigError::new(MODULE, format!("TLS: {e}")))?;
        builder = builder.tls(match mode {
            TlsMode::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    match (&c.username, &c.password_file) {
        (Some(user), Some(file)) => {
            if mode == TlsMode::None && !is_loopback(&c.server) {
                return Err(ConfigError::new(
                    MODULE,
                    "a password is sent only over TLS (or to a loopback server): set tls",
                ));
            }
            let path = data_path(data_dir, file);
            let password = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new(MODULE, format!("`password_file` {}: {e}", path.display()))
            })?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        (None, None) => {}
        _ => {
            return Err(ConfigError::new(
                MODULE,
                "`username` and `password_file` go together",
            ));
        }
    }
    Ok(builder.build())
}

/// The built-in templates and the configured ones over them.
fn templates(
    configured: &BTreeMap<String, TemplateConfig>,
) -> Result<BTreeMap<String, Template>, ConfigError> {
    let mut raw: BTreeMap<String, (String, String)> = DEFAULTS
        .iter()
        .map(|(k, s, b)| (k.to_string(), (s.to_string(), b.to_string())))
        .collect();
    for (key, t) in configured {
        let key = if key == MANAGER {
            MANAGER.to_string()
        } else {
            Event::from_name(key)
                .map(|e| e.name().to_string())
                .ok_or_else(|| {
                    ConfigError::new(
                        MODULE,
                        format!("`templates.{key}`: not an event name or {MANAGER}"),
                    )
                })?
        };
        let entry = raw.entry(key.clone()).or_default();
        if let Some(s) = &t.subject {
            entry.0 = s.clone();
        }
        if let Some(b) = &t.body {
            entry.1 = b.clone();
        }
        if entry.0.is_empty() || entry.1.is_empty() {
            return Err(ConfigError::new(
                MODULE,
                format!("`templates.{key}` needs a subject and a body"),
            ));
        }
    }
    raw.into_iter()
        .map(|(k, (s, b))| {
            if has_line_break(&s) {
                return Err(ConfigError::new(
                    MODULE,
                    format!("`templates.{k}.subject` may not hold CR or LF"),
                ));
            }
            let subject = Text::parse(&s)
                .map_err(|e| ConfigError::caused(MODULE, format!("`templates.{k}.subject`"), e))?;
            let body = Text::parse(&b)
                .map_err(|e| ConfigError::caused(MODULE, format!("`templates.{k}.body`"), e))?;
            Ok((k, Template { subject, body }))
        })
        .collect()
}

/// (key, subject, body).
const DEFAULTS: &[(&str, &str, &str)] = &[
    (
        "Pending",
        "[{ca}] Certificate request {request_id} is pending",
        "Your certificate request {request_id} for {subject} was received by {ca} and is \
         pending: a certificate manager must approve it.\n\n{message}\n",
    ),
    (
        "Issued",
        "[{ca}] Certificate issued for {subject}",
        "Your certificate request {request_id} was issued by {ca}.\n\n\
         Subject: {subject}\nSerial: {serial}\nNames: {sans}\n\
         Valid from {not_before} until {not_after}.\n",
    ),
    (
        "Denied",
        "[{ca}] Certificate request {request_id} was denied",
        "Your certificate request {request_id} for {subject} was denied by {ca}.\n\n\
         Reason: {message}\n",
    ),
    (
        "Revoked",
        "[{ca}] Certificate {serial} was revoked",
        "The certificate {serial} for {subject} (request {request_id}) was revoked by {ca}.\n\n\
         Reason: {revocation_reason}\n",
    ),
    (
        MANAGER,
        "[{ca}] Request {request_id} needs approval",
        "Certificate request {request_id} from {requester} for {subject} is pending at {ca} \
         and needs approval.\n\n{message}\n\n\
         Review it with: signet admin show {request_id}\n\
         Approve it with: signet admin approve {request_id}\n",
    ),
];

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "ca",
    "config",
    "event",
    "seq",
    "request_id",
    "status",
    "subject",
    "requester",
    "profile",
    "message",
    "serial",
    "sans",
    "not_before",
    "not_after",
    "revocation_reason",
];

struct Template {
    subject: Text,
    body: Text,
}

/// A template text that does not parse.
#[derive(Debug, thiserror::Error)]
enum TextError {
    #[error("an unclosed `{{`")]
    Unclosed,
    #[error("unknown placeholder {{{0}}} (known: {known})", known = PLACEHOLDERS.join(", "))]
    Unknown(String),
    #[error("a `}}` without `{{` (write `}}}}`)")]
    StrayClose,
}

/// A parsed template text: literals and placeholders (`{{` and `}}` are literal braces).
struct Text(Vec<Segment>);

enum Segment {
    Literal(String),
    Placeholder(&'static str),
}

impl Text {
    fn parse(s: &str) -> Result<Text, TextError> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(TextError::Unclosed),
                        }
                    }
                    let known = PLACEHOLDERS
                        .iter()
                        .find(|p| **p == name)
                        .ok_or_else(|| TextError::Unknown(name.clone()))?;
                    if !lit.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut lit)));
                    }
                    segments.push(Segment::Placeholder(known));
                }
                '}' => return Err(TextError::StrayClose),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            segments.push(Segment::Literal(lit));
        }
        Ok(Text(segments))
    }

    fn render(&self, ctx: &ExitCtx) -> String {
        let mut out = String::new();
        for s in &self.0 {
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Placeholder(p) => out.push_str(&value(ctx, p)),
            }
        }
        out
    }
}

/// A placeholder's value; empty when the event has none.
fn value(ctx: &ExitCtx, name: &str) -> String {
    let r = ctx.request.as_ref();
    let c = r.and_then(|r| r.certificate.as_ref());
    match name {
        "ca" => ctx.ca.name.as_str().to_string(),
        "config" => ctx.ca.config.clone(),
        "event" => ctx.event.name().to_string(),
        "seq" => ctx.seq.to_string(),
        "request_id" => r.map(|r| r.id.get().to_string()).unwrap_or_default(),
        "status" => r.map(|r| r.status.as_str().to_string()).unwrap_or_default(),
        "subject" => c
            .map(|c| c.subject.clone())
            .or_else(|| r.map(|r| r.subject.clone()))
            .unwrap_or_default(),
        "requester" => r.and_then(|r| r.requester.clone()).unwrap_or_default(),
        "profile" => r
            .and_then(|r| r.profile.as_ref())
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        "message" => r.and_then(|r| r.message.clone()).unwrap_or_default(),
        "serial" => c.map(|c| c.serial.to_hex()).unwrap_or_default(),
        "sans" => c.map(|c| c.sans.join(", ")).unwrap_or_default(),
        "not_before" => c.map(|c| rfc3339(c.not_before)).unwrap_or_default(),
        "not_after" => c.map(|c| rfc3339(c.not_after)).unwrap_or_default(),
        "revocation_reason" => c
            .and_then(|c| c.revocation)
            .map(|v| v.reason.name().to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Result<SmtpExit, ConfigError> {
        let text =
            format!("server = \"127.0.0.1\"\nfrom = \"ca@example.org\"\ntls = \"none\"\n{extra}");
        let value: toml::Value = toml::from_str(&text).expect("toml");
        SmtpExit::from_toml("mail", &value, Path::new("/nonexistent"))
    }

    #[test]
    fn templates_are_checked_at_load() {
        assert!(load("").is_ok());
        let e = load("[templates.Issued]\nsubject = \"{nope}\"")
            .err()
            .expect("refused");
        let e = crate::common::describe(&e);
        assert!(
            e.contains("`templates.Issued.subject`: unknown placeholder {nope}"),
            "{e}"
        );
        assert!(load("[templates.Bogus]\nsubject = \"x\"\nbody = \"y\"").is_err());
        assert!(
            load("[templates.Startup]\nsubject = \"x\"").is_err(),
            "no default body"
        );
        assert!(load("[templates.Issued]\nsubject = \"a\\r\\nBcc: x@y\"").is_err());
        assert!(load("[templates.Issued]\nsubject = \"{{literal}} {serial}\"").is_ok());
        assert!(load("bogus = 1").is_err());
    }

    #[test]
    fn header_values_refuse_line_breaks() {
        assert!(load("to = [\"a@example.org\\r\\nBcc: evil@example.org\"]").is_err());
        assert!(load("managers = [\"m@example.org\"]").is_ok());
        let value: toml::Value =
            toml::from_str("server = \"h\"\nfrom = \"a@b.c\"\ntls = \"sometimes\"").expect("toml");
        let e = SmtpExit::from_toml("mail", &value, Path::new("/"))
            .err()
            .expect("refused");
        assert!(e.message.contains("sometimes"), "{e}");
    }
}
