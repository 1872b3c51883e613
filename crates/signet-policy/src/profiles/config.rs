//! `[ca.policy.profiles.NAME]` as written in `signet.toml`: the serde types and their
//! defaults.

use super::*;
use crate::DurationSetting;

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
    pub backdate: Option<DurationSetting>,
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
pub(super) const RDN_ORDER: [&str; 14] = [
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

pub(super) fn rdn_rank(kind: &str) -> usize {
    RDN_ORDER
        .iter()
        .position(|k| k.eq_ignore_ascii_case(kind))
        .unwrap_or(RDN_ORDER.len())
}

pub(super) fn default_approvals() -> u32 {
    1
}

pub(super) fn default_rsa_min_exponent() -> u64 {
    65_537
}

pub(super) fn default_rsa_min_bits() -> u32 {
    2048
}
pub(super) fn default_subject_attributes() -> Vec<String> {
    vec!["CN".into()]
}
pub(super) fn default_max_sans() -> usize {
    100
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModuleConfig {
    #[serde(default)]
    pub(super) module: Option<String>,
    pub(super) default_profile: Option<String>,
    #[serde(default)]
    pub(super) profiles: BTreeMap<String, ProfileConfig>,
}
