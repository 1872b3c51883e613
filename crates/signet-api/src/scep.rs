//! What the SCEP front end stores: one-time challenge passwords (kept as hashes, used once)
//! and the transactions that link a device's messages to its CA request, so a resent
//! request or a CertPoll is a poll, never a second request. [`ScepStore`] is the storage
//! trait a backend implements.

use std::time::SystemTime;

use crate::BoxFuture;
use crate::acme::{AcmeAudit, AcmeStoreError};
use crate::ids::{CaName, RequestId};

/// A one-time challenge password as stored: never the password, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScepChallenge {
    /// A public identifier (hex), shown in the audit log and as the enrolling identity.
    pub id: String,
    pub ca: CaName,
    /// SHA-256 of the challenge password.
    pub hash: [u8; 32],
    /// The profile it enrolls in; `None`: the CA's SCEP profile.
    pub profile: Option<String>,
    pub created_at: SystemTime,
    pub created_by: String,
    pub expires: SystemTime,
}

/// A SCEP transaction: the request a PKCSReq or RenewalReq became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScepTransaction {
    pub ca: CaName,
    /// The transactionID attribute as the client sent it.
    pub transaction_id: String,
    /// The message's senderNonce: a byte-identical resend (micromdm's scepclient polls that
    /// way) has the same one.
    pub sender_nonce: Vec<u8>,
    pub request: RequestId,
    /// SHA-256 over the request's key, subject and challenge: the same request again in the
    /// same transaction is the same enrollment (certmonger resubmits that way).
    pub csr_hash: [u8; 32],
    /// The identity name the request was submitted as (polls read it back as that identity).
    pub requester: String,
    pub created_at: SystemTime,
}

/// Storage for the SCEP front end. Implemented by `signet-store`; errors as for ACME.
pub trait ScepStore: Send + Sync {
    /// Records a new challenge with its audit record, in one transaction.
    fn create_scep_challenge(
        &self,
        challenge: ScepChallenge,
        audit: AcmeAudit,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>>;
    /// Uses the challenge whose hash is `hash` on `ca`: removes it and writes `audit` in one
    /// transaction and returns it, if it exists and has not expired at `now`; `None`
    /// otherwise (unknown, already used, expired, another CA's). Atomic across nodes: a
    /// challenge is used once.
    fn use_scep_challenge<'a>(
        &'a self,
        ca: &'a CaName,
        hash: [u8; 32],
        now: SystemTime,
        audit: AcmeAudit,
    ) -> BoxFuture<'a, Result<Option<ScepChallenge>, AcmeStoreError>>;
    /// Records which request a message became.
    fn record_scep_transaction(
        &self,
        transaction: ScepTransaction,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>>;
    /// The request of the message with this transactionID and senderNonce (a resend), or,
    /// without a nonce, the newest request of the transaction (CertPoll).
    fn scep_transaction<'a>(
        &'a self,
        ca: &'a CaName,
        transaction_id: &'a str,
        sender_nonce: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Option<ScepTransaction>, AcmeStoreError>>;
    /// Removes expired challenges and transactions older than `before`; how many.
    fn purge_scep(
        &self,
        now: SystemTime,
        before: SystemTime,
    ) -> BoxFuture<'_, Result<u64, AcmeStoreError>>;
}
