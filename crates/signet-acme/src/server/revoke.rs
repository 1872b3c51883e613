//! `revokeCert` (RFC 8555 §7.6): by the account that ordered the certificate (`kid`), or
//! signed with the certificate's own key (`jwk`). The certificate must be one this CA
//! signed (its signature is checked, not only its serial), and the engine records the
//! holder and the proof in the audit log.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use signet_api::revocation::HolderRequest;
use signet_api::{EnrollError, RevocationReason, SerialNumber};

use super::Acme;
use super::request::{AcmeFailure, KeyMode, RawBody, Reply, respond};
use crate::problem::ProblemType;

#[derive(Deserialize)]
struct Revoke {
    certificate: String,
    #[serde(default)]
    reason: Option<u8>,
}

/// The reasons a holder may give (RFC 5280 codes; not caCompromise, certificateHold,
/// removeFromCRL or aACompromise).
fn holder_reason(code: Option<u8>) -> Result<RevocationReason, AcmeFailure> {
    let reason = match code.unwrap_or(0) {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        9 => RevocationReason::PrivilegeWithdrawn,
        other => {
            return Err(AcmeFailure::new(
                ProblemType::BadRevocationReason,
                format!("reason {other} is not allowed (0, 1, 3, 4, 5, 9)"),
            ));
        }
    };
    Ok(reason)
}

/// `POST /acme/{ca}/revoke-cert`.
pub(super) async fn revoke_cert(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = revoke_inner(&acme, &ca, &headers, &body).await;
    respond(&acme, &ca, result)
}

async fn revoke_inner(
    acme: &Acme,
    ca: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, AcmeFailure> {
    let posted = acme
        .accept(ca, "revoke-cert", headers, body, KeyMode::Either)
        .await?;
    let payload: Revoke = posted.req.json().map_err(|e| AcmeFailure::from_error(&e))?;
    let reason = holder_reason(payload.reason)?;
    let der = crate::b64::decode(&payload.certificate, crate::jws::MAX_PAYLOAD_CHARS)
        .map_err(|e| AcmeFailure::new(ProblemType::Malformed, format!("certificate: {e}")))?;
    let ca_der = acme
        .enroll
        .ca_certificate(posted.ca.as_str())
        .await
        .map_err(AcmeFailure::enroll)?;
    let issuer = signet_x509::parse_certificate(&ca_der)
        .map_err(|e| AcmeFailure::internal(&format!("the CA certificate does not parse: {e}")))?;
    let info =
        signet_x509::verify_issued_by(&der, &issuer.subject, &issuer.spki_der).map_err(|e| {
            AcmeFailure::new(
                ProblemType::Unauthorized,
                format!("the certificate was not issued by this CA: {e}"),
            )
        })?;
    let magnitude = hex::decode(&info.serial_hex)
        .map_err(|_| AcmeFailure::internal("a parsed serial is not hex"))?;
    let serial = SerialNumber::from_magnitude(&magnitude)
        .map_err(|e| AcmeFailure::new(ProblemType::Malformed, e.to_string()))?;
    let (holder, proof) = match &posted.account {
        Some(account) => {
            let order = acme
                .store
                .order_for_certificate(&posted.ca, &serial)
                .await
                .map_err(AcmeFailure::store)?;
            if order.is_none_or(|o| o.account != account.id) {
                return Err(AcmeFailure::new(
                    ProblemType::Unauthorized,
                    "this account did not order the certificate; sign with the certificate's key instead",
                ));
            }
            (
                account.requester.clone(),
                format!("acme:account/{}", account.id),
            )
        }
        None => {
            if posted.req.key.spki_der() != info.spki_der {
                return Err(AcmeFailure::new(
                    ProblemType::Unauthorized,
                    "the request is not signed with the certificate's key",
                ));
            }
            (
                format!("acme-key-{}", &posted.req.key.thumbprint()[..16]),
                "acme:certificate-key".to_owned(),
            )
        }
    };
    match acme
        .holder
        .revoke_as_holder(
            &posted.ca,
            HolderRequest {
                serial,
                reason,
                holder,
                proof,
            },
        )
        .await
    {
        Ok(_) => Ok(Reply::json(StatusCode::OK, &serde_json::json!({}))),
        Err(EnrollError::Conflict(detail)) => {
            Err(AcmeFailure::new(ProblemType::AlreadyRevoked, detail))
        }
        Err(e) => Err(AcmeFailure::enroll(e)),
    }
}
