//! CRL publication: the first CRLs at start, the maintenance tick, publication on demand,
//! and the published CRLs as served.

use super::*;

/// How many times an administrator's publication tries the next number when another node
/// records one first.
const ON_DEMAND_TRIES: u32 = 3;

/// Why one CRL was not published.
enum Unpublished {
    /// Another node recorded this number for the shard first.
    Taken(u64),
    Failed(EnrollError),
}

impl From<EnrollError> for Unpublished {
    fn from(e: EnrollError) -> Unpublished {
        Unpublished::Failed(e)
    }
}

impl Authority {
    /// Loads the newest stored CRLs of every CA (numbers survive restarts), notes how far the
    /// (empty) OCSP cache is current, and sets up the delegated OCSP responder: the node
    /// holding the CA's revocation lease issues one if needed, another takes up the stored
    /// one. Called by `start`.
    pub(crate) async fn start_revocation(&self) -> Result<(), crate::authority::StartError> {
        for name in self.ca_names().to_vec() {
            let state = Arc::clone(self.state(&name));
            let records = self.store.latest_crls(&name).await?;
            self.install_crls(&state, records);
            // Shards beyond the configured ones keep being published: those that had CRLs
            // (their certificates name those URLs, added by `install_crls`) and those
            // holding revoked certificates. Both are cheap to find: the crls table is small,
            // and the revoked-certificate index answers the second without reading the
            // certificates table.
            let in_use = self.store.shards_in_use(&name).await?;
            self.add_extra_shards(&state, in_use);
            self.sync_ocsp(&state).await?;
            if state.runtime.signer.offline() {
                // Served as stored; `signet ca sign --offline` signs them (crate::offline).
                continue;
            }
            if self
                .hold_lease(&crate::cluster::revocation_lease(&name))
                .await
            {
                match self.renew_responder(&state, false).await {
                    // The server starts so that /healthz can say why it signs nothing; the
                    // maintenance tick issues the responder once the clock is corrected.
                    Err(ResponderError::Clock(behind)) => {
                        tracing::warn!(ca = %name, error = %behind, "no OCSP responder certificate yet");
                    }
                    other => other.map_err(|source| crate::authority::StartError::Responder {
                        ca: name.clone(),
                        source,
                    })?,
                }
            } else {
                // The lease holder issues and renews it; until it has stored one, the CA
                // key signs this node's OCSP responses.
                self.sync_responder(&state).await;
            }
            // A shard that never had a CRL (a new CA, or partitions added since the last run)
            // gets its first one before the server listens, so the CRL URL that certificates
            // name never answers 404, whichever node holds the lease: numbers come from the
            // store, so two nodes starting at once publish two CRLs, never one number twice.
            // Stored CRLs are served as they are; the lease holder renews what is due. A
            // failure here is retried by its maintenance loop.
            let now = self.clock.now();
            for (shard, _) in self.due_publications(&state, now) {
                if self.current(&state, shard).base.is_some() {
                    continue;
                }
                match self.publish_shard(&state, shard, true, "system", 1).await {
                    Ok(_) => {}
                    Err(EnrollError::Conflict(_)) => {
                        tracing::info!(ca = %name, shard, "another node published the first CRL");
                    }
                    Err(e) => {
                        tracing::error!(ca = %name, shard, error = %e, "first CRL publication failed");
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes stored CRLs into memory: each replaces the one held for its shard and kind when
    /// its number is higher, and raises the shard's highest known number. Shards beyond the
    /// configured ones (another configuration's, or another node's) are published from then
    /// on. Answers whether anything was replaced.
    pub(crate) fn install_crls(&self, state: &CaState, records: Vec<CrlRecord>) -> bool {
        let mut extra = Vec::new();
        let mut replaced = false;
        if let Ok(mut crls) = state.revocation.crls.write() {
            for r in records {
                // A stored CRL's thisUpdate is a time on record too (another node's included).
                self.mark.raise(r.this_update);
                if !configured_shard(state, r.shard) {
                    extra.push(r.shard);
                }
                let entry = crls.entry(r.shard).or_default();
                entry.last_number = entry.last_number.max(r.number);
                let published = Arc::new(PublishedCrl::from(r));
                let slot = match published.delta_base {
                    Some(_) => &mut entry.delta,
                    None => &mut entry.base,
                };
                if slot
                    .as_ref()
                    .is_none_or(|held| held.number < published.number)
                {
                    *slot = Some(published);
                    replaced = true;
                }
            }
        }
        self.add_extra_shards(state, extra);
        replaced
    }

    /// Adds shards beyond the configured ones to those published.
    fn add_extra_shards(&self, state: &CaState, shards: Vec<u32>) {
        if let Ok(mut extra) = state.revocation.extra_shards.write() {
            for s in shards {
                if !configured_shard(state, s) && !extra.contains(&s) {
                    extra.push(s);
                }
            }
            extra.sort_unstable();
        }
    }

    /// One maintenance pass: for every CA whose revocation lease this node holds (taking or
    /// renewing it), renews the responder certificate when it nears its end and publishes
    /// every CRL that is due. Errors are logged; the next pass retries.
    pub async fn revocation_tick(&self) {
        // Nothing is published or renewed while the clock is behind the newest time on
        // record (`/healthz` says why), and the lease is left to a node whose clock is right.
        if self.clock_behind().is_some() {
            return;
        }
        let now = self.clock.now();
        for name in self.ca_names().to_vec() {
            let state = Arc::clone(self.state(&name));
            if state.runtime.signer.offline() {
                continue;
            }
            let lease = crate::cluster::revocation_lease(&name);
            if !self.hold_lease(&lease).await {
                continue;
            }
            if let Err(e) = self.renew_responder(&state, false).await {
                tracing::error!(ca = %name, error = %Chain(&e), "could not renew the OCSP responder certificate");
            }
            let mut due = self.due_publications(&state, now);
            if !due.is_empty() {
                // Another node may have published meanwhile (on demand, or as the previous
                // holder), and numbers continue from the store's.
                if let Err(e) = self.sync_crls(&state).await {
                    tracing::error!(ca = %name, error = %Chain(&e), "could not read the stored CRLs; publication waits");
                    continue;
                }
                due = self.due_publications(&state, now);
            }
            for (shard, full) in due {
                // Renewed as it goes (this pass may outlast a lease: thousands of
                // partitions), and a node that lost the lease stops at once.
                if !self.hold_lease(&lease).await {
                    break;
                }
                match self.publish_shard(&state, shard, full, "system", 1).await {
                    Ok(_) => {}
                    Err(EnrollError::Conflict(reason)) => {
                        tracing::info!(ca = %name, shard, reason, "scheduled CRL publication skipped; the next pass looks again");
                    }
                    Err(e) => {
                        tracing::error!(ca = %name, shard, error = %e, "scheduled CRL publication failed");
                    }
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

    /// Every shard that has or may get certificates: the current key's main CRL and
    /// configured partitions, the main CRL of each retired key whose certificate is still
    /// valid, and any shard of such a key that still holds certificates from an earlier
    /// configuration (or had CRLs).
    pub(super) fn shards(&self, state: &CaState) -> Vec<u32> {
        let rt = &state.runtime;
        let now = self.clock.now();
        let mut shards: Vec<u32> = (0..=rt.revocation.partitions)
            .map(|partition| {
                CrlScope {
                    key: rt.renewal.key_index,
                    partition,
                }
                .shard()
            })
            .collect();
        shards.extend(
            rt.renewal
                .retired
                .iter()
                .filter(|k| state.publishes_for(k.index, now))
                .map(|k| {
                    CrlScope {
                        key: k.index,
                        partition: 0,
                    }
                    .shard()
                }),
        );
        if let Ok(extra) = state.revocation.extra_shards.read() {
            for &s in extra.iter() {
                if !shards.contains(&s) && state.publishes_for(CrlScope::of_shard(s).key, now) {
                    shards.push(s);
                }
            }
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
        crate::offline::refuse_crl_publication(&state.runtime)?;
        if let Some(behind) = self.clock_behind() {
            return Err(behind.into());
        }
        if delta_only && state.runtime.revocation.delta_period.is_none() {
            return Err(EnrollError::BadRequest(format!(
                "CA {name} publishes no delta CRLs (delta_period = \"0s\")"
            )));
        }
        // Any node may publish on demand, lease or not: numbers continue from the store's,
        // and a number another node took meanwhile is retried with the next.
        self.sync_crls(&state)
            .await
            .map_err(|e| internal("store", &e))?;
        let shards = self.shards(&state);
        let mut out = Vec::new();
        for shard in shards {
            out.extend(
                self.publish_shard(&state, shard, !delta_only, &who.name, ON_DEMAND_TRIES)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Publishes one shard's full CRL (and then its delta) or only its delta. When another
    /// node records a number first, the stored CRLs are reloaded and what is left is tried
    /// again, `tries` times in all; then `Conflict`.
    async fn publish_shard(
        &self,
        state: &Arc<CaState>,
        shard: u32,
        full: bool,
        actor: &str,
        tries: u32,
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
        let mut tries_left = tries;
        loop {
            let full_left = full
                && !out
                    .iter()
                    .any(|s: &PublishedSummary| s.delta_base.is_none());
            match self
                .publish_pair(state, shard, full_left, actor, &mut out)
                .await
            {
                Ok(()) => return Ok(out),
                Err(Unpublished::Failed(e)) => return Err(e),
                Err(Unpublished::Taken(number)) => {
                    self.sync_crls(state)
                        .await
                        .map_err(|e| internal("store", &e))?;
                    tries_left = tries_left.saturating_sub(1);
                    if tries_left == 0 {
                        return Err(EnrollError::Conflict(format!(
                            "another node recorded CRL number {number} of CA {} partition {shard} first; retry",
                            state.runtime.info.name
                        )));
                    }
                }
            }
        }
    }

    /// The full CRL (when `full`) and then the delta, if deltas are on, of one shard; what
    /// was published is pushed to `out`.
    async fn publish_pair(
        &self,
        state: &Arc<CaState>,
        shard: u32,
        full: bool,
        actor: &str,
        out: &mut Vec<PublishedSummary>,
    ) -> Result<(), Unpublished> {
        if full {
            out.push(self.publish_one(state, shard, None, actor).await?);
        }
        if state.runtime.revocation.delta_period.is_some() {
            if self.current(state, shard).base.is_none() {
                // No base yet: a delta needs one, so publish the base first.
                out.push(self.publish_one(state, shard, None, actor).await?);
            }
            if let Some(base) = self.current(state, shard).base {
                out.push(self.publish_one(state, shard, Some(base), actor).await?);
            }
        }
        Ok(())
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
    ) -> Result<PublishedSummary, Unpublished> {
        let rt = &state.runtime;
        let cfg = &rt.revocation;
        let name = rt.info.name.clone();
        // The number is taken before the scan: a CRL with a higher number is then always
        // scanned after the lower one was stored, so it never holds an older snapshot.
        let held = self.current(state, shard);
        let number = held.last_number + 1;
        // thisUpdate never goes back either, whichever node's clock dates it.
        let newest = [&held.base, &held.delta]
            .into_iter()
            .flatten()
            .map(|c| c.this_update)
            .max()
            .unwrap_or(std::time::UNIX_EPOCH);
        let now = whole_seconds(self.signing_time().map_err(EnrollError::from)?).max(newest);
        let (period, overlap) = match &base {
            None => (cfg.crl_period, cfg.crl_overlap),
            Some(_) => (
                cfg.delta_period.unwrap_or(cfg.crl_period),
                cfg.delta_overlap,
            ),
        };
        let next_update = now + period + overlap;
        let scope = CrlScope::of_shard(shard);
        let Some(key) = state.key(scope.key) else {
            let why = SignerError::Failed(format!("no key with index {}", scope.key));
            return Err(Unpublished::Failed(internal("the CRL's key", &why)));
        };
        let scope_url = cfg.crl_url(&name, scope);
        let delta_url = cfg.delta_url(&name, scope);
        let delta_base = base.as_ref().map(|b| b.number);
        let params = CrlParams {
            issuer: &key.subject,
            signature: key.signer.algorithm(),
            this_update: now,
            next_update,
            number,
            authority_key_id: &key.authority_key_id,
            delta_base,
            distribution_point: scope_url.as_deref(),
            freshest: if delta_base.is_none() {
                delta_url.as_deref()
            } else {
                None
            },
        };
        // The entries are encoded as the store reads them (on its reader thread), sized by
        // the last CRL of the same kind: a million rows are never held at once.
        let expected = match &base {
            None => held.base.as_ref().map_or(0, |c| c.entries),
            Some(_) => held.delta.as_ref().map_or(0, |c| c.entries),
        };
        let writer = CrlWriter::new(&params, usize::try_from(expected).unwrap_or(0))
            .map_err(|e| internal("building a CRL", &BuildError::encode("CRL")(e)))?;
        let writer = Arc::new(Mutex::new(writer));
        let sink_writer = Arc::clone(&writer);
        let sink: crate::store::RevokedSink = Box::new(move |row| {
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
            let mut writer = sink_writer
                .lock()
                .map_err(|_| StoreError::Backend("the CRL writer's lock is poisoned".into()))?;
            writer
                .push(&entry)
                .map_err(|e| StoreError::Backend(format!("encoding a CRL entry: {e}")))
        });
        let revocation_seq = self
            .store
            .scan_revoked_into(
                RevokedQuery {
                    ca: name.clone(),
                    shard,
                    changed_after: base.as_ref().map(|b| b.revocation_seq),
                    expired_before: now.checked_sub(cfg.keep_expired).unwrap_or(now),
                },
                sink,
            )
            .await
            .map_err(|e| internal("store", &e))?;
        // The store dropped the sink with its clone once the scan ended.
        let writer = Arc::try_unwrap(writer)
            .ok()
            .and_then(|w| w.into_inner().ok())
            .ok_or_else(|| {
                let why = StoreError::Backend("the scan kept the CRL writer".into());
                internal("store", &why)
            })?;
        let signer = Arc::clone(&key.signer);
        let (der, entries) = self
            .pool
            .run(move || {
                let mut writer = writer;
                let signature = signer.sign(writer.tbs()).map_err(BuildError::sign("CRL"))?;
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
            .map_err(|e| match e {
                crate::store::StoreError::Conflict(_) => Unpublished::Taken(number),
                other => Unpublished::Failed(internal("store", &other)),
            })?;
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
            entry.last_number = entry.last_number.max(number);
            // The cluster sync may have loaded this very CRL already.
            let slot = match delta_base {
                Some(_) => &mut entry.delta,
                None => &mut entry.base,
            };
            if slot.as_ref().is_none_or(|c| c.number < number) {
                *slot = Some(published);
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
                Some(_) => cfg.delta_url(&name, scope),
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
        let scope = CrlScope::of_shard(shard);
        if delta {
            cfg.delta_url(name, scope)
        } else {
            cfg.crl_url(name, scope)
        }
    }
}

/// Whether new certificates go to a shard: one of the current key's configured partitions.
fn configured_shard(state: &CaState, shard: u32) -> bool {
    let scope = CrlScope::of_shard(shard);
    scope.key == state.runtime.renewal.key_index
        && scope.partition <= state.runtime.revocation.partitions
}
