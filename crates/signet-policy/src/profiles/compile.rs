//! Load-time checks and the extensions a profile computes once from its configuration:
//! basicConstraints/nameConstraints of CA profiles, forced subject attributes, static
//! extensions.

use super::*;

/// The pathLenConstraint and name constraints of a `ca = true` profile (`None` for a leaf
/// profile); the CA-only options are refused on a leaf profile, and automatic issuance of CA
/// certificates without the explicit `allow_auto_ca`.
pub(super) fn ca_constraints(
    config: &ProfileConfig,
) -> Result<Option<CaConstraints>, ProfileError> {
    let lists = [
        ("permitted_dns", &config.permitted_dns),
        ("excluded_dns", &config.excluded_dns),
        ("permitted_ip", &config.permitted_ip),
        ("excluded_ip", &config.excluded_ip),
        ("permitted_email", &config.permitted_email),
        ("excluded_email", &config.excluded_email),
    ];
    if !config.ca {
        let leaf_only = |key: &str| refused!("{key} applies to CA profiles only (set ca = true)");
        if config.path_len.is_some() {
            return Err(leaf_only("path_len"));
        }
        if config.allow_auto_ca {
            return Err(leaf_only("allow_auto_ca"));
        }
        if let Some((key, _)) = lists.iter().find(|(_, l)| !l.is_empty()) {
            return Err(leaf_only(key));
        }
        return Ok(None);
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
                        return Err(refused!(
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
                        return Err(refused!(
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
    let constraints = CaConstraints {
        path_len: config.path_len,
        names: nc,
    };
    // Encoded once here so a bad subtree is a configuration error, not a failed request.
    constraints.extensions()?;
    Ok(Some(constraints))
}

/// `subject_forced`, checked like a requested attribute, in `RDN_ORDER`. A forced attribute
/// may not also be copied from the request or required of it.
pub(super) fn forced_attributes(
    config: &ProfileConfig,
) -> Result<Vec<(String, String, signet_x509::Rdn)>, ProfileError> {
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
                return Err(refused!(
                    "subject_forced: {kind} = {value:?} is not one attribute"
                ));
            }
        };
        let canonical = rdn.attributes[0].0.clone();
        check_attribute_value(&canonical, value).map_err(|e| format!("subject_forced: {e}"))?;
        if out.iter().any(|(k, _, _)| *k == canonical) {
            return Err(refused!("subject_forced: {canonical} is given twice"));
        }
        for (list, key) in [
            (&config.subject_attributes, "subject_attributes"),
            (&config.subject_required, "subject_required"),
        ] {
            if list.iter().any(|a| canonical_attribute(a) == canonical) {
                return Err(refused!(
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
pub(super) fn canonical_attribute(name: &str) -> String {
    DistinguishedName::parse(&format!("{name}=x"))
        .ok()
        .and_then(|d| d.attributes().into_iter().next())
        .map_or_else(|| name.to_string(), |(k, _)| k)
}

/// The `extensions` entries: a dotted OID the profile does not manage, given once, with a
/// value that is one well-formed DER TLV.
pub(super) fn static_extensions(
    config: &ProfileConfig,
) -> Result<Vec<signet_x509::Extension>, ProfileError> {
    let mut out: Vec<signet_x509::Extension> = Vec::new();
    for e in &config.extensions {
        check_extension_oid("extensions", &e.oid)?;
        if out.iter().any(|x| x.oid == e.oid) {
            return Err(refused!("extensions: {} is listed twice", e.oid));
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
pub(super) fn check_extension_oid(key: &str, oid: &str) -> Result<(), ProfileError> {
    let arcs: Vec<&str> = oid.split('.').collect();
    let well_formed = ext::is_dotted_oid(oid)
        && arcs.iter().all(|a| a.len() == 1 || !a.starts_with('0'))
        && matches!(arcs.first(), Some(&"0" | &"1" | &"2"));
    if !well_formed {
        return Err(refused!("{key}: {oid:?} is not a dotted OID"));
    }
    if let Some((_, name)) = MANAGED_EXTENSIONS.iter().find(|(o, _)| *o == oid) {
        return Err(refused!(
            "{key}: {oid} ({name}) is written by the CA or the profile's own settings and cannot be set or copied"
        ));
    }
    Ok(())
}

/// A subject attribute value: a character string without control characters, within the
/// RFC 5280 upper bound for its type.
pub(super) fn check_attribute_value(kind: &str, value: &str) -> Result<(), ProfileError> {
    if value.starts_with('#') {
        return Err(refused!(
            "subject attribute {kind} is not a character string"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(refused!(
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
        return Err(refused!(
            "subject attribute {kind} must be 1 to {bound} characters (RFC 5280), got {}",
            value.chars().count()
        ));
    }
    Ok(())
}
