//! `POST /api/v1/cas/{ca}/scep/challenges` (what `signet admin scep challenge` calls): a
//! certificate manager of the CA makes a one-time challenge password. Body (optional JSON):
//! `{"profile": NAME, "valid_seconds": N}`. The answer holds the challenge once; the store
//! keeps only its SHA-256, and the creation is audited in the same transaction.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use signet_api::acme::AcmeAudit;
use signet_api::scep::ScepChallenge;
use signet_api::{EnrollError, Role};

use crate::{CHALLENGE_VALIDITY, MAX_CHALLENGE_VALIDITY, Scep};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewChallenge {
    profile: Option<String>,
    valid_seconds: Option<u64>,
}

fn problem(status: StatusCode, slug: &str, detail: impl Into<String>) -> Response {
    let body = json!({
        "type": format!("urn:signet:problem:{slug}"),
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail.into(),
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn refused(e: EnrollError) -> Response {
    match e {
        EnrollError::Unauthenticated(d) => problem(StatusCode::UNAUTHORIZED, "unauthenticated", d),
        EnrollError::Forbidden(d) => problem(StatusCode::FORBIDDEN, "forbidden", d),
        other => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            other.to_string(),
        ),
    }
}

pub(crate) async fn create_challenge(
    State(scep): State<Arc<Scep>>,
    Path(ca): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(signet_api::auth::bearer_token);
    let Some(token) = token else {
        return refused(EnrollError::Unauthenticated(
            "use Authorization: Bearer TOKEN".into(),
        ));
    };
    let identity = match scep.authn.authenticate_token(token) {
        Ok(i) => i,
        Err(e) => return refused(e),
    };
    let Some(settings) = scep.settings(&ca) else {
        return problem(
            StatusCode::NOT_FOUND,
            "unknown-ca",
            format!(
                "no CA {:?} serves SCEP here",
                ca.chars().take(64).collect::<String>()
            ),
        );
    };
    if let Err(e) = identity.authorize(Role::Manager, Some(&settings.ca), scep.role_separation) {
        return refused(e);
    }
    let wanted: NewChallenge = if body.is_empty() {
        NewChallenge::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(w) => w,
            Err(e) => return problem(StatusCode::BAD_REQUEST, "malformed", e.to_string()),
        }
    };
    if let Some(p) = &wanted.profile
        && p != &settings.profile
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "unknown-profile",
            format!(
                "SCEP requests of this CA go to profile {:?}; challenges are for it",
                settings.profile
            ),
        );
    }
    let validity = wanted
        .valid_seconds
        .map_or(CHALLENGE_VALIDITY, Duration::from_secs);
    if validity.is_zero() || validity > MAX_CHALLENGE_VALIDITY {
        return problem(
            StatusCode::BAD_REQUEST,
            "malformed",
            "valid_seconds: between 1 and 30 days",
        );
    }
    let mut secret = [0u8; 20];
    let mut id = [0u8; 6];
    if aws_lc_rs::rand::fill(&mut secret).is_err() || aws_lc_rs::rand::fill(&mut id).is_err() {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "no randomness",
        );
    }
    let challenge = hex::encode(secret);
    let id = hex::encode(id);
    let now = SystemTime::now();
    let expires = now + validity;
    let record = ScepChallenge {
        id: id.clone(),
        ca: settings.ca.clone(),
        hash: crate::server::challenge_hash(&challenge),
        profile: Some(settings.profile.clone()),
        created_at: now,
        created_by: identity.name.clone(),
        expires,
    };
    let audit = AcmeAudit {
        at: now,
        actor: identity.name.clone(),
        action: "scep-challenge-create".into(),
        ca: Some(settings.ca.clone()),
        target: format!("scep-challenge/{id}"),
        details: json!({ "profile": settings.profile, "valid_seconds": validity.as_secs() })
            .to_string(),
    };
    if let Err(e) = scep.store.create_scep_challenge(record, audit).await {
        tracing::error!(error = %e, "SCEP: recording a challenge failed");
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the CA's database failed",
        );
    }
    let expires = signet_x509::time::rfc3339(expires);
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "id": id,
            "challenge": challenge,
            "profile": settings.profile,
            "expires": expires,
        })),
    )
        .into_response()
}
