//! OCSP requests made by the real `openssl ocsp` client, parsed by `parse_request`; responses
//! built with `encode_response_data` + `assemble_response` and aws-lc-rs signatures, verified
//! by `openssl ocsp` and, when installed, pkilint.
//!
//! `openssl ocsp` ignores `-reqin` as soon as `-cert` is given (it builds a fresh request
//! with a fresh nonce), so each response is checked twice: once against the request file
//! (signature and nonce), once with `-cert ... -no_nonce` (the per-certificate summary).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{CertSpec, Openssl, Rng, TestKey, seq, serial, tlv, validity_now};
use signet_x509::ext::{self, oid};
use signet_x509::ocsp::{
    self, CertId, CertStatus, HashAlg, IssuerHashes, MAX_REQUESTS, OcspRequest, ResponseData,
    ResponseStatus, SingleResponse,
};
use signet_x509::{DistinguishedName, Error, Extension, KeyAlgorithm, KeyUsage, pem};

/// id-pkix-ocsp-nocheck with its NULL value (RFC 6960 §4.2.2.2.1).
fn nocheck() -> Extension {
    Extension {
        oid: "1.3.6.1.5.5.7.48.1.5".into(),
        critical: false,
        value: vec![0x05, 0x00],
    }
}

/// A CA with two leaves and a delegated OCSP responder, all written as PEM into `o`'s dir
/// (`ca.pem`, `leaf1.pem`, `leaf2.pem`, `responder.pem`).
struct Pki {
    ca_key: TestKey,
    ca_cert: Vec<u8>,
    leaves: [Vec<u8>; 2],
    responder_key: TestKey,
    responder_cert: Vec<u8>,
}

impl Pki {
    fn new(o: &Openssl, ca_alg: KeyAlgorithm, responder_alg: KeyAlgorithm) -> Pki {
        let ca_key = TestKey::generate(ca_alg);
        let ca_spki = ca_key.spki_der();
        let ca_key_id = ext::key_identifier(&ca_spki).unwrap();
        let ca_dn =
            DistinguishedName::parse(&format!("C=US,O=Signet Test,CN=OCSP {ca_alg} CA")).unwrap();
        let (not_before, not_after) = validity_now();
        let ca_cert = CertSpec {
            serial: serial(0x11, 1),
            issuer: &ca_dn,
            subject: &ca_dn,
            spki_der: &ca_spki,
            not_before,
            not_after,
            extensions: vec![
                ext::basic_constraints(true, Some(0)),
                ext::key_usage(KeyUsage::KEY_CERT_SIGN.union(KeyUsage::CRL_SIGN)),
                ext::subject_key_identifier(&ca_key_id),
            ],
        }
        .sign(&ca_key);

        let issue = |cn: &str, spki: &[u8], n: u8, extra: Vec<Extension>| {
            let subject = DistinguishedName::parse(&format!("C=US,O=Example,CN={cn}")).unwrap();
            let mut extensions = vec![
                ext::basic_constraints(false, None),
                ext::key_usage(KeyUsage::DIGITAL_SIGNATURE),
                ext::subject_key_identifier(&ext::key_identifier(spki).unwrap()),
                ext::authority_key_identifier(&ca_key_id),
            ];
            extensions.extend(extra);
            CertSpec {
                serial: serial(0x42, n),
                issuer: &ca_dn,
                subject: &subject,
                spki_der: spki,
                not_before,
                not_after,
                extensions,
            }
            .sign(&ca_key)
        };
        let leaf_key = TestKey::generate(KeyAlgorithm::P256);
        let leaves = [
            issue("leaf1.example", &leaf_key.spki_der(), 1, vec![]),
            issue("leaf2.example", &leaf_key.spki_der(), 2, vec![]),
        ];
        let responder_key = TestKey::generate(responder_alg);
        let responder_cert = issue(
            "OCSP Responder",
            &responder_key.spki_der(),
            3,
            vec![
                ext::extended_key_usage(&[oid::KP_OCSP_SIGNING.to_owned()]).unwrap(),
                nocheck(),
            ],
        );
        o.write("ca.pem", pem::encode("CERTIFICATE", &ca_cert));
        o.write("leaf1.pem", pem::encode("CERTIFICATE", &leaves[0]));
        o.write("leaf2.pem", pem::encode("CERTIFICATE", &leaves[1]));
        o.write("responder.pem", pem::encode("CERTIFICATE", &responder_cert));
        Pki {
            ca_key,
            ca_cert,
            leaves,
            responder_key,
            responder_cert,
        }
    }

    /// `openssl ocsp -issuer ca.pem [extra] -cert leaf1.pem ... -reqout <out>`, parsed.
    fn request(&self, o: &Openssl, out: &str, extra: &[&str], leaves: &[&str]) -> OcspRequest {
        let mut args = vec!["ocsp", "-issuer", "ca.pem"];
        args.extend_from_slice(extra);
        for leaf in leaves {
            args.extend_from_slice(&["-cert", leaf]);
        }
        args.extend_from_slice(&["-reqout", out]);
        o.run(&args);
        ocsp::parse_request(&o.read(out)).unwrap()
    }
}

/// Who signs a response.
#[derive(Clone, Copy)]
enum Signer {
    Ca,
    Delegated,
}

/// Answers every CertID in `req` with `status`, signed as `signer`, echoing the nonce.
fn respond(pki: &Pki, req: &OcspRequest, status: CertStatus, signer: Signer) -> Vec<u8> {
    let now = SystemTime::now();
    let responses: Vec<SingleResponse<'_>> = req
        .certs
        .iter()
        .map(|id| SingleResponse {
            cert_id: id,
            status,
            this_update: now - Duration::from_secs(60),
            next_update: now + Duration::from_secs(86_400),
        })
        .collect();
    let (key, certs) = match signer {
        Signer::Ca => (&pki.ca_key, vec![]),
        Signer::Delegated => (&pki.responder_key, vec![pki.responder_cert.clone()]),
    };
    let data = ocsp::encode_response_data(&ResponseData {
        responder_key_hash: ext::key_identifier(&key.spki_der()).unwrap(),
        produced_at: now,
        responses: &responses,
        nonce: req.nonce.as_deref(),
    })
    .unwrap();
    let sig = key.sign(&data);
    ocsp::assemble_response(&data, key.signature_algorithm(), &sig, &certs).unwrap()
}

/// Checks `resp` with `openssl ocsp` against request file `req` (signature and nonce) and
/// against `leaves` (per-certificate status); returns the two outputs.
fn openssl_accepts(
    o: &Openssl,
    resp: &[u8],
    req: &str,
    digest: &[&str],
    leaves: &[&str],
) -> (String, String) {
    o.write("resp.der", resp);
    let bound = o.run(&[
        "ocsp",
        "-respin",
        "resp.der",
        "-issuer",
        "ca.pem",
        "-CAfile",
        "ca.pem",
        "-reqin",
        req,
        "-resp_text",
    ]);
    assert!(bound.contains("Response verify OK"), "{bound}");
    assert!(!bound.contains("WARNING"), "{bound}");
    assert!(!bound.contains("Nonce Verify error"), "{bound}");

    let mut args = vec![
        "ocsp",
        "-respin",
        "resp.der",
        "-issuer",
        "ca.pem",
        "-CAfile",
        "ca.pem",
        "-no_nonce",
    ];
    args.extend_from_slice(digest);
    for leaf in leaves {
        args.extend_from_slice(&["-cert", leaf]);
    }
    let summary = o.run(&args);
    assert!(summary.contains("Response verify OK"), "{summary}");
    assert!(!summary.contains("WARNING"), "{summary}");
    (bound, summary)
}

fn revoked_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600) // 2026-01-01T00:00:00Z
}

#[test]
fn parses_openssl_requests() {
    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::P256, KeyAlgorithm::P256);
    let hashes = IssuerHashes::of_certificate(&pki.ca_cert).unwrap();
    // The issuer hashes are those of the CA, not of a leaf.
    assert!(IssuerHashes::of_certificate(&pki.leaves[0]).unwrap() != hashes);

    let req = pki.request(&o, "nonce.der", &[], &["leaf1.pem"]);
    assert_eq!(req.certs.len(), 1);
    let id = &req.certs[0];
    assert_eq!(id.hash, HashAlg::Sha1);
    assert_eq!(id.serial, serial(0x42, 1));
    assert_eq!(id.serial_magnitude(), Some(&serial(0x42, 1)[..]));
    assert_eq!(id.issuer_name_hash, hashes.sha1_name);
    assert_eq!(id.issuer_key_hash, hashes.sha1_key);
    assert!(hashes.matches(id));
    // openssl sends a 16-octet nonce wrapped in an OCTET STRING.
    let nonce = req.nonce.as_deref().unwrap();
    assert_eq!(nonce.len(), 18);
    assert_eq!(nonce[..2], [0x04, 0x10]);
    // `raw` is the CertID exactly as sent.
    assert!(common::contains(&o.read("nonce.der"), &id.raw));
    assert_eq!(id.raw[0], 0x30);

    let req = pki.request(&o, "no_nonce.der", &["-no_nonce"], &["leaf1.pem"]);
    assert_eq!(req.nonce, None);
    assert!(hashes.matches(&req.certs[0]));

    let req = pki.request(&o, "sha256.der", &["-sha256"], &["leaf1.pem"]);
    let id = &req.certs[0];
    assert_eq!(id.hash, HashAlg::Sha256);
    assert_eq!(id.issuer_name_hash, hashes.sha256_name);
    assert_eq!(id.issuer_key_hash, hashes.sha256_key);
    assert!(hashes.matches(id));
    assert!(req.nonce.is_some());

    let req = pki.request(&o, "two.der", &[], &["leaf1.pem", "leaf2.pem"]);
    let serials: Vec<_> = req.certs.iter().map(|c| c.serial.clone()).collect();
    assert_eq!(
        serials,
        [serial(0x42, 1).to_vec(), serial(0x42, 2).to_vec()]
    );
    assert!(req.certs.iter().all(|c| hashes.matches(c)));

    // A CertID of another issuer does not match.
    let other = Openssl::new();
    let other_pki = Pki::new(&other, KeyAlgorithm::P256, KeyAlgorithm::P256);
    let other_req = other_pki.request(&other, "r.der", &[], &["leaf1.pem"]);
    assert!(!hashes.matches(&other_req.certs[0]));
    // Matching needs both hashes.
    let mut half = req.certs[0].clone();
    half.issuer_key_hash = other_req.certs[0].issuer_key_hash.clone();
    assert!(!hashes.matches(&half));
}

/// Issue 14: CertIDs hashed with SHA-384 and SHA-512 (`openssl ocsp -sha384/-sha512`) name
/// the issuer as well as SHA-1 and SHA-256 ones, and the answer echoing them verifies.
#[test]
fn sha384_and_sha512_cert_ids_match_and_are_answered() {
    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::P256, KeyAlgorithm::P256);
    let hashes = IssuerHashes::of_certificate(&pki.ca_cert).unwrap();
    for (flag, len) in [("-sha384", 48), ("-sha512", 64)] {
        let file = format!("{flag}.der");
        let req = pki.request(&o, &file, &[flag], &["leaf1.pem", "leaf2.pem"]);
        for id in &req.certs {
            assert_eq!(id.issuer_name_hash.len(), len, "{flag}");
            assert!(hashes.matches(id), "{flag}");
        }
        let resp = respond(&pki, &req, CertStatus::Good, Signer::Delegated);
        let (bound, summary) =
            openssl_accepts(&o, &resp, &file, &[flag], &["leaf1.pem", "leaf2.pem"]);
        let name = flag.trim_start_matches('-');
        assert!(
            bound.contains(&format!("Hash Algorithm: {name}")),
            "{bound}"
        );
        assert!(
            summary.contains("leaf1.pem: good") && summary.contains("leaf2.pem: good"),
            "{summary}"
        );
        // Another issuer's CertID with the same hash does not match.
        let other = Openssl::new();
        let other_pki = Pki::new(&other, KeyAlgorithm::P256, KeyAlgorithm::P256);
        let other_req = other_pki.request(&other, "r.der", &[flag], &["leaf1.pem"]);
        assert!(!hashes.matches(&other_req.certs[0]), "{flag}");
    }
}

#[test]
fn ca_signed_responses_verify_with_openssl() {
    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::P256, KeyAlgorithm::P256);
    let req = pki.request(&o, "req.der", &[], &["leaf1.pem"]);

    let resp = respond(&pki, &req, CertStatus::Good, Signer::Ca);
    let (bound, summary) = openssl_accepts(&o, &resp, "req.der", &[], &["leaf1.pem"]);
    assert!(bound.contains("Cert Status: good"), "{bound}");
    assert!(bound.contains("OCSP Nonce"), "{bound}");
    let key_hash = hex::encode_upper(ext::key_identifier(&pki.ca_key.spki_der()).unwrap());
    assert!(
        bound.contains(&format!("Responder Id: {key_hash}")),
        "{bound}"
    );
    assert!(summary.contains("leaf1.pem: good"), "{summary}");

    let revoked = CertStatus::Revoked {
        at: revoked_at(),
        reason: Some(1),
    };
    let resp = respond(&pki, &req, revoked, Signer::Ca);
    let (bound, summary) = openssl_accepts(&o, &resp, "req.der", &[], &["leaf1.pem"]);
    assert!(bound.contains("Cert Status: revoked"), "{bound}");
    assert!(
        bound.contains("Revocation Time: Jan  1 00:00:00 2026 GMT"),
        "{bound}"
    );
    assert!(summary.contains("leaf1.pem: revoked"), "{summary}");
    assert!(summary.contains("Reason: keyCompromise"), "{summary}");

    let resp = respond(&pki, &req, CertStatus::Unknown, Signer::Ca);
    let (_, summary) = openssl_accepts(&o, &resp, "req.der", &[], &["leaf1.pem"]);
    assert!(summary.contains("leaf1.pem: unknown"), "{summary}");

    // Revoked without a reason.
    let resp = respond(
        &pki,
        &req,
        CertStatus::Revoked {
            at: revoked_at(),
            reason: None,
        },
        Signer::Ca,
    );
    let (_, summary) = openssl_accepts(&o, &resp, "req.der", &[], &["leaf1.pem"]);
    assert!(summary.contains("leaf1.pem: revoked"), "{summary}");
    assert!(!summary.contains("Reason:"), "{summary}");
}

/// The checks in `openssl_accepts` are not vacuous: openssl does notice a missing or wrong
/// nonce and a bad signature.
#[test]
fn openssl_rejects_wrong_nonce_and_signature() {
    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::P256, KeyAlgorithm::P256);
    let req = pki.request(&o, "req.der", &[], &["leaf1.pem"]);
    pki.request(&o, "other.der", &[], &["leaf1.pem"]);
    let args = |req: &'static str| {
        [
            "ocsp", "-respin", "resp.der", "-issuer", "ca.pem", "-CAfile", "ca.pem", "-reqin", req,
        ]
    };

    // Answered without the nonce.
    let no_nonce = OcspRequest {
        nonce: None,
        ..req.clone()
    };
    o.write(
        "resp.der",
        respond(&pki, &no_nonce, CertStatus::Good, Signer::Ca),
    );
    let (_, text) = o.try_run(&args("req.der"));
    assert!(text.contains("WARNING: no nonce in response"), "{text}");

    // Answered with another request's nonce.
    o.write(
        "resp.der",
        respond(&pki, &req, CertStatus::Good, Signer::Ca),
    );
    let (ok, text) = o.try_run(&args("other.der"));
    assert!(!ok && text.contains("Nonce Verify error"), "{text}");

    // One signature octet changed.
    let mut resp = respond(&pki, &req, CertStatus::Good, Signer::Ca);
    let n = resp.len();
    resp[n - 5] ^= 0x01;
    o.write("resp.der", resp);
    let (ok, text) = o.try_run(&args("req.der"));
    assert!(!ok && text.contains("Response Verify Failure"), "{text}");
}

#[test]
fn delegated_responder_responses_verify_with_openssl() {
    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::P256, KeyAlgorithm::P256);
    let req = pki.request(&o, "req.der", &[], &["leaf1.pem", "leaf2.pem"]);
    let leaves = ["leaf1.pem", "leaf2.pem"];

    let resp = respond(&pki, &req, CertStatus::Good, Signer::Delegated);
    let (bound, summary) = openssl_accepts(&o, &resp, "req.der", &[], &leaves);
    assert!(bound.contains("CN=OCSP Responder"), "{bound}");
    assert!(summary.contains("leaf1.pem: good"), "{summary}");
    assert!(summary.contains("leaf2.pem: good"), "{summary}");
    pkilint(&o, &resp, "delegated-good");

    let revoked = CertStatus::Revoked {
        at: revoked_at(),
        reason: Some(1),
    };
    let resp = respond(&pki, &req, revoked, Signer::Delegated);
    let (_, summary) = openssl_accepts(&o, &resp, "req.der", &[], &leaves);
    assert!(summary.contains("leaf2.pem: revoked"), "{summary}");
    assert!(summary.contains("Reason: keyCompromise"), "{summary}");
    pkilint(&o, &resp, "delegated-revoked");

    let resp = respond(&pki, &req, CertStatus::Unknown, Signer::Delegated);
    let (_, summary) = openssl_accepts(&o, &resp, "req.der", &[], &leaves);
    assert!(summary.contains("leaf1.pem: unknown"), "{summary}");

    // SHA-256 CertIDs are echoed, so a client that asked with SHA-256 finds its answers.
    let req = pki.request(&o, "sha256.der", &["-sha256"], &["leaf1.pem"]);
    let resp = respond(&pki, &req, CertStatus::Good, Signer::Delegated);
    let (_, summary) = openssl_accepts(&o, &resp, "sha256.der", &["-sha256"], &["leaf1.pem"]);
    assert!(summary.contains("leaf1.pem: good"), "{summary}");

    // Without the responder certificate openssl cannot find the signer.
    let now = SystemTime::now();
    let single = [SingleResponse {
        cert_id: &req.certs[0],
        status: CertStatus::Good,
        this_update: now,
        next_update: now + Duration::from_secs(3600),
    }];
    let data = ocsp::encode_response_data(&ResponseData {
        responder_key_hash: ext::key_identifier(&pki.responder_key.spki_der()).unwrap(),
        produced_at: now,
        responses: &single,
        nonce: req.nonce.as_deref(),
    })
    .unwrap();
    let sig = pki.responder_key.sign(&data);
    let resp =
        ocsp::assemble_response(&data, pki.responder_key.signature_algorithm(), &sig, &[]).unwrap();
    o.write("resp.der", resp);
    let (ok, text) = o.try_run(&[
        "ocsp",
        "-respin",
        "resp.der",
        "-issuer",
        "ca.pem",
        "-CAfile",
        "ca.pem",
        "-reqin",
        "sha256.der",
    ]);
    assert!(
        !ok && text.contains("signer certificate not found"),
        "{text}"
    );
}

#[test]
fn ed25519_and_rsa_keys_sign_responses_openssl_accepts() {
    // An Ed25519 CA signing itself, and an RSA CA with a delegated Ed25519 responder.
    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::Ed25519, KeyAlgorithm::P256);
    let req = pki.request(&o, "req.der", &[], &["leaf1.pem"]);
    let resp = respond(&pki, &req, CertStatus::Good, Signer::Ca);
    let (bound, summary) = openssl_accepts(&o, &resp, "req.der", &[], &["leaf1.pem"]);
    assert!(bound.contains("Signature Algorithm: ED25519"), "{bound}");
    assert!(summary.contains("leaf1.pem: good"), "{summary}");

    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::Rsa { bits: 2048 }, KeyAlgorithm::Ed25519);
    let req = pki.request(&o, "req.der", &[], &["leaf1.pem"]);
    let revoked = CertStatus::Revoked {
        at: revoked_at(),
        reason: Some(4),
    };
    let resp = respond(&pki, &req, revoked, Signer::Ca);
    let (bound, summary) = openssl_accepts(&o, &resp, "req.der", &[], &["leaf1.pem"]);
    assert!(bound.contains("sha256WithRSAEncryption"), "{bound}");
    assert!(summary.contains("Reason: superseded"), "{summary}");
    let resp = respond(&pki, &req, CertStatus::Good, Signer::Delegated);
    let (bound, summary) = openssl_accepts(&o, &resp, "req.der", &[], &["leaf1.pem"]);
    assert!(bound.contains("Signature Algorithm: ED25519"), "{bound}");
    assert!(summary.contains("leaf1.pem: good"), "{summary}");
}

#[test]
fn error_responses_openssl_reads() {
    let o = Openssl::new();
    for (status, text) in [
        (ResponseStatus::MalformedRequest, "malformedrequest (1)"),
        (ResponseStatus::InternalError, "internalerror (2)"),
        (ResponseStatus::TryLater, "trylater (3)"),
        (ResponseStatus::SigRequired, "sigrequired (5)"),
        (ResponseStatus::Unauthorized, "unauthorized (6)"),
    ] {
        let der = ocsp::error_response(status);
        o.write("err.der", &der);
        let (_, out) = o.try_run(&["ocsp", "-respin", "err.der", "-resp_text"]);
        assert!(
            out.contains(&format!("Responder Error: {text}")),
            "{status:?}: {out}"
        );
        let info = ocsp::parse_response(&der).unwrap();
        assert_eq!(info.status, status);
        assert_eq!(info.produced_at, None);
        assert!(info.responses.is_empty() && info.certs.is_empty());
        assert_eq!(ResponseStatus::from_code(status.code()), Some(status));
    }
    assert_eq!(
        ocsp::error_response(ResponseStatus::Unauthorized),
        [0x30, 0x03, 0x0a, 0x01, 0x06]
    );
    assert_eq!(ResponseStatus::from_code(4), None);
}

/// A real request's CertID TLV, and a request builder around CertIDs and extensions.
fn cert_id_der() -> Vec<u8> {
    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::P256, KeyAlgorithm::P256);
    pki.request(&o, "req.der", &["-no_nonce"], &["leaf1.pem"])
        .certs[0]
        .raw
        .clone()
}

fn request_der(cert_ids: &[&[u8]], extensions: Option<&[u8]>) -> Vec<u8> {
    let list: Vec<Vec<u8>> = cert_ids.iter().map(|id| seq(&[id])).collect();
    let list: Vec<&[u8]> = list.iter().map(Vec::as_slice).collect();
    let mut tbs = seq(&list);
    if let Some(exts) = extensions {
        tbs.extend(tlv(0xa2, &seq(&[exts])));
    }
    seq(&[&seq(&[&tbs])])
}

fn extension(oid_content: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let oid = tlv(0x06, oid_content);
    let value = tlv(0x04, value);
    if critical {
        seq(&[&oid, &[0x01, 0x01, 0xff], &value])
    } else {
        seq(&[&oid, &value])
    }
}

const NONCE_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
/// 1.2.3.4, an extension nobody knows.
const UNKNOWN_OID: &[u8] = &[0x2a, 0x03, 0x04];

#[test]
fn parse_request_rejects_bad_input() {
    let id = cert_id_der();
    let malformed = |der: &[u8], what: &str| match ocsp::parse_request(der) {
        Err(Error::Malformed { .. }) => {}
        other => panic!("{what}: expected Malformed, got {other:?}"),
    };

    // The hand-built request is accepted as is.
    let good = request_der(&[&id], None);
    let req = ocsp::parse_request(&good).unwrap();
    assert_eq!(req.certs[0].raw, id);
    assert_eq!(req.nonce, None);

    malformed(&[], "empty input");
    malformed(b"not DER at all", "garbage");
    let mut rng = Rng(0x5eed);
    for _ in 0..200 {
        let len = (rng.next() % 300) as usize;
        assert!(ocsp::parse_request(&rng.bytes(len)).is_err());
    }
    malformed(&good[..good.len() - 1], "truncated");
    let mut trailing = good.clone();
    trailing.push(0x00);
    malformed(&trailing, "trailing byte");
    malformed(&[good.as_slice(), good.as_slice()].concat(), "two requests");
    malformed(&request_der(&[], None), "empty requestList");

    let max: Vec<&[u8]> = vec![&id; MAX_REQUESTS];
    assert_eq!(
        ocsp::parse_request(&request_der(&max, None))
            .unwrap()
            .certs
            .len(),
        MAX_REQUESTS
    );
    let too_many: Vec<&[u8]> = vec![&id; MAX_REQUESTS + 1];
    malformed(&request_der(&too_many, None), "17 requests");

    // Extensions: the nonce is captured, unknown non-critical ones ignored, unknown critical
    // ones refused.
    let nonce_value = tlv(0x04, &[7; 16]);
    let nonce = extension(NONCE_OID, false, &nonce_value);
    let req = ocsp::parse_request(&request_der(&[&id], Some(&nonce))).unwrap();
    assert_eq!(req.nonce.as_deref(), Some(nonce_value.as_slice()));
    let unknown = extension(UNKNOWN_OID, false, &[0x05, 0x00]);
    let req = ocsp::parse_request(&request_der(
        &[&id],
        Some(&[unknown, nonce.clone()].concat()),
    ))
    .unwrap();
    assert_eq!(req.nonce.as_deref(), Some(nonce_value.as_slice()));
    let critical = extension(UNKNOWN_OID, true, &[0x05, 0x00]);
    match ocsp::parse_request(&request_der(&[&id], Some(&critical))) {
        Err(Error::Unsupported { detail, .. }) => assert_eq!(detail, "1.2.3.4"),
        other => panic!("unknown critical extension: {other:?}"),
    }
    malformed(
        &request_der(&[&id], Some(&[nonce.clone(), nonce].concat())),
        "two nonces",
    );
    let long = extension(NONCE_OID, false, &tlv(0x04, &[1; 127]));
    malformed(&request_der(&[&id], Some(&long)), "129-octet nonce");
    let at_limit = extension(NONCE_OID, false, &tlv(0x04, &[1; 126]));
    assert!(ocsp::parse_request(&request_der(&[&id], Some(&at_limit))).is_ok());

    // Version: v1 may be explicit, anything else is refused.
    let list = seq(&[&seq(&[&id])]);
    for (version, ok) in [(0u8, true), (1, false)] {
        let tbs = seq(&[&tlv(0xa0, &[0x02, 0x01, version]), &list]);
        let result = ocsp::parse_request(&seq(&[&tbs]));
        assert_eq!(result.is_ok(), ok, "version {version}: {result:?}");
    }

    // requestorName and a (not verified) signature are accepted.
    let name = tlv(0xa1, &tlv(0x82, b"client.example"));
    let signature = tlv(
        0xa0,
        &seq(&[
            &seq(&[&tlv(0x06, &[0x2b, 0x65, 0x70])]),
            &tlv(0x03, &[0x00; 65]),
        ]),
    );
    let signed = seq(&[&seq(&[&name, &list]), &signature]);
    assert!(ocsp::parse_request(&signed).is_ok());

    // singleRequestExtensions are parsed (so must be well-formed) and ignored.
    let single_ext = tlv(0xa0, &seq(&[&critical]));
    let req = seq(&[&seq(&[&seq(&[&seq(&[&id, &single_ext])])])]);
    assert!(ocsp::parse_request(&req).is_ok());
    let req = seq(&[&seq(&[&seq(&[&seq(&[&id, &tlv(0xa0, &[0x05, 0x00])])])])]);
    malformed(&req, "bad singleRequestExtensions");

    // A CertID with SHA-384 parses (issue 14), one with MD5 is unsupported; digests of the
    // wrong length for their algorithm are malformed.
    let with_hash = |oid: &[u8], len: usize| {
        seq(&[
            &seq(&[&tlv(0x06, oid)]),
            &tlv(0x04, &vec![0; len]),
            &tlv(0x04, &vec![0; len]),
            &tlv(0x02, &[0x01]),
        ])
    };
    let sha384_oid = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    assert!(ocsp::parse_request(&request_der(&[&with_hash(&sha384_oid, 48)], None)).is_ok());
    malformed(
        &request_der(&[&with_hash(&sha384_oid, 64)], None),
        "64-octet SHA-384",
    );
    let md5_oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05];
    assert!(matches!(
        ocsp::parse_request(&request_der(&[&with_hash(&md5_oid, 16)], None)),
        Err(Error::Unsupported { .. })
    ));
    let sha1_oid = seq(&[&tlv(0x06, &[0x2b, 0x0e, 0x03, 0x02, 0x1a]), &[0x05, 0x00]]);
    let short = seq(&[
        &sha1_oid,
        &tlv(0x04, &[0; 19]),
        &tlv(0x04, &[0; 20]),
        &tlv(0x02, &[0x01]),
    ]);
    malformed(&request_der(&[&short], None), "19-octet SHA-1");
    let non_minimal_serial = seq(&[
        &sha1_oid,
        &tlv(0x04, &[0; 20]),
        &tlv(0x04, &[0; 20]),
        &tlv(0x02, &[0x00, 0x01]),
    ]);
    malformed(
        &request_der(&[&non_minimal_serial], None),
        "non-minimal serial",
    );
    // Negative serials parse (the responder answers "unknown") but have no magnitude.
    let negative = seq(&[
        &sha1_oid,
        &tlv(0x04, &[0; 20]),
        &tlv(0x04, &[0; 20]),
        &tlv(0x02, &[0xff]),
    ]);
    let req = ocsp::parse_request(&request_der(&[&negative], None)).unwrap();
    assert_eq!(req.certs[0].serial, [0xff]);
    assert_eq!(req.certs[0].serial_magnitude(), None);
}

#[test]
fn mutated_requests_never_panic() {
    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::P256, KeyAlgorithm::P256);
    pki.request(&o, "req.der", &[], &["leaf1.pem", "leaf2.pem"]);
    let der = o.read("req.der");
    assert!(ocsp::parse_request(&der).is_ok());
    for len in 0..der.len() {
        assert!(
            ocsp::parse_request(&der[..len]).is_err(),
            "truncated at {len}"
        );
    }
    let mut mutated = der.clone();
    for i in 0..der.len() {
        for flip in [0xff, 0x01, 0x80] {
            mutated[i] ^= flip;
            let _ = ocsp::parse_request(&mutated);
            mutated[i] ^= flip;
        }
    }
    // The same for responses, through the summary parser.
    let req = ocsp::parse_request(&der).unwrap();
    let resp = respond(&pki, &req, CertStatus::Good, Signer::Delegated);
    for len in 0..resp.len() {
        assert!(
            ocsp::parse_response(&resp[..len]).is_err(),
            "truncated at {len}"
        );
    }
    let mut mutated = resp.clone();
    for i in 0..resp.len() {
        mutated[i] ^= 0xff;
        let _ = ocsp::parse_response(&mutated);
        mutated[i] ^= 0xff;
    }
}

#[test]
fn parse_response_round_trips() {
    let o = Openssl::new();
    let pki = Pki::new(&o, KeyAlgorithm::P256, KeyAlgorithm::P256);
    let req = pki.request(&o, "req.der", &[], &["leaf1.pem", "leaf2.pem"]);
    // Whole seconds, as encoded.
    let now = UNIX_EPOCH
        + Duration::from_secs(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        );
    // One before 2050 and one after: OCSP times are always GeneralizedTime.
    let far = UNIX_EPOCH + Duration::from_secs(2_556_143_999); // 2050-12-31T23:59:59Z
    let statuses = [
        CertStatus::Revoked {
            at: revoked_at(),
            reason: Some(1),
        },
        CertStatus::Unknown,
    ];
    let responses: Vec<SingleResponse<'_>> = req
        .certs
        .iter()
        .zip(statuses)
        .map(|(id, status)| SingleResponse {
            cert_id: id,
            status,
            this_update: now,
            next_update: far,
        })
        .collect();
    let data = ocsp::encode_response_data(&ResponseData {
        responder_key_hash: [0xab; 20],
        produced_at: now + Duration::from_millis(900),
        responses: &responses,
        nonce: req.nonce.as_deref(),
    })
    .unwrap();
    assert!(common::contains(&data, b"\x18\x0f20501231235959Z"));
    assert!(common::contains(&data, b"\x18\x0f20260101000000Z"));
    assert!(common::contains(
        &data,
        &[0xa2, 0x16, 0x04, 0x14, 0xab, 0xab, 0xab]
    ));
    let sig = pki.responder_key.sign(&data);
    let certs = vec![pki.responder_cert.clone(), pki.ca_cert.clone()];
    let resp =
        ocsp::assemble_response(&data, pki.responder_key.signature_algorithm(), &sig, &certs)
            .unwrap();
    assert!(common::contains(&resp, &data));

    let info = ocsp::parse_response(&resp).unwrap();
    assert_eq!(info.status, ResponseStatus::Successful);
    assert_eq!(info.produced_at, Some(now));
    assert_eq!(info.nonce, req.nonce);
    assert_eq!(info.certs, certs);
    let expected: Vec<_> = req
        .certs
        .iter()
        .zip(statuses)
        .map(|(id, status)| (id.serial.clone(), status, now, Some(far)))
        .collect();
    assert_eq!(info.responses, expected);

    // openssl reads the same (with no responder certificate it cannot verify, so -noverify).
    o.write("resp.der", &resp);
    let text = o.run(&["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"]);
    assert!(
        text.contains("Next Update: Dec 31 23:59:59 2050 GMT"),
        "{text}"
    );
    assert!(text.contains("Responder Id: ABABAB"), "{text}");
}

/// Random responses (1..=16 answers, any status, times from 1970 to 9999, nonces up to 128
/// octets) survive encode -> parse unchanged, and the largest one is still readable by openssl.
#[test]
fn random_responses_round_trip() {
    let o = Openssl::new();
    let key = TestKey::generate(KeyAlgorithm::Ed25519);
    let base = cert_id_der();
    let mut rng = Rng(0x0c5b_2024);
    let mut largest = Vec::new();
    for round in 0..300 {
        let n = 1 + (rng.next() % MAX_REQUESTS as u64) as usize;
        // Distinct serials so the CertIDs differ; lengths vary from 1 to 20 octets.
        let ids: Vec<CertId> = (0..n)
            .map(|_| {
                let len = 1 + (rng.next() % 20) as usize;
                let mut serial = rng.bytes(len);
                serial[0] = 0x01 + serial[0] % 0x7f;
                let raw = replace_serial(&base, &serial);
                ocsp::parse_request(&request_der(&[&raw], None))
                    .unwrap()
                    .certs
                    .remove(0)
            })
            .collect();
        let statuses: Vec<CertStatus> = (0..n)
            .map(|_| match rng.next() % 3 {
                0 => CertStatus::Good,
                1 => CertStatus::Unknown,
                _ => CertStatus::Revoked {
                    at: random_time(&mut rng),
                    reason: [None, Some(0), Some(1), Some(6), Some(8), Some(10)]
                        [(rng.next() % 6) as usize],
                },
            })
            .collect();
        let produced_at = random_time(&mut rng);
        let times: Vec<(SystemTime, SystemTime)> = (0..n)
            .map(|_| {
                let (a, b) = (random_time(&mut rng), random_time(&mut rng));
                (a.min(b), a.max(b))
            })
            .collect();
        let nonce = match rng.next() % 3 {
            0 => None,
            _ => {
                let len = (rng.next() % 129) as usize;
                Some(rng.bytes(len))
            }
        };
        let responses: Vec<SingleResponse<'_>> = ids
            .iter()
            .zip(&statuses)
            .zip(&times)
            .map(
                |((id, status), (this_update, next_update))| SingleResponse {
                    cert_id: id,
                    status: *status,
                    this_update: *this_update,
                    next_update: *next_update,
                },
            )
            .collect();
        let data = ocsp::encode_response_data(&ResponseData {
            responder_key_hash: [round as u8; 20],
            produced_at,
            responses: &responses,
            nonce: nonce.as_deref(),
        })
        .unwrap();
        let certs: Vec<Vec<u8>> = (0..rng.next() % 3)
            .map(|_| seq(&[&rng.bytes(200)]))
            .collect();
        let sig = key.sign(&data);
        let resp = ocsp::assemble_response(&data, key.signature_algorithm(), &sig, &certs).unwrap();
        let info = ocsp::parse_response(&resp).unwrap();
        assert_eq!(info.produced_at, Some(produced_at));
        assert_eq!(info.nonce, nonce);
        assert_eq!(info.certs, certs);
        let expected: Vec<_> = ids
            .iter()
            .zip(&statuses)
            .zip(&times)
            .map(|((id, status), (a, b))| (id.serial.clone(), *status, *a, Some(*b)))
            .collect();
        assert_eq!(info.responses, expected, "round {round}");
        if resp.len() > largest.len() && certs.is_empty() {
            largest = resp;
        }
    }
    o.write("resp.der", &largest);
    let text = o.run(&["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"]);
    assert!(text.contains("OCSP Response Status: successful"), "{text}");
}

/// A whole second from 1970 to the end of 9999.
fn random_time(rng: &mut Rng) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(rng.next() % 253_402_300_800)
}

/// `cert_id` (a real CertID TLV) with its serialNumber replaced.
fn replace_serial(cert_id: &[u8], serial: &[u8]) -> Vec<u8> {
    // CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber }: the
    // first three are copied; the hashes are 20 octets, so every length here is short-form.
    let content = &cert_id[2..];
    let alg_len = 2 + usize::from(content[1]);
    let hashes_len = 2 * 22;
    let prefix = &content[..alg_len + hashes_len];
    seq(&[prefix, &tlv(0x02, serial)])
}

#[test]
fn parses_responses_from_openssl_responder() {
    // A chain made entirely by openssl, answered by `openssl ocsp -index`: byName responder
    // ID, the signer certificate in certs, the nonce echoed.
    let o = Openssl::new();
    o.genkey("ca.key", "ec:P-256");
    o.genkey("leaf.key", "ec:P-256");
    o.run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=openssl CA",
        "-days",
        "2",
        "-out",
        "ca.pem",
    ]);
    o.run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "leaf.key",
        "-subj",
        "/CN=leaf",
        "-days",
        "2",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "0x4201",
        "-out",
        "leaf.pem",
    ]);
    o.run(&[
        "ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-serial", "0x99", "-reqout", "req.der",
    ]);
    let req = ocsp::parse_request(&o.read("req.der")).unwrap();
    let ca_der = pem::decode(&o.read("ca.pem")).unwrap().1;
    let hashes = IssuerHashes::of_certificate(&ca_der).unwrap();
    assert!(req.certs.iter().all(|id| hashes.matches(id)));
    assert_eq!(req.certs[0].serial, [0x42, 0x01]);
    assert_eq!(req.certs[1].serial, [0x00, 0x99]);
    assert_eq!(req.certs[1].serial_magnitude(), Some(&[0x99][..]));

    o.write(
        "index.txt",
        "R\t301231000000Z\t260101000000Z,keyCompromise\t4201\tunknown\t/CN=leaf\n",
    );
    o.run(&[
        "ocsp",
        "-index",
        "index.txt",
        "-rsigner",
        "ca.pem",
        "-rkey",
        "ca.key",
        "-CA",
        "ca.pem",
        "-reqin",
        "req.der",
        "-respout",
        "resp.der",
        "-ndays",
        "1",
    ]);
    let info = ocsp::parse_response(&o.read("resp.der")).unwrap();
    assert_eq!(info.status, ResponseStatus::Successful);
    assert!(info.produced_at.is_some());
    assert_eq!(info.nonce, req.nonce);
    assert_eq!(info.certs, [ca_der]);
    assert_eq!(info.responses.len(), 2);
    assert_eq!(info.responses[0].0, [0x42, 0x01]);
    assert_eq!(
        info.responses[0].1,
        CertStatus::Revoked {
            at: revoked_at(),
            reason: Some(1)
        }
    );
    assert_eq!(info.responses[1].1, CertStatus::Unknown);
    assert!(info.responses[0].3.is_some());
}

#[test]
fn encode_rejects_bad_parameters() {
    let id = CertId {
        hash: HashAlg::Sha1,
        issuer_name_hash: vec![0; 20],
        issuer_key_hash: vec![0; 20],
        serial: vec![0x01],
        raw: seq(&[&[0x05, 0x00]]),
    };
    let now = SystemTime::now();
    fn single(cert_id: &CertId, status: CertStatus, next_update: SystemTime) -> SingleResponse<'_> {
        SingleResponse {
            cert_id,
            status,
            this_update: next_update - Duration::from_secs(60),
            next_update,
        }
    }
    let encode = |responses: &[SingleResponse<'_>]| {
        ocsp::encode_response_data(&ResponseData {
            responder_key_hash: [0; 20],
            produced_at: now,
            responses,
            nonce: None,
        })
    };
    let later = now + Duration::from_secs(60);
    assert!(encode(&[single(&id, CertStatus::Good, later)]).is_ok());
    let invalid = |r: signet_x509::Result<Vec<u8>>| matches!(r, Err(Error::Invalid { .. }));
    assert!(invalid(encode(&[])));
    let mut backwards = single(&id, CertStatus::Good, later);
    backwards.this_update = later + Duration::from_secs(1);
    assert!(invalid(encode(&[backwards])));
    for reason in [7, 11, 255] {
        let status = CertStatus::Revoked {
            at: now,
            reason: Some(reason),
        };
        assert!(invalid(encode(&[single(&id, status, later)])), "{reason}");
    }
    let bad_raw = CertId {
        raw: vec![0x30, 0x05],
        ..id.clone()
    };
    assert!(invalid(encode(&[single(
        &bad_raw,
        CertStatus::Good,
        later
    )])));
    let year_10000 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
    assert!(invalid(encode(&[single(
        &id,
        CertStatus::Good,
        year_10000
    )])));

    let data = encode(&[single(&id, CertStatus::Good, later)]).unwrap();
    let alg = signet_x509::SignatureAlgorithm::Ed25519;
    assert!(ocsp::assemble_response(&data, alg, &[1; 64], &[]).is_ok());
    assert!(invalid(ocsp::assemble_response(&data, alg, &[], &[])));
    assert!(invalid(ocsp::assemble_response(
        &data[1..],
        alg,
        &[1; 64],
        &[]
    )));
    assert!(invalid(ocsp::assemble_response(
        &data,
        alg,
        &[1; 64],
        &[vec![0x04, 0x00]]
    )));
}

/// pkilint's `lint_ocsp_response`: no finding at ERROR or above.
fn pkilint(o: &Openssl, resp: &[u8], name: &str) {
    let path = o.write(&format!("{name}.der"), resp);
    common::pkilint_silent(
        "lint_ocsp_response",
        &["-s", "ERROR", "--document-format", "DER"],
        &path,
    );
}
