//! A request's key, subject, subjectAltNames and extensions checked against its profile;
//! each refusal names the offending value.

use super::*;

impl Profile {
    /// An RSA key's public exponent: odd, and at least `rsa_min_exponent`.
    pub(super) fn check_rsa_exponent(&self, spki_der: &[u8]) -> Result<(), ProfileError> {
        match signet_x509::alg::rsa_public_exponent(spki_der) {
            Some(e) if e % 2 == 0 || e < self.config.rsa_min_exponent.max(3) => Err(refused!(
                "RSA public exponent {e} is not allowed by profile {} (an odd exponent of at least {} is required)",
                self.name,
                self.config.rsa_min_exponent.max(3)
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn check_key(&self, key: KeyAlgorithm) -> Result<(), ProfileError> {
        let family = match key {
            KeyAlgorithm::P256 => "p256",
            KeyAlgorithm::P384 => "p384",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa { .. } => "rsa",
            KeyAlgorithm::MlDsa65 => "mldsa65",
        };
        if !self.keys.iter().any(|k| k == family) {
            return Err(refused!(
                "key algorithm {key} is not allowed by profile {} (allowed: {})",
                self.name,
                self.keys.join(", ")
            ));
        }
        if let KeyAlgorithm::Rsa { bits } = key
            && bits < self.config.rsa_min_bits
        {
            return Err(refused!(
                "RSA key of {bits} bits is below profile {}'s minimum of {} bits",
                self.name,
                self.config.rsa_min_bits
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
    pub(super) fn subject(
        &self,
        requested: &DistinguishedName,
    ) -> Result<DistinguishedName, ProfileError> {
        let mut common_names = 0;
        let mut kept: Vec<signet_x509::Rdn> = Vec::new();
        for rdn in requested.rdns() {
            let mut forced_here = false;
            for (kind, value) in &rdn.attributes {
                if let Some((_, want, _)) = self.forced.iter().find(|(k, _, _)| k == kind) {
                    if value != want {
                        return Err(refused!(
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
                    return Err(refused!(
                        "subject attribute {kind}={value} is not allowed by profile {} (allowed: {})",
                        self.name,
                        list_or_none(&self.config.subject_attributes)
                    ));
                }
                if kind == "CN" {
                    common_names += 1;
                    if common_names > 1 {
                        return Err(refused!(
                            "subject has more than one CN (second: CN={value})"
                        ));
                    }
                }
                check_attribute_value(kind, value)?;
            }
            if forced_here && rdn.attributes.len() > 1 {
                return Err(refused!(
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
                return Err(refused!(
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
    pub(super) fn with_forced(&self, rdns: Vec<signet_x509::Rdn>) -> DistinguishedName {
        let mut out: Vec<signet_x509::Rdn> = rdns;
        out.extend(self.forced.iter().map(|(_, _, f)| f.clone()));
        out.sort_by_key(|r| {
            r.attributes
                .first()
                .map_or(RDN_ORDER.len(), |(k, _)| rdn_rank(k))
        });
        DistinguishedName::from_rdns(&out)
    }

    pub(super) fn check_dns(&self, name: &str) -> Result<(), ProfileError> {
        let lower = name.to_ascii_lowercase();
        let (wildcard, base) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        if wildcard && !self.config.allow_wildcards {
            return Err(refused!(
                "wildcard DNS name {name} is not allowed by profile {}",
                self.name
            ));
        }
        if !valid_hostname(base) {
            return Err(refused!("DNS name {name:?} is not a valid host name"));
        }
        let allowed = self
            .config
            .dns_suffixes
            .iter()
            .any(|s| base == s.as_str() || base.ends_with(&format!(".{s}")));
        if !allowed {
            return Err(refused!(
                "DNS name {name} is not allowed by profile {} (allowed suffixes: {})",
                self.name,
                list_or_none(&self.config.dns_suffixes)
            ));
        }
        Ok(())
    }

    pub(super) fn check_san(&self, san: &San) -> Result<(), ProfileError> {
        match san {
            San::Dns(d) => self.check_dns(d),
            San::Ip(ip) => {
                if self.ip_ranges.iter().any(|r| r.contains(ip)) {
                    Ok(())
                } else {
                    Err(refused!(
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
                    Err(refused!(
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
                    Err(refused!(
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
    pub(super) fn sans(
        &self,
        subject: &DistinguishedName,
        requested: &[San],
    ) -> Result<Vec<San>, ProfileError> {
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
            return Err(refused!(
                "{} subject alternative names exceed profile {}'s maximum of {}",
                sans.len(),
                self.name,
                self.config.max_sans
            ));
        }
        if self.config.require_san && sans.is_empty() {
            return Err(refused!(
                "profile {} requires at least one subject alternative name",
                self.name
            ));
        }
        Ok(sans)
    }

    /// The profile's key usages that the key can have: encipherment needs RSA; keyAgreement
    /// needs RSA or EC (not EdDSA or ML-DSA, RFC 8410 / FIPS 204).
    pub(super) fn key_usage_for(&self, key: KeyAlgorithm) -> KeyUsage {
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
    pub(super) fn check_requested_extensions(
        &self,
        requested: &[signet_x509::Extension],
        usage: KeyUsage,
    ) -> Result<(), ProfileError> {
        use signet_x509::ext::oid;
        for e in requested {
            let bad = |err: signet_x509::Error| format!("requested extension {}: {err}", e.oid);
            match e.oid.as_str() {
                oid::SUBJECT_ALT_NAME | oid::SUBJECT_KEY_IDENTIFIER => {}
                oid::KEY_USAGE => {
                    let asked = ext::parse_key_usage(&e.value).map_err(bad)?;
                    if !usage.contains(asked) {
                        return Err(refused!(
                            "requested key usage bits {:#06x} exceed profile {}'s ({:#06x} for this key)",
                            asked.0,
                            self.name,
                            usage.0
                        ));
                    }
                }
                oid::EXT_KEY_USAGE => {
                    for purpose in ext::parse_extended_key_usage(&e.value).map_err(bad)? {
                        if !self.eku.contains(&purpose) {
                            return Err(refused!(
                                "requested extended key usage {purpose} is not allowed by profile {}",
                                self.name
                            ));
                        }
                    }
                }
                oid::NAME_CONSTRAINTS if self.config.ca => {
                    // A CA profile narrows its own name constraints by them (or refuses).
                }
                oid::BASIC_CONSTRAINTS => {
                    let (ca, _) = ext::parse_basic_constraints(&e.value).map_err(bad)?;
                    // A CA profile sets its own basicConstraints, narrowed by a lower
                    // pathLenConstraint asked for.
                    if ca && !self.config.ca {
                        return Err(refused!(
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
                    return Err(refused!(
                        "the request marks extension {other} critical and profile {} does not support it",
                        self.name
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
