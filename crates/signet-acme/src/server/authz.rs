//! Authorizations and challenges (RFC 8555 §7.5): the authorization resource (read,
//! deactivate), and the challenge resource, whose POST starts validation off the request
//! path. The validator (`Validate`) bounds its own concurrency and time; the outcome is
//! written with a compare-and-swap, so of two validations of one authorization one decides.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use signet_api::acme::{
    AcmeAuthz, AcmeChallenge, AcmeMutation, AuthzStatus, AuthzUpdate, ChallengeStatus,
    ChallengeType, IdentifierType,
};
use signet_x509::time::rfc3339;

use super::Acme;
use super::identifiers::identifier_json;
use super::order::{POLL_AFTER, not_found};
use super::request::{AcmeFailure, KeyMode, Posted, RawBody, Reply, Spend, respond};
use crate::problem::{Problem, ProblemType};

#[derive(Deserialize)]
struct Deactivate {
    #[serde(default)]
    status: Option<String>,
}

fn challenge_json(acme: &Acme, authz: &AcmeAuthz, challenge: &AcmeChallenge) -> serde_json::Value {
    let mut value = json!({
        "type": challenge.kind.as_str(),
        "url": acme.challenge_url(&authz.ca, &authz.id, challenge.kind),
        "token": challenge.token,
        "status": shown_challenge_status(challenge).as_str(),
    });
    if let Some(at) = challenge.validated {
        value["validated"] = json!(rfc3339(at));
    }
    if let Some(error) = challenge
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
    {
        value["error"] = error;
    }
    value
}

/// The status a client sees of a challenge: one whose validation was lost (`stale`) is
/// `pending` again, to be answered anew.
fn shown_challenge_status(challenge: &AcmeChallenge) -> ChallengeStatus {
    if challenge.stale(SystemTime::now()) {
        ChallengeStatus::Pending
    } else {
        challenge.status
    }
}

/// The status a client sees: a pending or valid authorization past its expiry is `expired`.
fn shown_status(authz: &AcmeAuthz) -> AuthzStatus {
    match authz.status {
        AuthzStatus::Pending | AuthzStatus::Valid if authz.expires <= SystemTime::now() => {
            AuthzStatus::Expired
        }
        other => other,
    }
}

fn authz_json(acme: &Acme, authz: &AcmeAuthz) -> serde_json::Value {
    let status = shown_status(authz);
    // A valid authorization lists only the challenge that validated it (RFC 8555 §7.1.4).
    let challenges: Vec<serde_json::Value> = authz
        .challenges
        .iter()
        .filter(|c| status != AuthzStatus::Valid || c.status == ChallengeStatus::Valid)
        .map(|c| challenge_json(acme, authz, c))
        .collect();
    let mut value = json!({
        "identifier": identifier_json(&authz.identifier),
        "status": status.as_str(),
        "expires": rfc3339(authz.expires),
        "challenges": challenges,
    });
    if authz.wildcard {
        value["wildcard"] = json!(true);
    }
    value
}

/// The authorization `id` of the requesting account.
async fn owned_authz(acme: &Acme, posted: &Posted, id: &str) -> Result<AcmeAuthz, AcmeFailure> {
    let found = acme
        .store
        .authz(&posted.ca, id)
        .await
        .map_err(AcmeFailure::store)?;
    posted.owned(found, |a| a.account.as_str(), "authorization")
}

fn authz_reply(acme: &Acme, authz: &AcmeAuthz) -> Reply {
    let reply = Reply::json(StatusCode::OK, &authz_json(acme, authz))
        .at(acme.authz_url(&authz.ca, &authz.id));
    let now = SystemTime::now();
    let validating = authz
        .challenges
        .iter()
        .any(|c| c.status == ChallengeStatus::Processing && !c.stale(now));
    if authz.status == AuthzStatus::Pending && validating {
        reply.retry(POLL_AFTER)
    } else {
        reply
    }
}

/// `POST /acme/{ca}/authz/{id}`: read (POST-as-GET) or deactivate.
pub(super) async fn authz(
    State(acme): State<Arc<Acme>>,
    Path((ca, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = async {
        let posted = acme
            .accept(&ca, &format!("authz/{id}"), &headers, &body, KeyMode::Kid)
            .await?;
        let authz = owned_authz(&acme, &posted, &id).await?;
        if posted.req.is_post_as_get() {
            return Ok(authz_reply(&acme, &authz));
        }
        let change: Deactivate = posted.req.json().map_err(|e| AcmeFailure::from_error(&e))?;
        if change.status.as_deref() != Some("deactivated") {
            return Err(AcmeFailure::new(
                ProblemType::Malformed,
                "an authorization can only be deactivated ({\"status\":\"deactivated\"})",
            ));
        }
        if !matches!(authz.status, AuthzStatus::Pending | AuthzStatus::Valid) {
            return Err(AcmeFailure::new(
                ProblemType::Malformed,
                format!("the authorization is {}", authz.status),
            ));
        }
        let update = AuthzUpdate {
            ca: authz.ca.clone(),
            id: authz.id.clone(),
            expect: authz.status,
            status: AuthzStatus::Deactivated,
            expires: authz.expires,
            challenges: authz.challenges.clone(),
        };
        if !acme
            .store
            .update_authz(update)
            .await
            .map_err(AcmeFailure::store)?
        {
            return Err(AcmeFailure::new(
                ProblemType::Malformed,
                "the authorization changed meanwhile; read it again",
            ));
        }
        let mut authz = authz;
        authz.status = AuthzStatus::Deactivated;
        Ok(authz_reply(&acme, &authz))
    }
    .await;
    respond(&acme, &ca, result)
}

/// `POST /acme/{ca}/chall/{authz}/{type}`: `{}` starts validation; POST-as-GET reads.
pub(super) async fn challenge(
    State(acme): State<Arc<Acme>>,
    Path((ca, id, kind)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = async {
        let posted = acme
            .accept_spending(
                &ca,
                &format!("chall/{id}/{kind}"),
                &headers,
                &body,
                KeyMode::Kid,
                Spend::WithWrite,
            )
            .await?;
        let result = challenge_inner(&acme, &posted, &id, &kind).await;
        acme.finish(&posted, result).await
    }
    .await;
    respond(&acme, &ca, result)
}

/// A challenge after `accept`: reads, then the claim that spends the nonce and starts the
/// validation.
async fn challenge_inner(
    acme: &Arc<Acme>,
    posted: &Posted,
    id: &str,
    kind: &str,
) -> Result<Reply, AcmeFailure> {
    let kind: ChallengeType = kind.parse().map_err(|_| not_found("challenge"))?;
    let mut authz = owned_authz(acme, posted, id).await?;
    let index = authz
        .challenges
        .iter()
        .position(|c| c.kind == kind)
        .ok_or_else(|| not_found("challenge"))?;
    let up = |authz: &AcmeAuthz| {
        let c = &authz.challenges[index];
        Reply::json(StatusCode::OK, &challenge_json(acme, authz, c))
            .at(acme.challenge_url(&authz.ca, &authz.id, c.kind))
            .with_link(format!(
                "<{}>;rel=\"up\"",
                acme.authz_url(&authz.ca, &authz.id)
            ))
    };
    // POST-as-GET reads; `{}` (any JSON object) asks for validation (RFC 8555 §7.5.1).
    if posted.req.is_post_as_get() {
        return Ok(up(&authz));
    }
    let _: serde_json::Map<String, serde_json::Value> =
        posted.req.json().map_err(|e| AcmeFailure::from_error(&e))?;
    let now = SystemTime::now();
    let answerable = authz.challenges[index].status == ChallengeStatus::Pending
        || authz.challenges[index].stale(now);
    if authz.status != AuthzStatus::Pending || authz.expires <= now || !answerable {
        // Already answered (or being validated): report the state as it is.
        return Ok(up(&authz));
    }
    let account = posted.account()?;
    let slot = acme.validation_slot(&account.id).ok_or_else(|| {
        AcmeFailure::rate_limited(
            format!(
                "the account has {} validations running or waiting; answer this challenge when one ends",
                super::VALIDATIONS_QUEUED_PER_ACCOUNT
            ),
            std::time::Duration::from_secs(5),
        )
    })?;
    authz.challenges[index].status = ChallengeStatus::Processing;
    authz.challenges[index].since = Some(now);
    let claim = AuthzUpdate {
        ca: authz.ca.clone(),
        id: authz.id.clone(),
        expect: AuthzStatus::Pending,
        status: AuthzStatus::Pending,
        expires: authz.expires,
        challenges: authz.challenges.clone(),
    };
    if !acme
        .write_spending(posted, AcmeMutation::UpdateAuthz(claim))
        .await
        .map_err(AcmeFailure::store)?
    {
        let now = acme
            .store
            .authz(&authz.ca, &authz.id)
            .await
            .map_err(AcmeFailure::store)?
            .ok_or_else(|| not_found("authorization"))?;
        return Ok(up(&now));
    }
    let key_authorization = format!("{}.{}", authz.challenges[index].token, account.thumbprint);
    let worker = Arc::clone(acme);
    let job = authz.clone();
    tokio::spawn(async move {
        // The challenge reads `processing` meanwhile; the account's turn may take a while.
        let turn = slot.turn().await;
        validate(&worker, job, index, key_authorization).await;
        drop(turn);
        drop(slot);
    });
    Ok(up(&authz))
}

/// Runs one validation and records its outcome.
async fn validate(acme: &Acme, mut authz: AcmeAuthz, index: usize, key_authorization: String) {
    let Ok(settings) = acme.ca_settings(authz.ca.as_str()) else {
        return;
    };
    let validator = Arc::clone(&settings.validator);
    let reuse = settings.authz_reuse;
    let kind = authz.challenges[index].kind;
    let token = authz.challenges[index].token.clone();
    let mut outcome = validator
        .validate(kind, &authz.identifier, &token, &key_authorization)
        .await;
    if outcome.is_ok() && authz.identifier.kind == IdentifierType::Dns {
        outcome = validator.check_caa(&authz.identifier, authz.wildcard).await;
    }
    let now = SystemTime::now();
    let challenge = &mut authz.challenges[index];
    let status = match &outcome {
        Ok(()) => {
            challenge.status = ChallengeStatus::Valid;
            challenge.validated = Some(now);
            challenge.error = None;
            AuthzStatus::Valid
        }
        Err(problem) => {
            challenge.status = ChallengeStatus::Invalid;
            let mut problem: Problem = problem.clone();
            problem.status = None;
            challenge.error = serde_json::to_string(&problem).ok();
            AuthzStatus::Invalid
        }
    };
    let expires = if status == AuthzStatus::Valid {
        now + reuse
    } else {
        authz.expires
    };
    let update = AuthzUpdate {
        ca: authz.ca.clone(),
        id: authz.id.clone(),
        expect: AuthzStatus::Pending,
        status,
        expires,
        challenges: authz.challenges.clone(),
    };
    match acme.store.update_authz(update).await {
        Ok(true) => tracing::info!(
            ca = %authz.ca,
            authz = %authz.id,
            identifier = %authz.identifier.value,
            challenge = kind.as_str(),
            outcome = status.as_str(),
            error = outcome.as_ref().err().and_then(|p| p.detail.as_deref()).unwrap_or(""),
            "ACME validation"
        ),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, authz = %authz.id, "recording an ACME validation failed")
        }
    }
}
