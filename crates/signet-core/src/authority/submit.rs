//! Seed steps 4–5 as the engine sees them: a new request is authorised, checked against
//! the limits, decided on the worker pool (`issue`) and committed; and RetrievePending.

use super::*;

impl Authority {
    /// Seed steps 4–5: submit a request.
    pub async fn submit_request(&self, req: SubmitRequest) -> Result<SubmitResponse, EnrollError> {
        let ca = Arc::clone(self.resolve(&req.ca)?);
        crate::offline::refuse_requests(&ca.runtime)?;
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(EnrollError::Unavailable(
                "the CA is not accepting requests".into(),
            ));
        }
        let profile = self.resolve_profile(&ca, req.profile.as_deref())?;
        let access = self.may_enroll(&ca, &profile, req.caller.as_ref())?;
        if req.csr.len() > MAX_CSR_BYTES {
            return Err(EnrollError::BadRequest(format!(
                "the certificate request is {} bytes; at most {MAX_CSR_BYTES} are accepted",
                req.csr.len()
            )));
        }
        check_attributes(&req.attributes)?;

        // Refused before anything is decided or stored while the clock is behind the newest
        // time on record: the certificate would be dated in the past. Requests the policy
        // would leave pending are refused too, since their record would carry that time.
        let clock_now = self.signing_time()?;
        self.rate.admit(
            &self.limits,
            &ca.runtime.info.name,
            &profile,
            access.requests_per_minute,
            req.caller.as_ref().map(|c| c.name.as_str()),
            clock_now,
        )?;
        // Whole seconds, as certificates and the store keep them.
        let now = whole_seconds(clock_now);
        let mut serial = [0u8; 20];
        self.random
            .fill(&mut serial)
            .map_err(|e| internal("random", &e))?;
        let serial = SerialNumber::from_random(serial);

        let csr_bytes = req.csr;
        let job_ca = Arc::clone(&ca);
        let attributes = req.attributes;
        let via = req.caller.as_ref().map(|c| c.via.clone());
        let requester = req.caller.map(|c| c.name);
        let needs = ca.runtime.policy.issuance(&profile);
        let prepared = if needs.history() {
            // The profile needs to know the key's and the requester's certificates: parse
            // the request, read the store, then decide (two trips to the worker pool, only
            // for such profiles).
            let csr = self
                .run_on_pool(move || {
                    signet_x509::parse_request(&csr_bytes)
                        .map_err(|e| EnrollError::BadRequest(e.to_string()))
                })
                .await??;
            let history = self
                .history(&ca, &profile, requester.as_deref(), &csr, needs, now)
                .await?;
            let props = RequestProps {
                id: None,
                ca: ca.runtime.info.name.clone(),
                profile,
                requester,
                attributes,
                csr,
                submitted_at: now,
                history: Some(history),
            };
            self.run_on_pool(move || decide(&job_ca, props, serial, now, true, None, &[]))
                .await??
        } else {
            self.run_on_pool(move || {
                let csr = signet_x509::parse_request(&csr_bytes)
                    .map_err(|e| EnrollError::BadRequest(e.to_string()))?;
                let props = RequestProps {
                    id: None,
                    ca: job_ca.runtime.info.name.clone(),
                    profile,
                    requester,
                    attributes,
                    csr,
                    submitted_at: now,
                    history: None,
                };
                decide(&job_ca, props, serial, now, true, None, &[])
            })
            .await??
        };

        let Prepared {
            props,
            status,
            message,
            extensions,
            certificate,
            event,
            details,
        } = prepared;
        if status == RequestStatus::Pending {
            self.check_pending_quota(&props.ca, props.requester.as_deref())
                .await?;
        }
        // Formatted once: the audit record and the request row both keep it.
        let subject = props.csr.subject.to_string();
        let audit = vec![NewAudit {
            at: now,
            actor: props
                .requester
                .clone()
                .unwrap_or_else(|| "anonymous".into()),
            action: "submit".into(),
            ca: Some(props.ca.clone()),
            target: AuditTarget::ThisRequest,
            details: crate::audit_details::to_json(&crate::audit_details::Submit {
                via: via.as_deref(),
                profile: props.profile.as_str(),
                subject: &subject,
                status: status.as_str(),
                serial: certificate.as_ref().map(|c| c.serial.to_hex()),
            }),
        }];
        let record = NewRequest {
            ca: props.ca,
            status,
            profile: Some(props.profile),
            requester: props.requester,
            format: props.csr.format.as_str().into(),
            subject,
            raw: props.csr.der,
            submitted_at: now,
            resolved_at: (status != RequestStatus::Pending).then_some(now),
            audit,
            message,
            attributes: props.attributes,
            extensions,
            certificate,
            events: event.map(|e| (e, details)).into_iter().collect(),
        };
        // One copy: the store takes the record, exit delivery and the response use the copy.
        let recent = record.clone();
        let id = self
            .store
            .create_request(record)
            .await
            .map_err(|e| internal("store", &e))?;
        let serial = recent.certificate.as_ref().map(|c| c.serial);
        let events = crate::authority::raised(&recent.events);
        let recent = recent.into_record(id);
        let response = SubmitResponse {
            id,
            status,
            message: recent.message.clone(),
            serial,
            certificate: recent.certificate.as_ref().map(|c| c.der.clone()),
            chain: ca.runtime.chain.clone(),
        };
        self.recent.insert(id, recent, events);
        tracing::info!(
            ca = %ca.runtime.info.name,
            request = id.get(),
            status = %status,
            serial = serial.map(|s| s.to_hex()),
            "request resolved"
        );
        self.wake();
        Ok(response)
    }

    /// Runs CPU work on the worker pool; a full pool is `Unavailable` (retry), anything else
    /// an internal error.
    pub(crate) async fn run_on_pool<T, F>(&self, f: F) -> Result<T, EnrollError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.pool.run(f).await.map_err(|e| match e {
            crate::pool::PoolError::Busy => {
                EnrollError::Unavailable("the CA is busy: retry shortly".into())
            }
            other => internal("worker pool", &other),
        })
    }

    /// Reads the certificate history a profile asked for ([`IssuanceNeeds`]): the holders of
    /// certificates for the request's key, and the requester's valid certificates from this
    /// CA under this profile.
    pub(crate) async fn history(
        &self,
        ca: &CaState,
        profile: &ProfileName,
        requester: Option<&str>,
        csr: &CertificationRequest,
        needs: IssuanceNeeds,
        now: SystemTime,
    ) -> Result<CertificateHistory, EnrollError> {
        let query = HistoryQuery {
            ca: ca.runtime.info.name.clone(),
            profile: profile.clone(),
            requester: requester.map(str::to_string),
            spki_sha256: signet_x509::sha256(&csr.spki_der),
            key_holders: needs.key_holders,
            held: needs.held,
            now,
        };
        self.store
            .certificate_history(query)
            .await
            .map_err(|e| internal("store", &e))
    }

    /// Who may submit to a profile: anonymous callers only where the profile allows it;
    /// otherwise an identity with the requester role on this CA that the profile's enrollment
    /// list names (by name or group), if it has one.
    /// A request about to join the pending queue is refused, not queued, when its requester
    /// already has `pending_per_requester` requests waiting on this CA (all anonymous callers
    /// count as one requester). Concurrent submissions may pass the count together, so the
    /// queue can exceed the limit by at most the number of requests in flight.
    async fn check_pending_quota(
        &self,
        ca: &CaName,
        requester: Option<&str>,
    ) -> Result<(), EnrollError> {
        let cap = self.limits.pending_per_requester;
        if cap == 0 {
            return Ok(());
        }
        let waiting = self
            .store
            .pending_count(ca, requester.map(str::to_string))
            .await
            .map_err(|e| internal("store", &e))?;
        if waiting >= u64::from(cap) {
            return Err(EnrollError::RateLimited {
                detail: format!(
                    "{} already {} {waiting} requests pending on CA {ca} (at most {cap}); wait until certificate managers decide them",
                    requester.unwrap_or("anonymous callers"),
                    if requester.is_some() { "has" } else { "have" },
                ),
                retry_after: Duration::from_secs(300),
            });
        }
        Ok(())
    }

    pub(crate) fn may_enroll(
        &self,
        ca: &CaState,
        profile: &ProfileName,
        caller: Option<&Identity>,
    ) -> Result<crate::policy::ProfileAccess, EnrollError> {
        let access = ca.runtime.policy.access(profile);
        let Some(who) = caller else {
            if access.anonymous {
                return Ok(access);
            }
            return Err(EnrollError::Unauthenticated(format!(
                "profile {profile} does not allow anonymous enrollment: authenticate with an API token (Authorization: Bearer) or a TLS client certificate"
            )));
        };
        who.authorize(
            Role::Requester,
            Some(&ca.runtime.info.name),
            self.separation,
        )?;
        let listed = access.enroll.is_empty()
            || access
                .enroll
                .iter()
                .any(|e| match e.strip_prefix("group:") {
                    Some(group) => who.groups.iter().any(|g| g == group),
                    None => *e == who.name,
                });
        if !listed {
            return Err(EnrollError::Forbidden(format!(
                "{} may not enroll in profile {profile}",
                who.name
            )));
        }
        Ok(access)
    }

    fn resolve_profile(
        &self,
        ca: &CaState,
        requested: Option<&str>,
    ) -> Result<ProfileName, EnrollError> {
        let policy = &ca.runtime.policy;
        let unknown = |p: &str| EnrollError::UnknownProfile {
            ca: ca.runtime.info.name.to_string(),
            profile: p.chars().take(100).collect(),
        };
        match requested {
            Some(p) => {
                let name = ProfileName::new(p).map_err(|_| unknown(p))?;
                if policy.has_profile(&name) {
                    Ok(name)
                } else {
                    Err(unknown(p))
                }
            }
            None => policy.default_profile().ok_or_else(|| {
                EnrollError::BadRequest(format!(
                    "CA {} has no default profile: name one",
                    ca.runtime.info.name
                ))
            }),
        }
    }

    /// Retrieves a request's disposition; polling a pending request records a
    /// `RetrievePending` event.
    pub async fn retrieve_request(
        &self,
        ca: &str,
        id: RequestId,
        caller: Option<&Identity>,
    ) -> Result<SubmitResponse, EnrollError> {
        let ca = Arc::clone(self.resolve(ca)?);
        let name = ca.runtime.info.name.clone();
        let not_found = || EnrollError::NotFound(format!("{id} on CA {name}"));
        let record = self
            .store
            .get_request(&name, id)
            .await
            .map_err(|e| internal("store", &e))?
            .ok_or_else(not_found)?;
        // Officers and auditors see every request; a requester their own; anyone the
        // requests submitted anonymously. Others are told it does not exist.
        let visible = match (&record.requester, caller) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(owner), Some(who)) => {
                *owner == who.name
                    || [Role::Manager, Role::Admin, Role::Auditor]
                        .into_iter()
                        .any(|r| who.authorize(r, Some(&name), self.separation).is_ok())
            }
        };
        if !visible {
            return Err(match caller {
                None => EnrollError::Unauthenticated(format!(
                    "request {id} belongs to an identity: authenticate to retrieve it"
                )),
                Some(_) => not_found(),
            });
        }
        if record.status == RequestStatus::Pending && self.first_poll_in_a_while(id) {
            let event = NewEvent {
                ca: name.clone(),
                event: Event::RetrievePending,
                request_id: Some(id),
                at: self.clock.now(),
                details: "{}".into(),
            };
            self.store
                .append_events(vec![event])
                .await
                .map_err(|e| internal("store", &e))?;
            self.wake();
        }
        Ok(response_from_record(record, ca.runtime.chain.clone()))
    }

    fn first_poll_in_a_while(&self, id: RequestId) -> bool {
        const QUIET: Duration = Duration::from_secs(60);
        let now = self.clock.now();
        let Ok(mut polled) = self.polled.lock() else {
            return true;
        };
        if polled.len() > 10_000 {
            polled.retain(|_, at| now.duration_since(*at).is_ok_and(|d| d < QUIET));
        }
        match polled.get(&id) {
            Some(at) if now.duration_since(*at).is_ok_and(|d| d < QUIET) => false,
            _ => {
                polled.insert(id, now);
                true
            }
        }
    }
}
