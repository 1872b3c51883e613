//! The delegated OCSP responder certificate: issued to a fresh key, sealed and stored with
//! it, taken up again at start while still good, renewed before it runs out or when revoked.

use super::*;

/// Why the delegated OCSP responder certificate could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    #[error("reading the OCSP responder certificate's status")]
    Status(#[source] crate::store::StoreError),
    #[error("the worker pool")]
    Pool(#[source] PoolError),
    #[error("generating the OCSP responder key")]
    Key(#[source] SignerError),
    #[error("drawing the responder certificate's serial number")]
    Random(#[source] SignerError),
    #[error("building the OCSP responder certificate")]
    Build(#[from] BuildError),
    #[error("recording the OCSP responder certificate")]
    Record(#[source] crate::store::StoreError),
    /// Nothing is signed while the clock is behind the newest time on record; the
    /// maintenance tick issues it once the clock is corrected.
    #[error(transparent)]
    Clock(#[from] crate::time_mark::ClockBehind),
}

impl Authority {
    /// Issues a new delegated responder certificate (to a fresh key) when there is none,
    /// when less than a third of its validity is left or when it was revoked; `force` renews
    /// anyway. When there is none in memory (at start), the stored one is taken up if it is
    /// still good (see [`Authority::stored_responder`]).
    pub(crate) async fn renew_responder(
        &self,
        state: &Arc<CaState>,
        force: bool,
    ) -> Result<(), ResponderError> {
        let rt = &state.runtime;
        let cfg = &rt.revocation;
        if cfg.responder != ResponderMode::Delegated {
            return Ok(());
        }
        let Some(factory) = self.key_factory.as_ref() else {
            return Ok(());
        };
        let now = whole_seconds(self.clock.now());
        let current = state.revocation.current_responder();
        if let Some(r) = &current
            && !force
        {
            // An administrator who revokes (or holds) the responder certificate, say because
            // its key leaked, gets a new one within a tick, not at the next start.
            let revoked = match r.serial {
                Some(serial) => self
                    .store
                    .certificate_status(&rt.info.name, serial)
                    .await
                    .map_err(ResponderError::Status)?
                    .is_some_and(|s| s.revocation.is_some()),
                None => false,
            };
            if revoked {
                tracing::warn!(ca = %rt.info.name, serial = ?r.serial, "the OCSP responder certificate was revoked; issuing a new one");
            } else if !r.renewal_due(now) {
                return Ok(());
            }
        }
        if current.is_none()
            && !force
            && let Some(stored) = self.stored_responder(state, factory, now).await
        {
            tracing::info!(ca = %rt.info.name, serial = ?stored.serial, "OCSP responder certificate taken up again");
            if let Ok(mut r) = state.revocation.responder.write() {
                *r = Some(Arc::new(stored));
            }
            return Ok(());
        }
        let now = whole_seconds(self.signing_time()?);
        let algorithm = rt.key_algorithm;
        let keys = Arc::clone(factory);
        let (signer, sealed) = self
            .pool
            .run(move || keys.generate_sealed(algorithm))
            .await
            .map_err(ResponderError::Pool)?
            .map_err(ResponderError::Key)?;
        let key_id = ext::key_identifier(signer.public_key_der())
            .map_err(BuildError::encode("key identifier"))?;
        let issued = self.service_certificate(
            state,
            ServiceCertificate {
                spki_der: signer.public_key_der(),
                common_name: format!("{} OCSP Responder", rt.info.name),
                extensions: vec![
                    ext::basic_constraints(false, None),
                    ext::key_usage(signet_x509::KeyUsage::DIGITAL_SIGNATURE),
                    ext::extended_key_usage(&[ext::oid::KP_OCSP_SIGNING.to_string()])
                        .map_err(BuildError::encode("extended key usage"))?,
                    ext::ocsp_nocheck(),
                    ext::subject_key_identifier(&key_id),
                    ext::authority_key_identifier(&state.authority_key_id),
                ],
                validity: cfg.responder_validity,
                format: crate::model::OCSP_RESPONDER_FORMAT,
                message: "delegated OCSP responder certificate",
            },
            now,
        )?;
        let (record, der, serial, not_before, not_after) = (
            issued.record,
            issued.der,
            issued.serial,
            issued.not_before,
            issued.not_after,
        );
        // With a sealed key, the certificate and its key are stored in one transaction, and
        // the previous responder's key is dropped.
        match sealed {
            Some(key) => self.store.create_responder(record, key).await,
            None => self.store.create_request(record).await,
        }
        .map_err(ResponderError::Record)?;
        let key_hash = ext::key_identifier(signer.public_key_der())
            .map_err(BuildError::encode("key identifier"))?;
        if let Ok(mut r) = state.revocation.responder.write() {
            *r = Some(Arc::new(Responder {
                signer,
                key_hash,
                certificate: Some(der),
                serial: Some(serial),
                not_before,
                not_after,
            }));
        }
        // Responses signed by the old responder stay valid, but new ones should name the new.
        state.ocsp_cache.clear();
        self.wake();
        tracing::info!(ca = %rt.info.name, serial = %serial, "OCSP responder certificate issued");
        Ok(())
    }

    /// The stored responder certificate of a CA with its key, if it may be used again: not
    /// revoked, issued by the CA's current key, its key opens and is the certificate's, and
    /// renewal is not yet due. Anything else is logged and answered `None` (a new responder
    /// certificate is then issued).
    async fn stored_responder(
        &self,
        state: &Arc<CaState>,
        factory: &Arc<dyn KeyFactory>,
        now: SystemTime,
    ) -> Option<Responder> {
        let rt = &state.runtime;
        let stored = match self.store.current_responder(&rt.info.name, now).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(ca = %rt.info.name, error = %e, "could not read the stored OCSP responder certificate; issuing a new one");
                return None;
            }
        };
        let responder = self.open_responder(state, factory, stored).await?;
        (!responder.renewal_due(whole_seconds(now))).then_some(responder)
    }

    /// A stored responder certificate with its key opened, if it is the current CA key's
    /// and the key opens and is the certificate's; anything else is logged and answered
    /// `None`.
    pub(super) async fn open_responder(
        &self,
        state: &Arc<CaState>,
        factory: &Arc<dyn KeyFactory>,
        stored: crate::store::StoredResponder,
    ) -> Option<Responder> {
        let rt = &state.runtime;
        let serial = stored.serial;
        if let Err(e) = signet_x509::verify_issued_by(
            &stored.certificate,
            &rt.info.subject,
            rt.signer.public_key_der(),
        ) {
            tracing::info!(ca = %rt.info.name, %serial, error = %e, "the stored OCSP responder certificate is not the current CA key's; issuing a new one");
            return None;
        }
        // Opening runs PBKDF2 (hundreds of milliseconds): on the pool, not the runtime.
        let keys = Arc::clone(factory);
        let sealed = stored.sealed_key;
        let signer = match self.pool.run(move || keys.open(&sealed)).await {
            Ok(Ok(signer)) => signer,
            Ok(Err(e)) => {
                tracing::warn!(ca = %rt.info.name, %serial, error = %e, "the stored OCSP responder key does not open (was the passphrase changed?); issuing a new responder certificate");
                return None;
            }
            Err(e) => {
                tracing::warn!(ca = %rt.info.name, error = %e, "opening the stored OCSP responder key");
                return None;
            }
        };
        let matches = signet_x509::parse_certificate(&stored.certificate)
            .is_ok_and(|info| info.spki_der == signer.public_key_der());
        if !matches {
            tracing::warn!(ca = %rt.info.name, %serial, "the stored OCSP responder key is not the certificate's; issuing a new responder certificate");
            return None;
        }
        let key_hash = ext::key_identifier(signer.public_key_der()).ok()?;
        Some(Responder {
            signer,
            key_hash,
            certificate: Some(stored.certificate),
            serial: Some(serial),
            not_before: stored.not_before,
            not_after: stored.not_after,
        })
    }
}

/// A certificate the CA issues to one of Signet's own services (the delegated OCSP
/// responder, the SCEP RA): not through the policy module, but recorded, audited and
/// delivered to exit modules like any issuance.
pub(crate) struct ServiceCertificate<'a> {
    pub(crate) spki_der: &'a [u8],
    pub(crate) common_name: String,
    /// Every extension, SKI and AKI included.
    pub(crate) extensions: Vec<signet_x509::Extension>,
    pub(crate) validity: Duration,
    /// The request format recorded (`ocsp-responder`, `scep-ra`).
    pub(crate) format: &'static str,
    pub(crate) message: &'static str,
}

/// A service certificate built and signed, with the record that stores it.
pub(crate) struct IssuedService {
    pub(crate) record: NewRequest,
    pub(crate) der: Vec<u8>,
    pub(crate) serial: SerialNumber,
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
}

impl Authority {
    /// Builds and signs a service certificate for `spec.spki_der`, valid from now (less the
    /// clock skew allowance) for `spec.validity`, never outside the CA certificate; the
    /// caller stores [`IssuedService::record`].
    pub(crate) fn service_certificate(
        &self,
        state: &Arc<CaState>,
        spec: ServiceCertificate<'_>,
        now: SystemTime,
    ) -> Result<IssuedService, ResponderError> {
        let rt = &state.runtime;
        let mut serial = [0u8; 20];
        self.random
            .fill(&mut serial)
            .map_err(ResponderError::Random)?;
        let serial = SerialNumber::from_random(serial);
        let not_before = now
            .checked_sub(CLOCK_SKEW)
            .unwrap_or(now)
            .max(rt.not_before);
        let not_after = (now + spec.validity).min(rt.not_after);
        let subject = DistinguishedName::parse(&format!("CN={}", spec.common_name))
            .map_err(BuildError::encode("service certificate subject"))?;
        let tbs = signet_x509::encode_tbs_certificate(&TbsCertificateParams {
            serial: serial.as_bytes(),
            signature: rt.signer.algorithm(),
            issuer: &rt.info.subject,
            not_before,
            not_after,
            subject: &subject,
            spki_der: spec.spki_der,
            extensions: &spec.extensions,
        })
        .map_err(BuildError::encode("certificate"))?;
        let signature = rt
            .signer
            .sign(&tbs)
            .map_err(BuildError::sign("certificate"))?;
        let der = signet_x509::assemble_certificate(&tbs, rt.signer.algorithm(), &signature)
            .map_err(BuildError::encode("signed certificate"))?;
        let details = crate::audit_details::to_json(&crate::audit_details::OcspResponder {
            serial: serial.to_hex(),
            purpose: spec.format,
        });
        let record = NewRequest {
            ca: rt.info.name.clone(),
            status: RequestStatus::Issued,
            profile: None,
            requester: Some("system".into()),
            format: spec.format.into(),
            raw: spec.spki_der.to_vec(),
            subject: subject.to_string(),
            submitted_at: now,
            resolved_at: Some(now),
            message: Some(spec.message.into()),
            attributes: Vec::new(),
            extensions: spec
                .extensions
                .iter()
                .map(|e| StoredExtension {
                    oid: e.oid.clone(),
                    critical: e.critical,
                    disabled: false,
                    origin: ExtensionOrigin::Server,
                    value: e.value.clone(),
                })
                .collect(),
            certificate: Some(NewCertificate {
                serial,
                der: der.clone(),
                subject: subject.to_string(),
                sans: Vec::new(),
                not_before,
                not_after,
                shard: CrlScope {
                    key: rt.renewal.key_index,
                    partition: 0,
                }
                .shard(),
                spki_sha256: signet_x509::sha256(spec.spki_der),
                unique_key: false,
            }),
            events: vec![(Event::Issued, details.clone())],
            audit: vec![NewAudit {
                at: now,
                actor: "system".into(),
                action: "issue".into(),
                ca: Some(rt.info.name.clone()),
                target: AuditTarget::ThisRequest,
                details,
            }],
        };
        Ok(IssuedService {
            record,
            der,
            serial,
            not_before,
            not_after,
        })
    }

    /// Issues the SCEP RA certificate of `ca` to `spki_der` (an RSA key: SCEP clients
    /// encrypt to it): digitalSignature and keyEncipherment, valid for `validity` (never
    /// past the CA certificate), recorded and audited as format `scep-ra`. The DER and
    /// serial.
    pub async fn issue_scep_ra_certificate(
        &self,
        ca: &CaName,
        spki_der: &[u8],
        validity: Duration,
    ) -> Result<(Vec<u8>, SerialNumber), ResponderError> {
        let usage = signet_x509::KeyUsage(
            signet_x509::KeyUsage::DIGITAL_SIGNATURE.0 | signet_x509::KeyUsage::KEY_ENCIPHERMENT.0,
        );
        self.issue_front_end_certificate(
            ca,
            spki_der,
            validity,
            FrontEndService {
                name: "SCEP RA",
                usage,
                extended_usage: None,
                format: crate::model::SCEP_RA_FORMAT,
                message: "SCEP RA certificate",
            },
        )
        .await
    }

    /// Issues the CMP responder certificate of `ca` to `spki_der`: the key the CMP front
    /// end signs its responses with (RFC 9483 §3.1): digitalSignature, extended key usage
    /// id-kp-cmcCA (RFC 6402: it speaks for the CA), valid for `validity` (never past the
    /// CA certificate), recorded and audited as format `cmp-responder`. The DER and serial.
    pub async fn issue_cmp_responder_certificate(
        &self,
        ca: &CaName,
        spki_der: &[u8],
        validity: Duration,
    ) -> Result<(Vec<u8>, SerialNumber), ResponderError> {
        self.issue_front_end_certificate(
            ca,
            spki_der,
            validity,
            FrontEndService {
                name: "CMP responder",
                usage: signet_x509::KeyUsage::DIGITAL_SIGNATURE,
                extended_usage: Some(ID_KP_CMC_CA),
                format: crate::model::CMP_RESPONDER_FORMAT,
                message: "CMP responder certificate",
            },
        )
        .await
    }

    async fn issue_front_end_certificate(
        &self,
        ca: &CaName,
        spki_der: &[u8],
        validity: Duration,
        service: FrontEndService,
    ) -> Result<(Vec<u8>, SerialNumber), ResponderError> {
        let state = self.state(ca);
        let now = whole_seconds(self.signing_time()?);
        let key_id = ext::key_identifier(spki_der).map_err(BuildError::encode("key identifier"))?;
        let mut extensions = vec![
            ext::basic_constraints(false, None),
            ext::key_usage(service.usage),
        ];
        if let Some(oid) = service.extended_usage {
            extensions.push(
                ext::extended_key_usage(&[oid.to_owned()])
                    .map_err(BuildError::encode("extended key usage"))?,
            );
        }
        extensions.push(ext::subject_key_identifier(&key_id));
        extensions.push(ext::authority_key_identifier(&state.authority_key_id));
        let issued = self.service_certificate(
            state,
            ServiceCertificate {
                spki_der,
                common_name: format!("{} {}", state.runtime.info.name, service.name),
                extensions,
                validity,
                format: service.format,
                message: service.message,
            },
            now,
        )?;
        self.store
            .create_request(issued.record)
            .await
            .map_err(ResponderError::Record)?;
        self.wake();
        tracing::info!(ca = %ca, serial = %issued.serial, "{} certificate issued", service.name);
        Ok((issued.der, issued.serial))
    }
}

/// id-kp-cmcCA (RFC 6402 §2.10).
const ID_KP_CMC_CA: &str = "1.3.6.1.5.5.7.3.27";

/// A front end's own certificate: what it is called and may do.
struct FrontEndService {
    name: &'static str,
    usage: signet_x509::KeyUsage,
    extended_usage: Option<&'static str>,
    format: &'static str,
    /// The request's message.
    message: &'static str,
}

impl Responder {
    /// Less than a third of the certificate's validity is left.
    fn renewal_due(&self, now: SystemTime) -> bool {
        let lifetime = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        now + lifetime / 3 >= self.not_after
    }
}
