//! What the connection a request arrived on established, as the listener puts it into each
//! request's extensions (typed values, so any front end can read them without knowing the
//! listener): whether it came over TLS, the client's certificate chain, and the TLS channel
//! binding (EST checks it against the CSR, RFC 7030 §3.5).

use std::sync::Arc;

/// The TLS client certificate a request arrived with (leaf first, DER). Absent when the
/// client sent no certificate or on plain HTTP.
///
/// When present, the chain has already been verified against the listener's client roots,
/// including the clientAuth extended key usage.
#[derive(Clone, Debug)]
pub struct PeerCertificates(pub Arc<Vec<Vec<u8>>>);

impl PeerCertificates {
    /// The client's own (end-entity) certificate, DER.
    pub fn leaf(&self) -> Option<&[u8]> {
        self.0.first().map(Vec::as_slice)
    }
}

/// Marks a request that came over the HTTPS listener.
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

/// The connection's RFC 9266 `tls-exporter` channel binding: 32 bytes exported with the
/// label `EXPORTER-Channel-Binding` and no context. Present on every TLS request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsExporter(pub [u8; 32]);
