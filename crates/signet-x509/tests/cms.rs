//! CMS against the real `openssl cms`: messages it signs and encrypts (DER, and BER with
//! `-stream -indef`) parse, verify and decrypt here; messages written here verify and decrypt
//! there. Truncated, flipped and hostile inputs fail cleanly.
#![allow(clippy::unwrap_used)]

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RSA_PKCS1_SHA512, RsaKeyPair,
};
use common::{Openssl, Rng};
use signet_x509::Error;
use signet_x509::cms::{
    self, Attribute, CertId, ContentCipher, DigestAlg, oid, parse_enveloped_data, parse_signed_data,
};

/// A key and a self-signed certificate made by openssl, in `o`'s directory as
/// `NAME.key` (PKCS#8 PEM) and `NAME.pem`.
struct Party {
    name: String,
    cert_der: Vec<u8>,
    pkcs8: Vec<u8>,
}

impl Party {
    fn new(o: &Openssl, name: &str, spec: &str, subject: &str, serial: &str) -> Party {
        let key = format!("{name}.key");
        let pem = format!("{name}.pem");
        o.genkey(&key, spec);
        o.run(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-subj",
            subject,
            "-days",
            "2",
            "-set_serial",
            serial,
            "-out",
            &pem,
        ]);
        o.run(&[
            "x509",
            "-in",
            &pem,
            "-outform",
            "DER",
            "-out",
            &format!("{name}.der"),
        ]);
        let p8 = format!("{name}.p8");
        o.run(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", &key, "-outform", "DER", "-out", &p8,
        ]);
        Party {
            name: name.to_owned(),
            cert_der: o.read(&format!("{name}.der")),
            pkcs8: o.read(&format!("{name}.p8")),
        }
    }

    fn key(&self) -> String {
        format!("{}.key", self.name)
    }

    fn pem(&self) -> String {
        format!("{}.pem", self.name)
    }

    fn decrypting_key(&self) -> Pkcs1PrivateDecryptingKey {
        Pkcs1PrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(&self.pkcs8).unwrap())
            .unwrap()
    }
}

/// 3000 octets of varied content: long enough for `-stream` to write it in chunks.
fn payload() -> Vec<u8> {
    Rng(0x5eed).bytes(3000)
}

const SHA256_WITH_RSA: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
const SHA512_WITH_RSA: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
];
const ECDSA_WITH_SHA256: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

/// `openssl cms -sign` of `payload()` by `signer`, DER or (with `stream`) BER.
fn openssl_sign(o: &Openssl, signer: &Party, md: &str, stream: bool) -> Vec<u8> {
    o.write("data.bin", payload());
    let mut args = vec![
        "cms",
        "-sign",
        "-nodetach",
        "-binary",
        "-nosmimecap",
        "-md",
        md,
        "-in",
        "data.bin",
        "-outform",
        "DER",
        "-out",
        "signed.der",
    ];
    let (key, pem) = (signer.key(), signer.pem());
    args.extend_from_slice(&["-signer", &pem, "-inkey", &key]);
    if stream {
        args.extend_from_slice(&["-stream", "-indef"]);
    }
    o.run(&args);
    o.read("signed.der")
}

/// `openssl cms -encrypt` of `payload()` to `recipients`.
fn openssl_encrypt(o: &Openssl, recipients: &[&Party], cipher: &str, stream: bool) -> Vec<u8> {
    o.write("data.bin", payload());
    let flag = format!("-{cipher}");
    let mut args = vec![
        "cms",
        "-encrypt",
        "-provider",
        "legacy",
        "-provider",
        "default",
        "-binary",
        &flag,
        "-in",
        "data.bin",
        "-outform",
        "DER",
        "-out",
        "enveloped.der",
    ];
    if stream {
        args.extend_from_slice(&["-stream", "-indef"]);
    }
    let pems: Vec<String> = recipients.iter().map(|p| p.pem()).collect();
    args.extend(pems.iter().map(String::as_str));
    o.run(&args);
    o.read("enveloped.der")
}

#[test]
fn openssl_signed_data_parses_and_verifies() {
    let o = Openssl::new();
    let rsa = Party::new(&o, "rsa", "rsa:2048", "/CN=scep client", "0x0abc");
    // Same issuer and serial, another key: the signer identifier matches, the signature not.
    let impostor = Party::new(&o, "impostor", "rsa:2048", "/CN=scep client", "0x0abc");
    let other = Party::new(&o, "other", "rsa:2048", "/CN=scep client", "0x0abd");
    for (md, digest) in [
        ("sha1", DigestAlg::Sha1),
        ("sha256", DigestAlg::Sha256),
        ("sha384", DigestAlg::Sha384),
        ("sha512", DigestAlg::Sha512),
    ] {
        for stream in [false, true] {
            let ctx = format!("{md}, stream {stream}");
            let der = openssl_sign(&o, &rsa, md, stream);
            // `-stream -indef` really writes BER: an indefinite length right after the OID.
            assert_eq!(der[1] == 0x80, stream, "{ctx}");
            let msg = parse_signed_data(&der).unwrap();
            assert_eq!(msg.content_type, oid::DATA);
            assert_eq!(msg.content.as_deref(), Some(payload().as_slice()), "{ctx}");
            assert_eq!(msg.certificates, std::slice::from_ref(&rsa.cert_der));
            let [signer] = msg.signers.as_slice() else {
                panic!("one signer expected ({ctx})");
            };
            assert_eq!(signer.digest, digest);
            assert!(
                matches!(signer.sid, CertId::IssuerAndSerial { ref serial, .. } if serial == &[0x0a, 0xbc])
            );
            assert!(signer.attribute(oid::SIGNING_TIME).is_some(), "{ctx}");
            let cert = signer.find_certificate(&msg.certificates).unwrap();
            signer.verify(&payload(), cert).unwrap();

            let mut tampered = payload();
            tampered[100] ^= 1;
            assert!(
                matches!(signer.verify(&tampered, cert), Err(Error::BadSignature)),
                "{ctx}"
            );
            assert!(
                matches!(
                    signer.verify(&payload(), &impostor.cert_der),
                    Err(Error::BadSignature)
                ),
                "{ctx}"
            );
            assert!(signer.verify(&payload(), &other.cert_der).is_err(), "{ctx}");
            assert!(
                signer
                    .find_certificate(std::slice::from_ref(&other.cert_der))
                    .is_none()
            );
        }
    }

    let ec = Party::new(&o, "ec", "ec:P-256", "/CN=ec client", "7");
    let der = openssl_sign(&o, &ec, "sha256", false);
    let msg = parse_signed_data(&der).unwrap();
    let signer = &msg.signers[0];
    signer.verify(&payload(), &ec.cert_der).unwrap();
    assert!(matches!(
        signer.verify(b"x", &ec.cert_der),
        Err(Error::BadSignature)
    ));

    // A signature by subject key identifier (`-keyid`).
    o.write("data.bin", payload());
    o.run(&[
        "cms",
        "-sign",
        "-nodetach",
        "-binary",
        "-keyid",
        "-in",
        "data.bin",
        "-signer",
        "rsa.pem",
        "-inkey",
        "rsa.key",
        "-outform",
        "DER",
        "-out",
        "keyid.der",
    ]);
    let msg = parse_signed_data(&o.read("keyid.der")).unwrap();
    let signer = &msg.signers[0];
    assert!(matches!(signer.sid, CertId::SubjectKeyId(_)));
    assert_eq!(
        signer.find_certificate(&msg.certificates),
        Some(rsa.cert_der.as_slice())
    );
    signer.verify(&payload(), &rsa.cert_der).unwrap();

    // Enveloped data is not signed data.
    let env = openssl_encrypt(&o, &[&rsa], "aes128", false);
    assert!(matches!(
        parse_signed_data(&env),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn openssl_enveloped_data_decrypts() {
    let o = Openssl::new();
    let ca = Party::new(&o, "ca", "rsa:2048", "/CN=SCEP CA", "0x01");
    let ra = Party::new(&o, "ra", "rsa:3072", "/CN=SCEP RA", "0x02");
    for (flag, cipher) in [
        ("des", ContentCipher::DesCbc),
        ("des3", ContentCipher::DesEde3Cbc),
        ("aes128", ContentCipher::Aes128Cbc),
        ("aes256", ContentCipher::Aes256Cbc),
    ] {
        for stream in [false, true] {
            let ctx = format!("{flag}, stream {stream}");
            let der = openssl_encrypt(&o, &[&ca], flag, stream);
            assert_eq!(der[1] == 0x80, stream, "{ctx}");
            let msg = parse_enveloped_data(&der).unwrap();
            assert_eq!(msg.cipher, cipher, "{ctx}");
            assert_eq!(msg.content_type, oid::DATA);
            assert_eq!(msg.recipients.len(), 1);
            let plain = msg.decrypt(&ca.cert_der, &ca.decrypting_key()).unwrap();
            assert_eq!(plain, payload(), "{ctx}");
            // The only recipient is tried whatever certificate we name; the wrong key never
            // gives the content back. Implicit rejection decrypts with a random key, whose
            // output has valid padding about once in 256 tries (the caller then finds no
            // CSR in it), so garbage is allowed here, the plaintext is not.
            assert!(
                match msg.decrypt(&ra.cert_der, &ra.decrypting_key()) {
                    Err(e) => matches!(e, Error::Malformed { .. }),
                    Ok(garbage) => garbage != payload(),
                },
                "{ctx}"
            );
        }
    }
    // Two recipients: each finds its own.
    let der = openssl_encrypt(&o, &[&ca, &ra], "aes256", true);
    let msg = parse_enveloped_data(&der).unwrap();
    assert_eq!(msg.recipients.len(), 2);
    for p in [&ca, &ra] {
        assert_eq!(
            msg.decrypt(&p.cert_der, &p.decrypting_key()).unwrap(),
            payload()
        );
    }
    let stranger = Party::new(&o, "stranger", "rsa:2048", "/CN=stranger", "0x03");
    assert!(
        msg.decrypt(&stranger.cert_der, &stranger.decrypting_key())
            .is_err()
    );

    let signed = openssl_sign(&o, &ca, "sha256", false);
    assert!(matches!(
        parse_enveloped_data(&signed),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn envelope_decrypts_with_openssl() {
    let o = Openssl::new();
    let client = Party::new(&o, "client", "rsa:2048", "/CN=client", "0x4242");
    for cipher in [
        ContentCipher::DesCbc,
        ContentCipher::DesEde3Cbc,
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes256Cbc,
    ] {
        for content in [payload(), Vec::new(), b"sixteen octets!!".to_vec()] {
            let der = cms::envelope(&content, &client.cert_der, cipher).unwrap();
            o.write("ours.der", &der);
            o.run(&[
                "cms",
                "-decrypt",
                "-provider",
                "legacy",
                "-provider",
                "default",
                "-inform",
                "DER",
                "-in",
                "ours.der",
                "-recip",
                "client.pem",
                "-inkey",
                "client.key",
                "-binary",
                "-out",
                "plain.bin",
            ]);
            assert_eq!(o.read("plain.bin"), content, "{cipher:?}");
            // encryptedContent is a primitive [0] (tag 0x80), never chunked.
            let dump = o.run(&["asn1parse", "-inform", "DER", "-in", "ours.der"]);
            assert!(
                dump.lines()
                    .any(|l| l.contains("prim:") && l.contains("cont [ 0 ]")),
                "{dump}"
            );
            assert!(!dump.contains("cons:     cont [ 0 ]"), "{dump}");
            let msg = parse_enveloped_data(&der).unwrap();
            assert_eq!(msg.cipher, cipher);
            assert_eq!(
                msg.decrypt(&client.cert_der, &client.decrypting_key())
                    .unwrap(),
                content
            );
        }
    }
    let ec = Party::new(&o, "ec", "ec:P-256", "/CN=ec", "0x05");
    assert!(matches!(
        cms::envelope(b"x", &ec.cert_der, ContentCipher::Aes128Cbc),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn sign_verifies_with_openssl() {
    let o = Openssl::new();
    let ra = Party::new(&o, "ra", "rsa:2048", "/CN=SCEP RA", "0x00ff");
    let extra = Party::new(&o, "extra", "rsa:2048", "/CN=Extra", "0x0100");
    let rsa = RsaKeyPair::from_pkcs8(&ra.pkcs8).unwrap();
    let nonce = [0x11u8; 16];
    let attrs = vec![
        Attribute::printable_string(oid::SCEP_MESSAGE_TYPE, "3").unwrap(),
        Attribute::printable_string(oid::SCEP_PKI_STATUS, "0").unwrap(),
        Attribute::printable_string(oid::SCEP_TRANSACTION_ID, "ABCDEF0123").unwrap(),
        Attribute::octet_string(oid::SCEP_SENDER_NONCE, &[0x22; 16]).unwrap(),
        Attribute::octet_string(oid::SCEP_RECIPIENT_NONCE, &nonce).unwrap(),
    ];
    let certs = [ra.cert_der.clone(), extra.cert_der.clone()];
    for (digest, alg, enc) in [
        (DigestAlg::Sha256, &SHA256_WITH_RSA, &RSA_PKCS1_SHA256),
        (DigestAlg::Sha512, &SHA512_WITH_RSA, &RSA_PKCS1_SHA512),
    ] {
        for content in [payload(), Vec::new()] {
            let der = cms::sign(&content, digest, alg, &ra.cert_der, &attrs, &certs, |m| {
                let mut sig = vec![0u8; rsa.public_modulus_len()];
                rsa.sign(enc, &SystemRandom::new(), m, &mut sig).unwrap();
                Ok(sig)
            })
            .unwrap();
            o.write("ours.der", &der);
            o.run(&[
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-in",
                "ours.der",
                "-noverify",
                "-binary",
                "-out",
                "content.bin",
            ]);
            assert_eq!(o.read("content.bin"), content);
            let dump = o.run(&["asn1parse", "-inform", "DER", "-in", "ours.der"]);
            for a in &attrs {
                assert!(dump.contains(&a.oid), "{} missing:\n{dump}", a.oid);
            }
            assert!(dump.contains(":messageDigest") && dump.contains(":contentType"));

            let msg = parse_signed_data(&der).unwrap();
            assert_eq!(msg.content.as_deref(), Some(content.as_slice()));
            assert_eq!(msg.certificates.len(), 2);
            let signer = &msg.signers[0];
            let cert = signer.find_certificate(&msg.certificates).unwrap();
            assert_eq!(cert, ra.cert_der.as_slice());
            signer.verify(&content, cert).unwrap();
            let ty = signer.signed_attribute(oid::SCEP_MESSAGE_TYPE).unwrap();
            assert_eq!(ty.string_value().as_deref(), Some("3"));
            let echoed = signer.signed_attribute(oid::SCEP_RECIPIENT_NONCE).unwrap();
            assert_eq!(echoed.octets_value(), Some(&nonce[..]));
        }
    }

    // ECDSA, no certificates.
    let ec = Party::new(&o, "ec", "ec:P-256", "/CN=ec", "0x06");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &ec.pkcs8).unwrap();
    let der = cms::sign(
        b"hi",
        DigestAlg::Sha256,
        &ECDSA_WITH_SHA256,
        &ec.cert_der,
        &[],
        &[],
        |m| Ok(key.sign(&SystemRandom::new(), m).unwrap().as_ref().to_vec()),
    )
    .unwrap();
    o.write("ec.der", &der);
    o.run(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        "ec.der",
        "-noverify",
        "-certfile",
        "ec.pem",
        "-out",
        "ec.bin",
    ]);
    assert_eq!(o.read("ec.bin"), b"hi");
    let msg = parse_signed_data(&der).unwrap();
    assert!(msg.certificates.is_empty());
    msg.signers[0].verify(b"hi", &ec.cert_der).unwrap();

    // contentType and messageDigest are ours to write; the signer's error comes back.
    let clash = [Attribute::octet_string(oid::MESSAGE_DIGEST, b"x").unwrap()];
    let no_sign = |_: &[u8]| -> signet_x509::Result<Vec<u8>> { panic!("must not sign") };
    assert!(
        cms::sign(
            b"",
            DigestAlg::Sha256,
            &SHA256_WITH_RSA,
            &ra.cert_der,
            &clash,
            &[],
            no_sign
        )
        .is_err()
    );
    let refused = cms::sign(
        b"",
        DigestAlg::Sha256,
        &SHA256_WITH_RSA,
        &ra.cert_der,
        &[],
        &[],
        |_| Err(Error::BadSignature),
    );
    assert!(matches!(refused, Err(Error::BadSignature)));
    assert!(Attribute::printable_string(oid::SCEP_TRANSACTION_ID, "a_b").is_err());
}

#[test]
fn hostile_input_fails_cleanly() {
    let o = Openssl::new();
    let p = Party::new(&o, "p", "rsa:2048", "/CN=p", "0x01");
    let messages = [
        openssl_sign(&o, &p, "sha256", false),
        openssl_sign(&o, &p, "sha256", true),
        openssl_encrypt(&o, &[&p], "aes128", false),
        openssl_encrypt(&o, &[&p], "des3", true),
    ];
    let key = p.decrypting_key();
    let try_all = |data: &[u8]| {
        let signed = parse_signed_data(data);
        if let Ok(msg) = &signed {
            for s in &msg.signers {
                let _ = s.verify(msg.content.as_deref().unwrap_or_default(), &p.cert_der);
            }
        }
        let enveloped = parse_enveloped_data(data);
        if let Ok(msg) = &enveloped {
            let _ = msg.decrypt(&p.cert_der, &key);
        }
        signed.is_ok() || enveloped.is_ok()
    };
    for m in &messages {
        assert!(try_all(m));
        // Every proper prefix is refused.
        for n in 0..m.len() {
            assert!(!try_all(&m[..n]), "prefix of {n} octets accepted");
        }
        // Flipping any bit of the first 200 octets (the structure) never panics.
        for i in 0..m.len().min(200) {
            for bit in 0..8 {
                let mut v = m.clone();
                v[i] ^= 1 << bit;
                try_all(&v);
            }
        }
    }
    let mut rng = Rng(7);
    for n in 0..2000 {
        let mut v = rng.bytes(n % 300);
        if let Some(b) = v.first_mut() {
            *b = 0x30;
        }
        try_all(&v);
    }
    // Deep nesting, huge lengths, oversized input.
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        deep.extend_from_slice(&[0x30, 0x80]);
    }
    assert!(!try_all(&deep));
    assert!(!try_all(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x06, 0x00]));
    assert!(!try_all(&[
        0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
    ]));
    let mut big = messages[0].clone();
    big.resize(cms::MAX_INPUT + 1, 0);
    assert!(!try_all(&big));
    assert!(matches!(
        parse_signed_data(&big),
        Err(Error::Malformed { .. })
    ));
}
