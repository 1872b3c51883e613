//! The SCEP HTTP front end at `/scep/{ca}` (and `/scep/{ca}/pkiclient.exe`, the path
//! NDES clients know): `GET ?operation=GetCACaps|GetCACert|PKIOperation&message=...`,
//! `POST ?operation=PKIOperation` with a DER body.
//!
//! The flows (RFC 8894 §3.3): a PKCSReq needs a valid challenge password (a one-time one,
//! used up by this request, or the static one), a RenewalReq a signature by a valid
//! certificate of this CA; both go to the CA's policy through `Enroll::submit`. A message
//! with the transactionID and senderNonce of one already answered is a resend (micromdm's
//! scepclient polls that way), and a CertPoll names its transaction: both read the request
//! back instead of making another.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use signet_api::acme::AcmeAudit;
use signet_api::enroll::NotCurrent;
use signet_api::scep::ScepTransaction;
use signet_api::{
    CaName, EnrollError, Identity, RequestStatus, Role, Roles, SubmitRequest, SubmitResponse,
};
use signet_x509::cms::{self, ContentCipher};

use crate::message::{self, Envelope, FailInfo, MessageType, Outcome, Refusal, Request};
use crate::{RaKey, Scep, ScepCa};

/// The largest PKIOperation accepted (a CSR with a few certificates fits many times over).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The SCEP routes and the challenge administration route.
pub fn router(scep: Arc<Scep>) -> Router {
    Router::new()
        .route("/scep/{ca}", get(on_get).post(on_post))
        .route("/scep/{ca}/pkiclient.exe", get(on_get).post(on_post))
        .route(
            "/api/v1/cas/{ca}/scep/challenges",
            post(crate::admin::create_challenge),
        )
        .layer(DefaultBodyLimit::max(MAX_MESSAGE))
        .with_state(scep)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

/// The query's `operation` and `message`, decoded by hand: `+` stays `+` (macOS sends the
/// base64 of `message` unescaped, and form decoding would turn it into a space).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A GET `message`: base64 in either alphabet (certmonger: standard; scepclient: URL-safe),
/// padding optional, whitespace ignored; a space is a `+` that lost its escape.
pub fn decode_message(s: &str) -> Option<Vec<u8>> {
    use base64ct::Encoding;
    if s.len() > MAX_MESSAGE * 4 / 3 + 8 {
        return None;
    }
    let mut norm: String = s
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\t' | '='))
        .map(|c| match c {
            '-' | ' ' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !norm.len().is_multiple_of(4) {
        norm.push('=');
    }
    base64ct::Base64::decode_vec(&norm).ok()
}

async fn on_get(
    State(scep): State<Arc<Scep>>,
    Path(ca): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let Some(settings) = scep.settings(&ca) else {
        return text(StatusCode::NOT_FOUND, "no CA of that name serves SCEP here");
    };
    match query_param(&query, "operation").as_deref() {
        Some("GetCACaps") => get_ca_caps(&scep, settings).await,
        Some("GetCACert") => get_ca_cert(&scep, settings).await,
        Some("GetNextCACert") => get_next_ca_cert(&scep, settings).await,
        Some("PKIOperation") => {
            match query_param(&query, "message").and_then(|m| decode_message(&m)) {
                Some(der) => pki_operation(&scep, settings, &der).await,
                None => text(
                    StatusCode::BAD_REQUEST,
                    "PKIOperation needs a base64 `message` parameter",
                ),
            }
        }
        Some(other) => text(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown operation {:?} (GetCACaps, GetCACert, GetNextCACert, PKIOperation)",
                other.chars().take(40).collect::<String>()
            ),
        ),
        None => text(
            StatusCode::BAD_REQUEST,
            "an `operation` parameter is needed",
        ),
    }
}

async fn on_post(
    State(scep): State<Arc<Scep>>,
    Path(ca): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(settings) = scep.settings(&ca) else {
        return text(StatusCode::NOT_FOUND, "no CA of that name serves SCEP here");
    };
    let operation = query_param(&query.unwrap_or_default(), "operation");
    if operation.as_deref() != Some("PKIOperation") {
        return text(
            StatusCode::BAD_REQUEST,
            "POST is for operation=PKIOperation",
        );
    }
    pki_operation(&scep, settings, &body).await
}

/// What Signet's SCEP does (RFC 8894 §3.5.2): POST, the standard's behaviour, SHA-256 and
/// SHA-512, AES, renewal; GetNextCACert once the CA was renewed with a new key.
async fn get_ca_caps(scep: &Scep, settings: &ScepCa) -> Response {
    let mut caps = String::from("POSTPKIOperation\nSCEPStandard\nSHA-256\nSHA-512\nAES\nRenewal\n");
    if has_next_ca(scep, settings).await {
        caps.push_str("GetNextCACert\n");
    }
    text(StatusCode::OK, caps)
}

/// Whether the CA has a previous key whose certificate is still valid (without signing).
async fn has_next_ca(scep: &Scep, settings: &ScepCa) -> bool {
    let now = std::time::SystemTime::now();
    let Ok(cas) = scep.enroll.list_cas().await else {
        return false;
    };
    cas.iter()
        .filter(|c| c.name == settings.ca.as_str())
        .flat_map(|c| &c.keys)
        .any(|k| !k.current && now <= k.not_after)
}

/// The rollover answer: the renewed CA's chain and the RA certificate, signed by the CA's
/// previous key.
async fn next_ca(scep: &Scep, settings: &ScepCa) -> Result<Option<Vec<u8>>, EnrollError> {
    let extra: Vec<Vec<u8>> = scep
        .ra(&settings.ca)
        .map(|ra| ra.certificate.clone())
        .into_iter()
        .collect();
    scep.revocation
        .next_ca_certificates(&settings.ca, &extra)
        .await
}

/// `GetNextCACert` (`x-x509-next-ca-cert`): after a renewal with a new key, the new CA
/// certificate (and the RA's) signed by the key clients trusted before; 404 otherwise.
async fn get_next_ca_cert(scep: &Scep, settings: &ScepCa) -> Response {
    match next_ca(scep, settings).await {
        Ok(Some(der)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-x509-next-ca-cert")],
            der,
        )
            .into_response(),
        Ok(None) => text(
            StatusCode::NOT_FOUND,
            "this CA has not been renewed with a new key: there is no next CA certificate",
        ),
        Err(e) => unavailable(e),
    }
}

/// The RA certificate and the CA chain, as a degenerate PKCS#7 (`x-x509-ca-ra-cert`):
/// clients encrypt to the RA (the one with keyEncipherment) and verify replies with it.
async fn get_ca_cert(scep: &Scep, settings: &ScepCa) -> Response {
    let Some(ra) = scep.ra(&settings.ca) else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the SCEP RA certificate is not ready",
        );
    };
    let chain = match scep.enroll.chain(settings.ca.as_str()).await {
        Ok(chain) => chain,
        Err(e) => return unavailable(e),
    };
    let mut certs = vec![ra.certificate.clone()];
    certs.extend(chain);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-x509-ca-ra-cert")],
        signet_x509::pkcs7::certs_only(&certs),
    )
        .into_response()
}

fn unavailable(e: EnrollError) -> Response {
    tracing::warn!(error = %e, "SCEP: the CA did not answer");
    match e {
        EnrollError::Unavailable(_) | EnrollError::RateLimited { .. } => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the CA is unavailable; try again later",
        ),
        _ => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the CA failed; see its log",
        ),
    }
}

/// What a message comes to.
enum Answer {
    /// The certificate for a degenerate PKCS#7.
    Issued(Vec<Vec<u8>>),
    /// A CRL for a degenerate PKCS#7.
    Crl(Vec<u8>),
    Pending,
    Failed(FailInfo, String),
}

async fn pki_operation(scep: &Scep, settings: &ScepCa, der: &[u8]) -> Response {
    let ras = scep.ras(&settings.ca);
    let Some(mut ra) = ras.first().cloned() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the SCEP RA certificate is not ready",
        );
    };
    let mut read = message::read(der, &ra, settings.legacy_crypto);
    // Encrypted to the RA key a renewal replaced: that key opens it and signs the answer.
    for older in ras.iter().skip(1) {
        if !matches!(read, Err(Refusal::NotDecrypted(..))) {
            break;
        }
        let again = message::read(der, older, settings.legacy_crypto);
        if !matches!(again, Err(Refusal::NotDecrypted(..))) {
            (read, ra) = (again, Arc::clone(older));
        }
    }
    let request = match read {
        Ok(r) => r,
        Err(Refusal::NotDecrypted(envelope, why)) => {
            tracing::info!(ca = %settings.ca, transaction = %envelope.transaction_id, %why, "SCEP: message refused");
            let answer = Answer::Failed(FailInfo::BadMessageCheck, why);
            return reply(&ra, &envelope, answer, ContentCipher::Aes256Cbc);
        }
        Err(Refusal::Unreadable(why)) => {
            tracing::info!(ca = %settings.ca, %why, "SCEP: unreadable message");
            return text(StatusCode::BAD_REQUEST, why);
        }
        Err(Refusal::Failure(envelope, info, why)) => {
            tracing::info!(ca = %settings.ca, transaction = %envelope.transaction_id, ?info, %why, "SCEP: message refused");
            return reply(
                &ra,
                &envelope,
                Answer::Failed(info, why),
                ContentCipher::Aes256Cbc,
            );
        }
    };
    let answer = match handle(scep, settings, &request).await {
        Ok(answer) => answer,
        Err(response) => return response,
    };
    if let Answer::Failed(info, why) = &answer {
        tracing::info!(ca = %settings.ca, transaction = %request.envelope.transaction_id, ?info, %why, "SCEP: request failed");
    }
    reply(&ra, &request.envelope, answer, request.cipher)
}

fn reply(ra: &RaKey, to: &Envelope, answer: Answer, cipher: ContentCipher) -> Response {
    let degenerate;
    let outcome = match answer {
        Answer::Issued(certs) => {
            degenerate = signet_x509::pkcs7::certs_only(&certs);
            Outcome::Success(&degenerate, cipher)
        }
        Answer::Crl(crl) => {
            degenerate = signet_x509::pkcs7::crls_only(&[crl]);
            Outcome::Success(&degenerate, cipher)
        }
        Answer::Pending => Outcome::Pending,
        Answer::Failed(info, _) => Outcome::Failure(info),
    };
    match message::cert_rep(to, outcome, ra) {
        Ok(der) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-pki-message")],
            der,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "SCEP: could not write the CertRep");
            // The requester's certificate could not be encrypted to (not RSA): say so.
            text(
                StatusCode::BAD_REQUEST,
                format!("no reply can be encrypted to the signer certificate: {e}"),
            )
        }
    }
}

/// The identity a SCEP request is submitted as: a requester on this CA only, in group
/// `scep`.
fn identity(ca: &CaName, name: String, via: String) -> Identity {
    Identity {
        name,
        roles: Roles::from_roles(&[Role::Requester]),
        cas: vec![ca.clone()],
        groups: vec!["scep".to_owned()],
        via,
    }
}

async fn handle(scep: &Scep, settings: &ScepCa, request: &Request) -> Result<Answer, Response> {
    let env = &request.envelope;
    match request.message_type {
        MessageType::PkcsReq | MessageType::RenewalReq => {
            // A resend of a message already answered is a poll.
            let known = scep
                .store
                .scep_transaction(&settings.ca, &env.transaction_id, Some(&env.sender_nonce))
                .await
                .map_err(store_failure)?;
            if let Some(t) = known {
                return poll(scep, settings, &t).await;
            }
            let csr = match signet_x509::parse_csr(&request.content) {
                Ok(csr) => csr,
                Err(e) => {
                    return Ok(Answer::Failed(
                        FailInfo::BadRequest,
                        format!("the PKCS#10 request: {e}"),
                    ));
                }
            };
            // The same request as this transaction's last one (key, subject, challenge) is
            // that enrollment again (certmonger resubmits instead of polling, with a request
            // it builds anew): its answer, unless it failed. Another subject or challenge
            // is a new enrollment.
            if request.message_type == MessageType::PkcsReq
                && let Some(t) = scep
                    .store
                    .scep_transaction(&settings.ca, &env.transaction_id, None)
                    .await
                    .map_err(store_failure)?
                && t.csr_hash == same_request(&csr)
            {
                let answer = poll(scep, settings, &t).await?;
                if !matches!(answer, Answer::Failed(..)) {
                    return Ok(answer);
                }
            }
            enroll(scep, settings, request, csr).await
        }
        MessageType::CertPoll => {
            let known = scep
                .store
                .scep_transaction(&settings.ca, &env.transaction_id, None)
                .await
                .map_err(store_failure)?;
            match known {
                Some(t) => poll(scep, settings, &t).await,
                None => Ok(Answer::Failed(
                    FailInfo::BadCertId,
                    "no request with this transactionID".into(),
                )),
            }
        }
        MessageType::GetCert => {
            // A device may fetch its own certificate (the one it signs with); Signet does
            // not hand out other entities' certificates to unauthenticated callers.
            let own = cms::issuer_and_serial(&env.signer_cert).ok();
            if own.as_deref() == Some(request.content.as_slice())
                && own_certificate(scep, settings, &env.signer_cert)
                    .await?
                    .is_ok()
            {
                Ok(Answer::Issued(vec![env.signer_cert.clone()]))
            } else {
                Ok(Answer::Failed(
                    FailInfo::BadCertId,
                    "GetCert answers only for the signer's own certificate".into(),
                ))
            }
        }
        MessageType::GetCrl => match scep.revocation.crl(&settings.ca, 0, false) {
            Some(crl) => Ok(Answer::Crl(crl.der.to_vec())),
            None => Ok(Answer::Failed(
                FailInfo::BadRequest,
                "no CRL is published yet".into(),
            )),
        },
        MessageType::CertRep => Ok(Answer::Failed(FailInfo::BadRequest, "a CertRep".into())),
    }
}

/// Whether `cert` is a current certificate of this CA (`signet_api::enroll::current_certificate`).
async fn own_certificate(
    scep: &Scep,
    settings: &ScepCa,
    cert: &[u8],
) -> Result<Result<signet_x509::CertificateInfo, NotCurrent>, Response> {
    signet_api::enroll::current_certificate(
        scep.enroll.as_ref(),
        scep.authn.as_ref(),
        settings.ca.as_str(),
        cert,
        SystemTime::now(),
    )
    .await
    .map_err(unavailable)
}

/// A new PKCSReq or RenewalReq: checks the proof the message carries, then submits.
async fn enroll(
    scep: &Scep,
    settings: &ScepCa,
    request: &Request,
    csr: signet_x509::CertificationRequest,
) -> Result<Answer, Response> {
    let env = &request.envelope;
    let bad = |why: String| Answer::Failed(FailInfo::BadRequest, why);
    let now = SystemTime::now();
    let mut attributes = Vec::new();
    let caller = if request.message_type == MessageType::RenewalReq {
        // Signed with the certificate it renews: one of this CA's, valid and not revoked,
        // for the same subject.
        let info = match own_certificate(scep, settings, &env.signer_cert).await? {
            Ok(info) => info,
            Err(why) => {
                return Ok(Answer::Failed(
                    FailInfo::BadMessageCheck,
                    format!("RenewalReq: {why}"),
                ));
            }
        };
        if info.subject.as_der() != csr.subject.as_der() {
            return Ok(bad(format!(
                "RenewalReq: the request's subject {} is not the certificate's {}",
                csr.subject, info.subject
            )));
        }
        attributes.push(("scep_renews".to_owned(), info.serial_hex.clone()));
        let short: String = info.serial_hex.chars().take(32).collect();
        identity(
            &settings.ca,
            format!("scep.renew.{short}"),
            format!("scep:certificate/{}", info.serial_hex),
        )
    } else {
        // PKCSReq: signed by the requested key (RFC 8894 §3.3.1), with a challenge.
        let signer = signet_x509::parse_certificate(&env.signer_cert).ok();
        if signer.map(|s| s.spki_der) != Some(csr.spki_der.clone()) {
            return Ok(Answer::Failed(
                FailInfo::BadMessageCheck,
                "PKCSReq: the message is not signed by the requested key".into(),
            ));
        }
        let Some(challenge) = csr.challenge_password.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(bad("PKCSReq: no challenge password".into()));
        };
        if settings.policy_checks_challenge {
            attributes.push(("challengePassword".to_owned(), challenge.to_owned()));
            identity(
                &settings.ca,
                "scep.policy".into(),
                "scep:policy-challenge".into(),
            )
        } else {
            match check_challenge(scep, settings, challenge, &env.transaction_id, now).await? {
                Some((name, via, kind)) => {
                    attributes.push(("scep_challenge".to_owned(), kind));
                    identity(&settings.ca, name, via)
                }
                None => return Ok(bad("PKCSReq: the challenge password is not valid".into())),
            }
        }
    };
    attributes.push(("scep_transaction".to_owned(), env.transaction_id.clone()));
    let submitted = scep
        .enroll
        .submit(SubmitRequest {
            ca: settings.ca.as_str().to_owned(),
            csr: request.content.clone(),
            profile: Some(settings.profile.clone()),
            attributes,
            caller: Some(caller.clone()),
        })
        .await;
    let response = match submitted {
        Ok(r) => r,
        Err(EnrollError::BadRequest(why) | EnrollError::Forbidden(why)) => return Ok(bad(why)),
        Err(e) => return Err(unavailable(e)),
    };
    let record = scep
        .store
        .record_scep_transaction(ScepTransaction {
            ca: settings.ca.clone(),
            transaction_id: env.transaction_id.clone(),
            sender_nonce: env.sender_nonce.clone(),
            request: response.id,
            csr_hash: same_request(&csr),
            requester: caller.name.clone(),
            created_at: now,
        })
        .await;
    if let Err(e) = record {
        // The request exists; a poll would not find it, so the client is told to retry.
        tracing::error!(ca = %settings.ca, request = %response.id, error = %e, "SCEP: recording the transaction failed");
    }
    Ok(answer(response))
}

/// Checks a challenge password: a one-time one (used up here, audited) or the static one.
/// The identity name, how it authenticated, and what the policy sees.
async fn check_challenge(
    scep: &Scep,
    settings: &ScepCa,
    challenge: &str,
    transaction_id: &str,
    now: SystemTime,
) -> Result<Option<(String, String, String)>, Response> {
    let hash = challenge_hash(challenge);
    if let Some(fixed) = &settings.static_challenge
        && aws_lc_rs::constant_time::verify_slices_are_equal(&challenge_hash(fixed), &hash).is_ok()
    {
        return Ok(Some((
            "scep.static".into(),
            "scep:static-challenge".into(),
            "static".into(),
        )));
    }
    let audit = AcmeAudit {
        at: now,
        actor: "scep".into(),
        action: "scep-challenge-use".into(),
        ca: Some(settings.ca.clone()),
        target: String::new(),
        details: serde_json::json!({ "transaction_id": transaction_id }).to_string(),
    };
    let used = scep
        .store
        .use_scep_challenge(&settings.ca, hash, now, audit)
        .await
        .map_err(store_failure)?;
    Ok(used.map(|c| {
        (
            format!("scep.{}", c.id),
            format!("scep:challenge/{}", c.id),
            format!("one-time {}", c.id),
        )
    }))
}

/// What makes two PKCS#10s the same enrollment: SHA-256 over the key, the subject and the
/// challenge.
fn same_request(csr: &signet_x509::CertificationRequest) -> [u8; 32] {
    let challenge = csr.challenge_password.as_deref().unwrap_or_default();
    let mut parts = Vec::new();
    for part in [
        &csr.spki_der[..],
        csr.subject.as_der(),
        challenge.as_bytes(),
    ] {
        parts.extend_from_slice(&(part.len() as u64).to_be_bytes());
        parts.extend_from_slice(part);
    }
    signet_x509::sha256(&parts)
}

/// SHA-256 of a challenge password, as stored.
pub(crate) fn challenge_hash(challenge: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, challenge.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A resend or a CertPoll: the request's state, read as the identity that submitted it.
async fn poll(scep: &Scep, settings: &ScepCa, t: &ScepTransaction) -> Result<Answer, Response> {
    let caller = identity(&settings.ca, t.requester.clone(), "scep:poll".into());
    match scep
        .enroll
        .retrieve(settings.ca.as_str(), t.request, Some(&caller))
        .await
    {
        Ok(r) => Ok(answer(r)),
        Err(EnrollError::NotFound(_) | EnrollError::Forbidden(_)) => Ok(Answer::Failed(
            FailInfo::BadCertId,
            "the transaction's request is gone".into(),
        )),
        Err(e) => Err(unavailable(e)),
    }
}

fn answer(r: SubmitResponse) -> Answer {
    match (r.status, r.certificate) {
        // The issued certificate alone: a degenerate PKCS#7's certificates are a DER-sorted
        // SET, and clients (micromdm's scepclient) take the first as theirs. The chain is in
        // GetCACert.
        (RequestStatus::Issued, Some(cert)) => Answer::Issued(vec![cert]),
        (RequestStatus::Pending, _) => Answer::Pending,
        (status, _) => Answer::Failed(
            FailInfo::BadRequest,
            format!(
                "request {}: {}{}",
                r.id,
                status.as_str(),
                r.message.map(|m| format!(": {m}")).unwrap_or_default()
            ),
        ),
    }
}

fn store_failure(e: signet_api::acme::AcmeStoreError) -> Response {
    tracing::error!(error = %e, "SCEP: the store failed");
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the CA's database failed",
    )
}
