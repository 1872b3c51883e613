//! Identifiers (RFC 8555 §9.7.7, RFC 8738): what an order may name, in one canonical form,
//! and the names a CSR asks for in the same form, so finalize compares like with like.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::json;
use signet_api::acme::{AcmeIdentifier, IdentifierType};
use signet_x509::San;

use super::request::AcmeFailure;
use crate::problem::ProblemType;

#[derive(Deserialize)]
pub(super) struct RawIdentifier {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

/// A DNS name as an order may carry it: lowercase LDH labels, at most one leading `*.`.
fn valid_dns_name(name: &str) -> bool {
    let base = name.strip_prefix("*.").unwrap_or(name);
    // An all-numeric last label is an IP address written as a name: never a dNSName.
    let numeric_tld = base
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    !numeric_tld
        && !base.bytes().any(|b| b.is_ascii_uppercase())
        && signet_x509::ext::is_ldh_hostname(base)
}

/// Parses an order identifier: the order's form (with `*.`) and whether it is a wildcard.
pub(super) fn parse_identifier(raw: &RawIdentifier) -> Result<(AcmeIdentifier, bool), AcmeFailure> {
    let shown = || raw.value.chars().take(80).collect::<String>();
    match raw.kind.as_str() {
        "dns" => {
            let value = raw.value.to_ascii_lowercase();
            if !valid_dns_name(&value) {
                return Err(AcmeFailure::new(
                    ProblemType::RejectedIdentifier,
                    format!("{:?} is not a DNS name Signet issues for", shown()),
                ));
            }
            let wildcard = value.starts_with("*.");
            Ok((
                AcmeIdentifier {
                    kind: IdentifierType::Dns,
                    value,
                },
                wildcard,
            ))
        }
        "ip" => {
            let ip: IpAddr = raw.value.parse().map_err(|_| {
                AcmeFailure::new(
                    ProblemType::Malformed,
                    format!("{:?} is not an IP address", shown()),
                )
            })?;
            // `::ffff:a.b.c.d` is the IPv4 address: one identifier, one form.
            Ok((
                AcmeIdentifier {
                    kind: IdentifierType::Ip,
                    value: ip.to_canonical().to_string(),
                },
                false,
            ))
        }
        other => Err(AcmeFailure::new(
            ProblemType::UnsupportedIdentifier,
            format!(
                "identifier type {:?} is not supported (dns, ip)",
                other.chars().take(40).collect::<String>()
            ),
        )),
    }
}

/// The registered domain a rate limit counts against (the last two labels: Signet has no
/// public suffix list; an enterprise CA issues under its own domains).
pub(super) fn registered_domain(identifier: &AcmeIdentifier) -> String {
    let value = identifier.value.trim_start_matches("*.");
    match identifier.kind {
        IdentifierType::Ip => value.to_owned(),
        IdentifierType::Dns => {
            let labels: Vec<&str> = value.rsplitn(3, '.').collect();
            labels
                .iter()
                .take(2)
                .rev()
                .copied()
                .collect::<Vec<_>>()
                .join(".")
        }
    }
}

pub(super) fn identifier_json(identifier: &AcmeIdentifier) -> serde_json::Value {
    json!({ "type": identifier.kind.as_str(), "value": identifier.value })
}

/// The names a CSR asks for, as order identifiers; `badCSR` for anything else.
pub(super) fn csr_identifiers(
    csr: &signet_x509::CertificationRequest,
) -> Result<BTreeSet<(IdentifierType, String)>, AcmeFailure> {
    let mut names = BTreeSet::new();
    for san in &csr.sans {
        match san {
            San::Dns(d) => {
                names.insert((IdentifierType::Dns, d.to_ascii_lowercase()));
            }
            San::Ip(ip) => {
                names.insert((IdentifierType::Ip, ip.to_canonical().to_string()));
            }
            other => {
                return Err(AcmeFailure::new(
                    ProblemType::BadCsr,
                    format!("the CSR asks for {other}, which an ACME order cannot authorize"),
                ));
            }
        }
    }
    if let Some(cn) = csr.subject.common_name() {
        let cn = cn.to_ascii_lowercase();
        let known = names.iter().any(|(_, v)| *v == cn);
        if !known {
            // RFC 8555 §7.4: the CN, if any, must be one of the identifiers.
            let as_ip = cn.parse::<IpAddr>().ok().map(|ip| ip.to_string());
            match as_ip {
                Some(ip) => names.insert((IdentifierType::Ip, ip)),
                None => names.insert((IdentifierType::Dns, cn)),
            };
        }
    }
    Ok(names)
}
