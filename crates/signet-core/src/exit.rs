//! The exit module contract: AD CS `ICertExit` (the module) and `ICertServerExit` (the
//! read-only context it is notified with).

use std::sync::Arc;
use std::time::SystemTime;

use crate::BoxFuture;
use crate::event::{Event, EventMask};
use crate::model::RequestRecord;
use crate::policy::{CaInfo, ModuleError};
use crate::revocation::PublishedCrl;

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
    /// For `CrlIssued`: the CRL the event announces, with its DER, so a module can publish
    /// it without store access. If a newer CRL of the same partition and kind (full or
    /// delta) was published before delivery, it is that one (`number` says which): a
    /// publisher wants the newest, and the newer CRL's own event follows. `None` for other
    /// events.
    pub crl: Option<Arc<PublishedCrl>>,
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

    /// Whether the event is about a certificate the CA issued to one of its own services: the
    /// delegated OCSP responder ([`crate::model::OCSP_RESPONDER_FORMAT`]) or the SCEP RA
    /// ([`crate::model::SCEP_RA_FORMAT`]). Such a certificate has no requester to notify
    /// or publish for.
    pub fn is_service_certificate(&self) -> bool {
        self.request.as_ref().is_some_and(|r| {
            r.format == crate::model::OCSP_RESPONDER_FORMAT
                || r.format == crate::model::SCEP_RA_FORMAT
                || r.format == crate::model::CMP_RESPONDER_FORMAT
        })
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
