//! The certificate under construction. Policy modules edit it through `PolicyCtx`; the
//! engine turns it into a `TBSCertificate` once the verdict is `Issue`.

use std::time::SystemTime;

use signet_x509::{DistinguishedName, Extension, San};

use crate::model::StoredExtension;

pub use signet_api::model::ExtensionOrigin;

/// Why a draft edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("validity may only be narrowed: {0}")]
    WidensValidity(String),
    #[error("notBefore must be before notAfter")]
    EmptyValidity,
    #[error("no extension {0} in the draft")]
    NoSuchExtension(String),
    #[error("extension {0} is managed by the CA and cannot be set by a module")]
    Reserved(String),
}

/// The certificate to be issued, as policy modules see and edit it.
#[derive(Clone, Debug)]
pub struct Draft {
    subject: DistinguishedName,
    sans: Vec<San>,
    not_before: SystemTime,
    not_after: SystemTime,
    extensions: Vec<StoredExtension>,
}

/// Extensions the engine writes itself from the CA and subject keys; modules cannot set them.
const RESERVED: [&str; 2] = [
    signet_x509::ext::oid::SUBJECT_KEY_IDENTIFIER,
    signet_x509::ext::oid::AUTHORITY_KEY_IDENTIFIER,
];

impl Draft {
    /// A new draft: subject and SANs empty (the policy decides what is copied from the
    /// request), validity = the widest the CA allows, the request's extensions present but
    /// disabled (origin `Request`), so nothing from the requester reaches the certificate
    /// unless a policy enables it.
    pub fn new(
        not_before: SystemTime,
        not_after: SystemTime,
        request_extensions: &[Extension],
    ) -> Draft {
        let extensions = request_extensions
            .iter()
            .map(|e| StoredExtension {
                oid: e.oid.clone(),
                critical: e.critical,
                disabled: true,
                origin: ExtensionOrigin::Request,
                value: e.value.clone(),
            })
            .collect();
        Draft {
            subject: DistinguishedName::empty(),
            sans: Vec::new(),
            not_before,
            not_after,
            extensions,
        }
    }

    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }
    pub fn set_subject(&mut self, subject: DistinguishedName) {
        self.subject = subject;
    }
    pub fn sans(&self) -> &[San] {
        &self.sans
    }
    pub fn set_sans(&mut self, sans: Vec<San>) {
        self.sans = sans;
    }
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Narrows the validity period. Widening either end is refused (AD CS: `NotBefore` and
    /// `NotAfter` may only be narrowed).
    pub fn set_validity(
        &mut self,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<(), DraftError> {
        if not_before < self.not_before {
            return Err(DraftError::WidensValidity(
                "notBefore earlier than allowed".into(),
            ));
        }
        if not_after > self.not_after {
            return Err(DraftError::WidensValidity(
                "notAfter later than allowed".into(),
            ));
        }
        if not_before >= not_after {
            return Err(DraftError::EmptyValidity);
        }
        self.not_before = not_before;
        self.not_after = not_after;
        Ok(())
    }

    /// All extensions, enabled or not, in order.
    pub fn extensions(&self) -> &[StoredExtension] {
        &self.extensions
    }

    pub fn extension(&self, oid: &str) -> Option<&StoredExtension> {
        self.extensions.iter().find(|e| e.oid == oid)
    }

    /// Adds or replaces an extension (enabled) with the given origin.
    pub fn set_extension(
        &mut self,
        ext: Extension,
        origin: ExtensionOrigin,
    ) -> Result<(), DraftError> {
        if RESERVED.contains(&ext.oid.as_str()) {
            return Err(DraftError::Reserved(ext.oid));
        }
        let stored = StoredExtension {
            oid: ext.oid,
            critical: ext.critical,
            disabled: false,
            origin,
            value: ext.value,
        };
        match self.extensions.iter_mut().find(|e| e.oid == stored.oid) {
            Some(slot) => *slot = stored,
            None => self.extensions.push(stored),
        }
        Ok(())
    }

    /// Marks an extension critical or not.
    pub fn set_critical(&mut self, oid: &str, critical: bool) -> Result<(), DraftError> {
        let e = self.find_mut(oid)?;
        e.critical = critical;
        Ok(())
    }

    /// Keeps the extension in the record but out of the certificate.
    pub fn disable_extension(&mut self, oid: &str) -> Result<(), DraftError> {
        self.find_mut(oid)?.disabled = true;
        Ok(())
    }

    /// Puts a present (e.g. request-origin) extension into the certificate.
    pub fn enable_extension(&mut self, oid: &str) -> Result<(), DraftError> {
        self.find_mut(oid)?.disabled = false;
        Ok(())
    }

    fn find_mut(&mut self, oid: &str) -> Result<&mut StoredExtension, DraftError> {
        self.extensions
            .iter_mut()
            .find(|e| e.oid == oid)
            .ok_or_else(|| DraftError::NoSuchExtension(oid.to_string()))
    }

    /// Extensions that go into the certificate, in order.
    pub fn enabled_extensions(&self) -> impl Iterator<Item = &StoredExtension> {
        self.extensions.iter().filter(|e| !e.disabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn validity_only_narrows() {
        let mut d = Draft::new(t(100), t(1000), &[]);
        assert!(d.set_validity(t(50), t(500)).is_err());
        assert!(d.set_validity(t(100), t(1001)).is_err());
        assert!(d.set_validity(t(500), t(500)).is_err());
        d.set_validity(t(200), t(900))
            .expect("narrowing is allowed");
        assert!(
            d.set_validity(t(100), t(900)).is_err(),
            "cannot widen after narrowing"
        );
    }

    #[test]
    fn request_extensions_start_disabled_and_reserved_ones_are_refused() {
        let ext = Extension {
            oid: "1.2.3.4".into(),
            critical: false,
            value: vec![5, 0],
        };
        let mut d = Draft::new(t(0), t(10), std::slice::from_ref(&ext));
        assert_eq!(d.enabled_extensions().count(), 0);
        d.enable_extension("1.2.3.4").expect("present");
        assert_eq!(d.enabled_extensions().count(), 1);
        let ski = Extension {
            oid: "2.5.29.14".into(),
            critical: false,
            value: vec![4, 0],
        };
        assert!(d.set_extension(ski, ExtensionOrigin::Policy).is_err());
        assert!(d.disable_extension("9.9").is_err());
    }
}
