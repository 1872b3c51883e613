//! Revocation through the engine: revoke, put on hold and release, each seen by the CRL the
//! engine publishes and by the OCSP responses it signs, both checked with `openssl`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use signet_core::{EnrollError, RequestStatus, RevocationReason, SerialNumber, Store};
use signet_testkit::identity::{admin, manager, requester};
use signet_testkit::openssl::{self, path_str, run, write_pem};
use signet_testkit::policies::AlwaysIssue;
use signet_testkit::{Harness, TestCa, block_on};

/// Issues a certificate for `host`; returns its serial and DER.
fn issue(h: &Harness, host: &str) -> (SerialNumber, Vec<u8>) {
    let r = h.submit(Some(&requester("alice")), host).unwrap();
    assert_eq!(r.status, RequestStatus::Issued);
    (r.serial.unwrap(), r.certificate.unwrap())
}

/// Publishes the CA's CRLs as an administrator (only a delta when `delta_only`); returns
/// the newest full CRL and delta (DER), after `openssl crl` checked both signatures with the
/// CA certificate.
fn publish_only(h: &Harness, delta_only: bool) -> (Vec<u8>, Vec<u8>) {
    block_on(
        h.authority
            .publish_crls(Some(&admin("root")), "demo", delta_only),
    )
    .unwrap();
    let full = h.authority.crl("demo", 0, false).unwrap().der.to_vec();
    let delta = h.authority.crl("demo", 0, true).unwrap().der.to_vec();
    let dir = h.scratch();
    let ca = write_pem(dir, "ca.pem", "CERTIFICATE", &h.ca_certificate);
    for (name, der) in [("full.crl", &full), ("delta.crl", &delta)] {
        let crl = write_pem(dir, name, "X509 CRL", der);
        let out = run(&[
            "crl",
            "-in",
            path_str(&crl),
            "-CAfile",
            path_str(&ca),
            "-noout",
        ]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("verify OK"),
            "openssl crl: {text}"
        );
    }
    (full, delta)
}

/// Publishes full CRLs (each with a fresh delta).
fn publish(h: &Harness) -> (Vec<u8>, Vec<u8>) {
    publish_only(h, false)
}

/// The CRL's entries as (serial, reason code).
fn entries(crl: &[u8]) -> Vec<(SerialNumber, Option<u8>)> {
    signet_x509::crl::parse_crl(crl)
        .unwrap()
        .entries
        .into_iter()
        .map(|(serial, _, reason)| (serial.parse().unwrap(), reason))
        .collect()
}

/// Asks the engine about `leaf` over OCSP (the request made by `openssl ocsp`) and returns
/// what `openssl ocsp` says of the answer after checking its signature: `good`, `revoked`.
fn ocsp_status(h: &Harness, leaf: &[u8]) -> String {
    openssl::ocsp_status(h.scratch(), &h.ca_certificate, leaf, |request| {
        block_on(h.authority.ocsp("demo", request)).der.to_vec()
    })
}

#[test]
fn hold_release_and_revocation_are_seen_by_crls_and_ocsp() {
    let h = TestCa::new(AlwaysIssue).start();
    let (held, held_der) = issue(&h, "held.example.test");
    let (gone, gone_der) = issue(&h, "gone.example.test");
    let officer = manager("officer");
    assert_eq!(ocsp_status(&h, &held_der), "good");

    // On hold: listed with reason certificateHold (6), OCSP says revoked.
    let record = block_on(h.authority.revoke(
        Some(&officer),
        "demo",
        held,
        RevocationReason::CertificateHold,
        None,
    ))
    .unwrap();
    assert_eq!(record.status, RequestStatus::Revoked);
    let (full, _) = publish(&h);
    assert_eq!(entries(&full), vec![(held, Some(6))]);
    assert_eq!(ocsp_status(&h, &held_der), "revoked");

    // Released: on the next delta as removeFromCRL (8), then off the full CRL; OCSP good
    // again (the cached `revoked` answer is gone).
    let record = block_on(h.authority.unrevoke(Some(&officer), "demo", held)).unwrap();
    assert_eq!(record.status, RequestStatus::Issued);
    let (_, delta) = publish_only(&h, true);
    assert_eq!(entries(&delta), vec![(held, Some(8))]);
    let (full, delta) = publish(&h);
    assert!(entries(&full).is_empty(), "{:?}", entries(&full));
    assert!(entries(&delta).is_empty(), "a fresh delta of a fresh base");
    assert_eq!(ocsp_status(&h, &held_der), "good");

    // A final revocation: cannot be released, and only a manager revokes.
    let by_requester = block_on(h.authority.revoke(
        Some(&requester("alice")),
        "demo",
        gone,
        RevocationReason::KeyCompromise,
        None,
    ));
    assert!(
        matches!(by_requester, Err(EnrollError::Forbidden(_))),
        "{by_requester:?}"
    );
    block_on(h.authority.revoke(
        Some(&officer),
        "demo",
        gone,
        RevocationReason::KeyCompromise,
        Some(h.now()),
    ))
    .unwrap();
    let release = block_on(h.authority.unrevoke(Some(&officer), "demo", gone));
    assert!(
        matches!(release, Err(EnrollError::Conflict(_))),
        "{release:?}"
    );
    assert_eq!(ocsp_status(&h, &gone_der), "revoked");
    let (full, _) = publish(&h);
    assert_eq!(entries(&full), vec![(gone, Some(1))]);

    // The revocation sequence in the store: hold, release, revoke.
    let scan = block_on(h.store.store.scan_revoked(signet_core::RevokedQuery {
        ca: h.ca.clone(),
        shard: 0,
        changed_after: None,
        expired_before: h.now(),
    }))
    .unwrap();
    assert_eq!(scan.revocation_seq, 3);
}
