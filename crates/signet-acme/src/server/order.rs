//! Orders (RFC 8555 §7.4): `newOrder` (identifiers, profile, `replaces`), the order resource,
//! `finalize` through `Enroll::submit`, the certificate, and an account's order list.
//!
//! An order's state follows its authorizations (`pending` → `ready` once all are valid) and
//! then the CA's decision: `finalize` moves it to `processing` and submits the CSR under the
//! order's profile as the account's identity; `Issued` makes it `valid`, `Denied` `invalid`
//! with the policy's message, and `Pending` (a profile with manual approval) leaves it
//! `processing` until a manager decides — each read of a processing order asks the CA.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use signet_api::acme::{
    ABANDONED_ORDER, AcmeAccount, AcmeAuthz, AcmeChallenge, AcmeIdentifier, AcmeMutation,
    AcmeOrder, AuthzStatus, ChallengeStatus, ChallengeType, IdentifierType, OrderStatus,
    OrderUpdate,
};
use signet_api::{RequestStatus, SubmitRequest};
use signet_x509::time::rfc3339;

use super::account::identity_of;
use super::identifiers::{
    RawIdentifier, csr_identifiers, identifier_json, parse_identifier, registered_domain,
};
use super::request::{AcmeFailure, KeyMode, Posted, RawBody, Reply, Spend, respond};
use super::{Acme, ORDER_LIFETIME, random_id, renewal};
use crate::problem::{Problem, ProblemType};

/// Most identifiers in one order.
const MAX_IDENTIFIERS: usize = 100;
/// Orders per page of an account's order list.
const ORDERS_PER_PAGE: u32 = 100;
/// What a client is told to wait before polling a processing order or pending authorization.
pub(super) const POLL_AFTER: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrder {
    identifiers: Vec<RawIdentifier>,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    replaces: Option<String>,
}

#[derive(Deserialize)]
struct Finalize {
    csr: String,
}

pub(super) fn not_found(what: &str) -> AcmeFailure {
    let mut failure = AcmeFailure::new(ProblemType::Malformed, format!("no such {what}"));
    failure.problem.status = Some(404);
    failure
}

fn order_json(acme: &Acme, order: &AcmeOrder) -> serde_json::Value {
    let url = acme.order_url(&order.ca, &order.id);
    let mut value = json!({
        "status": order.status.as_str(),
        "expires": rfc3339(order.expires),
        "identifiers": order.identifiers.iter().map(identifier_json).collect::<Vec<_>>(),
        "authorizations": order
            .authorizations
            .iter()
            .map(|a| acme.authz_url(&order.ca, a))
            .collect::<Vec<_>>(),
        "finalize": format!("{url}/finalize"),
        "profile": order.profile,
    });
    if order.status == OrderStatus::Valid {
        value["certificate"] = json!(format!("{}/cert/{}", acme.base(&order.ca), order.id));
    }
    if let Some(error) = order
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
    {
        value["error"] = error;
    }
    value
}

fn order_reply(acme: &Acme, order: &AcmeOrder, status: StatusCode) -> Reply {
    let reply =
        Reply::json(status, &order_json(acme, order)).at(acme.order_url(&order.ca, &order.id));
    if order.status == OrderStatus::Processing {
        reply.retry(processing_poll_after(order, SystemTime::now()))
    } else {
        reply
    }
}

/// How long a client should wait before polling a processing order again: [`POLL_AFTER`]
/// while the CA normally answers (the first minute after the claim), then 30 s, and 5 minutes
/// once it has waited 10 minutes — an order held for a manager's approval can wait hours, and
/// a client polling every 3 s would send over a thousand requests an hour.
fn processing_poll_after(order: &AcmeOrder, now: SystemTime) -> Duration {
    let since = order.claimed_at.unwrap_or(order.created_at);
    match now.duration_since(since).unwrap_or_default().as_secs() {
        0..60 => POLL_AFTER,
        60..600 => Duration::from_secs(30),
        _ => Duration::from_secs(300),
    }
}

fn problem_text(problem: &Problem) -> String {
    serde_json::to_string(problem).unwrap_or_default()
}

/// The challenges a new authorization offers.
fn challenges_for(
    identifier: &AcmeIdentifier,
    wildcard: bool,
) -> Result<Vec<AcmeChallenge>, AcmeFailure> {
    let kinds: &[ChallengeType] = match (identifier.kind, wildcard) {
        (IdentifierType::Dns, true) => &[ChallengeType::Dns01],
        (IdentifierType::Dns, false) => &[
            ChallengeType::Http01,
            ChallengeType::Dns01,
            ChallengeType::TlsAlpn01,
        ],
        (IdentifierType::Ip, _) => &[ChallengeType::Http01, ChallengeType::TlsAlpn01],
    };
    kinds
        .iter()
        .map(|&kind| {
            Ok(AcmeChallenge {
                kind,
                token: random_id()? + &random_id()?,
                status: ChallengeStatus::Pending,
                validated: None,
                error: None,
                since: None,
            })
        })
        .collect()
}

/// `POST /acme/{ca}/new-order`.
pub(super) async fn new_order(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = async {
        let posted = acme
            .accept_spending(
                &ca,
                "new-order",
                &headers,
                &body,
                KeyMode::Kid,
                Spend::WithWrite,
            )
            .await?;
        let result = new_order_inner(&acme, &posted).await;
        acme.finish(&posted, result).await
    }
    .await;
    respond(&acme, &ca, result)
}

/// newOrder after `accept`: reads, then one write that creates the order and spends the
/// nonce.
async fn new_order_inner(acme: &Acme, posted: &Posted) -> Result<Reply, AcmeFailure> {
    let account = posted.account()?.clone();
    let settings = acme.ca_settings(posted.ca.as_str())?;
    let payload: NewOrder = posted.req.json().map_err(|e| AcmeFailure::from_error(&e))?;
    if payload.not_before.is_some() || payload.not_after.is_some() {
        return Err(AcmeFailure::new(
            ProblemType::Malformed,
            "notBefore and notAfter are not supported: the profile sets the validity",
        ));
    }
    if payload.identifiers.is_empty() || payload.identifiers.len() > MAX_IDENTIFIERS {
        return Err(AcmeFailure::new(
            ProblemType::Malformed,
            format!("an order names 1 to {MAX_IDENTIFIERS} identifiers"),
        ));
    }
    let mut identifiers: Vec<(AcmeIdentifier, bool)> = Vec::new();
    for raw in &payload.identifiers {
        let parsed = parse_identifier(raw)?;
        if !identifiers.iter().any(|(i, _)| i == &parsed.0) {
            identifiers.push(parsed);
        }
    }
    let profile = match payload.profile {
        None => settings.default_profile.clone(),
        Some(p) if settings.profiles.iter().any(|o| o.name == p) => p,
        Some(p) => {
            return Err(AcmeFailure::new(
                ProblemType::InvalidProfile,
                format!(
                    "profile {:?} is not offered; the directory's meta.profiles lists those that are",
                    p.chars().take(64).collect::<String>()
                ),
            ));
        }
    };
    let now = SystemTime::now();
    let replaces = match payload.replaces {
        Some(certid) => {
            Some(renewal::check_replaces(acme, &posted.ca, &account, &certid, &identifiers).await?)
        }
        None => None,
    };
    // Limits: orders per account per hour, pending authorizations, orders per domain.
    let limits = settings.limits;
    if limits.orders_per_account_per_hour > 0 {
        let recent = acme
            .store
            .count_orders(&posted.ca, &account.id, now - Duration::from_secs(3600))
            .await
            .map_err(AcmeFailure::store)?;
        if recent >= u64::from(limits.orders_per_account_per_hour) {
            return Err(AcmeFailure::rate_limited(
                format!(
                    "at most {} new orders per account per hour",
                    limits.orders_per_account_per_hour
                ),
                Duration::from_secs(3600 / u64::from(limits.orders_per_account_per_hour).max(1)),
            ));
        }
    }
    if limits.pending_authzs_per_account > 0 {
        let pending = acme
            .store
            .count_pending_authzs(&posted.ca, &account.id, now)
            .await
            .map_err(AcmeFailure::store)?;
        if pending + identifiers.len() as u64 > u64::from(limits.pending_authzs_per_account) {
            return Err(AcmeFailure::rate_limited(
                format!(
                    "the account holds {pending} pending authorizations (at most {}); complete or deactivate some",
                    limits.pending_authzs_per_account
                ),
                Duration::from_secs(60),
            ));
        }
    }
    let mut domains: Vec<String> = identifiers
        .iter()
        .map(|(i, _)| registered_domain(i))
        .collect();
    domains.sort();
    domains.dedup();
    acme.take_domain_orders(limits.orders_per_domain_per_hour, &domains)
        .map_err(|wait| {
            AcmeFailure::rate_limited(
                format!(
                    "at most {} new orders per registered domain per hour",
                    limits.orders_per_domain_per_hour
                ),
                wait,
            )
        })?;

    let expires = now + ORDER_LIFETIME;
    let mut authorizations = Vec::new();
    let mut new_authzs = Vec::new();
    let mut all_valid = true;
    for (identifier, wildcard) in &identifiers {
        let authz_identifier = AcmeIdentifier {
            kind: identifier.kind,
            value: identifier.value.trim_start_matches("*.").to_owned(),
        };
        // Reuse a valid authorization that stays valid long enough to finalize: a quarter
        // of the reuse window, at most a day.
        let margin = (settings.authz_reuse / 4).min(Duration::from_secs(24 * 3600));
        if let Some(reused) = acme
            .store
            .reusable_authz(
                &posted.ca,
                &account.id,
                &authz_identifier,
                *wildcard,
                now + margin,
            )
            .await
            .map_err(AcmeFailure::store)?
        {
            authorizations.push(reused.id);
            continue;
        }
        all_valid = false;
        let authz = AcmeAuthz {
            id: random_id()?,
            ca: posted.ca.clone(),
            account: account.id.clone(),
            identifier: authz_identifier.clone(),
            wildcard: *wildcard,
            status: AuthzStatus::Pending,
            expires,
            challenges: challenges_for(&authz_identifier, *wildcard)?,
        };
        authorizations.push(authz.id.clone());
        new_authzs.push(authz);
    }
    let order = AcmeOrder {
        id: random_id()?,
        ca: posted.ca.clone(),
        account: account.id.clone(),
        status: if all_valid {
            OrderStatus::Ready
        } else {
            OrderStatus::Pending
        },
        identifiers: identifiers.into_iter().map(|(i, _)| i).collect(),
        authorizations,
        profile,
        not_before: None,
        not_after: None,
        expires,
        error: None,
        request: None,
        serial: None,
        replaces,
        created_at: now,
        claimed_at: None,
    };
    acme.write_spending(
        posted,
        AcmeMutation::CreateOrder(Box::new(order.clone()), new_authzs),
    )
    .await
    .map_err(|e| {
        acme.give_back_domain_orders(limits.orders_per_domain_per_hour, &domains);
        match e {
            signet_api::acme::AcmeStoreError::Conflict(detail) => {
                AcmeFailure::new(ProblemType::AlreadyReplaced, detail)
            }
            other => AcmeFailure::store(other),
        }
    })?;
    Ok(order_reply(acme, &order, StatusCode::CREATED))
}

/// The order `id` of the requesting account.
async fn owned_order(acme: &Acme, posted: &Posted, id: &str) -> Result<AcmeOrder, AcmeFailure> {
    let found = acme
        .store
        .order(&posted.ca, id)
        .await
        .map_err(AcmeFailure::store)?;
    posted.owned(found, |o| o.account.as_str(), "order")
}

/// Brings an order's status up to date: from its authorizations while pending, from the
/// CA's answer while processing, and `invalid` once expired before finalization.
pub(super) async fn refresh(
    acme: &Acme,
    account: &AcmeAccount,
    order: AcmeOrder,
) -> Result<AcmeOrder, AcmeFailure> {
    refresh_as(acme, account, order, true).await
}

/// [`refresh`]; with `store_ready` false, an order whose authorizations are all valid is
/// answered `ready` without writing that (finalize, which writes `processing` next).
async fn refresh_as(
    acme: &Acme,
    account: &AcmeAccount,
    mut order: AcmeOrder,
    store_ready: bool,
) -> Result<AcmeOrder, AcmeFailure> {
    let now = SystemTime::now();
    let update = |order: &AcmeOrder, status, error: Option<String>| OrderUpdate {
        ca: order.ca.clone(),
        id: order.id.clone(),
        expect: order.status,
        status,
        error,
        request: None,
        serial: None,
    };
    match order.status {
        OrderStatus::Pending | OrderStatus::Ready if order.expires <= now => {
            let problem = Problem::new(ProblemType::Malformed, "the order expired");
            let change = update(&order, OrderStatus::Invalid, Some(problem_text(&problem)));
            apply(acme, &mut order, change).await?;
        }
        // A ready order is checked again too: an authorization may have expired or been
        // deactivated since, and finalize must not issue on it.
        OrderStatus::Pending | OrderStatus::Ready => {
            let mut all_valid = true;
            // The problem document of the first authorization that no longer holds.
            let mut failed: Option<String> = None;
            for id in &order.authorizations {
                let authz = acme
                    .store
                    .authz(&order.ca, id)
                    .await
                    .map_err(AcmeFailure::store)?;
                match authz {
                    Some(a) if a.status == AuthzStatus::Valid && a.expires > now => {}
                    Some(a) if a.status == AuthzStatus::Pending && a.expires > now => {
                        all_valid = false;
                    }
                    Some(a) => {
                        failed = Some(withdrawn(&a, now));
                        break;
                    }
                    None => {
                        failed = Some(problem_text(&Problem::new(
                            ProblemType::Unauthorized,
                            format!("the authorization {id} no longer exists"),
                        )));
                        break;
                    }
                }
            }
            if let Some(problem) = failed {
                let change = update(&order, OrderStatus::Invalid, Some(problem));
                apply(acme, &mut order, change).await?;
            } else if all_valid && order.status == OrderStatus::Pending {
                if store_ready {
                    let change = update(&order, OrderStatus::Ready, None);
                    apply(acme, &mut order, change).await?;
                } else {
                    order.status = OrderStatus::Ready;
                }
            }
        }
        // Claimed, and the claim's finalization never reached the CA's answer.
        OrderStatus::Processing if order.abandoned(now) => {
            let problem = Problem::new(ProblemType::ServerInternal, ABANDONED_ORDER);
            let change = update(&order, OrderStatus::Invalid, Some(problem_text(&problem)));
            apply(acme, &mut order, change).await?;
        }
        OrderStatus::Processing => {
            if let Some(request) = order.request {
                let identity = identity_of(account);
                let answer = acme
                    .enroll
                    .retrieve(order.ca.as_str(), request, Some(&identity))
                    .await
                    .map_err(AcmeFailure::enroll)?;
                settle(
                    acme,
                    &mut order,
                    answer.status,
                    answer.serial,
                    answer.message,
                )
                .await?;
            }
        }
        _ => {}
    }
    Ok(order)
}

/// Why an authorization no longer holds: its challenge's error, or its state.
fn withdrawn(authz: &AcmeAuthz, now: SystemTime) -> String {
    if let Some(error) = authz.challenges.iter().find_map(|c| c.error.clone()) {
        return error;
    }
    let status = if authz.expires <= now {
        AuthzStatus::Expired
    } else {
        authz.status
    };
    problem_text(&Problem::new(
        ProblemType::Unauthorized,
        format!(
            "the authorization for {} is {status}",
            authz.identifier.value
        ),
    ))
}

/// Applies a compare-and-swap update; on a lost race, reads the order as it is now.
async fn apply(acme: &Acme, order: &mut AcmeOrder, change: OrderUpdate) -> Result<(), AcmeFailure> {
    let won = acme
        .store
        .update_order(change.clone())
        .await
        .map_err(AcmeFailure::store)?;
    if won {
        order.status = change.status;
        if change.error.is_some() {
            order.error = change.error;
        }
        if change.request.is_some() {
            order.request = change.request;
        }
        if change.serial.is_some() {
            order.serial = change.serial;
        }
    } else if let Some(now) = acme
        .store
        .order(&order.ca, &order.id)
        .await
        .map_err(AcmeFailure::store)?
    {
        *order = now;
    }
    Ok(())
}

/// The order status a request's disposition gives, with the problem of a denial.
fn disposition(status: RequestStatus, message: Option<String>) -> (OrderStatus, Option<String>) {
    match status {
        RequestStatus::Pending => (OrderStatus::Processing, None),
        RequestStatus::Issued | RequestStatus::Revoked => (OrderStatus::Valid, None),
        RequestStatus::Denied | RequestStatus::Failed => {
            let detail = match message {
                Some(m) => format!("the CA's policy denied the request: {m}"),
                None => "the CA's policy denied the request".to_owned(),
            };
            (
                OrderStatus::Invalid,
                Some(problem_text(&Problem::new(
                    ProblemType::Unauthorized,
                    detail,
                ))),
            )
        }
    }
}

/// Moves a processing order by the CA's disposition of its request.
async fn settle(
    acme: &Acme,
    order: &mut AcmeOrder,
    status: RequestStatus,
    serial: Option<signet_api::SerialNumber>,
    message: Option<String>,
) -> Result<(), AcmeFailure> {
    if status == RequestStatus::Pending {
        return Ok(());
    }
    let (next, error) = disposition(status, message);
    let change = OrderUpdate {
        ca: order.ca.clone(),
        id: order.id.clone(),
        expect: OrderStatus::Processing,
        status: next,
        error,
        request: None,
        serial,
    };
    apply(acme, order, change).await
}

/// `POST /acme/{ca}/order/{id}` (POST-as-GET).
pub(super) async fn order(
    State(acme): State<Arc<Acme>>,
    Path((ca, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = async {
        let posted = acme
            .accept(&ca, &format!("order/{id}"), &headers, &body, KeyMode::Kid)
            .await?;
        let order = owned_order(&acme, &posted, &id).await?;
        let order = refresh(&acme, posted.account()?, order).await?;
        Ok(order_reply(&acme, &order, StatusCode::OK))
    }
    .await;
    respond(&acme, &ca, result)
}

/// `POST /acme/{ca}/order/{id}/finalize`.
pub(super) async fn finalize(
    State(acme): State<Arc<Acme>>,
    Path((ca, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = async {
        let posted = acme
            .accept_spending(
                &ca,
                &format!("order/{id}/finalize"),
                &headers,
                &body,
                KeyMode::Kid,
                Spend::WithWrite,
            )
            .await?;
        let result = finalize_inner(&acme, &posted, &id).await;
        acme.finish(&posted, result).await
    }
    .await;
    respond(&acme, &ca, result)
}

/// finalize after `accept`: reads, the claim (which spends the nonce), the CA's answer, and
/// the order's outcome.
async fn finalize_inner(acme: &Acme, posted: &Posted, id: &str) -> Result<Reply, AcmeFailure> {
    let account = posted.account()?.clone();
    let order = owned_order(acme, posted, id).await?;
    // As stored: `pending` with every authorization valid is claimed as `ready` would be.
    let stored = order.status;
    let mut order = refresh_as(acme, &account, order, false).await?;
    if order.status != OrderStatus::Ready {
        return Err(AcmeFailure::new(
            ProblemType::OrderNotReady,
            format!("the order is {}, not ready", order.status),
        ));
    }
    let payload: Finalize = posted.req.json().map_err(|e| AcmeFailure::from_error(&e))?;
    let der = crate::b64::decode(&payload.csr, crate::jws::MAX_PAYLOAD_CHARS).map_err(|e| {
        AcmeFailure::new(
            ProblemType::BadCsr,
            format!("the csr is not base64url: {e}"),
        )
    })?;
    let csr = signet_x509::parse_csr(&der)
        .map_err(|e| AcmeFailure::new(ProblemType::BadCsr, format!("the CSR is invalid: {e}")))?;
    let wanted: BTreeSet<(IdentifierType, String)> = order
        .identifiers
        .iter()
        .map(|i| (i.kind, i.value.clone()))
        .collect();
    // RFC 8555 §11.1: the certificate's key must not be the account key.
    if csr.spki_der == posted.req.key.spki_der() {
        return Err(AcmeFailure::new(
            ProblemType::BadCsr,
            "the CSR's key is the account key; use a key of its own",
        ));
    }
    let asked = csr_identifiers(&csr)?;
    if asked != wanted {
        let extra: Vec<String> = asked.difference(&wanted).map(|(_, v)| v.clone()).collect();
        let missing: Vec<String> = wanted.difference(&asked).map(|(_, v)| v.clone()).collect();
        return Err(AcmeFailure::new(
            ProblemType::BadCsr,
            format!(
                "the CSR's names are not the order's identifiers (not in the order: {extra:?}; missing from the CSR: {missing:?})"
            ),
        ));
    }
    // Ready → processing first: of two finalizations, one submits. The claim spends the
    // nonce, and the CA's durable request that follows carries it to disk.
    let claim = OrderUpdate {
        ca: order.ca.clone(),
        id: order.id.clone(),
        expect: if stored == OrderStatus::Pending {
            OrderStatus::Pending
        } else {
            OrderStatus::Ready
        },
        status: OrderStatus::Processing,
        error: None,
        request: None,
        serial: None,
    };
    if !acme
        .write_spending(posted, AcmeMutation::UpdateOrder(claim))
        .await
        .map_err(AcmeFailure::store)?
    {
        return Err(AcmeFailure::new(
            ProblemType::OrderNotReady,
            "the order is being finalized by another request",
        ));
    }
    order.status = OrderStatus::Processing;
    let submitted = acme
        .enroll
        .submit(SubmitRequest {
            ca: order.ca.as_str().to_owned(),
            csr: der,
            profile: Some(order.profile.clone()),
            attributes: vec![
                ("acme-account".to_owned(), account.id.clone()),
                ("acme-order".to_owned(), order.id.clone()),
            ],
            caller: Some(identity_of(&account)),
        })
        .await;
    let answer = match submitted {
        Ok(answer) => answer,
        Err(e) => {
            // Nothing was issued: the order is ready again for a corrected CSR.
            let back = OrderUpdate {
                ca: order.ca.clone(),
                id: order.id.clone(),
                expect: OrderStatus::Processing,
                status: OrderStatus::Ready,
                error: None,
                request: None,
                serial: None,
            };
            acme.store
                .update_order(back)
                .await
                .map_err(AcmeFailure::store)?;
            return Err(AcmeFailure::enroll(e));
        }
    };
    tracing::info!(ca = %order.ca, order = %order.id, request = %answer.id, status = answer.status.as_str(), "ACME order finalized");
    // One write: the request and, unless it waits for a manager, its outcome.
    let (status, error) = disposition(answer.status, answer.message);
    let record = OrderUpdate {
        ca: order.ca.clone(),
        id: order.id.clone(),
        expect: OrderStatus::Processing,
        status,
        error,
        request: Some(answer.id),
        serial: answer.serial,
    };
    apply(acme, &mut order, record).await?;
    Ok(order_reply(acme, &order, StatusCode::OK))
}

/// `POST /acme/{ca}/cert/{order}` (POST-as-GET): the PEM chain, leaf first.
pub(super) async fn certificate(
    State(acme): State<Arc<Acme>>,
    Path((ca, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = async {
        let posted = acme
            .accept(&ca, &format!("cert/{id}"), &headers, &body, KeyMode::Kid)
            .await?;
        let account = posted.account()?.clone();
        let order = owned_order(&acme, &posted, &id).await?;
        let order = refresh(&acme, &account, order).await?;
        let Some(request) = order.request.filter(|_| order.status == OrderStatus::Valid) else {
            return Err(not_found("certificate"));
        };
        let answer = acme
            .enroll
            .retrieve(order.ca.as_str(), request, Some(&identity_of(&account)))
            .await
            .map_err(AcmeFailure::enroll)?;
        let leaf = answer.certificate.ok_or_else(|| not_found("certificate"))?;
        let mut pem = signet_x509::pem::encode("CERTIFICATE", &leaf);
        for der in &answer.chain {
            pem.push_str(&signet_x509::pem::encode("CERTIFICATE", der));
        }
        Ok(Reply {
            status: StatusCode::OK,
            location: None,
            body: pem.into_bytes(),
            content_type: "application/pem-certificate-chain",
            retry_after: None,
            links: Vec::new(),
        })
    }
    .await;
    respond(&acme, &ca, result)
}

/// `POST /acme/{ca}/acct/{id}/orders` (POST-as-GET): the account's orders, newest first,
/// `ORDERS_PER_PAGE` a page, the next page as `Link: rel="next"`.
pub(super) async fn orders(
    State(acme): State<Arc<Acme>>,
    Path((ca, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = async {
        let before = query
            .as_deref()
            .and_then(|q| q.strip_prefix("before="))
            .map(str::to_owned);
        let path = match &query {
            Some(q) => format!("acct/{id}/orders?{q}"),
            None => format!("acct/{id}/orders"),
        };
        let posted = acme
            .accept(&ca, &path, &headers, &body, KeyMode::Kid)
            .await?;
        let account = posted.account()?;
        if account.id != id {
            return Err(AcmeFailure::new(
                ProblemType::Unauthorized,
                "the request is signed by another account",
            ));
        }
        let list = acme
            .store
            .orders(
                &posted.ca,
                Some(&account.id),
                before.as_deref(),
                ORDERS_PER_PAGE,
            )
            .await
            .map_err(AcmeFailure::store)?;
        let urls: Vec<String> = list
            .iter()
            .map(|o| acme.order_url(&posted.ca, &o.id))
            .collect();
        let mut reply = Reply::json(StatusCode::OK, &json!({ "orders": urls }));
        if list.len() == ORDERS_PER_PAGE as usize
            && let Some(last) = list.last()
        {
            reply.links.push(format!(
                "<{}/orders?before={}>;rel=\"next\"",
                acme.account_url(&posted.ca, &account.id),
                last.id
            ));
        }
        Ok(reply)
    }
    .await;
    respond(&acme, &ca, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_wait_is_polled_less_often() {
        let claimed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let order = AcmeOrder {
            id: "o".into(),
            ca: signet_api::CaName::new("demo").expect("name"),
            account: "a".into(),
            status: OrderStatus::Processing,
            identifiers: Vec::new(),
            authorizations: Vec::new(),
            profile: "server".into(),
            not_before: None,
            not_after: None,
            expires: claimed + Duration::from_secs(86_400),
            error: None,
            request: None,
            serial: None,
            replaces: None,
            created_at: claimed - Duration::from_secs(3_600),
            claimed_at: Some(claimed),
        };
        let after = |secs| processing_poll_after(&order, claimed + Duration::from_secs(secs));
        assert_eq!(after(0), POLL_AFTER);
        assert_eq!(after(59), POLL_AFTER);
        assert_eq!(after(60), Duration::from_secs(30));
        assert_eq!(after(599), Duration::from_secs(30));
        assert_eq!(after(600), Duration::from_secs(300));
        assert_eq!(after(86_000), Duration::from_secs(300));
        // A clock that went back counts as no wait yet.
        assert_eq!(
            processing_poll_after(&order, claimed - Duration::from_secs(10)),
            POLL_AFTER
        );
    }
}
