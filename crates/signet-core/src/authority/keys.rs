//! A CA's keys over time (AD CS key indexes).
//!
//! A CA renewed with a new key (`signet ca renew --new-key`) issues with the new key from
//! then on, and each earlier key keeps signing the CRLs and OCSP responses of the
//! certificates it issued for as long as its own CA certificate is valid: one CRL per key,
//! at distinct URLs, as AD CS does (`CA.crl`, `CA(1).crl`, ...).
//!
//! The key that issued a certificate is recorded with it, inside its CRL shard: certificates
//! of key index `k` are in shards `k * SHARDS_PER_KEY + p`, where `p` is the CRL partition
//! (0 the main CRL). Key 0's shards are the shards of a CA never renewed with a new key, so
//! existing stores need no migration.
//!
//! Here too: the per-key lookups of the engine (`CaState::key`, `publishes_for`) and what it
//! answers about a CA's keys (a key's certificate, cross certificates, SCEP GetNextCACert).

use std::sync::Arc;
use std::time::SystemTime;

use signet_x509::ocsp::IssuerHashes;
use signet_x509::{DistinguishedName, ext};

use super::{Authority, CaState, internal};
use crate::enroll::EnrollError;
use crate::signer::Signer;

pub use signet_api::revocation::{CrlScope, SHARDS_PER_KEY};

// Every partition of a key fits in its shards.
const _: () = assert!(crate::revocation::MAX_PARTITIONS < SHARDS_PER_KEY);

/// What renewals of a CA certificate left (AD CS certificate and key indexes). The
/// default: a CA never renewed.
#[derive(Default)]
pub struct Renewal {
    /// The key index of the key that issues now: 0 until a renewal with a new key.
    pub key_index: u32,
    /// The certificate index of the CA certificate: 0 until the first renewal.
    pub cert_index: u32,
    /// Earlier keys, which sign the CRLs and OCSP responses of what they issued.
    pub retired: Vec<RetiredKey>,
    /// Cross certificates made when a root was renewed with a new key (DER): each key's
    /// certificate signed by the other, served beside the chain so that relying parties
    /// trusting either root verify certificates of both keys.
    pub cross_certificates: Vec<Vec<u8>>,
}

/// An earlier key of a CA, as configured (`[[ca.retired]]`): it no longer issues, but signs
/// the CRLs and OCSP responses of what it issued while its certificate is valid.
pub struct RetiredKey {
    /// Its key index.
    pub index: u32,
    pub signer: Arc<dyn Signer>,
    /// The newest CA certificate of this key (DER): its subject names the CRLs' issuer.
    pub certificate: Vec<u8>,
}

/// One key of a CA as the engine signs with it, with what is derived from its certificate.
pub(crate) struct KeyState {
    pub(crate) index: u32,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) subject: DistinguishedName,
    pub(crate) authority_key_id: [u8; 20],
    /// The certificate's name and key hashes, to recognise OCSP requests for this key.
    pub(crate) issuer_hashes: IssuerHashes,
    pub(crate) certificate: Vec<u8>,
    pub(crate) not_after: SystemTime,
}

impl KeyState {
    /// The state of one key, from its signer and its CA certificate (DER).
    pub(crate) fn new(
        index: u32,
        signer: Arc<dyn Signer>,
        certificate: &[u8],
    ) -> Result<KeyState, signet_x509::Error> {
        let info = signet_x509::parse_certificate(certificate)?;
        Ok(KeyState {
            index,
            authority_key_id: ext::key_identifier(signer.public_key_der())?,
            issuer_hashes: IssuerHashes::of_certificate(certificate)?,
            signer,
            subject: info.subject,
            certificate: certificate.to_vec(),
            not_after: info.not_after,
        })
    }
}

/// A key index two of a CA's keys share, if any.
pub(super) fn duplicate_index(keys: &[KeyState]) -> Option<u32> {
    keys.iter()
        .enumerate()
        .find(|(i, k)| keys[..*i].iter().any(|o| o.index == k.index))
        .map(|(_, k)| k.index)
}

impl CaState {
    /// The CA's key with this index, current or retired.
    pub(crate) fn key(&self, index: u32) -> Option<&KeyState> {
        self.keys.iter().find(|k| k.index == index)
    }

    /// Whether the CRLs of a key are still published: the current key's always, a retired
    /// key's while its CA certificate is valid (what it issued cannot outlive it).
    pub(crate) fn publishes_for(&self, key: u32, now: SystemTime) -> bool {
        key == self.runtime.renewal.key_index || self.key(key).is_some_and(|k| now <= k.not_after)
    }
}

impl Authority {
    /// The CA certificate of one key of a CA (AD CS key index), current or retired: what
    /// the AIA caIssuers URL of that key's certificates names.
    pub fn key_certificate(&self, ca: &str, key: u32) -> Result<Vec<u8>, EnrollError> {
        let state = self.resolve(ca)?;
        state
            .key(key)
            .map(|k| k.certificate.clone())
            .ok_or_else(|| {
                EnrollError::NotFound(format!("CA {} has no key {key}", state.runtime.info.name))
            })
    }

    /// SCEP GetNextCACert (RFC 8894 §3.5.2): after a renewal with a new key, the CA's
    /// current chain and `extra` (the front end's own certificates, e.g. its RA's) in a CMS
    /// SignedData signed by the previous key, which clients that enrolled before the renewal
    /// trust and can verify it with. `None` when the CA has no earlier key whose certificate
    /// is still valid.
    pub async fn next_ca_certificates(
        &self,
        ca: &str,
        extra: &[Vec<u8>],
    ) -> Result<Option<Vec<u8>>, EnrollError> {
        let state = Arc::clone(self.resolve(ca)?);
        let now = self.clock.now();
        let Some(previous) = state
            .keys
            .iter()
            .filter(|k| k.index < state.runtime.renewal.key_index && now <= k.not_after)
            .max_by_key(|k| k.index)
            .map(|k| k.index)
        else {
            return Ok(None);
        };
        let mut certificates = state.runtime.chain.clone();
        certificates.extend_from_slice(extra);
        let job_state = Arc::clone(&state);
        let der = self
            .pool
            .run(move || {
                let key = job_state
                    .key(previous)
                    .ok_or_else(|| signet_x509::Error::Invalid {
                        what: "GetNextCACert",
                        reason: "the previous key is gone".into(),
                    })?;
                let algorithm = key.signer.algorithm();
                let digest = match algorithm {
                    signet_x509::SignatureAlgorithm::Ed25519
                    | signet_x509::SignatureAlgorithm::MlDsa65 => {
                        signet_x509::cms::DigestAlg::Sha512
                    }
                    _ => signet_x509::cms::DigestAlg::Sha256,
                };
                signet_x509::cms::sign(
                    &[],
                    digest,
                    &algorithm.algorithm_identifier_der(),
                    &key.certificate,
                    &[],
                    &certificates,
                    |tbs| {
                        key.signer
                            .sign(tbs)
                            .map_err(|e| signet_x509::Error::Invalid {
                                what: "GetNextCACert signature",
                                reason: e.to_string(),
                            })
                    },
                )
            })
            .await
            .map_err(|e| internal("worker pool", &e))?
            .map_err(|e| internal("signing GetNextCACert", &e))?;
        Ok(Some(der))
    }

    /// The cross certificates of a CA (a root renewed with a new key), DER.
    pub fn cross_certificates(&self, ca: &str) -> Result<Vec<Vec<u8>>, EnrollError> {
        Ok(self.resolve(ca)?.runtime.renewal.cross_certificates.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_zero_shards_are_the_partitions() {
        for partition in [0, 1, 4096] {
            let scope = CrlScope { key: 0, partition };
            assert_eq!(scope.shard(), partition);
            assert_eq!(CrlScope::of_shard(partition), scope);
        }
        let scope = CrlScope {
            key: 3,
            partition: 17,
        };
        assert_eq!(CrlScope::of_shard(scope.shard()), scope);
    }
}
