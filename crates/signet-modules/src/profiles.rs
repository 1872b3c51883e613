//! `profiles`: the default policy module. Each profile (an AD CS certificate template) says
//! which keys it accepts, what of the request's subject and SANs it copies, how long the
//! certificate lives, its key usages, and whether it issues at once or waits for a manager.
//!
//! A request that names anything the profile does not allow is denied with a message that
//! names the offending value; nothing is silently trimmed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use signet_core::{CaInfo, ModuleError, Policy, PolicyCtx, ProfileName, Verdict};
use signet_x509::{DistinguishedName, KeyAlgorithm, KeyUsage, San, ext};

use crate::ConfigError;

mod edit;

/// Whether a profile issues at once or waits for a certificate manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Issue as soon as the request passes the profile's rules.
    Auto,
    /// Put the request in the pending queue; it issues when a manager resubmits it.
    Manual,
}

/// Where a certificate's subject comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectFrom {
    /// The request's subject, limited to `subject_attributes`.
    #[default]
    Request,
    /// `CN=<authenticated identity>`; the request's subject is not used (AD CS "build from
    /// this Active Directory information").
    Identity,
}

/// One profile, as written in `signet.toml` under `[ca.policy.profiles.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    #[serde(default)]
    pub description: String,
    pub approval: Approval,
    pub validity_days: u32,
    /// `p256`, `p384`, `ed25519`, `rsa`, `mldsa65`.
    pub key_algorithms: Vec<String>,
    #[serde(default = "default_rsa_min_bits")]
    pub rsa_min_bits: u32,
    /// The smallest RSA public exponent accepted; 65537 by default (CA/Browser Forum BR
    /// 6.1.6). Small exponents such as 3 invite the attacks on unpadded or badly padded
    /// RSA; lower it only for legacy devices that cannot do otherwise. The exponent must be
    /// odd whatever this says.
    #[serde(default = "default_rsa_min_exponent")]
    pub rsa_min_exponent: u64,
    /// Subject attribute types copied from the request (`CN`, `O`, ...). Any other attribute
    /// in the request's subject is refused.
    #[serde(default = "default_subject_attributes")]
    pub subject_attributes: Vec<String>,
    /// Treat the subject CN as a host name: it must pass the DNS rules and is added to the
    /// SANs if the request did not list it (CA/Browser Forum practice).
    #[serde(default)]
    pub common_name_as_dns: bool,
    /// Refuse requests that end up with no subjectAltName.
    #[serde(default)]
    pub require_san: bool,
    /// DNS names allowed: equal to a suffix or ending in `.suffix`.
    #[serde(default)]
    pub dns_suffixes: Vec<String>,
    #[serde(default)]
    pub allow_wildcards: bool,
    /// IP addresses allowed, as CIDR ranges (`10.0.0.0/8`, `::1/128`).
    #[serde(default)]
    pub ip_ranges: Vec<String>,
    /// E-mail addresses allowed by domain suffix.
    #[serde(default)]
    pub email_domains: Vec<String>,
    /// URI SANs allowed when they start with one of these prefixes.
    #[serde(default)]
    pub uri_prefixes: Vec<String>,
    #[serde(default = "default_max_sans")]
    pub max_sans: usize,
    /// keyUsage names. `keyEncipherment` and `dataEncipherment` apply to RSA keys only and
    /// are left out for EC, EdDSA and ML-DSA keys (those keys cannot encrypt).
    pub key_usage: Vec<String>,
    /// extKeyUsage names (`serverAuth`, `clientAuth`, ...) or dotted OIDs.
    pub extended_key_usage: Vec<String>,
    /// Unauthenticated callers may submit (off by default). Never together with automatic
    /// issuance of client-authentication certificates.
    #[serde(default)]
    pub anonymous: bool,
    /// Identity names and `group:NAME` entries that may enroll; empty: any identity with the
    /// requester role on the CA.
    #[serde(default)]
    pub enroll: Vec<String>,
    /// With `approval = "manual"`: how many distinct certificate managers must approve (M of
    /// N). The requester never counts.
    #[serde(default = "default_approvals")]
    pub approvals: u32,
    /// Certificate policy OIDs put in a certificatePolicies extension (e.g. the CA/B Forum's
    /// 2.23.140.1.2.1 for domain-validated TLS, only for a CA that follows the BRs); none by
    /// default.
    #[serde(default)]
    pub certificate_policies: Vec<String>,
    /// `request` (default) or `identity`: the subject is CN=<the authenticated requester>.
    #[serde(default)]
    pub subject_from: SubjectFrom,
    /// Subject attributes the CA sets (`{ O = "Example Corp", C = "US" }`). A request may
    /// leave them out or carry the same value; a different value is denied.
    #[serde(default)]
    pub subject_forced: BTreeMap<String, String>,
    /// Subject attribute types the request must carry (each also in `subject_attributes`).
    #[serde(default)]
    pub subject_required: Vec<String>,
    /// Refuse a key that is already in a certificate of another requester.
    #[serde(default)]
    pub unique_key: bool,
    /// With `approval = "manual"`: issue at once when the requester already holds a valid
    /// certificate of this profile with the same subject and subjectAltNames.
    #[serde(default)]
    pub renewal: bool,
    /// How far notBefore is set before now: `"5m"`, `"90s"`, `"1h"` or a number of seconds;
    /// at most 24 hours. Default: the engine's 5 minutes.
    #[serde(default)]
    pub backdate: Option<BackdateSetting>,
    /// A subordinate-CA profile: basicConstraints cA=TRUE, keyCertSign required.
    #[serde(default)]
    pub ca: bool,
    /// With `ca`: the pathLenConstraint (how many CAs may follow below the new one).
    #[serde(default)]
    pub path_len: Option<u8>,
    /// With `ca`: allow `approval = "auto"` (refused otherwise).
    #[serde(default)]
    pub allow_auto_ca: bool,
    /// With `ca`: nameConstraints subtrees (DNS names, CIDR ranges, e-mail hosts/domains).
    #[serde(default)]
    pub permitted_dns: Vec<String>,
    #[serde(default)]
    pub excluded_dns: Vec<String>,
    #[serde(default)]
    pub permitted_ip: Vec<String>,
    #[serde(default)]
    pub excluded_ip: Vec<String>,
    #[serde(default)]
    pub permitted_email: Vec<String>,
    #[serde(default)]
    pub excluded_email: Vec<String>,
    /// Static extensions put in every certificate of the profile.
    #[serde(default)]
    pub extensions: Vec<StaticExtension>,
    /// OIDs of request extensions copied into the certificate when the request has them.
    #[serde(default)]
    pub copy_request_extensions: Vec<String>,
    /// Requests one identity may submit to this profile per minute (all anonymous callers
    /// together count as one), on top of `[security] requests_per_minute`.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
}

/// `backdate`: a duration string or a number of seconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum BackdateSetting {
    Seconds(u64),
    Text(String),
}

impl BackdateSetting {
    /// The duration: `N` seconds, or `Ns`, `Nm`, `Nh`, `Nd`.
    pub fn duration(&self) -> Result<Duration, String> {
        let text = match self {
            BackdateSetting::Seconds(n) => return Ok(Duration::from_secs(*n)),
            BackdateSetting::Text(t) => t.trim(),
        };
        let bad = || format!("backdate: {text:?} is not a duration (90s, 5m, 1h, or seconds)");
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (n, unit) = text.split_at(split);
        let n: u64 = n.parse().map_err(|_| bad())?;
        let unit = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        n.checked_mul(unit).map(Duration::from_secs).ok_or_else(bad)
    }
}

/// One `[[ca.policy.profiles.NAME.extensions]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticExtension {
    /// Dotted OID.
    pub oid: String,
    #[serde(default)]
    pub critical: bool,
    /// The DER of the extension value (what goes inside extnValue), in hex.
    pub value: String,
}

/// Extensions the CA or the profile writes itself: a static extension or a copied request
/// extension cannot replace them (copying basicConstraints, EKU or SAN from a request is how
/// AD CS templates get ESC1/ESC2-like holes).
pub const MANAGED_EXTENSIONS: [(&str, &str); 10] = [
    ("2.5.29.14", "subjectKeyIdentifier"),
    ("2.5.29.35", "authorityKeyIdentifier"),
    ("2.5.29.17", "subjectAltName"),
    ("2.5.29.15", "keyUsage"),
    ("2.5.29.37", "extKeyUsage"),
    ("2.5.29.19", "basicConstraints"),
    ("2.5.29.30", "nameConstraints"),
    ("2.5.29.32", "certificatePolicies"),
    ("2.5.29.31", "cRLDistributionPoints"),
    ("1.3.6.1.5.5.7.1.1", "authorityInfoAccess"),
];

/// The longest `backdate` a profile may ask for.
pub const MAX_BACKDATE: Duration = signet_core::authority::MAX_BACKDATE;

/// The order forced RDNs are placed in (most general first, as `openssl req -subj` writes
/// names); attribute types not listed come last.
const RDN_ORDER: [&str; 14] = [
    "DC",
    "C",
    "ST",
    "L",
    "street",
    "O",
    "OU",
    "title",
    "SN",
    "GN",
    "CN",
    "SERIALNUMBER",
    "UID",
    "emailAddress",
];

fn rdn_rank(kind: &str) -> usize {
    RDN_ORDER
        .iter()
        .position(|k| k.eq_ignore_ascii_case(kind))
        .unwrap_or(RDN_ORDER.len())
}

fn default_approvals() -> u32 {
    1
}

fn default_rsa_min_exponent() -> u64 {
    65_537
}

fn default_rsa_min_bits() -> u32 {
    2048
}
fn default_subject_attributes() -> Vec<String> {
    vec!["CN".into()]
}
fn default_max_sans() -> usize {
    100
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleConfig {
    #[serde(default)]
    module: Option<String>,
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, ProfileConfig>,
}

/// A profile with its configuration checked and pre-computed.
#[derive(Debug, Clone)]
struct Profile {
    name: ProfileName,
    config: ProfileConfig,
    keys: Vec<String>,
    ip_ranges: Vec<Cidr>,
    uri_prefixes: Vec<Uri>,
    key_usage: KeyUsage,
    eku: Vec<String>,
    validity: Duration,
    /// The certificatePolicies extension, when the profile names policies.
    policies: Option<signet_x509::Extension>,
    /// `subject_forced`, as (canonical attribute type, value, its RDN), in `RDN_ORDER`.
    forced: Vec<(String, String, signet_x509::Rdn)>,
    /// basicConstraints and nameConstraints of a CA profile.
    ca_extensions: Vec<signet_x509::Extension>,
    /// `extensions`, decoded.
    static_extensions: Vec<signet_x509::Extension>,
    backdate: Option<Duration>,
}

/// The `profiles` policy module.
#[derive(Debug)]
pub struct ProfilesPolicy {
    profiles: BTreeMap<ProfileName, Profile>,
    default_profile: Option<ProfileName>,
    /// The CA's own public key (from `start`): a request for it is always refused.
    ca_key: std::sync::OnceLock<Vec<u8>>,
    /// The CA's subject (from `start`): no subordinate CA may take it.
    ca_subject: std::sync::OnceLock<String>,
}

impl ProfilesPolicy {
    /// Parses `[ca.policy]` (with its `profiles` table) and checks every profile.
    pub fn from_toml(config: &toml::Value) -> Result<ProfilesPolicy, ConfigError> {
        let err = |m: String| ConfigError::new("profiles", m);
        let parsed: ModuleConfig = config
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| err(e.message().to_string()))?;
        let _ = parsed.module;
        let mut profiles = BTreeMap::new();
        for (name, config) in parsed.profiles {
            let profile =
                Profile::new(&name, config).map_err(|m| err(format!("profile {name}: {m}")))?;
            profiles.insert(profile.name.clone(), profile);
        }
        let default_profile = match parsed.default_profile {
            Some(p) => {
                let name = ProfileName::new(&p).map_err(|e| err(e.to_string()))?;
                if !profiles.contains_key(&name) {
                    return Err(err(format!(
                        "default_profile {p:?} is not a configured profile"
                    )));
                }
                Some(name)
            }
            None => None,
        };
        if profiles.is_empty() {
            return Err(err("no profiles configured".into()));
        }
        Ok(ProfilesPolicy {
            profiles,
            default_profile,
            ca_key: std::sync::OnceLock::new(),
            ca_subject: std::sync::OnceLock::new(),
        })
    }
}

impl Profile {
    fn new(name: &str, config: ProfileConfig) -> Result<Profile, String> {
        let name = ProfileName::new(name).map_err(|e| e.to_string())?;
        if config.validity_days == 0 {
            return Err("validity_days must be at least 1".into());
        }
        if config.subject_from == SubjectFrom::Identity {
            if config.anonymous {
                return Err(
                    "subject_from = \"identity\" needs an authenticated requester: not with anonymous = true".into(),
                );
            }
            if config.common_name_as_dns {
                return Err(
                    "subject_from = \"identity\" puts a user name in the CN: not with common_name_as_dns".into(),
                );
            }
        }
        let known_keys = ["p256", "p384", "ed25519", "rsa", "mldsa65"];
        for k in &config.key_algorithms {
            if !known_keys.contains(&k.as_str()) {
                return Err(format!(
                    "unknown key algorithm {k:?} (known: {})",
                    known_keys.join(", ")
                ));
            }
        }
        if config.key_algorithms.is_empty() {
            return Err("key_algorithms is empty".into());
        }
        let mut key_usage = KeyUsage::default();
        for ku in &config.key_usage {
            key_usage = key_usage
                .union(KeyUsage::from_name(ku).ok_or_else(|| format!("unknown key usage {ku:?}"))?);
        }
        let signs_certificates =
            key_usage.contains(KeyUsage::KEY_CERT_SIGN) || key_usage.contains(KeyUsage::CRL_SIGN);
        if !config.ca && signs_certificates {
            return Err(
                "keyCertSign and cRLSign belong to CA profiles (ca = true), not leaf profiles"
                    .into(),
            );
        }
        if config.ca && !key_usage.contains(KeyUsage::KEY_CERT_SIGN) {
            return Err("ca = true: key_usage must include keyCertSign".into());
        }
        let mut eku = Vec::new();
        for e in &config.extended_key_usage {
            let oid = ext::eku_oid(e).ok_or_else(|| format!("unknown extended key usage {e:?}"))?;
            // anyExtendedKeyUsage makes a leaf good for every purpose (AD CS ESC2).
            if oid == "2.5.29.37.0" {
                return Err(
                    "anyExtendedKeyUsage (2.5.29.37.0) is refused: name the purposes".into(),
                );
            }
            eku.push(oid);
        }
        // A CA certificate without extKeyUsage is the norm; a leaf without one is good for
        // any purpose (ESC2).
        if eku.is_empty() && !config.ca {
            return Err(
                "extended_key_usage is empty: a leaf profile must name its purposes".into(),
            );
        }
        if config.key_usage.is_empty() {
            return Err("key_usage is empty: a leaf profile must name its key usages".into());
        }
        if config.approvals == 0 || config.approvals > 16 {
            return Err("approvals must be between 1 and 16".into());
        }
        if config.approvals > 1 && config.approval != Approval::Manual {
            return Err(format!(
                "approvals = {} needs approval = \"manual\"",
                config.approvals
            ));
        }
        // Anyone could obtain a certificate to log in with (AD CS ESC1 without even an
        // account): anonymous client-authentication profiles must wait for a manager.
        const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
        if config.anonymous
            && config.approval == Approval::Auto
            && eku.iter().any(|e| e == CLIENT_AUTH)
        {
            return Err(
                "anonymous = true with approval = \"auto\" would issue client-authentication certificates to anyone; require approval = \"manual\" or drop clientAuth".into(),
            );
        }
        for e in &config.enroll {
            let name = e.strip_prefix("group:").unwrap_or(e);
            signet_core::auth::check_identity_name(name).map_err(|m| format!("enroll: {m}"))?;
        }
        let mut config = config;
        for (field, list) in [
            ("dns_suffixes", &mut config.dns_suffixes),
            ("email_domains", &mut config.email_domains),
        ] {
            for suffix in list.iter_mut() {
                *suffix = suffix.to_ascii_lowercase();
                if !valid_hostname(suffix) {
                    return Err(format!(
                        "{field}: {suffix:?} is not a DNS name (no leading or trailing dot, no wildcard)"
                    ));
                }
            }
        }
        let mut uri_prefixes = Vec::new();
        for p in &config.uri_prefixes {
            let parsed = Uri::parse(p)
                .filter(|u| u.userinfo.is_none())
                .ok_or_else(|| format!("uri_prefixes: {p:?} is not scheme://host[/path]"))?;
            uri_prefixes.push(parsed);
        }
        let ip_ranges = config
            .ip_ranges
            .iter()
            .map(|r| Cidr::parse(r).ok_or_else(|| format!("bad ip range {r:?}")))
            .collect::<Result<_, _>>()?;
        for s in &config.subject_attributes {
            if s.is_empty() {
                return Err("empty subject attribute name".into());
            }
        }
        for p in &config.certificate_policies {
            if !ext::is_dotted_oid(p) {
                return Err(format!("certificate_policies: {p:?} is not a dotted OID"));
            }
        }
        let policies = match config.certificate_policies.is_empty() {
            true => None,
            false => Some(
                ext::certificate_policies(&config.certificate_policies)
                    .map_err(|e| format!("certificate_policies: {e}"))?,
            ),
        };
        let ca_extensions = ca_extensions(&config)?;
        let forced = forced_attributes(&config)?;
        for r in &config.subject_required {
            if !config
                .subject_attributes
                .iter()
                .any(|a| a.eq_ignore_ascii_case(r))
            {
                return Err(format!(
                    "subject_required: {r} is not in subject_attributes, so a request carrying it would be refused"
                ));
            }
            if config.subject_from == SubjectFrom::Identity {
                return Err(
                    "subject_required checks the request's subject, which subject_from = \"identity\" ignores".into(),
                );
            }
        }
        if config.renewal && config.approval != Approval::Manual {
            return Err(
                "renewal = true skips a manager's approval: it needs approval = \"manual\"".into(),
            );
        }
        if config.renewal && config.anonymous {
            return Err(
                "renewal = true matches the authenticated requester: not with anonymous = true"
                    .into(),
            );
        }
        let backdate = match &config.backdate {
            None => None,
            Some(b) => {
                let d = b.duration()?;
                if d > MAX_BACKDATE {
                    return Err(format!(
                        "backdate: {}s is more than the 24 hours (86400s) a certificate may be backdated",
                        d.as_secs()
                    ));
                }
                Some(d)
            }
        };
        let static_extensions = static_extensions(&config)?;
        for (i, oid) in config.copy_request_extensions.iter().enumerate() {
            check_extension_oid("copy_request_extensions", oid)?;
            if config.copy_request_extensions[..i].contains(oid) {
                return Err(format!("copy_request_extensions: {oid} is listed twice"));
            }
            if static_extensions.iter().any(|e| e.oid == *oid) {
                return Err(format!(
                    "copy_request_extensions: {oid} is also a static extension of the profile"
                ));
            }
        }
        Ok(Profile {
            name,
            policies,
            forced,
            ca_extensions,
            static_extensions,
            backdate,
            keys: config.key_algorithms.clone(),
            ip_ranges,
            uri_prefixes,
            key_usage,
            eku,
            validity: Duration::from_secs(u64::from(config.validity_days) * 86_400),
            config,
        })
    }

    /// An RSA key's public exponent: odd, and at least `rsa_min_exponent`.
    fn check_rsa_exponent(&self, spki_der: &[u8]) -> Result<(), String> {
        match signet_x509::alg::rsa_public_exponent(spki_der) {
            Some(e) if e % 2 == 0 || e < self.config.rsa_min_exponent.max(3) => Err(format!(
                "RSA public exponent {e} is not allowed by profile {} (an odd exponent of at least {} is required)",
                self.name,
                self.config.rsa_min_exponent.max(3)
            )),
            _ => Ok(()),
        }
    }

    fn check_key(&self, key: KeyAlgorithm) -> Result<(), String> {
        let family = match key {
            KeyAlgorithm::P256 => "p256",
            KeyAlgorithm::P384 => "p384",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa { .. } => "rsa",
            KeyAlgorithm::MlDsa65 => "mldsa65",
        };
        if !self.keys.iter().any(|k| k == family) {
            return Err(format!(
                "key algorithm {key} is not allowed by profile {} (allowed: {})",
                self.name,
                self.keys.join(", ")
            ));
        }
        if let KeyAlgorithm::Rsa { bits } = key
            && bits < self.config.rsa_min_bits
        {
            return Err(format!(
                "RSA key of {bits} bits is below profile {}'s minimum of {} bits",
                self.name, self.config.rsa_min_bits
            ));
        }
        Ok(())
    }

    /// The subject to issue: the request's, if every attribute in it is allowed, holds a
    /// printable string within the RFC 5280 upper bound, and there is at most one CN (a
    /// second CN is read by some relying parties instead of the first); every
    /// `subject_required` type present; and the `subject_forced` attributes set by the CA.
    ///
    /// A forced attribute may be absent from the request or carry the same value (compared
    /// exactly); the request's copy is then replaced by the CA's. When the profile forces
    /// attributes, the subject is put in `RDN_ORDER` (DC, C, ST, L, street, O, OU, title, SN,
    /// GN, CN, serialNumber, UID, emailAddress, then any other type); otherwise the request's
    /// order is kept.
    fn subject(&self, requested: &DistinguishedName) -> Result<DistinguishedName, String> {
        let mut common_names = 0;
        let mut kept: Vec<signet_x509::Rdn> = Vec::new();
        for rdn in requested.rdns() {
            let mut forced_here = false;
            for (kind, value) in &rdn.attributes {
                if let Some((_, want, _)) = self.forced.iter().find(|(k, _, _)| k == kind) {
                    if value != want {
                        return Err(format!(
                            "subject attribute {kind}={value} differs from the {kind}={want} profile {} sets",
                            self.name
                        ));
                    }
                    forced_here = true;
                    continue;
                }
                if !self
                    .config
                    .subject_attributes
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(kind))
                {
                    return Err(format!(
                        "subject attribute {kind}={value} is not allowed by profile {} (allowed: {})",
                        self.name,
                        list_or_none(&self.config.subject_attributes)
                    ));
                }
                if kind == "CN" {
                    common_names += 1;
                    if common_names > 1 {
                        return Err(format!("subject has more than one CN (second: CN={value})"));
                    }
                }
                check_attribute_value(kind, value)?;
            }
            if forced_here && rdn.attributes.len() > 1 {
                return Err(format!(
                    "subject attribute {} is set by profile {} and cannot be part of a multi-valued RDN",
                    rdn.attributes
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("+"),
                    self.name
                ));
            }
            if !forced_here {
                kept.push(rdn);
            }
        }
        for required in &self.config.subject_required {
            let present = kept
                .iter()
                .flat_map(|r| r.attributes.iter())
                .any(|(k, _)| k.eq_ignore_ascii_case(required));
            if !present {
                return Err(format!(
                    "profile {} requires a {required} attribute in the subject",
                    self.name
                ));
            }
        }
        if self.forced.is_empty() {
            return Ok(requested.clone());
        }
        Ok(self.with_forced(kept))
    }

    /// `rdns` and the forced RDNs, sorted into `RDN_ORDER` (stable: RDNs of a type not in
    /// the list keep their order, last).
    fn with_forced(&self, rdns: Vec<signet_x509::Rdn>) -> DistinguishedName {
        let mut out: Vec<signet_x509::Rdn> = rdns;
        out.extend(self.forced.iter().map(|(_, _, f)| f.clone()));
        out.sort_by_key(|r| {
            r.attributes
                .first()
                .map_or(RDN_ORDER.len(), |(k, _)| rdn_rank(k))
        });
        DistinguishedName::from_rdns(&out)
    }

    fn check_dns(&self, name: &str) -> Result<(), String> {
        let lower = name.to_ascii_lowercase();
        let (wildcard, base) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        if wildcard && !self.config.allow_wildcards {
            return Err(format!(
                "wildcard DNS name {name} is not allowed by profile {}",
                self.name
            ));
        }
        if !valid_hostname(base) {
            return Err(format!("DNS name {name:?} is not a valid host name"));
        }
        let allowed = self
            .config
            .dns_suffixes
            .iter()
            .any(|s| base == s.as_str() || base.ends_with(&format!(".{s}")));
        if !allowed {
            return Err(format!(
                "DNS name {name} is not allowed by profile {} (allowed suffixes: {})",
                self.name,
                list_or_none(&self.config.dns_suffixes)
            ));
        }
        Ok(())
    }

    fn check_san(&self, san: &San) -> Result<(), String> {
        match san {
            San::Dns(d) => self.check_dns(d),
            San::Ip(ip) => {
                if self.ip_ranges.iter().any(|r| r.contains(ip)) {
                    Ok(())
                } else {
                    Err(format!(
                        "IP address {ip} is not allowed by profile {} (allowed ranges: {})",
                        self.name,
                        list_or_none(&self.config.ip_ranges)
                    ))
                }
            }
            San::Email(e) => {
                let ok = match e.split_once('@') {
                    Some((local, domain)) => {
                        let domain = domain.to_ascii_lowercase();
                        !local.is_empty()
                            && !domain.contains('@')
                            && !local.bytes().any(|b| b.is_ascii_whitespace())
                            && valid_hostname(&domain)
                            && self
                                .config
                                .email_domains
                                .iter()
                                .any(|s| domain == *s || domain.ends_with(&format!(".{s}")))
                    }
                    None => false,
                };
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "e-mail address {e} is not allowed by profile {} (allowed domains: {})",
                        self.name,
                        list_or_none(&self.config.email_domains)
                    ))
                }
            }
            San::Uri(u) => {
                // Scheme, host and port must match exactly (no userinfo), then the path
                // prefix: `https://example.com.evil.net` and `https://example.com@evil.net`
                // do not match `https://example.com`.
                let allowed = Uri::parse(u).is_some_and(|uri| {
                    uri.userinfo.is_none() && self.uri_prefixes.iter().any(|p| p.allows(&uri))
                });
                if allowed {
                    Ok(())
                } else {
                    Err(format!(
                        "URI {u} is not allowed by profile {} (allowed prefixes: {})",
                        self.name,
                        list_or_none(&self.config.uri_prefixes)
                    ))
                }
            }
        }
    }

    /// The SANs to issue: every requested SAN (each must be allowed), plus the CN as a DNS
    /// name or IP address when `common_name_as_dns` is set.
    fn sans(&self, subject: &DistinguishedName, requested: &[San]) -> Result<Vec<San>, String> {
        let mut sans = Vec::new();
        for san in requested {
            self.check_san(san)?;
            // DNS names are case-insensitive: issue them in lower case, once.
            let san = match san {
                San::Dns(d) => San::Dns(d.to_ascii_lowercase()),
                other => other.clone(),
            };
            if !sans.contains(&san) {
                sans.push(san);
            }
        }
        if self.config.common_name_as_dns
            && let Some(cn) = subject.common_name()
        {
            let as_san = match cn.parse::<IpAddr>() {
                Ok(ip) => San::Ip(ip),
                Err(_) => San::Dns(cn.to_ascii_lowercase()),
            };
            self.check_san(&as_san)
                .map_err(|e| format!("subject CN: {e}"))?;
            if !sans.contains(&as_san) {
                sans.push(as_san);
            }
        }
        if sans.len() > self.config.max_sans {
            return Err(format!(
                "{} subject alternative names exceed profile {}'s maximum of {}",
                sans.len(),
                self.name,
                self.config.max_sans
            ));
        }
        if self.config.require_san && sans.is_empty() {
            return Err(format!(
                "profile {} requires at least one subject alternative name",
                self.name
            ));
        }
        Ok(sans)
    }

    /// The profile's key usages that the key can have: encipherment needs RSA; keyAgreement
    /// needs RSA or EC (not EdDSA or ML-DSA, RFC 8410 / FIPS 204).
    fn key_usage_for(&self, key: KeyAlgorithm) -> KeyUsage {
        let mut usage = self.key_usage;
        if !matches!(key, KeyAlgorithm::Rsa { .. }) {
            usage.0 &= !(KeyUsage::KEY_ENCIPHERMENT.0 | KeyUsage::DATA_ENCIPHERMENT.0);
        }
        if matches!(key, KeyAlgorithm::Ed25519 | KeyAlgorithm::MlDsa65) {
            usage.0 &= !KeyUsage::KEY_AGREEMENT.0;
        }
        usage
    }

    /// Requested extensions the profile does not grant are refused, not dropped: key usages
    /// or purposes beyond the profile's, a CA certificate, or an unknown critical extension.
    /// Other non-critical extensions stay recorded (disabled) and out of the certificate.
    fn check_requested_extensions(
        &self,
        requested: &[signet_x509::Extension],
        usage: KeyUsage,
    ) -> Result<(), String> {
        use signet_x509::ext::oid;
        for e in requested {
            let bad = |err: signet_x509::Error| format!("requested extension {}: {err}", e.oid);
            match e.oid.as_str() {
                oid::SUBJECT_ALT_NAME | oid::SUBJECT_KEY_IDENTIFIER => {}
                oid::KEY_USAGE => {
                    let asked = ext::parse_key_usage(&e.value).map_err(bad)?;
                    if !usage.contains(asked) {
                        return Err(format!(
                            "requested key usage bits {:#06x} exceed profile {}'s ({:#06x} for this key)",
                            asked.0, self.name, usage.0
                        ));
                    }
                }
                oid::EXT_KEY_USAGE => {
                    for purpose in ext::parse_extended_key_usage(&e.value).map_err(bad)? {
                        if !self.eku.contains(&purpose) {
                            return Err(format!(
                                "requested extended key usage {purpose} is not allowed by profile {}",
                                self.name
                            ));
                        }
                    }
                }
                oid::BASIC_CONSTRAINTS => {
                    let (ca, _) = ext::parse_basic_constraints(&e.value).map_err(bad)?;
                    // A CA profile sets its own basicConstraints whatever was asked.
                    if ca && !self.config.ca {
                        return Err(format!(
                            "the request asks for a CA certificate; profile {} issues end-entity certificates",
                            self.name
                        ));
                    }
                }
                other
                    if self
                        .config
                        .copy_request_extensions
                        .iter()
                        .any(|c| c == other) =>
                {
                    ext::check_der_tree(&e.value).map_err(|err| {
                        format!("requested extension {other} is not well-formed DER: {err}")
                    })?;
                }
                other if e.critical => {
                    return Err(format!(
                        "the request marks extension {other} critical and profile {} does not support it",
                        self.name
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        let module_err = |m: String| ModuleError::new("profiles", m);
        if let Err(reason) = self.check_key(ctx.public_key()) {
            return Ok(Verdict::Deny(reason));
        }
        if let Err(reason) = self.check_rsa_exponent(ctx.public_key_der()) {
            return Ok(Verdict::Deny(reason));
        }
        if self.config.unique_key {
            let history = ctx.history().ok_or_else(|| {
                module_err(format!(
                    "profile {} has unique_key = true but the engine looked up no key history",
                    self.name
                ))
            })?;
            let requester = ctx.requester();
            // Anonymous and imported certificates have no known holder: never "the same".
            let someone_else =
                history
                    .key_holders
                    .iter()
                    .any(|h| match (h.as_deref(), requester) {
                        (Some(holder), Some(me)) => !signet_core::auth::same_identity(holder, me),
                        _ => true,
                    });
            if someone_else {
                return Ok(Verdict::Deny(format!(
                    "the public key (SHA-256 {}) is already certified for another requester; profile {} needs a key of your own",
                    hex::encode(signet_x509::sha256(ctx.public_key_der())),
                    self.name
                )));
            }
        }
        let subject = match self.config.subject_from {
            SubjectFrom::Request => match self.subject(ctx.request_subject()) {
                Ok(s) => s,
                Err(reason) => return Ok(Verdict::Deny(reason)),
            },
            SubjectFrom::Identity => {
                let Some(who) = ctx.requester() else {
                    return Ok(Verdict::Deny(format!(
                        "profile {} takes the subject from the authenticated identity: authenticate",
                        self.name
                    )));
                };
                let cn = DistinguishedName::parse(&format!("CN={who}"))
                    .map_err(|e| module_err(format!("subject from identity {who:?}: {e}")))?;
                if self.forced.is_empty() {
                    cn
                } else {
                    self.with_forced(cn.rdns())
                }
            }
        };
        let sans = match self.sans(&subject, ctx.request_sans()) {
            Ok(s) => s,
            Err(reason) => return Ok(Verdict::Deny(reason)),
        };
        if subject.is_empty() && sans.is_empty() {
            return Ok(Verdict::Deny(
                "the request names neither a subject nor a subject alternative name".into(),
            ));
        }
        // What renewal compares, in the form the store keeps certificates' names.
        let renewal_key = (self.config.renewal && ctx.is_new_request()).then(|| {
            (
                subject.to_string(),
                sans.iter()
                    .map(ToString::to_string)
                    .collect::<std::collections::BTreeSet<_>>(),
            )
        });
        ctx.set_subject(subject);
        ctx.set_sans(sans);

        let not_before = ctx.draft().not_before();
        let not_after = (not_before + self.validity).min(ctx.draft().not_after());
        ctx.set_validity(not_before, not_after)
            .map_err(|e| module_err(e.to_string()))?;

        let usage = self.key_usage_for(ctx.public_key());
        if usage == KeyUsage::default() {
            return Ok(Verdict::Deny(format!(
                "profile {} allows no key usage for a {} key",
                self.name,
                ctx.public_key()
            )));
        }
        if let Err(reason) = self.check_requested_extensions(ctx.request_extensions(), usage) {
            return Ok(Verdict::Deny(reason));
        }
        ctx.set_extension(ext::key_usage(usage))
            .map_err(|e| module_err(e.to_string()))?;
        if !self.eku.is_empty() {
            let eku = ext::extended_key_usage(&self.eku).map_err(|e| module_err(e.to_string()))?;
            ctx.set_extension(eku)
                .map_err(|e| module_err(e.to_string()))?;
        }
        for e in self
            .policies
            .iter()
            .chain(&self.ca_extensions)
            .chain(&self.static_extensions)
        {
            ctx.set_extension(e.clone())
                .map_err(|e| module_err(e.to_string()))?;
        }
        for oid in &self.config.copy_request_extensions {
            if ctx.request_extensions().iter().any(|e| e.oid == *oid) {
                ctx.enable_extension(oid)
                    .map_err(|e| module_err(e.to_string()))?;
            }
        }

        Ok(match self.config.approval {
            Approval::Auto => Verdict::Issue,
            Approval::Manual if ctx.is_new_request() => {
                if let Some((subject, sans)) = &renewal_key
                    && self.holds_same(ctx, subject, sans)?
                {
                    Verdict::Issue
                } else {
                    Verdict::Pending(format!(
                        "profile {} requires approval by a certificate manager",
                        self.name
                    ))
                }
            }
            Approval::Manual => Verdict::Issue,
        })
    }

    /// Renewal: whether the requester holds a valid certificate of this profile from this CA
    /// (the engine's lookup) with exactly this subject and this set of subjectAltNames.
    fn holds_same(
        &self,
        ctx: &PolicyCtx<'_>,
        subject: &str,
        sans: &std::collections::BTreeSet<String>,
    ) -> Result<bool, ModuleError> {
        let history = ctx.history().ok_or_else(|| {
            ModuleError::new(
                "profiles",
                format!(
                    "profile {} has renewal = true but the engine looked up no certificates",
                    self.name
                ),
            )
        })?;
        Ok(history.held.iter().any(|held| {
            held.subject == subject
                && held.sans.len() == sans.len()
                && held.sans.iter().all(|s| sans.contains(s))
        }))
    }
}

impl Policy for ProfilesPolicy {
    fn name(&self) -> &str {
        "profiles"
    }

    fn description(&self) -> String {
        format!("profiles policy module ({} profiles)", self.profiles.len())
    }

    fn start(&self, ca: &CaInfo) -> Result<(), ModuleError> {
        if let Ok(info) = signet_x509::parse_certificate(&ca.certificate) {
            // A CA limited by its own pathLenConstraint cannot make a CA of the same depth.
            let ca_path_len = info
                .extensions
                .iter()
                .find(|e| e.oid == ext::oid::BASIC_CONSTRAINTS)
                .and_then(|e| ext::parse_basic_constraints(&e.value).ok())
                .and_then(|(_, len)| len);
            if let Some(limit) = ca_path_len {
                for p in self.profiles.values().filter(|p| p.config.ca) {
                    let ok = p.config.path_len.is_some_and(|n| u32::from(n) < limit);
                    if !ok {
                        return Err(ModuleError::new(
                            "profiles",
                            format!(
                                "profile {}: CA {} has pathLenConstraint {limit}, so a subordinate CA it issues needs path_len below {limit}",
                                p.name, ca.name
                            ),
                        ));
                    }
                }
            }
            let _ = self.ca_key.set(info.spki_der);
        }
        let _ = self.ca_subject.set(ca.subject.to_string());
        tracing::info!(ca = %ca.name, profiles = ?self.profiles.keys().map(|p| p.as_str()).collect::<Vec<_>>(), "profiles policy started");
        Ok(())
    }

    fn has_profile(&self, profile: &ProfileName) -> bool {
        self.profiles.contains_key(profile)
    }

    fn profiles(&self) -> Vec<ProfileName> {
        self.profiles.keys().cloned().collect()
    }

    fn default_profile(&self) -> Option<ProfileName> {
        self.default_profile.clone()
    }

    fn access(&self, profile: &ProfileName) -> signet_core::ProfileAccess {
        match self.profiles.get(profile) {
            Some(p) => signet_core::ProfileAccess {
                anonymous: p.config.anonymous,
                enroll: p.config.enroll.clone(),
                approvals: p.config.approvals,
                requests_per_minute: p.config.requests_per_minute,
            },
            None => signet_core::ProfileAccess::default(),
        }
    }

    fn issuance(&self, profile: &ProfileName) -> signet_core::IssuanceNeeds {
        match self.profiles.get(profile) {
            Some(p) => signet_core::IssuanceNeeds {
                key_holders: p.config.unique_key,
                held: p.config.renewal,
                backdate: p.backdate,
            },
            None => signet_core::IssuanceNeeds::default(),
        }
    }

    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        let profile = self
            .profiles
            .get(ctx.profile())
            .ok_or_else(|| ModuleError::new("profiles", format!("no profile {}", ctx.profile())))?;
        // A certificate for the CA's own key would let its holder pass for the CA.
        if self
            .ca_key
            .get()
            .is_some_and(|k| k.as_slice() == ctx.public_key_der())
        {
            return Ok(Verdict::Deny(
                "the request carries this CA's own public key".into(),
            ));
        }
        let verdict = profile.verify(ctx)?;
        // A subordinate CA named like this CA would be mistaken for it when chains are built.
        if profile.config.ca
            && !matches!(verdict, Verdict::Deny(_))
            && self
                .ca_subject
                .get()
                .is_some_and(|s| *s == ctx.draft().subject().to_string())
        {
            return Ok(Verdict::Deny(format!(
                "subject {} is this CA's own name; a subordinate CA needs a name of its own",
                ctx.draft().subject()
            )));
        }
        Ok(verdict)
    }

    fn check_edit(
        &self,
        request: &signet_core::RequestProps,
        edit: &signet_core::ExtensionEdit,
    ) -> Result<(), signet_core::EditRefused> {
        match self.profiles.get(&request.profile) {
            Some(profile) => profile
                .check_edit(request, edit)
                .map_err(signet_core::EditRefused::Policy),
            None => Err(signet_core::EditRefused::Policy(format!(
                "no profile {}",
                request.profile
            ))),
        }
    }
}

/// basicConstraints (cA=TRUE, critical) and nameConstraints (critical) of a `ca = true`
/// profile; the CA-only options are refused on a leaf profile, and automatic issuance of CA
/// certificates without the explicit `allow_auto_ca`.
fn ca_extensions(config: &ProfileConfig) -> Result<Vec<signet_x509::Extension>, String> {
    let lists = [
        ("permitted_dns", &config.permitted_dns),
        ("excluded_dns", &config.excluded_dns),
        ("permitted_ip", &config.permitted_ip),
        ("excluded_ip", &config.excluded_ip),
        ("permitted_email", &config.permitted_email),
        ("excluded_email", &config.excluded_email),
    ];
    if !config.ca {
        let leaf_only = |key: &str| format!("{key} applies to CA profiles only (set ca = true)");
        if config.path_len.is_some() {
            return Err(leaf_only("path_len"));
        }
        if config.allow_auto_ca {
            return Err(leaf_only("allow_auto_ca"));
        }
        if let Some((key, _)) = lists.iter().find(|(_, l)| !l.is_empty()) {
            return Err(leaf_only(key));
        }
        return Ok(Vec::new());
    }
    if config.approval == Approval::Auto && !config.allow_auto_ca {
        return Err(
            "ca = true with approval = \"auto\" would make anyone who may enroll a subordinate CA without review; set approval = \"manual\" (or, deliberately, allow_auto_ca = true)".into(),
        );
    }
    if config.anonymous {
        return Err("ca = true: a CA certificate is never issued to anonymous callers".into());
    }
    let mut nc = signet_x509::NameConstraints::default();
    for (key, list) in lists {
        for value in list {
            let subtree = match key {
                "permitted_dns" | "excluded_dns" => {
                    let name = value.to_ascii_lowercase();
                    if !valid_hostname(&name) {
                        return Err(format!(
                            "{key}: {value:?} is not a DNS name (no leading dot, no wildcard)"
                        ));
                    }
                    signet_x509::NameSubtree::Dns(name)
                }
                "permitted_ip" | "excluded_ip" => {
                    let cidr = Cidr::parse(value)
                        .ok_or_else(|| format!("{key}: {value:?} is not a CIDR range"))?;
                    signet_x509::NameSubtree::Ip {
                        network: cidr.network,
                        prefix: cidr.prefix,
                    }
                }
                _ => {
                    // A mailbox, a host (every mailbox at it) or `.domain` (any host below).
                    let lower = value.to_ascii_lowercase();
                    let host = match lower.split_once('@') {
                        Some((local, host)) if !local.is_empty() => host,
                        Some(_) => "",
                        None => lower.strip_prefix('.').unwrap_or(&lower),
                    };
                    if !valid_hostname(host) {
                        return Err(format!(
                            "{key}: {value:?} is not a mailbox, host or .domain"
                        ));
                    }
                    signet_x509::NameSubtree::Email(lower.clone())
                }
            };
            if key.starts_with("permitted") {
                nc.permitted.push(subtree);
            } else {
                nc.excluded.push(subtree);
            }
        }
    }
    let mut out = vec![ext::basic_constraints(true, config.path_len)];
    if !(nc.permitted.is_empty() && nc.excluded.is_empty()) {
        out.push(ext::name_constraints(&nc).map_err(|e| format!("name constraints: {e}"))?);
    }
    Ok(out)
}

/// `subject_forced`, checked like a requested attribute, in `RDN_ORDER`. A forced attribute
/// may not also be copied from the request or required of it.
fn forced_attributes(
    config: &ProfileConfig,
) -> Result<Vec<(String, String, signet_x509::Rdn)>, String> {
    let mut out: Vec<(String, String, signet_x509::Rdn)> = Vec::new();
    for (kind, value) in &config.subject_forced {
        // Escape every ASCII punctuation and space so the value is taken literally.
        let mut escaped = String::with_capacity(value.len() * 2);
        for c in value.chars() {
            if c.is_ascii_punctuation() || c == ' ' {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        let dn = DistinguishedName::parse(&format!("{kind}={escaped}"))
            .map_err(|e| format!("subject_forced: {kind} = {value:?}: {e}"))?;
        let mut rdns = dn.rdns();
        let rdn = match (rdns.pop(), rdns.is_empty()) {
            (Some(rdn), true) if rdn.attributes.len() == 1 => rdn,
            _ => {
                return Err(format!(
                    "subject_forced: {kind} = {value:?} is not one attribute"
                ));
            }
        };
        let canonical = rdn.attributes[0].0.clone();
        check_attribute_value(&canonical, value).map_err(|e| format!("subject_forced: {e}"))?;
        if out.iter().any(|(k, _, _)| *k == canonical) {
            return Err(format!("subject_forced: {canonical} is given twice"));
        }
        for (list, key) in [
            (&config.subject_attributes, "subject_attributes"),
            (&config.subject_required, "subject_required"),
        ] {
            if list.iter().any(|a| canonical_attribute(a) == canonical) {
                return Err(format!(
                    "subject_forced: {canonical} is set by the CA, so it cannot also be in {key}"
                ));
            }
        }
        out.push((canonical, value.clone(), rdn));
    }
    out.sort_by_key(|(k, _, _)| rdn_rank(k));
    Ok(out)
}

/// The short name Signet prints for an attribute type (`organizationName` → `O`), or the
/// name as given if it is not one.
fn canonical_attribute(name: &str) -> String {
    DistinguishedName::parse(&format!("{name}=x"))
        .ok()
        .and_then(|d| d.attributes().into_iter().next())
        .map_or_else(|| name.to_string(), |(k, _)| k)
}

/// The `extensions` entries: a dotted OID the profile does not manage, given once, with a
/// value that is one well-formed DER TLV.
fn static_extensions(config: &ProfileConfig) -> Result<Vec<signet_x509::Extension>, String> {
    let mut out: Vec<signet_x509::Extension> = Vec::new();
    for e in &config.extensions {
        check_extension_oid("extensions", &e.oid)?;
        if out.iter().any(|x| x.oid == e.oid) {
            return Err(format!("extensions: {} is listed twice", e.oid));
        }
        let compact: String = e.value.chars().filter(|c| !c.is_whitespace()).collect();
        let value = hex::decode(&compact)
            .map_err(|err| format!("extensions: {}: value is not hex ({err})", e.oid))?;
        ext::check_der_tree(&value).map_err(|err| {
            format!(
                "extensions: {}: value is not one well-formed DER TLV: {err}",
                e.oid
            )
        })?;
        out.push(signet_x509::Extension {
            oid: e.oid.clone(),
            critical: e.critical,
            value,
        });
    }
    Ok(out)
}

/// A dotted OID (first arc 0–2, no leading zeros) that is not one the CA or profile writes.
fn check_extension_oid(key: &str, oid: &str) -> Result<(), String> {
    let arcs: Vec<&str> = oid.split('.').collect();
    let well_formed = ext::is_dotted_oid(oid)
        && arcs.iter().all(|a| a.len() == 1 || !a.starts_with('0'))
        && matches!(arcs.first(), Some(&"0" | &"1" | &"2"));
    if !well_formed {
        return Err(format!("{key}: {oid:?} is not a dotted OID"));
    }
    if let Some((_, name)) = MANAGED_EXTENSIONS.iter().find(|(o, _)| *o == oid) {
        return Err(format!(
            "{key}: {oid} ({name}) is written by the CA or the profile's own settings and cannot be set or copied"
        ));
    }
    Ok(())
}

/// A subject attribute value: a character string without control characters, within the
/// RFC 5280 upper bound for its type.
fn check_attribute_value(kind: &str, value: &str) -> Result<(), String> {
    if value.starts_with('#') {
        return Err(format!(
            "subject attribute {kind} is not a character string"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "subject attribute {kind} contains a control character"
        ));
    }
    let bound = match kind {
        "C" => 2,
        "L" | "ST" => 128,
        "E" | "emailAddress" => 255,
        _ => 64,
    };
    if value.is_empty() || value.chars().count() > bound {
        return Err(format!(
            "subject attribute {kind} must be 1 to {bound} characters (RFC 5280), got {}",
            value.chars().count()
        ));
    }
    Ok(())
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// A host name of LDH labels (RFC 1123), at most 253 characters.
fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The parts of a URI that allow-lists compare (RFC 3986 `scheme://[userinfo@]host[:port]/path`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Uri {
    scheme: String,
    userinfo: Option<String>,
    host: String,
    port: Option<String>,
    path: String,
}

impl Uri {
    fn parse(s: &str) -> Option<Uri> {
        if s.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return None;
        }
        let (scheme, rest) = s.split_once("://")?;
        let scheme_ok = !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !scheme_ok {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        // An IPv6 literal keeps its colons inside brackets.
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, Some(p.to_string())),
            _ => (hostport, None),
        };
        if host.is_empty() {
            return None;
        }
        Some(Uri {
            scheme: scheme.to_ascii_lowercase(),
            userinfo,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_string(),
        })
    }

    /// Whether `uri` falls under this prefix: same scheme, host and port, and a path that
    /// starts with the prefix's path on a segment boundary.
    fn allows(&self, uri: &Uri) -> bool {
        let rest = uri.path.strip_prefix(self.path.as_str());
        let path_ok = rest.is_some_and(|r| {
            self.path.is_empty()
                || self.path.ends_with('/')
                || r.is_empty()
                || r.starts_with(['/', '?', '#'])
        });
        self.scheme == uri.scheme && self.host == uri.host && self.port == uri.port && path_ok
    }
}

/// An IP range in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr {
            network: addr,
            prefix,
        })
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), self.prefix, 32)
                    == masked(u32::from(*a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(*a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(extra: &str) -> Profile {
        let text = format!(
            r#"
approval = "auto"
validity_days = 30
key_algorithms = ["p256", "rsa"]
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["serverAuth"]
common_name_as_dns = true
dns_suffixes = ["example.com"]
ip_ranges = ["10.0.0.0/8", "::1/128"]
{extra}
"#
        );
        let config: ProfileConfig = toml::from_str(&text).expect("profile parses");
        Profile::new("server", config).expect("profile is valid")
    }

    #[test]
    fn cidr_matching() {
        let c = Cidr::parse("10.0.0.0/8").expect("cidr");
        assert!(c.contains(&"10.255.1.2".parse().expect("ip")));
        assert!(!c.contains(&"11.0.0.1".parse().expect("ip")));
        assert!(!c.contains(&"::1".parse().expect("ip")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("any")
                .contains(&"1.2.3.4".parse().expect("ip"))
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn dns_rules_name_the_offending_value() {
        let p = profile("");
        assert!(p.check_dns("www.example.com").is_ok());
        assert!(p.check_dns("example.com").is_ok());
        let e = p
            .check_dns("evil-example.com")
            .expect_err("not a suffix match");
        assert!(e.contains("evil-example.com"), "{e}");
        assert!(
            p.check_dns("*.example.com")
                .expect_err("wildcards off")
                .contains("wildcard")
        );
        assert!(p.check_dns("bad_label.example.com").is_err());
        let p = profile("allow_wildcards = true");
        assert!(p.check_dns("*.example.com").is_ok());
    }

    #[test]
    fn sans_are_checked_and_cn_is_added() {
        let p = profile("");
        let subject = DistinguishedName::parse("CN=www.example.com").expect("dn");
        let sans = p
            .sans(&subject, &[San::Ip("10.1.2.3".parse().expect("ip"))])
            .expect("allowed");
        assert_eq!(sans.len(), 2);
        let e = p
            .sans(&subject, &[San::Email("a@example.com".into())])
            .expect_err("e-mail not allowed");
        assert!(e.contains("a@example.com"), "{e}");
        let e = p
            .sans(&subject, &[San::Ip("192.168.1.1".parse().expect("ip"))])
            .expect_err("ip");
        assert!(e.contains("192.168.1.1"), "{e}");
    }

    #[test]
    fn subject_attributes_outside_the_profile_are_refused() {
        let p = profile("");
        let dn = DistinguishedName::parse("O=Evil Corp,CN=www.example.com").expect("dn");
        let e = p.subject(&dn).expect_err("O is not allowed");
        assert!(e.contains("O=Evil Corp"), "{e}");
    }

    #[test]
    fn keys_are_checked() {
        let p = profile("");
        assert!(p.check_key(KeyAlgorithm::P256).is_ok());
        assert!(
            p.check_key(KeyAlgorithm::Ed25519)
                .expect_err("ed25519")
                .contains("ed25519")
        );
        assert!(p.check_key(KeyAlgorithm::Rsa { bits: 2048 }).is_ok());
        let p = profile("rsa_min_bits = 3072");
        assert!(
            p.check_key(KeyAlgorithm::Rsa { bits: 2048 })
                .expect_err("small")
                .contains("2048")
        );
    }

    #[test]
    fn key_encipherment_only_for_rsa() {
        let p = profile("");
        assert!(
            !p.key_usage_for(KeyAlgorithm::P256)
                .contains(KeyUsage::KEY_ENCIPHERMENT)
        );
        assert!(
            p.key_usage_for(KeyAlgorithm::Rsa { bits: 2048 })
                .contains(KeyUsage::KEY_ENCIPHERMENT)
        );
    }

    #[test]
    fn bad_configuration_is_refused() {
        let bad = [
            "approval = \"auto\"\nvalidity_days = 0\nkey_algorithms=[\"p256\"]\nkey_usage=[]\nextended_key_usage=[\"serverAuth\"]",
            "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"dsa\"]\nkey_usage=[]\nextended_key_usage=[\"serverAuth\"]",
            "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"p256\"]\nkey_usage=[\"keyCertSign\"]\nextended_key_usage=[\"serverAuth\"]",
            "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"p256\"]\nkey_usage=[]\nextended_key_usage=[]",
        ];
        for text in bad {
            let config: ProfileConfig = toml::from_str(text).expect("parses");
            assert!(Profile::new("x", config).is_err(), "{text}");
        }
    }

    #[test]
    fn subjects_with_two_cns_or_oversized_values_are_refused() {
        let p = profile("");
        let two = DistinguishedName::parse("CN=www.example.com,CN=evil.com").expect("dn");
        assert!(
            p.subject(&two)
                .expect_err("two CNs")
                .contains("more than one CN")
        );
        let long = DistinguishedName::parse(&format!("CN={}", "a".repeat(65))).expect("dn");
        assert!(p.subject(&long).expect_err("65 chars").contains("1 to 64"));
    }

    #[test]
    fn email_and_uri_allow_lists_match_whole_hosts() {
        let p = profile(
            "email_domains = [\"Example.com\"]\nuri_prefixes = [\"https://example.com/app\"]",
        );
        for ok in ["a@example.com", "b@mail.example.com"] {
            assert!(p.check_san(&San::Email(ok.into())).is_ok(), "{ok}");
        }
        for bad in [
            "@example.com",
            "a@evil-example.com",
            "a@b@example.com",
            "a@.example.com",
        ] {
            assert!(p.check_san(&San::Email(bad.into())).is_err(), "{bad}");
        }
        for ok in [
            "https://example.com/app",
            "https://EXAMPLE.com/app/x",
            "https://example.com/app?q",
        ] {
            assert!(p.check_san(&San::Uri(ok.into())).is_ok(), "{ok}");
        }
        for bad in [
            "https://example.com.evil.net/app",
            "https://example.com@evil.net/app",
            "https://user@example.com/app",
            "https://example.com/apple",
            "http://example.com/app",
            "https://example.com:444/app",
        ] {
            assert!(p.check_san(&San::Uri(bad.into())).is_err(), "{bad}");
        }
    }

    #[test]
    fn requested_extensions_beyond_the_profile_are_refused() {
        let p = profile("");
        let usage = p.key_usage_for(KeyAlgorithm::P256);
        let eku = |names: &[&str]| {
            let oids: Vec<String> = names.iter().filter_map(|n| ext::eku_oid(n)).collect();
            ext::extended_key_usage(&oids).expect("eku")
        };
        assert!(
            p.check_requested_extensions(&[eku(&["serverAuth"])], usage)
                .is_ok()
        );
        let e = p.check_requested_extensions(&[eku(&["serverAuth", "codeSigning"])], usage);
        assert!(e.expect_err("codeSigning").contains("1.3.6.1.5.5.7.3.3"));
        let ca = ext::basic_constraints(true, None);
        assert!(
            p.check_requested_extensions(&[ca], usage)
                .expect_err("CA")
                .contains("CA")
        );
        let ku = ext::key_usage(KeyUsage::DIGITAL_SIGNATURE.union(KeyUsage::KEY_ENCIPHERMENT));
        assert!(
            p.check_requested_extensions(std::slice::from_ref(&ku), usage)
                .is_err()
        );
        let critical = signet_x509::Extension {
            oid: "1.2.3.4".into(),
            critical: true,
            value: vec![5, 0],
        };
        assert!(p.check_requested_extensions(&[critical], usage).is_err());
        let harmless = signet_x509::Extension {
            oid: "1.2.3.4".into(),
            critical: false,
            value: vec![5, 0],
        };
        assert!(p.check_requested_extensions(&[harmless], usage).is_ok());
    }

    #[test]
    fn allow_lists_are_normalised_and_checked_at_load() {
        let p = profile("email_domains = [\"Example.COM\"]");
        assert!(p.check_san(&San::Email("a@example.com".into())).is_ok());
        for bad in [
            "dns_suffixes = [\".example.com\"]",
            "dns_suffixes = [\"example.com.\"]",
            "uri_prefixes = [\"example.com\"]",
        ] {
            let text = format!(
                "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"p256\"]\nkey_usage=[\"digitalSignature\"]\nextended_key_usage=[\"serverAuth\"]\n{bad}"
            );
            let config: ProfileConfig = toml::from_str(&text).expect("parses");
            assert!(Profile::new("x", config).is_err(), "{bad}");
        }
    }

    #[test]
    fn eddsa_keys_get_no_key_agreement() {
        let text = "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"p256\", \"ed25519\"]\nkey_usage=[\"keyAgreement\"]\nextended_key_usage=[\"clientAuth\"]";
        let config: ProfileConfig = toml::from_str(text).expect("parses");
        let p = Profile::new("x", config).expect("valid");
        assert_eq!(p.key_usage_for(KeyAlgorithm::Ed25519), KeyUsage::default());
        assert_eq!(p.key_usage_for(KeyAlgorithm::P256), KeyUsage::KEY_AGREEMENT);
    }

    #[test]
    fn forced_attributes_are_placed_in_order_and_must_match() {
        let p = profile(
            "subject_attributes = [\"CN\", \"OU\"]\nsubject_forced = { O = \"Example, Corp\", C = \"US\" }",
        );
        let dn = DistinguishedName::parse("CN=www.example.com,OU=Web").expect("dn");
        let issued = p.subject(&dn).expect("allowed");
        assert_eq!(
            issued.to_string(),
            "C=US,O=Example\\, Corp,OU=Web,CN=www.example.com"
        );
        let same = DistinguishedName::parse("O=Example\\, Corp,CN=www.example.com").expect("dn");
        assert!(p.subject(&same).is_ok());
        let other = DistinguishedName::parse("O=Evil,CN=www.example.com").expect("dn");
        assert!(p.subject(&other).expect_err("O differs").contains("O=Evil"));
    }

    #[test]
    fn backdate_settings_parse() {
        let d = |s: BackdateSetting| s.duration();
        assert_eq!(d(BackdateSetting::Seconds(7)), Ok(Duration::from_secs(7)));
        assert_eq!(
            d(BackdateSetting::Text("5m".into())),
            Ok(Duration::from_secs(300))
        );
        assert!(d(BackdateSetting::Text("5 minutes".into())).is_err());
        assert!(d(BackdateSetting::Text("m".into())).is_err());
    }

    #[test]
    fn managed_and_malformed_extension_oids_are_refused() {
        assert!(check_extension_oid("k", "1.3.6.1.4.1.55555.1").is_ok());
        for bad in [
            "2.5.29.17",
            "2.5.29.30",
            "1.3.6.1.5.5.7.1.1",
            "3.1",
            "1.02",
            "1",
        ] {
            assert!(check_extension_oid("k", bad).is_err(), "{bad}");
        }
    }
}
