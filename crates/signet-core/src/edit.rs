//! Officer edits of a pending request's extensions (AD CS `ICertAdmin::SetCertificateExtension`)
//! and the rules they pass.
//!
//! A certificate manager approves or narrows; a manager never widens. An edit is checked
//! twice, by the same two steps, when it is made and again when the request is resubmitted
//! (a stored edit may predate a profile change or this check):
//! 1. [`check_officer_edit`]: what no manager may ever do, whatever the profile says — set
//!    what the CA computes or vouches for itself (key identifiers, CRL and OCSP pointers,
//!    `ocsp-nocheck`, name constraints, certificate policies, CT), make a CA certificate or
//!    grant CA key usages, make a delegated OCSP responder (`OCSPSigning`: RFC 6960
//!    §4.2.2.2 makes any such leaf of the CA an authorised responder), give any purpose
//!    (AD CS ESC2), or remove `keyUsage`/`extKeyUsage` (a certificate without them is good
//!    for every use).
//! 2. [`crate::Policy::check_edit`]: the policy module checks the edit against the rules it
//!    applies to the request itself (for `profiles`: the names, wildcards and SAN count, the
//!    key usage and extended key usage lists). Anything beyond the profile needs another
//!    profile, not an edit.

use signet_x509::ext::{self, oid};

pub use signet_api::admin::ExtensionEdit;

/// Why an officer's edit was refused. The message names the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditRefused {
    #[error("{oid:?} is not a dotted OID")]
    NotAnOid { oid: String },
    #[error(
        "extension {oid} ({name}) is set by the CA itself and is never edited by a certificate manager; use a profile that issues it"
    )]
    CaManaged { oid: String, name: &'static str },
    #[error("extension {oid}: {reason}")]
    Malformed { oid: String, reason: String },
    /// The edit would widen what the certificate is good for.
    #[error("{0}")]
    Widens(String),
    /// The policy module refused it (its reason, naming the value and the profile).
    #[error("{0}")]
    Policy(String),
}

/// Extensions only the CA sets, with their names.
const CA_MANAGED: &[(&str, &str)] = &[
    (oid::SUBJECT_KEY_IDENTIFIER, "subjectKeyIdentifier"),
    (oid::AUTHORITY_KEY_IDENTIFIER, "authorityKeyIdentifier"),
    (oid::CRL_DISTRIBUTION_POINTS, "cRLDistributionPoints"),
    ("2.5.29.46", "freshestCRL"),
    (oid::AUTHORITY_INFO_ACCESS, "authorityInfoAccess"),
    ("1.3.6.1.5.5.7.1.11", "subjectInfoAccess"),
    (oid::OCSP_NOCHECK, "id-pkix-ocsp-nocheck"),
    (oid::NAME_CONSTRAINTS, "nameConstraints"),
    (oid::CERTIFICATE_POLICIES, "certificatePolicies"),
    ("2.5.29.33", "policyMappings"),
    ("2.5.29.36", "policyConstraints"),
    ("2.5.29.54", "inhibitAnyPolicy"),
    ("2.5.29.18", "issuerAltName"),
    ("1.3.6.1.4.1.11129.2.4.2", "signedCertificateTimestampList"),
    ("1.3.6.1.4.1.11129.2.4.3", "CT precertificate poison"),
];

/// The rules no officer edit may break, whatever the profile (step 1 above).
pub fn check_officer_edit(edit: &ExtensionEdit) -> Result<(), EditRefused> {
    let oid = edit.oid.as_str();
    // Canonical dotted form only: `2.5.29.037` would encode as 2.5.29.37 and slip past every
    // comparison by text below.
    let canonical = oid
        .split('.')
        .all(|arc| arc == "0" || !arc.starts_with('0'));
    if !ext::is_dotted_oid(oid) || !canonical {
        return Err(EditRefused::NotAnOid {
            oid: oid.chars().take(80).collect(),
        });
    }
    if let Some((_, name)) = CA_MANAGED.iter().find(|(o, _)| *o == oid) {
        return Err(EditRefused::CaManaged {
            oid: oid.to_string(),
            name,
        });
    }
    let malformed = |reason: String| EditRefused::Malformed {
        oid: oid.to_string(),
        reason,
    };
    let Some(value) = &edit.value else {
        return match oid {
            oid::KEY_USAGE | oid::EXT_KEY_USAGE => Err(EditRefused::Widens(format!(
                "disabling extension {oid} would make the certificate good for every {}; set a narrower value instead",
                if oid == oid::KEY_USAGE {
                    "key usage"
                } else {
                    "purpose"
                }
            ))),
            _ => Ok(()),
        };
    };
    ext::check_der(value).map_err(|e| malformed(e.to_string()))?;
    match oid {
        oid::BASIC_CONSTRAINTS => {
            let (ca, path_len) =
                ext::parse_basic_constraints(value).map_err(|e| malformed(e.to_string()))?;
            if ca {
                return Err(EditRefused::Widens(
                    "a certificate manager cannot make a CA certificate (basicConstraints cA=TRUE)"
                        .into(),
                ));
            }
            if path_len.is_some() {
                return Err(malformed(
                    "pathLenConstraint belongs to CA certificates (RFC 5280 §4.2.1.9)".into(),
                ));
            }
        }
        oid::KEY_USAGE => {
            let ku = ext::parse_key_usage(value).map_err(|e| malformed(e.to_string()))?;
            let ca_bits =
                signet_x509::KeyUsage::KEY_CERT_SIGN.union(signet_x509::KeyUsage::CRL_SIGN);
            if ku.0 & ca_bits.0 != 0 {
                return Err(EditRefused::Widens(
                    "keyCertSign and cRLSign are CA key usages; a certificate manager cannot grant them"
                        .into(),
                ));
            }
            if ku.0 == 0 {
                return Err(malformed("keyUsage names no usage".into()));
            }
            if !edit.critical {
                return Err(malformed(
                    "keyUsage must be critical, as the CA issues it (RFC 5280 §4.2.1.3)".into(),
                ));
            }
        }
        oid::EXT_KEY_USAGE => {
            let ekus =
                ext::parse_extended_key_usage(value).map_err(|e| malformed(e.to_string()))?;
            if ekus.is_empty() || ekus.iter().any(|e| e == "2.5.29.37.0") {
                return Err(EditRefused::Widens(
                    "extKeyUsage must name purposes; anyExtendedKeyUsage (2.5.29.37.0) is refused"
                        .into(),
                ));
            }
            if ekus.iter().any(|e| e == oid::KP_OCSP_SIGNING) {
                return Err(EditRefused::Widens(format!(
                    "extKeyUsage OCSPSigning ({}) would make the certificate a delegated OCSP responder for the CA (RFC 6960 §4.2.2.2); a certificate manager cannot grant it",
                    oid::KP_OCSP_SIGNING
                )));
            }
        }
        oid::SUBJECT_ALT_NAME => {
            let sans = ext::parse_subject_alt_name(value).map_err(|e| malformed(e.to_string()))?;
            if sans.is_empty() {
                return Err(malformed(
                    "subjectAltName is empty; disable it instead".into(),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The edit a stored officer extension stands for; a stored OID that is not canonical (a
/// damaged row: every edit passed [`check_officer_edit`] when it was made) is refused.
pub(crate) fn edit_of_stored(
    stored: &crate::model::StoredExtension,
) -> Result<ExtensionEdit, EditRefused> {
    let oid = signet_api::ids::Oid::new(&stored.oid).map_err(|_| EditRefused::NotAnOid {
        oid: stored.oid.chars().take(80).collect(),
    })?;
    Ok(ExtensionEdit {
        oid,
        critical: stored.critical,
        value: (!stored.disabled).then(|| stored.value.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(oid: &str, value: Vec<u8>) -> ExtensionEdit {
        ExtensionEdit {
            oid: signet_api::ids::Oid::new(oid).expect("oid"),
            critical: false,
            value: Some(value),
        }
    }

    #[test]
    fn ca_managed_extensions_are_never_editable() {
        for (oid, _) in CA_MANAGED {
            // Even disabling: the CA decides what it vouches for.
            let disable = ExtensionEdit {
                oid: signet_api::ids::Oid::new(oid).expect("oid"),
                critical: false,
                value: None,
            };
            assert!(matches!(
                check_officer_edit(&disable),
                Err(EditRefused::CaManaged { .. })
            ));
            assert!(matches!(
                check_officer_edit(&set(oid, vec![0x05, 0x00])),
                Err(EditRefused::CaManaged { .. })
            ));
        }
    }

    #[test]
    fn ocsp_signing_and_any_purpose_are_refused() {
        let ocsp = ext::extended_key_usage(&[oid::KP_OCSP_SIGNING.to_string()]).expect("eku");
        let err = check_officer_edit(&set(oid::EXT_KEY_USAGE, ocsp.value)).expect_err("refused");
        assert!(err.to_string().contains("OCSPSigning"), "{err}");
        let any = ext::extended_key_usage(&["2.5.29.37.0".to_string()]).expect("eku");
        assert!(check_officer_edit(&set(oid::EXT_KEY_USAGE, any.value)).is_err());
        let server = ext::extended_key_usage(&[oid::KP_SERVER_AUTH.to_string()]).expect("eku");
        assert!(check_officer_edit(&set(oid::EXT_KEY_USAGE, server.value)).is_ok());
    }

    #[test]
    fn only_canonical_oids_are_taken() {
        for oid in ["2.5.29.037", "02.5.29.37", "2.5.29.31.", "2..5"] {
            // The type refuses them: an edit cannot name one.
            assert!(signet_api::ids::Oid::new(oid).is_err(), "{oid}");
        }
    }

    #[test]
    fn removing_usages_widens() {
        for oid in [oid::KEY_USAGE, oid::EXT_KEY_USAGE] {
            let disable = ExtensionEdit {
                oid: signet_api::ids::Oid::new(oid).expect("oid"),
                critical: false,
                value: None,
            };
            assert!(matches!(
                check_officer_edit(&disable),
                Err(EditRefused::Widens(_))
            ));
        }
    }
}
