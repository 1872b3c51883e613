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

mod compile;
mod config;
mod edit;
mod module;
mod names;

use compile::*;
use config::*;
pub use config::{
    Approval, BackdateSetting, MANAGED_EXTENSIONS, MAX_BACKDATE, ProfileConfig, StaticExtension,
    SubjectFrom,
};
use names::*;

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
