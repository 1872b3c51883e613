//! Revocation, hold and release, and import of certificates issued elsewhere.

use super::*;

impl Authority {
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
        let details = audit_details::Revoke {
            serial: serial.to_hex(),
            reason: reason.name(),
            invalidity_date: new.invalidity_date.map(unix),
        };
        let audit = self.audit(
            who,
            "revoke",
            &name,
            AuditTarget::Certificate(serial),
            &details,
        );
        let details = audit_details::to_json(&details);
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
        let details = audit_details::Unrevoke {
            serial: serial.to_hex(),
            reason: "removeFromCRL",
            released: true,
        };
        let audit = self.audit(
            who,
            "unrevoke",
            &name,
            AuditTarget::Certificate(serial),
            &details,
        );
        let details = audit_details::to_json(&details);
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
        self.recent.insert(
            record.id,
            record.clone(),
            crate::event::EventMask::NONE.with(Event::Revoked),
        );
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
        let details = audit_details::to_json(&audit_details::Serial {
            serial: serial.to_hex(),
        });
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
            events: vec![(Event::Imported, details)],
            audit: vec![NewAudit {
                target: AuditTarget::ThisRequest,
                ..self.audit(
                    who,
                    "import",
                    &name,
                    AuditTarget::None,
                    audit_details::Import {
                        serial: serial.to_hex(),
                        subject: &subject,
                    },
                )
            }],
        };
        let id = self
            .store
            .create_request(record.clone())
            .await
            .map_err(store_error)?;
        let events = crate::authority::raised(&record.events);
        self.recent.insert(id, record.into_record(id), events);
        self.wake();
        self.respond(&name, id).await
    }
}
