//! Records as the CA keeps them: requests, their extensions, and certificates.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

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

/// A request status name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown request status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for RequestStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        Ok(match s {
            "pending" => RequestStatus::Pending,
            "issued" => RequestStatus::Issued,
            "denied" => RequestStatus::Denied,
            "failed" => RequestStatus::Failed,
            "revoked" => RequestStatus::Revoked,
            other => return Err(UnknownStatus(other.to_string())),
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
    /// Set while the certificate is revoked (or on hold).
    pub revocation: Option<Revocation>,
}

/// RFC 5280 §5.3.1 CRLReason codes a certificate can be revoked with (7 is unused and
/// `removeFromCRL` (8) is what releasing a hold publishes, not a revocation reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    Unspecified = 0,
    KeyCompromise = 1,
    CaCompromise = 2,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
    PrivilegeWithdrawn = 9,
    AaCompromise = 10,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 9] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The RFC 5280 name (`keyCompromise`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: i64) -> Option<RevocationReason> {
        Self::ALL.into_iter().find(|r| i64::from(r.code()) == code)
    }

    /// Parses a name (case-insensitive) or a numeric code.
    pub fn parse(s: &str) -> Result<RevocationReason, ReasonError> {
        if let Ok(code) = s.parse::<i64>() {
            return Self::from_code(code).ok_or(ReasonError::UnknownCode(code));
        }
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ReasonError::UnknownName(s.chars().take(40).collect()))
    }
}

/// Why [`RevocationReason::parse`] refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("{0} is not a revocation reason code")]
    UnknownCode(i64),
    /// The name given (its first 40 characters).
    #[error("unknown revocation reason {0:?} (one of {names})", names = reason_names())]
    UnknownName(String),
}

fn reason_names() -> String {
    let names: Vec<&str> = RevocationReason::ALL.iter().map(|r| r.name()).collect();
    names.join(", ")
}

/// A certificate's revocation as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub at: SystemTime,
    pub reason: RevocationReason,
    /// RFC 5280 §5.3.2 invalidity date: when the key is known or suspected to have been
    /// compromised, if earlier than the revocation.
    pub invalidity_date: Option<SystemTime>,
}

/// One certificate manager's approval of a pending request (M-of-N approval).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub approver: String,
    pub at: SystemTime,
}

/// The request format of the CA's own delegated OCSP responder certificate.
pub const OCSP_RESPONDER_FORMAT: &str = "ocsp-responder";
/// The request format of a SCEP RA certificate (issued by the CA to its SCEP front end).
pub const SCEP_RA_FORMAT: &str = "scep-ra";
/// The request format of a CMP responder certificate (issued by the CA to its CMP front
/// end, which signs its responses with it).
pub const CMP_RESPONDER_FORMAT: &str = "cmp-responder";

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
    /// Approvals recorded while the request waits for its M-of-N managers.
    pub approvals: Vec<Approval>,
    /// Bumped by every change to the request; updates name the version they read, so two
    /// concurrent changes cannot both win.
    pub version: u64,
}

/// Where an extension came from (AD CS `EXTENSION_ORIGIN_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtensionOrigin {
    Request,
    Policy,
    Admin,
    Server,
}

impl ExtensionOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            ExtensionOrigin::Request => "request",
            ExtensionOrigin::Policy => "policy",
            ExtensionOrigin::Admin => "admin",
            ExtensionOrigin::Server => "server",
        }
    }

    pub fn parse(s: &str) -> Option<ExtensionOrigin> {
        Some(match s {
            "request" => ExtensionOrigin::Request,
            "policy" => ExtensionOrigin::Policy,
            "admin" => ExtensionOrigin::Admin,
            "server" => ExtensionOrigin::Server,
            _ => return None,
        })
    }
}
