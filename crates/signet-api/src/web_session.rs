//! What the web pages store: signed-in sessions, so a session opened on one node of a
//! cluster works on every node, and signing out on one ends it on all. [`SessionStore`] is
//! the storage trait a backend implements. The cookie itself is never stored: sessions are
//! found by the SHA-256 of its value.

use std::time::SystemTime;

use crate::BoxFuture;
use crate::acme::AcmeStoreError;
use crate::auth::Identity;
use crate::ids::SerialNumber;

/// The client certificate a session was opened with (re-checked at every request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCertificate {
    /// The issuer's DER-encoded Name.
    pub issuer: Vec<u8>,
    pub serial: SerialNumber,
    pub not_after: SystemTime,
}

/// One signed-in session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSession {
    /// SHA-256 of the cookie value.
    pub key: [u8; 32],
    /// Who signed in (refreshed from the credential at every request).
    pub identity: Identity,
    pub certificate: Option<SessionCertificate>,
    /// The CSRF token every form of this session carries back.
    pub csrf: String,
    pub created_at: SystemTime,
    pub last_seen: SystemTime,
}

/// Which sessions have ended: idle since before `idle_before`, or opened before
/// `created_before`.
#[derive(Clone, Copy, Debug)]
pub struct SessionCutoff {
    pub idle_before: SystemTime,
    pub created_before: SystemTime,
}

/// Storage for the web pages' sessions. Implemented by `signet-store`; errors as for ACME.
pub trait SessionStore: Send + Sync {
    /// Records a new session; first removes every session ended by `cutoff`, then, while
    /// `max` or more remain, the least recently used ones.
    fn open_session(
        &self,
        session: WebSession,
        cutoff: SessionCutoff,
        max: u32,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>>;
    /// The session with this key, if it exists and `cutoff` has not ended it.
    fn session(
        &self,
        key: [u8; 32],
        cutoff: SessionCutoff,
    ) -> BoxFuture<'_, Result<Option<WebSession>, AcmeStoreError>>;
    /// Notes activity (`last_seen`) and the identity as refreshed.
    fn touch_session(
        &self,
        key: [u8; 32],
        last_seen: SystemTime,
        identity: Identity,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>>;
    /// Ends the session; returns who it was, if it existed.
    fn close_session(
        &self,
        key: [u8; 32],
    ) -> BoxFuture<'_, Result<Option<Identity>, AcmeStoreError>>;
}
