//! The JSON bodies of the REST API, shared by the server (which writes them) and
//! `RemoteEnroll` (which reads them), so the contract has one definition.

use serde::{Deserialize, Serialize};
use signet_api::{CaKeySummary, CaSummary, RequestId, RequestStatus, SerialNumber, SubmitResponse};
use signet_x509::pem;

/// One CA in config discovery (`GET /api/v1/cas`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaView {
    pub name: String,
    /// `host/CAName`.
    pub config: String,
    pub subject: String,
    pub key_algorithm: String,
    pub policy: String,
    pub exits: Vec<String>,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub default_profile: Option<String>,
    /// AD CS certificate index.
    #[serde(default)]
    pub cert_index: u32,
    /// The CA's keys, the current one first.
    #[serde(default)]
    pub keys: Vec<CaKeyView>,
}

/// One key of a CA (AD CS key index).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaKeyView {
    pub index: u32,
    pub current: bool,
    pub certificate_sha256: String,
    /// RFC 3339.
    pub not_after: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_url: Option<String>,
}

impl From<CaKeySummary> for CaKeyView {
    fn from(k: CaKeySummary) -> CaKeyView {
        CaKeyView {
            index: k.index,
            current: k.current,
            certificate_sha256: k.certificate_sha256,
            not_after: rfc3339(k.not_after),
            crl_url: k.crl_url,
        }
    }
}

impl From<CaKeyView> for CaKeySummary {
    fn from(k: CaKeyView) -> CaKeySummary {
        CaKeySummary {
            index: k.index,
            current: k.current,
            certificate_sha256: k.certificate_sha256,
            not_after: parse_time(&k.not_after).unwrap_or(std::time::UNIX_EPOCH),
            crl_url: k.crl_url,
        }
    }
}

impl From<CaSummary> for CaView {
    fn from(c: CaSummary) -> CaView {
        CaView {
            name: c.name,
            config: c.config,
            subject: c.subject,
            key_algorithm: c.key_algorithm,
            policy: c.policy,
            exits: c.exits,
            profiles: c.profiles,
            default_profile: c.default_profile,
            cert_index: c.cert_index,
            keys: c.keys.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<CaView> for CaSummary {
    fn from(c: CaView) -> CaSummary {
        CaSummary {
            name: c.name,
            config: c.config,
            subject: c.subject,
            key_algorithm: c.key_algorithm,
            policy: c.policy,
            exits: c.exits,
            profiles: c.profiles,
            default_profile: c.default_profile,
            cert_index: c.cert_index,
            keys: c.keys.into_iter().map(Into::into).collect(),
        }
    }
}

/// A request as submit and retrieve return it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestView {
    pub id: i64,
    pub ca: String,
    /// `pending`, `issued`, `denied`, `failed` or `revoked`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// PEM, the issuing CA first; present with `certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Vec<String>>,
}

impl RequestView {
    pub fn new(ca: &str, r: SubmitResponse) -> RequestView {
        let certificate = r
            .certificate
            .as_ref()
            .map(|d| pem::encode("CERTIFICATE", d));
        let chain = certificate.as_ref().map(|_| {
            r.chain
                .iter()
                .map(|d| pem::encode("CERTIFICATE", d))
                .collect()
        });
        RequestView {
            id: r.id.get(),
            ca: ca.to_string(),
            status: r.status.as_str().to_string(),
            message: r.message,
            serial: r.serial.map(|s| s.to_hex()),
            certificate,
            chain,
        }
    }

    /// Back to the `Enroll` form; an error names what the server sent wrong.
    pub fn into_response(self) -> Result<SubmitResponse, WireError> {
        let certificate = match self.certificate {
            Some(p) => Some(pem::decode(p.as_bytes())?.1),
            None => None,
        };
        let chain = self
            .chain
            .unwrap_or_default()
            .iter()
            .map(|p| pem::decode(p.as_bytes()).map(|(_, d)| d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SubmitResponse {
            id: RequestId::new(self.id)?,
            status: self.status.parse::<RequestStatus>()?,
            message: self.message,
            serial: self.serial.map(|s| s.parse::<SerialNumber>()).transpose()?,
            certificate,
            chain,
        })
    }
}

/// Why a [`RequestView`] the server sent does not read back as a [`SubmitResponse`].
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A certificate that is not PEM.
    #[error(transparent)]
    Pem(#[from] signet_x509::Error),
    /// A request id or serial number out of range.
    #[error(transparent)]
    Id(#[from] signet_api::ids::IdError),
    #[error(transparent)]
    Status(#[from] signet_api::model::UnknownStatus),
}

// ---- Administration bodies ---------------------------------------------------------------

/// A request as officers see it (`GET .../requests`, `.../requests/{id}/details`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordView {
    pub id: i64,
    pub ca: String,
    pub status: String,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub requester: Option<String>,
    pub subject: String,
    pub format: String,
    pub submitted_at: String,
    #[serde(default)]
    pub resolved_at: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    pub version: u64,
    pub approvals: Vec<ApprovalView>,
    #[serde(default)]
    pub approvals_required: Option<u32>,
    #[serde(default)]
    pub certificate: Option<CertificateView>,
    /// Present in the detailed view only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<(String, String)>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<ExtensionView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<AuditView>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalView {
    pub approver: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateView {
    pub serial: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    #[serde(default)]
    pub revoked_at: Option<String>,
    #[serde(default)]
    pub revocation_reason: Option<String>,
    #[serde(default)]
    pub invalidity_date: Option<String>,
    /// PEM; in the detailed view only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtensionView {
    pub oid: String,
    pub critical: bool,
    pub disabled: bool,
    /// `request`, `policy`, `admin` or `server`.
    pub origin: String,
    /// The DER inside extnValue, hex.
    pub value: String,
}

/// One audit record (`GET /api/v1/audit` returns one per line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditView {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    #[serde(default)]
    pub ca: Option<String>,
    pub target: String,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<&signet_api::admin::AuditRecord> for AuditView {
    fn from(r: &signet_api::admin::AuditRecord) -> AuditView {
        AuditView {
            seq: r.seq,
            at: rfc3339(r.at),
            actor: r.actor.clone(),
            action: r.action.clone(),
            ca: r.ca.clone(),
            target: r.target.clone(),
            details: serde_json::from_str(&r.details)
                .unwrap_or_else(|_| serde_json::Value::String(r.details.clone())),
            prev_hash: hex::encode(&r.prev_hash),
            hash: hex::encode(&r.hash),
        }
    }
}

/// The result of `GET /api/v1/audit/verify` and `signet audit verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditCheckView {
    pub ok: bool,
    pub records: u64,
    #[serde(default)]
    pub first_broken: Option<u64>,
    #[serde(default)]
    pub reason: Option<String>,
    /// How far back the verification vouches, in sentences (`AuditReport::statement`).
    #[serde(default)]
    pub statement: Vec<String>,
    /// The first record linked with the audit key (`None`: no key, all unkeyed).
    #[serde(default)]
    pub key_from: Option<u64>,
    /// The last record whose link verified.
    #[serde(default)]
    pub verified_through: u64,
    /// The newest checkpoint that matched the chain.
    #[serde(default)]
    pub checkpoint: Option<AuditAnchorView>,
    #[serde(default)]
    pub checkpoints_checked: u64,
    /// Checkpoints that contradict the chain (each means tampering).
    #[serde(default)]
    pub problems: Vec<AuditProblemView>,
}

/// A checkpoint that matched the chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditAnchorView {
    pub number: u64,
    pub seq: u64,
    pub signed_at: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditProblemView {
    pub seq: u64,
    pub reason: String,
}

impl From<signet_api::admin::AuditCheck> for AuditCheckView {
    fn from(c: signet_api::admin::AuditCheck) -> AuditCheckView {
        AuditCheckView::from(&signet_api::admin::AuditReport::from_check(c))
    }
}

impl From<&signet_api::admin::AuditReport> for AuditCheckView {
    fn from(r: &signet_api::admin::AuditReport) -> AuditCheckView {
        let first = r.first_problem();
        AuditCheckView {
            ok: r.ok(),
            records: r.records,
            first_broken: first.map(|b| b.0),
            reason: first.map(|b| b.1.clone()),
            statement: r.statement(&rfc3339),
            key_from: r.key_from,
            verified_through: r.verified_through,
            checkpoint: r.anchor.as_ref().map(|a| AuditAnchorView {
                number: a.number,
                seq: a.seq,
                signed_at: rfc3339(a.at),
                source: a.source.clone(),
            }),
            checkpoints_checked: r.checkpoints_stored + r.checkpoints_witnessed,
            problems: r
                .problems
                .iter()
                .map(|(seq, reason)| AuditProblemView {
                    seq: *seq,
                    reason: reason.clone(),
                })
                .collect(),
        }
    }
}

/// An API token as listed (never its secret or hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenView {
    pub id: u64,
    pub name: String,
    pub roles: Vec<String>,
    /// Empty: every CA.
    pub cas: Vec<String>,
    pub groups: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<String>,
    /// The token may serve as a shared secret (CMP's password-based MAC).
    #[serde(default)]
    pub shared_secret: bool,
    /// Present only in the answer to creation: the secret, shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&signet_api::admin::TokenRecord> for TokenView {
    fn from(t: &signet_api::admin::TokenRecord) -> TokenView {
        TokenView {
            id: t.id,
            name: t.name.clone(),
            roles: t.roles.iter().map(|r| r.as_str().to_string()).collect(),
            cas: t.cas.iter().map(|c| c.to_string()).collect(),
            groups: t.groups.clone(),
            created_at: rfc3339(t.created_at),
            created_by: t.created_by.clone(),
            expires_at: t.expires_at.map(rfc3339),
            revoked_at: t.revoked_at.map(rfc3339),
            shared_secret: t.secret_seed.is_some(),
            token: None,
        }
    }
}

impl RecordView {
    /// The list form; `details` adds attributes, extensions, the PEM and the history.
    pub fn new(
        r: &signet_api::RequestRecord,
        details: Option<&signet_api::admin::RequestDetails>,
    ) -> RecordView {
        let certificate = r.certificate.as_ref().map(|c| CertificateView {
            serial: c.serial.to_hex(),
            subject: c.subject.clone(),
            sans: c.sans.clone(),
            not_before: rfc3339(c.not_before),
            not_after: rfc3339(c.not_after),
            revoked_at: c.revocation.map(|v| rfc3339(v.at)),
            revocation_reason: c.revocation.map(|v| v.reason.name().to_string()),
            invalidity_date: c.revocation.and_then(|v| v.invalidity_date).map(rfc3339),
            pem: details.map(|_| pem::encode("CERTIFICATE", &c.der)),
        });
        RecordView {
            id: r.id.get(),
            ca: r.ca.to_string(),
            status: r.status.as_str().to_string(),
            profile: r.profile.as_ref().map(|p| p.to_string()),
            requester: r.requester.clone(),
            subject: r.subject.clone(),
            format: r.format.clone(),
            submitted_at: rfc3339(r.submitted_at),
            resolved_at: r.resolved_at.map(rfc3339),
            message: r.message.clone(),
            version: r.version,
            approvals: r
                .approvals
                .iter()
                .map(|a| ApprovalView {
                    approver: a.approver.clone(),
                    at: rfc3339(a.at),
                })
                .collect(),
            approvals_required: details.map(|d| d.approvals_required),
            certificate,
            attributes: details.map(|_| r.attributes.clone()),
            extensions: details.map(|_| {
                r.extensions
                    .iter()
                    .map(|e| ExtensionView {
                        oid: e.oid.clone(),
                        critical: e.critical,
                        disabled: e.disabled,
                        origin: e.origin.as_str().to_string(),
                        value: hex::encode(&e.value),
                    })
                    .collect()
            }),
            history: details.map(|d| d.history.iter().map(AuditView::from).collect()),
        }
    }
}

/// Times on the wire: RFC 3339 out; `YYYY-MM-DD`, RFC 3339 UTC or unix seconds in.
pub use signet_x509::time::{parse_time, rfc3339};
