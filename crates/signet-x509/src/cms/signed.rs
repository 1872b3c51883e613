//! SignedData (RFC 5652 §5): parsing and signer verification of inbound messages, and the
//! one-signer DER encoding of SCEP replies.

use aws_lc_rs::signature::{self as sig, VerificationAlgorithm};
use const_oid::db::{rfc5911, rfc5912};

use super::{
    Attribute, CertId, DigestAlg, WHAT, ber, content_info, decode_attributes, encode_attributes,
    oid, unsupported, wrap_content_info,
};
use crate::asn1::{self, AlgId, Reader, Spki, malformed};
use crate::cert::CertificateFields;
use crate::{Error, KeyAlgorithm};

/// A parsed SignedData. Nothing in it is verified yet: call [`SignerInfo::verify`].
#[derive(Clone, Debug)]
pub struct SignedMessage {
    /// eContentType, dotted (id-data for SCEP).
    pub content_type: String,
    /// The eContent octets (joined when the client sent them in chunks); `None` when absent
    /// (a detached signature).
    pub content: Option<Vec<u8>>,
    /// The certificates of the `certificates` field, DER; other certificate formats
    /// (attribute certificates, `other`) are left out.
    pub certificates: Vec<Vec<u8>>,
    /// The signers, in the order sent.
    pub signers: Vec<SignerInfo>,
}

/// One signer of a [`SignedMessage`].
#[derive(Clone, Debug)]
pub struct SignerInfo {
    /// Which certificate signed.
    pub sid: CertId,
    /// The digest algorithm of the content (messageDigest).
    pub digest: DigestAlg,
    /// The signed attributes, in the order sent; empty if absent.
    pub signed_attrs: Vec<Attribute>,
    /// DER of `SET OF Attribute` as signed (the `[0]` tag replaced by SET, RFC 5652 §5.4).
    signed_attrs_der: Option<Vec<u8>>,
    /// The signatureAlgorithm TLV.
    signature_alg: Vec<u8>,
    signature: Vec<u8>,
    /// The message's eContentType (OID content octets), which the contentType attribute must
    /// repeat.
    content_type: Vec<u8>,
}

/// Parses a `ContentInfo` holding SignedData, BER or DER, at most
/// [`MAX_INPUT`](super::MAX_INPUT) octets.
///
/// Checks structure only: each signer's digest algorithm must be one of [`DigestAlg`]
/// ([`Error::Unsupported`] otherwise); signatures are checked by [`SignerInfo::verify`].
/// Errors: [`Error::Malformed`] for anything that is not such a message, [`Error::Unsupported`]
/// for another content type.
pub fn parse_signed_data(ber: &[u8]) -> crate::Result<SignedMessage> {
    let der = ber::normalize(ber)?;
    let sd = content_info(&der, rfc5911::ID_SIGNED_DATA.as_bytes(), "SignedData")?;

    // SignedData ::= SEQUENCE {
    //      version CMSVersion,
    //      digestAlgorithms DigestAlgorithmIdentifiers,
    //      encapContentInfo EncapsulatedContentInfo,
    //      certificates [0] IMPLICIT CertificateSet OPTIONAL,
    //      crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
    //      signerInfos SignerInfos }
    // DigestAlgorithmIdentifiers ::= SET OF DigestAlgorithmIdentifier
    // SignerInfos ::= SET OF SignerInfo
    let mut r = Reader::new(sd.value, WHAT);
    let version = asn1::small_uint(r.read(asn1::INTEGER, "version")?.value, WHAT)?;
    if !(1..=5).contains(&version) {
        return Err(malformed(WHAT, format!("SignedData version {version}")));
    }
    let mut digests = r.nested(asn1::SET, "digestAlgorithms")?;
    while !digests.is_empty() {
        AlgId::decode(&digests.read_any()?, WHAT)?;
    }

    // EncapsulatedContentInfo ::= SEQUENCE {
    //      eContentType ContentType,
    //      eContent [0] EXPLICIT OCTET STRING OPTIONAL }
    let mut eci = r.nested(asn1::SEQUENCE, "encapContentInfo")?;
    let content_type = eci.read(asn1::OID, "eContentType")?.value;
    let content_type_dotted =
        asn1::oid_to_string(content_type).ok_or_else(|| malformed(WHAT, "invalid eContentType"))?;
    let content = match eci.read_optional(asn1::context_constructed(0))? {
        Some(t) => {
            let mut e = Reader::new(t.value, WHAT);
            let octets = e.read(asn1::OCTET_STRING, "eContent")?;
            e.finish("eContent")?;
            Some(octets.value.to_vec())
        }
        None => None,
    };
    eci.finish("encapContentInfo")?;

    // CertificateSet ::= SET OF CertificateChoices
    // CertificateChoices ::= CHOICE {
    //      certificate Certificate,
    //      extendedCertificate [0] IMPLICIT ExtendedCertificate,  -- Obsolete
    //      v1AttrCert [1] IMPLICIT AttributeCertificateV1,        -- Obsolete
    //      v2AttrCert [2] IMPLICIT AttributeCertificateV2,
    //      other [3] IMPLICIT OtherCertificateFormat }
    let mut certificates = Vec::new();
    if let Some(set) = r.read_optional(asn1::context_constructed(0))? {
        let mut cr = Reader::new(set.value, WHAT);
        while !cr.is_empty() {
            let c = cr.read_any()?;
            if c.tag == asn1::SEQUENCE {
                certificates.push(c.raw.to_vec());
            }
        }
    }
    // CRLs are of no use to a SCEP server; their encoding was checked by the normaliser.
    r.read_optional(asn1::context_constructed(1))?;
    let mut infos = r.nested(asn1::SET, "signerInfos")?;
    r.finish("SignedData")?;

    let mut signers = Vec::new();
    while !infos.is_empty() {
        let info = infos.read(asn1::SEQUENCE, "SignerInfo")?;
        signers.push(SignerInfo::decode(info.value, content_type)?);
    }
    Ok(SignedMessage {
        content_type: content_type_dotted,
        content,
        certificates,
        signers,
    })
}

impl SignerInfo {
    fn decode(content: &[u8], content_type: &[u8]) -> crate::Result<SignerInfo> {
        // SignerInfo ::= SEQUENCE {
        //      version CMSVersion,
        //      sid SignerIdentifier,
        //      digestAlgorithm DigestAlgorithmIdentifier,
        //      signedAttrs [0] IMPLICIT SignedAttributes OPTIONAL,
        //      signatureAlgorithm SignatureAlgorithmIdentifier,
        //      signature SignatureValue,
        //      unsignedAttrs [1] IMPLICIT UnsignedAttributes OPTIONAL }
        // SignedAttributes ::= SET SIZE (1..MAX) OF Attribute
        // SignatureValue ::= OCTET STRING
        let mut r = Reader::new(content, WHAT);
        let version = asn1::small_uint(r.read(asn1::INTEGER, "version")?.value, WHAT)?;
        if version != 1 && version != 3 {
            return Err(malformed(WHAT, format!("SignerInfo version {version}")));
        }
        let sid = CertId::decode(&r.read_any()?)?;
        let digest = DigestAlg::from_alg_id(&AlgId::decode(
            &r.read(asn1::SEQUENCE, "digestAlgorithm")?,
            WHAT,
        )?)?;
        let (signed_attrs, signed_attrs_der) =
            match r.read_optional(asn1::context_constructed(0))? {
                Some(t) => {
                    let attrs = decode_attributes(t.value)?;
                    if attrs.is_empty() {
                        return Err(malformed(WHAT, "empty signedAttrs"));
                    }
                    (attrs, Some(asn1::tlv(asn1::SET, t.value)))
                }
                None => (Vec::new(), None),
            };
        let signature_alg = r.read(asn1::SEQUENCE, "signatureAlgorithm")?;
        AlgId::decode(&signature_alg, WHAT)?;
        let signature = r.read(asn1::OCTET_STRING, "signature")?.value.to_vec();
        if let Some(t) = r.read_optional(asn1::context_constructed(1))? {
            decode_attributes(t.value)?;
        }
        r.finish("SignerInfo")?;
        Ok(SignerInfo {
            sid,
            digest,
            signed_attrs,
            signed_attrs_der,
            signature_alg: signature_alg.raw.to_vec(),
            signature,
            content_type: content_type.to_vec(),
        })
    }

    /// The signed attribute of type `oid` (dotted), if present.
    pub fn signed_attribute(&self, oid: &str) -> Option<&Attribute> {
        self.signed_attrs.iter().find(|a| a.oid == oid)
    }

    /// The first value (its whole DER TLV) of the signed attribute `oid` (dotted).
    pub fn attribute(&self, oid: &str) -> Option<&[u8]> {
        self.signed_attribute(oid)?
            .values
            .first()
            .map(Vec::as_slice)
    }

    /// Finds the signer's certificate among `certs` (usually
    /// [`SignedMessage::certificates`]) by issuer and serial number, or by
    /// subjectKeyIdentifier.
    pub fn find_certificate<'a>(&self, certs: &'a [Vec<u8>]) -> Option<&'a [u8]> {
        certs
            .iter()
            .find(|c| self.sid.matches(c))
            .map(Vec::as_slice)
    }

    /// Verifies this signer over `content` (the eContent octets) with `signer_cert_der`'s
    /// public key: the certificate must be the one `sid` names, the signed attributes must
    /// be present (SCEP always sends them) with a contentType equal to the eContentType and a
    /// messageDigest equal to the digest of `content`, and the signature over the DER
    /// `SET OF Attribute` must verify.
    ///
    /// Says nothing about whether the certificate is trusted. Errors:
    /// [`Error::BadSignature`] for a wrong digest or signature, [`Error::Malformed`] for
    /// missing or malformed attributes or a certificate `sid` does not name,
    /// [`Error::Unsupported`] for a key or signature algorithm outside those of the module
    /// documentation.
    pub fn verify(&self, content: &[u8], signer_cert_der: &[u8]) -> crate::Result<()> {
        let signed = self
            .signed_attrs_der
            .as_deref()
            .ok_or_else(|| unsupported("SignerInfo", "no signed attributes"))?;
        if !self.sid.matches(signer_cert_der) {
            return Err(malformed(
                WHAT,
                "the certificate is not the one the signer identifier names",
            ));
        }
        let single_value = |oid: &str| -> crate::Result<&[u8]> {
            match self.signed_attribute(oid).map(|a| a.values.as_slice()) {
                Some([v]) => Ok(v),
                Some(_) => Err(malformed(
                    WHAT,
                    format!("attribute {oid} must have one value"),
                )),
                None => Err(malformed(
                    WHAT,
                    format!("signed attribute {oid} is missing"),
                )),
            }
        };
        let content_type = asn1::single(single_value(oid::CONTENT_TYPE)?, asn1::OID, WHAT)?;
        if content_type.value != self.content_type.as_slice() {
            return Err(malformed(
                WHAT,
                "contentType attribute differs from eContentType",
            ));
        }
        let digest = asn1::single(single_value(oid::MESSAGE_DIGEST)?, asn1::OCTET_STRING, WHAT)?;
        if digest.value != self.digest.digest(content).as_slice() {
            return Err(Error::BadSignature);
        }

        let cert = CertificateFields::decode(signer_cert_der)?;
        let spki = Spki::decode(cert.spki, WHAT)?;
        let key = crate::csr::classify_key(&spki)?;
        let alg = AlgId::decode(
            &asn1::single(&self.signature_alg, asn1::SEQUENCE, WHAT)?,
            WHAT,
        )?;
        verify_signature(key, spki.key, &alg, self.digest, signed, &self.signature)
    }
}

/// Checks a CMS signature. CMS adds two RSA forms to those of X.509: `rsaEncryption` as the
/// signature algorithm with the hash taken from the digest algorithm (what OpenSSL and most
/// SCEP clients write) and `sha1WithRSAEncryption`; the rest goes to the X.509 verifier.
fn verify_signature(
    key: KeyAlgorithm,
    public_key: &[u8],
    alg: &AlgId<'_>,
    digest: DigestAlg,
    message: &[u8],
    signature: &[u8],
) -> crate::Result<()> {
    let hash = if alg.oid == rfc5912::RSA_ENCRYPTION.as_bytes() {
        digest
    } else if alg.oid == rfc5912::SHA_1_WITH_RSA_ENCRYPTION.as_bytes() {
        DigestAlg::Sha1
    } else {
        return crate::csr::verify_signature(key, public_key, alg, message, signature);
    };
    if !alg.params_absent_or_null() {
        return Err(malformed(WHAT, "PKCS#1 v1.5 parameters must be NULL"));
    }
    if !matches!(key, KeyAlgorithm::Rsa { .. }) {
        return Err(unsupported(
            "signature algorithm",
            format!("{} with a {key} key", alg.oid_string()),
        ));
    }
    let v = match hash {
        DigestAlg::Sha1 => &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        DigestAlg::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        DigestAlg::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        DigestAlg::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
    };
    v.verify_sig(public_key, message, signature)
        .map_err(|_| Error::BadSignature)
}

/// Writes a `ContentInfo` holding SignedData over `content` (id-data), signed once.
///
/// - eContent is always present, an empty `content` as an empty OCTET STRING (some SCEP
///   clients, pyscep among them, fail on a missing eContent).
/// - One SignerInfo, version 1, identified by `signer_cert_der`'s issuer and serial number,
///   with `attrs` plus contentType and messageDigest (of `content` with `digest`) as signed
///   attributes, DER-sorted.
/// - `certificates` go into the `certificates` field (omitted when empty), DER-sorted.
/// - `sign` receives the DER `SET OF Attribute` and returns the signature value for
///   `signature_alg_der` (an AlgorithmIdentifier TLV, e.g. sha256WithRSAEncryption); its
///   error is returned as it is.
///
/// Fails with [`Error::Invalid`] when `attrs` holds contentType or messageDigest, an attribute
/// is malformed, `signature_alg_der` is not an AlgorithmIdentifier, or a certificate is not
/// one DER SEQUENCE.
pub fn sign(
    content: &[u8],
    digest: DigestAlg,
    signature_alg_der: &[u8],
    signer_cert_der: &[u8],
    attrs: &[Attribute],
    certificates: &[Vec<u8>],
    sign: impl FnOnce(&[u8]) -> crate::Result<Vec<u8>>,
) -> crate::Result<Vec<u8>> {
    asn1::single(signature_alg_der, asn1::SEQUENCE, WHAT)
        .and_then(|t| AlgId::decode(&t, WHAT))
        .map_err(|e| asn1::invalid("signature algorithm", e.to_string()))?;
    if let Some(a) = attrs
        .iter()
        .find(|a| a.oid == oid::CONTENT_TYPE || a.oid == oid::MESSAGE_DIGEST)
    {
        return Err(asn1::invalid(
            "attribute",
            format!("{} is written by `sign` itself", a.oid),
        ));
    }
    let mut sorted_certs: Vec<&[u8]> = Vec::with_capacity(certificates.len());
    for c in certificates {
        asn1::single(c, asn1::SEQUENCE, WHAT)
            .map_err(|e| asn1::invalid("certificate", e.to_string()))?;
        sorted_certs.push(c);
    }
    sorted_certs.sort_unstable();
    let sid = CertId::issuer_and_serial_of(signer_cert_der)
        .map_err(|e| asn1::invalid("signer certificate", e.to_string()))?;

    let data_oid = rfc5911::ID_DATA.as_bytes();
    let mut all = attrs.to_vec();
    all.push(Attribute {
        oid: oid::CONTENT_TYPE.to_owned(),
        values: vec![asn1::tlv(asn1::OID, data_oid)],
    });
    all.push(Attribute::octet_string(
        oid::MESSAGE_DIGEST,
        &digest.digest(content),
    )?);
    let attrs_content = encode_attributes(&all)?;
    let signature = sign(&asn1::tlv(asn1::SET, &attrs_content))?;

    // SignerInfo: see `SignerInfo::decode` for the ASN.1.
    let mut si = vec![asn1::INTEGER, 0x01, 0x01];
    si.extend_from_slice(&sid);
    si.extend_from_slice(&digest.algorithm_identifier());
    asn1::push_tlv(&mut si, asn1::context_constructed(0), &attrs_content);
    si.extend_from_slice(signature_alg_der);
    asn1::push_tlv(&mut si, asn1::OCTET_STRING, &signature);

    // SignedData: see `parse_signed_data` for the ASN.1.
    let mut sd = vec![asn1::INTEGER, 0x01, 0x01];
    asn1::push_tlv(&mut sd, asn1::SET, &digest.algorithm_identifier());
    let mut eci = asn1::tlv(asn1::OID, data_oid);
    asn1::push_tlv(
        &mut eci,
        asn1::context_constructed(0),
        &asn1::tlv(asn1::OCTET_STRING, content),
    );
    asn1::push_tlv(&mut sd, asn1::SEQUENCE, &eci);
    if !sorted_certs.is_empty() {
        asn1::push_tlv(
            &mut sd,
            asn1::context_constructed(0),
            &sorted_certs.concat(),
        );
    }
    asn1::push_tlv(&mut sd, asn1::SET, &asn1::tlv(asn1::SEQUENCE, &si));
    Ok(wrap_content_info(
        rfc5911::ID_SIGNED_DATA.as_bytes(),
        &asn1::tlv(asn1::SEQUENCE, &sd),
    ))
}
