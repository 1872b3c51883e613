//! Certificates built with `encode_tbs_certificate` + aws-lc-rs signatures, checked by the
//! real `openssl` CLI, x509-cert (a second parser) and, when installed, pkilint.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{CertSpec, Openssl, TestKey, serial, validity_now};
use der::Decode;
use signet_x509::ext::{self, oid};
use signet_x509::{
    DistinguishedName, Extension, KeyAlgorithm, KeyUsage, San, SignatureAlgorithm,
    TbsCertificateParams, encode_tbs_certificate, parse_certificate, pem,
};

struct Ca {
    key: TestKey,
    dn: DistinguishedName,
    key_id: [u8; 20],
    cert: Vec<u8>,
}

fn make_ca(alg: KeyAlgorithm, name: &str) -> Ca {
    let key = TestKey::generate(alg);
    let spki = key.spki_der();
    let key_id = ext::key_identifier(&spki).unwrap();
    let dn = DistinguishedName::parse(&format!("C=US,O=Signet Test,CN={name}")).unwrap();
    let (not_before, not_after) = validity_now();
    let cert = CertSpec {
        serial: serial(0x11, 1),
        issuer: &dn,
        subject: &dn,
        spki_der: &spki,
        not_before,
        not_after,
        extensions: vec![
            ext::basic_constraints(true, Some(0)),
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

fn leaf_sans() -> Vec<San> {
    vec![
        San::Dns("a.example".into()),
        San::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        San::Ip(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
        San::Email("x@example.com".into()),
        San::Uri("https://x.example/p".into()),
    ]
}

fn issue_leaf(ca: &Ca, subject: &DistinguishedName, spki: &[u8], n: u8) -> Vec<u8> {
    let (not_before, not_after) = validity_now();
    CertSpec {
        serial: serial(0x42, n),
        issuer: &ca.dn,
        subject,
        spki_der: spki,
        not_before,
        not_after,
        extensions: vec![
            ext::basic_constraints(false, None),
            ext::key_usage(KeyUsage::DIGITAL_SIGNATURE),
            ext::extended_key_usage(&[
                oid::KP_SERVER_AUTH.to_owned(),
                oid::KP_CLIENT_AUTH.to_owned(),
            ])
            .unwrap(),
            ext::subject_key_identifier(&ext::key_identifier(spki).unwrap()),
            ext::authority_key_identifier(&ca.key_id),
            ext::subject_alt_name(&leaf_sans(), subject.is_empty()).unwrap(),
        ],
    }
    .sign(&ca.key)
}

/// `openssl verify -x509_strict` of `leaf` under `ca`, plus the x509-cert parser.
fn openssl_verifies(o: &Openssl, ca: &[u8], leaf: &[u8], name: &str) {
    o.write("ca.pem", pem::encode("CERTIFICATE", ca));
    o.write(name, pem::encode("CERTIFICATE", leaf));
    let out = o.run(&["verify", "-x509_strict", "-CAfile", "ca.pem", name]);
    assert!(out.contains(": OK"), "{out}");
    x509_cert::Certificate::from_der(ca).unwrap();
    x509_cert::Certificate::from_der(leaf).unwrap();
    pkilint(o, leaf, name);
}

/// pkilint's `lint_pkix_cert`: no finding at ERROR or above.
fn pkilint(o: &Openssl, cert: &[u8], name: &str) {
    let path = o.write(
        &format!("{name}.lint.pem"),
        pem::encode("CERTIFICATE", cert),
    );
    common::pkilint_silent("lint_pkix_cert", &["-s", "ERROR"], &path);
}

#[test]
fn p256_ca_issues_leaves_that_openssl_verifies() {
    let o = Openssl::new();
    let ca = make_ca(KeyAlgorithm::P256, "P-256 CA");
    // Self-signed root verifies against itself.
    openssl_verifies(&o, &ca.cert, &ca.cert, "root.pem");

    let subject = DistinguishedName::parse("C=US,O=Example Corp,CN=leaf.example").unwrap();
    for (n, alg) in [
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa { bits: 2048 },
        KeyAlgorithm::P384,
        KeyAlgorithm::P256,
    ]
    .into_iter()
    .enumerate()
    {
        let key = TestKey::generate(alg);
        let leaf = issue_leaf(&ca, &subject, &key.spki_der(), n as u8);
        openssl_verifies(&o, &ca.cert, &leaf, &format!("leaf-{alg}.pem"));
    }

    // What openssl shows for the extensions of the last leaf.
    let text = o.run(&["x509", "-in", "leaf-p256.pem", "-noout", "-text"]);
    // The leaf's AKI is the CA's SKI.
    let ski = ca
        .key_id
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let aki = text
        .split("X509v3 Authority Key Identifier:")
        .nth(1)
        .unwrap();
    assert!(
        aki.trim_start().starts_with(&ski),
        "AKI is not {ski}:\n{text}"
    );
    for needle in [
        "Version: 3 (0x2)",
        "Serial Number:",
        "42:5a:5a:5a:5a:5a:5a:5a:5a:5a:5a:5a:5a:5a:5a:5a:5a:5a:5a:03",
        "Signature Algorithm: ecdsa-with-SHA256",
        "Issuer: C = US, O = Signet Test, CN = P-256 CA",
        "Subject: C = US, O = Example Corp, CN = leaf.example",
        "X509v3 Basic Constraints: critical\n                CA:FALSE",
        "X509v3 Key Usage: critical\n                Digital Signature\n",
        "X509v3 Extended Key Usage: \n                TLS Web Server Authentication, TLS Web Client Authentication",
        "X509v3 Subject Key Identifier:",
        "X509v3 Authority Key Identifier:",
        "X509v3 Subject Alternative Name: \n                DNS:a.example, IP Address:10.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1, email:x@example.com, URI:https://x.example/p",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let text = o.run(&["x509", "-in", "ca.pem", "-noout", "-text"]);
    for needle in [
        "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0",
        "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let ski_line = text.split("X509v3 Subject Key Identifier:").nth(1).unwrap();
    assert!(
        ski_line.trim_start().starts_with(&ski),
        "SKI is not {ski}:\n{text}"
    );
}

#[test]
fn rsa_and_ed25519_cas_verify_too() {
    for alg in [
        KeyAlgorithm::Rsa { bits: 2048 },
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::P384,
    ] {
        let o = Openssl::new();
        let ca = make_ca(alg, &format!("{alg} CA"));
        openssl_verifies(&o, &ca.cert, &ca.cert, "root.pem");
        let leaf_key = TestKey::generate(KeyAlgorithm::P256);
        let subject = DistinguishedName::parse("CN=leaf").unwrap();
        let leaf = issue_leaf(&ca, &subject, &leaf_key.spki_der(), 7);
        openssl_verifies(&o, &ca.cert, &leaf, "leaf.pem");
        let text = o.run(&["x509", "-in", "leaf.pem", "-noout", "-text"]);
        let expected = match alg {
            KeyAlgorithm::Rsa { .. } => "Signature Algorithm: sha256WithRSAEncryption",
            KeyAlgorithm::Ed25519 => "Signature Algorithm: ED25519",
            _ => "Signature Algorithm: ecdsa-with-SHA384",
        };
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn empty_subject_makes_san_critical_and_verifies() {
    let o = Openssl::new();
    let ca = make_ca(KeyAlgorithm::P256, "CA");
    let key = TestKey::generate(KeyAlgorithm::P256);
    let leaf = issue_leaf(&ca, &DistinguishedName::empty(), &key.spki_der(), 9);
    openssl_verifies(&o, &ca.cert, &leaf, "leaf.pem");
    let text = o.run(&["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert!(
        text.contains("X509v3 Subject Alternative Name: critical"),
        "{text}"
    );
    let info = parse_certificate(&leaf).unwrap();
    assert!(info.subject.is_empty());
    assert!(
        info.extensions
            .iter()
            .any(|e| e.oid == oid::SUBJECT_ALT_NAME && e.critical)
    );
}

#[test]
fn ml_dsa_65_self_signed_certificate() {
    // OpenSSL 3.0 predates ML-DSA, so aws-lc-rs checks the signature and x509-cert the DER.
    let ca = make_ca(KeyAlgorithm::MlDsa65, "ML-DSA CA");
    let parsed = x509_cert::Certificate::from_der(&ca.cert).unwrap();
    assert_eq!(
        parsed.signature_algorithm().oid.to_string(),
        "2.16.840.1.101.3.4.3.18"
    );
    assert!(parsed.signature_algorithm().parameters.is_none());
    let info = parse_certificate(&ca.cert).unwrap();
    assert_eq!(info.spki_der, ca.key.spki_der());
    let tbs = der::Encode::to_der(parsed.tbs_certificate()).unwrap();
    let key = parsed
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ML_DSA_65, key)
        .verify(&tbs, parsed.signature().raw_bytes())
        .unwrap();
}

fn tbs_with(serial: &[u8; 20], not_after: SystemTime, extensions: &[Extension]) -> Vec<u8> {
    let dn = DistinguishedName::parse("CN=t").unwrap();
    let key = TestKey::generate(KeyAlgorithm::Ed25519);
    let spki = key.spki_der();
    encode_tbs_certificate(&TbsCertificateParams {
        serial,
        signature: SignatureAlgorithm::Ed25519,
        issuer: &dn,
        not_before: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        not_after,
        subject: &dn,
        spki_der: &spki,
        extensions,
    })
    .unwrap()
}

#[test]
fn serial_with_7f_first_byte_is_exactly_20_octets() {
    let mut s = [0xffu8; 20];
    s[0] = 0x7f;
    let tbs = tbs_with(&s, UNIX_EPOCH + Duration::from_secs(1_800_000_000), &[]);
    // SEQUENCE header, then version [0] (5 octets), then INTEGER with 20 content octets.
    let hdr = if tbs[1] & 0x80 != 0 {
        2 + usize::from(tbs[1] & 0x7f)
    } else {
        2
    };
    assert_eq!(&tbs[hdr..hdr + 5], &[0xa0, 0x03, 0x02, 0x01, 0x02]);
    assert_eq!(&tbs[hdr + 5..hdr + 7], &[0x02, 0x14]);
    assert_eq!(&tbs[hdr + 7..hdr + 27], &s);

    let key = TestKey::generate(KeyAlgorithm::Ed25519);
    let cert =
        signet_x509::assemble_certificate(&tbs, SignatureAlgorithm::Ed25519, &key.sign(&tbs))
            .unwrap();
    let info = parse_certificate(&cert).unwrap();
    assert_eq!(info.serial_hex, format!("7f{}", "ff".repeat(19)));

    // Serials that would need a sign octet or are not minimal are refused.
    for first in [0x00u8, 0x80, 0xff] {
        let mut s = s;
        s[0] = first;
        let dn = DistinguishedName::empty();
        let r = encode_tbs_certificate(&TbsCertificateParams {
            serial: &s,
            signature: SignatureAlgorithm::Ed25519,
            issuer: &dn,
            not_before: UNIX_EPOCH,
            not_after: UNIX_EPOCH,
            subject: &dn,
            spki_der: &key.spki_der(),
            extensions: &[],
        });
        assert!(
            matches!(r, Err(signet_x509::Error::Invalid { .. })),
            "{first:#x}"
        );
    }
}

#[test]
fn validity_switches_to_generalized_time_in_2050() {
    let utc_2049 = UNIX_EPOCH + Duration::from_secs(2_524_607_999); // 2049-12-31T23:59:59Z
    let tbs = tbs_with(&serial(1, 1), utc_2049, &[]);
    assert!(common::contains(&tbs, b"\x17\x0d491231235959Z"));

    let gen_2051 = UNIX_EPOCH + Duration::from_secs(2_556_143_999) + Duration::from_millis(999);
    let tbs = tbs_with(&serial(1, 1), gen_2051, &[]);
    // notBefore (2023) stays UTCTime; notAfter 2050-12-31T23:59:59.999 is truncated.
    assert!(common::contains(&tbs, b"\x17\x0d231114221320Z"));
    assert!(common::contains(&tbs, b"\x18\x0f20501231235959Z"));

    let in_2051 = UNIX_EPOCH + Duration::from_secs(2_556_144_000 + 86_400 * 40);
    let tbs = tbs_with(&serial(1, 1), in_2051, &[]);
    assert!(common::contains(&tbs, b"\x18\x0f20510210000000Z"));

    let key = TestKey::generate(KeyAlgorithm::Ed25519);
    let cert =
        signet_x509::assemble_certificate(&tbs, SignatureAlgorithm::Ed25519, &key.sign(&tbs))
            .unwrap();
    let info = parse_certificate(&cert).unwrap();
    assert_eq!(info.not_after, in_2051);
    let o = Openssl::new();
    o.write("c.pem", pem::encode("CERTIFICATE", &cert));
    let out = o.run(&["x509", "-in", "c.pem", "-noout", "-enddate"]);
    assert_eq!(out.trim(), "notAfter=Feb 10 00:00:00 2051 GMT");
    x509_cert::Certificate::from_der(&cert).unwrap();
}

#[test]
fn no_extensions_means_no_extensions_field() {
    let tbs = tbs_with(
        &serial(1, 1),
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        &[],
    );
    let parsed = x509_cert::TbsCertificate::from_der(&tbs).unwrap();
    assert!(parsed.extensions().is_none());
    let exts = [ext::basic_constraints(false, None)];
    let tbs = tbs_with(
        &serial(1, 1),
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        &exts,
    );
    let parsed = x509_cert::TbsCertificate::from_der(&tbs).unwrap();
    assert_eq!(parsed.extensions().unwrap().len(), 1);
}

#[test]
fn tbs_rejects_bad_inputs() {
    let dn = DistinguishedName::parse("CN=t").unwrap();
    let key = TestKey::generate(KeyAlgorithm::Ed25519);
    let spki = key.spki_der();
    let s = serial(1, 1);
    let base = TbsCertificateParams {
        serial: &s,
        signature: SignatureAlgorithm::Ed25519,
        issuer: &dn,
        not_before: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        not_after: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        subject: &dn,
        spki_der: &spki,
        extensions: &[],
    };
    let invalid = |p: TbsCertificateParams<'_>| {
        assert!(matches!(
            encode_tbs_certificate(&p),
            Err(signet_x509::Error::Invalid { .. })
        ))
    };
    invalid(TbsCertificateParams {
        not_after: UNIX_EPOCH,
        ..base.clone()
    });
    invalid(TbsCertificateParams {
        spki_der: &spki[..spki.len() - 1],
        ..base.clone()
    });
    let bad_oid = [Extension {
        oid: "1.x".into(),
        critical: false,
        value: vec![5, 0],
    }];
    invalid(TbsCertificateParams {
        extensions: &bad_oid,
        ..base.clone()
    });
    let twice = [
        ext::basic_constraints(false, None),
        ext::basic_constraints(true, None),
    ];
    invalid(TbsCertificateParams {
        extensions: &twice,
        ..base.clone()
    });
    assert!(encode_tbs_certificate(&base).is_ok());
}

#[test]
fn parse_certificate_matches_openssl() {
    let o = Openssl::new();
    o.genkey("key.pem", "ec:P-256");
    o.write(
        "x.cnf",
        "[req]\nprompt = no\ndistinguished_name = dn\nx509_extensions = v3\n\
         [dn]\nC = US\nO = Example Corp\nCN = openssl.example\n\
         [v3]\nsubjectKeyIdentifier = hash\nbasicConstraints = critical,CA:TRUE\n\
         subjectAltName = DNS:a.example,IP:10.0.0.1,IP:2001:db8::1,email:x@example.com,\
         URI:https://x.example,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@example\n",
    );
    o.run(&[
        "req",
        "-x509",
        "-new",
        "-config",
        "x.cnf",
        "-key",
        "key.pem",
        "-days",
        "30",
        "-set_serial",
        "0x00ff0102",
        "-out",
        "c.pem",
    ]);
    let pem_text = o.read("c.pem");
    let info = parse_certificate(&pem_text).unwrap();
    assert_eq!(info.serial_hex, "ff0102");
    assert_eq!(
        info.subject.to_string(),
        "C=US,O=Example Corp,CN=openssl.example"
    );
    assert_eq!(info.issuer, info.subject);
    // The otherName is skipped in this summary.
    assert_eq!(
        info.sans,
        vec![
            San::Dns("a.example".into()),
            San::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            San::Ip("2001:db8::1".parse().unwrap()),
            San::Email("x@example.com".into()),
            San::Uri("https://x.example".into()),
        ]
    );
    let days = info
        .not_after
        .duration_since(info.not_before)
        .unwrap()
        .as_secs()
        / 86_400;
    assert_eq!(days, 30);
    let now = SystemTime::now();
    assert!(info.not_before <= now && now < info.not_after);

    // Our SKI method (SHA-1 of the key bits) equals openssl's `hash` method.
    let ski = info
        .extensions
        .iter()
        .find(|e| e.oid == oid::SUBJECT_KEY_IDENTIFIER)
        .unwrap();
    let ours = ext::key_identifier(&info.spki_der).unwrap();
    assert_eq!(ski.value, ext::subject_key_identifier(&ours).value);
    let bc = info
        .extensions
        .iter()
        .find(|e| e.oid == oid::BASIC_CONSTRAINTS)
        .unwrap();
    assert!(bc.critical);
    assert_eq!(bc.value, ext::basic_constraints(true, None).value);

    o.run(&[
        "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
    ]);
    assert_eq!(info.spki_der, o.read("pub.der"));

    // DER in, and garbage in.
    o.run(&["x509", "-in", "c.pem", "-outform", "DER", "-out", "c.der"]);
    let der = o.read("c.der");
    assert_eq!(parse_certificate(&der).unwrap().serial_hex, "ff0102");
    for len in 0..der.len() {
        assert!(parse_certificate(&der[..len]).is_err());
    }
    let csr_label = pem::encode("CERTIFICATE REQUEST", &der);
    assert!(matches!(
        parse_certificate(csr_label.as_bytes()),
        Err(signet_x509::Error::Malformed { .. })
    ));
    let mut rng = common::Rng(77);
    for _ in 0..1000 {
        let n = (rng.next() % 400) as usize;
        let mut junk = rng.bytes(n);
        if let Some(b) = junk.first_mut() {
            *b = 0x30;
        }
        assert!(parse_certificate(&junk).is_err());
    }
    for i in 0..der.len() {
        let mut m = der.clone();
        m[i] ^= 0x81;
        let _ = parse_certificate(&m);
    }
}
