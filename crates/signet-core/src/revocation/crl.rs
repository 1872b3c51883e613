//! CRL publication: the first CRLs at start, the maintenance tick, publication on demand,
//! and the published CRLs as served.

use super::*;

impl Authority {
    /// Loads the newest stored CRLs of every CA (numbers survive restarts) and issues the
    /// delegated OCSP responder certificates. Called by `start`.
    pub(crate) async fn start_revocation(&self) -> Result<(), crate::authority::StartError> {
        for name in self.ca_names().to_vec() {
            let state = Arc::clone(self.state(&name));
            let records = self.store.latest_crls(&name).await?;
            let mut map: HashMap<u32, ShardCrls> = HashMap::new();
            for r in records {
                let entry = map.entry(r.shard).or_default();
                entry.last_number = entry.last_number.max(r.number);
                let published = Arc::new(PublishedCrl::from(r));
                if published.delta_base.is_some() {
                    entry.delta = Some(published);
                } else {
                    entry.base = Some(published);
                }
            }
            // Shards beyond the configured ones keep being published: those that had CRLs
            // (their certificates name those URLs) and those holding revoked certificates.
            // Both are cheap to find: the crls table is small, and the revoked-certificate
            // index answers the second without reading the certificates table.
            let configured = state.runtime.revocation.partitions;
            let mut extra: Vec<u32> = map.keys().copied().filter(|&s| s > configured).collect();
            for s in self.store.shards_in_use(&name).await? {
                if s > configured && !extra.contains(&s) {
                    extra.push(s);
                }
            }
            extra.sort_unstable();
            if let Ok(mut crls) = state.revocation.crls.write() {
                *crls = map;
            }
            if let Ok(mut e) = state.revocation.extra_shards.write() {
                *e = extra;
            }
            self.renew_responder(&state, false)
                .await
                .map_err(|source| crate::authority::StartError::Responder {
                    ca: name.clone(),
                    source,
                })?;
            // A shard that never had a CRL (a new CA, or partitions added since the last run)
            // gets its first one before the server listens, so the CRL URL that certificates
            // name never answers 404. Stored CRLs are served as they are; the maintenance loop
            // renews what is due. A failure here is retried by that loop.
            let now = self.clock.now();
            for (shard, _) in self.due_publications(&state, now) {
                if self.current(&state, shard).base.is_some() {
                    continue;
                }
                if let Err(e) = self.publish_shard(&state, shard, true, "system").await {
                    tracing::error!(ca = %name, shard, error = %e, "first CRL publication failed");
                }
            }
        }
        Ok(())
    }

    /// One maintenance pass: publishes every CRL that is due and renews responder
    /// certificates nearing their end. Errors are logged; the next pass retries.
    pub async fn revocation_tick(&self) {
        let now = self.clock.now();
        for name in self.ca_names().to_vec() {
            let state = Arc::clone(self.state(&name));
            if let Err(e) = self.renew_responder(&state, false).await {
                tracing::error!(ca = %name, error = %Chain(&e), "could not renew the OCSP responder certificate");
            }
            for (shard, full) in self.due_publications(&state, now) {
                if let Err(e) = self.publish_shard(&state, shard, full, "system").await {
                    tracing::error!(ca = %name, shard, error = %e, "scheduled CRL publication failed");
                }
            }
        }
    }

    /// Shards whose full CRL (`true`) or delta CRL (`false`) is due.
    fn due_publications(&self, state: &CaState, now: SystemTime) -> Vec<(u32, bool)> {
        let cfg = &state.runtime.revocation;
        let shards = self.shards(state);
        let Ok(crls) = state.revocation.crls.read() else {
            return Vec::new();
        };
        let mut due = Vec::new();
        for shard in shards {
            let current = crls.get(&shard);
            let base = current.and_then(|c| c.base.as_ref());
            match base {
                Some(b) if now < b.this_update + cfg.crl_period => {
                    if let Some(period) = cfg.delta_period {
                        let last = current
                            .and_then(|c| c.delta.as_ref())
                            .filter(|d| d.delta_base == Some(b.number))
                            .map_or(b.this_update, |d| d.this_update);
                        if now >= last + period {
                            due.push((shard, false));
                        }
                    }
                }
                _ => due.push((shard, true)),
            }
        }
        due
    }

    /// Every shard that has or may get certificates: 0, the configured partitions, and any
    /// shard that still holds certificates from an earlier configuration.
    fn shards(&self, state: &CaState) -> Vec<u32> {
        let mut shards: Vec<u32> = (0..=state.runtime.revocation.partitions).collect();
        if let Ok(extra) = state.revocation.extra_shards.read() {
            shards.extend(extra.iter().copied());
        }
        shards
    }

    /// On demand (AD CS `ICertAdmin2::PublishCRLs`): full CRLs (each followed by a fresh delta
    /// when deltas are on) of every shard, or only deltas. Needs the admin role.
    pub async fn publish_crls(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        delta_only: bool,
    ) -> Result<Vec<PublishedSummary>, EnrollError> {
        let state = Arc::clone(self.resolve(ca)?);
        let name = state.runtime.info.name.clone();
        let who = require(caller)?;
        who.authorize(Role::Admin, Some(&name), self.separation)?;
        if delta_only && state.runtime.revocation.delta_period.is_none() {
            return Err(EnrollError::BadRequest(format!(
                "CA {name} publishes no delta CRLs (delta_period = \"0s\")"
            )));
        }
        let shards = self.shards(&state);
        let mut out = Vec::new();
        for shard in shards {
            out.extend(
                self.publish_shard(&state, shard, !delta_only, &who.name)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Publishes one shard's full CRL (and then its delta) or only its delta.
    async fn publish_shard(
        &self,
        state: &Arc<CaState>,
        shard: u32,
        full: bool,
        actor: &str,
    ) -> Result<Vec<PublishedSummary>, EnrollError> {
        let flag = &state.revocation.publishing;
        if flag
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(EnrollError::Conflict(
                "a CRL publication of this CA is in progress; retry shortly".into(),
            ));
        }
        struct Release<'a>(&'a AtomicBool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _release = Release(flag);
        let mut out = Vec::new();
        if full {
            out.push(self.publish_one(state, shard, None, actor).await?);
        }
        if state.runtime.revocation.delta_period.is_some() {
            let base = self.current(state, shard).base;
            match base {
                Some(base) => out.push(self.publish_one(state, shard, Some(base), actor).await?),
                None => {
                    // No base yet: a delta needs one, so publish the base first.
                    out.push(self.publish_one(state, shard, None, actor).await?);
                    if let Some(base) = self.current(state, shard).base {
                        out.push(self.publish_one(state, shard, Some(base), actor).await?);
                    }
                }
            }
        }
        Ok(out)
    }

    fn current(&self, state: &CaState, shard: u32) -> ShardCrls {
        state
            .revocation
            .crls
            .read()
            .ok()
            .and_then(|c| c.get(&shard).cloned())
            .unwrap_or_default()
    }

    /// The CRL a `CrlIssued` event announces (from its details: shard, number, and
    /// `delta_base` for a delta), or the newer CRL of the same partition and kind that has
    /// superseded it since; `None` if the engine holds neither.
    pub(crate) fn event_crl(&self, state: &CaState, details: &str) -> Option<Arc<PublishedCrl>> {
        let crate::audit_details::CrlIssued {
            shard,
            number,
            delta_base,
        } = serde_json::from_str(details).ok()?;
        let delta = delta_base.is_some();
        let crls = self.current(state, shard);
        let held = if delta { crls.delta } else { crls.base }?;
        (held.number >= number).then_some(held)
    }

    /// Scans, builds, signs and stores one CRL; `base` makes it a delta of that base.
    async fn publish_one(
        &self,
        state: &Arc<CaState>,
        shard: u32,
        base: Option<Arc<PublishedCrl>>,
        actor: &str,
    ) -> Result<PublishedSummary, EnrollError> {
        let rt = &state.runtime;
        let cfg = &rt.revocation;
        let name = rt.info.name.clone();
        let now = whole_seconds(self.clock.now());
        let scan = self
            .store
            .scan_revoked(RevokedQuery {
                ca: name.clone(),
                shard,
                changed_after: base.as_ref().map(|b| b.revocation_seq),
                expired_before: now.checked_sub(cfg.keep_expired).unwrap_or(now),
            })
            .await
            .map_err(|e| internal("store", &e))?;
        let number = self.current(state, shard).last_number + 1;
        let (period, overlap) = match &base {
            None => (cfg.crl_period, cfg.crl_overlap),
            Some(_) => (
                cfg.delta_period.unwrap_or(cfg.crl_period),
                cfg.delta_overlap,
            ),
        };
        let next_update = now + period + overlap;
        let scope_url = cfg.crl_url(&name, shard);
        let delta_url = cfg.delta_url(&name, shard);
        let delta_base = base.as_ref().map(|b| b.number);
        let job_state = Arc::clone(state);
        let job_url = scope_url.clone();
        let revocation_seq = scan.revocation_seq;
        let rows = scan.rows;
        let (der, entries) = self
            .pool
            .run(move || {
                let rt = &job_state.runtime;
                let params = CrlParams {
                    issuer: &rt.info.subject,
                    signature: rt.signer.algorithm(),
                    this_update: now,
                    next_update,
                    number,
                    authority_key_id: &job_state.authority_key_id,
                    delta_base,
                    distribution_point: job_url.as_deref(),
                    freshest: if delta_base.is_none() {
                        delta_url.as_deref()
                    } else {
                        None
                    },
                };
                let mut writer =
                    CrlWriter::new(&params, rows.len()).map_err(BuildError::encode("CRL"))?;
                for row in &rows {
                    let entry = match &row.revocation {
                        Some(r) => RevokedEntry {
                            serial: row.serial.as_bytes(),
                            revoked_at: r.at,
                            reason: Some(r.reason.code()),
                            invalidity_date: r.invalidity_date,
                        },
                        // Released from hold since the base (deltas only).
                        None => RevokedEntry {
                            serial: row.serial.as_bytes(),
                            revoked_at: row.changed_at,
                            reason: Some(REMOVE_FROM_CRL),
                            invalidity_date: None,
                        },
                    };
                    writer
                        .push(&entry)
                        .map_err(BuildError::encode("CRL entry"))?;
                }
                drop(rows);
                let signature = rt
                    .signer
                    .sign(writer.tbs())
                    .map_err(BuildError::sign("CRL"))?;
                let entries = writer.count();
                let der = writer
                    .assemble(&signature)
                    .map_err(BuildError::encode("signed CRL"))?;
                Ok::<_, BuildError>((der, entries))
            })
            .await
            .map_err(|e| internal("worker pool", &e))?
            .map_err(|e| internal("building a CRL", &e))?;
        let details = crate::audit_details::to_json(&crate::audit_details::CrlPublish {
            shard,
            number,
            delta_base,
            entries,
            this_update: crate::admin::unix(now),
            next_update: crate::admin::unix(next_update),
            url: scope_url.as_deref(),
        });
        let audit = NewAudit {
            at: now,
            actor: actor.to_string(),
            action: "crl-publish".into(),
            ca: Some(name.clone()),
            target: AuditTarget::Other(format!("{name}/crl/{shard}/{number}")),
            details: details.clone(),
        };
        let der = Arc::new(der);
        self.store
            .store_crl(NewCrl {
                ca: name.clone(),
                shard,
                number,
                delta_base,
                revocation_seq,
                this_update: now,
                next_update,
                entries,
                der: Arc::clone(&der),
                events: vec![(Event::CrlIssued, details)],
                audit: vec![audit],
            })
            .await
            .map_err(|e| internal("store", &e))?;
        let published = Arc::new(PublishedCrl {
            number,
            shard,
            delta_base,
            revocation_seq,
            this_update: now,
            next_update,
            entries,
            der,
        });
        if let Ok(mut crls) = state.revocation.crls.write() {
            let entry = crls.entry(shard).or_default();
            entry.last_number = number;
            if delta_base.is_some() {
                entry.delta = Some(published);
            } else {
                entry.base = Some(published);
            }
        }
        self.wake();
        tracing::info!(ca = %name, shard, number, ?delta_base, entries, "CRL published");
        Ok(PublishedSummary {
            shard,
            number,
            delta_base,
            entries,
            this_update: now,
            next_update,
            url: match delta_base {
                None => scope_url,
                Some(_) => cfg.delta_url(&name, shard),
            },
        })
    }

    /// The newest full (`delta = false`) or delta CRL of a shard, for `/crl/...`.
    pub fn crl(&self, ca: &str, shard: u32, delta: bool) -> Option<Arc<PublishedCrl>> {
        let state = self.resolve(ca).ok()?;
        let crls = self.current(state, shard);
        if delta { crls.delta } else { crls.base }
    }

    /// Stored CRLs of a CA, newest first (metadata only). Admin, manager or auditor.
    pub async fn list_crls(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        limit: u32,
    ) -> Result<Vec<CrlRecord>, EnrollError> {
        let state = self.resolve(ca)?;
        let name = state.runtime.info.name.clone();
        let who = require(caller)?;
        let allowed = [Role::Admin, Role::Manager, Role::Auditor]
            .into_iter()
            .any(|r| who.authorize(r, Some(&name), self.separation).is_ok());
        if !allowed {
            who.authorize(Role::Admin, Some(&name), self.separation)?;
        }
        self.store
            .list_crls(&name, limit.clamp(1, 1000))
            .await
            .map_err(|e| internal("store", &e))
    }

    /// The URL a shard's full or delta CRL is published at, if a public URL is set.
    pub fn crl_url(&self, ca: &str, shard: u32, delta: bool) -> Option<String> {
        let state = self.resolve(ca).ok()?;
        let cfg = &state.runtime.revocation;
        let name = &state.runtime.info.name;
        if delta {
            cfg.delta_url(name, shard)
        } else {
            cfg.crl_url(name, shard)
        }
    }
}
