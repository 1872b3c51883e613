//! CRLs written by `CrlWriter`, checked by the real `openssl crl`, by x509-cert (a second
//! parser) and, when installed, by pkilint's `lint_crl` (PKIX and CA/B Forum BR profiles).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{CertSpec, Openssl, TestKey, serial, validity_now};
use der::Decode;
use signet_x509::crl::{CrlParams, CrlWriter, REMOVE_FROM_CRL, RevokedEntry, parse_crl};
use signet_x509::ext;
use signet_x509::{DistinguishedName, KeyAlgorithm, KeyUsage, pem};

struct Ca {
    key: TestKey,
    dn: DistinguishedName,
    key_id: [u8; 20],
    cert: Vec<u8>,
}

fn make_ca(alg: KeyAlgorithm) -> Ca {
    let key = TestKey::generate(alg);
    let spki = key.spki_der();
    let key_id = ext::key_identifier(&spki).unwrap();
    let dn = DistinguishedName::parse("C=US,O=Signet Test,CN=CRL Test CA").unwrap();
    let (not_before, not_after) = validity_now();
    let cert = CertSpec {
        serial: serial(0x11, 1),
        issuer: &dn,
        subject: &dn,
        spki_der: &spki,
        not_before,
        not_after,
        extensions: vec![
            ext::basic_constraints(true, None),
            ext::key_usage(KeyUsage::KEY_CERT_SIGN.union(KeyUsage::CRL_SIGN)),
            ext::subject_key_identifier(&key_id),
        ],
    }
    .sign(&key);
    Ca {
        key,
        dn,
        key_id,
        cert,
    }
}

const URL: &str = "http://pki.example/crl/demo.crl";
const DELTA_URL: &str = "http://pki.example/crl/demo/delta.crl";

/// One CRL entry: serial, revocation time, reason, invalidity date.
type Entry = ([u8; 20], SystemTime, Option<u8>, Option<SystemTime>);

/// Signs a CRL with `entries`.
fn sign_crl(ca: &Ca, number: u64, delta_base: Option<u64>, entries: &[Entry]) -> Vec<u8> {
    let now = SystemTime::now();
    let params = CrlParams {
        issuer: &ca.dn,
        signature: ca.key.signature_algorithm(),
        this_update: now,
        next_update: now + Duration::from_secs(7 * 86_400),
        number,
        authority_key_id: &ca.key_id,
        delta_base,
        distribution_point: Some(URL),
        freshest: delta_base.is_none().then_some(DELTA_URL),
    };
    let mut w = CrlWriter::new(&params, entries.len()).unwrap();
    for (s, at, reason, invalidity) in entries {
        w.push(&RevokedEntry {
            serial: s,
            revoked_at: *at,
            reason: *reason,
            invalidity_date: *invalidity,
        })
        .unwrap();
    }
    let signature = ca.key.sign(w.tbs());
    w.assemble(&signature).unwrap()
}

fn entries() -> Vec<Entry> {
    let now = SystemTime::now() - Duration::from_secs(3600);
    // 19 octets with the high bit set: 20 once the sign octet is added, the RFC 5280 limit.
    let mut high = [0xf0u8; 20];
    high[0] = 0;
    high[19] = 1;
    vec![
        (
            serial(0x42, 1),
            now,
            Some(1),
            Some(now - Duration::from_secs(86_400)),
        ),
        (serial(0x42, 2), now, Some(6), None),
        (serial(0x42, 3), now, None, None),
        // A serial with the high bit set needs a leading zero octet.
        (high, now, Some(4), None),
        // 2050 and later are GeneralizedTime (RFC 5280 §5.1.2.6).
        (
            serial(0x42, 4),
            UNIX_EPOCH + Duration::from_secs(2_556_144_000),
            Some(5),
            None,
        ),
    ]
}

fn check_with_openssl(o: &Openssl, ca: &Ca, crl: &[u8], name: &str) -> String {
    o.write("ca.pem", pem::encode("CERTIFICATE", &ca.cert));
    o.write(name, crl);
    let out = o.run(&[
        "crl", "-inform", "DER", "-in", name, "-CAfile", "ca.pem", "-noout", "-text",
    ]);
    assert!(out.contains("verify OK"), "{out}");
    x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(crl).unwrap();
    out
}

#[test]
fn full_crls_verify_with_openssl_for_each_key_type() {
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa { bits: 2048 },
    ] {
        let ca = make_ca(alg);
        let o = Openssl::new();
        let crl = sign_crl(&ca, 7, None, &entries());
        let text = check_with_openssl(&o, &ca, &crl, "full.crl");
        assert!(
            text.contains("X509v3 CRL Number: \n                7"),
            "{text}"
        );
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(text.contains("Certificate Hold"), "{text}");
        assert!(text.contains("Superseded"), "{text}");
        assert!(text.contains("Invalidity Date"), "{text}");
        assert!(text.contains("Jan  1 00:00:00 2051 GMT"), "{text}");
        assert!(text.contains(&format!("URI:{URL}")), "{text}");
        assert!(text.contains(&format!("URI:{DELTA_URL}")), "{text}");
        assert!(text.contains("F0F0F0F0"), "{text}");
        let info = parse_crl(&crl).unwrap();
        assert_eq!(info.entries.len(), 5);
        assert_eq!(info.distribution_point().as_deref(), Some(URL));
        lint(&o, "full.crl", &["PKIX"]);
        // The CA/B Forum BRs (§7.2.2) allow neither certificateHold nor removeFromCRL.
        let no_hold: Vec<_> = entries().into_iter().filter(|e| e.2 != Some(6)).collect();
        o.write("br.crl", sign_crl(&ca, 8, None, &no_hold));
        lint(&o, "br.crl", &["PKIX", "BR"]);
    }
}

#[test]
fn the_issuing_distribution_point_has_oid_2_5_29_28_and_is_critical() {
    let ca = make_ca(KeyAlgorithm::P256);
    let crl = sign_crl(&ca, 1, None, &[]);
    let info = parse_crl(&crl).unwrap();
    let idp = info
        .extensions
        .iter()
        .find(|e| e.oid == "2.5.29.28")
        .unwrap();
    assert!(idp.critical);
    assert!(
        !info
            .extensions
            .iter()
            .any(|e| e.oid == "1.3.6.1.5.5.7.1.11")
    );
    // And in the DER itself: OID 2.5.29.28 followed by critical TRUE.
    assert!(common::contains(
        &crl,
        &[0x06, 0x03, 0x55, 0x1d, 0x1c, 0x01, 0x01, 0xff]
    ));
    let o = Openssl::new();
    let text = check_with_openssl(&o, &ca, &crl, "empty.crl");
    assert!(
        text.contains("Issuing Distribution Point: critical"),
        "{text}"
    );
    assert!(text.contains("No Revoked Certificates"), "{text}");
}

#[test]
fn delta_crls_carry_the_base_number_and_remove_from_crl() {
    let ca = make_ca(KeyAlgorithm::P256);
    let now = SystemTime::now() - Duration::from_secs(60);
    let delta = sign_crl(
        &ca,
        9,
        Some(8),
        &[
            (serial(0x43, 1), now, Some(1), None),
            (serial(0x43, 2), now, Some(REMOVE_FROM_CRL), None),
        ],
    );
    let o = Openssl::new();
    let text = check_with_openssl(&o, &ca, &delta, "delta.crl");
    assert!(text.contains("Delta CRL Indicator: critical"), "{text}");
    assert!(text.contains("Remove From CRL"), "{text}");
    assert!(!text.contains("Freshest CRL"), "{text}");
    let info = parse_crl(&delta).unwrap();
    assert_eq!((info.number, info.delta_base), (Some(9), Some(8)));
    lint(&o, "delta.crl", &["PKIX"]);
}

#[test]
fn bad_entries_are_refused() {
    let ca = make_ca(KeyAlgorithm::P256);
    let now = SystemTime::now();
    let params = CrlParams {
        issuer: &ca.dn,
        signature: ca.key.signature_algorithm(),
        this_update: now,
        next_update: now - Duration::from_secs(1),
        number: 1,
        authority_key_id: &ca.key_id,
        delta_base: None,
        distribution_point: None,
        freshest: None,
    };
    assert!(
        CrlWriter::new(&params, 0).is_err(),
        "nextUpdate before thisUpdate"
    );
    let params = CrlParams {
        next_update: now + Duration::from_secs(60),
        ..params
    };
    let mut w = CrlWriter::new(&params, 0).unwrap();
    let entry = |serial: &'static [u8], reason| RevokedEntry {
        serial,
        revoked_at: now,
        reason,
        invalidity_date: None,
    };
    assert!(w.push(&entry(&[0, 0], None)).is_err(), "zero serial");
    assert!(w.push(&entry(&[1; 21], None)).is_err(), "21-octet serial");
    assert!(w.push(&entry(&[1], Some(7))).is_err(), "reason 7 is unused");
    assert!(w.push(&entry(&[1], Some(11))).is_err(), "no reason 11");
    assert_eq!(w.count(), 0);
    assert!(parse_crl(b"\x30\x03\x02\x01\x01").is_err());
}

/// pkilint's `lint_crl` with each profile (PKIX, BR): nothing at WARNING or above.
fn lint(o: &Openssl, name: &str, profiles: &[&str]) {
    for profile in profiles {
        common::pkilint_silent(
            "lint_crl",
            &[
                "-t",
                "CRL",
                "-p",
                profile,
                "-s",
                "WARNING",
                "--document-format",
                "DER",
            ],
            &o.path(name),
        );
    }
}
