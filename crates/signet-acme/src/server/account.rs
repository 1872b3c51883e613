//! Accounts (RFC 8555 §7.3): `newAccount` with External Account Binding, the account
//! resource (read, contact update, deactivation) and `keyChange`.
//!
//! An account enrolls as an identity of its own: the EAB key's name when it was bound with
//! one (so profiles' `enroll` lists and the audit log name who asked), `acme-ID` otherwise.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use signet_api::acme::{AccountChange, AccountStatus, AcmeAccount, AcmeAudit, AcmeStoreError};
use signet_api::{CaName, Identity, Role, Roles};

use super::request::{AcmeFailure, KeyMode, RawBody, Reply, respond};
use super::{Acme, random_id};
use crate::eab::EabRequest;
use crate::jwk::Jwk;
use crate::jws::JwsRequest;
use crate::problem::ProblemType;

/// Most contact URLs an account may list, and the longest one.
const MAX_CONTACTS: usize = 8;
const MAX_CONTACT_CHARS: usize = 320;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewAccount {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    terms_of_service_agreed: Option<bool>,
    #[serde(default)]
    only_return_existing: bool,
    #[serde(default)]
    external_account_binding: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct AccountUpdate {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyChange {
    account: String,
    old_key: serde_json::Value,
}

/// The identity an account enrolls as: a requester on its CA only, in group `acme`.
pub(super) fn identity_of(account: &AcmeAccount) -> Identity {
    Identity {
        name: account.requester.clone(),
        roles: Roles::from_roles(&[Role::Requester]),
        cas: vec![account.ca.clone()],
        groups: vec!["acme".to_owned()],
        via: format!("acme:account/{}", account.id),
    }
}

fn check_contacts(contacts: &[String]) -> Result<(), AcmeFailure> {
    if contacts.len() > MAX_CONTACTS {
        return Err(AcmeFailure::new(
            ProblemType::InvalidContact,
            format!("at most {MAX_CONTACTS} contacts"),
        ));
    }
    for c in contacts {
        let Some(address) = c.strip_prefix("mailto:") else {
            return Err(AcmeFailure::new(
                ProblemType::UnsupportedContact,
                "only mailto: contacts are supported",
            ));
        };
        let valid = c.len() <= MAX_CONTACT_CHARS
            && !address.contains(['?', ',', ' ', '<', '>'])
            && address
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !valid {
            return Err(AcmeFailure::new(
                ProblemType::InvalidContact,
                format!(
                    "{:?} is not a mailto: URL with one address",
                    c.chars().take(80).collect::<String>()
                ),
            ));
        }
    }
    Ok(())
}

fn account_json(acme: &Acme, account: &AcmeAccount) -> serde_json::Value {
    let mut value = json!({
        "status": account.status.as_str(),
        "contact": account.contact,
        "orders": format!("{}/orders", acme.account_url(&account.ca, &account.id)),
    });
    if let Some(kid) = &account.eab_kid {
        value["externalAccountBinding"] = json!({ "kid": kid });
    }
    value
}

fn audit(account: &AcmeAccount, action: &str, details: serde_json::Value) -> AcmeAudit {
    AcmeAudit {
        at: SystemTime::now(),
        actor: account.requester.clone(),
        action: action.to_owned(),
        ca: Some(account.ca.clone()),
        target: format!("acme-account/{}", account.id),
        details: details.to_string(),
    }
}

/// `POST /acme/{ca}/new-account`.
pub(super) async fn new_account(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = new_account_inner(&acme, &ca, &headers, &body).await;
    respond(&acme, &ca, result)
}

async fn new_account_inner(
    acme: &Acme,
    ca: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, AcmeFailure> {
    let posted = acme
        .accept(ca, "new-account", headers, body, KeyMode::Jwk)
        .await?;
    let payload: NewAccount = posted.req.json().map_err(|e| AcmeFailure::from_error(&e))?;
    let key = posted.req.key.clone();
    let thumbprint = key.thumbprint();
    if let Some(existing) = acme
        .store
        .account_by_thumbprint(&posted.ca, &thumbprint)
        .await
        .map_err(AcmeFailure::store)?
    {
        if existing.status != AccountStatus::Valid {
            return Err(super::request::inactive_account(&existing));
        }
        return Ok(existing_account(acme, &existing));
    }
    if payload.only_return_existing {
        return Err(AcmeFailure::new(
            ProblemType::AccountDoesNotExist,
            "no account has this key",
        ));
    }
    let settings = acme.ca_settings(posted.ca.as_str())?;
    if settings.terms_of_service.is_some() && payload.terms_of_service_agreed != Some(true) {
        return Err(AcmeFailure::new(
            ProblemType::UserActionRequired,
            "agree to the terms of service (termsOfServiceAgreed: true)",
        ));
    }
    let contact = payload.contact.unwrap_or_default();
    check_contacts(&contact)?;
    let id = random_id()?;
    let new_account_url = format!("{}/new-account", acme.base(&posted.ca));
    let (eab_kid, requester) = match payload.external_account_binding {
        Some(binding) => {
            let (kid, name) =
                check_binding(acme, &posted.ca, &binding, &key, &new_account_url).await?;
            (Some(kid), name)
        }
        None if settings.eab_required => {
            return Err(AcmeFailure::new(
                ProblemType::ExternalAccountRequired,
                "this CA requires an external account binding (ask an administrator for a key: signet admin acme eab create)",
            ));
        }
        None => (None, format!("acme-{id}")),
    };
    let account = AcmeAccount {
        id,
        ca: posted.ca.clone(),
        jwk: key.canonical_json(),
        thumbprint,
        status: AccountStatus::Valid,
        contact,
        eab_kid,
        requester,
        created_at: SystemTime::now(),
    };
    let record = audit(
        &account,
        "acme-account-create",
        json!({
            "thumbprint": account.thumbprint,
            "key": key.key_type().to_string(),
            "eab_kid": account.eab_kid,
            "contacts": account.contact.len(),
        }),
    );
    match acme.store.create_account(account.clone(), record).await {
        Ok(()) => {}
        Err(AcmeStoreError::Conflict(detail)) => {
            // The same key raced us to it: answer with that account.
            if let Some(existing) = acme
                .store
                .account_by_thumbprint(&account.ca, &account.thumbprint)
                .await
                .map_err(AcmeFailure::store)?
            {
                return Ok(existing_account(acme, &existing));
            }
            return Err(AcmeFailure::new(ProblemType::Unauthorized, detail));
        }
        Err(e) => return Err(AcmeFailure::store(e)),
    }
    tracing::info!(ca = %account.ca, account = %account.id, requester = %account.requester, "ACME account created");
    Ok(
        Reply::json(StatusCode::CREATED, &account_json(acme, &account))
            .at(acme.account_url(&account.ca, &account.id)),
    )
}

fn existing_account(acme: &Acme, account: &AcmeAccount) -> Reply {
    Reply::json(StatusCode::OK, &account_json(acme, account))
        .at(acme.account_url(&account.ca, &account.id))
}

/// Checks an External Account Binding; returns its key id and the identity name it gives.
async fn check_binding(
    acme: &Acme,
    ca: &CaName,
    binding: &serde_json::Value,
    key: &Jwk,
    new_account_url: &str,
) -> Result<(String, String), AcmeFailure> {
    let request = EabRequest::parse(binding).map_err(|e| AcmeFailure::from_error(&e))?;
    // One answer for every refusal, and the MAC checked before the key's state is looked at,
    // so the endpoint does not tell which key ids exist, are bound or are revoked.
    let unusable = || {
        AcmeFailure::new(
            ProblemType::Unauthorized,
            "the external account binding cannot be used",
        )
    };
    let stored = acme
        .store
        .eab(request.key_id())
        .await
        .map_err(AcmeFailure::store)?
        .ok_or_else(unusable)?;
    let kid = request
        .verify(&stored.hmac, key, new_account_url)
        .map_err(|_| unusable())?;
    if stored.revoked_at.is_some()
        || stored.account.is_some()
        || stored.ca.as_ref().is_some_and(|c| c != ca)
    {
        return Err(unusable());
    }
    Ok((kid, stored.name))
}

/// `POST /acme/{ca}/acct/{id}`: read (POST-as-GET), update contacts, deactivate.
pub(super) async fn account(
    State(acme): State<Arc<Acme>>,
    Path((ca, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = account_inner(&acme, &ca, &id, &headers, &body).await;
    respond(&acme, &ca, result)
}

async fn account_inner(
    acme: &Acme,
    ca: &str,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, AcmeFailure> {
    let posted = acme
        .accept(ca, &format!("acct/{id}"), headers, body, KeyMode::Kid)
        .await?;
    let account = posted.account()?;
    if account.id != id {
        return Err(AcmeFailure::new(
            ProblemType::Unauthorized,
            "the request is signed by another account",
        ));
    }
    if posted.req.is_post_as_get() {
        return Ok(existing_account(acme, account));
    }
    let update: AccountUpdate = posted.req.json().map_err(|e| AcmeFailure::from_error(&e))?;
    let mut current = account.clone();
    if let Some(contact) = update.contact {
        check_contacts(&contact)?;
        let record = audit(
            &current,
            "acme-account-update",
            json!({ "contacts": contact.len() }),
        );
        current = acme
            .store
            .update_account(
                &current.ca,
                &current.id,
                AccountChange::Contact(contact),
                record,
            )
            .await
            .map_err(AcmeFailure::store)?;
    }
    match update.status.as_deref() {
        None => {}
        Some("deactivated") => {
            let record = audit(&current, "acme-account-deactivate", json!({}));
            current = acme
                .store
                .update_account(
                    &current.ca,
                    &current.id,
                    AccountChange::Status(AccountStatus::Deactivated),
                    record,
                )
                .await
                .map_err(AcmeFailure::store)?;
            tracing::info!(ca = %current.ca, account = %current.id, "ACME account deactivated");
        }
        Some(other) => {
            return Err(AcmeFailure::new(
                ProblemType::Malformed,
                format!(
                    "an account's status can only be set to \"deactivated\", not {:?}",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    acme.remember_account(&current);
    Ok(existing_account(acme, &current))
}

/// `POST /acme/{ca}/key-change` (RFC 8555 §7.3.5).
pub(super) async fn key_change(
    State(acme): State<Arc<Acme>>,
    Path(ca): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let result = key_change_inner(&acme, &ca, &headers, &body).await;
    respond(&acme, &ca, result)
}

async fn key_change_inner(
    acme: &Acme,
    ca: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, AcmeFailure> {
    let posted = acme
        .accept(ca, "key-change", headers, body, KeyMode::Kid)
        .await?;
    let account = posted.account()?.clone();
    let outer: serde_json::Value = posted.req.json().map_err(|e| AcmeFailure::from_error(&e))?;
    let inner =
        JwsRequest::verify_key_change_inner(&outer).map_err(|e| AcmeFailure::from_error(&e))?;
    if inner.header.url != posted.req.header.url {
        return Err(AcmeFailure::new(
            ProblemType::Malformed,
            "the inner JWS's url is not the outer JWS's",
        ));
    }
    let change: KeyChange = inner.json().map_err(|e| AcmeFailure::from_error(&e))?;
    if change.account != acme.account_url(&account.ca, &account.id) {
        return Err(AcmeFailure::new(
            ProblemType::Malformed,
            "the key change names another account",
        ));
    }
    let old = Jwk::from_value(&change.old_key).map_err(|e| AcmeFailure::from_error(&e))?;
    if !old.same_key(&posted.req.key) {
        return Err(AcmeFailure::new(
            ProblemType::Malformed,
            "oldKey is not the account's current key",
        ));
    }
    let new = inner.key;
    if new.same_key(&old) {
        return Err(AcmeFailure::new(
            ProblemType::Malformed,
            "the new key is the current key",
        ));
    }
    let thumbprint = new.thumbprint();
    let record = audit(
        &account,
        "acme-key-change",
        json!({ "old": old.thumbprint(), "new": thumbprint }),
    );
    let updated = match acme
        .store
        .update_account(
            &account.ca,
            &account.id,
            AccountChange::Key {
                jwk: new.canonical_json(),
                thumbprint: thumbprint.clone(),
                previous: account.thumbprint.clone(),
            },
            record,
        )
        .await
    {
        Ok(updated) => updated,
        Err(AcmeStoreError::Conflict(_)) => {
            let mut failure = AcmeFailure::new(
                ProblemType::Malformed,
                "the key change conflicts: the new key is another account's, or the account changed meanwhile (read it and try again)",
            );
            failure.problem.status = Some(409);
            return Err(failure);
        }
        Err(e) => return Err(AcmeFailure::store(e)),
    };
    acme.remember_account(&updated);
    tracing::info!(ca = %updated.ca, account = %updated.id, "ACME account key changed");
    Ok(existing_account(acme, &updated))
}
