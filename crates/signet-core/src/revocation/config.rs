//! A CA's revocation settings (`[ca.revocation]`): CRL periods and partitions, the public
//! URL certificates name, and who signs OCSP responses.

use super::*;

/// Who signs OCSP responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponderMode {
    /// The CA key itself.
    Ca,
    /// A delegated responder certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) that the
    /// CA issues once, keeps across restarts (its key sealed in the store, see
    /// [`KeyFactory`]) and renews before it expires.
    Delegated,
}

/// A CA's revocation settings (`[ca.revocation]`).
#[derive(Debug, Clone)]
pub struct RevocationConfig {
    /// The public base URL (`http://pki.example.com`) for the CDP and AIA URLs put in
    /// certificates and the IDP put in CRLs; `None`: certificates carry neither.
    pub base_url: Option<String>,
    /// CRL partitions for new certificates; 0: every certificate is on the main CRL.
    pub partitions: u32,
    pub crl_period: Duration,
    pub crl_overlap: Duration,
    /// `None`: no delta CRLs.
    pub delta_period: Option<Duration>,
    pub delta_overlap: Duration,
    /// How long a revoked certificate stays on CRLs after it expires.
    pub keep_expired: Duration,
    pub ocsp_validity: Duration,
    pub responder: ResponderMode,
    pub responder_validity: Duration,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        const HOUR: u64 = 3600;
        RevocationConfig {
            base_url: None,
            partitions: 0,
            crl_period: Duration::from_secs(7 * 24 * HOUR),
            crl_overlap: Duration::from_secs(24 * HOUR),
            delta_period: Some(Duration::from_secs(HOUR)),
            delta_overlap: Duration::from_secs(HOUR / 6),
            keep_expired: Duration::ZERO,
            ocsp_validity: Duration::from_secs(24 * HOUR),
            responder: ResponderMode::Delegated,
            responder_validity: Duration::from_secs(7 * 24 * HOUR),
        }
    }
}

/// Most partitions a CA may have (Let's Encrypt uses 128).
pub const MAX_PARTITIONS: u32 = 4096;

/// What is wrong with a CA's `[ca.revocation]` settings.
#[derive(Debug, thiserror::Error)]
pub enum RevocationConfigError {
    #[error("partitions: at most {MAX_PARTITIONS}")]
    TooManyPartitions,
    #[error(
        "partitions need a public base URL: each partition's CRL is named by the certificates' CRL distribution point"
    )]
    PartitionsWithoutUrl,
    #[error("public URL {url:?}: an http(s) URL without a trailing slash")]
    BadUrl { url: String },
    #[error("crl_period must be at least 1s")]
    CrlPeriod,
    #[error("ocsp_validity must be at least 60s")]
    OcspValidity,
    #[error("ocsp_responder_validity must be at least 1h")]
    ResponderValidity,
    /// The URLs could not be encoded into the certificates' CDP and AIA extensions.
    #[error("the CRL distribution point and authority information access extensions")]
    Extension(#[source] signet_x509::Error),
}

impl RevocationConfig {
    /// Checks the settings; the error names what is wrong.
    pub fn check(&self) -> Result<(), RevocationConfigError> {
        if self.partitions > MAX_PARTITIONS {
            return Err(RevocationConfigError::TooManyPartitions);
        }
        if self.partitions > 0 && self.base_url.is_none() {
            return Err(RevocationConfigError::PartitionsWithoutUrl);
        }
        if let Some(url) = &self.base_url {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.bytes().all(|b| b.is_ascii_graphic())
                && !url.ends_with('/');
            if !ok {
                return Err(RevocationConfigError::BadUrl { url: url.clone() });
            }
        }
        if self.crl_period < Duration::from_secs(1) {
            return Err(RevocationConfigError::CrlPeriod);
        }
        if self.ocsp_validity < Duration::from_secs(60) {
            return Err(RevocationConfigError::OcspValidity);
        }
        if self.responder_validity < Duration::from_secs(3600) {
            return Err(RevocationConfigError::ResponderValidity);
        }
        Ok(())
    }

    /// The CRL partition a new certificate with this serial belongs to (0 without
    /// partitions).
    pub fn partition_for(&self, serial: &SerialNumber) -> u32 {
        if self.partitions == 0 {
            return 0;
        }
        let b = serial.as_bytes();
        let n = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
        1 + n % self.partitions
    }

    /// `{base}/crl/{ca}` for key 0, `{base}/crl/{ca}(k)` for key index k (as AD CS names a
    /// renewed CA's CRLs): the stem of a key's CRL URLs.
    fn crl_stem(&self, ca: &CaName, key: u32) -> Option<String> {
        let base = self.base_url.as_deref()?;
        Some(match key {
            0 => format!("{base}/crl/{ca}"),
            k => format!("{base}/crl/{ca}({k})"),
        })
    }

    pub(crate) fn crl_url(&self, ca: &CaName, scope: CrlScope) -> Option<String> {
        let stem = self.crl_stem(ca, scope.key)?;
        Some(match scope.partition {
            0 => format!("{stem}.crl"),
            n => format!("{stem}/{n}.crl"),
        })
    }

    pub(super) fn delta_url(&self, ca: &CaName, scope: CrlScope) -> Option<String> {
        self.delta_period?;
        let stem = self.crl_stem(ca, scope.key)?;
        Some(match scope.partition {
            0 => format!("{stem}/delta.crl"),
            n => format!("{stem}/{n}-delta.crl"),
        })
    }

    /// Where relying parties fetch the CA certificate of a key (AIA caIssuers):
    /// `{base}/ca/{ca}.crt` for key 0, `{base}/ca/{ca}(k).crt` for key index k.
    pub fn ca_certificate_url(&self, ca: &CaName, key: u32) -> Option<String> {
        let base = self.base_url.as_deref()?;
        Some(match key {
            0 => format!("{base}/ca/{ca}.crt"),
            k => format!("{base}/ca/{ca}({k}).crt"),
        })
    }

    /// The extensions every certificate of this CA carries for relying parties: CDP of its
    /// key's partition and AIA (OCSP, caIssuers of the key's certificate).
    pub(crate) fn certificate_extensions(
        &self,
        ca: &CaName,
        scope: CrlScope,
    ) -> Result<Vec<signet_x509::Extension>, signet_x509::Error> {
        let (Some(base), Some(crl), Some(issuer)) = (
            self.base_url.as_deref(),
            self.crl_url(ca, scope),
            self.ca_certificate_url(ca, scope.key),
        ) else {
            return Ok(Vec::new());
        };
        let ocsp = format!("{base}/ocsp/{ca}");
        Ok(vec![
            ext::crl_distribution_points(&crl)?,
            ext::authority_info_access(Some(&ocsp), Some(&issuer))?,
        ])
    }

    /// The extensions a certificate signed by an offline CA (`crate::offline`) with its key
    /// `key` carries for relying parties: the CDP of that key's main CRL and AIA caIssuers,
    /// but no OCSP URL, as nothing answers OCSP for an offline CA. Empty without a public
    /// URL.
    pub fn offline_certificate_extensions(
        &self,
        ca: &CaName,
        key: u32,
    ) -> Result<Vec<signet_x509::Extension>, signet_x509::Error> {
        let scope = CrlScope { key, partition: 0 };
        let (Some(crl), Some(issuer)) = (self.crl_url(ca, scope), self.ca_certificate_url(ca, key))
        else {
            return Ok(Vec::new());
        };
        Ok(vec![
            ext::crl_distribution_points(&crl)?,
            ext::authority_info_access(None, Some(&issuer))?,
        ])
    }
}
