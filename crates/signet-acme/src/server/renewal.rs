//! Renewal information (RFC 9773): the suggested renewal window of a certificate an ACME
//! order obtained, and the `replaces` check of `newOrder`.
//!
//! The window opens when `renew_share` of the certificate's lifetime is left and lasts half
//! of that; it lies in the past (renew now) for a revoked certificate and for one an
//! administrator marked (`signet admin acme renew-early`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use signet_api::acme::{AcmeAccount, AcmeIdentifier};
use signet_api::{CaName, SerialNumber};
use signet_x509::time::rfc3339;

use super::Acme;
use super::account::identity_of;
use super::order::not_found;
use super::request::{AcmeFailure, Reply, respond};
use crate::problem::ProblemType;

/// How often clients are asked to check again.
const RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);
/// The subjectKeyIdentifier extension.
const SKI: &str = "2.5.29.14";

/// Parses an RFC 9773 certificate identifier (`base64url(AKI keyIdentifier) "."
/// base64url(serial)`) and checks the key identifier is this CA's.
async fn parse_cert_id(
    acme: &Acme,
    ca: &CaName,
    certid: &str,
) -> Result<SerialNumber, AcmeFailure> {
    let bad = |why: &str| {
        AcmeFailure::new(
            ProblemType::Malformed,
            format!("not an RFC 9773 certificate identifier: {why}"),
        )
    };
    let (aki, serial) = certid.split_once('.').ok_or_else(|| bad("no '.'"))?;
    let aki = crate::b64::decode(aki, 128).map_err(|e| bad(&e.to_string()))?;
    let serial = crate::b64::decode(serial, 64).map_err(|e| bad(&e.to_string()))?;
    let ca_der = acme
        .enroll
        .ca_certificate(ca.as_str())
        .await
        .map_err(AcmeFailure::enroll)?;
    let ca_info = signet_x509::parse_certificate(&ca_der)
        .map_err(|e| AcmeFailure::internal(&format!("the CA certificate does not parse: {e}")))?;
    let ski = ca_info
        .extensions
        .iter()
        .find(|e| e.oid == SKI)
        .and_then(|e| e.value.get(2..))
        .unwrap_or_default();
    if ski != aki.as_slice() {
        return Err(not_found("certificate of this CA with that key identifier"));
    }
    let magnitude: &[u8] = match serial.as_slice() {
        [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => rest,
        other => other,
    };
    SerialNumber::from_magnitude(magnitude).map_err(|e| bad(&e.to_string()))
}

/// `GET /acme/{ca}/renewal-info/{certid}`.
pub(super) async fn renewal_info(
    State(acme): State<Arc<Acme>>,
    Path((ca, certid)): Path<(String, String)>,
) -> Response {
    let result = async {
        let settings = acme.ca_settings(&ca)?;
        let ca_name = settings.ca.clone();
        let share = settings.renew_share;
        let serial = parse_cert_id(&acme, &ca_name, &certid).await?;
        let order = acme
            .store
            .order_for_certificate(&ca_name, &serial)
            .await
            .map_err(AcmeFailure::store)?
            .ok_or_else(|| not_found("certificate obtained over ACME"))?;
        let account = acme
            .store
            .account(&ca_name, &order.account)
            .await
            .map_err(AcmeFailure::store)?
            .ok_or_else(|| not_found("account"))?;
        let request = order.request.ok_or_else(|| not_found("certificate"))?;
        let answer = acme
            .enroll
            .retrieve(ca_name.as_str(), request, Some(&identity_of(&account)))
            .await
            .map_err(AcmeFailure::enroll)?;
        let der = answer.certificate.ok_or_else(|| not_found("certificate"))?;
        let info = signet_x509::parse_certificate(&der).map_err(|e| {
            AcmeFailure::internal(&format!("a stored certificate does not parse: {e}"))
        })?;
        let revoked = answer.status == signet_api::RequestStatus::Revoked
            || acme
                .authn
                .is_revoked(&info.issuer, &serial)
                .await
                .map_err(AcmeFailure::enroll)?;
        let marked = acme
            .store
            .renew_early(&ca_name, &serial)
            .await
            .map_err(AcmeFailure::store)?
            .is_some();
        let now = SystemTime::now();
        let (start, end) = if revoked || marked {
            (
                now - Duration::from_secs(2 * 3600),
                now - Duration::from_secs(3600),
            )
        } else {
            window(info.not_before, info.not_after, share)
        };
        Ok(Reply::json(
            StatusCode::OK,
            &json!({ "suggestedWindow": { "start": rfc3339(start), "end": rfc3339(end) } }),
        )
        .retry(RETRY_AFTER))
    }
    .await;
    respond(&acme, &ca, result)
}

/// The renewal window of a certificate valid from `not_before` to `not_after`.
pub(super) fn window(
    not_before: SystemTime,
    not_after: SystemTime,
    share: f64,
) -> (SystemTime, SystemTime) {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    let left = lifetime.mul_f64(share.clamp(0.01, 1.0));
    let start = not_after - left;
    (start, start + left / 2)
}

/// Checks `replaces` of a new order: a certificate of this CA that `account` obtained, that
/// shares an identifier with the new order, and that no other live order replaces.
pub(super) async fn check_replaces(
    acme: &Acme,
    ca: &CaName,
    account: &AcmeAccount,
    certid: &str,
    identifiers: &[(AcmeIdentifier, bool)],
) -> Result<SerialNumber, AcmeFailure> {
    let serial = parse_cert_id(acme, ca, certid).await?;
    let old = acme
        .store
        .order_for_certificate(ca, &serial)
        .await
        .map_err(AcmeFailure::store)?
        .filter(|o| o.account == account.id)
        .ok_or_else(|| {
            AcmeFailure::new(
                ProblemType::Malformed,
                "replaces names a certificate this account did not obtain",
            )
        })?;
    if !old
        .identifiers
        .iter()
        .any(|i| identifiers.iter().any(|(n, _)| n == i))
    {
        return Err(AcmeFailure::new(
            ProblemType::Malformed,
            "the order shares no identifier with the certificate it replaces",
        ));
    }
    if let Some(other) = acme
        .store
        .order_replacing(ca, &serial)
        .await
        .map_err(AcmeFailure::store)?
    {
        // An abandoned replacement (expired before it was finalized) no longer counts: it
        // becomes invalid now, which frees the certificate for this order.
        let abandoned = other.expires <= SystemTime::now()
            && matches!(
                other.status,
                signet_api::acme::OrderStatus::Pending | signet_api::acme::OrderStatus::Ready
            );
        let freed = abandoned
            && acme
                .store
                .update_order(signet_api::acme::OrderUpdate {
                    ca: other.ca.clone(),
                    id: other.id.clone(),
                    expect: other.status,
                    status: signet_api::acme::OrderStatus::Invalid,
                    error: None,
                    request: None,
                    serial: None,
                })
                .await
                .map_err(AcmeFailure::store)?;
        if !freed {
            return Err(AcmeFailure::new(
                ProblemType::AlreadyReplaced,
                "another order already replaces this certificate",
            ));
        }
    }
    Ok(serial)
}
