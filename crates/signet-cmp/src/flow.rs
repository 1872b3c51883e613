//! The request bodies: ir/cr/kur/p10cr (enrollment), certConf, pollReq, rr, genm, error.
//!
//! Enrollment: one request per message (RFC 9483 §4.1). The proof of possession is checked
//! before anything reaches the CA (badPOP stores nothing); the CA checks it again when it
//! parses the stored request. kur must be signed with the certificate its oldCertID names.
//! An issued certificate waits for certConf unless implicitConfirm was asked for and the CA
//! allows it; unconfirmed by the deadline, it is revoked. A request the profile holds for
//! a manager is answered `waiting`, and pollReq delivers the decision.

use std::str::FromStr;
use std::time::Instant;

use signet_api::revocation::HolderRequest;
use signet_api::{RequestStatus, RevocationReason, SerialNumber, SubmitRequest, SubmitResponse};
use signet_x509::cmp::{
    CertReqMsg, CertResponse, FailInfo, PkiBody, PkiMessage, PkiStatus, PollResponse, ResponseBody,
    StatusInfo,
};

use crate::failure::Failure;
use crate::sender::{Protection, Sender, authenticate};
use crate::transactions::{Key, Refused, Reply, Stage, Transaction};
use crate::{Cmp, CmpCa};

/// The answer body and whether implicitConfirm is granted.
pub type Answer = Result<(ResponseBody, bool), Failure>;

/// Authenticates `msg` and answers its body. The protection to answer with comes back
/// even when the answer is a failure (unprotected when the sender is not known).
pub async fn handle(
    cmp: &Cmp,
    ca: &CmpCa,
    msg: &PkiMessage,
    ca_subject: &[u8],
) -> (Protection, Answer) {
    let sender = match authenticate(cmp, ca, msg).await {
        Ok(s) => s,
        Err(f) => return (Protection::None, Err(f)),
    };
    let answer = answer(cmp, ca, msg, &sender, ca_subject).await;
    if let Err(f) = &answer {
        tracing::info!(ca = %ca.ca, sender = %sender.identity.name, failure = %f.text, "CMP request refused");
    }
    (sender.protection, answer)
}

async fn answer(
    cmp: &Cmp,
    ca: &CmpCa,
    msg: &PkiMessage,
    sender: &Sender,
    ca_subject: &[u8],
) -> Answer {
    check_recipient(cmp, ca, msg, ca_subject)?;
    let txid = msg.header.transaction_id.clone().ok_or_else(|| {
        Failure::new(
            FailInfo::BAD_DATA_FORMAT,
            "the message has no transactionID",
        )
    })?;
    if msg.header.sender_nonce.is_none() {
        return Err(Failure::new(
            FailInfo::BAD_DATA_FORMAT,
            "the message has no senderNonce",
        ));
    }
    let key: Key = (ca.ca.as_str().to_owned(), txid);
    match &msg.body {
        PkiBody::Ir(reqs) => enroll_crmf(cmp, ca, msg, sender, key, reqs, Reply::Ip).await,
        PkiBody::Cr(reqs) => enroll_crmf(cmp, ca, msg, sender, key, reqs, Reply::Cp).await,
        PkiBody::Kur(reqs) => enroll_crmf(cmp, ca, msg, sender, key, reqs, Reply::Kup).await,
        PkiBody::P10cr(csr) => {
            let parsed = signet_x509::parse_csr(csr).map_err(pop_failure)?;
            start(cmp, ca, msg, sender, key, parsed.der, -1, Reply::Cp).await
        }
        PkiBody::CertConf(statuses) => cert_conf(cmp, sender, &key, statuses).await,
        PkiBody::PollReq(ids) => poll(cmp, ca, sender, key, ids).await,
        PkiBody::Rr(details) => revoke(cmp, ca, sender, details).await,
        PkiBody::Genm(items) => Ok((crate::genm::answer(cmp, ca, items).await?, false)),
        PkiBody::Error(_) => {
            // The client gives up on the transaction (RFC 9483 §4.1.1): a certificate it
            // did not confirm is revoked.
            if let Some(t) = owned(cmp, sender, &key)? {
                cmp.transactions.remove(&key);
                if let Stage::Confirm { serial, .. } = t.stage {
                    revoke_unconfirmed(cmp, &key.0, serial, "the client sent an error message")
                        .await;
                }
            }
            Ok((ResponseBody::PkiConf, false))
        }
        PkiBody::PkiConf | PkiBody::Genp(_) | PkiBody::Other(_) => Err(Failure::new(
            FailInfo::BAD_REQUEST,
            format!(
                "a CA does not take a body of type {} (Signet answers ir, cr, p10cr, kur, rr, certConf, pollReq, genm and error)",
                msg.body.tag_number()
            ),
        )),
    }
}

/// The recipient, when it is a directoryName other than the NULL-DN, must name this CA
/// (or its CMP responder).
fn check_recipient(
    cmp: &Cmp,
    ca: &CmpCa,
    msg: &PkiMessage,
    ca_subject: &[u8],
) -> Result<(), Failure> {
    let Some(name) = &msg.header.recipient_name else {
        return Ok(());
    };
    let responder = cmp.responder(&ca.ca);
    let ours = name.is_empty()
        || name.as_der() == ca_subject
        || responder.is_some_and(|r| r.subject == name.as_der());
    if ours {
        Ok(())
    } else {
        Err(Failure::new(
            FailInfo::WRONG_AUTHORITY,
            format!("the message is for {name}, and this is CA {}", ca.ca),
        ))
    }
}

/// What a failed proof of possession or unreadable request is.
fn pop_failure(e: signet_x509::Error) -> Failure {
    match e {
        signet_x509::Error::BadSignature => Failure::new(
            FailInfo::BAD_POP,
            "the proof of possession does not verify with the request's public key",
        ),
        signet_x509::Error::Unsupported { .. } => {
            Failure::new(FailInfo::BAD_CERT_TEMPLATE, e.to_string())
        }
        e => Failure::new(FailInfo::BAD_DATA_FORMAT, e.to_string()),
    }
}

async fn enroll_crmf(
    cmp: &Cmp,
    ca: &CmpCa,
    msg: &PkiMessage,
    sender: &Sender,
    key: Key,
    reqs: &[CertReqMsg],
    reply: Reply,
) -> Answer {
    let [req] = reqs else {
        return Err(Failure::new(
            FailInfo::BAD_REQUEST,
            "one certificate request per message (RFC 9483 section 4.1)",
        ));
    };
    if !matches!(req.pop, signet_x509::cmp::Pop::Signature { .. }) {
        return Err(Failure::new(
            FailInfo::BAD_POP,
            "only a signature proof of possession is accepted",
        ));
    }
    let parsed = signet_x509::csr::from_crmf(req).map_err(pop_failure)?;
    if reply == Reply::Kup {
        check_key_update(sender, req)?;
    }
    start(
        cmp,
        ca,
        msg,
        sender,
        key,
        parsed.der,
        req.cert_req_id,
        reply,
    )
    .await
}

/// kur: signed with the certificate it renews, which oldCertID names (RFC 9483 §4.1.3).
fn check_key_update(sender: &Sender, req: &CertReqMsg) -> Result<(), Failure> {
    let Some((_, info)) = &sender.certificate else {
        return Err(Failure::new(
            FailInfo::NOT_AUTHORIZED,
            "kur must be signed with the certificate it renews",
        ));
    };
    let Some((_, serial)) = &req.old_cert_id else {
        return Err(Failure::new(
            FailInfo::BAD_CERT_ID,
            "kur needs the oldCertID control",
        ));
    };
    if !same_serial(serial, &info.serial_hex) {
        return Err(Failure::new(
            FailInfo::BAD_CERT_ID,
            format!(
                "oldCertID names serial {}, and the message is signed with serial {}",
                SerialNumber::from_magnitude(serial).map_or_else(|_| "?".into(), |s| s.to_hex()),
                info.serial_hex
            ),
        ));
    }
    Ok(())
}

/// Whether INTEGER content octets (positive) are the serial `hex` (as `CertificateInfo`
/// writes it).
fn same_serial(octets: &[u8], hex: &str) -> bool {
    let positive = octets.first().is_some_and(|b| b & 0x80 == 0);
    positive
        && SerialNumber::from_magnitude(octets)
            .ok()
            .zip(SerialNumber::from_str(hex).ok())
            .is_some_and(|(a, b)| a == b)
}

/// Submits a request and answers with what the CA decided.
#[allow(clippy::too_many_arguments)]
async fn start(
    cmp: &Cmp,
    ca: &CmpCa,
    msg: &PkiMessage,
    sender: &Sender,
    key: Key,
    request_der: Vec<u8>,
    cert_req_id: i64,
    reply: Reply,
) -> Answer {
    let transaction = Transaction {
        identity: sender.identity.clone(),
        reply,
        cert_req_id,
        stage: Stage::Submitting,
        opened: Instant::now(),
    };
    cmp.transactions
        .open(key.clone(), transaction.clone())
        .map_err(|e| match e {
            Refused::InUse => Failure::new(
                FailInfo::TRANSACTION_ID_IN_USE,
                "this transactionID is already in use",
            ),
            Refused::Full => Failure::new(
                FailInfo::SYSTEM_UNAVAIL,
                "too many open CMP transactions; try again later",
            ),
        })?;
    let submitted = cmp
        .enroll
        .submit(SubmitRequest {
            ca: ca.ca.as_str().to_owned(),
            csr: request_der,
            profile: Some(ca.profile.clone()),
            attributes: Vec::new(),
            caller: Some(sender.identity.clone()),
        })
        .await;
    let answer = match submitted {
        Ok(answer) => answer,
        Err(e) => {
            cmp.transactions.remove(&key);
            return Err(e.into());
        }
    };
    let implicit = msg.header.implicit_confirm && ca.implicit_confirm;
    decided(cmp, ca, key, transaction, answer, implicit)
}

/// The answer to a CA decision, moving the transaction on.
fn decided(
    cmp: &Cmp,
    ca: &CmpCa,
    key: Key,
    mut t: Transaction,
    answer: SubmitResponse,
    implicit: bool,
) -> Answer {
    let (status, certificate) = match answer.status {
        RequestStatus::Pending => {
            t.stage = Stage::Waiting { request: answer.id };
            cmp.transactions.update(key, t.clone());
            let waiting = StatusInfo {
                status: PkiStatus::Waiting,
                status_string: Some(format!(
                    "request {} waits for a certificate manager; poll for it",
                    answer.id
                )),
                fail_info: FailInfo::default(),
            };
            (waiting, None)
        }
        RequestStatus::Issued => {
            let certificate = answer.certificate.clone().ok_or_else(|| {
                Failure::new(
                    FailInfo::SYSTEM_FAILURE,
                    format!("request {} is issued without a certificate", answer.id),
                )
            })?;
            let serial = answer.serial.ok_or_else(|| {
                Failure::new(
                    FailInfo::SYSTEM_FAILURE,
                    format!("request {} is issued without a serial", answer.id),
                )
            })?;
            if implicit {
                cmp.transactions.remove(&key);
            } else {
                t.stage = Stage::Confirm {
                    serial,
                    certificate: certificate.clone(),
                    deadline: Instant::now() + ca.confirm_wait,
                };
                cmp.transactions.update(key, t.clone());
            }
            (StatusInfo::accepted(), Some(certificate))
        }
        RequestStatus::Denied | RequestStatus::Failed | RequestStatus::Revoked => {
            cmp.transactions.remove(&key);
            let text = answer
                .message
                .unwrap_or_else(|| answer.status.as_str().to_owned());
            (
                StatusInfo::rejection(
                    FailInfo::NOT_AUTHORIZED,
                    &format!("request {} was denied: {text}", answer.id),
                ),
                None,
            )
        }
    };
    let issued = certificate.is_some();
    let responses = vec![CertResponse {
        cert_req_id: t.cert_req_id,
        status,
        certificate,
    }];
    // The CA chain's root as caPubs for an ir (RFC 9483 §4.1.1: the trust anchor a new
    // entity may not have yet).
    let ca_pubs = match (t.reply, answer.chain.last()) {
        (Reply::Ip, Some(root)) if issued => vec![root.clone()],
        _ => Vec::new(),
    };
    let body = match t.reply {
        Reply::Ip => ResponseBody::Ip(ca_pubs, responses),
        Reply::Cp => ResponseBody::Cp(ca_pubs, responses),
        Reply::Kup => ResponseBody::Kup(ca_pubs, responses),
    };
    Ok((body, implicit && issued))
}

/// The open transaction `key`, if the sender opened it.
fn owned(cmp: &Cmp, sender: &Sender, key: &Key) -> Result<Option<Transaction>, Failure> {
    match cmp.transactions.get(key) {
        Some(t) if signet_api::auth::same_identity(&t.identity.name, &sender.identity.name) => {
            Ok(Some(t))
        }
        Some(_) => Err(Failure::new(
            FailInfo::NOT_AUTHORIZED,
            "this transaction belongs to another sender",
        )),
        None => Ok(None),
    }
}

async fn cert_conf(
    cmp: &Cmp,
    sender: &Sender,
    key: &Key,
    statuses: &[signet_x509::cmp::CertStatus],
) -> Answer {
    let t = owned(cmp, sender, key)?.ok_or_else(|| {
        Failure::new(
            FailInfo::BAD_REQUEST,
            "no certificate of this transaction waits for confirmation",
        )
    })?;
    let Stage::Confirm {
        serial,
        certificate,
        ..
    } = &t.stage
    else {
        return Err(Failure::new(
            FailInfo::BAD_REQUEST,
            "the transaction's request has no certificate yet; poll for it",
        ));
    };
    let [status] = statuses else {
        return Err(Failure::new(
            FailInfo::BAD_REQUEST,
            "certConf must confirm the one certificate of the transaction",
        ));
    };
    if status.cert_req_id != t.cert_req_id {
        return Err(Failure::new(
            FailInfo::BAD_REQUEST,
            format!(
                "certConf names certReqId {}, the transaction's is {}",
                status.cert_req_id, t.cert_req_id
            ),
        ));
    }
    if !cert_hash_matches(&status.cert_hash, certificate) {
        return Err(Failure::new(
            FailInfo::BAD_CERT_ID,
            "certHash is not the hash of the certificate issued",
        ));
    }
    cmp.transactions.remove(key);
    let rejected = status
        .status
        .as_ref()
        .is_some_and(|s| s.status == PkiStatus::Rejection);
    if rejected {
        revoke_unconfirmed(cmp, &key.0, *serial, "the client rejected it in certConf").await;
    }
    Ok((ResponseBody::PkiConf, false))
}

/// certHash with the hash of the certificate's signature algorithm (RFC 4210 §5.3.18),
/// or the one RFC 9480's hashAlg names: SHA-256, -384 or -512 by length.
fn cert_hash_matches(hash: &[u8], certificate: &[u8]) -> bool {
    use aws_lc_rs::digest::{SHA256, SHA384, SHA512, digest};
    let alg = match hash.len() {
        32 => &SHA256,
        48 => &SHA384,
        64 => &SHA512,
        _ => return false,
    };
    let ours = digest(alg, certificate);
    aws_lc_rs::constant_time::verify_slices_are_equal(ours.as_ref(), hash).is_ok()
}

async fn poll(cmp: &Cmp, ca: &CmpCa, sender: &Sender, key: Key, ids: &[i64]) -> Answer {
    let t = owned(cmp, sender, &key)?.ok_or_else(|| {
        Failure::new(
            FailInfo::BAD_REQUEST,
            "no request of this transaction is open",
        )
    })?;
    if !ids.iter().all(|id| *id == t.cert_req_id) {
        return Err(Failure::new(
            FailInfo::BAD_REQUEST,
            format!("pollReq names a certReqId other than {}", t.cert_req_id),
        ));
    }
    let request = match t.stage {
        Stage::Waiting { request } => request,
        Stage::Submitting => {
            return Err(Failure::new(
                FailInfo::BAD_REQUEST,
                "the transaction's request is still being submitted",
            ));
        }
        Stage::Confirm { .. } => {
            return Err(Failure::new(
                FailInfo::BAD_REQUEST,
                "the transaction's certificate is issued; confirm it",
            ));
        }
    };
    let answer = cmp
        .enroll
        .retrieve(ca.ca.as_str(), request, Some(&sender.identity))
        .await?;
    if answer.status == RequestStatus::Pending {
        return Ok((
            ResponseBody::PollRep(vec![PollResponse {
                cert_req_id: t.cert_req_id,
                check_after: ca.check_after.as_secs().max(1),
            }]),
            false,
        ));
    }
    // Implicit confirmation was asked for in the first message; the poll has no say.
    decided(cmp, ca, key, t, answer, false)
}

async fn revoke(
    cmp: &Cmp,
    ca: &CmpCa,
    sender: &Sender,
    details: &[signet_x509::cmp::RevDetails],
) -> Answer {
    let [detail] = details else {
        return Err(Failure::new(
            FailInfo::BAD_REQUEST,
            "one revocation per message (RFC 9483 section 4.2)",
        ));
    };
    let Some((_, info)) = &sender.certificate else {
        return Err(Failure::new(
            FailInfo::NOT_AUTHORIZED,
            "rr must be signed with the certificate it revokes",
        ));
    };
    let named = detail
        .serial
        .as_deref()
        .is_some_and(|s| same_serial(s, &info.serial_hex));
    let issuer_ok = detail
        .issuer
        .as_deref()
        .is_none_or(|i| i == info.issuer.as_der());
    if !named || !issuer_ok {
        return Err(Failure::new(
            FailInfo::BAD_CERT_ID,
            "rr names a certificate other than the one that signed it",
        ));
    }
    let reason = detail
        .reason
        .map_or(Some(RevocationReason::Unspecified), |r| {
            RevocationReason::from_code(i64::from(r))
        })
        .ok_or_else(|| Failure::new(FailInfo::BAD_REQUEST, "unknown revocation reason"))?;
    let serial = SerialNumber::from_str(&info.serial_hex)
        .map_err(|e| Failure::new(FailInfo::BAD_CERT_ID, e.to_string()))?;
    cmp.holder
        .revoke_as_holder(
            &ca.ca,
            HolderRequest {
                serial,
                reason,
                holder: format!("cmp:{}", sender.identity.name),
                proof: "cmp:signed-rr".into(),
            },
        )
        .await?;
    Ok((ResponseBody::Rp(vec![StatusInfo::accepted()]), false))
}

/// Revokes a certificate its client did not confirm (reason cessationOfOperation: it was
/// never taken into use).
async fn revoke_unconfirmed(cmp: &Cmp, ca: &str, serial: SerialNumber, why: &str) {
    let Some(name) = cmp.ca(Some(ca)).map(|c| c.ca.clone()) else {
        return;
    };
    let done = cmp
        .holder
        .revoke_as_holder(
            &name,
            HolderRequest {
                serial,
                reason: RevocationReason::CessationOfOperation,
                holder: "cmp".into(),
                proof: format!("cmp:unconfirmed ({why})"),
            },
        )
        .await;
    match done {
        Ok(_) => tracing::info!(ca, %serial, why, "CMP: unconfirmed certificate revoked"),
        Err(e) => {
            tracing::error!(ca, %serial, error = %e, "CMP: revoking an unconfirmed certificate failed")
        }
    }
}

/// Revokes every certificate whose confirmation is overdue.
pub async fn expire_unconfirmed(cmp: &Cmp) -> usize {
    let overdue = cmp.transactions.take_overdue(Instant::now());
    let n = overdue.len();
    for ((ca, _), t) in overdue {
        if let Stage::Confirm { serial, .. } = t.stage {
            revoke_unconfirmed(cmp, &ca, serial, "no certConf in time").await;
        }
    }
    n
}
