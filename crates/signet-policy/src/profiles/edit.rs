//! A certificate manager's edit of a pending request, checked against the profile the
//! request was submitted under: the same rules as the request itself (`Policy::check_edit`).
//! The engine has already refused what no edit may do (`signet_core::edit`); what is left
//! here is "within this profile": names the profile allows (wildcards, suffixes, ranges,
//! count), usages and purposes from its lists, and the request extensions it copies. Every
//! other extension belongs to another profile.

use signet_core::{ExtensionEdit, RequestProps};
use signet_x509::{DistinguishedName, San, ext};

use super::{Profile, ProfileError, SubjectFrom};

impl Profile {
    pub(super) fn check_edit(
        &self,
        request: &RequestProps,
        edit: &ExtensionEdit,
    ) -> Result<(), ProfileError> {
        use ext::oid;
        let oid = edit.oid.as_str();
        let malformed = |e: signet_x509::Error| format!("extension {oid}: {e}");
        match (oid, &edit.value) {
            (oid::SUBJECT_ALT_NAME, Some(value)) => {
                let sans = ext::parse_subject_alt_name(value).map_err(malformed)?;
                self.check_edited_sans(request, &sans)
            }
            (oid::SUBJECT_ALT_NAME, None) => self.check_edited_sans(request, &[]),
            (oid::KEY_USAGE, Some(value)) => {
                let asked = ext::parse_key_usage(value).map_err(malformed)?;
                let allowed = self.key_usage_for(request.csr.key);
                if allowed.contains(asked) {
                    Ok(())
                } else {
                    Err(refused!(
                        "key usage bits {:#06x} exceed profile {}'s ({:#06x} for a {} key)",
                        asked.0,
                        self.name,
                        allowed.0,
                        request.csr.key
                    ))
                }
            }
            (oid::EXT_KEY_USAGE, Some(value)) => {
                for purpose in ext::parse_extended_key_usage(value).map_err(malformed)? {
                    if !self.eku.contains(&purpose) {
                        return Err(refused!(
                            "extended key usage {purpose} is not allowed by profile {} (allowed: {})",
                            self.name,
                            self.eku.join(", ")
                        ));
                    }
                }
                Ok(())
            }
            // A CA profile writes its own basicConstraints; a leaf may only state cA=FALSE,
            // which the engine has checked.
            (oid::BASIC_CONSTRAINTS, _) if self.config.ca => Err(refused!(
                "profile {} issues CA certificates and sets basicConstraints itself",
                self.name
            )),
            (oid::BASIC_CONSTRAINTS, _) => Ok(()),
            (other, value)
                if self
                    .config
                    .copy_request_extensions
                    .iter()
                    .any(|c| c == other) =>
            {
                match value {
                    Some(v) => ext::check_der_tree(v)
                        .map_err(|e| refused!("extension {other} is not well-formed DER: {e}")),
                    None => Ok(()),
                }
            }
            (other, _) => Err(refused!(
                "extension {other} is not one profile {} issues or copies; a certificate manager may edit subjectAltName, keyUsage, extKeyUsage{} within the profile — anything else needs another profile",
                self.name,
                if self.config.copy_request_extensions.is_empty() {
                    String::new()
                } else {
                    format!(" and {}", self.config.copy_request_extensions.join(", "))
                }
            )),
        }
    }

    /// An edited SAN list replaces the one the profile chose, so it passes the profile's
    /// name rules as a request's would: every name allowed, within `max_sans`, at least one
    /// when `require_san`, and the CN among them when `common_name_as_dns` (the profile
    /// would have added it).
    fn check_edited_sans(
        &self,
        request: &RequestProps,
        edited: &[San],
    ) -> Result<(), ProfileError> {
        let subject = match self.config.subject_from {
            SubjectFrom::Request => self.subject(&request.csr.subject)?,
            SubjectFrom::Identity => DistinguishedName::from_rdns(&[]),
        };
        // The edited list goes into the certificate as given, so it must already be in the
        // form the profile issues: DNS names in lower case, each name once.
        let normal: Vec<San> = edited.iter().map(normalise).collect();
        if let Some(upper) = edited.iter().zip(&normal).find(|(e, n)| e != n) {
            return Err(refused!(
                "write DNS name {} in lower case ({}), as profile {} issues it",
                upper.0,
                upper.1,
                self.name
            ));
        }
        if let Some((_, twice)) = normal
            .iter()
            .enumerate()
            .find(|(i, s)| normal[..*i].contains(s))
        {
            return Err(refused!("subjectAltName lists {twice} twice"));
        }
        let issued = self.sans(&subject, edited)?;
        if let Some(missing) = issued.iter().find(|s| !normal.contains(s)) {
            return Err(refused!(
                "the subjectAltName must include {missing}: profile {} puts the subject CN in the subject alternative names",
                self.name
            ));
        }
        if edited.is_empty()
            && subject.is_empty()
            && self.config.subject_from == SubjectFrom::Request
        {
            return Err(
                "the request has no subject, so its subjectAltName cannot be disabled".into(),
            );
        }
        Ok(())
    }
}

/// DNS names compare in lower case, as the profile issues them.
fn normalise(san: &San) -> San {
    match san {
        San::Dns(d) => San::Dns(d.to_ascii_lowercase()),
        other => other.clone(),
    }
}
