//! The OCSP responder (RFC 6960): answers from the cache or fresh from the store, signed by
//! the delegated responder or the CA.

use super::*;

/// Why a fresh OCSP response could not be made (answered `internalError`).
#[derive(Debug, thiserror::Error)]
pub enum OcspError {
    #[error("reading a certificate's status")]
    Status(#[source] crate::store::StoreError),
    #[error("the worker pool")]
    Pool(#[source] PoolError),
    #[error("building the response")]
    Build(#[from] BuildError),
}

impl Authority {
    /// Answers an OCSP request (DER) for a CA: `malformedRequest` for what does not parse,
    /// `unauthorized` for another issuer's certificates, an unknown CA or an offline one.
    pub async fn ocsp(&self, ca: &str, request: &[u8]) -> OcspReply {
        let Ok(state) = self.resolve(ca) else {
            return OcspReply::error(ResponseStatus::Unauthorized);
        };
        // An offline CA's key signs no answers, and no responder certificate exists.
        if state.runtime.signer.offline() {
            return OcspReply::error(ResponseStatus::Unauthorized);
        }
        let state = Arc::clone(state);
        let request = match ocsp::parse_request(request) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(ca = %state.runtime.info.name, error = %e, "malformed OCSP request");
                return OcspReply::error(ResponseStatus::MalformedRequest);
            }
        };
        // Every CertID must name the same key of this CA: that key answers (one response
        // has one signer).
        let Some(key) = state
            .keys
            .iter()
            .find(|k| request.certs.iter().all(|id| k.issuer_hashes.matches(id)))
            .map(|k| k.index)
        else {
            return OcspReply::error(ResponseStatus::Unauthorized);
        };
        let now = self.clock.now();
        let cacheable = request.certs.len() == 1 && request.nonce.is_none();
        let mut epoch = 0;
        let single = request.certs.first().and_then(|id| {
            let serial = SerialNumber::from_magnitude(id.serial_magnitude()?).ok()?;
            Some((serial, id.raw.clone().into_boxed_slice()))
        });
        if cacheable && let Some((serial, cert_id)) = &single {
            let (hit, e) = state.ocsp_cache.get(serial, cert_id, now);
            if let Some(hit) = hit {
                return OcspReply {
                    der: Arc::clone(&hit.der),
                    this_update: Some(hit.this_update),
                    next_update: Some(hit.next_update),
                    // Only answers with known statuses are cached.
                    settled: true,
                };
            }
            epoch = e;
        }
        // A fresh answer is signed with the time now: while the clock is behind the newest
        // time on record, `tryLater` (RFC 6960 4.2.1), which OCSP clients know as "ask again"
        // (an HTTP 503 would read as a broken responder); cached answers are still served.
        let Ok(now) = self.signing_time() else {
            return OcspReply::error(ResponseStatus::TryLater);
        };
        match self.ocsp_fresh(&state, key, &request, now).await {
            Ok((der, statuses_known)) => {
                let this_update = whole_seconds(now);
                let next_update = this_update + state.runtime.revocation.ocsp_validity;
                let der: Arc<[u8]> = der.into();
                if cacheable
                    && statuses_known
                    && let Some((serial, cert_id)) = single
                {
                    state.ocsp_cache.insert(
                        serial,
                        epoch,
                        Arc::new(CachedResponse {
                            cert_id,
                            der: Arc::clone(&der),
                            this_update,
                            next_update,
                            refresh_at: this_update + state.runtime.revocation.ocsp_validity / 2,
                        }),
                    );
                }
                OcspReply {
                    der,
                    this_update: cacheable.then_some(this_update),
                    next_update: cacheable.then_some(next_update),
                    settled: cacheable && statuses_known,
                }
            }
            Err(e) => {
                tracing::error!(ca = %state.runtime.info.name, error = %Chain(&e), "OCSP response failed");
                OcspReply::error(ResponseStatus::InternalError)
            }
        }
    }

    /// Looks up and signs with key index `key` (or its delegated responder). Returns the
    /// response and whether every status is one the CA knows (`unknown` answers are not
    /// cached: the serial may be imported later). A certificate another key of the CA
    /// issued is `unknown`: the CertID names an issuer that did not issue it.
    async fn ocsp_fresh(
        &self,
        state: &Arc<CaState>,
        key: u32,
        request: &ocsp::OcspRequest,
        now: SystemTime,
    ) -> Result<(Vec<u8>, bool), OcspError> {
        let name = &state.runtime.info.name;
        let mut statuses = Vec::with_capacity(request.certs.len());
        for id in &request.certs {
            let serial = id
                .serial_magnitude()
                .and_then(|m| SerialNumber::from_magnitude(m).ok());
            let status = match serial {
                None => CertStatus::Unknown,
                Some(serial) => match self
                    .store
                    .certificate_status(name, serial)
                    .await
                    .map_err(OcspError::Status)?
                {
                    None => CertStatus::Unknown,
                    Some(s) if CrlScope::of_shard(s.shard).key != key => CertStatus::Unknown,
                    Some(s) => match s.revocation {
                        Some(r) => CertStatus::Revoked {
                            at: r.at,
                            reason: Some(r.reason.code()),
                        },
                        None => CertStatus::Good,
                    },
                },
            };
            statuses.push(status);
        }
        let known = statuses.iter().all(|s| !matches!(s, CertStatus::Unknown));
        let responder = match state.key(key) {
            Some(k) if key != state.runtime.renewal.key_index => Arc::new(Responder {
                signer: Arc::clone(&k.signer),
                key_hash: k.authority_key_id,
                certificate: None,
                serial: None,
                not_before: state.runtime.not_before,
                not_after: k.not_after,
            }),
            _ => self.responder(state),
        };
        let validity = state.runtime.revocation.ocsp_validity;
        let request = request.clone();
        let der = self
            .pool
            .run(move || {
                let this_update = whole_seconds(now);
                let responses: Vec<SingleResponse<'_>> = request
                    .certs
                    .iter()
                    .zip(statuses)
                    .map(|(cert_id, status)| SingleResponse {
                        cert_id,
                        status,
                        this_update,
                        next_update: this_update + validity,
                    })
                    .collect();
                let data = ocsp::encode_response_data(&ocsp::ResponseData {
                    responder_key_hash: responder.key_hash,
                    produced_at: this_update,
                    responses: &responses,
                    nonce: request.nonce.as_deref(),
                })
                .map_err(BuildError::encode("OCSP response data"))?;
                let signature = responder
                    .signer
                    .sign(&data)
                    .map_err(BuildError::sign("OCSP response"))?;
                let certs: Vec<Vec<u8>> = responder.certificate.iter().cloned().collect();
                ocsp::assemble_response(&data, responder.signer.algorithm(), &signature, &certs)
                    .map_err(BuildError::encode("OCSP response"))
            })
            .await
            .map_err(OcspError::Pool)??;
        Ok((der, known))
    }

    /// The delegated responder if there is a valid one, otherwise the CA key.
    fn responder(&self, state: &CaState) -> Arc<Responder> {
        let now = self.clock.now();
        if let Ok(r) = state.revocation.responder.read()
            && let Some(r) = r.as_ref()
            && now < r.not_after
        {
            return Arc::clone(r);
        }
        Arc::new(Responder {
            signer: Arc::clone(&state.runtime.signer),
            key_hash: state.authority_key_id,
            certificate: None,
            serial: None,
            not_before: state.runtime.not_before,
            not_after: state.runtime.not_after,
        })
    }

    /// A number that changes whenever an OCSP answer of this CA may have changed (a
    /// revocation change, the cluster sync, a new responder): a finished HTTP answer cached
    /// while it was `g` stays right while it is still `g`. Read it before asking.
    pub fn ocsp_generation(&self, ca: &str) -> Option<u64> {
        Some(self.resolve(ca).ok()?.ocsp_cache.generation())
    }

    /// The delegated OCSP responder certificate of a CA, if it has one.
    pub fn responder_certificate(&self, ca: &str) -> Option<Vec<u8>> {
        let state = self.resolve(ca).ok()?;
        let r = state.revocation.responder.read().ok()?;
        r.as_ref().and_then(|r| r.certificate.clone())
    }
}
