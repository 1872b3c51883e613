//! DN and filter templates with `{placeholder}`s, and the values a certificate gives them.

use super::*;

/// A template placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    CommonName,
    Email,
    Dns,
    Uid,
    Requester,
    Serial,
    Ca,
    Shard,
}

impl Field {
    pub(super) const ALL: [Field; 8] = [
        Field::CommonName,
        Field::Email,
        Field::Dns,
        Field::Uid,
        Field::Requester,
        Field::Serial,
        Field::Ca,
        Field::Shard,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Field::CommonName => "common_name",
            Field::Email => "email",
            Field::Dns => "dns",
            Field::Uid => "uid",
            Field::Requester => "requester",
            Field::Serial => "serial",
            Field::Ca => "ca",
            Field::Shard => "shard",
        }
    }
}

/// How a placeholder's value is escaped where it is put.
#[derive(Debug, Clone, Copy)]
pub(super) enum Escape {
    /// An attribute value in a DN (RFC 4514 §2.4).
    Dn,
    /// An assertion value in a filter (RFC 4515 §3).
    Filter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    Text(String),
    Field(Field),
}

/// A DN or filter with `{placeholder}`s, parsed at configuration load.
/// A template that does not parse; the message names the placeholder or brace.
#[derive(Debug, thiserror::Error)]
pub(super) enum TemplateError {
    #[error("unmatched `}}` in {0:?}")]
    UnmatchedClose(String),
    #[error("unclosed `{{` in {0:?}")]
    Unclosed(String),
    #[error("{{{name}}} cannot be used here (known: {known})")]
    NotHere { name: String, known: String },
    #[error("unknown placeholder {{{name}}} (known: {known})")]
    Unknown { name: String, known: String },
    #[error("empty")]
    Empty,
}

#[derive(Debug)]
pub(super) struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub(super) fn parse(text: &str, allowed: &[Field]) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(TemplateError::UnmatchedClose(text.to_string()));
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| TemplateError::Unclosed(text.to_string()))?;
            let name = &after[..close];
            let field = allowed
                .iter()
                .copied()
                .find(|f| f.name() == name)
                .ok_or_else(|| {
                    let known = allowed
                        .iter()
                        .map(|f| format!("{{{}}}", f.name()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let name = name.to_string();
                    if Field::ALL.iter().any(|f| f.name() == name) {
                        TemplateError::NotHere { name, known }
                    } else {
                        TemplateError::Unknown { name, known }
                    }
                })?;
            parts.push(Part::Field(field));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        if parts.is_empty() {
            return Err(TemplateError::Empty);
        }
        Ok(Template { parts })
    }

    pub(super) fn uses(&self, field: Field) -> bool {
        self.parts.contains(&Part::Field(field))
    }

    /// The text with every placeholder replaced by its escaped value; `None` if a
    /// placeholder has no value.
    pub(super) fn render(
        &self,
        value: impl Fn(Field) -> Option<String>,
        escape: Escape,
    ) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => {
                    let v = value(*f)?;
                    match escape {
                        Escape::Dn => out.push_str(&ldap3::dn_escape(v.as_str())),
                        Escape::Filter => out.push_str(&ldap3::ldap_escape(v.as_str())),
                    }
                }
            }
        }
        Some(out)
    }

    /// Why [`Template::render`] gave `None`.
    pub(super) fn missing_fields(&self, value: impl Fn(Field) -> Option<String>) -> String {
        let missing: Vec<String> = self
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Field(f) if value(*f).is_none() => Some(format!("{{{}}}", f.name())),
                _ => None,
            })
            .collect();
        format!("the certificate has no value for {}", missing.join(", "))
    }
}

/// The placeholder values of one certificate and its request.
pub(super) struct CertificateValues {
    common_name: Option<String>,
    email: Option<String>,
    dns: Option<String>,
    uid: Option<String>,
    requester: Option<String>,
    serial: String,
    ca: String,
}

impl CertificateValues {
    pub(super) fn of(ctx: &ExitCtx, der: &[u8], serial: &str) -> CertificateValues {
        let info = signet_x509::parse_certificate(der).ok();
        let attributes = info
            .as_ref()
            .map(|i| i.subject.attributes())
            .unwrap_or_default();
        let attribute = |names: &[&str]| {
            attributes
                .iter()
                .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
                .map(|(_, v)| v.clone())
        };
        let sans = info.as_ref().map(|i| i.sans.as_slice()).unwrap_or_default();
        let email = sans
            .iter()
            .find_map(|s| match s {
                signet_x509::San::Email(e) => Some(e.clone()),
                _ => None,
            })
            .or_else(|| attribute(&["emailAddress", "1.2.840.113549.1.9.1"]));
        let dns = sans.iter().find_map(|s| match s {
            signet_x509::San::Dns(d) => Some(d.clone()),
            _ => None,
        });
        CertificateValues {
            common_name: attribute(&["CN"]),
            email,
            dns,
            uid: attribute(&["UID", "0.9.2342.19200300.100.1.1"]),
            requester: ctx.request.as_ref().and_then(|r| r.requester.clone()),
            serial: serial.to_string(),
            ca: ctx.ca.name.as_str().to_string(),
        }
    }

    pub(super) fn get(&self, field: Field) -> Option<String> {
        match field {
            Field::CommonName => self.common_name.clone(),
            Field::Email => self.email.clone(),
            Field::Dns => self.dns.clone(),
            Field::Uid => self.uid.clone(),
            Field::Requester => self.requester.clone(),
            Field::Serial => Some(self.serial.clone()),
            Field::Ca => Some(self.ca.clone()),
            Field::Shard => None,
        }
    }
}
