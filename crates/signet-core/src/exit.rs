//! The exit module contract: AD CS `ICertExit` (the module) and `ICertServerExit` (the
//! read-only context it is notified with).

use std::time::SystemTime;

use crate::BoxFuture;
use crate::event::{Event, EventMask};
use crate::model::RequestRecord;
use crate::policy::{CaInfo, ModuleError};

/// What an exit module sees for one event: the CA, the event, and — for request events —
/// the request row with its attributes, extensions and certificate. Read-only.
#[derive(Debug, Clone)]
pub struct ExitCtx {
    pub ca: CaInfo,
    /// The outbox sequence number: unique, increasing per CA; use it to de-duplicate
    /// (delivery is at least once).
    pub seq: u64,
    pub event: Event,
    pub at: SystemTime,
    pub request: Option<RequestRecord>,
    /// Event details as JSON text (e.g. the CRL number for `CrlIssued`).
    pub details: String,
}

impl ExitCtx {
    /// `GetRequestAttribute`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.request
            .as_ref()?
            .attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The issued certificate, DER (`GetCertificateProperty("RawCertificate")`).
    pub fn certificate_der(&self) -> Option<&[u8]> {
        Some(&self.request.as_ref()?.certificate.as_ref()?.der)
    }
}

/// An exit module (`ICertExit`). Any number per CA.
pub trait Exit: Send + Sync {
    /// The instance name from configuration; it keys the module's delivery cursor.
    fn name(&self) -> &str;
    fn description(&self) -> String;
    /// `Initialize`: returns the events the module wants.
    fn start(&self, ca: &CaInfo) -> Result<EventMask, ModuleError>;
    /// `Notify`. An error means "not delivered": the event is retried, and later events for
    /// this module wait behind it (delivery is in order).
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>>;
    fn shutdown(&self) {}
}
