//! The storage seam. Implementations (SQLite, later PostgreSQL) live in `signet-store`.
//!
//! Contract: each write method is one transaction; when its future resolves `Ok`, the data
//! is durable (fsynced). Implementations group concurrent writes into one transaction, but a
//! caller never observes another caller's failure.

use std::time::SystemTime;

use crate::BoxFuture;
use crate::event::Event;
use crate::ids::{CaName, ProfileName, RequestId, SerialNumber};
use crate::model::{RequestRecord, RequestStatus, StoredExtension};

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

    /// Flushes and stops the writer; later writes fail with `Closed`.
    fn close(&self) -> BoxFuture<'_, ()>;
}
