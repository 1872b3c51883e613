//! Seed step 5 and the signing after it: run the policy on a fresh draft, check and apply
//! an officer's edits on a resubmission, and build and sign the certificate. Runs on the
//! worker pool.

use super::*;
use crate::SignerError;

/// The outcome of running the policy (and signing) for one request.
pub(crate) struct Prepared {
    pub(crate) props: RequestProps,
    pub(crate) status: RequestStatus,
    pub(crate) message: Option<String>,
    pub(crate) extensions: Vec<StoredExtension>,
    pub(crate) certificate: Option<NewCertificate>,
    pub(crate) event: Option<Event>,
    pub(crate) details: String,
}

/// Runs the policy module on a fresh draft and, on `Issue`, builds and signs the
/// certificate. Runs on the worker pool.
///
/// On a resubmission, `officer_edits` are the extensions a certificate manager set or
/// disabled on the pending request (origin `Admin`). When the policy answers `Issue`, each
/// is checked again (the engine's rules, then `Policy::check_edit`: a refused edit denies
/// the request, naming it) and applied to the draft; an edited subjectAltName replaces the
/// SANs the policy chose.
///
/// `Err` only when the CA key cannot be reached (its token or HSM is away): the request is
/// not recorded at all, and the client is told to retry (503), since nothing about it was
/// decided.
pub(crate) fn decide(
    ca: &CaState,
    props: RequestProps,
    serial: SerialNumber,
    now: SystemTime,
    new_request: bool,
    approver: Option<&str>,
    officer_edits: &[StoredExtension],
) -> Result<Prepared, EnrollError> {
    let rt = &ca.runtime;
    // A resubmission to a CA that has gone offline since the request came in.
    crate::offline::refuse_requests(rt)?;
    // The profile may ask for another backdate (within MAX_BACKDATE); the draft starts
    // there, so a policy can only narrow it.
    let needs = rt.policy.issuance(&props.profile);
    let backdate = needs.backdate.unwrap_or(CLOCK_SKEW).min(MAX_BACKDATE);
    let floor = now.checked_sub(backdate).unwrap_or(now).max(rt.not_before);
    let mut draft = Draft::new(floor, rt.not_after, &props.csr.extensions);
    let verdict = {
        let mut ctx = PolicyCtx::new(&props, &mut draft, new_request, approver);
        rt.policy.verify(&mut ctx)
    };
    let verdict = match verdict {
        Ok(Verdict::Issue) => match recheck_officer_edits(rt, &props, officer_edits) {
            Ok(()) => apply_officer_edits(&mut draft, officer_edits).map(|()| Verdict::Issue),
            Err(refused) => Ok(Verdict::Deny(format!(
                "an officer edit is refused: {refused}; edit or disable it, then approve again"
            ))),
        },
        other => other,
    };
    let mut prepared = Prepared {
        props,
        status: RequestStatus::Failed,
        message: None,
        extensions: draft.extensions().to_vec(),
        certificate: None,
        event: None,
        details: "{}".into(),
    };
    match verdict {
        Ok(Verdict::Issue) => match build_certificate(ca, &prepared.props.csr, &draft, serial) {
            Ok((mut certificate, extensions)) => {
                // The profile's unique_key is checked again by the store, in the commit.
                certificate.unique_key = needs.key_holders;
                prepared.status = RequestStatus::Issued;
                prepared.message = Some("issued".into());
                prepared.details = crate::audit_details::to_json(&crate::audit_details::Serial {
                    serial: serial.to_hex(),
                });
                prepared.extensions = extensions;
                prepared.certificate = Some(certificate);
                prepared.event = Some(Event::Issued);
            }
            Err(BuildError::Sign {
                source: SignerError::Unavailable(why),
                ..
            }) => {
                tracing::warn!(ca = %rt.info.name, error = %why, "the CA key is unavailable");
                return Err(EnrollError::Unavailable(
                    "the CA key is unavailable: retry shortly".into(),
                ));
            }
            Err(reason) => {
                // Internal detail stays in the log; the requester gets the incident id.
                let incident = incident_id();
                tracing::error!(ca = %rt.info.name, %incident, ?reason, "certificate could not be built");
                prepared.message = Some(format!(
                    "the certificate could not be built (incident {incident})"
                ));
            }
        },
        Ok(Verdict::Pending(reason)) => {
            prepared.status = RequestStatus::Pending;
            prepared.message = Some(reason);
            prepared.event = Some(Event::Pending);
        }
        Ok(Verdict::Deny(reason)) => {
            prepared.status = RequestStatus::Denied;
            prepared.message = Some(reason);
            prepared.event = Some(Event::Denied);
        }
        Err(e) => {
            let incident = incident_id();
            tracing::error!(ca = %rt.info.name, %incident, error = ?e, "policy module failed");
            prepared.message = Some(format!("the policy module failed (incident {incident})"));
        }
    }
    Ok(prepared)
}

/// The officer's edits pass the same two checks as when they were made (see
/// [`crate::edit`]): a stored edit may predate a change of the profile, or of these rules.
fn recheck_officer_edits(
    rt: &CaRuntime,
    props: &RequestProps,
    edits: &[StoredExtension],
) -> Result<(), EditRefused> {
    for stored in edits.iter().filter(|e| e.origin == ExtensionOrigin::Admin) {
        let edit = crate::edit::edit_of_stored(stored)?;
        check_officer_edit(&edit)?;
        rt.policy.check_edit(props, &edit)?;
    }
    Ok(())
}

fn apply_officer_edits(draft: &mut Draft, edits: &[StoredExtension]) -> Result<(), ModuleError> {
    let failed = |e: String| ModuleError::new("officer edits", e);
    for edit in edits.iter().filter(|e| e.origin == ExtensionOrigin::Admin) {
        if edit.oid == ext::oid::SUBJECT_ALT_NAME {
            if edit.disabled {
                draft.set_sans(Vec::new());
            } else {
                let sans =
                    ext::parse_subject_alt_name(&edit.value).map_err(|e| failed(e.to_string()))?;
                draft.set_sans(sans);
            }
            continue;
        }
        if edit.disabled {
            // Disabling what the draft does not have is already true.
            let _ = draft.disable_extension(&edit.oid);
        } else {
            draft
                .set_extension(
                    Extension {
                        oid: edit.oid.clone(),
                        critical: edit.critical,
                        value: edit.value.clone(),
                    },
                    ExtensionOrigin::Admin,
                )
                .map_err(|e| failed(e.to_string()))?;
        }
    }
    Ok(())
}

/// Turns the draft into a signed certificate. Returns the certificate and the extensions
/// as recorded (the draft's, plus those the CA adds).
fn build_certificate(
    ca: &CaState,
    csr: &CertificationRequest,
    draft: &Draft,
    serial: SerialNumber,
) -> Result<(NewCertificate, Vec<StoredExtension>), BuildError> {
    let rt = &ca.runtime;
    let subject = draft.subject();
    if subject.is_empty() && draft.sans().is_empty() {
        return Err(BuildError::NoName);
    }
    let server = |e: Extension| StoredExtension {
        oid: e.oid,
        critical: e.critical,
        disabled: false,
        origin: ExtensionOrigin::Server,
        value: e.value,
    };
    // basicConstraints comes from the policy (a subordinate-CA profile) or, when the policy
    // set none, is cA=FALSE: a leaf never carries a requester's basicConstraints.
    let policy_bc = draft
        .extensions()
        .iter()
        .any(|e| e.oid == ext::oid::BASIC_CONSTRAINTS && !e.disabled);
    let mut recorded: Vec<StoredExtension> = Vec::with_capacity(draft.extensions().len() + 4);
    if !policy_bc {
        recorded.push(server(ext::basic_constraints(false, None)));
    }
    recorded.extend(
        draft
            .extensions()
            .iter()
            .filter(|e| e.oid != ext::oid::SUBJECT_ALT_NAME || draft.sans().is_empty())
            .filter(|e| e.oid != ext::oid::BASIC_CONSTRAINTS || policy_bc)
            .cloned(),
    );
    if !draft.sans().is_empty() {
        let san = ext::subject_alt_name(draft.sans(), subject.is_empty())
            .map_err(BuildError::encode("subjectAltName"))?;
        recorded.push(server(san));
    }
    let key_id =
        ext::key_identifier(&csr.spki_der).map_err(BuildError::encode("key identifier"))?;
    recorded.push(server(ext::subject_key_identifier(&key_id)));
    recorded.push(server(ext::authority_key_identifier(&ca.authority_key_id)));
    let partition = rt.revocation.partition_for(&serial);
    let shard = super::CrlScope {
        key: rt.renewal.key_index,
        partition,
    }
    .shard();
    for e in ca
        .relying_party_extensions
        .get(partition as usize)
        .into_iter()
        .flatten()
    {
        recorded.push(server(e.clone()));
    }

    let extensions: Vec<Extension> = recorded
        .iter()
        .filter(|e| !e.disabled)
        .map(|e| Extension {
            oid: e.oid.clone(),
            critical: e.critical,
            value: e.value.clone(),
        })
        .collect();
    let algorithm = rt.signer.algorithm();
    let tbs = signet_x509::encode_tbs_certificate(&TbsCertificateParams {
        serial: serial.as_bytes(),
        signature: algorithm,
        issuer: &rt.info.subject,
        not_before: draft.not_before(),
        not_after: draft.not_after(),
        subject,
        spki_der: &csr.spki_der,
        extensions: &extensions,
    })
    .map_err(BuildError::encode("certificate"))?;
    let signature = rt
        .signer
        .sign(&tbs)
        .map_err(BuildError::sign("certificate"))?;
    let der = signet_x509::assemble_certificate(&tbs, algorithm, &signature)
        .map_err(BuildError::encode("signed certificate"))?;
    let certificate = NewCertificate {
        serial,
        der,
        subject: subject.to_string(),
        sans: draft.sans().iter().map(ToString::to_string).collect(),
        not_before: draft.not_before(),
        not_after: draft.not_after(),
        shard,
        spki_sha256: signet_x509::sha256(&csr.spki_der),
        unique_key: false,
    };
    Ok((certificate, recorded))
}
