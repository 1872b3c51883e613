//! Exact encodings of the extensions the CA writes, and of its AlgorithmIdentifiers.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use der::Decode;
use signet_x509::ext::{self, oid};
use signet_x509::{Error, KeyUsage, San, SignatureAlgorithm};

#[test]
fn key_usage_is_minimal_named_bits() {
    let cases: &[(KeyUsage, &[u8])] = &[
        (KeyUsage::DIGITAL_SIGNATURE, &[0x03, 0x02, 0x07, 0x80]),
        (
            KeyUsage::DIGITAL_SIGNATURE.union(KeyUsage::KEY_ENCIPHERMENT),
            &[0x03, 0x02, 0x05, 0xa0],
        ),
        (
            KeyUsage::KEY_CERT_SIGN.union(KeyUsage::CRL_SIGN),
            &[0x03, 0x02, 0x01, 0x06],
        ),
        (
            KeyUsage::DIGITAL_SIGNATURE.union(KeyUsage::KEY_AGREEMENT),
            &[0x03, 0x02, 0x03, 0x88],
        ),
        (KeyUsage(1 << 7), &[0x03, 0x02, 0x00, 0x01]), // encipherOnly
        (KeyUsage(1 << 8), &[0x03, 0x03, 0x07, 0x00, 0x80]), // decipherOnly
        (KeyUsage(0), &[0x03, 0x01, 0x00]),
    ];
    for (ku, der) in cases {
        let e = ext::key_usage(*ku);
        assert_eq!(e.oid, oid::KEY_USAGE);
        assert!(e.critical);
        assert_eq!(e.value, *der, "{ku:?}");
        // der's BIT STRING decoder enforces DER's unused-bit rules.
        der::asn1::BitString::from_der(&e.value).unwrap();
    }
}

#[test]
fn basic_constraints_omits_default_false() {
    let bc = ext::basic_constraints(false, None);
    assert!(bc.critical);
    assert_eq!(bc.oid, oid::BASIC_CONSTRAINTS);
    assert_eq!(bc.value, [0x30, 0x00]);
    // pathLenConstraint is meaningless (and forbidden) without cA.
    assert_eq!(ext::basic_constraints(false, Some(3)).value, [0x30, 0x00]);
    assert_eq!(
        ext::basic_constraints(true, None).value,
        [0x30, 0x03, 0x01, 0x01, 0xff]
    );
    assert_eq!(
        ext::basic_constraints(true, Some(0)).value,
        [0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00]
    );
    assert_eq!(
        ext::basic_constraints(true, Some(200)).value,
        [0x30, 0x07, 0x01, 0x01, 0xff, 0x02, 0x02, 0x00, 0xc8]
    );
}

#[test]
fn extended_key_usage() {
    let e = ext::extended_key_usage(&[
        ext::eku_oid("serverAuth").unwrap(),
        ext::eku_oid("1.3.6.1.4.1.99999.1").unwrap(),
    ])
    .unwrap();
    assert!(!e.critical);
    assert_eq!(e.oid, oid::EXT_KEY_USAGE);
    assert_eq!(
        e.value,
        [
            0x30, 0x15, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01, 0x06, 0x09,
            0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01,
        ]
    );
    assert!(matches!(
        ext::extended_key_usage(&[]),
        Err(Error::Invalid { .. })
    ));
    for bad in ["serverAuth", "1", "1.2.", "4.1", "1.2.-3"] {
        assert!(
            matches!(
                ext::extended_key_usage(&[bad.to_owned()]),
                Err(Error::Invalid { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn key_identifiers() {
    let id: Vec<u8> = (1..=20).collect();
    let ski = ext::subject_key_identifier(&id);
    assert!(!ski.critical);
    assert_eq!(ski.oid, oid::SUBJECT_KEY_IDENTIFIER);
    assert_eq!(ski.value[..2], [0x04, 20]);
    assert_eq!(ski.value[2..], id[..]);
    let aki = ext::authority_key_identifier(&id);
    assert!(!aki.critical);
    assert_eq!(aki.oid, oid::AUTHORITY_KEY_IDENTIFIER);
    assert_eq!(aki.value[..4], [0x30, 22, 0x80, 20]);
    assert_eq!(aki.value[4..], id[..]);
    let parsed = x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(&aki.value).unwrap();
    assert_eq!(parsed.key_identifier.unwrap().as_bytes(), &id[..]);

    assert!(matches!(
        ext::key_identifier(b"\x30\x00"),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        ext::key_identifier(b""),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn subject_alt_name_encoding_and_checks() {
    let sans = vec![
        San::Dns("a.example".into()),
        San::Ip("10.0.0.1".parse().unwrap()),
        San::Ip("2001:db8::1".parse().unwrap()),
        San::Email("x@example.com".into()),
        San::Uri("https://x.example".into()),
    ];
    let e = ext::subject_alt_name(&sans, false).unwrap();
    assert!(!e.critical);
    assert_eq!(e.oid, oid::SUBJECT_ALT_NAME);
    assert!(ext::subject_alt_name(&sans, true).unwrap().critical);
    assert_eq!(&e.value[2..13], b"\x82\x09a.example");
    assert_eq!(&e.value[13..19], &[0x87, 0x04, 10, 0, 0, 1]);
    assert_eq!(&e.value[19..21], &[0x87, 0x10]);
    assert_eq!(ext::parse_subject_alt_name(&e.value).unwrap(), sans);
    x509_cert::ext::pkix::SubjectAltName::from_der(&e.value).unwrap();

    let invalid = |s: San| {
        assert!(
            matches!(
                ext::subject_alt_name(std::slice::from_ref(&s), false),
                Err(Error::Invalid { .. })
            ),
            "{s}"
        )
    };
    invalid(San::Dns("bücher.example".into()));
    invalid(San::Email("ü@example.com".into()));
    invalid(San::Uri("https://ü.example".into()));
    invalid(San::Dns(String::new()));
    assert!(matches!(
        ext::subject_alt_name(&[], false),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn parse_subject_alt_name_reports_unknown_kinds() {
    // directoryName [4] { Name }: Unsupported, not dropped.
    let value = [0x30, 0x04, 0xa4, 0x02, 0x30, 0x00];
    assert!(matches!(
        ext::parse_subject_alt_name(&value),
        Err(Error::Unsupported { .. })
    ));
    // registeredID [8]
    let value = [0x30, 0x05, 0x88, 0x03, 0x2a, 0x03, 0x04];
    assert!(matches!(
        ext::parse_subject_alt_name(&value),
        Err(Error::Unsupported { .. })
    ));
    // iPAddress of 5 octets, empty GeneralNames, trailing data, non-ASCII dNSName.
    for bad in [
        &[0x30, 0x07, 0x87, 0x05, 1, 2, 3, 4, 5][..],
        &[0x30, 0x00],
        &[0x30, 0x03, 0x82, 0x01, b'a', 0x00],
        &[0x30, 0x03, 0x82, 0x01, 0xe9],
        &[0x30, 0x03, 0x01, 0x01, 0xff],
    ] {
        assert!(
            matches!(
                ext::parse_subject_alt_name(bad),
                Err(Error::Malformed { .. })
            ),
            "{bad:02x?}"
        );
    }
    let ip: IpAddr = "::1".parse().unwrap();
    let e = ext::subject_alt_name(&[San::Ip(ip)], true).unwrap();
    assert_eq!(
        ext::parse_subject_alt_name(&e.value).unwrap(),
        vec![San::Ip(ip)]
    );
}

#[test]
fn algorithm_identifiers() {
    let cases = [
        (SignatureAlgorithm::EcdsaSha256, "1.2.840.10045.4.3.2", None),
        (SignatureAlgorithm::EcdsaSha384, "1.2.840.10045.4.3.3", None),
        (SignatureAlgorithm::Ed25519, "1.3.101.112", None),
        (
            SignatureAlgorithm::RsaPkcs1Sha256,
            "1.2.840.113549.1.1.11",
            Some(vec![0x05, 0x00]),
        ),
        (SignatureAlgorithm::MlDsa65, "2.16.840.1.101.3.4.3.18", None),
    ];
    for (alg, oid, params) in cases {
        let der = alg.algorithm_identifier_der();
        let parsed = spki_alg(&der);
        assert_eq!(parsed.0, oid, "{alg:?}");
        assert_eq!(parsed.1, params, "{alg:?}");
    }
}

/// RSASSA-PSS is written exactly as the CA/Browser Forum Baseline Requirements (7.1.3.2)
/// spell it out in hex, and `openssl asn1parse` reads the parameters as RFC 4055 names them.
#[test]
fn rsassa_pss_is_the_baseline_requirements_encoding() {
    const BR: &str = "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a\
        06092a864886f70d010108300d06096086480165030402010500a203020120";
    let der = SignatureAlgorithm::RsaPssSha256.algorithm_identifier_der();
    let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, BR.replace(' ', ""));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alg.der");
    std::fs::write(&path, &der).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["asn1parse", "-inform", "DER", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for name in ["rsassaPss", "sha256", "mgf1", ":20"] {
        assert!(text.contains(name), "openssl sees {name}:\n{text}");
    }
}

fn spki_alg(der: &[u8]) -> (String, Option<Vec<u8>>) {
    let a = x509_cert::spki::AlgorithmIdentifierOwned::from_der(der).unwrap();
    let params = a.parameters.map(|p| der::Encode::to_der(&p).unwrap());
    (a.oid.to_string(), params)
}

/// nameConstraints read back as written, and a hostile value is an error, not a panic.
#[test]
fn name_constraints_round_trip() {
    use signet_x509::{NameConstraints, NameSubtree};
    let nc = NameConstraints {
        permitted: vec![
            NameSubtree::Dns("example.test".into()),
            NameSubtree::Ip {
                network: "10.1.0.0".parse().unwrap(),
                prefix: 16,
            },
        ],
        excluded: vec![
            NameSubtree::Dns("bad.example.test".into()),
            NameSubtree::Email("example.org".into()),
        ],
    };
    let e = ext::name_constraints(&nc).unwrap();
    assert_eq!(ext::parse_name_constraints(&e.value).unwrap(), nc);
    for bad in [&[][..], &[0x30, 0x02, 0xa0, 0x05], &[0x30, 0x00, 0x00]] {
        assert!(ext::parse_name_constraints(bad).is_err());
    }
}
