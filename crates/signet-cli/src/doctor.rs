//! `signet doctor --data DIR`: reads `signet.toml` and reports each setting that re-opens one
//! of the AD CS misconfigurations named by "Certified Pre-Owned" (ESC1–ESC8, DESIGN §6): what
//! it is, why it is dangerous and the fix. Exit status 0: nothing high-risk; 2: at least one
//! high-risk finding; 1: the configuration could not be read.
//!
//! The profiles are read as written, so a setting the server itself refuses at load (an
//! any-purpose EKU, say) is still explained here rather than only failing the start.
//!
//! ESC6 (a CA-wide "take the SAN from request attributes" switch, `EDITF_ATTRIBUTESUBJECTALTNAME2`)
//! has no equivalent in Signet, so there is nothing to find.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;
use signet_policy::profiles::{Approval, ProfileConfig, SubjectFrom};

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Medium,
    High,
}

/// One risky setting.
#[derive(Debug, Serialize)]
pub struct Finding {
    /// `ESC1`, ... or `CONFIG` for a configuration the server would refuse to load.
    pub id: &'static str,
    pub severity: Severity,
    /// Where: `ca NAME profile P`, `[[identity]] NAME`, `[server]`, ...
    pub place: String,
    pub why: String,
    pub fix: String,
}

/// Client-authentication purposes: clientAuth, Microsoft smart card logon, PKINIT client.
const CLIENT_AUTH: [&str; 3] = [
    "1.3.6.1.5.5.7.3.2",
    "1.3.6.1.4.1.311.20.2.2",
    "1.3.6.1.5.2.3.4",
];
const ANY_EKU: &str = "2.5.29.37.0";
/// Microsoft Certificate Request Agent (enrollment agent).
const REQUEST_AGENT: &str = "1.3.6.1.4.1.311.20.2.1";

pub fn run(data: &Path, json: bool) -> Result<ExitCode> {
    let findings = check(data)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else if findings.is_empty() {
        println!(
            "signet doctor: no risky settings found in {}",
            data.join("signet.toml").display()
        );
    } else {
        for f in &findings {
            let severity = match f.severity {
                Severity::High => "HIGH",
                Severity::Medium => "MEDIUM",
            };
            println!("{severity:<6} {:<6} {}", f.id, f.place);
            println!("       why: {}", f.why);
            println!("       fix: {}", f.fix);
        }
    }
    Ok(if findings.iter().any(|f| f.severity == Severity::High) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every finding for the configuration in `data`, highest severity first.
pub fn check(data: &Path) -> Result<Vec<Finding>> {
    let config = Config::load(data)?;
    let mut out = Vec::new();
    server_findings(&config, &mut out);
    identity_findings(&config, &mut out);
    for ca in &config.cas {
        // An offline CA has no policy, no protocols and no key here: nothing to find.
        if ca.offline {
            continue;
        }
        // The profiles of a `profiles` policy, or of each `profiles` module in a `chain`.
        let chain = ca.policy.get("chain").and_then(|c| c.as_array());
        let tables: Vec<&toml::Value> = match chain {
            Some(entries) => entries.iter().filter_map(|e| e.get("profiles")).collect(),
            None => ca.policy.get("profiles").into_iter().collect(),
        };
        for table in tables {
            let profiles: BTreeMap<String, ProfileConfig> = table
                .clone()
                .try_into()
                .with_context(|| format!("CA {}: the profiles of [ca.policy]", ca.name))?;
            for (name, p) in &profiles {
                profile_findings(&ca.name, name, p, &mut out);
            }
        }
        if let Some(acme) = ca.acme.as_ref().filter(|a| a.enabled) {
            acme_findings(&ca.name, acme, &mut out);
        }
        let kind = ca
            .policy
            .get("module")
            .and_then(|m| m.as_str())
            .unwrap_or("");
        if let Some(scep) = ca.scep.as_ref().filter(|s| s.enabled) {
            scep_findings(&ca.name, scep, kind, &mut out);
        }
        if ca.est.as_ref().is_some_and(|e| e.enabled && e.serverkeygen) {
            out.push(Finding {
                id: "EST-KEYGEN",
                severity: Severity::Medium,
                place: format!("ca {} [ca.est] serverkeygen = true", ca.name),
                why: "the CA makes devices' private keys and sends them over the network: every such key existed outside its device, and a token holder can obtain keys and certificates without ever holding a key of their own".into(),
                fix: "leave serverkeygen off unless the devices cannot make keys; give the tokens that may use it their own profile".into(),
            });
        }
        if let Err(e) = crate::modules::build_policy(kind, &ca.policy, data) {
            out.push(Finding {
                id: "CONFIG",
                severity: Severity::High,
                place: format!("ca {} [ca.policy]", ca.name),
                why: format!(
                    "`signet serve` refuses this policy: {:#}",
                    anyhow::Error::new(e)
                ),
                fix: "correct the setting the message names".into(),
            });
        }
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(b.id)));
    Ok(out)
}

fn server_findings(config: &Config, out: &mut Vec<Finding>) {
    // ESC8: enrollment and administration over plain HTTP from the network. Bearer tokens are
    // reusable credentials; anyone on the path can capture and replay them.
    let listen = &config.server.listen;
    if !is_loopback(listen) {
        out.push(Finding {
            id: "ESC8",
            severity: Severity::High,
            place: format!("[server] listen = {listen:?}"),
            why: "the plain-HTTP API and web pages (enrollment, the console, API tokens typed at sign-in) are reachable from the network: tokens and requests travel in clear text and can be captured and replayed (the AD CS web-enrollment relay, ESC8); browsers also drop the Secure session cookie there, so signing in to the pages fails".into(),
            fix: "listen on 127.0.0.1 (CRLs and OCSP can be published by a reverse proxy) and serve clients through [server.tls]".into(),
        });
    }
    // ESC7: role separation off lets one identity both configure the CA and approve requests.
    if !config.security.role_separation {
        out.push(Finding {
            id: "ESC7",
            severity: Severity::High,
            place: "[security] role_separation = false".into(),
            why: "one identity may hold both the admin and the manager role: whoever holds it can loosen a profile and approve what it then lets through, with no second person (AD CS ESC7: ManageCA together with ManageCertificates)".into(),
            fix: "set role_separation = true and give the admin and manager roles to different identities".into(),
        });
    }
}

fn identity_findings(config: &Config, out: &mut Vec<Finding>) {
    for id in &config.identities {
        let has = |r: &str| id.roles.iter().any(|x| x == r);
        if has("admin") && has("manager") {
            out.push(Finding {
                id: "ESC7",
                severity: Severity::High,
                place: format!("[[identity]] {}", id.name),
                why: "this certificate mapping holds both admin and manager: with role separation on it may do nothing; with it off it can change the policy and approve its own loopholes".into(),
                fix: "map the certificate to one role; give the other to a different identity".into(),
            });
        }
    }
}

fn profile_findings(ca: &str, name: &str, p: &ProfileConfig, out: &mut Vec<Finding>) {
    let place = format!("ca {ca} profile {name}");
    let ekus: Vec<String> = p
        .extended_key_usage
        .iter()
        .map(|e| signet_x509::ext::eku_oid(e).unwrap_or_else(|| e.clone()))
        .collect();
    let open = p.anonymous || p.enroll.is_empty();
    let who = if p.anonymous {
        "anyone, without credentials,"
    } else if p.enroll.is_empty() {
        "any identity with the requester role"
    } else {
        "the listed identities"
    };
    let supplies_names = (p.subject_from == SubjectFrom::Request
        && !p.subject_attributes.is_empty())
        || !p.dns_suffixes.is_empty()
        || !p.email_domains.is_empty()
        || !p.uri_prefixes.is_empty()
        || !p.ip_ranges.is_empty();

    // ESC1: requester-chosen identity in an authentication certificate, issued unreviewed.
    if ekus.iter().any(|e| CLIENT_AUTH.contains(&e.as_str()))
        && p.approval == Approval::Auto
        && open
        && supplies_names
    {
        out.push(Finding {
            id: "ESC1",
            severity: Severity::High,
            place: place.clone(),
            why: format!(
                "{who} may obtain a client-authentication certificate, issued at once, for a subject and names they choose (within the allow-lists): they can log in as any user those names cover"
            ),
            fix: "set approval = \"manual\" (a manager reviews each name), or restrict `enroll` to the identities entitled to these names, or drop clientAuth".into(),
        });
    }
    // ESC2: a certificate good for every purpose (or, with no EKU, for any the verifier accepts).
    // A CA certificate has no extKeyUsage as a rule (what it may sign is its key usage).
    if ekus.iter().any(|e| e == ANY_EKU) || (ekus.is_empty() && !p.ca) {
        out.push(Finding {
            id: "ESC2",
            severity: Severity::High,
            place: place.clone(),
            why: format!(
                "{} makes a leaf certificate valid for every purpose, client authentication and code signing included (`signet serve` refuses it)",
                if ekus.is_empty() { "an empty extended_key_usage" } else { "anyExtendedKeyUsage (2.5.29.37.0)" }
            ),
            fix: "list the purposes the certificates are for (serverAuth, clientAuth, ...)".into(),
        });
    }
    // ESC3: enrollment-agent certificates let their holder request certificates for others.
    if ekus.iter().any(|e| e == REQUEST_AGENT) {
        out.push(Finding {
            id: "ESC3",
            severity: if open { Severity::High } else { Severity::Medium },
            place: place.clone(),
            why: format!(
                "{who} may obtain a Certificate Request Agent (1.3.6.1.4.1.311.20.2.1) certificate, which AD CS and other CAs accept to enroll on behalf of any user"
            ),
            fix: "remove the Certificate Request Agent purpose, or restrict `enroll` to the agents and set approval = \"manual\"".into(),
        });
    }
    // A subordinate CA issued without review: whoever may enroll can then issue any
    // certificate the constraints allow, trusted wherever this CA is.
    if p.ca && p.approval == Approval::Auto {
        out.push(Finding {
            id: "SUBCA",
            severity: Severity::High,
            place: place.clone(),
            why: format!(
                "{who} may obtain a subordinate CA certificate, issued at once{}: its holder can then issue certificates for any name {} that everyone trusting this CA accepts",
                if p.allow_auto_ca { " (allow_auto_ca = true)" } else { "" },
                if has_name_constraints(p) { "the name constraints allow" } else { "at all" },
            ),
            fix: "set approval = \"manual\" (and approvals = 2 or more) and remove allow_auto_ca".into(),
        });
    }
    if p.ca && !has_name_constraints(p) {
        out.push(Finding {
            id: "UNCONSTRAINED-CA",
            severity: Severity::Medium,
            place: place.clone(),
            why: "the subordinate CAs this profile issues have no name constraints: each may issue for every name and address, so one compromised or careless sub-CA can impersonate any site or user".into(),
            fix: "list the names each sub-CA serves in permitted_dns / permitted_ip / permitted_email (or exclude what it must not cover)".into(),
        });
    }
    // Extensions copied from the request, unreviewed: the requester writes their content.
    if !p.copy_request_extensions.is_empty() && p.approval == Approval::Auto {
        out.push(Finding {
            id: "COPY-EXT",
            severity: Severity::Medium,
            place: place.clone(),
            why: format!(
                "{who} chooses the content of extensions {} in certificates issued at once; relying parties that act on them (application policies, SIDs, custom authorisation) trust what the requester wrote",
                p.copy_request_extensions.join(", ")
            ),
            fix: "set static values with [[...extensions]] instead, or approval = \"manual\" so a manager sees what is copied".into(),
        });
    }
    if p.anonymous && p.approval == Approval::Auto {
        out.push(Finding {
            id: "ANON",
            severity: Severity::Medium,
            place,
            why: "unauthenticated callers are issued certificates at once: nothing ties a certificate to a person, and anyone can fill the database".into(),
            fix: "set anonymous = false and give requesters API tokens or client certificates, or set approval = \"manual\"".into(),
        });
    }
}

fn has_name_constraints(p: &ProfileConfig) -> bool {
    [
        &p.permitted_dns,
        &p.excluded_dns,
        &p.permitted_ip,
        &p.excluded_ip,
        &p.permitted_email,
        &p.excluded_email,
    ]
    .iter()
    .any(|l| !l.is_empty())
}

/// True for `127.x.x.x:port`, `[::1]:port` and `localhost:port`.
/// ACME validation settings that let it be turned against the CA or its network.
fn acme_findings(ca: &str, acme: &crate::config::AcmeToml, out: &mut Vec<Finding>) {
    if !acme.caa {
        out.push(Finding {
            id: "ACME-CAA",
            severity: Severity::Medium,
            place: format!("ca {ca} [ca.acme] caa = false"),
            why: "CAA records are not checked: a domain whose owner allowed only other CAs (RFC 8659) still gets certificates from this one, from anyone who can answer a challenge for it".into(),
            fix: "set caa = true (and caa_identities to the names your domains' CAA records use for this CA)".into(),
        });
    }
    // Loopback, link-local (cloud metadata at 169.254.169.254) and the unspecified address
    // are refused by default; allowing them lets an ACME client make the CA connect there.
    let inner: Vec<&String> = acme
        .allowed_ranges
        .iter()
        .filter(|range| {
            let addr = range.split('/').next().unwrap_or("");
            addr.parse::<IpAddr>().is_ok_and(|ip| match ip {
                IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_unspecified(),
                IpAddr::V6(v6) => {
                    v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80
                }
            })
        })
        .collect();
    if !inner.is_empty() {
        out.push(Finding {
            id: "ACME-SSRF",
            severity: Severity::Medium,
            place: format!("ca {ca} [ca.acme] allowed_ranges = {inner:?}"),
            why: "ACME validation may connect to loopback or link-local addresses: any ACME client can point a name at them and make the CA send HTTP and TLS requests to its own host's services or to a cloud metadata endpoint (server-side request forgery)".into(),
            fix: "remove those ranges (they exist for tests that validate against a local responder)".into(),
        });
    }
}

/// SCEP challenge settings that let devices enroll without a secret of their own.
fn scep_findings(
    ca: &str,
    scep: &crate::config::ScepToml,
    policy_module: &str,
    out: &mut Vec<Finding>,
) {
    if scep.challenge.as_deref().is_some_and(|c| !c.is_empty()) {
        out.push(Finding {
            id: "SCEP-STATIC",
            severity: Severity::Medium,
            place: format!("ca {ca} [ca.scep] challenge"),
            why: "a static challenge password is shared by every device: anyone who learns it (from one device's configuration, an MDM profile, a log) enrolls as many devices as they like until it is changed".into(),
            fix: "remove `challenge` and give each device a one-time challenge (`signet admin scep challenge`)".into(),
        });
    }
    if scep.challenge_check == crate::config::ChallengeCheck::Policy && policy_module == "profiles"
    {
        out.push(Finding {
            id: "SCEP-NOCHECK",
            severity: Severity::High,
            place: format!("ca {ca} [ca.scep] challenge_check = \"policy\""),
            why: "the challenge is left to the policy module, and the `profiles` module does not check it: any device enrolls in the SCEP profile with any challenge".into(),
            fix: "set challenge_check = \"signet\", or use a policy module that checks the challengePassword attribute (`rules`, `wasm`)".into(),
        });
    }
}

fn is_loopback(listen: &str) -> bool {
    let host = match listen.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => listen,
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1:8080"));
        assert!(is_loopback("127.1.2.3:0"));
        assert!(is_loopback("[::1]:8080"));
        assert!(is_loopback("localhost:8080"));
        assert!(!is_loopback("0.0.0.0:8080"));
        assert!(!is_loopback("[::]:8080"));
        assert!(!is_loopback("10.0.0.5:8080"));
        assert!(!is_loopback("ca.example.com:80"));
    }
}
