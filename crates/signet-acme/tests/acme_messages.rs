//! signet-acme's message layer against published vectors (RFC 7515 A.2/A.3, RFC 8037 A.4,
//! RFC 7638 §3.1), keys generated here with aws-lc-rs, a second signer (Python
//! `cryptography`), and every request defect mapped to its problem type.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{hmac, rsa};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Value, json};
use signet_acme::jws::{self, MAX_JWS_BYTES};
use signet_acme::nonce::{self, MemoryNonceLedger, NonceError, NonceKey};
use signet_acme::{
    AcmeError, Algorithm, Directory, EabRequest, Jwk, JwsRequest, KeyRef, Meta, Problem,
    ProblemType,
};

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(text).expect("test vector is base64url")
}

// ---------------------------------------------------------------------------------------
// Published vectors
// ---------------------------------------------------------------------------------------

/// RFC 7515 Appendix A.2 and A.3: the JWS Protected Header and Payload of the examples.
const A2_PROTECTED: &str = "eyJhbGciOiJSUzI1NiJ9";
const A3_PROTECTED: &str = "eyJhbGciOiJFUzI1NiJ9";
const A_PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

/// RFC 7515 Appendix A.2.1: the RSA public key (n, e) of the RS256 example.
const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
/// RFC 7515 Appendix A.2.1: the resulting JWS Signature.
const A2_SIGNATURE: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

/// RFC 7515 Appendix A.3.1: the P-256 public key of the ES256 example.
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
/// RFC 7515 Appendix A.3.1: the resulting JWS Signature (R ‖ S).
const A3_SIGNATURE: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/// RFC 8037 Appendix A.2 (public key) and A.4 (JWS) for Ed25519.
const A4_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const A4_SIGNING_INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
const A4_SIGNATURE: &str =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/// RFC 7638 §3.1: the example RSA key and its thumbprint.
const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

fn jwk(value: Value) -> Jwk {
    Jwk::from_value(&value).expect("valid JWK")
}

#[test]
fn rfc7515_a2_rs256_verifies() {
    let key = jwk(json!({"kty": "RSA", "n": A2_N, "e": "AQAB"}));
    let input = format!("{A2_PROTECTED}.{A_PAYLOAD}");
    let sig = unb64(A2_SIGNATURE);
    jws::verify_signature(&key, Algorithm::Rs256, input.as_bytes(), &sig).expect("A.2 verifies");
    let mut flipped = input.into_bytes();
    flipped[30] ^= 1;
    assert!(jws::verify_signature(&key, Algorithm::Rs256, &flipped, &sig).is_err());
}

#[test]
fn rfc7515_a3_es256_verifies() {
    let key = jwk(json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y}));
    let input = format!("{A3_PROTECTED}.{A_PAYLOAD}");
    let sig = unb64(A3_SIGNATURE);
    jws::verify_signature(&key, Algorithm::Es256, input.as_bytes(), &sig).expect("A.3 verifies");
    let mut bad = sig.clone();
    bad[63] ^= 1;
    assert!(jws::verify_signature(&key, Algorithm::Es256, input.as_bytes(), &bad).is_err());
    // The algorithm must be the key's.
    let err = jws::verify_signature(&key, Algorithm::Es384, input.as_bytes(), &sig).unwrap_err();
    assert_eq!(err.problem_type(), ProblemType::Malformed);
}

#[test]
fn rfc8037_a4_ed25519_verifies() {
    let key = jwk(json!({"kty": "OKP", "crv": "Ed25519", "x": A4_X}));
    let sig = unb64(A4_SIGNATURE);
    jws::verify_signature(&key, Algorithm::EdDsa, A4_SIGNING_INPUT.as_bytes(), &sig)
        .expect("RFC 8037 A.4 verifies");
    assert!(jws::verify_signature(&key, Algorithm::EdDsa, b"eyJhbGciOiJFZERTQSJ9.", &sig).is_err());
}

#[test]
fn rfc7638_thumbprint_example() {
    // The RFC's key carries "alg" and "kid", which the thumbprint leaves out.
    let key = jwk(
        json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}),
    );
    assert_eq!(key.thumbprint(), RFC7638_THUMBPRINT);
    // Serialized, the key is its canonical form, and parses back to itself.
    let stored = serde_json::to_vec(&key).expect("serializes");
    assert_eq!(stored, key.canonical_json().as_bytes());
    assert_eq!(Jwk::from_json(&stored).expect("parses"), key);
}

// ---------------------------------------------------------------------------------------
// Keys generated here, requests built here
// ---------------------------------------------------------------------------------------

enum TestKey {
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl TestKey {
    fn p256() -> Self {
        TestKey::P256(
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256"),
        )
    }
    fn p384() -> Self {
        TestKey::P384(
            EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384"),
        )
    }
    fn rsa() -> Self {
        TestKey::Rsa(RsaKeyPair::generate(rsa::KeySize::Rsa2048).expect("RSA 2048"))
    }
    fn ed() -> Self {
        TestKey::Ed(Ed25519KeyPair::generate().expect("Ed25519"))
    }
    fn all() -> Vec<TestKey> {
        vec![Self::p256(), Self::p384(), Self::rsa(), Self::ed()]
    }

    fn alg(&self) -> &'static str {
        match self {
            TestKey::P256(_) => "ES256",
            TestKey::P384(_) => "ES384",
            TestKey::Rsa(_) => "RS256",
            TestKey::Ed(_) => "EdDSA",
        }
    }

    fn jwk(&self) -> Value {
        match self {
            TestKey::P256(k) | TestKey::P384(k) => {
                let point = k.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..])})
            }
            TestKey::Rsa(k) => {
                let (n, e) = rsa_public_key(k.public_key().as_ref());
                json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)})
            }
            TestKey::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            TestKey::P256(k) | TestKey::P384(k) => {
                k.sign(&rng, message).expect("signs").as_ref().to_vec()
            }
            TestKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("signs");
                sig
            }
            TestKey::Ed(k) => k.sign(message).as_ref().to_vec(),
        }
    }
}

/// `n` and `e` from a DER RSAPublicKey (`SEQUENCE { INTEGER n, INTEGER e }`), what
/// aws-lc-rs's `public_key()` gives.
fn rsa_public_key(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, first) = (der[0], der[1] as usize);
        let (len, start) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            (
                der[2..2 + n]
                    .iter()
                    .fold(0usize, |a, &b| a << 8 | b as usize),
                2 + n,
            )
        };
        (tag, &der[start..start + len], &der[start + len..])
    }
    let (seq, body, _) = tlv(der);
    assert_eq!(seq, 0x30);
    let (_, n, rest) = tlv(body);
    let (_, e, _) = tlv(rest);
    let strip = |v: &[u8]| {
        v.iter()
            .skip_while(|&&b| b == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    (strip(n), strip(e))
}

const URL: &str = "https://ca.example/acme/main/new-account";
const NONCE: &str = "oFvnlFP1wIhRlYS2jTaXbA";

/// A flattened JWS over `header` and `payload`, signed by `key`.
fn build(key: &TestKey, header: &Value, payload: &[u8]) -> Value {
    let protected = b64(header.to_string().as_bytes());
    let payload = b64(payload);
    let sig = key.sign(format!("{protected}.{payload}").as_bytes());
    json!({"protected": protected, "payload": payload, "signature": b64(&sig)})
}

fn header_jwk(key: &TestKey) -> Value {
    json!({"alg": key.alg(), "jwk": key.jwk(), "nonce": NONCE, "url": URL})
}

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON")
}

/// The problem type a body is refused with, parse or verification.
fn refused(body: &[u8]) -> ProblemType {
    match JwsRequest::parse(body).and_then(|r| r.verify_embedded()) {
        Ok(_) => panic!("accepted: {}", String::from_utf8_lossy(body)),
        Err(e) => e.problem_type(),
    }
}

#[test]
fn generated_keys_sign_requests_that_verify() {
    for key in TestKey::all() {
        let payload = br#"{"termsOfServiceAgreed":true}"#;
        let req =
            JwsRequest::parse(&body(&build(&key, &header_jwk(&key), payload))).expect("parses");
        assert_eq!(req.header().alg.name(), key.alg());
        assert_eq!(req.header().nonce, NONCE);
        let verified = req.verify_embedded().expect("verifies");
        assert_eq!(verified.payload, payload);
        assert!(!verified.is_post_as_get());
        verified.check_url(URL).expect("url");
        let err = verified
            .check_url("https://ca.example/acme/main/new-order")
            .unwrap_err();
        assert_eq!(err.problem_type(), ProblemType::Unauthorized);
        let v: Value = verified.json().expect("JSON payload");
        assert_eq!(v["termsOfServiceAgreed"], true);
        assert_eq!(verified.key, jwk(key.jwk()));

        // The same key through `kid`, as an account's request.
        let kid = "https://ca.example/acme/main/acct/1";
        let header = json!({"alg": key.alg(), "kid": kid, "nonce": NONCE, "url": URL});
        let req = JwsRequest::parse(&body(&build(&key, &header, b""))).expect("parses");
        assert_eq!(req.header().key, KeyRef::Kid(kid.to_owned()));
        let verified = req.clone().verify_with(&jwk(key.jwk())).expect("verifies");
        assert!(verified.is_post_as_get());
        assert_eq!(
            verified.json::<Value>().unwrap_err().problem_type(),
            ProblemType::Malformed
        );
        // kid requests cannot verify with their own (absent) key, and the wrong key fails.
        assert_eq!(
            req.clone().verify_embedded().unwrap_err().problem_type(),
            ProblemType::Malformed
        );
        let other = TestKey::p256();
        if key.alg() == "ES256" {
            assert!(matches!(
                req.verify_with(&jwk(other.jwk())).unwrap_err(),
                jws::JwsError::BadSignature
            ));
        }
    }
}

#[test]
fn post_as_get_is_not_an_empty_object() {
    let key = TestKey::p256();
    let empty = JwsRequest::parse(&body(&build(&key, &header_jwk(&key), b"")))
        .and_then(|r| r.verify_embedded())
        .expect("verifies");
    let object = JwsRequest::parse(&body(&build(&key, &header_jwk(&key), b"{}")))
        .and_then(|r| r.verify_embedded())
        .expect("verifies");
    assert!(empty.is_post_as_get());
    assert!(!object.is_post_as_get());
    assert_eq!(object.json::<Value>().expect("{}"), json!({}));
}

#[test]
fn algorithm_defects() {
    let key = TestKey::p256();
    // The wrong algorithm for the key.
    let mut h = header_jwk(&key);
    h["alg"] = json!("ES384");
    assert_eq!(
        refused(&body(&build(&key, &h, b"{}"))),
        ProblemType::Malformed
    );
    // `none`, HS256 (a MAC in the outer JWS), RS512, a missing alg.
    for alg in ["none", "HS256", "RS512", "PS256"] {
        h["alg"] = json!(alg);
        let b = body(&build(&key, &h, b"{}"));
        assert_eq!(refused(&b), ProblemType::BadSignatureAlgorithm, "{alg}");
        let problem = JwsRequest::parse(&b).unwrap_err().problem();
        assert_eq!(problem.algorithms, ["ES256", "ES384", "RS256", "EdDSA"]);
        let doc: Value = serde_json::to_value(&problem).expect("JSON");
        assert_eq!(
            doc["type"],
            "urn:ietf:params:acme:error:badSignatureAlgorithm"
        );
        assert_eq!(doc["status"], 400);
    }
    let mut h = header_jwk(&key);
    h.as_object_mut().expect("object").remove("alg");
    assert_eq!(
        refused(&body(&build(&key, &h, b"{}"))),
        ProblemType::Malformed
    );
}

#[test]
fn signature_defects() {
    for key in TestKey::all() {
        let good = build(&key, &header_jwk(&key), br#"{"a":1}"#);
        // A signature by another key of the same kind.
        let other = match key {
            TestKey::P256(_) => TestKey::p256(),
            TestKey::P384(_) => TestKey::p384(),
            TestKey::Rsa(_) => TestKey::rsa(),
            TestKey::Ed(_) => TestKey::ed(),
        };
        let protected = good["protected"].as_str().expect("str");
        let payload = good["payload"].as_str().expect("str");
        let forged = other.sign(format!("{protected}.{payload}").as_bytes());
        let mut v = good.clone();
        v["signature"] = json!(b64(&forged));
        assert_eq!(refused(&body(&v)), ProblemType::Malformed);
        // A flipped payload byte.
        let mut v = good.clone();
        v["payload"] = json!(b64(br#"{"a":2}"#));
        assert_eq!(refused(&body(&v)), ProblemType::Malformed);
        // A truncated signature.
        let mut v = good.clone();
        let sig = unb64(good["signature"].as_str().expect("str"));
        v["signature"] = json!(b64(&sig[..sig.len() - 1]));
        assert_eq!(refused(&body(&v)), ProblemType::Malformed);
    }
}

#[test]
fn header_defects() {
    let key = TestKey::ed();
    let kid = "https://ca.example/acme/main/acct/1";
    // Both jwk and kid; neither.
    let mut h = header_jwk(&key);
    h["kid"] = json!(kid);
    assert_eq!(
        refused(&body(&build(&key, &h, b"{}"))),
        ProblemType::Malformed
    );
    let mut h = header_jwk(&key);
    h.as_object_mut().expect("object").remove("jwk");
    assert_eq!(
        refused(&body(&build(&key, &h, b"{}"))),
        ProblemType::Malformed
    );
    // Missing url: malformed; missing or non-base64url nonce: badNonce.
    let mut h = header_jwk(&key);
    h.as_object_mut().expect("object").remove("url");
    assert_eq!(
        refused(&body(&build(&key, &h, b"{}"))),
        ProblemType::Malformed
    );
    let mut h = header_jwk(&key);
    h.as_object_mut().expect("object").remove("nonce");
    assert_eq!(
        refused(&body(&build(&key, &h, b"{}"))),
        ProblemType::BadNonce
    );
    let mut h = header_jwk(&key);
    h["nonce"] = json!("not a nonce!");
    assert_eq!(
        refused(&body(&build(&key, &h, b"{}"))),
        ProblemType::BadNonce
    );
    // b64 and crit.
    for (name, value) in [("b64", json!(false)), ("crit", json!(["b64"]))] {
        let mut h = header_jwk(&key);
        h[name] = value;
        assert_eq!(
            refused(&body(&build(&key, &h, b"{}"))),
            ProblemType::Malformed,
            "{name}"
        );
    }
    // Oversized header values.
    for (name, len) in [("url", 2049), ("nonce", 257)] {
        let mut h = header_jwk(&key);
        h[name] = json!("a".repeat(len));
        let expected = ProblemType::Malformed;
        assert_eq!(refused(&body(&build(&key, &h, b"{}"))), expected, "{name}");
    }
    let mut h = json!({"alg": "EdDSA", "kid": "k".repeat(2049), "nonce": NONCE, "url": URL});
    assert_eq!(
        JwsRequest::parse(&body(&build(&key, &h, b"{}")))
            .unwrap_err()
            .problem_type(),
        ProblemType::Malformed
    );
    // A duplicate header member (JSON text, not a serde_json::Value).
    h = header_jwk(&key);
    let text = h
        .to_string()
        .replacen('{', r#"{"url":"https://evil.example/","#, 1);
    let protected = b64(text.as_bytes());
    let payload = b64(b"{}");
    let sig = key.sign(format!("{protected}.{payload}").as_bytes());
    let raw = format!(
        r#"{{"protected":"{protected}","payload":"{payload}","signature":"{}"}}"#,
        b64(&sig)
    );
    assert_eq!(refused(raw.as_bytes()), ProblemType::Malformed);
}

#[test]
fn jwk_defects() {
    let key = TestKey::p256();
    let with_jwk = |jwk: Value| {
        let mut h = header_jwk(&key);
        h["jwk"] = jwk;
        body(&build(&key, &h, b"{}"))
    };
    // A private member.
    let mut j = key.jwk();
    j["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    assert_eq!(refused(&with_jwk(j)), ProblemType::Malformed);
    // A point not on the curve.
    let mut j = key.jwk();
    let mut y = unb64(j["y"].as_str().expect("str"));
    y[31] ^= 1;
    j["y"] = json!(b64(&y));
    assert_eq!(refused(&with_jwk(j)), ProblemType::BadPublicKey);
    // A coordinate of the wrong length; an unknown curve; an unknown kty.
    let mut j = key.jwk();
    j["x"] = json!(b64(&[1u8; 31]));
    assert_eq!(refused(&with_jwk(j)), ProblemType::BadPublicKey);
    let mut j = key.jwk();
    j["crv"] = json!("P-521");
    assert_eq!(refused(&with_jwk(j)), ProblemType::BadPublicKey);
    assert_eq!(
        refused(&with_jwk(json!({"kty": "oct", "k": "AAAA"}))),
        ProblemType::Malformed
    );
    assert_eq!(
        refused(&with_jwk(json!({"kty": "DSA"}))),
        ProblemType::BadPublicKey
    );
    // RSA 1024 (a modulus with its top bit set, odd), an even exponent, e = 1.
    let mut n1024 = vec![0xc5u8; 128];
    n1024[127] |= 1;
    let e = Jwk::from_value(&json!({"kty": "RSA", "n": b64(&n1024), "e": "AQAB"})).unwrap_err();
    assert_eq!(e.problem_type(), ProblemType::BadPublicKey);
    assert_eq!(
        refused(&with_jwk(
            json!({"kty": "RSA", "n": b64(&n1024), "e": "AQAB"})
        )),
        ProblemType::BadPublicKey
    );
    let n2048 = unb64(A2_N);
    for e in ["AQAA", "AQ", "Ag"] {
        let err = Jwk::from_value(&json!({"kty": "RSA", "n": b64(&n2048), "e": e})).unwrap_err();
        assert_eq!(err.problem_type(), ProblemType::BadPublicKey, "e={e}");
    }
    // A leading zero octet in n.
    let mut padded = vec![0u8];
    padded.extend_from_slice(&n2048);
    let err = Jwk::from_value(&json!({"kty": "RSA", "n": b64(&padded), "e": "AQAB"})).unwrap_err();
    assert_eq!(err.problem_type(), ProblemType::Malformed);
    // Ed25519 key of 31 bytes; oversized member.
    let err = Jwk::from_value(&json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[7u8; 31])}))
        .unwrap_err();
    assert_eq!(err.problem_type(), ProblemType::BadPublicKey);
    let err =
        Jwk::from_value(&json!({"kty": "RSA", "n": "A".repeat(5000), "e": "AQAB"})).unwrap_err();
    assert_eq!(err.problem_type(), ProblemType::Malformed);
    // Duplicate members in JWK text.
    let text = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{A4_X}","x":"{A4_X}"}}"#);
    assert!(Jwk::from_json(text.as_bytes()).is_err());
    // Key equality ignores members other than the key's own.
    let mut decorated = key.jwk();
    decorated["kid"] = json!("one");
    decorated["use"] = json!("sig");
    assert!(jwk(decorated).same_key(&jwk(key.jwk())));
    assert!(!jwk(TestKey::p256().jwk()).same_key(&jwk(key.jwk())));
}

#[test]
fn serialization_defects() {
    let key = TestKey::p256();
    let good = build(&key, &header_jwk(&key), b"{}");
    // The compact serialization; not JSON; an array.
    let compact = format!(
        "{}.{}.{}",
        good["protected"].as_str().expect("str"),
        good["payload"].as_str().expect("str"),
        good["signature"].as_str().expect("str")
    );
    assert_eq!(refused(compact.as_bytes()), ProblemType::Malformed);
    assert_eq!(refused(b"[]"), ProblemType::Malformed);
    assert_eq!(refused(b""), ProblemType::Malformed);
    // The general serialization; an unprotected header; an unknown member.
    let general = json!({"payload": good["payload"], "signatures": [{"protected": good["protected"], "signature": good["signature"]}]});
    assert_eq!(refused(&body(&general)), ProblemType::Malformed);
    for (name, value) in [("header", json!({"kid": "x"})), ("extra", json!(1))] {
        let mut v = good.clone();
        v[name] = value;
        assert_eq!(refused(&body(&v)), ProblemType::Malformed, "{name}");
    }
    // A duplicate member.
    let text = String::from_utf8(body(&good)).expect("UTF-8");
    let dup = text.replacen('{', &format!(r#"{{"payload":"{}","#, b64(b"{\"x\":1}")), 1);
    assert_eq!(refused(dup.as_bytes()), ProblemType::Malformed);
    // Non-base64url characters and padding, in each member.
    for field in ["protected", "payload", "signature"] {
        let original = good[field].as_str().expect("str").to_owned();
        for bad in [
            format!("{original}="),
            original.replacen(|c: char| c.is_alphanumeric(), "+", 1),
            format!("{original}/"),
            format!(" {original}"),
        ] {
            let mut v = good.clone();
            v[field] = json!(bad);
            assert_eq!(refused(&body(&v)), ProblemType::Malformed, "{field}: {bad}");
        }
    }
    // The detail names the member and the cause.
    let mut v = good.clone();
    v["signature"] = json!("abc=");
    let detail = JwsRequest::parse(&body(&v))
        .unwrap_err()
        .problem()
        .detail
        .unwrap_or_default();
    assert!(
        detail.contains("signature") && detail.contains("base64url"),
        "{detail}"
    );
    // Oversized: the whole body, the protected header, the signature.
    let mut v = good.clone();
    v["payload"] = json!("A".repeat(MAX_JWS_BYTES));
    let b = body(&v);
    assert!(b.len() > MAX_JWS_BYTES);
    assert!(matches!(
        JwsRequest::parse(&b).unwrap_err(),
        jws::JwsError::TooLarge
    ));
    let mut v = good.clone();
    v["protected"] = json!("A".repeat(jws::MAX_PROTECTED_CHARS + 4));
    assert_eq!(refused(&body(&v)), ProblemType::Malformed);
    let mut v = good.clone();
    v["signature"] = json!("A".repeat(jws::MAX_SIGNATURE_CHARS + 4));
    assert_eq!(refused(&body(&v)), ProblemType::Malformed);
    // The protected header is not an object.
    let mut v = good;
    v["protected"] = json!(b64(b"[1]"));
    assert_eq!(refused(&body(&v)), ProblemType::Malformed);
}

// ---------------------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------------------

#[test]
fn nonces_authenticate_date_and_are_single_use() {
    let key = NonceKey::new(&[7u8; 32]);
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let max_age = Duration::from_secs(300);
    let n = key.mint(now).expect("mints");
    assert_eq!(n.len(), nonce::NONCE_CHARS);
    assert!(
        n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let checked = key
        .check(&n, now + Duration::from_secs(10), max_age)
        .expect("valid");
    assert_eq!(checked.issued_at, now);
    assert_eq!(checked.expires, now + max_age);
    // Two mints differ.
    assert_ne!(key.mint(now).expect("mints"), n);
    // Expired; from the future; another key; tampered; garbage.
    assert!(matches!(
        key.check(&n, now + max_age, max_age),
        Err(NonceError::Expired)
    ));
    assert!(matches!(
        key.check(&n, now - Duration::from_secs(120), max_age),
        Err(NonceError::FromFuture)
    ));
    assert!(
        key.check(&n, now - Duration::from_secs(30), max_age)
            .is_ok()
    );
    let other = NonceKey::new(&[8u8; 32]);
    assert!(matches!(
        other.check(&n, now, max_age),
        Err(NonceError::BadMac)
    ));
    let mut raw = unb64(&n);
    raw[3] ^= 1; // the date, moved by the client
    assert!(matches!(
        key.check(&b64(&raw), now, max_age),
        Err(NonceError::BadMac)
    ));
    assert!(matches!(
        key.check("abc", now, max_age),
        Err(NonceError::Malformed)
    ));
    assert!(matches!(
        key.check(&format!("{}=", &n[..53]), now, max_age),
        Err(NonceError::Malformed)
    ));
    for e in [
        NonceError::Expired,
        NonceError::BadMac,
        NonceError::Malformed,
        NonceError::Replayed,
    ] {
        assert_eq!(e.problem_type(), ProblemType::BadNonce);
    }
    // Single use through the ledger.
    let ledger = MemoryNonceLedger::new(max_age, 1000);
    nonce::consume(&key, &ledger, &n, now, max_age).expect("first use");
    assert!(matches!(
        nonce::consume(&key, &ledger, &n, now, max_age),
        Err(NonceError::Replayed)
    ));
    // Minted on another node with the same key: accepted once too.
    let peer = NonceKey::new(&[7u8; 32]);
    let m = peer.mint(now).expect("mints");
    nonce::consume(&key, &ledger, &m, now, max_age).expect("peer's nonce");
    assert_eq!(ledger.len(), 2);
}

#[test]
fn memory_ledger_is_bounded_by_expiry() {
    use signet_acme::NonceLedger;
    let max_age = Duration::from_secs(60);
    let ledger = MemoryNonceLedger::new(max_age, 4);
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
    for i in 0..4u8 {
        assert!(ledger.first_use(&[i; 16], t0 + max_age));
    }
    assert!(!ledger.first_use(&[0; 16], t0 + max_age), "replay");
    // Full, and nothing has expired yet: refused (safe), not evicted.
    assert!(!ledger.first_use(&[9; 16], t0 + max_age));
    // Much later: the old entries are dead and make room.
    let later = t0 + Duration::from_secs(3600);
    assert!(ledger.first_use(&[10; 16], later + max_age));
    assert_eq!(ledger.len(), 1);
}

// ---------------------------------------------------------------------------------------
// External account binding
// ---------------------------------------------------------------------------------------

fn eab(hmac_key: &[u8], header: &Value, payload: &[u8]) -> Value {
    let protected = b64(header.to_string().as_bytes());
    let payload = b64(payload);
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, hmac_key),
        format!("{protected}.{payload}").as_bytes(),
    );
    json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())})
}

#[test]
fn external_account_binding() {
    let account = TestKey::p256();
    let account_jwk = jwk(account.jwk());
    let hmac_key = [42u8; 32];
    let header = json!({"alg": "HS256", "kid": "eab-1", "url": URL});
    let jwk_bytes = account.jwk().to_string().into_bytes();
    let good = eab(&hmac_key, &header, &jwk_bytes);
    let req = EabRequest::parse(&good).expect("parses");
    assert_eq!(req.key_id(), "eab-1");
    assert_eq!(
        req.verify(&hmac_key, &account_jwk, URL).expect("verifies"),
        "eab-1"
    );
    // The wrong HMAC key, the wrong URL, another account key.
    let problem = |r: Result<String, signet_acme::EabError>| r.unwrap_err().problem_type();
    assert_eq!(
        problem(req.verify(&[1u8; 32], &account_jwk, URL)),
        ProblemType::Unauthorized
    );
    assert_eq!(
        problem(req.verify(&hmac_key, &account_jwk, "https://x/")),
        ProblemType::Unauthorized
    );
    assert_eq!(
        problem(req.verify(&hmac_key, &jwk(TestKey::ed().jwk()), URL)),
        ProblemType::Unauthorized
    );
    // A nonce, another algorithm, no kid, a jwk in the header.
    let parse = |h: Value| {
        EabRequest::parse(&eab(&hmac_key, &h, &jwk_bytes))
            .unwrap_err()
            .problem_type()
    };
    assert_eq!(
        parse(json!({"alg": "HS256", "kid": "eab-1", "url": URL, "nonce": NONCE})),
        ProblemType::Malformed
    );
    assert_eq!(
        parse(json!({"alg": "HS512", "kid": "eab-1", "url": URL})),
        ProblemType::BadSignatureAlgorithm
    );
    assert_eq!(
        parse(json!({"alg": "HS256", "url": URL})),
        ProblemType::Malformed
    );
    assert_eq!(
        parse(json!({"alg": "HS256", "kid": "e", "url": URL, "jwk": account.jwk()})),
        ProblemType::Malformed
    );
    let hs512 = eab(
        &hmac_key,
        &json!({"alg": "HS512", "kid": "eab-1", "url": URL}),
        &jwk_bytes,
    );
    assert_eq!(
        EabRequest::parse(&hs512).unwrap_err().problem().algorithms,
        ["HS256"]
    );
    // A payload that is not a JWK.
    let bad = EabRequest::parse(&eab(&hmac_key, &header, b"{}")).expect("parses");
    assert_eq!(
        bad.verify(&hmac_key, &account_jwk, URL)
            .unwrap_err()
            .problem_type(),
        ProblemType::Malformed
    );
    // Unknown members.
    let mut extra = good;
    extra["header"] = json!({});
    assert_eq!(
        EabRequest::parse(&extra).unwrap_err().problem_type(),
        ProblemType::Malformed
    );
}

// ---------------------------------------------------------------------------------------
// Problems and the directory
// ---------------------------------------------------------------------------------------

#[test]
fn problem_types_and_documents() {
    for &t in ProblemType::ALL {
        assert_eq!(ProblemType::from_urn(&t.urn()), Some(t));
        assert!(t.urn().starts_with("urn:ietf:params:acme:error:"));
    }
    assert_eq!(
        ProblemType::BadCsr.urn(),
        "urn:ietf:params:acme:error:badCSR"
    );
    assert_eq!(ProblemType::RateLimited.status(), 429);
    assert_eq!(ProblemType::ServerInternal.status(), 500);
    assert_eq!(ProblemType::Unauthorized.status(), 403);
    let doc =
        Problem::new(ProblemType::RejectedIdentifier, "no").with_subproblems(vec![Problem::about(
            ProblemType::Caa,
            signet_acme::Identifier {
                kind: "dns".into(),
                value: "a.example".into(),
            },
            "CAA forbids",
        )]);
    let v = serde_json::to_value(&doc).expect("JSON");
    assert_eq!(
        v,
        json!({
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "no",
            "status": 400,
            "subproblems": [{
                "type": "urn:ietf:params:acme:error:caa",
                "detail": "CAA forbids",
                "identifier": {"type": "dns", "value": "a.example"}
            }]
        })
    );
    let back: Problem = serde_json::from_value(v).expect("parses");
    assert_eq!(back, doc);
}

#[test]
fn directory_document() {
    let mut meta = Meta {
        terms_of_service: Some("https://ca.example/tos".into()),
        external_account_required: true,
        caa_identities: vec!["ca.example".into()],
        ..Meta::default()
    };
    meta.profiles
        .insert("server".into(), "TLS server, 90 days".into());
    let dir = Directory::new("https://ca.example/", "main", meta);
    let v = serde_json::to_value(&dir).expect("JSON");
    assert_eq!(
        v,
        json!({
            "newNonce": "https://ca.example/acme/main/new-nonce",
            "newAccount": "https://ca.example/acme/main/new-account",
            "newOrder": "https://ca.example/acme/main/new-order",
            "revokeCert": "https://ca.example/acme/main/revoke-cert",
            "keyChange": "https://ca.example/acme/main/key-change",
            "renewalInfo": "https://ca.example/acme/main/renewal-info",
            "meta": {
                "termsOfService": "https://ca.example/tos",
                "caaIdentities": ["ca.example"],
                "externalAccountRequired": true,
                "profiles": {"server": "TLS server, 90 days"}
            }
        })
    );
    let bare = serde_json::to_value(Directory::new("https://ca.example", "x", Meta::default()))
        .expect("JSON");
    assert!(bare.get("meta").is_none());
}

// ---------------------------------------------------------------------------------------
// A second signer: Python `cryptography`
// ---------------------------------------------------------------------------------------

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Signs one ES256 and one Ed25519 ACME request (flattened JWS, `jwk` header), one per line.
const PYTHON_SIGNER: &str = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

url, nonce = sys.argv[1], sys.argv[2]
payload = b64(json.dumps({"termsOfServiceAgreed": True}).encode())

k = ec.generate_private_key(ec.SECP256R1())
n = k.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}
protected = b64(json.dumps({"alg": "ES256", "jwk": jwk, "nonce": nonce, "url": url}).encode())
r, s = decode_dss_signature(k.sign(f"{protected}.{payload}".encode(), ec.ECDSA(hashes.SHA256())))
print(json.dumps({"protected": protected, "payload": payload, "signature": b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}))

k = ed25519.Ed25519PrivateKey.generate()
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))}
protected = b64(json.dumps({"alg": "EdDSA", "jwk": jwk, "nonce": nonce, "url": url}).encode())
print(json.dumps({"protected": protected, "payload": payload, "signature": b64(k.sign(f"{protected}.{payload}".encode()))}))
"#;

#[test]
fn python_cryptography_signs_requests_that_verify() {
    let py = std::env::var_os("SIGNET_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    let present = Command::new(&py)
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::oracle::available(
        "cryptography",
        present,
        &format!(
            "{} has no `cryptography`; scripts/test.sh installs it into .venv and exports \
             SIGNET_PYTHON, or point SIGNET_PYTHON at a python that has it",
            py.display()
        ),
    ) {
        return;
    }
    let out = Command::new(&py)
        .args(["-c", PYTHON_SIGNER, URL, NONCE])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    for (line, alg) in lines.iter().zip([Algorithm::Es256, Algorithm::EdDsa]) {
        let verified = JwsRequest::parse(line.as_bytes())
            .and_then(|r| r.verify_embedded())
            .unwrap_or_else(|e| panic!("{alg}: {}", e.problem().detail.unwrap_or_default()));
        assert_eq!(verified.header.alg, alg);
        verified.check_url(URL).expect("url");
        assert_eq!(
            verified.json::<Value>().expect("JSON")["termsOfServiceAgreed"],
            true
        );
        // A flipped payload byte fails.
        let mut v: Value = serde_json::from_str(line).expect("JSON");
        v["payload"] = json!(b64(br#"{"termsOfServiceAgreed": false}"#));
        assert_eq!(refused(&body(&v)), ProblemType::Malformed);
    }
}
