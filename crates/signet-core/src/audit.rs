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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::auth::require;
use crate::authority::internal;
use crate::{
    AuditCheck, Authority, EnrollError, Event, Identity, NewEvent, Role, Signer, StoreError,
};

/// The first word of every signed checkpoint text.
pub const CHECKPOINT_DOMAIN: &str = "signet-audit-checkpoint-v1";

/// One signed checkpoint of the audit chain head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// 1, 2, 3, ... in the order the server signed them.
    pub number: u64,
    /// The audit record it covers (the chain head when it was signed).
    pub seq: u64,
    /// That record's stored hash (32 bytes).
    pub hash: Vec<u8>,
    /// When it was signed, whole seconds.
    pub at: SystemTime,
    /// Ed25519 over [`AuditCheckpoint::signed_text`] (64 bytes).
    pub signature: Vec<u8>,
}

impl AuditCheckpoint {
    /// The exact text that is signed: one line, single spaces, no trailing newline, so a
    /// witness can check it with `openssl pkeyutl -verify -rawin`:
    ///
    /// ```text
    /// signet-audit-checkpoint-v1 NUMBER SEQ HASH-HEX AT-UNIX-SECONDS
    /// ```
    pub fn signed_text(number: u64, seq: u64, hash: &[u8], at: SystemTime) -> String {
        format!(
            "{CHECKPOINT_DOMAIN} {number} {seq} {} {}",
            hex::encode(hash),
            unix(at)
        )
    }

    /// This checkpoint's signed text.
    pub fn text(&self) -> String {
        AuditCheckpoint::signed_text(self.number, self.seq, &self.hash, self.at)
    }

    /// The JSON object handed to exit modules (the event's details) and written to the local
    /// witness file; `signet audit verify --checkpoint FILE` reads it back.
    pub fn to_json(&self, key_id: &str, reason: &str) -> String {
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

/// The newest checkpoint that matched the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointAnchor {
    pub number: u64,
    pub seq: u64,
    pub at: SystemTime,
    /// `database`, or where a witnessed copy came from (a file name).
    pub source: String,
}

/// What verifying the audit chain found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Rows in the log.
    pub records: u64,
    /// The newest record's sequence number.
    pub head: u64,
    /// The first sequence number linked with the chain key; `None`: no key was available,
    /// so everything was checked with the unkeyed formula.
    pub key_from: Option<u64>,
    /// The last record whose link verified (0: none).
    pub verified_through: u64,
    /// The first record whose link does not hold, and why.
    pub broken: Option<(u64, String)>,
    /// Checkpoints whose signature and hash were checked, stored and witnessed.
    pub checkpoints_stored: u64,
    pub checkpoints_witnessed: u64,
    /// Whether checkpoint signatures could be checked (a public key was available).
    pub signatures_checked: bool,
    /// The newest checkpoint that matched.
    pub anchor: Option<CheckpointAnchor>,
    /// Checkpoints that do not match the chain or carry a bad signature, each with the
    /// record it concerns: every one means tampering (or a wrong key file).
    pub problems: Vec<(u64, String)>,
}

impl AuditReport {
    /// No broken link and no checkpoint problem.
    pub fn ok(&self) -> bool {
        self.broken.is_none() && self.problems.is_empty()
    }

    /// The first problem: a broken link, else the first checkpoint problem.
    pub fn first_problem(&self) -> Option<&(u64, String)> {
        self.broken.as_ref().or(self.problems.first())
    }

    /// The short form older callers show (the web console).
    pub fn to_check(&self) -> AuditCheck {
        AuditCheck {
            records: self.records,
            first_broken: self.first_problem().cloned(),
        }
    }

    /// A report for a store that can only recompute its chain.
    pub fn from_check(check: AuditCheck) -> AuditReport {
        AuditReport {
            records: check.records,
            head: check.records,
            verified_through: match &check.first_broken {
                Some((seq, _)) => seq.saturating_sub(1),
                None => check.records,
            },
            broken: check.first_broken,
            ..AuditReport::default()
        }
    }

    /// How far back the verification vouches, in sentences (`time` formats instants).
    pub fn statement(&self, time: &dyn Fn(SystemTime) -> String) -> Vec<String> {
        let mut out = Vec::new();
        if self.records == 0 && self.broken.is_none() {
            out.push("the audit log is empty".to_string());
        }
        let v = self.verified_through;
        let range = |a: u64, b: u64| {
            if a == b {
                format!("record {a}")
            } else {
                format!("records {a}–{b}")
            }
        };
        match self.key_from {
            None if v > 0 => out.push(format!(
                "{} verified with unkeyed SHA-256 only (no audit key): anyone who can write the database could have rewritten them",
                range(1, v)
            )),
            Some(from) => {
                if from > 1 && v > 0 {
                    out.push(format!(
                        "{} verified with unkeyed SHA-256 only (the legacy segment, written before the audit key existed)",
                        range(1, v.min(from - 1))
                    ));
                }
                if v >= from {
                    out.push(format!("{} verified with the audit key", range(from, v)));
                }
            }
            None => {}
        }
        if let Some((seq, why)) = &self.broken {
            out.push(format!("BROKEN at record {seq}: {why}"));
            if self.head > *seq {
                out.push(format!(
                    "{} after it cannot be vouched for",
                    range(seq + 1, self.head)
                ));
            }
        }
        for (seq, why) in &self.problems {
            out.push(format!("BROKEN at record {seq}: {why}"));
        }
        let checked = self.checkpoints_stored + self.checkpoints_witnessed;
        if checked > 0 || self.signatures_checked {
            out.push(format!(
                "{checked} checkpoint{} checked ({} stored in the database, {} witnessed outside it){}",
                if checked == 1 { "" } else { "s" },
                self.checkpoints_stored,
                self.checkpoints_witnessed,
                if self.signatures_checked {
                    ""
                } else {
                    "; signatures NOT checked: no audit signing public key"
                }
            ));
        }
        match &self.anchor {
            Some(a) => {
                out.push(format!(
                    "chain head at checkpoint #{} (seq {}, signed at {}, {}) matches: its signature vouches for {}",
                    a.number,
                    a.seq,
                    time(a.at),
                    a.source,
                    range(1, a.seq)
                ));
                if v > a.seq {
                    let n = v - a.seq;
                    out.push(format!(
                        "{n} record{} after the last checkpoint ({}) {} covered only by {}",
                        if n == 1 { "" } else { "s" },
                        range(a.seq + 1, v),
                        if n == 1 { "is" } else { "are" },
                        if self.key_from.is_some_and(|f| f <= a.seq + 1) {
                            "the key"
                        } else {
                            "unkeyed hashes"
                        }
                    ));
                }
            }
            // With a break or a problem, those lines already say what is wrong.
            None if v > 0 && self.ok() => out.push(
                "no signed checkpoint covers the chain: records deleted from its end would go unnoticed"
                    .to_string(),
            ),
            None => {}
        }
        out
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `t` rounded down to whole seconds (what checkpoints record).
pub fn whole_seconds(t: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix(t))
}

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
