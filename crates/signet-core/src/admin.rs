//! Administration (seed step 6; AD CS `ICertAdmin` and `ICertView`): approve (= resubmit to
//! the policy), deny, officer edits of attributes and extensions, revoke and release a hold,
//! import, the database view, API tokens and the audit log.
//!
//! Every operation takes the caller's [`Identity`] and checks its role here, in the engine,
//! so no intermediary can forget to. Every change commits with its exit events and audit
//! records in one transaction, naming the request version it read: of two concurrent changes
//! to one request, one wins and the other gets `Conflict`.
//!
//! Approval, step by step:
//! 1. The caller must be a certificate manager of the CA and not the request's requester.
//! 2. The request must be `pending` or `denied`; each manager approves at most once.
//! 3. Fewer approvals than the profile's `approvals` (M of N): the approval is recorded and
//!    the request stays pending.
//! 4. Otherwise the request is resubmitted: the policy runs again on the worker pool, told it
//!    is not a new request and who approved; the officer's extension edits are applied; on
//!    `Issue` the certificate is built and signed, then committed with its `Issued` event.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::audit_details;
use crate::auth::{
    Identity, Role, check_identity_name, check_new_identity_name, require, same_identity,
};
use crate::authority::{
    Authority, Prepared, check_attributes, decide, internal, response_from_record, whole_seconds,
};
use crate::draft::ExtensionOrigin;
use crate::edit::check_officer_edit;
use crate::enroll::{EnrollError, SubmitResponse};
use crate::event::Event;
use crate::ids::{CaName, RequestId, SerialNumber};
use crate::model::{
    Approval, RequestRecord, RequestStatus, Revocation, RevocationReason, StoredExtension,
};
use crate::policy::RequestProps;
use crate::store::{
    AuditCheck, AuditRecord, AuditTarget, NewAudit, NewCertificate, NewRequest, NewToken,
    RequestUpdate, RevocationChange, StoreError, TokenRecord, ViewQuery,
};

// Layout: this file holds the shared types, ICertView and the helpers; `queue` the pending
// queue and officer edits, `revoke` revocation and import, `tokens` API tokens and the audit
// log. Their audit details are the typed records of [`crate::audit_details`].
mod queue;
mod revoke;
mod tokens;

/// The longest reason or message an officer may write.
pub const MAX_REASON_LEN: usize = 1024;

pub use signet_api::admin::{ExtensionEdit, MAX_PAGE, RequestDetails, TokenSpec};

impl Authority {
    /// Whether role separation is on.
    pub fn role_separation(&self) -> bool {
        self.separation
    }

    /// Maps an API token to its identity. Unknown, expired and revoked tokens are refused
    /// with the same message, so a caller learns nothing about which it was.
    pub fn authenticate_token(&self, secret: &str) -> Result<Identity, EnrollError> {
        let refused = || {
            EnrollError::Unauthenticated(
                "the API token is not valid (unknown, expired or revoked)".into(),
            )
        };
        let hash = signet_x509::sha256(secret.trim().as_bytes());
        let tokens = self.tokens.read().map_err(|_| refused())?;
        let token = tokens.get(&hash).ok_or_else(refused)?;
        self.token_identity(token).ok_or_else(refused)
    }

    /// The identity and secret of the live shared-secret token named `name` (compared
    /// without regard to case), for a front end that must compute a MAC with it (CMP).
    /// Unknown, expired, revoked and ordinary tokens are refused alike.
    pub fn shared_secret(&self, name: &str) -> Result<(Identity, String), EnrollError> {
        let refused = || {
            EnrollError::Unauthenticated(format!(
                "no live shared-secret token is named {:?}",
                name.chars().take(64).collect::<String>()
            ))
        };
        let key = self.token_secret_key.as_ref().ok_or_else(refused)?;
        let tokens = self.tokens.read().map_err(|_| refused())?;
        tokens
            .values()
            .filter(|t| signet_api::auth::same_identity(&t.name, name))
            .find_map(|t| {
                let seed = t.secret_seed.as_ref()?;
                Some((self.token_identity(t)?, key.secret(seed)))
            })
            .ok_or_else(refused)
    }

    /// The identity a stored token stands for, if it is neither revoked nor expired.
    pub(crate) fn token_identity(&self, token: &TokenRecord) -> Option<Identity> {
        let now = self.clock.now();
        if token.revoked_at.is_some() || token.expires_at.is_some_and(|t| t <= now) {
            return None;
        }
        Some(Identity {
            name: token.name.clone(),
            roles: token.roles,
            cas: token.cas.clone(),
            groups: token.groups.clone(),
            via: format!("token:{}", token.id),
        })
    }

    // ---- ICertView --------------------------------------------------------------------

    /// Lists requests (ICertView). Managers, administrators and auditors may look.
    pub async fn view(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        mut query: ViewQuery,
    ) -> Result<Vec<RequestRecord>, EnrollError> {
        let name = self.resolve(ca)?.runtime.info.name.clone();
        self.authorize_reader(caller, &name)?;
        query.limit = query.limit.clamp(1, MAX_PAGE);
        self.store
            .view_requests(&name, query)
            .await
            .map_err(|e| internal("store", &e))
    }

    /// One request with its audit history and approval progress.
    pub async fn request_details(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        id: RequestId,
    ) -> Result<RequestDetails, EnrollError> {
        let state = Arc::clone(self.resolve(ca)?);
        let name = state.runtime.info.name.clone();
        self.authorize_reader(caller, &name)?;
        let record = self.load(&name, id).await?;
        self.details_of(&state.runtime, record).await
    }

    /// The request holding a certificate, by serial.
    pub async fn certificate_details(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        serial: SerialNumber,
    ) -> Result<RequestDetails, EnrollError> {
        let state = Arc::clone(self.resolve(ca)?);
        let name = state.runtime.info.name.clone();
        self.authorize_reader(caller, &name)?;
        let record = self.load_by_serial(&name, serial).await?;
        self.details_of(&state.runtime, record).await
    }

    async fn details_of(
        &self,
        rt: &crate::authority::CaRuntime,
        record: RequestRecord,
    ) -> Result<RequestDetails, EnrollError> {
        let mut history = self
            .store
            .audit_for(&request_target(&record.ca, record.id))
            .await
            .map_err(|e| internal("store", &e))?;
        if let Some(cert) = &record.certificate {
            history.extend(
                self.store
                    .audit_for(&certificate_target(&record.ca, &cert.serial))
                    .await
                    .map_err(|e| internal("store", &e))?,
            );
            history.sort_by_key(|r| r.seq);
        }
        let approvals_required = record
            .profile
            .as_ref()
            .map_or(1, |p| rt.policy.access(p).approvals.max(1));
        Ok(RequestDetails {
            record,
            history,
            approvals_required,
        })
    }

    // ---- helpers ------------------------------------------------------------------------

    /// The CA's name and the caller, who must be a certificate manager of it.
    fn as_manager<'c>(
        &self,
        caller: Option<&'c Identity>,
        ca: &str,
    ) -> Result<(CaName, &'c Identity), EnrollError> {
        let name = self.resolve(ca)?.runtime.info.name.clone();
        let who = require(caller)?;
        who.authorize(Role::Manager, Some(&name), self.separation)?;
        Ok((name, who))
    }

    pub(crate) fn authorize_reader(
        &self,
        caller: Option<&Identity>,
        ca: &CaName,
    ) -> Result<(), EnrollError> {
        let who = require(caller)?;
        // Role separation is decided on the roles themselves, before any role is tried: an
        // identity holding both admin and manager may read nothing, and is told why.
        if self.separation && who.roles.violates_separation() {
            return who.authorize(Role::Manager, Some(ca), self.separation);
        }
        for role in [Role::Manager, Role::Admin, Role::Auditor] {
            if who.has(role, Some(ca)) {
                return Ok(());
            }
        }
        Err(EnrollError::Forbidden(format!(
            "{} needs the manager, admin or auditor role on CA {ca} to view requests",
            who.name
        )))
    }

    async fn load(&self, ca: &CaName, id: RequestId) -> Result<RequestRecord, EnrollError> {
        self.store
            .get_request(ca, id)
            .await
            .map_err(|e| internal("store", &e))?
            .ok_or_else(|| EnrollError::NotFound(format!("{id} on CA {ca}")))
    }

    async fn load_by_serial(
        &self,
        ca: &CaName,
        serial: SerialNumber,
    ) -> Result<RequestRecord, EnrollError> {
        self.store
            .request_by_serial(ca, serial)
            .await
            .map_err(|e| internal("store", &e))?
            .ok_or_else(|| EnrollError::NotFound(format!("certificate {serial} on CA {ca}")))
    }

    /// Step 2 of an officer edit (see [`crate::edit`]): the policy module checks the edit
    /// against the rules it applies to this request and its profile.
    fn check_edit_with_policy(
        &self,
        ca: &CaName,
        record: &RequestRecord,
        edit: &ExtensionEdit,
    ) -> Result<(), EnrollError> {
        let state = self.resolve(ca.as_str())?;
        let profile = record.profile.clone().ok_or_else(|| {
            EnrollError::Conflict(format!(
                "request {} names no profile, so no edit can be checked against one",
                record.id
            ))
        })?;
        let csr = signet_x509::parse_request(&record.raw)
            .map_err(|e| internal("re-reading a stored request", &e))?;
        let props = RequestProps {
            id: Some(record.id),
            ca: ca.clone(),
            profile,
            requester: record.requester.clone(),
            attributes: record.attributes.clone(),
            csr,
            submitted_at: record.submitted_at,
            history: None,
        };
        state
            .runtime
            .policy
            .check_edit(&props, edit)
            .map_err(|refused| EnrollError::BadRequest(refused.to_string()))
    }

    async fn load_editable(
        &self,
        ca: &CaName,
        id: RequestId,
    ) -> Result<RequestRecord, EnrollError> {
        let record = self.load(ca, id).await?;
        if !matches!(
            record.status,
            RequestStatus::Pending | RequestStatus::Denied
        ) {
            return Err(EnrollError::Conflict(format!(
                "request {id} is {}: only pending or denied requests can be edited",
                record.status
            )));
        }
        Ok(record)
    }

    async fn respond(&self, ca: &CaName, id: RequestId) -> Result<SubmitResponse, EnrollError> {
        let chain = self.chain(ca.as_str())?;
        let record = self.load(ca, id).await?;
        Ok(response_from_record(record, chain))
    }

    fn audit(
        &self,
        who: &Identity,
        action: &str,
        ca: &CaName,
        target: AuditTarget,
        details: impl serde::Serialize,
    ) -> NewAudit {
        NewAudit {
            at: whole_seconds(self.clock.now()),
            actor: who.name.clone(),
            action: action.into(),
            ca: Some(ca.clone()),
            target,
            details: audit_details::to_json(&audit_details::Via {
                via: &who.via,
                details,
            }),
        }
    }

    /// Commits `updated` over `before` (which names the version read) and refreshes the
    /// recent-request cache, then wakes exit delivery.
    #[allow(clippy::too_many_arguments)]
    async fn commit_update(
        &self,
        before: &RequestRecord,
        mut updated: RequestRecord,
        certificate: Option<NewCertificate>,
        add_approval: Option<Approval>,
        clear_approvals: bool,
        events: Vec<(Event, String)>,
        audit: Vec<NewAudit>,
    ) -> Result<RequestRecord, EnrollError> {
        let raised = crate::authority::raised(&events);
        let update = RequestUpdate {
            ca: before.ca.clone(),
            id: before.id,
            expect_version: before.version,
            status: updated.status,
            message: updated.message.clone(),
            resolved_at: updated.resolved_at,
            attributes: (updated.attributes != before.attributes)
                .then(|| updated.attributes.clone()),
            extensions: (updated.extensions != before.extensions)
                .then(|| updated.extensions.clone()),
            certificate: certificate.clone(),
            add_approval,
            clear_approvals,
            events,
            audit,
        };
        self.store
            .update_request(update)
            .await
            .map_err(store_error)?;
        updated.version = before.version + 1;
        if let Some(c) = certificate {
            updated.certificate = Some(c.into_record());
        }
        self.recent.insert(updated.id, updated.clone(), raised);
        self.wake();
        Ok(updated)
    }
}

/// The audit target of a request: `CA/request/ID`.
pub fn request_target(ca: &CaName, id: RequestId) -> String {
    format!("{ca}/request/{id}")
}

/// The audit target of a certificate: `CA/certificate/SERIAL`.
pub fn certificate_target(ca: &CaName, serial: &SerialNumber) -> String {
    format!("{ca}/certificate/{}", serial.to_hex())
}

fn store_error(e: StoreError) -> EnrollError {
    match e {
        StoreError::StateChanged(d) => EnrollError::Conflict(format!(
            "the record changed while this was being done ({d}); reload and retry"
        )),
        StoreError::Conflict(d) => EnrollError::Conflict(d),
        other => internal("store", &other),
    }
}

fn check_reason(reason: &str) -> Result<String, EnrollError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(EnrollError::BadRequest("a reason is required".into()));
    }
    if reason.len() > MAX_REASON_LEN || reason.chars().any(char::is_control) {
        return Err(EnrollError::BadRequest(format!(
            "the reason must be at most {MAX_REASON_LEN} bytes of text without control characters"
        )));
    }
    Ok(reason.to_string())
}

pub(crate) use signet_x509::time::unix_seconds as unix;
