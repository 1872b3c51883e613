//! The front-end API of Signet: what an intermediary (the REST API, the web pages, and the
//! protocol front ends to come: ACME, EST, SCEP, CMP) may call, and the values it exchanges.
//!
//! A front end holds trait objects (`Arc<dyn Enroll>`, `Arc<dyn Administer>`, ...), never the
//! engine: `signet-core` implements every trait for `Authority`, `signet-client` implements
//! `Enroll` over HTTP. The traits are object-safe and runtime-agnostic ([`BoxFuture`]).
//! Authorization stays in the engine: every call that reveals or changes state takes the
//! caller's [`Identity`]; front ends only authenticate.
//!
//! Architecture invariant: this crate holds values and traits only: no HTTP, no SQL, no
//! async runtime, and no dependency on the engine, the store or the keys.
//!
//! # Layout
//! - [`ids`]: `CaName`, `ProfileName`, `RequestId`, `SerialNumber`, `Oid`.
//! - [`event`]: `Event` (AD CS `EXITEVENT_*` values) and `EventMask`.
//! - [`model`]: `RequestStatus`, `RequestRecord`, `CertificateRecord`, `StoredExtension`,
//!   `ExtensionOrigin`, `RevocationReason`.
//! - [`auth`]: `Role`, `Roles`, `Identity`: who may do what; [`auth::Authenticate`]: a
//!   credential to an identity.
//! - [`enroll`]: [`Enroll`], the one trait every intermediary calls (submit, retrieve,
//!   discovery, chain), [`Directory`] (the CA set, read in process), `EnrollError`.
//! - [`admin`]: [`Administer`], the administration surface (ICertAdmin / ICertView, tokens,
//!   audit, exit delivery, CRL publication, statistics) and its record and query types.
//! - [`revocation`]: [`PublicRevocation`] (CRLs and OCSP for relying parties) and
//!   [`HolderRevocation`] (revocation by the certificate's holder: ACME `revokeCert`, CMP
//!   `rr`), with the answer types.
//! - [`rate`]: `TokenBucket`, the one token-bucket rate limiter.
//! - [`scep`]: what the SCEP front end stores (one-time challenges, transactions) and
//!   [`scep::ScepStore`].
//! - [`transport`]: what the connection established (TLS, the client's certificates, the
//!   channel binding), as the listener puts it into each request.
//! - [`acme`]: what the ACME front end stores (accounts, orders, authorizations, EAB keys,
//!   used nonces) and [`acme::AcmeStore`], the storage trait a backend implements for it.
#![forbid(unsafe_code)]

pub mod acme;
pub mod admin;
pub mod auth;
pub mod enroll;
pub mod event;
pub mod ids;
pub mod model;
pub mod rate;
pub mod revocation;
pub mod scep;
pub mod transport;
pub mod web_session;

pub use admin::Administer;
pub use auth::{Authenticate, Identity, Role, Roles};
pub use enroll::{
    CaKeySummary, CaSummary, Directory, Enroll, EnrollError, SubmitRequest, SubmitResponse,
};
pub use event::{Event, EventMask};
pub use ids::{CaName, Oid, ProfileName, RequestId, SerialNumber};
pub use model::{
    Approval, CertificateRecord, ExtensionOrigin, RequestRecord, RequestStatus, Revocation,
    RevocationReason, StoredExtension,
};
pub use revocation::{HolderRevocation, PublicRevocation};

/// A boxed, sendable future: the async seam that keeps front ends and the engine
/// runtime-agnostic.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
