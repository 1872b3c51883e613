//! The audit chain's anchors: the key that links records, the signed checkpoints of the
//! chain head, and what a verification can vouch for.
//!
//! The store links every audit record to the one before it (signet-store's `audit` module).
//! An unkeyed hash only shows that the rows agree with each other: whoever can write the
//! database can edit a row and recompute every later hash. Two anchors outside the database
//! make that detectable:
//!
//! 1. **The chain key.** From the key's first sequence number on, each link is
//!    HMAC-SHA256 under a 256-bit key kept in a file beside the database, not in it
//!    (`audit.key`). Records written before the key existed (an installation from before
//!    keyed chains) stay verifiable with the unkeyed formula as the *legacy segment*, and
//!    verification says so.
//! 2. **Checkpoints.** Every so often (`[server] audit_checkpoint`) and at shutdown, the
//!    server signs the chain head — checkpoint number, sequence number, hash, time — with a
//!    dedicated Ed25519 key ([`AuditCheckpoint::signed_text`]), stores the checkpoint, and
//!    hands it to the exit modules as an [`Event::AuditCheckpoint`] event, so a log file, a
//!    webhook receiver or a mailbox keeps a copy the database attacker cannot reach. A
//!    checkpoint at record S vouches for records 1..=S: rewriting any of them changes the
//!    hash at S, and deleting records beyond S leaves a chain shorter than the checkpoint.
//!
//! [`AuditReport`] is what verification found, and [`AuditReport::statement`] says in
//! sentences how far back it can vouch; `signet audit verify` and the REST verification print
//! the same sentences.
//!
//! # Layout
//! - [`AuditCheckpoint`]: one signed checkpoint, its signed text and its JSON form.
//! - [`CheckpointBase`]: the chain head and the newest checkpoint, for the next checkpoint.
//! - [`AuditReport`], [`CheckpointAnchor`]: verification results and their sentences.
//! - `Authority::checkpoint_audit` and `Authority::audit_report` (the engine operations).

use crate::auth::require;
use crate::authority::internal;
use crate::{Authority, EnrollError, Event, Identity, NewEvent, Role, Signer, StoreError};
pub use signet_api::admin::{AuditCheckpoint, AuditReport, CHECKPOINT_DOMAIN, CheckpointAnchor};

/// The identifier of a checkpoint signing key: the first 8 bytes of the SHA-256 of its
/// SubjectPublicKeyInfo, hex.
pub fn checkpoint_key_id(spki_der: &[u8]) -> String {
    hex::encode(&signet_x509::sha256(spki_der)[..8])
}

/// The raw 32-byte Ed25519 public key inside a SubjectPublicKeyInfo, if it is one.
pub fn ed25519_public_key(spki_der: &[u8]) -> Option<[u8; 32]> {
    // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier (id-Ed25519,
    //     1.3.101.112, no parameters), subjectPublicKey BIT STRING (0 unused bits, 32 bytes) }
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let key = spki_der.strip_prefix(&PREFIX[..])?;
    key.try_into().ok()
}

/// What the next checkpoint builds on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBase {
    /// The newest record's sequence number (0: the log is empty) and its hash.
    pub head_seq: u64,
    pub head_hash: Vec<u8>,
    /// The newest stored checkpoint.
    pub last: Option<AuditCheckpoint>,
}

/// The JSON form of a checkpoint (written by the engine's JSON writer, so it stays here).
pub trait CheckpointJson {
    /// The JSON object handed to exit modules (the event's details) and written to the local
    /// witness file; `signet audit verify --checkpoint FILE` reads it back.
    fn to_json(&self, key_id: &str, reason: &str) -> String;
}

impl CheckpointJson for AuditCheckpoint {
    fn to_json(&self, key_id: &str, reason: &str) -> String {
        crate::audit_details::to_json(&crate::audit_details::Checkpoint {
            checkpoint: self.number,
            seq: self.seq,
            hash: hex::encode(&self.hash),
            at: unix(self.at),
            key_id,
            signature: hex::encode(&self.signature),
            signed: self.text(),
            reason,
        })
    }
}

use signet_x509::time::unix_seconds as unix;
/// `t` rounded down to whole seconds (what checkpoints record).
pub use signet_x509::time::whole_seconds;

impl Authority {
    /// Signs a checkpoint of the audit chain head with `signer` (the audit signing key),
    /// stores it and queues an `AuditCheckpoint` event for every CA, in one transaction.
    /// `None` when nothing was appended since the newest checkpoint. `reason` (`interval`,
    /// `records`, `shutdown`, `key-created`) goes into the event only.
    pub async fn checkpoint_audit(
        &self,
        signer: &dyn Signer,
        reason: &str,
    ) -> Result<Option<AuditCheckpoint>, StoreError> {
        let base = self.store.audit_checkpoint_base().await?;
        if base.head_seq == 0 || base.last.as_ref().is_some_and(|l| l.seq == base.head_seq) {
            return Ok(None);
        }
        let number = base.last.as_ref().map_or(1, |l| l.number + 1);
        let at = whole_seconds(self.clock.now());
        let text = AuditCheckpoint::signed_text(number, base.head_seq, &base.head_hash, at);
        let signature = signer
            .sign(text.as_bytes())
            .map_err(|e| StoreError::Backend(format!("signing audit checkpoint {number}: {e}")))?;
        let checkpoint = AuditCheckpoint {
            number,
            seq: base.head_seq,
            hash: base.head_hash,
            at,
            signature,
        };
        let details = checkpoint.to_json(&checkpoint_key_id(signer.public_key_der()), reason);
        let events = self
            .ca_names()
            .iter()
            .map(|ca| NewEvent {
                ca: ca.clone(),
                event: Event::AuditCheckpoint,
                request_id: None,
                at,
                details: details.clone(),
            })
            .collect();
        self.store
            .record_audit_checkpoint(checkpoint.clone(), events)
            .await?;
        self.wake();
        Ok(Some(checkpoint))
    }

    /// Verifies the audit chain with the audit key, every stored checkpoint and `witnessed`
    /// ones kept elsewhere (each with where it came from), for auditors with every-CA scope:
    /// [`Authority::verify_audit`] with the whole report.
    pub async fn audit_report(
        &self,
        caller: Option<&Identity>,
        witnessed: Vec<(String, AuditCheckpoint)>,
    ) -> Result<AuditReport, EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Auditor, None, self.separation)?;
        self.store
            .audit_report(witnessed)
            .await
            .map_err(|e| internal("store", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn signed_text_is_one_exact_line() {
        let t = AuditCheckpoint::signed_text(3, 42, &[0xab; 32], at(1_700_000_000));
        assert_eq!(
            t,
            format!(
                "signet-audit-checkpoint-v1 3 42 {} 1700000000",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn statement_says_how_far_it_vouches() {
        let report = AuditReport {
            records: 20,
            head: 20,
            key_from: Some(6),
            verified_through: 20,
            checkpoints_stored: 2,
            signatures_checked: true,
            anchor: Some(CheckpointAnchor {
                number: 2,
                seq: 17,
                at: at(0),
                source: "database".into(),
            }),
            ..AuditReport::default()
        };
        let s = report.statement(&|_| "T".into()).join("\n");
        assert!(
            s.contains("records 1–5 verified with unkeyed SHA-256 only (the legacy segment"),
            "{s}"
        );
        assert!(
            s.contains("records 6–20 verified with the audit key"),
            "{s}"
        );
        assert!(
            s.contains("chain head at checkpoint #2 (seq 17, signed at T, database) matches"),
            "{s}"
        );
        assert!(
            s.contains(
                "3 records after the last checkpoint (records 18–20) are covered only by the key"
            ),
            "{s}"
        );
        assert!(report.ok());
    }

    #[test]
    fn ed25519_keys_are_found_in_their_spki() {
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(&[7; 32]);
        assert_eq!(ed25519_public_key(&spki), Some([7; 32]));
        assert_eq!(ed25519_public_key(&spki[..40]), None);
    }
}
