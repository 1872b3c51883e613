//! The ACME administration API under `/api/v1/cas/{ca}/acme/` (what `signet admin acme ...`
//! calls), authenticated with API tokens like the rest of `/api/v1`:
//! - `POST eab` (admin): a new External Account Binding key, returned once;
//! - `GET eab` (admin, auditor): the keys, without their secrets;
//! - `DELETE eab/{kid}` (admin): revoke a key;
//! - `GET accounts`, `GET orders[?account=ID]` (admin, manager, auditor);
//! - `POST renew-early` `{"serial": HEX}` (manager): move a certificate's renewal window into
//!   the past (RFC 9773).
//!
//! Every change is audited in the same transaction as the change.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_api::acme::{AcmeAudit, EabKey};
use signet_api::{CaName, EnrollError, Identity, Role, SerialNumber};
use signet_x509::time::rfc3339;

use super::Acme;
use super::identifiers::identifier_json;

/// An administration answer: JSON, or an RFC 9457 problem like the REST API's.
type Answer = Result<(StatusCode, Value), (StatusCode, &'static str, String)>;

fn reply(answer: Answer) -> Response {
    match answer {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err((status, slug, detail)) => {
            let body = json!({
                "type": format!("urn:signet:problem:{slug}"),
                "title": status.canonical_reason().unwrap_or("error"),
                "status": status.as_u16(),
                "detail": detail,
            });
            (
                status,
                [(header::CONTENT_TYPE, "application/problem+json")],
                body.to_string(),
            )
                .into_response()
        }
    }
}

fn refuse(e: EnrollError) -> (StatusCode, &'static str, String) {
    match e {
        EnrollError::Unauthenticated(d) => (StatusCode::UNAUTHORIZED, "unauthenticated", d),
        EnrollError::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", d),
        EnrollError::UnknownCa(d) => (StatusCode::NOT_FOUND, "unknown-ca", d),
        other => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            other.to_string(),
        ),
    }
}

fn store_failure(e: signet_api::acme::AcmeStoreError) -> (StatusCode, &'static str, String) {
    match e {
        signet_api::acme::AcmeStoreError::Conflict(d) => (StatusCode::CONFLICT, "conflict", d),
        signet_api::acme::AcmeStoreError::NotFound(d) => (StatusCode::NOT_FOUND, "not-found", d),
        signet_api::acme::AcmeStoreError::NonceUsed => (
            StatusCode::CONFLICT,
            "conflict",
            "the nonce was already used".to_owned(),
        ),
        signet_api::acme::AcmeStoreError::Store(d) => {
            tracing::error!(error = %d, "ACME store failure (administration)");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the CA's database failed".to_owned(),
            )
        }
    }
}

/// The caller, authorized for one of `roles` on the CA.
fn caller(
    acme: &Acme,
    headers: &HeaderMap,
    ca: &str,
    roles: &[Role],
) -> Result<(Identity, CaName), (StatusCode, &'static str, String)> {
    let settings = acme.ca_settings(ca).map_err(|_| {
        (
            StatusCode::NOT_FOUND,
            "unknown-ca",
            format!(
                "no CA {:?} serves ACME here",
                ca.chars().take(64).collect::<String>()
            ),
        )
    })?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(signet_api::auth::bearer_token)
        .ok_or_else(|| {
            refuse(EnrollError::Unauthenticated(
                "use Authorization: Bearer TOKEN".into(),
            ))
        })?;
    let identity = acme.authn.authenticate_token(token).map_err(refuse)?;
    let mut last = None;
    for role in roles {
        match identity.authorize(*role, Some(&settings.ca), acme.role_separation) {
            Ok(()) => return Ok((identity, settings.ca.clone())),
            Err(e) => last = Some(e),
        }
    }
    Err(refuse(last.unwrap_or_else(|| {
        EnrollError::Forbidden("no role allows this".into())
    })))
}

fn audit(
    identity: &Identity,
    action: &str,
    ca: &CaName,
    target: String,
    details: Value,
) -> AcmeAudit {
    AcmeAudit {
        at: SystemTime::now(),
        actor: identity.name.clone(),
        action: action.to_owned(),
        ca: Some(ca.clone()),
        target,
        details: details.to_string(),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct NewEab {
    #[serde(default)]
    name: Option<String>,
    /// Bind accounts of any CA (default: this CA only).
    #[serde(default)]
    any_ca: bool,
}

fn eab_json(key: &EabKey) -> Value {
    json!({
        "kid": key.kid,
        "name": key.name,
        "ca": key.ca.as_ref().map(CaName::as_str),
        "created_at": rfc3339(key.created_at),
        "created_by": key.created_by,
        "revoked_at": key.revoked_at.map(rfc3339),
        "account": key.account,
    })
}

/// `POST /api/v1/cas/{ca}/acme/eab`.
pub(super) async fn create_eab(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    reply(
        async {
            let (identity, ca) = caller(&acme, &headers, &ca, &[Role::Admin])?;
            let request: NewEab = if body.is_empty() {
                NewEab::default()
            } else {
                serde_json::from_slice(&body).map_err(|e| {
                    (
                        StatusCode::BAD_REQUEST,
                        "bad-request",
                        format!("the body: {e}"),
                    )
                })?
            };
            let kid = super::random_id().map_err(|_| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "no random bytes".to_owned(),
                )
            })?;
            // A key for every CA is an administrator's of every CA, not of this one only.
            if request.any_ca {
                identity
                    .authorize(Role::Admin, None, acme.role_separation)
                    .map_err(refuse)?;
            }
            let name = request.name.unwrap_or_else(|| format!("eab-{}", &kid[..8]));
            signet_api::auth::check_identity_name(&name)
                .map_err(|e| (StatusCode::BAD_REQUEST, "bad-request", e.to_string()))?;
            let mut hmac = [0u8; 32];
            aws_lc_rs::rand::fill(&mut hmac).map_err(|_| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "no random bytes".to_owned(),
                )
            })?;
            // 255 bits: the printed key must not start with `-` (`lego --hmac HMAC`).
            let hmac = super::starts_with_letter(hmac).to_vec();
            let key = EabKey {
                kid: kid.clone(),
                ca: (!request.any_ca).then(|| ca.clone()),
                name: name.clone(),
                hmac: hmac.clone(),
                created_at: SystemTime::now(),
                created_by: identity.name.clone(),
                revoked_at: None,
                account: None,
            };
            let record = audit(
                &identity,
                "acme-eab-create",
                &ca,
                format!("acme-eab/{kid}"),
                json!({ "name": name, "any_ca": request.any_ca }),
            );
            acme.store
                .create_eab(key.clone(), record)
                .await
                .map_err(store_failure)?;
            let mut body = eab_json(&key);
            body["hmac"] = json!(crate::b64::encode(&hmac));
            Ok((StatusCode::CREATED, body))
        }
        .await,
    )
}

/// `GET /api/v1/cas/{ca}/acme/eab`.
pub(super) async fn list_eab(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
    headers: HeaderMap,
) -> Response {
    reply(
        async {
            let (_, ca) = caller(&acme, &headers, &ca, &[Role::Admin, Role::Auditor])?;
            let keys = acme
                .store
                .eab_keys(Some(&ca))
                .await
                .map_err(store_failure)?;
            Ok((
                StatusCode::OK,
                json!({ "keys": keys.iter().map(eab_json).collect::<Vec<_>>() }),
            ))
        }
        .await,
    )
}

/// `DELETE /api/v1/cas/{ca}/acme/eab/{kid}`.
pub(super) async fn revoke_eab(
    State(acme): State<Arc<Acme>>,
    Path((ca, kid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    reply(
        async {
            let (identity, ca) = caller(&acme, &headers, &ca, &[Role::Admin])?;
            let key = acme.store.eab(&kid).await.map_err(store_failure)?;
            let Some(key) = key.filter(|k| k.ca.as_ref().is_none_or(|c| c == &ca)) else {
                return Err((
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "no such EAB key for this CA".to_owned(),
                ));
            };
            // A key for every CA is revoked by an administrator of every CA.
            if key.ca.is_none() {
                identity
                    .authorize(Role::Admin, None, acme.role_separation)
                    .map_err(refuse)?;
            }
            let record = audit(
                &identity,
                "acme-eab-revoke",
                &ca,
                format!("acme-eab/{kid}"),
                json!({}),
            );
            let revoked = acme
                .store
                .revoke_eab(&kid, SystemTime::now(), record)
                .await
                .map_err(store_failure)?;
            if !revoked {
                return Err((
                    StatusCode::CONFLICT,
                    "conflict",
                    "the key is already revoked".to_owned(),
                ));
            }
            if let Some(account) = &key.account {
                acme.forget_account(&ca, account);
            }
            Ok((StatusCode::OK, json!({ "kid": kid, "revoked": true })))
        }
        .await,
    )
}

const READERS: &[Role] = &[Role::Admin, Role::Manager, Role::Auditor];

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/v1/cas/{ca}/acme/accounts`.
pub(super) async fn accounts(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    reply(
        async {
            let (_, ca) = caller(&acme, &headers, &ca, READERS)?;
            let list = acme
                .store
                .accounts(&ca, q.limit.unwrap_or(100).min(1000))
                .await
                .map_err(store_failure)?;
            let rows: Vec<Value> = list
                .iter()
                .map(|a| {
                    json!({
                        "id": a.id,
                        "status": a.status.as_str(),
                        "requester": a.requester,
                        "contact": a.contact,
                        "eab_kid": a.eab_kid,
                        "thumbprint": a.thumbprint,
                        "created_at": rfc3339(a.created_at),
                    })
                })
                .collect();
            Ok((StatusCode::OK, json!({ "accounts": rows })))
        }
        .await,
    )
}

/// `GET /api/v1/cas/{ca}/acme/orders`.
pub(super) async fn orders(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    reply(
        async {
            let (_, ca) = caller(&acme, &headers, &ca, READERS)?;
            let list = acme
                .store
                .orders(&ca, q.account.as_deref(), None, q.limit.unwrap_or(100).min(1000))
                .await
                .map_err(store_failure)?;
            let rows: Vec<Value> = list
                .iter()
                .map(|o| {
                    json!({
                        "id": o.id,
                        "account": o.account,
                        "status": o.status.as_str(),
                        "profile": o.profile,
                        "identifiers": o.identifiers.iter().map(identifier_json).collect::<Vec<_>>(),
                        "request": o.request.map(|r| r.to_string()),
                        "serial": o.serial.as_ref().map(ToString::to_string),
                        "replaces": o.replaces.as_ref().map(ToString::to_string),
                        "created_at": rfc3339(o.created_at),
                        "expires": rfc3339(o.expires),
                    })
                })
                .collect();
            Ok((StatusCode::OK, json!({ "orders": rows })))
        }
        .await,
    )
}

#[derive(Deserialize)]
pub(super) struct RenewEarly {
    serial: String,
}

/// `POST /api/v1/cas/{ca}/acme/renew-early`.
pub(super) async fn renew_early(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
    headers: HeaderMap,
    Json(body): Json<RenewEarly>,
) -> Response {
    reply(
        async {
            let (identity, ca) = caller(&acme, &headers, &ca, &[Role::Manager])?;
            let serial: SerialNumber =
                body.serial.parse().map_err(|e: signet_api::ids::IdError| {
                    (StatusCode::BAD_REQUEST, "bad-request", e.to_string())
                })?;
            if acme
                .store
                .order_for_certificate(&ca, &serial)
                .await
                .map_err(store_failure)?
                .is_none()
            {
                return Err((
                    StatusCode::NOT_FOUND,
                    "not-found",
                    format!("no certificate {serial} was obtained over ACME from this CA"),
                ));
            }
            let record = audit(
                &identity,
                "acme-renew-early",
                &ca,
                format!("certificate/{serial}"),
                json!({}),
            );
            acme.store
                .mark_renew_early(&ca, &serial, SystemTime::now(), record)
                .await
                .map_err(store_failure)?;
            Ok((
                StatusCode::OK,
                json!({ "serial": serial.to_string(), "renew_early": true }),
            ))
        }
        .await,
    )
}
