//! CAA (RFC 8659): whether this CA may issue for a DNS name.
//!
//! The relevant RRset is the first non-empty CAA RRset found walking from the name up
//! towards the top of the tree (§3). If it has `issue` properties (for a wildcard: `issuewild`
//! properties when there are any, otherwise `issue`), one of them must name one of the
//! configured issuer-domain-names (case-insensitive; parameters after `;` are ignored). A
//! property with the critical flag and a tag we do not know forbids issuance (§4.1). A
//! lookup that fails (SERVFAIL, timeout, malformed answer) forbids issuance too (§3: the CA
//! must not issue when it cannot establish the relevant RRset); NXDOMAIN and an empty answer
//! just move the walk one label up.

use super::dns::{self, RData};
use super::{Inner, ValidationError};

/// Property tags we understand (RFC 8659 §4.2–4.4, RFC 9495, CA/B Forum BR 3.2.2.8).
const KNOWN_TAGS: &[&str] = &[
    "issue",
    "issuewild",
    "iodef",
    "issuemail",
    "issuevmc",
    "contactemail",
    "contactphone",
];
/// The Issuer Critical flag (RFC 8659 §4.1).
const CRITICAL: u8 = 128;

pub(super) async fn check(
    inner: &Inner,
    name: &str,
    wildcard: bool,
) -> Result<(), ValidationError> {
    let client = inner.dns();
    let refuse = |reason: String| ValidationError::Caa {
        name: name.to_owned(),
        reason,
    };
    let labels: Vec<&str> = name.split('.').collect();
    for start in 0..labels.len() {
        let at = labels[start..].join(".");
        let lookup = client.lookup(&at, dns::TYPE_CAA).await.map_err(|e| {
            refuse(format!(
                "looking up CAA at {at} failed: {}",
                crate::problem::error_chain(&e)
            ))
        })?;
        let records: Vec<(u8, &str, &[u8])> = lookup
            .records
            .iter()
            .filter_map(|r| match r {
                RData::Caa { flags, tag, value } => Some((*flags, tag.as_str(), value.as_slice())),
                _ => None,
            })
            .collect();
        if records.is_empty() {
            continue;
        }
        return decide(&records, wildcard, &inner.config.caa_identities)
            .map_err(|reason| refuse(format!("the CAA records at {at} {reason}")));
    }
    Ok(())
}

/// Why one relevant CAA RRset refuses this CA (the message completes "the CAA records at
/// NAME ...").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum CaaRefusal {
    #[error("have an unknown critical property {0:?}")]
    UnknownCritical(String),
    #[error("do not authorize this CA ({property}: {named})")]
    NotAuthorized {
        property: &'static str,
        named: String,
    },
}

/// The decision on one relevant RRset: Ok, or why not.
pub(super) fn decide(
    records: &[(u8, &str, &[u8])],
    wildcard: bool,
    identities: &[String],
) -> Result<(), CaaRefusal> {
    if let Some((_, tag, _)) = records.iter().find(|(flags, tag, _)| {
        flags & CRITICAL != 0 && !KNOWN_TAGS.iter().any(|k| k.eq_ignore_ascii_case(tag))
    }) {
        return Err(CaaRefusal::UnknownCritical((*tag).to_owned()));
    }
    let with_tag = |wanted: &str| -> Vec<&[u8]> {
        records
            .iter()
            .filter(|(_, tag, _)| tag.eq_ignore_ascii_case(wanted))
            .map(|(_, _, value)| *value)
            .collect()
    };
    let wild = with_tag("issuewild");
    let (property, values) = if wildcard && !wild.is_empty() {
        ("issuewild", wild)
    } else {
        ("issue", with_tag("issue"))
    };
    if values.is_empty() {
        return Ok(());
    }
    let authorized = values.iter().any(|value| {
        let text = String::from_utf8_lossy(value);
        let issuer = text.split(';').next().unwrap_or_default().trim();
        let issuer = issuer.trim_end_matches('.');
        !issuer.is_empty()
            && identities
                .iter()
                .any(|id| id.trim_end_matches('.').eq_ignore_ascii_case(issuer))
    });
    if authorized {
        Ok(())
    } else {
        let named: Vec<String> = values
            .iter()
            .take(4)
            .map(|v| format!("{:?}", String::from_utf8_lossy(&v[..v.len().min(64)])))
            .collect();
        Err(CaaRefusal::NotAuthorized {
            property,
            named: named.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::decide;

    fn ids() -> Vec<String> {
        vec!["ca.example".to_owned(), "Other.Example.".to_owned()]
    }

    #[test]
    fn issue_and_issuewild() {
        let us: &[(u8, &str, &[u8])] = &[(0, "issue", b"CA.example; account=1")];
        assert!(decide(us, false, &ids()).is_ok());
        assert!(
            decide(us, true, &ids()).is_ok(),
            "issue governs wildcards without issuewild"
        );
        let them: &[(u8, &str, &[u8])] = &[(0, "issue", b"letsencrypt.org")];
        assert!(decide(them, false, &ids()).is_err());
        let none: &[(u8, &str, &[u8])] = &[(0, "issue", b";")];
        assert!(decide(none, false, &ids()).is_err());
        let wild: &[(u8, &str, &[u8])] = &[
            (0, "issue", b"letsencrypt.org"),
            (0, "issuewild", b"other.example"),
        ];
        assert!(decide(wild, true, &ids()).is_ok());
        assert!(decide(wild, false, &ids()).is_err());
        let only_iodef: &[(u8, &str, &[u8])] = &[(0, "iodef", b"mailto:x@example.com")];
        assert!(decide(only_iodef, false, &ids()).is_ok());
    }

    #[test]
    fn unknown_critical_property_refuses() {
        let critical: &[(u8, &str, &[u8])] =
            &[(0, "issue", b"ca.example"), (128, "futuretag", b"x")];
        assert!(decide(critical, false, &ids()).is_err());
        let not_critical: &[(u8, &str, &[u8])] =
            &[(0, "issue", b"ca.example"), (0, "futuretag", b"x")];
        assert!(decide(not_critical, false, &ids()).is_ok());
        let known_critical: &[(u8, &str, &[u8])] = &[(128, "ISSUE", b"ca.example")];
        assert!(decide(known_critical, false, &ids()).is_ok());
    }
}
