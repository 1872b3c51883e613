//! Offline CAs: a CA whose key the server never holds, typically a root kept on removable
//! media or a token in a safe. `signet ca sign --offline` signs its sub-CA certificates and
//! CRLs from the command line with the key present only for that command, and records them
//! in the store; the server serves the newest stored CRL and signs nothing for the CA.
//!
//! The engine learns that a CA is offline from its key: [`OfflineKey`] holds only the public
//! key from the CA certificate and answers [`Signer::offline`] `true`. Then:
//! - submissions and resubmissions are refused ([`refuse_requests`]: 409, nothing stored);
//! - CRLs are neither published at start, nor by the maintenance tick, nor on demand
//!   ([`refuse_crl_publication`]); those `signet ca sign --offline --crl` stored are loaded
//!   at start and by the cluster sync like another node's;
//! - no delegated OCSP responder is issued, and OCSP requests are answered `unauthorized`
//!   (nothing may sign an answer; relying parties use the CRL);
//! - `/healthz` stays healthy: the key's `check` succeeds, as there is nothing to reach.

use signet_x509::SignatureAlgorithm;

use crate::authority::CaRuntime;
use crate::enroll::EnrollError;
use crate::ids::{CaName, ProfileName};
use crate::policy::{CaInfo, ModuleError, Policy, PolicyCtx, Verdict};
use crate::signer::{Signer, SignerError};

/// The stand-in for an offline CA's key: its public key (from the CA certificate), and a
/// `sign` that always fails with [`SignerError::Unavailable`] naming the way to sign.
pub struct OfflineKey {
    ca: CaName,
    spki_der: Vec<u8>,
    algorithm: SignatureAlgorithm,
}

impl OfflineKey {
    /// The stand-in for CA `ca`, whose certificate holds `spki_der` and which signs (offline)
    /// with `algorithm`.
    pub fn new(ca: CaName, spki_der: Vec<u8>, algorithm: SignatureAlgorithm) -> OfflineKey {
        OfflineKey {
            ca,
            spki_der,
            algorithm,
        }
    }
}

impl Signer for OfflineKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, SignerError> {
        Err(SignerError::Unavailable(format!(
            "CA {} is offline: its key is not on this server; sign with `signet ca sign --offline` where the key is",
            self.ca
        )))
    }

    fn offline(&self) -> bool {
        true
    }
}

/// The policy module of an offline CA: it has no profiles and denies everything. The engine
/// refuses requests to an offline CA before any policy runs; this module only fills the
/// CA's place (config discovery shows the policy `offline`).
pub struct OfflinePolicy;

impl Policy for OfflinePolicy {
    fn name(&self) -> &str {
        "offline"
    }

    fn description(&self) -> String {
        "an offline CA: certificates are signed with `signet ca sign --offline`".into()
    }

    fn start(&self, _ca: &CaInfo) -> Result<(), ModuleError> {
        Ok(())
    }

    fn has_profile(&self, _profile: &ProfileName) -> bool {
        false
    }

    fn profiles(&self) -> Vec<ProfileName> {
        Vec::new()
    }

    fn default_profile(&self) -> Option<ProfileName> {
        None
    }

    fn verify(&self, _ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        Ok(Verdict::Deny("the CA is offline".into()))
    }
}

/// `Err` (409 Conflict, nothing stored) when the CA is offline: it takes no requests here,
/// new or resubmitted.
pub(crate) fn refuse_requests(rt: &CaRuntime) -> Result<(), EnrollError> {
    if !rt.signer.offline() {
        return Ok(());
    }
    Err(EnrollError::Conflict(format!(
        "CA {} is offline: it accepts no requests here; its sub-CA certificates are signed with `signet ca sign --offline --csr` where its key is",
        rt.info.name
    )))
}

/// `Err` (409 Conflict) when the CA is offline: this server cannot sign its CRLs.
pub(crate) fn refuse_crl_publication(rt: &CaRuntime) -> Result<(), EnrollError> {
    if !rt.signer.offline() {
        return Ok(());
    }
    Err(EnrollError::Conflict(format!(
        "CA {} is offline: sign its CRL with `signet ca sign --offline --crl` where its key is; this server then publishes the newest one stored",
        rt.info.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stand_in_key_signs_nothing_and_says_why() {
        let ca = CaName::new("root").expect("name");
        let key = OfflineKey::new(ca, vec![0x30, 0x00], SignatureAlgorithm::EcdsaSha384);
        assert!(key.offline());
        assert!(
            key.check().is_ok(),
            "nothing to reach: /healthz stays healthy"
        );
        assert_eq!(key.public_key_der(), &[0x30, 0x00]);
        match key.sign(b"tbs") {
            Err(SignerError::Unavailable(why)) => {
                assert!(why.contains("CA root is offline"), "{why}");
                assert!(why.contains("signet ca sign --offline"), "{why}");
            }
            other => panic!("an offline key signed: {other:?}"),
        }
    }
}
