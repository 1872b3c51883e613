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

/// A refusal: `refused!("... {x} ...")` is `ProfileError::Refused(format!(...))`.
macro_rules! refused {
    ($($arg:tt)*) => {
        $crate::profiles::ProfileError::Refused(format!($($arg)*))
    };
}

mod ca_constraints;
mod checks;
mod compile;
mod config;
mod edit;
mod module;
mod names;
mod verify;

use ca_constraints::CaConstraints;
use compile::*;
use config::*;
pub use config::{
    Approval, MANAGED_EXTENSIONS, MAX_BACKDATE, ProfileConfig, StaticExtension, SubjectFrom,
};
use names::*;

/// Why a profile refuses a request, an officer's edit, or its own configuration. A refusal's
/// text is what the requester or administrator reads: it names the offending value and the
/// rule; a cause, when there is one, is kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A request, an edit or a setting outside the profile's rules.
    #[error("{0}")]
    Refused(String),
    /// The profile's name is not a valid profile name.
    #[error("the name")]
    Name(#[source] signet_core::ids::IdError),
    /// `backdate` does not parse, has a fraction of a second, or is too long.
    #[error("backdate")]
    Backdate(#[source] crate::DurationError),
    /// `backdate` is longer than the engine allows.
    #[error(
        "backdate: {0}s is more than the 24 hours (86400s) a certificate may be backdated: write at most \"24h\""
    )]
    BackdateTooLong(u64),
}

impl From<String> for ProfileError {
    fn from(message: String) -> ProfileError {
        ProfileError::Refused(message)
    }
}

impl From<&str> for ProfileError {
    fn from(message: &str) -> ProfileError {
        ProfileError::Refused(message.to_owned())
    }
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
    /// The pathLenConstraint and name constraints of a CA profile (`None`: a leaf profile).
    ca_constraints: Option<CaConstraints>,
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
            let profile = Profile::new(&name, config)
                .map_err(|e| ConfigError::caused("profiles", format!("profile {name}"), e))?;
            profiles.insert(profile.name.clone(), profile);
        }
        let default_profile = match parsed.default_profile {
            Some(p) => {
                let name = ProfileName::new(&p).map_err(|e| {
                    ConfigError::caused("profiles", format!("default_profile {p:?}"), e)
                })?;
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
    fn new(name: &str, config: ProfileConfig) -> Result<Profile, ProfileError> {
        let name = ProfileName::new(name).map_err(ProfileError::Name)?;
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
                return Err(refused!(
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
            return Err(refused!(
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
                    return Err(refused!(
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
                return Err(refused!("certificate_policies: {p:?} is not a dotted OID"));
            }
        }
        let policies = match config.certificate_policies.is_empty() {
            true => None,
            false => Some(
                ext::certificate_policies(&config.certificate_policies)
                    .map_err(|e| format!("certificate_policies: {e}"))?,
            ),
        };
        let ca_constraints = ca_constraints(&config)?;
        let forced = forced_attributes(&config)?;
        for r in &config.subject_required {
            if !config
                .subject_attributes
                .iter()
                .any(|a| a.eq_ignore_ascii_case(r))
            {
                return Err(refused!(
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
                let d = b.whole_seconds().map_err(ProfileError::Backdate)?;
                if d > MAX_BACKDATE {
                    return Err(ProfileError::BackdateTooLong(d.as_secs()));
                }
                Some(d)
            }
        };
        let static_extensions = static_extensions(&config)?;
        for (i, oid) in config.copy_request_extensions.iter().enumerate() {
            check_extension_oid("copy_request_extensions", oid)?;
            if config.copy_request_extensions[..i].contains(oid) {
                return Err(refused!("copy_request_extensions: {oid} is listed twice"));
            }
            if static_extensions.iter().any(|e| e.oid == *oid) {
                return Err(refused!(
                    "copy_request_extensions: {oid} is also a static extension of the profile"
                ));
            }
        }
        Ok(Profile {
            name,
            policies,
            forced,
            ca_constraints,
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
}

#[cfg(test)]
mod tests;
