//! The Signet domain: identifiers, the request state machine, the policy and exit module
//! contracts (mirroring AD CS `ICertServerPolicy` / `ICertServerExit`), the `Store`, `Signer`
//! and `Clock` seams, and the engine that ties them together (`Authority`).
//!
//! Architecture invariant: this crate has no HTTP, no SQL and no async runtime. Futures it
//! returns are runtime-agnostic; CPU-heavy work (CSR verification, policy, signing) runs on
//! its own fixed worker pool ([`pool::WorkPool`]), never on the caller's executor threads.
//!
//! Front ends never see this crate: they call the traits of `signet-api` (`Enroll`,
//! `Directory`, `Authenticate`, `Administer`, `PublicRevocation`, `HolderRevocation`), which
//! [`frontend`] implements for `Authority`. The value types those traits exchange live in
//! `signet-api` and are re-exported here under their old paths.
//!
//! # Layout
//! - [`ids`], [`event`], [`model`], [`auth`], [`enroll`], [`BoxFuture`]: re-exported from
//!   `signet-api` (`CaName`, `RequestId`, `SerialNumber`, `Oid`; `Event`, `EventMask`;
//!   `RequestStatus`, `RequestRecord`; `Role`, `Roles`, `Identity`; `Enroll`, `EnrollError`).
//! - [`frontend`]: the front-end API implemented by `Authority`, by delegation; holder
//!   revocation.
//! - [`draft`]: `Draft`, the certificate under construction that policy modules edit.
//! - [`edit`]: the rules an officer's edit of a pending request (`ExtensionEdit`) passes.
//! - [`policy`]: `Policy`, `PolicyCtx`, `Verdict`.
//! - [`exit`]: `Exit`, `ExitCtx`.
//! - [`store`]: `Store` and the commit types it takes (its read records, e.g. `AuditRecord`,
//!   `ViewQuery`, come from `signet-api`).
//! - [`signer`]: `Signer`, `Clock`, `Random`.
//! - [`time_mark`]: `TimeMark`, the newest time on record; `ClockBehind`: no signing while
//!   the clock is behind it.
//! - [`authority`]: `Authority`, the engine; `CaRuntime`.
//! - [`cluster`]: several nodes on one database: `NodeId`, leases, the cluster sync.
//! - [`delivery`]: per-exit-module delivery with stored backoff and parking
//!   (`Authority::deliver_exit`), and its administration.
//! - [`admin`]: the administration operations of `Authority` (ICertAdmin / ICertView):
//!   approve, deny, edit, revoke, import, view, tokens, audit.
//! - [`audit_details`]: the typed details of audit records and exit events (serde).
//! - [`audit`]: the audit chain's anchors: signed checkpoints (`AuditCheckpoint`,
//!   `Authority::checkpoint_audit`) and the verification report (`AuditReport`).
//! - [`overview`]: what front ends read beyond the admin operations: enrollable profiles,
//!   a caller's own requests, statistics, session refresh and sign-in/out audit records.
//! - [`offline`]: offline CAs: `OfflineKey`, the stand-in for a key the server never holds,
//!   and what the engine refuses for such a CA.
//! - [`revocation`]: CRL partitions and publication, the OCSP responder and its cache.
//! - [`limits`]: `Limits`, request rates and pending quotas per requester.
//! - [`pool`]: `WorkPool`, the CPU worker pool.
#![forbid(unsafe_code)]

// The front-end API's value types, re-exported so the engine's own paths (`crate::ids`)
// and other crates' (`signet_core::ids`) stay as they were.
pub use signet_api::{BoxFuture, auth, enroll, event, ids, model};

pub mod admin;
pub mod audit;
pub mod audit_details;
pub mod authority;
pub mod cluster;
pub mod delivery;
pub mod draft;
pub mod edit;
pub mod exit;
pub mod frontend;
pub mod limits;
pub mod offline;
pub mod overview;
pub mod policy;
pub mod pool;
pub mod revocation;
pub mod signer;
pub mod store;
pub mod time_mark;

pub use auth::{Identity, Role, Roles};
pub use authority::{
    Authority, AuthorityConfig, CaRuntime, Chain as ErrorChain, DeliveryReport, StartError,
    TokenSecretKey,
};
pub use cluster::{AUDIT_CHECKPOINT_LEASE, LEASE_TTL, NodeId, exit_lease, revocation_lease};
pub use delivery::{DeliveryError, ExitStatus, ExitStep, NextRun, RetryPolicy};
pub use draft::{Draft, ExtensionOrigin};
pub use edit::{EditRefused, ExtensionEdit};
pub use enroll::{CaSummary, Enroll, EnrollError, SubmitRequest, SubmitResponse};
pub use event::{Event, EventMask};
pub use exit::{Exit, ExitCtx};
pub use ids::{CaName, ProfileName, RequestId, SerialNumber};
pub use limits::Limits;
pub use model::{
    Approval, CertificateRecord, RequestRecord, RequestStatus, Revocation, RevocationReason,
    StoredExtension,
};
pub use policy::{
    CaInfo, CertificateHistory, HeldCertificate, IssuanceNeeds, ModuleError, Policy, PolicyCtx,
    ProfileAccess, RequestProps, Verdict,
};
pub use signer::{BuildError, Clock, Random, Signer, SignerError, SystemClock};
pub use store::{
    AuditCheck, AuditRecord, AuditTarget, CertificateStatus, CrlRecord, ExitFailure, ExitState,
    HistoryQuery, LeaseClaim, NewAudit, NewCertificate, NewCrl, NewEvent, NewRequest, NewToken,
    OutboxEvent, ParkEvent, ParkedEvent, RequestUpdate, RevocationChange, RevokedQuery, RevokedRow,
    RevokedScan, StatisticsQuery, Store, StoreError, TokenMarker, TokenRecord, ViewQuery,
};
pub use time_mark::{ClockBehind, DEFAULT_MAX_CLOCK_REGRESSION, TimeMark};
