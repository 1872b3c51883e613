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

use crate::auth::{
    Identity, Role, Roles, check_identity_name, check_new_identity_name, require, same_identity,
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

/// The most rows one view or audit page returns.
pub const MAX_PAGE: u32 = 1000;
/// The longest reason or message an officer may write.
pub const MAX_REASON_LEN: usize = 1024;

pub use crate::edit::ExtensionEdit;

/// What `create_token` is asked for.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub name: Option<String>,
    pub roles: Roles,
    pub cas: Vec<String>,
    pub groups: Vec<String>,
    pub expires_days: Option<u32>,
}

/// A request with its history (the audit records about it), for the officer's view.
#[derive(Debug, Clone)]
pub struct RequestDetails {
    pub record: RequestRecord,
    pub history: Vec<AuditRecord>,
    /// Approvals the profile needs before resubmission.
    pub approvals_required: u32,
}

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

    // ---- ICertAdmin: the pending queue --------------------------------------------------

    /// Approves a pending or denied request; with enough approvals, resubmits it to the
    /// policy (see the module docs).
    pub async fn approve(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        id: RequestId,
    ) -> Result<SubmitResponse, EnrollError> {
        let state = Arc::clone(self.resolve(ca)?);
        let name = state.runtime.info.name.clone();
        let who = require(caller)?;
        who.authorize(Role::Manager, Some(&name), self.separation)?;
        let record = self.load(&name, id).await?;
        if record
            .requester
            .as_deref()
            .is_some_and(|r| same_identity(r, &who.name))
        {
            return Err(EnrollError::Forbidden(format!(
                "{} submitted request {id}: a requester can never approve their own request",
                who.name
            )));
        }
        if !matches!(
            record.status,
            RequestStatus::Pending | RequestStatus::Denied
        ) {
            return Err(EnrollError::Conflict(format!(
                "request {id} is {}: only pending or denied requests can be approved",
                record.status
            )));
        }
        if record
            .approvals
            .iter()
            .any(|a| same_identity(&a.approver, &who.name))
        {
            return Err(EnrollError::Conflict(format!(
                "{} has already approved request {id}: approvals must come from distinct managers",
                who.name
            )));
        }
        let required = record
            .profile
            .as_ref()
            .map_or(1, |p| state.runtime.policy.access(p).approvals.max(1));
        let now = whole_seconds(self.clock.now());
        let approval = Approval {
            approver: who.name.clone(),
            at: now,
        };
        let have = record.approvals.len() as u32 + 1;
        let approve_audit = self.audit(
            who,
            "approve",
            &name,
            AuditTarget::Request(id),
            JsonObject::new()
                .num("approval", u64::from(have))
                .num("required", u64::from(required))
                .finish(),
        );

        if have < required {
            let message = format!(
                "approved by {have} of {required} certificate managers; waiting for {} more",
                required - have
            );
            let mut updated = record.clone();
            updated.approvals.push(approval.clone());
            updated.message = Some(message.clone());
            // A denied request that gets its first approval is back in the queue.
            updated.status = RequestStatus::Pending;
            updated.resolved_at = None;
            let events = if record.status == RequestStatus::Denied {
                vec![(Event::Pending, "{}".to_string())]
            } else {
                Vec::new()
            };
            self.commit_update(
                &record,
                updated,
                None,
                Some(approval),
                false,
                events,
                vec![approve_audit],
            )
            .await?;
            return self.respond(&name, id).await;
        }

        // Resubmission: the policy runs again, told who approved.
        let csr = signet_x509::parse_csr(&record.raw)
            .map_err(|e| internal("re-reading a stored request", &e))?;
        let profile = record
            .profile
            .clone()
            .ok_or_else(|| EnrollError::Conflict(format!("request {id} names no profile")))?;
        let mut serial = [0u8; 20];
        self.random
            .fill(&mut serial)
            .map_err(|e| internal("random", &e))?;
        let serial = SerialNumber::from_random(serial);
        // A key may have been certified for someone else since the request came in: the
        // history is read again for the resubmission.
        let needs = state.runtime.policy.issuance(&profile);
        let history = if needs.history() {
            Some(
                self.history(
                    &state,
                    &profile,
                    record.requester.as_deref(),
                    &csr,
                    needs,
                    now,
                )
                .await?,
            )
        } else {
            None
        };
        let props = RequestProps {
            id: Some(id),
            ca: name.clone(),
            profile,
            requester: record.requester.clone(),
            attributes: record.attributes.clone(),
            csr,
            submitted_at: record.submitted_at,
            history,
        };
        let edits: Vec<StoredExtension> = record
            .extensions
            .iter()
            .filter(|e| e.origin == ExtensionOrigin::Admin)
            .cloned()
            .collect();
        let job_ca = Arc::clone(&state);
        let approver = who.name.clone();
        let prepared: Prepared = self
            .run_on_pool(move || {
                decide(&job_ca, props, serial, now, false, Some(&approver), &edits)
            })
            .await?;
        let outcome = self.audit(
            who,
            match prepared.status {
                RequestStatus::Issued => "issue",
                RequestStatus::Denied => "deny",
                RequestStatus::Pending => "pend",
                _ => "fail",
            },
            &name,
            AuditTarget::Request(id),
            JsonObject::new()
                .str("status", prepared.status.as_str())
                .opt_str(
                    "serial",
                    prepared
                        .certificate
                        .as_ref()
                        .map(|c| c.serial.to_hex())
                        .as_deref(),
                )
                .str("resubmitted_by", &who.name)
                .finish(),
        );
        let mut updated = record.clone();
        updated.status = prepared.status;
        updated.message = prepared.message.clone();
        updated.resolved_at = (prepared.status != RequestStatus::Pending).then_some(now);
        updated.extensions = prepared.extensions.clone();
        updated.approvals.push(approval.clone());
        let events = prepared
            .event
            .map(|e| (e, prepared.details.clone()))
            .into_iter()
            .collect();
        self.commit_update(
            &record,
            updated,
            prepared.certificate,
            Some(approval),
            false,
            events,
            vec![approve_audit, outcome],
        )
        .await?;
        tracing::info!(ca = %name, request = id.get(), status = %prepared.status, approver = %who.name, "request resubmitted");
        self.respond(&name, id).await
    }

    /// Denies a pending request with a reason (emits `Denied`; forgets its approvals).
    pub async fn deny(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        id: RequestId,
        reason: &str,
    ) -> Result<SubmitResponse, EnrollError> {
        let (name, who) = self.as_manager(caller, ca)?;
        let reason = check_reason(reason)?;
        let record = self.load(&name, id).await?;
        if record.status != RequestStatus::Pending {
            return Err(EnrollError::Conflict(format!(
                "request {id} is {}: only pending requests can be denied",
                record.status
            )));
        }
        let now = whole_seconds(self.clock.now());
        let mut updated = record.clone();
        updated.status = RequestStatus::Denied;
        updated.message = Some(reason.clone());
        updated.resolved_at = Some(now);
        updated.approvals.clear();
        let audit = self.audit(
            who,
            "deny",
            &name,
            AuditTarget::Request(id),
            JsonObject::new().str("reason", &reason).finish(),
        );
        let event = JsonObject::new().str("reason", &reason).finish();
        self.commit_update(
            &record,
            updated,
            None,
            None,
            true,
            vec![(Event::Denied, event)],
            vec![audit],
        )
        .await?;
        self.respond(&name, id).await
    }

    /// Sets (`Some`) or removes (`None`) request attributes of a pending or denied request;
    /// the policy reads them when the request is resubmitted.
    pub async fn set_attributes(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        id: RequestId,
        changes: Vec<(String, Option<String>)>,
    ) -> Result<RequestRecord, EnrollError> {
        let (name, who) = self.as_manager(caller, ca)?;
        if changes.is_empty() {
            return Err(EnrollError::BadRequest("no attributes to change".into()));
        }
        let record = self.load_editable(&name, id).await?;
        let mut attributes = record.attributes.clone();
        let mut details = JsonObject::new();
        for (key, value) in &changes {
            // AD CS matches attribute names case-insensitively.
            let slot = attributes
                .iter()
                .position(|(k, _)| k.eq_ignore_ascii_case(key));
            match (value, slot) {
                (Some(v), Some(i)) => attributes[i] = (key.clone(), v.clone()),
                (Some(v), None) => attributes.push((key.clone(), v.clone())),
                (None, Some(i)) => {
                    attributes.remove(i);
                }
                (None, None) => {
                    return Err(EnrollError::BadRequest(format!(
                        "request {id} has no attribute {key:?} to remove"
                    )));
                }
            }
            details = match value {
                Some(v) => details.str(key, v),
                None => details.null(key),
            };
        }
        check_attributes(&attributes)?;
        let mut updated = record.clone();
        updated.attributes = attributes;
        let cleared = clear_approvals_on_edit(&mut updated, who);
        if cleared {
            details = details.bool("approvals_cleared", true);
        }
        let audit = self.audit(
            who,
            "set-attributes",
            &name,
            AuditTarget::Request(id),
            details.finish(),
        );
        self.commit_update(
            &record,
            updated,
            None,
            None,
            cleared,
            Vec::new(),
            vec![audit],
        )
        .await
    }

    /// Sets, replaces or disables one extension of a pending or denied request.
    pub async fn set_extension(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        id: RequestId,
        edit: ExtensionEdit,
    ) -> Result<RequestRecord, EnrollError> {
        let (name, who) = self.as_manager(caller, ca)?;
        check_officer_edit(&edit).map_err(|e| EnrollError::BadRequest(e.to_string()))?;
        let record = self.load_editable(&name, id).await?;
        self.check_edit_with_policy(&name, &record, &edit)?;
        let mut extensions = record.extensions.clone();
        let slot = extensions.iter().position(|e| e.oid == edit.oid);
        let stored = match (&edit.value, slot) {
            (Some(v), _) => StoredExtension {
                oid: edit.oid.clone(),
                critical: edit.critical,
                disabled: false,
                origin: ExtensionOrigin::Admin,
                value: v.clone(),
            },
            (None, Some(i)) => StoredExtension {
                origin: ExtensionOrigin::Admin,
                disabled: true,
                ..extensions[i].clone()
            },
            (None, None) => {
                return Err(EnrollError::BadRequest(format!(
                    "request {id} has no extension {} to disable",
                    edit.oid
                )));
            }
        };
        match slot {
            Some(i) => extensions[i] = stored,
            None => extensions.push(stored),
        }
        let mut updated = record.clone();
        updated.extensions = extensions;
        let cleared = clear_approvals_on_edit(&mut updated, who);
        let mut details = JsonObject::new()
            .str("oid", &edit.oid)
            .bool("critical", edit.critical)
            .opt_str("value", edit.value.as_deref().map(hex::encode).as_deref())
            .bool("disabled", edit.value.is_none());
        if cleared {
            details = details.bool("approvals_cleared", true);
        }
        let details = details.finish();
        let audit = self.audit(
            who,
            "set-extension",
            &name,
            AuditTarget::Request(id),
            details,
        );
        self.commit_update(
            &record,
            updated,
            None,
            None,
            cleared,
            Vec::new(),
            vec![audit],
        )
        .await
    }

    // ---- Revocation ---------------------------------------------------------------------

    /// Revokes an issued certificate (or moves one on hold to a final reason). Emits
    /// `Revoked`. `certificateHold` can later be released; every other reason is final.
    pub async fn revoke(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        serial: SerialNumber,
        reason: RevocationReason,
        invalidity_date: Option<SystemTime>,
    ) -> Result<RequestRecord, EnrollError> {
        let (name, who) = self.as_manager(caller, ca)?;
        let record = self.load_by_serial(&name, serial).await?;
        let now = whole_seconds(self.clock.now());
        if invalidity_date.is_some_and(|t| t > now) {
            return Err(EnrollError::BadRequest(
                "the invalidity date is in the future (RFC 5280 §5.3.2: when the key was or may have been compromised)".into(),
            ));
        }
        let current = record.certificate.as_ref().and_then(|c| c.revocation);
        match current {
            None if record.status == RequestStatus::Issued => {}
            None => {
                return Err(EnrollError::Conflict(format!(
                    "the request holding {serial} is {}",
                    record.status
                )));
            }
            Some(r) if r.reason == RevocationReason::CertificateHold => {
                if reason == RevocationReason::CertificateHold {
                    return Err(EnrollError::Conflict(format!(
                        "certificate {serial} is already on hold"
                    )));
                }
            }
            Some(r) => {
                return Err(EnrollError::Conflict(format!(
                    "certificate {serial} is already revoked ({}); only certificateHold can be changed",
                    r.reason.name()
                )));
            }
        }
        let new = Revocation {
            at: now,
            reason,
            invalidity_date: invalidity_date.map(whole_seconds),
        };
        let details = JsonObject::new()
            .str("serial", &serial.to_hex())
            .str("reason", reason.name())
            .opt_num(
                "invalidity_date",
                new.invalidity_date.map(crate::admin::unix),
            )
            .finish();
        let audit = self.audit(
            who,
            "revoke",
            &name,
            AuditTarget::Certificate(serial),
            details.clone(),
        );
        self.commit_revocation(
            record,
            serial,
            current,
            Some(new),
            RequestStatus::Revoked,
            details,
            audit,
        )
        .await
    }

    /// Releases a certificate from hold (`removeFromCRL`). Emits `Revoked` with
    /// `"released": true`, so exit modules that publish revocations can unpublish.
    pub async fn unrevoke(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        serial: SerialNumber,
    ) -> Result<RequestRecord, EnrollError> {
        let (name, who) = self.as_manager(caller, ca)?;
        let record = self.load_by_serial(&name, serial).await?;
        let current = record.certificate.as_ref().and_then(|c| c.revocation);
        match current {
            Some(r) if r.reason == RevocationReason::CertificateHold => {}
            Some(r) => {
                return Err(EnrollError::Conflict(format!(
                    "certificate {serial} is revoked with reason {}, which is final; only certificateHold can be released",
                    r.reason.name()
                )));
            }
            None => {
                return Err(EnrollError::Conflict(format!(
                    "certificate {serial} is not revoked"
                )));
            }
        }
        let details = JsonObject::new()
            .str("serial", &serial.to_hex())
            .str("reason", "removeFromCRL")
            .bool("released", true)
            .finish();
        let audit = self.audit(
            who,
            "unrevoke",
            &name,
            AuditTarget::Certificate(serial),
            details.clone(),
        );
        self.commit_revocation(
            record,
            serial,
            current,
            None,
            RequestStatus::Issued,
            details,
            audit,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit_revocation(
        &self,
        mut record: RequestRecord,
        serial: SerialNumber,
        expect: Option<Revocation>,
        new: Option<Revocation>,
        status: RequestStatus,
        event_details: String,
        audit: NewAudit,
    ) -> Result<RequestRecord, EnrollError> {
        self.store
            .change_revocation(RevocationChange {
                ca: record.ca.clone(),
                serial,
                request_id: record.id,
                expect,
                new,
                status,
                changed_at: whole_seconds(self.clock.now()),
                events: vec![(Event::Revoked, event_details)],
                audit: vec![audit],
            })
            .await
            .map_err(store_error)?;
        // OCSP answers from this moment on say what the store now says.
        if let Ok(state) = self.resolve(record.ca.as_str()) {
            state.ocsp_cache.invalidate(&serial);
        }
        record.status = status;
        record.version += 1;
        if let Some(c) = record.certificate.as_mut() {
            c.revocation = new;
        }
        self.recent.insert(record.id, record.clone());
        self.wake();
        tracing::info!(ca = %record.ca, %serial, status = %status, "revocation changed");
        Ok(record)
    }

    // ---- Import -------------------------------------------------------------------------

    /// Imports a certificate issued elsewhere with this CA's key (AD CS `ImportCertificate`).
    /// It must name this CA as issuer and verify with its key. Emits `Imported`.
    pub async fn import(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        certificate: &[u8],
    ) -> Result<SubmitResponse, EnrollError> {
        let state = Arc::clone(self.resolve(ca)?);
        let rt = &state.runtime;
        let name = rt.info.name.clone();
        let who = require(caller)?;
        who.authorize(Role::Admin, Some(&name), self.separation)?;
        let info = signet_x509::verify_issued_by(
            certificate,
            &rt.info.subject,
            rt.signer.public_key_der(),
        )
        .map_err(|e| EnrollError::BadRequest(format!("cannot import: {e}")))?;
        let der = match signet_x509::pem::looks_like_pem(certificate) {
            true => {
                signet_x509::pem::decode(certificate)
                    .map_err(|e| EnrollError::BadRequest(e.to_string()))?
                    .1
            }
            false => certificate.to_vec(),
        };
        let magnitude = hex::decode(&info.serial_hex)
            .map_err(|e| EnrollError::BadRequest(format!("serial number: {e}")))?;
        let serial = SerialNumber::from_magnitude(&magnitude)
            .map_err(|e| EnrollError::BadRequest(format!("cannot import: {e}")))?;
        let now = whole_seconds(self.clock.now());
        let subject = info.subject.to_string();
        let details = JsonObject::new().str("serial", &serial.to_hex()).finish();
        let record = NewRequest {
            ca: name.clone(),
            status: RequestStatus::Issued,
            profile: None,
            requester: None,
            format: "imported".into(),
            raw: der.clone(),
            subject: subject.clone(),
            submitted_at: now,
            resolved_at: Some(now),
            message: Some(format!("imported by {}", who.name)),
            attributes: Vec::new(),
            extensions: Vec::new(),
            certificate: Some(NewCertificate {
                serial,
                der,
                subject: subject.clone(),
                sans: info.sans.iter().map(ToString::to_string).collect(),
                not_before: info.not_before,
                not_after: info.not_after,
                // Imported certificates name no Signet partition: the CA's main CRL.
                shard: 0,
                spki_sha256: signet_x509::sha256(&info.spki_der),
                unique_key: false,
            }),
            events: vec![(Event::Imported, details.clone())],
            audit: vec![NewAudit {
                target: AuditTarget::ThisRequest,
                ..self.audit(
                    who,
                    "import",
                    &name,
                    AuditTarget::None,
                    JsonObject::new()
                        .str("serial", &serial.to_hex())
                        .str("subject", &subject)
                        .finish(),
                )
            }],
        };
        let id = self
            .store
            .create_request(record.clone())
            .await
            .map_err(store_error)?;
        self.recent.insert(id, record.into_record(id));
        self.wake();
        self.respond(&name, id).await
    }

    // ---- Tokens -------------------------------------------------------------------------

    /// Creates an API token (administrators with every-CA scope). Returns the record and
    /// the secret, which is shown once and stored only as its SHA-256.
    pub async fn create_token(
        &self,
        caller: Option<&Identity>,
        spec: TokenSpec,
    ) -> Result<(TokenRecord, String), EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Admin, None, self.separation)?;
        if spec.roles.is_empty() {
            return Err(EnrollError::BadRequest(
                "a token needs at least one role".into(),
            ));
        }
        if self.separation && spec.roles.violates_separation() {
            return Err(EnrollError::BadRequest(
                "role separation is on: one identity cannot be both admin and manager (set [security] role_separation = false to allow it)".into(),
            ));
        }
        let mut cas = Vec::new();
        for c in &spec.cas {
            cas.push(self.resolve(c)?.runtime.info.name.clone());
        }
        for g in &spec.groups {
            check_identity_name(g).map_err(EnrollError::BadRequest)?;
        }
        let mut secret = [0u8; 32];
        self.random
            .fill(&mut secret)
            .map_err(|e| internal("random", &e))?;
        let secret = format!("signet_{}", hex::encode(secret));
        let hash = signet_x509::sha256(secret.as_bytes());
        let name = match spec.name {
            Some(n) => n,
            None => format!("token-{}", &hex::encode(hash)[..8]),
        };
        check_new_identity_name(&name).map_err(|e| EnrollError::BadRequest(e.to_string()))?;
        let now = whole_seconds(self.clock.now());
        let expires_at = spec
            .expires_days
            .map(|d| now + Duration::from_secs(u64::from(d) * 86_400));
        let details = JsonObject::new()
            .str("name", &name)
            .str("roles", &spec.roles.to_string())
            .str(
                "cas",
                &cas.iter().map(CaName::as_str).collect::<Vec<_>>().join(","),
            )
            .opt_num("expires_at", expires_at.map(unix))
            .finish();
        let token = NewToken {
            name: name.clone(),
            hash,
            roles: spec.roles,
            cas: cas.clone(),
            groups: spec.groups.clone(),
            created_at: now,
            created_by: who.name.clone(),
            expires_at,
            audit: vec![NewAudit {
                at: now,
                actor: who.name.clone(),
                action: "token-create".into(),
                ca: None,
                target: AuditTarget::Other(format!("token/{name}")),
                details: with_via(&details, &who.via),
            }],
        };
        let id = self.store.create_token(token).await.map_err(store_error)?;
        let record = TokenRecord {
            id,
            name,
            hash,
            roles: spec.roles,
            cas,
            groups: spec.groups,
            created_at: now,
            created_by: who.name.clone(),
            expires_at,
            revoked_at: None,
        };
        if let Ok(mut tokens) = self.tokens.write() {
            tokens.insert(hash, record.clone());
        }
        tracing::info!(token = id, name = %record.name, roles = %record.roles, by = %who.name, "API token created");
        Ok((record, secret))
    }

    /// Every token (administrators).
    pub async fn list_tokens(
        &self,
        caller: Option<&Identity>,
    ) -> Result<Vec<TokenRecord>, EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Admin, None, self.separation)?;
        self.store
            .list_tokens()
            .await
            .map_err(|e| internal("store", &e))
    }

    /// Revokes a token by id (administrators). It stops working at once.
    pub async fn revoke_token(
        &self,
        caller: Option<&Identity>,
        id: u64,
    ) -> Result<(), EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Admin, None, self.separation)?;
        let now = whole_seconds(self.clock.now());
        let audit = NewAudit {
            at: now,
            actor: who.name.clone(),
            action: "token-revoke".into(),
            ca: None,
            target: AuditTarget::Other(format!("token/{id}")),
            details: with_via(&JsonObject::new().num("id", id).finish(), &who.via),
        };
        self.store
            .revoke_token(id, now, vec![audit])
            .await
            .map_err(|e| match e {
                StoreError::StateChanged(_) => {
                    EnrollError::NotFound(format!("token {id} (or it is already revoked)"))
                }
                other => store_error(other),
            })?;
        if let Ok(mut tokens) = self.tokens.write() {
            for t in tokens.values_mut().filter(|t| t.id == id) {
                t.revoked_at = Some(now);
            }
        }
        tracing::info!(token = id, by = %who.name, "API token revoked");
        Ok(())
    }

    // ---- Audit --------------------------------------------------------------------------

    /// Audit records after `after` (auditors with every-CA scope).
    pub async fn audit_log(
        &self,
        caller: Option<&Identity>,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Auditor, None, self.separation)?;
        self.store
            .audit_after(after, limit.clamp(1, MAX_PAGE))
            .await
            .map_err(|e| internal("store", &e))
    }

    /// Recomputes the audit chain (auditors).
    pub async fn verify_audit(&self, caller: Option<&Identity>) -> Result<AuditCheck, EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Auditor, None, self.separation)?;
        self.store
            .verify_audit()
            .await
            .map_err(|e| internal("store", &e))
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
        let mut last = None;
        for role in [Role::Manager, Role::Admin, Role::Auditor] {
            match who.authorize(role, Some(ca), self.separation) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(EnrollError::Forbidden(d)) if d.contains("separation") => {
                EnrollError::Forbidden(d)
            }
            _ => EnrollError::Forbidden(format!(
                "{} needs the manager, admin or auditor role on CA {ca} to view requests",
                who.name
            )),
        })
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
        let csr = signet_x509::parse_csr(&record.raw)
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
        details: String,
    ) -> NewAudit {
        NewAudit {
            at: whole_seconds(self.clock.now()),
            actor: who.name.clone(),
            action: action.into(),
            ca: Some(ca.clone()),
            target,
            details: with_via(&details, &who.via),
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
        self.recent.insert(updated.id, updated.clone());
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

/// An edit changes what earlier approvals approved: with M-of-N approval, one manager must
/// not be able to edit a request another has approved and complete the count with their own
/// approval. The approvals are cleared with the edit (in its transaction); returns whether
/// there were any.
fn clear_approvals_on_edit(updated: &mut RequestRecord, who: &Identity) -> bool {
    if updated.approvals.is_empty() {
        return false;
    }
    updated.approvals.clear();
    updated.message = Some(format!(
        "edited by {}: earlier approvals no longer count",
        who.name
    ));
    true
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

/// Audit details with the credential the actor used first (`"via":"token:12"` or
/// `"certificate"`), so two credentials of one identity can be told apart in the log.
pub(crate) fn with_via(details: &str, via: &str) -> String {
    let mut out = JsonObject::new().str("via", via).finish();
    let rest = details.trim().strip_prefix('{').unwrap_or("}").trim_start();
    if rest != "}" {
        out.pop();
        out.push(',');
        out.push_str(rest);
    }
    out
}

pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A small JSON object writer for event and audit details (the core has no serde).
#[derive(Debug, Default)]
pub struct JsonObject(String);

impl JsonObject {
    pub fn new() -> JsonObject {
        JsonObject(String::from("{"))
    }
    fn key(mut self, k: &str) -> JsonObject {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        push_json_string(&mut self.0, k);
        self.0.push(':');
        self
    }
    pub fn str(self, k: &str, v: &str) -> JsonObject {
        let mut o = self.key(k);
        push_json_string(&mut o.0, v);
        o
    }
    pub fn opt_str(self, k: &str, v: Option<&str>) -> JsonObject {
        match v {
            Some(v) => self.str(k, v),
            None => self,
        }
    }
    pub fn num(self, k: &str, v: u64) -> JsonObject {
        let mut o = self.key(k);
        o.0.push_str(&v.to_string());
        o
    }
    pub fn opt_num(self, k: &str, v: Option<u64>) -> JsonObject {
        match v {
            Some(v) => self.num(k, v),
            None => self,
        }
    }
    pub fn bool(self, k: &str, v: bool) -> JsonObject {
        let mut o = self.key(k);
        o.0.push_str(if v { "true" } else { "false" });
        o
    }
    pub fn null(self, k: &str) -> JsonObject {
        let mut o = self.key(k);
        o.0.push_str("null");
        o
    }
    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_object_escapes() {
        let j = JsonObject::new()
            .str("a\"b", "line\nbreak\u{1}")
            .num("n", 3)
            .bool("t", true)
            .null("z")
            .finish();
        assert_eq!(j, r#"{"a\"b":"line\nbreak\u0001","n":3,"t":true,"z":null}"#);
        assert_eq!(JsonObject::new().finish(), "{}");
    }
}
