//! The store story suite: what every `Store` backend must do, written against the trait
//! alone so the SQLite store and the PostgreSQL store run the same stories.
//!
//! Each story is a `pub async fn` that takes a factory of fresh, empty stores
//! ([`FreshStore`]) and panics, naming the step, when the store breaks the contract. A
//! backend's test runs every story (`signet-store/tests/stories.rs` for SQLite). Nothing
//! here looks behind the trait: no SQL, no files, no assumption about how sequence numbers
//! or ids are assigned beyond what `signet_core::Store` documents (ids and outbox sequence
//! numbers increase; the audit log's are 1, 2, 3, ... with no gaps).
//!
//! Stories: [`request_lifecycle`], [`serial_uniqueness`], [`concurrent_requests`],
//! [`revocation_changes`],
//! [`outbox_and_cursors`], [`tokens`], [`audit_chain`], [`crl_records`], [`view_queries`],
//! [`leases`], [`request_extensions`], [`dashboard_counts`].
//!
//! ACME stories, for a backend that also implements `signet_api::acme::AcmeStore` (they take
//! a [`FreshAcme`]): [`acme_accounts`], [`acme_eab`], [`acme_orders`], [`acme_authzs`],
//! [`acme_nonces`], [`acme_purge`], [`acme_audit`], [`acme_ca_scoping`].

use std::any::Any;
use std::sync::Arc;

use signet_core::Store;

mod acme;
mod acme_orders;
mod audit;
mod builders;
mod counts;
mod crls;
mod extensions;
mod leases;
mod outbox;
mod requests;
mod revocation;
mod tokens;
mod view;

pub use acme::{FreshAcme, acme_accounts, acme_audit, acme_ca_scoping, acme_eab};
pub use acme_orders::{acme_authzs, acme_nonces, acme_orders, acme_purge};
pub use audit::audit_chain;
pub use builders::{ca, certificate, issued, pending, serial, t, update};
pub use counts::dashboard_counts;
pub use crls::crl_records;
pub use extensions::request_extensions;
pub use leases::leases;
pub use outbox::outbox_and_cursors;
pub use requests::{concurrent_requests, request_lifecycle, serial_uniqueness};
pub use revocation::revocation_changes;
pub use tokens::tokens;
pub use view::view_queries;

/// A fresh, empty store for one story, and whatever must live as long as it (a temporary
/// directory, a database to drop).
pub struct FreshStore {
    pub store: Arc<dyn Store>,
    _keep: Box<dyn Any + Send + Sync>,
}

impl FreshStore {
    /// `keep` is dropped after the store.
    pub fn new(store: Arc<dyn Store>, keep: Box<dyn Any + Send + Sync>) -> FreshStore {
        FreshStore { store, _keep: keep }
    }
}

/// Every story, by name, for a backend's test to check it runs them all.
pub const ALL: [&str; 12] = [
    "request_lifecycle",
    "serial_uniqueness",
    "concurrent_requests",
    "revocation_changes",
    "outbox_and_cursors",
    "tokens",
    "audit_chain",
    "crl_records",
    "view_queries",
    "leases",
    "request_extensions",
    "dashboard_counts",
];

/// Every ACME story, by name.
pub const ALL_ACME: [&str; 8] = [
    "acme_accounts",
    "acme_eab",
    "acme_orders",
    "acme_authzs",
    "acme_nonces",
    "acme_purge",
    "acme_audit",
    "acme_ca_scoping",
];
