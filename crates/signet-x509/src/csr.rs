//! PKCS#10 certification requests (RFC 2986): parsing and proof-of-possession check, and a
//! minimal encoder ([`encode_csr_info`] + [`assemble_csr`]) for requests the server makes
//! itself (EST `serverkeygen`, RFC 7030 §4.4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aws_lc_rs::signature::{self as sig, VerificationAlgorithm};
use const_oid::db::{fips204, rfc2985, rfc5912, rfc8410};

use crate::asn1::{self, AlgId, Reader, Spki, Tlv, malformed};
use crate::{DistinguishedName, Error, Extension, KeyAlgorithm, San, SignatureAlgorithm};

/// How a request reached the CA: what [`CertificationRequest::der`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFormat {
    /// A PKCS#10 `CertificationRequest` (RFC 2986), self-signed by its key.
    Pkcs10,
    /// A CRMF `CertReqMsg` (RFC 4211) with a signature proof of possession, as CMP's
    /// ir/cr/kur carry them.
    Crmf,
}

impl RequestFormat {
    /// The name Signet records (`pkcs10`, `crmf`).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestFormat::Pkcs10 => "pkcs10",
            RequestFormat::Crmf => "crmf",
        }
    }
}

/// A parsed request whose proof of possession has been checked: a PKCS#10 request, or a
/// CRMF certificate request message.
#[derive(Clone, Debug)]
pub struct CertificationRequest {
    /// What [`CertificationRequest::der`] is.
    pub format: RequestFormat,
    /// The whole request, DER.
    pub der: Vec<u8>,
    /// The requested subject with its strings re-encoded as a certificate carries them
    /// (UTF8String, PrintableString, IA5String; never BMPString, TeletexString or
    /// UniversalString), so a profile can copy its RDNs as they are.
    pub subject: DistinguishedName,
    /// The SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    pub key: KeyAlgorithm,
    /// Extensions from the PKCS#9 extensionRequest attribute (1.2.840.113549.1.9.14).
    pub extensions: Vec<Extension>,
    /// SANs decoded from a requested subjectAltName extension (empty if none).
    pub sans: Vec<San>,
    /// The challengePassword attribute (1.2.840.113549.1.9.7), if present.
    pub challenge_password: Option<String>,
    /// The types (dotted OIDs) of the other attributes, in request order: Signet reads none
    /// of them, but a front end may refuse a request that asks for something it cannot do
    /// (e.g. EST's DecryptKeyIdentifier).
    pub other_attributes: Vec<String>,
}

/// Parses a PKCS#10 request given as PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`)
/// or DER, and verifies its self-signature with the enclosed public key.
///
/// Accepted keys: P-256, P-384, Ed25519, RSA 2048..=8192, ML-DSA-65. Accepted signature
/// algorithms: ecdsa-with-SHA256/384/512, Ed25519, sha256/384/512WithRSAEncryption, RSASSA-PSS
/// (SHA-256/384/512, MGF1 same hash, the salt length the parameters state), ML-DSA-65.
///
/// Errors: [`Error::Malformed`] for anything that is not one well-formed DER request
/// (truncation, trailing data, a PEM block with another label), [`Error::Unsupported`] for
/// other keys, curves, sizes or algorithms (naming the OID) and for SAN entries other than
/// DNS, IP, email and URI, [`Error::BadSignature`] when the self-signature does not verify.
pub fn parse_csr(input: &[u8]) -> crate::Result<CertificationRequest> {
    const WHAT: &str = "certification request";
    let der = request_der(input)?;

    // CertificationRequest ::= SEQUENCE {
    //      certificationRequestInfo CertificationRequestInfo,
    //      signatureAlgorithm AlgorithmIdentifier{{ SignatureAlgorithms }},
    //      signature          BIT STRING }
    let outer = asn1::single(&der, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(outer.value, WHAT);
    let info = r.read(asn1::SEQUENCE, "certificationRequestInfo")?;
    let sig_alg = AlgId::decode(&r.read(asn1::SEQUENCE, "signatureAlgorithm")?, WHAT)?;
    let signature = asn1::octet_aligned_bits(r.read(asn1::BIT_STRING, "signature")?.value, WHAT)?;
    r.finish("signature")?;

    // CertificationRequestInfo ::= SEQUENCE {
    //      version       INTEGER { v1(0) } (v1,...),
    //      subject       Name,
    //      subjectPKInfo SubjectPublicKeyInfo{{ PKInfoAlgorithms }},
    //      attributes    [0] Attributes{{ CRIAttributes }} }
    let mut ri = Reader::new(info.value, WHAT);
    let version = asn1::small_uint(ri.read(asn1::INTEGER, "version")?.value, WHAT)?;
    if version != 0 {
        return Err(malformed(WHAT, format!("unknown version {version}")));
    }
    // The subject a profile copies is already in the string types a certificate may carry
    // (the signature below is checked over the bytes as sent).
    let subject = crate::dn::normalize_strings(ri.read(asn1::SEQUENCE, "subject")?.raw)?;
    let spki_tlv = ri.read(asn1::SEQUENCE, "subjectPKInfo")?;
    let spki = Spki::decode(spki_tlv.raw, WHAT)?;
    // RFC 2986 makes the attributes field mandatory, but a few encoders leave out an empty
    // one; nothing is lost by accepting that.
    let attributes = ri.read_optional(asn1::context_constructed(0))?;
    ri.finish("attributes")?;

    let mut extensions = None;
    let mut challenge_password = None;
    let mut other_attributes = Vec::new();
    if let Some(attrs) = attributes {
        // Attribute { ATTRIBUTE:IOSet } ::= SEQUENCE {
        //      type   ATTRIBUTE.&id({IOSet}),
        //      values SET SIZE(1..MAX) OF ATTRIBUTE.&Type({IOSet}{@type}) }
        let mut ar = Reader::new(attrs.value, WHAT);
        while !ar.is_empty() {
            let mut attr = ar.nested(asn1::SEQUENCE, "Attribute")?;
            let ty = attr.read(asn1::OID, "attribute type")?.value;
            let values = attr.read(asn1::SET, "attribute values")?;
            attr.finish("Attribute")?;
            if ty == rfc2985::PKCS_9_AT_EXTENSION_REQUEST.as_bytes() {
                // extensionRequest: SINGLE VALUE, ExtensionRequest ::= Extensions
                let value = single_value(&values, "extensionRequest")?;
                if value.tag != asn1::SEQUENCE {
                    return Err(malformed(WHAT, "extensionRequest is not a SEQUENCE"));
                }
                let exts = crate::cert::decode_extensions(value.value, WHAT)?;
                if extensions.replace(exts).is_some() {
                    return Err(malformed(WHAT, "more than one extensionRequest attribute"));
                }
            } else if ty == rfc2985::PKCS_9_AT_CHALLENGE_PASSWORD.as_bytes() {
                // challengePassword: SINGLE VALUE, DirectoryString {pkcs-9-ub-challengePassword}
                let value = single_value(&values, "challengePassword")?;
                let pw = asn1::decode_string(&value)
                    .ok_or_else(|| malformed(WHAT, "challengePassword is not a string"))?;
                if challenge_password.replace(pw).is_some() {
                    return Err(malformed(WHAT, "more than one challengePassword attribute"));
                }
            } else {
                // Other attributes (e.g. unstructuredName) carry nothing Signet uses; their
                // values must still be DER.
                other_attributes.push(asn1::oid_to_string(ty).unwrap_or_else(|| hex::encode(ty)));
                let mut vr = Reader::new(values.value, WHAT);
                while !vr.is_empty() {
                    vr.read_any()?;
                }
            }
        }
    }
    let extensions = extensions.unwrap_or_default();
    let sans = match extensions
        .iter()
        .find(|e| e.oid == crate::ext::oid::SUBJECT_ALT_NAME)
    {
        Some(e) => decode_sans(&e.value, true)?,
        None => Vec::new(),
    };

    let key = classify_key(&spki)?;
    verify_signature(key, spki.key, &sig_alg, info.raw, signature)?;

    Ok(CertificationRequest {
        format: RequestFormat::Pkcs10,
        subject,
        spki_der: spki_tlv.raw.to_vec(),
        key,
        extensions,
        sans,
        challenge_password,
        other_attributes,
        der,
    })
}

/// Parses a request as the CA stores it: a PKCS#10 request ([`parse_csr`], PEM or DER) or
/// a DER CRMF `CertReqMsg` (RFC 4211), told apart by the outer SEQUENCE's second element
/// (PKCS#10: the signature AlgorithmIdentifier; CRMF: an optional context-tagged POP).
///
/// A CRMF message must carry a public key and a signature POP over its `certReq`
/// (`POPOSigningKey` without `poposkInput`), which is verified like a CSR's self-signature;
/// a missing subject is an empty one. Template fields a CA sets itself (serial, issuer,
/// validity, signing algorithm) are ignored: the profile decides them.
///
/// Errors: as [`parse_csr`]; [`Error::BadSignature`] when the POP does not verify,
/// [`Error::Unsupported`] for a POP other than a signature.
pub fn parse_request(input: &[u8]) -> crate::Result<CertificationRequest> {
    let der = request_der(input)?;
    let outer = asn1::single(&der, asn1::SEQUENCE, "certification request")?;
    let mut r = Reader::new(outer.value, "certification request");
    r.read(asn1::SEQUENCE, "certification request")?;
    if r.is_empty() || r.peek_tag() == Some(asn1::SEQUENCE) {
        return parse_csr(&der);
    }
    from_crmf(&crate::cmp::parse_cert_req_msg(&der)?)
}

/// The request a CRMF `CertReqMsg` stands for, once its signature POP is verified.
pub fn from_crmf(msg: &crate::cmp::CertReqMsg) -> crate::Result<CertificationRequest> {
    const WHAT: &str = "CRMF certificate request";
    msg.verify_pop()?;
    let spki_der = msg
        .template
        .public_key
        .clone()
        .ok_or_else(|| malformed(WHAT, "the template has no public key"))?;
    let spki = Spki::decode(&spki_der, WHAT)?;
    let key = classify_key(&spki)?;
    const EMPTY_NAME: [u8; 2] = [asn1::SEQUENCE, 0];
    let subject =
        crate::dn::normalize_strings(msg.template.subject.as_deref().unwrap_or(&EMPTY_NAME))?;
    let extensions = match &msg.template.extensions {
        Some(exts) => {
            let seq = asn1::single(exts, asn1::SEQUENCE, WHAT)?;
            crate::cert::decode_extensions(seq.value, WHAT)?
        }
        None => Vec::new(),
    };
    let sans = match extensions
        .iter()
        .find(|e| e.oid == crate::ext::oid::SUBJECT_ALT_NAME)
    {
        Some(e) => decode_sans(&e.value, true)?,
        None => Vec::new(),
    };
    Ok(CertificationRequest {
        format: RequestFormat::Crmf,
        der: msg.der().to_vec(),
        subject,
        spki_der,
        key,
        extensions,
        sans,
        challenge_password: None,
        other_attributes: Vec::new(),
    })
}

/// The DER `CertificationRequestInfo` for `subject`, the key `spki_der` and, when
/// `extensions` is not empty, one extensionRequest attribute carrying them: the part of a
/// request the key signs (then [`assemble_csr`]). Nothing else (no challengePassword) is
/// written.
///
/// Errors: [`Error::Invalid`] when `spki_der` is not one SEQUENCE, or an extension has a
/// bad OID or appears twice.
pub fn encode_csr_info(
    subject: &DistinguishedName,
    spki_der: &[u8],
    extensions: &[Extension],
) -> crate::Result<Vec<u8>> {
    // CertificationRequestInfo ::= SEQUENCE {
    //      version       INTEGER { v1(0) } (v1,...),
    //      subject       Name,
    //      subjectPKInfo SubjectPublicKeyInfo{{ PKInfoAlgorithms }},
    //      attributes    [0] Attributes{{ CRIAttributes }} }
    //
    // Attributes { ATTRIBUTE:IOSet } ::= SET OF Attribute{{ IOSet }}
    // Attribute { ATTRIBUTE:IOSet } ::= SEQUENCE {
    //      type   ATTRIBUTE.&id({IOSet}),
    //      values SET SIZE(1..MAX) OF ATTRIBUTE.&Type({IOSet}{@type}) }
    const VERSION_1: [u8; 3] = [asn1::INTEGER, 0x01, 0x00];
    asn1::single(spki_der, asn1::SEQUENCE, "subjectPublicKeyInfo")
        .map_err(|e| asn1::invalid("subjectPublicKeyInfo", e.to_string()))?;
    let mut attributes = Vec::new();
    if !extensions.is_empty() {
        // extensionRequest: SINGLE VALUE, ExtensionRequest ::= Extensions (one SET element,
        // so the SET OF is trivially in DER order).
        let exts = asn1::tlv(asn1::SEQUENCE, &crate::cert::encode_extensions(extensions)?);
        let mut attr = asn1::tlv(asn1::OID, rfc2985::PKCS_9_AT_EXTENSION_REQUEST.as_bytes());
        asn1::push_tlv(&mut attr, asn1::SET, &exts);
        asn1::push_tlv(&mut attributes, asn1::SEQUENCE, &attr);
    }
    let mut content = Vec::with_capacity(
        VERSION_1.len() + subject.as_der().len() + spki_der.len() + attributes.len() + 4,
    );
    content.extend_from_slice(&VERSION_1);
    content.extend_from_slice(subject.as_der());
    content.extend_from_slice(spki_der);
    asn1::push_tlv(&mut content, asn1::context_constructed(0), &attributes);
    Ok(asn1::tlv(asn1::SEQUENCE, &content))
}

/// `CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm,
/// signature BIT STRING }`: the request from [`encode_csr_info`]'s output and the key's
/// signature over it, made with `alg`.
pub fn assemble_csr(
    info_der: &[u8],
    alg: SignatureAlgorithm,
    signature: &[u8],
) -> crate::Result<Vec<u8>> {
    // The same shape as a Certificate (RFC 2986 §4.2, RFC 5280 §4.1).
    crate::cert::assemble_signed(info_der, "certificationRequestInfo", alg, signature)
}

/// The request's DER from PEM or DER input.
fn request_der(input: &[u8]) -> crate::Result<Vec<u8>> {
    if input.is_empty() {
        return Err(malformed("certification request", "empty input"));
    }
    if input.first() == Some(&asn1::SEQUENCE) {
        return Ok(input.to_vec());
    }
    let (label, der) = crate::pem::decode(input)?;
    match label.as_str() {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Ok(der),
        other => Err(malformed(
            "PEM",
            format!("expected a CERTIFICATE REQUEST block, found {other}"),
        )),
    }
}

/// The one value of a SINGLE VALUE attribute.
fn single_value<'a>(values: &Tlv<'a>, name: &str) -> crate::Result<Tlv<'a>> {
    let mut r = Reader::new(values.value, "certification request");
    let v = r.read_any()?;
    if !r.is_empty() {
        return Err(malformed(
            "certification request",
            format!("{name} has more than one value"),
        ));
    }
    Ok(v)
}

fn unsupported(what: &'static str, detail: impl Into<String>) -> Error {
    Error::Unsupported {
        what,
        detail: detail.into(),
    }
}

/// The algorithm of a SubjectPublicKeyInfo (DER), checked as a request's key is: for a key
/// known only by its certificate (an offline CA's). Errors as [`parse_csr`] for the key.
pub fn spki_key_algorithm(spki_der: &[u8]) -> crate::Result<KeyAlgorithm> {
    classify_key(&Spki::decode(spki_der, "subjectPublicKeyInfo")?)
}

/// Works out the key algorithm from the SPKI, checking parameters and sizes.
pub(crate) fn classify_key(spki: &Spki<'_>) -> crate::Result<KeyAlgorithm> {
    const WHAT: &str = "subject public key";
    let oid = spki.alg.oid;
    let key = spki.key;
    if oid == rfc5912::ID_EC_PUBLIC_KEY.as_bytes() {
        // ECParameters ::= CHOICE { namedCurve OBJECT IDENTIFIER, ... } (RFC 5480 §2.1.1);
        // only named curves are allowed in PKIX.
        let curve = match spki.alg.params {
            Some(p) if p.tag == asn1::OID => p.value,
            _ => return Err(unsupported(WHAT, "EC key without a named curve")),
        };
        let (alg, point_len) = if curve == rfc5912::SECP_256_R_1.as_bytes() {
            (KeyAlgorithm::P256, 65)
        } else if curve == rfc5912::SECP_384_R_1.as_bytes() {
            (KeyAlgorithm::P384, 97)
        } else {
            let name = asn1::oid_to_string(curve).unwrap_or_else(|| hex::encode(curve));
            return Err(unsupported(WHAT, format!("elliptic curve {name}")));
        };
        match key.first() {
            Some(0x04) if key.len() == point_len => Ok(alg),
            Some(0x02 | 0x03) => Err(unsupported(WHAT, "compressed EC point")),
            _ => Err(malformed(WHAT, "bad EC point")),
        }
    } else if oid == rfc8410::ID_ED_25519.as_bytes() {
        if spki.alg.params.is_some() {
            return Err(malformed(WHAT, "Ed25519 parameters must be absent"));
        }
        if key.len() != 32 {
            return Err(malformed(WHAT, "Ed25519 key is not 32 bytes"));
        }
        Ok(KeyAlgorithm::Ed25519)
    } else if oid == rfc5912::RSA_ENCRYPTION.as_bytes() {
        if !spki.alg.params_absent_or_null() {
            return Err(malformed(WHAT, "rsaEncryption parameters must be NULL"));
        }
        let bits = rsa_modulus_bits(key)?;
        if !(2048..=8192).contains(&bits) {
            return Err(unsupported(
                WHAT,
                format!("{bits}-bit RSA key (2048 to 8192 bits are accepted)"),
            ));
        }
        Ok(KeyAlgorithm::Rsa { bits })
    } else if oid == fips204::ID_ML_DSA_65.as_bytes() {
        if spki.alg.params.is_some() {
            return Err(malformed(WHAT, "ML-DSA parameters must be absent"));
        }
        if key.len() != 1952 {
            return Err(malformed(WHAT, "ML-DSA-65 key is not 1952 bytes"));
        }
        Ok(KeyAlgorithm::MlDsa65)
    } else {
        Err(unsupported(
            WHAT,
            format!("key algorithm {}", spki.alg.oid_string()),
        ))
    }
}

/// Modulus size of a PKCS#1 `RSAPublicKey`.
fn rsa_modulus_bits(key: &[u8]) -> crate::Result<u32> {
    // RSAPublicKey ::= SEQUENCE {
    //     modulus           INTEGER,  -- n
    //     publicExponent    INTEGER   -- e }
    const WHAT: &str = "RSA public key";
    let seq = asn1::single(key, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(seq.value, WHAT);
    let n = asn1::unsigned_integer(r.read(asn1::INTEGER, "modulus")?.value, WHAT)?;
    asn1::unsigned_integer(r.read(asn1::INTEGER, "publicExponent")?.value, WHAT)?;
    r.finish("publicExponent")?;
    let top = n.first().copied().unwrap_or(0);
    let bits = n.len() * 8 - top.leading_zeros() as usize;
    u32::try_from(bits).map_err(|_| malformed(WHAT, "modulus too large"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// Recognises the SHA-2 AlgorithmIdentifiers (parameters NULL or absent, RFC 4055 §2.1).
    fn from_alg_id(alg: &AlgId<'_>) -> crate::Result<Hash> {
        let hash = if alg.oid == rfc5912::ID_SHA_256.as_bytes() {
            Hash::Sha256
        } else if alg.oid == rfc5912::ID_SHA_384.as_bytes() {
            Hash::Sha384
        } else if alg.oid == rfc5912::ID_SHA_512.as_bytes() {
            Hash::Sha512
        } else {
            return Err(unsupported(
                "hash algorithm",
                format!("hash {} in RSASSA-PSS", alg.oid_string()),
            ));
        };
        if !alg.params_absent_or_null() {
            return Err(malformed(
                "RSASSA-PSS parameters",
                "hash parameters must be NULL",
            ));
        }
        Ok(hash)
    }
}

/// Checks the request's self-signature with aws-lc-rs.
pub(crate) fn verify_signature(
    key: KeyAlgorithm,
    public_key: &[u8],
    alg: &AlgId<'_>,
    message: &[u8],
    signature: &[u8],
) -> crate::Result<()> {
    const WHAT: &str = "signature algorithm";
    let oid = alg.oid;
    let mismatch = || unsupported(WHAT, format!("{} with a {key} key", alg.oid_string()));
    let result = if let Some(hash) = [
        (rfc5912::ECDSA_WITH_SHA_256, Hash::Sha256),
        (rfc5912::ECDSA_WITH_SHA_384, Hash::Sha384),
        (rfc5912::ECDSA_WITH_SHA_512, Hash::Sha512),
    ]
    .iter()
    .find_map(|(o, h)| (o.as_bytes() == oid).then_some(*h))
    {
        // RFC 5758 §3.2: parameters MUST be absent. A NULL is tolerated, as most verifiers do.
        if !alg.params_absent_or_null() {
            return Err(malformed(WHAT, "ECDSA parameters must be absent"));
        }
        let v: &sig::EcdsaVerificationAlgorithm = match (key, hash) {
            (KeyAlgorithm::P256, Hash::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
            (KeyAlgorithm::P256, Hash::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
            (KeyAlgorithm::P256, Hash::Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
            (KeyAlgorithm::P384, Hash::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
            (KeyAlgorithm::P384, Hash::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
            (KeyAlgorithm::P384, Hash::Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
            _ => return Err(mismatch()),
        };
        v.verify_sig(public_key, message, signature)
    } else if oid == rfc8410::ID_ED_25519.as_bytes() {
        if alg.params.is_some() {
            return Err(malformed(WHAT, "Ed25519 parameters must be absent"));
        }
        if key != KeyAlgorithm::Ed25519 {
            return Err(mismatch());
        }
        sig::ED25519.verify_sig(public_key, message, signature)
    } else if let Some(hash) = [
        (rfc5912::SHA_256_WITH_RSA_ENCRYPTION, Hash::Sha256),
        (rfc5912::SHA_384_WITH_RSA_ENCRYPTION, Hash::Sha384),
        (rfc5912::SHA_512_WITH_RSA_ENCRYPTION, Hash::Sha512),
    ]
    .iter()
    .find_map(|(o, h)| (o.as_bytes() == oid).then_some(*h))
    {
        if !alg.params_absent_or_null() {
            return Err(malformed(WHAT, "PKCS#1 v1.5 parameters must be NULL"));
        }
        if !matches!(key, KeyAlgorithm::Rsa { .. }) {
            return Err(mismatch());
        }
        let v = match hash {
            Hash::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Hash::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Hash::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        };
        v.verify_sig(public_key, message, signature)
    } else if oid == rfc5912::ID_RSASSA_PSS.as_bytes() {
        if !matches!(key, KeyAlgorithm::Rsa { .. }) {
            return Err(mismatch());
        }
        let (hash, salt_len) = pss_params(alg.params)?;
        let base = match hash {
            Hash::Sha256 => sig::RSA_PSS_2048_8192_SHA256,
            Hash::Sha384 => sig::RSA_PSS_2048_8192_SHA384,
            Hash::Sha512 => sig::RSA_PSS_2048_8192_SHA512,
        };
        // `VerificationAlgorithm::verify_sig` takes `&self`, so parameters built at run time
        // with the request's own salt length work without a `'static` table.
        let v = base.with_pss_salt_length(sig::RsaPssSaltLength::Custom(salt_len));
        v.verify_sig(public_key, message, signature)
    } else if oid == fips204::ID_ML_DSA_65.as_bytes() {
        if alg.params.is_some() {
            return Err(malformed(WHAT, "ML-DSA parameters must be absent"));
        }
        if key != KeyAlgorithm::MlDsa65 {
            return Err(mismatch());
        }
        sig::ML_DSA_65.verify_sig(public_key, message, signature)
    } else {
        return Err(unsupported(WHAT, alg.oid_string()));
    };
    result.map_err(|_| Error::BadSignature)
}

/// Reads RSASSA-PSS-params, accepting SHA-256/384/512 with MGF1 over the same hash.
fn pss_params(params: Option<Tlv<'_>>) -> crate::Result<(Hash, u16)> {
    // RSASSA-PSS-params  ::=  SEQUENCE  {
    //     hashAlgorithm      [0] HashAlgorithm DEFAULT sha1Identifier,
    //     maskGenAlgorithm   [1] MaskGenAlgorithm DEFAULT mgf1SHA1Identifier,
    //     saltLength         [2] INTEGER DEFAULT 20,
    //     trailerField       [3] INTEGER DEFAULT 1  }
    //
    // MaskGenAlgorithm ::= AlgorithmIdentifier  -- id-mgf1 with a HashAlgorithm parameter
    const WHAT: &str = "RSASSA-PSS parameters";
    let params = match params {
        Some(p) if p.tag == asn1::SEQUENCE => p,
        _ => return Err(malformed(WHAT, "missing RSASSA-PSS-params")),
    };
    let mut r = Reader::new(params.value, WHAT);
    fn explicit<'a>(r: &mut Reader<'a>, n: u8) -> crate::Result<Option<Tlv<'a>>> {
        match r.read_optional(asn1::context_constructed(n))? {
            Some(t) => {
                let mut inner = Reader::new(t.value, WHAT);
                let v = inner.read_any()?;
                inner.finish("explicitly tagged field")?;
                Ok(Some(v))
            }
            None => Ok(None),
        }
    }
    let hash = match explicit(&mut r, 0)? {
        Some(h) => Hash::from_alg_id(&AlgId::decode(&h, WHAT)?)?,
        None => return Err(unsupported(WHAT, "RSASSA-PSS with SHA-1 (the default)")),
    };
    let mgf_hash = match explicit(&mut r, 1)? {
        Some(m) => {
            let mgf = AlgId::decode(&m, WHAT)?;
            if mgf.oid != rfc5912::ID_MGF_1.as_bytes() {
                return Err(unsupported(
                    WHAT,
                    format!("mask generation {}", mgf.oid_string()),
                ));
            }
            let inner = mgf
                .params
                .ok_or_else(|| malformed(WHAT, "MGF1 without a hash"))?;
            Hash::from_alg_id(&AlgId::decode(&inner, WHAT)?)?
        }
        None => return Err(unsupported(WHAT, "MGF1 with SHA-1 (the default)")),
    };
    if mgf_hash != hash {
        return Err(unsupported(WHAT, "MGF1 hash differs from the message hash"));
    }
    let salt = match explicit(&mut r, 2)? {
        Some(s) if s.tag == asn1::INTEGER => asn1::small_uint(s.value, WHAT)?,
        Some(_) => return Err(malformed(WHAT, "saltLength is not an INTEGER")),
        None => 20,
    };
    let salt = u16::try_from(salt).map_err(|_| unsupported(WHAT, format!("salt length {salt}")))?;
    if let Some(t) = explicit(&mut r, 3)?
        && (t.tag != asn1::INTEGER || asn1::small_uint(t.value, WHAT)? != 1)
    {
        return Err(unsupported(WHAT, "trailerField other than 1"));
    }
    r.finish("RSASSA-PSS-params")?;
    Ok((hash, salt))
}

pub(crate) fn parse_san_impl(value: &[u8]) -> crate::Result<Vec<San>> {
    decode_sans(value, true)
}

/// Decodes GeneralNames into [`San`]s. With `strict`, a GeneralName of another kind is
/// [`Error::Unsupported`]; otherwise it is skipped.
pub(crate) fn decode_sans(value: &[u8], strict: bool) -> crate::Result<Vec<San>> {
    // GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
    // GeneralName ::= CHOICE {
    //      otherName                 [0]  AnotherName,
    //      rfc822Name                [1]  IA5String,
    //      dNSName                   [2]  IA5String,
    //      x400Address               [3]  ORAddress,
    //      directoryName             [4]  Name,
    //      ediPartyName              [5]  EDIPartyName,
    //      uniformResourceIdentifier [6]  IA5String,
    //      iPAddress                 [7]  OCTET STRING,
    //      registeredID              [8]  OBJECT IDENTIFIER }
    // AnotherName ::= SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY }
    const WHAT: &str = "subjectAltName";
    let seq = asn1::single(value, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(seq.value, WHAT);
    if r.is_empty() {
        return Err(malformed(WHAT, "empty GeneralNames"));
    }
    // Control characters (NUL above all) are refused: C clients truncate at NUL, so
    // `a@evil.net\0.example.com` would match one domain here and another there.
    let ia5 = |v: &[u8]| -> crate::Result<String> {
        if v.is_empty() {
            // RFC 5280 4.2.1.6: names in subjectAltName MUST NOT be empty.
            Err(malformed(WHAT, "empty name"))
        } else if v.iter().any(|b| *b < 0x20 || *b == 0x7f) {
            Err(malformed(WHAT, "control character in a name"))
        } else if v.is_ascii() {
            Ok(v.iter().map(|&b| char::from(b)).collect())
        } else {
            Err(malformed(WHAT, "IA5String with non-ASCII bytes"))
        }
    };
    let mut out = Vec::new();
    while !r.is_empty() {
        let gn = r.read_any()?;
        let san = match gn.tag {
            0x81 => San::Email(ia5(gn.value)?),
            0x82 => San::Dns(ia5(gn.value)?),
            0x86 => San::Uri(ia5(gn.value)?),
            0x87 => match gn.value.len() {
                4 => {
                    let mut b = [0u8; 4];
                    b.copy_from_slice(gn.value);
                    San::Ip(IpAddr::V4(Ipv4Addr::from(b)))
                }
                16 => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(gn.value);
                    San::Ip(IpAddr::V6(Ipv6Addr::from(b)))
                }
                n => return Err(malformed(WHAT, format!("iPAddress of {n} octets"))),
            },
            tag => {
                let kind = match tag {
                    0xa0 => {
                        let mut on = Reader::new(gn.value, WHAT);
                        let type_id = on.read(asn1::OID, "otherName type-id")?;
                        format!(
                            "otherName {}",
                            asn1::oid_to_string(type_id.value).unwrap_or_default()
                        )
                    }
                    0xa3 => "x400Address".to_owned(),
                    0xa4 => "directoryName".to_owned(),
                    0xa5 => "ediPartyName".to_owned(),
                    0x88 => "registeredID".to_owned(),
                    _ => {
                        return Err(malformed(
                            WHAT,
                            format!("unknown GeneralName tag 0x{tag:02x}"),
                        ));
                    }
                };
                if strict {
                    return Err(unsupported("subjectAltName entry", kind));
                }
                continue;
            }
        };
        out.push(san);
    }
    Ok(out)
}

pub(crate) fn parse_dn_impl(s: &str) -> crate::Result<DistinguishedName> {
    crate::dn::parse(s)
}

pub(crate) fn dn_from_der_impl(der: &[u8]) -> crate::Result<DistinguishedName> {
    crate::dn::from_der(der)
}

pub(crate) fn dn_attributes_impl(der: &[u8]) -> Vec<(String, String)> {
    crate::dn::attributes(der)
}

pub(crate) fn parse_eku_impl(value: &[u8]) -> crate::Result<Vec<String>> {
    // ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId
    // KeyPurposeId ::= OBJECT IDENTIFIER
    const WHAT: &str = "extKeyUsage";
    let seq = asn1::single(value, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(seq.value, WHAT);
    let mut out = Vec::new();
    while !r.is_empty() {
        let oid = r.read(asn1::OID, "KeyPurposeId")?;
        out.push(asn1::oid_to_string(oid.value).ok_or_else(|| malformed(WHAT, "bad OID"))?);
    }
    if out.is_empty() {
        return Err(malformed(WHAT, "empty sequence"));
    }
    Ok(out)
}

pub(crate) fn parse_key_usage_impl(value: &[u8]) -> crate::Result<crate::KeyUsage> {
    // KeyUsage ::= BIT STRING { digitalSignature (0), ..., decipherOnly (8) }
    const WHAT: &str = "keyUsage";
    let tlv = asn1::single(value, asn1::BIT_STRING, WHAT)?;
    let (_, bits) = asn1::bit_string(tlv.value, WHAT)?;
    // Bit 0 is the most significant bit of the first octet.
    let mut usage = 0u16;
    for (i, octet) in bits.iter().take(2).enumerate() {
        for bit in 0..8 {
            if octet & (0x80 >> bit) != 0 {
                usage |= 1 << (i * 8 + bit);
            }
        }
    }
    Ok(crate::KeyUsage(usage))
}

pub(crate) fn parse_basic_constraints_impl(value: &[u8]) -> crate::Result<(bool, Option<u32>)> {
    // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE,
    //                                 pathLenConstraint INTEGER (0..MAX) OPTIONAL }
    const WHAT: &str = "basicConstraints";
    let seq = asn1::single(value, asn1::SEQUENCE, WHAT)?;
    let mut r = Reader::new(seq.value, WHAT);
    let ca = match r.read_optional(asn1::BOOLEAN)? {
        Some(b) => asn1::decode_bool(&b, WHAT)?,
        None => false,
    };
    let path_len = match r.read_optional(asn1::INTEGER)? {
        Some(i) => Some(asn1::small_uint(i.value, WHAT)?),
        None => None,
    };
    r.finish(WHAT)?;
    Ok((ca, path_len))
}
