//! The pending queue (ICertAdmin): approve (= resubmit to the policy), deny, and officer
//! edits of attributes and extensions.

use super::*;

impl Authority {
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
            audit_details::Approve {
                approval: u64::from(have),
                required: u64::from(required),
            },
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

        // Resubmission: the policy runs again, told who approved. Nothing is signed or
        // stored while the clock is behind the newest time on record (503; the approval is
        // not recorded either, so the manager approves again once the clock is right).
        let now = whole_seconds(self.signing_time()?);
        let csr = signet_x509::parse_request(&record.raw)
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
            .await??;
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
            audit_details::Resubmitted {
                status: prepared.status.as_str(),
                serial: prepared.certificate.as_ref().map(|c| c.serial.to_hex()),
                resubmitted_by: &who.name,
            },
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
            audit_details::Reason { reason: &reason },
        );
        let event = audit_details::to_json(&audit_details::Reason { reason: &reason });
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
        }
        check_attributes(&attributes)?;
        let mut updated = record.clone();
        updated.attributes = attributes;
        let cleared = clear_approvals_on_edit(&mut updated, who);
        let audit = self.audit(
            who,
            "set-attributes",
            &name,
            AuditTarget::Request(id),
            audit_details::SetAttributes {
                changes: &changes,
                approvals_cleared: cleared,
            },
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
                oid: edit.oid.to_string(),
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
        let details = audit_details::SetExtension {
            oid: edit.oid.as_str(),
            critical: edit.critical,
            value: edit.value.as_deref().map(hex::encode),
            disabled: edit.value.is_none(),
            approvals_cleared: cleared,
        };
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
