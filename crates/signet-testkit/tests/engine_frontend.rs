//! The engine as a protocol front end (ACME, CMP) holds it: only through `signet_api`'s
//! traits, as trait objects. Enrollment through `dyn Enroll`, revocation by the
//! certificate's holder through `dyn HolderRevocation` (seen by OCSP through
//! `dyn PublicRevocation`, checked with `openssl ocsp`, and by the audit log through
//! `dyn Administer`), and the attacks a holder or a requester could try.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use signet_api::admin::Administer;
use signet_api::enroll::{Enroll, EnrollError, SubmitRequest, SubmitResponse};
use signet_api::ids::{CaName, SerialNumber};
use signet_api::model::{RequestStatus, RevocationReason};
use signet_api::revocation::{HolderRequest, HolderRevocation, PublicRevocation};
use signet_testkit::identity::{auditor, manager, requester};
use signet_testkit::openssl;
use signet_testkit::policies::AlwaysIssue;
use signet_testkit::{Harness, TestCa, block_on};

/// What a front end is given: the engine as its narrow traits, never `Authority`.
struct FrontEnd {
    enroll: Arc<dyn Enroll>,
    holder: Arc<dyn HolderRevocation>,
    admin: Arc<dyn Administer>,
    public: Arc<dyn PublicRevocation>,
}

impl FrontEnd {
    fn of(h: &Harness) -> FrontEnd {
        FrontEnd {
            enroll: h.authority.clone(),
            holder: h.authority.clone(),
            admin: h.authority.clone(),
            public: h.authority.clone(),
        }
    }

    /// Submits a request for `host` (a fresh key) as the requester `who`.
    fn submit(&self, ca: &CaName, who: &str, host: &str) -> SubmitResponse {
        block_on(self.enroll.submit(SubmitRequest {
            ca: ca.to_string(),
            csr: signet_testkit::csr::for_host(host),
            profile: None,
            attributes: Vec::new(),
            caller: Some(requester(who)),
        }))
        .unwrap()
    }

    /// Asks the holder revocation for `serial` as `acme-account-7`, who proved possession
    /// of the certificate's key.
    fn revoke_as_holder(
        &self,
        ca: &CaName,
        serial: SerialNumber,
        reason: RevocationReason,
    ) -> Result<signet_api::model::RequestRecord, EnrollError> {
        block_on(self.holder.revoke_as_holder(
            ca,
            HolderRequest {
                serial,
                reason,
                holder: "acme-account-7".into(),
                proof: "acme:certificate-key".into(),
            },
        ))
    }

    /// The newest audit record's sequence number, as an auditor reads it.
    fn audit_head(&self) -> u64 {
        block_on(self.admin.audit_head(Some(&auditor("carol")))).unwrap()
    }
}

/// Issues a certificate for `host` through `dyn Enroll`; returns its serial and DER.
fn issue(fe: &FrontEnd, ca: &CaName, host: &str) -> (SerialNumber, Vec<u8>) {
    let r = fe.submit(ca, "alice", host);
    assert_eq!(r.status, RequestStatus::Issued, "{:?}", r.message);
    (r.serial.unwrap(), r.certificate.unwrap())
}

/// Asks `dyn PublicRevocation` about `leaf` with the request `openssl ocsp` makes, and
/// returns what `openssl ocsp` says of the answer after checking its signature with the
/// CA certificate: `good` or `revoked`.
fn ocsp_status(h: &Harness, fe: &FrontEnd, leaf: &[u8]) -> String {
    openssl::ocsp_status(h.scratch(), &h.ca_certificate, leaf, |request| {
        block_on(fe.public.ocsp(&h.ca, request)).der.to_vec()
    })
}

#[test]
fn submit_through_dyn_enroll_issues_a_certificate_openssl_verifies() {
    let h = TestCa::new(AlwaysIssue).start();
    let fe = FrontEnd::of(&h);
    let ca = block_on(fe.enroll.resolve_ca("localhost/demo")).unwrap();
    assert_eq!(ca, h.ca);
    let r = fe.submit(&ca, "alice", "www.example.test");
    assert_eq!(r.status, RequestStatus::Issued, "{:?}", r.message);
    h.verify_with_openssl(r.certificate.as_ref().unwrap());
    assert_eq!(r.chain, vec![h.ca_certificate.clone()]);

    // The requester retrieves their own request and finds the same certificate.
    let again = block_on(
        fe.enroll
            .retrieve(ca.as_str(), r.id, Some(&requester("alice"))),
    )
    .unwrap();
    assert_eq!(again.status, RequestStatus::Issued);
    assert_eq!(again.certificate, r.certificate);
    assert_eq!(again.serial, r.serial);
}

#[test]
fn retrieving_someone_elses_request_is_refused() {
    let h = TestCa::new(AlwaysIssue).start();
    let fe = FrontEnd::of(&h);
    let r = fe.submit(&h.ca, "alice", "alice.example.test");
    assert_eq!(r.status, RequestStatus::Issued);

    // Another requester is told it does not exist (not that it belongs to someone else).
    let by_mallory = block_on(
        fe.enroll
            .retrieve(h.ca.as_str(), r.id, Some(&requester("mallory"))),
    );
    assert!(
        matches!(by_mallory, Err(EnrollError::NotFound(_))),
        "{by_mallory:?}"
    );
    // Nobody at all is asked to authenticate.
    let anonymous = block_on(fe.enroll.retrieve(h.ca.as_str(), r.id, None));
    assert!(
        matches!(anonymous, Err(EnrollError::Unauthenticated(_))),
        "{anonymous:?}"
    );
    // An officer sees every request.
    let by_officer = block_on(
        fe.enroll
            .retrieve(h.ca.as_str(), r.id, Some(&manager("officer"))),
    )
    .unwrap();
    assert_eq!(by_officer.serial, r.serial);
}

#[test]
fn the_holder_revokes_and_ocsp_and_the_audit_log_say_so() {
    let h = TestCa::new(AlwaysIssue).start();
    let fe = FrontEnd::of(&h);
    let (serial, der) = issue(&fe, &h.ca, "holder.example.test");
    let (_, other_der) = issue(&fe, &h.ca, "bystander.example.test");
    assert_eq!(ocsp_status(&h, &fe, &der), "good");
    let head = fe.audit_head();

    let record = fe
        .revoke_as_holder(&h.ca, serial, RevocationReason::KeyCompromise)
        .unwrap();
    assert_eq!(record.status, RequestStatus::Revoked);
    let revocation = record.certificate.as_ref().unwrap().revocation.unwrap();
    assert_eq!(revocation.reason, RevocationReason::KeyCompromise);

    // Relying parties see it; the other certificate is untouched.
    assert_eq!(ocsp_status(&h, &fe, &der), "revoked");
    assert_eq!(ocsp_status(&h, &fe, &other_der), "good");

    // One audit record: the holder as the actor, how possession was proved as `via`.
    let log = block_on(fe.admin.audit_log(Some(&auditor("carol")), head, 10)).unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    let entry = &log[0];
    assert_eq!(entry.actor, "acme-account-7");
    assert_eq!(entry.action, "revoke");
    assert_eq!(entry.ca.as_deref(), Some("demo"));
    assert_eq!(
        entry.target,
        format!("demo/certificate/{}", serial.to_hex())
    );
    let details: serde_json::Value = serde_json::from_str(&entry.details).unwrap();
    assert_eq!(details["via"], "holder:acme:certificate-key", "{details}");
    assert_eq!(details["reason"], "keyCompromise", "{details}");
    let check = block_on(fe.admin.verify_audit(Some(&auditor("carol")))).unwrap();
    assert_eq!(check.first_broken, None);

    // A second revocation of the same certificate is a conflict and records nothing.
    let head = fe.audit_head();
    let again = fe.revoke_as_holder(&h.ca, serial, RevocationReason::Superseded);
    assert!(matches!(again, Err(EnrollError::Conflict(_))), "{again:?}");
    assert_eq!(fe.audit_head(), head);
}

#[test]
fn a_holder_cannot_put_a_certificate_on_hold() {
    let h = TestCa::new(AlwaysIssue).start();
    let fe = FrontEnd::of(&h);
    let (serial, der) = issue(&fe, &h.ca, "holder.example.test");
    let head = fe.audit_head();

    let hold = fe.revoke_as_holder(&h.ca, serial, RevocationReason::CertificateHold);
    assert!(matches!(hold, Err(EnrollError::BadRequest(_))), "{hold:?}");
    assert_eq!(fe.audit_head(), head, "a refused hold records nothing");
    assert_eq!(ocsp_status(&h, &fe, &der), "good");
}

#[test]
fn a_holder_cannot_revoke_another_cas_or_an_unknown_serial() {
    let h = TestCa::new(AlwaysIssue).start();
    let fe = FrontEnd::of(&h);
    let (mine, mine_der) = issue(&fe, &h.ca, "mine.example.test");
    // Another CA (another engine, another key, another seed) issues its own certificate.
    let elsewhere = TestCa::new(AlwaysIssue).named("other").seed(99).start();
    let other_fe = FrontEnd::of(&elsewhere);
    let (theirs, theirs_der) = issue(&other_fe, &elsewhere.ca, "theirs.example.test");
    assert_ne!(theirs, mine);
    let head = fe.audit_head();

    // The other CA's serial, asked of this CA: not one of its certificates.
    let foreign = fe.revoke_as_holder(&h.ca, theirs, RevocationReason::KeyCompromise);
    assert!(
        matches!(foreign, Err(EnrollError::NotFound(_))),
        "{foreign:?}"
    );
    // A serial nobody issued.
    let unknown: SerialNumber = "7f0102030405060708090a0b0c0d0e0f10111213".parse().unwrap();
    let missing = fe.revoke_as_holder(&h.ca, unknown, RevocationReason::KeyCompromise);
    assert!(
        matches!(missing, Err(EnrollError::NotFound(_))),
        "{missing:?}"
    );
    // A CA this server does not hold.
    let nowhere = CaName::new("nowhere").unwrap();
    let no_ca = fe.revoke_as_holder(&nowhere, mine, RevocationReason::KeyCompromise);
    assert!(matches!(no_ca, Err(EnrollError::UnknownCa(_))), "{no_ca:?}");

    // Nothing changed: no audit record, both certificates still good where they live.
    assert_eq!(fe.audit_head(), head);
    assert_eq!(ocsp_status(&h, &fe, &mine_der), "good");
    assert_eq!(ocsp_status(&elsewhere, &other_fe, &theirs_der), "good");
    let details = block_on(
        fe.admin
            .certificate_details(Some(&manager("officer")), &h.ca, mine),
    )
    .unwrap();
    assert_eq!(details.record.status, RequestStatus::Issued);
}
