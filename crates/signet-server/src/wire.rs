//! The JSON bodies of the REST API, shared by the server (which writes them) and
//! `RemoteEnroll` (which reads them), so the contract has one definition.

use serde::{Deserialize, Serialize};
use signet_core::{CaSummary, RequestId, RequestStatus, SubmitResponse};
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
            serial: r.serial,
            certificate,
            chain,
        }
    }

    /// Back to the `Enroll` form; an error names what the server sent wrong.
    pub fn into_response(self) -> Result<SubmitResponse, String> {
        let certificate = match self.certificate {
            Some(p) => Some(pem::decode(p.as_bytes()).map_err(|e| e.to_string())?.1),
            None => None,
        };
        let chain = self
            .chain
            .unwrap_or_default()
            .iter()
            .map(|p| pem::decode(p.as_bytes()).map(|(_, d)| d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(SubmitResponse {
            id: RequestId::new(self.id).map_err(|e| e.to_string())?,
            status: self.status.parse::<RequestStatus>()?,
            message: self.message,
            serial: self.serial,
            certificate,
            chain,
        })
    }
}
