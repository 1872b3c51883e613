//! The storage seam. Implementations (SQLite, later PostgreSQL) live in `signet-store`.
//!
//! Contract: each write method is one transaction; when its future resolves `Ok`, the data
//! is durable (fsynced). Implementations group concurrent writes into one transaction, but a
//! caller never observes another caller's failure.

use std::time::SystemTime;

use crate::BoxFuture;
use crate::auth::Roles;
use crate::event::Event;
use crate::ids::{CaName, ProfileName, RequestId, SerialNumber};
use crate::model::{Approval, RequestRecord, RequestStatus, Revocation, StoredExtension};
pub use signet_api::admin::{
    AuditCheck, AuditRecord, ExitState, ParkedEvent, TokenRecord, ViewQuery,
};
pub use signet_api::revocation::CrlRecord;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint failed (e.g. a duplicate serial number).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The stored state is not what the caller expected (e.g. not pending any more).
    #[error("state changed: {0}")]
    StateChanged(String),
    #[error("storage error: {0}")]
    Backend(String),
    /// The database cannot be reached or written (a lost connection, a server that is down or
    /// not yet promoted, a full disk, an I/O error, a read-only file system); nothing was
    /// written, and the same request may succeed once the fault is gone.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The store is shutting down.
    #[error("storage is closed")]
    Closed,
}

/// A certificate to record with its request.
#[derive(Debug, Clone)]
pub struct NewCertificate {
    pub serial: SerialNumber,
    pub der: Vec<u8>,
    pub subject: String,
    pub sans: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// The CRL partition the certificate belongs to (0 when the CA is not partitioned).
    pub shard: u32,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo (DER), indexed so that
    /// [`Store::certificate_history`] finds the certificates of a key.
    pub spki_sha256: [u8; 32],
    /// The profile's `unique_key`: the store refuses the certificate (`Conflict`) when a
    /// certificate of another requester (or an anonymous or imported one) has this key,
    /// checking inside the commit's transaction, so two requests for one key that passed
    /// the policy at the same moment cannot both be issued.
    pub unique_key: bool,
}

/// What [`Store::certificate_history`] looks up (see [`crate::CertificateHistory`]).
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub ca: CaName,
    pub profile: ProfileName,
    /// The authenticated requester; `None` (anonymous) holds nothing.
    pub requester: Option<String>,
    /// SHA-256 of the request's SubjectPublicKeyInfo.
    pub spki_sha256: [u8; 32],
    /// Look up the requesters of certificates for this key.
    pub key_holders: bool,
    /// Look up the requester's valid certificates under this profile.
    pub held: bool,
    /// "Valid" means notBefore <= now < notAfter.
    pub now: SystemTime,
}

/// A new request, with its outcome, extensions, certificate and the events it raises; all
/// committed in one transaction. The store assigns the `RequestId`, which the events get.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub ca: CaName,
    pub status: RequestStatus,
    pub profile: Option<ProfileName>,
    pub requester: Option<String>,
    pub format: String,
    pub raw: Vec<u8>,
    pub subject: String,
    pub submitted_at: SystemTime,
    pub resolved_at: Option<SystemTime>,
    pub message: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub extensions: Vec<StoredExtension>,
    pub certificate: Option<NewCertificate>,
    /// Events for the outbox (e.g. `Issued`), with JSON details.
    pub events: Vec<(Event, String)>,
    /// Audit records, committed with the request (`AuditTarget::ThisRequest` names it).
    pub audit: Vec<NewAudit>,
}

/// What an audit record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    None,
    /// The request being created in the same write (its id is not known before).
    ThisRequest,
    Request(RequestId),
    Certificate(SerialNumber),
    /// Anything else, e.g. `token/3`.
    Other(String),
}

/// An audit record to append. The store assigns `seq` and chains the hash.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub at: SystemTime,
    /// The identity name, or `anonymous`, or `system`.
    pub actor: String,
    /// `submit`, `approve`, `deny`, `issue`, `set-attributes`, `set-extension`, `revoke`,
    /// `unrevoke`, `import`, `token-create`, `token-revoke`, `config-load`.
    pub action: String,
    pub ca: Option<CaName>,
    pub target: AuditTarget,
    /// A JSON object.
    pub details: String,
}

/// A change to a stored request (resubmission, denial, an officer's edit), committed in one
/// transaction with its events and audit records. Fails with `StateChanged` if the request
/// is no longer at `expect_version`.
#[derive(Debug, Clone)]
pub struct RequestUpdate {
    pub ca: CaName,
    pub id: RequestId,
    pub expect_version: u64,
    pub status: RequestStatus,
    pub message: Option<String>,
    pub resolved_at: Option<SystemTime>,
    /// Replaces the attributes when `Some`.
    pub attributes: Option<Vec<(String, String)>>,
    /// Replaces the extensions when `Some`.
    pub extensions: Option<Vec<StoredExtension>>,
    pub certificate: Option<NewCertificate>,
    /// Records one more approval (`Conflict` if this approver already approved).
    pub add_approval: Option<Approval>,
    /// Forgets the approvals (a denial restarts M-of-N).
    pub clear_approvals: bool,
    pub events: Vec<(Event, String)>,
    pub audit: Vec<NewAudit>,
}

/// Revoking, re-revoking (from hold) or releasing a certificate, with the request's new
/// status. Fails with `StateChanged` if the certificate's revocation is not `expect`.
#[derive(Debug, Clone)]
pub struct RevocationChange {
    pub ca: CaName,
    pub serial: SerialNumber,
    pub request_id: RequestId,
    pub expect: Option<Revocation>,
    pub new: Option<Revocation>,
    pub status: RequestStatus,
    /// When the change happened: orders it for delta CRLs, and dates a release from hold.
    pub changed_at: SystemTime,
    pub events: Vec<(Event, String)>,
    pub audit: Vec<NewAudit>,
}

/// One certificate as a CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedRow {
    pub serial: SerialNumber,
    /// `None`: released from hold since the base CRL (a delta CRL lists it as
    /// removeFromCRL, dated `changed_at`).
    pub revocation: Option<Revocation>,
    pub changed_at: SystemTime,
}

/// Where [`Store::scan_revoked_into`] hands the rows, in serial order; it runs on the
/// store's reader thread.
pub type RevokedSink = Box<dyn FnMut(RevokedRow) -> Result<(), StoreError> + Send>;

/// What to scan for one CRL.
#[derive(Debug, Clone)]
pub struct RevokedQuery {
    pub ca: CaName,
    pub shard: u32,
    /// A delta CRL: only changes after this revocation sequence number (that of its base).
    pub changed_after: Option<u64>,
    /// Certificates whose notAfter is before this are left out.
    pub expired_before: SystemTime,
}

/// The result of a scan: the rows, in serial order, and the highest revocation sequence
/// number the scan saw (what a later delta CRL starts from).
#[derive(Debug, Clone, Default)]
pub struct RevokedScan {
    pub rows: Vec<RevokedRow>,
    pub revocation_seq: u64,
}

/// A CRL to record, with its `CrlIssued` event and audit record. `Conflict` if the CA already
/// has a CRL with this number in this partition.
#[derive(Debug, Clone)]
pub struct NewCrl {
    pub ca: CaName,
    pub shard: u32,
    pub number: u64,
    /// Set for a delta CRL: its base CRL's number.
    pub delta_base: Option<u64>,
    pub revocation_seq: u64,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
    pub entries: u64,
    /// Shared with the engine's copy of the newest CRL: a large CRL is held once.
    pub der: std::sync::Arc<Vec<u8>>,
    pub events: Vec<(Event, String)>,
    pub audit: Vec<NewAudit>,
}

/// What OCSP needs to know about one serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateStatus {
    pub revocation: Option<Revocation>,
    pub not_after: SystemTime,
    /// Its CRL shard, which names the CA key that issued it
    /// ([`crate::authority::CrlScope`]).
    pub shard: u32,
}

/// A CA's stored delegated OCSP responder certificate and its sealed key
/// ([`Store::current_responder`]).
#[derive(Debug)]
pub struct StoredResponder {
    pub serial: SerialNumber,
    /// DER.
    pub certificate: Vec<u8>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub sealed_key: crate::revocation::SealedKey,
}

/// An API token to record. Only the SHA-256 of the secret is stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub hash: [u8; 32],
    pub roles: Roles,
    pub cas: Vec<CaName>,
    pub groups: Vec<String>,
    pub created_at: SystemTime,
    pub created_by: String,
    pub expires_at: Option<SystemTime>,
    /// The seed of a token usable as a shared secret (`TokenRecord::secret_seed`).
    pub secret_seed: Option<[u8; 16]>,
    pub audit: Vec<NewAudit>,
}

/// An event not tied to a new request (CA-level events, `RetrievePending`).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub ca: CaName,
    pub event: Event,
    pub request_id: Option<RequestId>,
    pub at: SystemTime,
    pub details: String,
}

/// One outbox row.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub seq: u64,
    pub ca: CaName,
    pub event: Event,
    pub request_id: Option<RequestId>,
    pub at: SystemTime,
    pub details: String,
}

/// A failed delivery attempt ([`Store::exit_failed`]).
#[derive(Debug, Clone)]
pub struct ExitFailure {
    pub ca: CaName,
    pub exit: String,
    pub seq: u64,
    /// Failed attempts on `seq`, this one included.
    pub attempts: u32,
    pub next_attempt_at: SystemTime,
    pub error: String,
}

/// An event given up on for one module ([`Store::park_event`]): recorded as parked, the
/// module's cursor moved past it, its failure state cleared, with audit records.
#[derive(Debug, Clone)]
pub struct ParkEvent {
    pub ca: CaName,
    pub exit: String,
    pub seq: u64,
    pub event: Event,
    pub request_id: Option<RequestId>,
    pub error: String,
    pub attempts: u32,
    pub at: SystemTime,
    pub audit: Vec<NewAudit>,
}

/// What changes whenever an API token is created or revoked ([`Store::token_marker`]): a
/// node reloads its tokens only when this moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenMarker {
    pub tokens: u64,
    pub newest_id: u64,
    pub revoked: u64,
}

/// A claim on a lease ([`Store::take_lease`]): background work that must run on one node
/// at a time is done by whichever node holds its lease.
#[derive(Debug, Clone)]
pub struct LeaseClaim {
    /// What the lease is for, e.g. `crl/demo` or `exit/demo/log`.
    pub name: String,
    /// Who claims it: this node's id (unique per process).
    pub holder: String,
    /// The claimant's clock now.
    pub now: SystemTime,
    /// Until when the lease is held if the claim succeeds.
    pub until: SystemTime,
}

/// What [`crate::Store::ca_statistics`] counts.
#[derive(Debug, Clone)]
pub struct StatisticsQuery {
    pub ca: CaName,
    pub now: SystemTime,
    /// The first day of the chart (a UTC midnight).
    pub chart_from: SystemTime,
    pub expiring_within: std::time::Duration,
    /// How many of the expiring certificates to list.
    pub expiring_list: u32,
}

/// Storage for requests, certificates and the event outbox.
pub trait Store: Send + Sync {
    /// Records a new request (and its certificate and events) durably; returns its id.
    fn create_request(&self, req: NewRequest) -> BoxFuture<'_, Result<RequestId, StoreError>>;

    /// Appends events to the outbox durably.
    fn append_events(&self, events: Vec<NewEvent>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// A request with its attributes, extensions and certificate.
    fn get_request<'a>(
        &'a self,
        ca: &'a CaName,
        id: RequestId,
    ) -> BoxFuture<'a, Result<Option<RequestRecord>, StoreError>>;

    /// Requests of a CA with the given status, oldest first, at most `limit`.
    fn list_requests<'a>(
        &'a self,
        ca: &'a CaName,
        status: Option<RequestStatus>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<RequestRecord>, StoreError>>;

    /// Outbox rows of a CA with `seq > after`, in order, at most `limit`.
    fn outbox_after<'a>(
        &'a self,
        ca: &'a CaName,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<OutboxEvent>, StoreError>>;

    /// The highest outbox seq of a CA (0 if none).
    fn outbox_head<'a>(&'a self, ca: &'a CaName) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// The last seq an exit module acknowledged for a CA (0 if none).
    fn exit_cursor<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Records that an exit module processed every event of the CA up to `seq`.
    fn ack_exit<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
        seq: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The cursor, failure state and parked count of an exit module. A failure on an event
    /// at or before the cursor (skipped or parked meanwhile) reads as no failure.
    fn exit_state<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
    ) -> BoxFuture<'a, Result<ExitState, StoreError>>;

    /// Records a failed delivery attempt (attempts, next attempt time, error).
    fn exit_failed(&self, failure: ExitFailure) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Parks an event for a module (see [`ParkEvent`]); parking it twice keeps the first row.
    fn park_event(&self, park: ParkEvent) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Parked events of a CA (of one module if `exit` is given), oldest first.
    fn parked_events<'a>(
        &'a self,
        ca: &'a CaName,
        exit: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<ParkedEvent>, StoreError>>;

    /// Removes a parked event after it was delivered, with audit records (`StateChanged` if
    /// it is not parked).
    fn unpark_event<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
        seq: u64,
        audit: Vec<NewAudit>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Changes a stored request (see [`RequestUpdate`]).
    fn update_request(&self, update: RequestUpdate) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Revokes or releases a certificate (see [`RevocationChange`]).
    fn change_revocation(&self, change: RevocationChange) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Appends audit records not tied to another write (configuration loads, ...).
    fn append_audit(&self, records: Vec<NewAudit>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Records a token; returns its id.
    fn create_token(&self, token: NewToken) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Marks a token revoked (`StateChanged` if unknown or already revoked).
    fn revoke_token(
        &self,
        id: u64,
        at: SystemTime,
        audit: Vec<NewAudit>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Every token, revoked ones included, by id.
    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<TokenRecord>, StoreError>>;

    /// A cheap summary of the tokens that changes with every creation and revocation.
    fn token_marker(&self) -> BoxFuture<'_, Result<TokenMarker, StoreError>>;

    /// ICertView: requests matching a query.
    fn view_requests<'a>(
        &'a self,
        ca: &'a CaName,
        query: ViewQuery,
    ) -> BoxFuture<'a, Result<Vec<RequestRecord>, StoreError>>;

    /// The request that holds the certificate with this serial.
    fn request_by_serial<'a>(
        &'a self,
        ca: &'a CaName,
        serial: SerialNumber,
    ) -> BoxFuture<'a, Result<Option<RequestRecord>, StoreError>>;

    /// Audit records with `seq > after`, in order, at most `limit`.
    fn audit_after(
        &self,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<AuditRecord>, StoreError>>;

    /// Audit records about one target (`CA/request/ID`), in order.
    fn audit_for<'a>(
        &'a self,
        target: &'a str,
    ) -> BoxFuture<'a, Result<Vec<AuditRecord>, StoreError>>;

    /// The revoked (or, for a delta, changed) certificates of one CRL partition.
    fn scan_revoked(&self, query: RevokedQuery) -> BoxFuture<'_, Result<RevokedScan, StoreError>>;

    /// The same scan, each row handed to `sink` as it is read instead of collected, so a CRL
    /// of a million entries is encoded without holding a million rows; answers the highest
    /// revocation sequence number the scan saw. An error from `sink` ends the scan with it.
    /// The default collects with [`Store::scan_revoked`] and replays (a store that cannot
    /// stream).
    fn scan_revoked_into(
        &self,
        query: RevokedQuery,
        mut sink: RevokedSink,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let scan = self.scan_revoked(query).await?;
            for row in scan.rows {
                sink(row)?;
            }
            Ok(scan.revocation_seq)
        })
    }

    /// The partitions that hold revoked certificates of a CA.
    fn shards_in_use<'a>(&'a self, ca: &'a CaName) -> BoxFuture<'a, Result<Vec<u32>, StoreError>>;

    /// Records a CRL (see [`NewCrl`]); old CRLs of the partition beyond the newest few are
    /// dropped.
    fn store_crl(&self, crl: NewCrl) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The newest full and delta CRL of each partition of a CA, with their DER.
    fn latest_crls<'a>(
        &'a self,
        ca: &'a CaName,
    ) -> BoxFuture<'a, Result<Vec<CrlRecord>, StoreError>>;

    /// The stored CRLs of a CA, newest first, without their DER.
    fn list_crls<'a>(
        &'a self,
        ca: &'a CaName,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<CrlRecord>, StoreError>>;

    /// The revocation state of one certificate, `None` if the CA never issued the serial.
    fn certificate_status<'a>(
        &'a self,
        ca: &'a CaName,
        serial: SerialNumber,
    ) -> BoxFuture<'a, Result<Option<CertificateStatus>, StoreError>>;

    /// How many requests of `requester` (`None`: anonymous ones) are pending on `ca`; names
    /// compare case-insensitively, as identities do.
    fn pending_count(
        &self,
        ca: &CaName,
        requester: Option<String>,
    ) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Records a delegated OCSP responder certificate as [`Store::create_request`] does and,
    /// in the same transaction, its sealed key, which replaces the CA's previous responder
    /// key. The default (a store that keeps no keys) records the certificate only, so every
    /// start issues a new one.
    fn create_responder(
        &self,
        req: NewRequest,
        key: crate::revocation::SealedKey,
    ) -> BoxFuture<'_, Result<RequestId, StoreError>> {
        drop(key);
        self.create_request(req)
    }

    /// The CA's responder certificate whose key is stored, if it is neither revoked nor
    /// expired at `now`.
    fn current_responder<'a>(
        &'a self,
        ca: &'a CaName,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<StoredResponder>, StoreError>> {
        let _ = (ca, now);
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The certificate history of a key and a requester (for profiles with `unique_key` or
    /// `renewal`); only the parts the query asks for are read.
    fn certificate_history(
        &self,
        query: HistoryQuery,
    ) -> BoxFuture<'_, Result<crate::CertificateHistory, StoreError>>;

    /// A CA's dashboard figures: requests by status, issuance per day since
    /// `chart_from`, certificates expiring soon, and the audit log's head.
    fn ca_statistics(
        &self,
        query: StatisticsQuery,
    ) -> BoxFuture<'_, Result<signet_api::admin::CaStatistics, StoreError>>;

    /// The newest audit record's sequence number (0: none yet).
    fn audit_head(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// The newest time on record: the latest `at` among the newest audit records (every
    /// issuance, revocation and officer action writes one), or the epoch when there are
    /// none. The engine will not sign while its clock is behind it ([`crate::time_mark`]).
    /// It reads a bounded number of the newest records along the primary key, so it stays
    /// cheap however long the log is.
    fn newest_time(&self) -> BoxFuture<'_, Result<SystemTime, StoreError>>;

    /// Why the last write batch that met a fault of the database itself (a full disk, an
    /// I/O error, a lost connection) failed, until [`Store::probe_write`] succeeds again (or,
    /// for SQLite's WAL checkpoints, until a checkpoint does); `None` when writes succeed.
    /// `/healthz` reports it: a store that reads but cannot write cannot issue.
    fn write_problem(&self) -> Option<String> {
        None
    }

    /// A durable write that changes nothing, to learn whether writes succeed again after
    /// [`Store::write_problem`] (no client write may come while a load balancer keeps
    /// traffic away).
    fn probe_write(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    /// Recomputes the audit hash chain.
    fn verify_audit(&self) -> BoxFuture<'_, Result<AuditCheck, StoreError>>;

    // ---- Audit anchors (`crate::audit`). Defaults keep stores without them compiling. ----

    /// The audit chain head and the newest stored checkpoint.
    fn audit_checkpoint_base(
        &self,
    ) -> BoxFuture<'_, Result<crate::audit::CheckpointBase, StoreError>> {
        Box::pin(async {
            Err(StoreError::Backend(
                "audit checkpoints are not supported".into(),
            ))
        })
    }

    /// Stores a signed checkpoint with its `AuditCheckpoint` events, in one transaction.
    fn record_audit_checkpoint(
        &self,
        checkpoint: crate::audit::AuditCheckpoint,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let _ = (checkpoint, events);
        Box::pin(async {
            Err(StoreError::Backend(
                "audit checkpoints are not supported".into(),
            ))
        })
    }

    /// Verifies the audit chain with the store's audit key and its stored checkpoints, plus
    /// `witnessed` checkpoints kept elsewhere (each with where it came from).
    fn audit_report(
        &self,
        witnessed: Vec<(String, crate::audit::AuditCheckpoint)>,
    ) -> BoxFuture<'_, Result<crate::audit::AuditReport, StoreError>> {
        let _ = witnessed;
        Box::pin(async move {
            self.verify_audit()
                .await
                .map(crate::audit::AuditReport::from_check)
        })
    }

    /// Takes the lease, or renews it, when it is free, expired, or already the claimant's;
    /// answers whether the claimant holds it now (until `claim.until`). Durable enough that
    /// two nodes never both hold it: the claim is one conditional write.
    fn take_lease(&self, claim: LeaseClaim) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Gives the lease up (at shutdown), so another node takes it over without waiting for
    /// it to expire. Nothing happens if `holder` does not hold it.
    fn release_lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Flushes and stops the writer; later writes fail with `Closed`.
    fn close(&self) -> BoxFuture<'_, ()>;
}
