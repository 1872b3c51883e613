//! Records as the CA keeps them: requests, their extensions, and certificates.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use crate::draft::ExtensionOrigin;
use crate::ids::{CaName, ProfileName, RequestId, SerialNumber};

/// A request's disposition. `Denied` can be resubmitted by an officer; `Failed` is terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Pending,
    Issued,
    Denied,
    Failed,
    Revoked,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Issued => "issued",
            RequestStatus::Denied => "denied",
            RequestStatus::Failed => "failed",
            RequestStatus::Revoked => "revoked",
        }
    }
}

impl FromStr for RequestStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "pending" => RequestStatus::Pending,
            "issued" => RequestStatus::Issued,
            "denied" => RequestStatus::Denied,
            "failed" => RequestStatus::Failed,
            "revoked" => RequestStatus::Revoked,
            other => return Err(format!("unknown request status {other:?}")),
        })
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An extension as recorded with a request (AD CS keeps these per request, with flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredExtension {
    pub oid: String,
    pub critical: bool,
    /// Present in the record but not put in the certificate (`EXTENSION_DISABLE_FLAG`).
    pub disabled: bool,
    pub origin: ExtensionOrigin,
    /// DER inside extnValue.
    pub value: Vec<u8>,
}

/// An issued certificate as recorded.
#[derive(Clone, Debug)]
pub struct CertificateRecord {
    pub serial: SerialNumber,
    pub der: Vec<u8>,
    pub subject: String,
    pub sans: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

/// A request with everything recorded about it (the AD CS request row, its attributes,
/// extensions and certificate).
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub id: RequestId,
    pub ca: CaName,
    pub status: RequestStatus,
    pub profile: Option<ProfileName>,
    pub requester: Option<String>,
    /// `pkcs10` for now.
    pub format: String,
    /// The request as submitted, DER.
    pub raw: Vec<u8>,
    /// Subject of the request, RFC 4514.
    pub subject: String,
    pub submitted_at: SystemTime,
    pub resolved_at: Option<SystemTime>,
    /// The policy's or officer's message (deny reason, pending reason, failure).
    pub message: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub extensions: Vec<StoredExtension>,
    pub certificate: Option<CertificateRecord>,
}
