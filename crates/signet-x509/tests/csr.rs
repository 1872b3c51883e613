//! PKCS#10 parsing against requests made by the real `openssl` CLI, plus hostile inputs.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{Openssl, Rng, TestKey, seq, tlv};
use signet_x509::{DistinguishedName, Error, KeyAlgorithm, San, parse_csr};

fn expected_sans() -> Vec<San> {
    vec![
        San::Dns("a.example".into()),
        San::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        San::Email("x@example.com".into()),
        San::Uri("https://x.example".into()),
    ]
}

/// Parses an openssl-made request and checks every field.
fn check_openssl_csr(key_spec: &str, extra: &[&str], expected: KeyAlgorithm) -> Vec<u8> {
    let o = Openssl::new();
    o.genkey("key.pem", key_spec);
    let pem = o.csr("key.pem", "req.pem", extra);
    let req = parse_csr(&pem).unwrap_or_else(|e| panic!("{key_spec} {extra:?}: {e}"));
    assert_eq!(req.key, expected);
    assert_eq!(req.sans, expected_sans());
    assert_eq!(req.challenge_password.as_deref(), Some("s3cret-pass"));
    assert_eq!(req.subject.to_string(), "C=US,O=Example Corp,CN=demo");
    assert_eq!(
        req.subject,
        DistinguishedName::parse("C=US,O=Example Corp,CN=demo").unwrap(),
        "our encoding of the DN string matches OpenSSL's byte for byte"
    );
    assert_eq!(req.subject.common_name().as_deref(), Some("demo"));
    assert_eq!(req.extensions.len(), 1);
    assert_eq!(req.extensions[0].oid, "2.5.29.17");
    assert!(!req.extensions[0].critical);

    // The SPKI matches what openssl extracts from the key.
    o.run(&[
        "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
    ]);
    assert_eq!(req.spki_der, o.read("pub.der"));

    // DER input gives the same result, and `der` is the DER.
    o.run(&[
        "req", "-in", "req.pem", "-outform", "DER", "-out", "req.der",
    ]);
    let der = o.read("req.der");
    let again = parse_csr(&der).unwrap();
    assert_eq!(again.der, der);
    assert_eq!(req.der, der);
    der
}

#[test]
fn p256_request() {
    check_openssl_csr("ec:P-256", &[], KeyAlgorithm::P256);
    check_openssl_csr("ec:P-256", &["-sha384"], KeyAlgorithm::P256);
    check_openssl_csr("ec:P-256", &["-sha512"], KeyAlgorithm::P256);
}

#[test]
fn p384_request() {
    check_openssl_csr("ec:P-384", &["-sha384"], KeyAlgorithm::P384);
    check_openssl_csr("ec:P-384", &["-sha256"], KeyAlgorithm::P384);
}

#[test]
fn ed25519_request() {
    check_openssl_csr("ED25519", &[], KeyAlgorithm::Ed25519);
}

#[test]
fn rsa_pkcs1_request() {
    let rsa = KeyAlgorithm::Rsa { bits: 2048 };
    check_openssl_csr("rsa:2048", &["-sha256"], rsa);
    check_openssl_csr("rsa:2048", &["-sha512"], rsa);
    check_openssl_csr("rsa:3072", &["-sha384"], KeyAlgorithm::Rsa { bits: 3072 });
}

#[test]
fn rsa_pss_request() {
    let rsa = KeyAlgorithm::Rsa { bits: 2048 };
    // OpenSSL's default PSS salt when signing is the maximum (222 octets for 2048/SHA-256).
    check_openssl_csr(
        "rsa:2048",
        &["-sha256", "-sigopt", "rsa_padding_mode:pss"],
        rsa,
    );
    for (digest, salt) in [("-sha384", "digest"), ("-sha512", "20"), ("-sha256", "0")] {
        let saltopt = format!("rsa_pss_saltlen:{salt}");
        check_openssl_csr(
            "rsa:2048",
            &[
                digest,
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &saltopt,
            ],
            rsa,
        );
    }
}

#[test]
fn new_certificate_request_label_and_printable_password() {
    let o = Openssl::new();
    o.genkey("key.pem", "ec:P-256");
    o.write(
        "req.cnf",
        "[req]\nprompt = no\nstring_mask = default\ndistinguished_name = dn\n\
         attributes = attrs\n[dn]\nCN = legacy\n[attrs]\nchallengePassword = abc123\n",
    );
    o.run(&[
        "req", "-new", "-config", "req.cnf", "-key", "key.pem", "-outform", "DER", "-out", "r.der",
    ]);
    let der = o.read("r.der");
    // PrintableString password, and a request without extensions.
    assert!(common::contains(&der, b"\x13\x06abc123"));
    let pem = signet_x509::pem::encode("NEW CERTIFICATE REQUEST", &der);
    let req = parse_csr(pem.as_bytes()).unwrap();
    assert_eq!(req.challenge_password.as_deref(), Some("abc123"));
    assert!(req.extensions.is_empty() && req.sans.is_empty());
    assert_eq!(req.subject.to_string(), "CN=legacy");
}

#[test]
fn tampered_signature_is_bad_signature() {
    for (spec, extra) in [
        ("ec:P-256", &[][..]),
        ("ec:P-384", &["-sha384"][..]),
        ("ED25519", &[][..]),
        ("rsa:2048", &[][..]),
        ("rsa:2048", &["-sigopt", "rsa_padding_mode:pss"][..]),
    ] {
        let o = Openssl::new();
        o.genkey("key.pem", spec);
        o.csr("key.pem", "req.pem", extra);
        o.run(&[
            "req", "-in", "req.pem", "-outform", "DER", "-out", "req.der",
        ]);
        let der = o.read("req.der");
        // The signature BIT STRING is the last field; flip its last byte.
        let mut bad = der.clone();
        *bad.last_mut().unwrap() ^= 0x01;
        assert!(
            matches!(parse_csr(&bad), Err(Error::BadSignature)),
            "{spec}"
        );
        // Changing a signed byte (the CN "demo" -> "demp") breaks the signature too.
        let pos = der.windows(4).position(|w| w == b"demo").unwrap();
        let mut bad = der.clone();
        bad[pos + 3] = b'p';
        assert!(
            matches!(parse_csr(&bad), Err(Error::BadSignature)),
            "{spec}"
        );
    }
}

#[test]
fn hostile_inputs_are_malformed_without_panics() {
    let o = Openssl::new();
    o.genkey("key.pem", "ec:P-256");
    let pem = o.csr("key.pem", "req.pem", &[]);
    o.run(&[
        "req", "-in", "req.pem", "-outform", "DER", "-out", "req.der",
    ]);
    let der = o.read("req.der");

    let malformed = |input: &[u8], why: &str| match parse_csr(input) {
        Err(Error::Malformed { .. }) => {}
        other => panic!("{why}: expected Malformed, got {other:?}"),
    };
    malformed(b"", "empty");
    malformed(b"   \n", "whitespace");
    for len in 0..der.len() {
        malformed(&der[..len], "truncated DER");
    }
    let mut trailing = der.clone();
    trailing.push(0);
    malformed(&trailing, "trailing data");
    malformed(&pem[..pem.len() / 2], "truncated PEM");
    let text = String::from_utf8(pem.clone()).unwrap();
    malformed(
        text.replace("CERTIFICATE REQUEST", "CERTIFICATE")
            .as_bytes(),
        "wrong PEM label",
    );
    malformed(
        signet_x509::pem::encode("PRIVATE KEY", &der).as_bytes(),
        "wrong PEM label",
    );

    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    for i in 0..2000 {
        let n = (rng.next() % 700) as usize;
        let mut junk = rng.bytes(n);
        if i % 2 == 0 && !junk.is_empty() {
            junk[0] = 0x30; // Take the DER path.
        }
        malformed(&junk, "random garbage");
    }

    // Every single-byte corruption of a valid request fails cleanly (any error) or, where the
    // byte is not covered by anything we check, still parses; it never panics.
    for i in 0..der.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut m = der.clone();
            m[i] ^= mask;
            let _ = parse_csr(&m);
        }
    }
}

#[test]
fn weak_and_unknown_keys_are_unsupported() {
    let unsupported = |spec: &str, needle: &str| {
        let o = Openssl::new();
        o.genkey("key.pem", spec);
        let pem = o.csr("key.pem", "req.pem", &[]);
        match parse_csr(&pem) {
            Err(Error::Unsupported { detail, .. }) => {
                assert!(detail.contains(needle), "{spec}: {detail}")
            }
            other => panic!("{spec}: expected Unsupported, got {other:?}"),
        }
    };
    unsupported("rsa:1024", "1024-bit RSA");
    unsupported("ec:P-521", "1.3.132.0.35");
    unsupported("ec:secp256k1", "1.3.132.0.10");
    unsupported("ED448", "1.3.101.113");
}

#[test]
fn other_general_names_are_unsupported_not_dropped() {
    let o = Openssl::new();
    o.genkey("key.pem", "ec:P-256");
    o.write(
        "req.cnf",
        "[req]\nprompt = no\ndistinguished_name = dn\n[dn]\nCN = upn\n",
    );
    o.run(&[
        "req",
        "-new",
        "-config",
        "req.cnf",
        "-key",
        "key.pem",
        "-addext",
        "subjectAltName=DNS:ok.example,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@example",
        "-out",
        "req.pem",
    ]);
    match parse_csr(&o.read("req.pem")) {
        Err(Error::Unsupported { detail, .. }) => {
            assert!(
                detail.contains("otherName 1.3.6.1.4.1.311.20.2.3"),
                "{detail}"
            )
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

/// Builds and signs a request by hand (OpenSSL 3.0 cannot make ML-DSA keys).
fn handmade_csr(key: &TestKey, subject: &DistinguishedName, san_value: &[u8]) -> Vec<u8> {
    // extensionRequest 1.2.840.113549.1.9.14, subjectAltName 2.5.29.17
    let ext_req_oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e];
    let ext = seq(&[&tlv(0x06, &[0x55, 0x1d, 0x11]), &tlv(0x04, san_value)]);
    let attr = seq(&[&tlv(0x06, &ext_req_oid), &tlv(0x31, &seq(&[&ext]))]);
    let info = seq(&[
        &[0x02, 0x01, 0x00],
        subject.as_der(),
        &key.spki_der(),
        &tlv(0xa0, &attr),
    ]);
    let sig = key.sign(&info);
    let mut bits = vec![0u8];
    bits.extend_from_slice(&sig);
    seq(&[
        &info,
        &key.signature_algorithm().algorithm_identifier_der(),
        &tlv(0x03, &bits),
    ])
}

#[test]
fn ml_dsa_65_request() {
    let key = TestKey::generate(KeyAlgorithm::MlDsa65);
    let subject = DistinguishedName::parse("O=PQ,CN=ml-dsa").unwrap();
    let san = signet_x509::ext::subject_alt_name(&[San::Dns("pq.example".into())], false).unwrap();
    let der = handmade_csr(&key, &subject, &san.value);
    let req = parse_csr(&der).unwrap();
    assert_eq!(req.key, KeyAlgorithm::MlDsa65);
    assert_eq!(req.subject, subject);
    assert_eq!(req.sans, vec![San::Dns("pq.example".into())]);
    assert_eq!(req.spki_der, key.spki_der());
    assert!(req.challenge_password.is_none());

    let mut bad = der.clone();
    let n = bad.len();
    bad[n - 100] ^= 0x04;
    assert!(matches!(parse_csr(&bad), Err(Error::BadSignature)));
}

#[test]
fn handmade_requests_for_each_aws_lc_key() {
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa { bits: 2048 },
    ] {
        let key = TestKey::generate(alg);
        let subject = DistinguishedName::parse("CN=hand").unwrap();
        let san =
            signet_x509::ext::subject_alt_name(&[San::Dns("h.example".into())], false).unwrap();
        let req = parse_csr(&handmade_csr(&key, &subject, &san.value)).unwrap();
        assert_eq!(req.key, alg);
    }
    // A signature algorithm that does not fit the key is Unsupported.
    let key = TestKey::generate(KeyAlgorithm::P256);
    let subject = DistinguishedName::parse("CN=hand").unwrap();
    let info = seq(&[
        &[0x02, 0x01, 0x00],
        subject.as_der(),
        &key.spki_der(),
        &[0xa0, 0x00],
    ]);
    let sig = key.sign(&info);
    let mut bits = vec![0u8];
    bits.extend_from_slice(&sig);
    let ed_alg = signet_x509::SignatureAlgorithm::Ed25519.algorithm_identifier_der();
    let der = seq(&[&info, &ed_alg, &tlv(0x03, &bits)]);
    assert!(matches!(parse_csr(&der), Err(Error::Unsupported { .. })));
    // With the right algorithm the same request verifies.
    let ok_alg = signet_x509::SignatureAlgorithm::EcdsaSha256.algorithm_identifier_der();
    let der = seq(&[&info, &ok_alg, &tlv(0x03, &bits)]);
    assert!(parse_csr(&der).unwrap().extensions.is_empty());
    // An unknown signature algorithm is Unsupported and names the OID (md5WithRSA here).
    let md5 = seq(&[
        &tlv(
            0x06,
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04],
        ),
        &[0x05, 0x00],
    ]);
    let der = seq(&[&info, &md5, &tlv(0x03, &bits)]);
    match parse_csr(&der) {
        Err(Error::Unsupported { detail, .. }) => assert!(detail.contains("1.2.840.113549.1.1.4")),
        other => panic!("{other:?}"),
    }
}

/// One AttributeTypeAndValue of the X.520 attribute 2.5.4.`n` (or a full OID) with a value of
/// string type `tag`.
fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
    seq(&[&tlv(0x06, oid), &tlv(tag, value)])
}

fn x520(n: u8) -> [u8; 3] {
    [0x55, 0x04, n]
}

/// A DER Name of these RDNs (each a SET of the given AttributeTypeAndValues, as written).
fn name(rdns: &[&[Vec<u8>]]) -> DistinguishedName {
    let sets: Vec<Vec<u8>> = rdns.iter().map(|atvs| tlv(0x31, &atvs.concat())).collect();
    let refs: Vec<&[u8]> = sets.iter().map(Vec::as_slice).collect();
    DistinguishedName::from_der(&seq(&refs)).unwrap()
}

fn bmp(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

fn universal(s: &str) -> Vec<u8> {
    s.chars().flat_map(|c| u32::from(c).to_be_bytes()).collect()
}

const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
const UTF8: u8 = 0x0c;
const PRINTABLE: u8 = 0x13;
const T61: u8 = 0x14;
const UNIVERSAL: u8 = 0x1c;
const BMP: u8 = 0x1e;

/// Parses a request for `subject` signed by a fresh P-256 key.
fn request_for(subject: &DistinguishedName) -> Result<signet_x509::CertificationRequest, Error> {
    let key = TestKey::generate(KeyAlgorithm::P256);
    let san = signet_x509::ext::subject_alt_name(&[San::Dns("n.example".into())], false).unwrap();
    parse_csr(&handmade_csr(&key, subject, &san.value))
}

/// Issue 14: strings the requester sent as BMPString, UniversalString or TeletexString (or as
/// a type the attribute does not take) are re-encoded as RFC 5280 wants, so the subject the
/// profile copies into a certificate is UTF8String (PrintableString for countryName and
/// serialNumber, IA5String for emailAddress and domainComponent) whatever the request said.
#[test]
fn request_subject_strings_are_reencoded() {
    let subject = name(&[
        &[atv(&x520(6), BMP, &bmp("DE"))],
        &[atv(&x520(10), T61, b"M\xfcller GmbH")],
        &[atv(&x520(7), UNIVERSAL, &universal("Zürich 𝄞"))],
        // A multi-valued RDN whose order changes once its values are re-encoded.
        &[
            atv(&x520(11), BMP, &bmp("b")),
            atv(&x520(11), UTF8, "a".as_bytes()),
        ],
        &[atv(&x520(5), BMP, &bmp("A-12"))],
        &[atv(EMAIL, BMP, &bmp("a@example.com"))],
        // PrintableString is kept where it is allowed; `*` is not PrintableString.
        &[atv(&x520(12), PRINTABLE, b"Dr")],
        &[atv(&x520(3), PRINTABLE, b"*.example")],
        &[atv(&x520(42), BMP, &bmp("Grüße ☃"))],
    ]);
    let req = request_for(&subject).unwrap();
    let expected = DistinguishedName::parse(
        "C=DE,O=Müller GmbH,L=Zürich 𝄞,OU=a+OU=b,SERIALNUMBER=A-12,emailAddress=a@example.com,\
         title=Dr,CN=*.example,GN=Grüße ☃",
    )
    .unwrap();
    // `parse` writes title as UTF8String; the request's PrintableString is kept.
    let expected_der = expected
        .as_der()
        .windows(4)
        .position(|w| w == [0x0c, 0x02, b'D', b'r'])
        .map(|i| {
            let mut der = expected.as_der().to_vec();
            der[i] = PRINTABLE;
            der
        })
        .unwrap();
    assert_eq!(
        hex(req.subject.as_der()),
        hex(&expected_der),
        "{} -> {}",
        subject,
        req.subject
    );
    // Re-encoding is idempotent: the normalised name asks for nothing more.
    assert_eq!(request_for(&req.subject).unwrap().subject, req.subject);
    // A name that needs nothing is kept byte for byte.
    let plain = DistinguishedName::parse("C=US,O=Example,CN=plain").unwrap();
    assert_eq!(request_for(&plain).unwrap().subject, plain);
    // So is a value that is not a string at all (the profile decides about it).
    let octets = name(&[&[atv(&[0x2a, 0x03], 0x04, b"\x01\x02")]]);
    assert_eq!(request_for(&octets).unwrap().subject, octets);
}

#[test]
fn request_subject_strings_that_do_not_decode_are_refused() {
    let cases: [(&str, DistinguishedName); 9] = [
        (
            "CN",
            name(&[&[atv(&x520(3), BMP, &[0xd8, 0x00, 0x00, b'a'])]]),
        ),
        ("CN", name(&[&[atv(&x520(3), BMP, &[0x00, b'a', 0x00])]])),
        (
            "CN",
            name(&[&[atv(&x520(3), UNIVERSAL, &[0x00, 0x11, 0x00, 0x00])]]),
        ),
        (
            "CN",
            name(&[&[atv(&x520(3), UNIVERSAL, &[0x00, 0x00, 0x41])]]),
        ),
        ("O", name(&[&[atv(&x520(10), UTF8, b"bad \xff utf-8")]])),
        ("O", name(&[&[atv(&x520(10), PRINTABLE, b"caf\xe9")]])),
        ("C", name(&[&[atv(&x520(6), BMP, &bmp("ÄÖ"))]])),
        ("SERIALNUMBER", name(&[&[atv(&x520(5), BMP, &bmp("a_b"))]])),
        (
            "emailAddress",
            name(&[&[atv(EMAIL, BMP, &bmp("ü@example.com"))]]),
        ),
    ];
    for (attribute, subject) in cases {
        match request_for(&subject) {
            Err(e @ Error::Invalid { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(&format!("{attribute} ")),
                    "{subject:?}: the error names {attribute}: {message}"
                );
            }
            other => panic!("{subject:?}: expected Invalid, got {other:?}"),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `encode_csr_info` + `assemble_csr` for each key type: `openssl req -verify` accepts the
/// request and prints its subject and SANs, and `parse_csr` reads back what went in.
#[test]
fn encoded_requests_verify_with_openssl() {
    let subject = DistinguishedName::parse("C=US,O=Example Corp,CN=made.example").unwrap();
    let san = signet_x509::ext::subject_alt_name(&expected_sans(), false).unwrap();
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Rsa { bits: 2048 },
        KeyAlgorithm::Ed25519,
    ] {
        let key = TestKey::generate(alg);
        let info =
            signet_x509::encode_csr_info(&subject, &key.spki_der(), std::slice::from_ref(&san))
                .unwrap();
        let der =
            signet_x509::assemble_csr(&info, key.signature_algorithm(), &key.sign(&info)).unwrap();

        let o = Openssl::new();
        o.write("req.der", &der);
        let text = o.run(&[
            "req", "-inform", "DER", "-in", "req.der", "-verify", "-noout", "-text",
        ]);
        assert!(text.contains("verify OK"), "{alg}: {text}");
        assert!(
            text.contains("Subject: C = US, O = Example Corp, CN = made.example"),
            "{alg}: {text}"
        );
        assert!(text.contains("DNS:a.example"), "{alg}: {text}");
        assert!(text.contains("URI:https://x.example"), "{alg}: {text}");

        let req = parse_csr(&der).unwrap();
        assert_eq!(req.key, alg);
        assert_eq!(req.subject, subject);
        assert_eq!(req.spki_der, key.spki_der());
        assert_eq!(req.sans, expected_sans());
        assert_eq!(req.extensions, vec![san.clone()]);
        assert!(req.challenge_password.is_none() && req.other_attributes.is_empty());
    }

    // No extensions: an empty attributes field, which openssl accepts too.
    let key = TestKey::generate(KeyAlgorithm::P256);
    let info = signet_x509::encode_csr_info(&subject, &key.spki_der(), &[]).unwrap();
    assert!(
        info.ends_with(&[0xa0, 0x00]),
        "an empty [0] attributes field"
    );
    let der =
        signet_x509::assemble_csr(&info, key.signature_algorithm(), &key.sign(&info)).unwrap();
    let o = Openssl::new();
    o.write("req.der", &der);
    o.run(&[
        "req", "-inform", "DER", "-in", "req.der", "-verify", "-noout",
    ]);
    assert!(parse_csr(&der).unwrap().extensions.is_empty());

    // Bad inputs are refused, not encoded.
    assert!(matches!(
        signet_x509::encode_csr_info(&subject, b"\x04\x00", &[]),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        signet_x509::encode_csr_info(&subject, &key.spki_der(), &[san.clone(), san.clone()]),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        signet_x509::assemble_csr(&info, key.signature_algorithm(), &[]),
        Err(Error::Invalid { .. })
    ));
}

/// Attributes Signet does not read are listed by type.
#[test]
fn other_attribute_types_are_listed() {
    let o = Openssl::new();
    o.genkey("key.pem", "ec:P-256");
    o.write(
        "req.cnf",
        "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n\
         [dn]\nCN = x\n[attrs]\nunstructuredName = box-1\n",
    );
    let pem = {
        o.run(&[
            "req", "-new", "-config", "req.cnf", "-key", "key.pem", "-out", "r.pem",
        ]);
        o.read("r.pem")
    };
    let req = parse_csr(&pem).unwrap();
    assert_eq!(
        req.other_attributes,
        vec!["1.2.840.113549.1.9.2".to_owned()]
    );
}
