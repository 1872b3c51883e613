//! CMP against the real `openssl cmp` (3.0): requests it writes with `-reqout` (ir, cr, p10cr,
//! kur, rr, genm; MAC and signature protection; implicitConfirm) parse here, their PBM,
//! signature protection and POP verify (and fail when tampered with); responses written here
//! (ip with PBM, error) are accepted and understood by `openssl cmp -reqin ... -rspin ...`.
#![allow(clippy::unwrap_used)]

mod common;

use common::Openssl;
use signet_x509::cmp::{
    self, ErrorContent, FailInfo, PbmMac, PkiBody, PkiMessage, Pop, ResponseBody, ResponseHeader,
    StatusInfo,
};
use signet_x509::{DistinguishedName, Error, parse_certificate, pem};

/// A test directory with a new key `k.pem`, a client certificate `c.crt`/`c.key`
/// and a CA `ca.crt`/`ca.key` that issued both `c.crt` and `dev.crt` (for `k.pem`).
fn setup() -> Openssl {
    let o = Openssl::new();
    o.genkey("k.pem", "ec:P-256");
    o.genkey("c.key", "ec:P-256");
    o.genkey("ca.key", "ec:P-256");
    o.run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=Test CA",
        "-days",
        "2",
        "-out",
        "ca.crt",
    ]);
    // Issued by the CA, not self-signed: openssl leaves self-signed certificates out of
    // extraCerts.
    o.run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "c.key",
        "-subj",
        "/CN=client",
        "-days",
        "2",
        "-out",
        "c.crt",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
    ]);
    o.run(&[
        "req", "-new", "-key", "k.pem", "-subj", "/CN=dev", "-out", "dev.csr",
    ]);
    o.run(&[
        "x509", "-req", "-in", "dev.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "2",
        "-out", "dev.crt",
    ]);
    o
}

fn der_of(o: &Openssl, pem_file: &str) -> Vec<u8> {
    pem::decode(&o.read(pem_file)).unwrap().1
}

const MAC: [&str; 4] = ["-ref", "1234", "-secret", "pass:test"];
const SIG: [&str; 4] = ["-cert", "c.crt", "-key", "c.key"];

/// Runs `openssl cmp -cmd CMD` against a closed port so it only writes its request to `out`.
fn request(o: &Openssl, cmd: &str, out: &str, args: &[&str]) -> Vec<u8> {
    let mut a = vec![
        "cmp",
        "-cmd",
        cmd,
        "-server",
        "127.0.0.1:1/pkix/",
        "-reqout",
        out,
    ];
    a.extend_from_slice(args);
    let (ok, text) = o.try_run(&a);
    assert!(!ok && text.contains("connect error"), "{text}");
    o.read(out)
}

fn ir_args() -> Vec<&'static str> {
    let mut a = MAC.to_vec();
    a.extend([
        "-recipient",
        "/CN=Test CA",
        "-newkey",
        "k.pem",
        "-subject",
        "/CN=dev",
        "-certout",
        "out.crt",
    ]);
    a
}

fn reqs(msg: &PkiMessage) -> &[cmp::CertReqMsg] {
    match &msg.body {
        PkiBody::Ir(r) | PkiBody::Cr(r) | PkiBody::Kur(r) => r,
        other => panic!("not a certificate request: {other:?}"),
    }
}

#[test]
fn ir_with_pbm_parses_and_verifies() {
    let o = setup();
    let der = request(&o, "ir", "ir.der", &ir_args());
    let msg = cmp::parse_message(&der).unwrap();
    assert!(matches!(msg.body, PkiBody::Ir(_)));
    assert_eq!(msg.header.pvno, 2);
    assert_eq!(msg.header.transaction_id.as_ref().unwrap().len(), 16);
    assert_eq!(msg.header.sender_nonce.as_ref().unwrap().len(), 16);
    assert_eq!(msg.header.sender_kid.as_deref(), Some(&b"1234"[..]));
    assert!(!msg.header.implicit_confirm);
    assert_eq!(
        msg.header
            .sender_name
            .as_ref()
            .unwrap()
            .common_name()
            .as_deref(),
        Some("dev")
    );
    assert_eq!(
        msg.header
            .recipient_name
            .as_ref()
            .unwrap()
            .common_name()
            .as_deref(),
        Some("Test CA")
    );
    let params = msg.pbm_params().unwrap().unwrap();
    assert_eq!((params.iterations, params.salt.len()), (500, 16));
    assert_eq!(params.mac, PbmMac::HmacSha1);
    msg.verify_pbm(b"test").unwrap();
    assert!(matches!(msg.verify_pbm(b"tesT"), Err(Error::BadSignature)));

    let req = &reqs(&msg)[0];
    assert_eq!(req.cert_req_id, 0);
    let subject = DistinguishedName::from_der(req.template.subject.as_deref().unwrap()).unwrap();
    assert_eq!(subject.common_name().as_deref(), Some("dev"));
    let dev = parse_certificate(&der_of(&o, "dev.crt")).unwrap();
    assert_eq!(
        req.template.public_key.as_deref(),
        Some(dev.spki_der.as_slice())
    );
    req.verify_pop().unwrap();
    let mut bad = req.clone();
    if let Pop::Signature { signature, .. } = &mut bad.pop {
        let last = signature.len() - 1;
        signature[last] ^= 1;
    } else {
        panic!("expected a signature POP");
    }
    assert!(bad.verify_pop().is_err());

    // Any flipped byte of the message breaks the MAC or the parse.
    for i in [10, 50, der.len() / 2, der.len() - 30] {
        let mut d = der.clone();
        d[i] ^= 0x01;
        if let Ok(m) = cmp::parse_message(&d) {
            assert!(m.verify_pbm(b"test").is_err(), "flip at {i} still verifies");
        }
    }
    // Truncations fail cleanly.
    for n in 0..der.len() {
        assert!(cmp::parse_message(&der[..n]).is_err());
    }
}

#[test]
fn implicit_confirm_and_hmac_sha256() {
    let o = setup();
    let mut a = ir_args();
    a.extend(["-implicit_confirm", "-mac", "hmacWithSHA256"]);
    let msg = cmp::parse_message(&request(&o, "ir", "ir.der", &a)).unwrap();
    assert!(msg.header.implicit_confirm);
    assert_eq!(msg.pbm_params().unwrap().unwrap().mac, PbmMac::HmacSha256);
    msg.verify_pbm(b"test").unwrap();
    assert!(msg.verify_pbm(b"other").is_err());
}

#[test]
fn cr_with_signature_protection() {
    let o = setup();
    let mut a = SIG.to_vec();
    a.extend([
        "-newkey", "k.pem", "-subject", "/CN=dev", "-certout", "out.crt",
    ]);
    let msg = cmp::parse_message(&request(&o, "cr", "cr.der", &a)).unwrap();
    assert!(matches!(msg.body, PkiBody::Cr(_)));
    let client = der_of(&o, "c.crt");
    assert!(msg.extra_certs.contains(&client));
    msg.verify_signature(&client).unwrap();
    assert!(msg.verify_signature(&der_of(&o, "ca.crt")).is_err());
    assert!(msg.verify_pbm(b"test").is_err());
    reqs(&msg)[0].verify_pop().unwrap();
}

#[test]
fn p10cr_kur_rr_genm() {
    let o = setup();
    let client = parse_certificate(&der_of(&o, "c.crt")).unwrap();

    let mut a = MAC.to_vec();
    a.extend([
        "-recipient",
        "/CN=Test CA",
        "-csr",
        "dev.csr",
        "-certout",
        "out.crt",
    ]);
    let msg = cmp::parse_message(&request(&o, "p10cr", "p10.der", &a)).unwrap();
    let PkiBody::P10cr(csr) = &msg.body else {
        panic!("not p10cr: {:?}", msg.body)
    };
    signet_x509::parse_csr(csr).unwrap();
    msg.verify_pbm(b"test").unwrap();

    let mut a = SIG.to_vec();
    a.extend([
        "-oldcert", "c.crt", "-newkey", "k.pem", "-certout", "out.crt",
    ]);
    let msg = cmp::parse_message(&request(&o, "kur", "kur.der", &a)).unwrap();
    assert!(matches!(msg.body, PkiBody::Kur(_)));
    let (issuer, serial) = reqs(&msg)[0].old_cert_id.clone().unwrap();
    assert_eq!(issuer[0], 0xa4);
    assert_eq!(hex::encode(&serial), client.serial_hex.to_lowercase());
    msg.verify_signature(&der_of(&o, "c.crt")).unwrap();
    reqs(&msg)[0].verify_pop().unwrap();

    let mut a = SIG.to_vec();
    a.extend(["-oldcert", "c.crt", "-revreason", "1"]);
    let msg = cmp::parse_message(&request(&o, "rr", "rr.der", &a)).unwrap();
    let PkiBody::Rr(details) = &msg.body else {
        panic!("not rr: {:?}", msg.body)
    };
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].reason, Some(1));
    assert_eq!(
        hex::encode(details[0].serial.as_ref().unwrap()),
        client.serial_hex.to_lowercase()
    );
    assert!(details[0].issuer.is_some());
    msg.verify_signature(&der_of(&o, "c.crt")).unwrap();

    let mut a = MAC.to_vec();
    a.extend(["-recipient", "/CN=Test CA", "-infotype", "signKeyPairTypes"]);
    let msg = cmp::parse_message(&request(&o, "genm", "genm.der", &a)).unwrap();
    let PkiBody::Genm(items) = &msg.body else {
        panic!("not genm: {:?}", msg.body)
    };
    assert_eq!(items[0].info_type, "1.3.6.1.5.5.7.4.2");
    msg.verify_pbm(b"test").unwrap();
}

/// Runs the client on the saved request `req` with `rsp` as the server's answer.
fn client_reads(o: &Openssl, req: &str, rsp: &str) -> (bool, String) {
    let mut a = vec![
        "cmp",
        "-cmd",
        "ir",
        "-reqin",
        req,
        "-rspin",
        rsp,
        "-implicit_confirm",
    ];
    a.extend(ir_args());
    o.try_run(&a)
}

#[test]
fn openssl_accepts_our_ip_and_error() {
    let o = setup();
    let mut a = ir_args();
    a.push("-implicit_confirm");
    let req = cmp::parse_message(&request(&o, "ir", "ir.der", &a)).unwrap();
    let ca = parse_certificate(&der_of(&o, "ca.crt")).unwrap();
    let dev = der_of(&o, "dev.crt");
    let params = req
        .pbm_params()
        .unwrap()
        .unwrap()
        .with_fresh_salt()
        .unwrap();

    let mut header = ResponseHeader::reply_to(&req, ca.subject.as_der()).unwrap();
    header.implicit_confirm = true;
    let body = ResponseBody::Ip(
        vec![der_of(&o, "ca.crt")],
        vec![cmp::CertResponse {
            cert_req_id: 0,
            status: StatusInfo::accepted(),
            certificate: Some(dev.clone()),
        }],
    );
    let ip = cmp::write_pbm(&header, &body, b"test", &params, &[]).unwrap();
    o.write("ip.der", &ip);
    o.run(&["asn1parse", "-inform", "DER", "-in", "ip.der", "-i"]);
    let back = cmp::parse_message(&ip).unwrap();
    back.verify_pbm(b"test").unwrap();
    assert_eq!(back.header.recip_nonce, req.header.sender_nonce);
    assert_eq!(back.header.transaction_id, req.header.transaction_id);

    let (ok, text) = client_reads(&o, "ir.der", "ip.der");
    assert!(ok, "openssl rejected our ip:\n{text}");
    assert_eq!(der_of(&o, "out.crt"), dev);

    // The wrong secret is noticed by the client.
    let wrong = cmp::write_pbm(&header, &body, b"nope", &params, &[]).unwrap();
    o.write("wrong.der", &wrong);
    let (ok, text) = client_reads(&o, "ir.der", "wrong.der");
    assert!(!ok, "{text}");

    let err = ResponseBody::Error(ErrorContent {
        status: StatusInfo::rejection(
            FailInfo(FailInfo::BAD_POP.0 | FailInfo::SYSTEM_FAILURE.0),
            "rejected by policy",
        ),
        error_code: None,
        details: vec![],
    });
    let header = ResponseHeader::reply_to(&req, ca.subject.as_der()).unwrap();
    let e = cmp::write_pbm(&header, &err, b"test", &params, &[]).unwrap();
    o.write("err.der", &e);
    o.run(&["asn1parse", "-inform", "DER", "-in", "err.der", "-i"]);
    let PkiBody::Error(back) = cmp::parse_message(&e).unwrap().body else {
        panic!("not an error")
    };
    assert!(back.status.fail_info.has(FailInfo::BAD_POP));
    assert!(back.status.fail_info.has(FailInfo::SYSTEM_FAILURE));
    assert!(!back.status.fail_info.has(FailInfo::BAD_ALG));
    let (ok, text) = client_reads(&o, "ir.der", "err.der");
    assert!(!ok);
    assert!(text.contains("rejection"), "{text}");
    assert!(text.contains("badPOP"), "{text}");
    assert!(text.contains("systemFailure"), "{text}");
    assert!(text.contains("rejected by policy"), "{text}");
}

#[test]
fn other_bodies_round_trip() {
    let o = setup();
    let req = cmp::parse_message(&request(&o, "ir", "ir.der", &ir_args())).unwrap();
    let name = DistinguishedName::parse("CN=Test CA").unwrap();
    let header = ResponseHeader::reply_to(&req, name.as_der()).unwrap();
    let params = cmp::PbmParams::fresh().unwrap();
    for (body, tag) in [
        (ResponseBody::PkiConf, 19),
        (ResponseBody::Rp(vec![StatusInfo::accepted()]), 12),
        (
            ResponseBody::PollRep(vec![cmp::PollResponse {
                cert_req_id: 0,
                check_after: 5,
            }]),
            26,
        ),
        (
            ResponseBody::Genp(vec![(cmp::oid::CA_CERTS.to_string(), None)]),
            22,
        ),
    ] {
        let der = cmp::write_pbm(&header, &body, b"k", &params, &[]).unwrap();
        o.write("r.der", &der);
        o.run(&["asn1parse", "-inform", "DER", "-in", "r.der", "-i"]);
        let m = cmp::parse_message(&der).unwrap();
        assert_eq!(m.body.tag_number(), tag);
        m.verify_pbm(b"k").unwrap();
    }
}

#[test]
fn openssl_accepts_our_signed_cp() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    let o = setup();
    let mut a = SIG.to_vec();
    a.extend([
        "-newkey",
        "k.pem",
        "-subject",
        "/CN=dev",
        "-certout",
        "out.crt",
        "-implicit_confirm",
    ]);
    let req = cmp::parse_message(&request(&o, "cr", "cr.der", &a)).unwrap();
    let ca_der = der_of(&o, "ca.crt");
    let ca = parse_certificate(&ca_der).unwrap();
    let dev = der_of(&o, "dev.crt");
    let (_, pkcs8) = pem::decode(&o.read("ca.key")).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8).unwrap();

    let mut header = ResponseHeader::reply_to(&req, ca.subject.as_der()).unwrap();
    header.implicit_confirm = true;
    header.sender_kid = None;
    let body = ResponseBody::Cp(
        vec![],
        vec![cmp::CertResponse {
            cert_req_id: 0,
            status: StatusInfo::accepted(),
            certificate: Some(dev.clone()),
        }],
    );
    let alg = signet_x509::SignatureAlgorithm::EcdsaSha256.algorithm_identifier_der();
    let sign = |tbs: &[u8]| -> signet_x509::Result<Vec<u8>> {
        Ok(key
            .sign(&SystemRandom::new(), tbs)
            .unwrap()
            .as_ref()
            .to_vec())
    };
    let cp = cmp::write_signed(&header, &body, &alg, sign, std::slice::from_ref(&ca_der)).unwrap();
    let back = cmp::parse_message(&cp).unwrap();
    back.verify_signature(&ca_der).unwrap();
    assert!(back.verify_signature(&der_of(&o, "c.crt")).is_err());
    o.write("cp.der", &cp);

    let mut args = vec![
        "cmp", "-cmd", "cr", "-reqin", "cr.der", "-rspin", "cp.der", "-srvcert",
    ];
    args.push("ca.crt");
    args.extend(a.iter().copied());
    let (ok, text) = o.try_run(&args);
    assert!(ok, "openssl rejected our signed cp:\n{text}");
    assert_eq!(der_of(&o, "out.crt"), dev);
}

#[test]
fn openssl_accepts_our_cp_for_p10cr() {
    let o = setup();
    let mut a = MAC.to_vec();
    a.extend([
        "-recipient",
        "/CN=Test CA",
        "-csr",
        "dev.csr",
        "-certout",
        "out.crt",
        "-implicit_confirm",
    ]);
    let req = cmp::parse_message(&request(&o, "p10cr", "p10.der", &a)).unwrap();
    let ca = parse_certificate(&der_of(&o, "ca.crt")).unwrap();
    let dev = der_of(&o, "dev.crt");
    let mut header = ResponseHeader::reply_to(&req, ca.subject.as_der()).unwrap();
    header.implicit_confirm = true;
    // RFC 4210 §5.3.4: the certReqId answering a p10cr is -1.
    let body = ResponseBody::Cp(
        vec![],
        vec![cmp::CertResponse {
            cert_req_id: -1,
            status: StatusInfo::accepted(),
            certificate: Some(dev.clone()),
        }],
    );
    let params = cmp::PbmParams::fresh().unwrap();
    let cp = cmp::write_pbm(&header, &body, b"test", &params, &[]).unwrap();
    o.write("cp.der", &cp);
    let mut args = vec![
        "cmp", "-cmd", "p10cr", "-reqin", "p10.der", "-rspin", "cp.der",
    ];
    args.extend(a.iter().copied());
    let (ok, text) = o.try_run(&args);
    assert!(ok, "openssl rejected our cp:\n{text}");
    assert_eq!(der_of(&o, "out.crt"), dev);
}

#[test]
fn hostile_inputs_fail_cleanly() {
    let o = setup();
    let der = request(&o, "ir", "ir.der", &ir_args());
    // Oversize.
    let mut big = vec![0x30, 0x84, 0x00, 0x04, 0x00, 0x01];
    big.resize(256 * 1024 + 7, 0);
    assert!(cmp::parse_message(&big).is_err());
    // BER: the outer SEQUENCE with an indefinite length.
    let mut ber = vec![0x30, 0x80];
    ber.extend_from_slice(&der[4..]);
    ber.extend_from_slice(&[0, 0]);
    assert!(cmp::parse_message(&ber).is_err());
    // Trailing data.
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(cmp::parse_message(&trailing).is_err());

    // An iteration count over the cap is refused before any hashing.
    let req = cmp::parse_message(&der).unwrap();
    let header = ResponseHeader::reply_to(&req, &[0x30, 0x00]).unwrap();
    let mut params = cmp::PbmParams::fresh().unwrap();
    params.iterations = cmp::pbm::MAX_ITERATIONS + 1;
    let msg = cmp::write_pbm(&header, &ResponseBody::PkiConf, b"k", &params, &[]).unwrap();
    let msg = cmp::parse_message(&msg).unwrap();
    assert!(matches!(msg.pbm_params(), Err(Error::Malformed { .. })));
    assert!(msg.verify_pbm(b"k").is_err());
}

#[test]
fn a_crmf_request_is_a_request_the_ca_can_store_and_read_again() {
    let o = setup();
    let der = request(&o, "ir", "ir-crmf.der", &ir_args());
    let msg = cmp::parse_message(&der).unwrap();
    let req = &reqs(&msg)[0];
    let parsed = signet_x509::parse_request(req.der()).unwrap();
    assert_eq!(parsed.format, signet_x509::RequestFormat::Crmf);
    assert_eq!(parsed.der, req.der());
    assert_eq!(parsed.subject.common_name().as_deref(), Some("dev"));
    let dev = parse_certificate(&der_of(&o, "dev.crt")).unwrap();
    assert_eq!(parsed.spki_der, dev.spki_der);
    // A PKCS#10 request still reads as one.
    let csr = signet_x509::parse_request(&std::fs::read(o.path("dev.csr")).unwrap()).unwrap();
    assert_eq!(csr.format, signet_x509::RequestFormat::Pkcs10);
    // A flipped POP signature is refused as a bad signature; truncations fail cleanly.
    let mut bad = req.der().to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        signet_x509::parse_request(&bad),
        Err(Error::BadSignature)
    ));
    for n in 0..req.der().len() {
        assert!(signet_x509::parse_request(&req.der()[..n]).is_err());
    }
}
