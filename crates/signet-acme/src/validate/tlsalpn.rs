//! tls-alpn-01 (RFC 8737; IP identifiers: RFC 8738 §6): a TLS handshake to
//! `{address}:{tlsalpn01_port}` with SNI = the name (for an IP, its reverse-DNS name) that
//! negotiates ALPN `acme-tls/1` and presents a self-signed certificate with exactly one SAN,
//! equal to the identifier, and a critical id-pe-acmeIdentifier extension holding
//! SHA-256(key authorization).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use signet_x509::San;

use super::{Inner, Target, ValidationError, ValidationSetupError};

/// The ALPN protocol of RFC 8737 §6.2.
pub(super) const ACME_TLS_1: &[u8] = b"acme-tls/1";
/// id-pe-acmeIdentifier (RFC 8737 §6.1).
const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";
const SAN_OID: &str = "2.5.29.17";

pub(super) async fn validate(
    inner: &Inner,
    target: &Target,
    key_authorization: &str,
) -> Result<(), ValidationError> {
    let addrs = inner.addresses(target).await?;
    let (stream, addr) = inner.connect(&addrs, inner.config.tlsalpn01_port).await?;
    let sni = match target {
        Target::Name(name) => name.clone(),
        Target::Ip(ip) => super::ranges::reverse_name(*ip),
    };
    let server_name = ServerName::try_from(sni.clone())
        .map_err(|_| ValidationError::Identifier { value: sni })?;
    let tls = tokio_rustls::TlsConnector::from(inner.tls_alpn.clone())
        .connect(server_name, stream)
        .await
        .map_err(|source| ValidationError::Tls { addr, source })?;
    let (_, connection) = tls.get_ref();
    if connection.alpn_protocol() != Some(ACME_TLS_1) {
        return Err(ValidationError::Alpn { addr });
    }
    let certificate = connection
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| ValidationError::Certificate {
            addr,
            reason: "no certificate".to_owned(),
        })?;
    match check_certificate(certificate.as_ref(), target, key_authorization) {
        Ok(()) => Ok(()),
        Err(CertificateCheck::Invalid(reason)) => {
            Err(ValidationError::Certificate { addr, reason })
        }
        Err(CertificateCheck::Mismatch) => Err(ValidationError::Mismatch {
            what: format!("the acmeIdentifier extension of the certificate from {addr}"),
        }),
    }
}

/// Why a certificate is not the right challenge certificate.
enum CertificateCheck {
    /// It is not a valid challenge certificate for the identifier.
    Invalid(String),
    /// It is, but for another key authorization.
    Mismatch,
}

impl From<String> for CertificateCheck {
    fn from(reason: String) -> Self {
        CertificateCheck::Invalid(reason)
    }
}

impl From<&str> for CertificateCheck {
    fn from(reason: &str) -> Self {
        CertificateCheck::Invalid(reason.to_owned())
    }
}

/// The checks of RFC 8737 §3 on the leaf certificate.
fn check_certificate(
    der: &[u8],
    target: &Target,
    key_authorization: &str,
) -> Result<(), CertificateCheck> {
    let info = signet_x509::parse_certificate(der).map_err(|e| format!("unreadable: {e}"))?;
    let san = info
        .extensions
        .iter()
        .find(|e| e.oid == SAN_OID)
        .ok_or("no subjectAltName")?;
    let sans = signet_x509::ext::parse_subject_alt_name(&san.value)
        .map_err(|e| format!("subjectAltName not understood: {e}"))?;
    let [only] = sans.as_slice() else {
        return Err(format!("{} subjectAltNames, not exactly one", sans.len()).into());
    };
    let matches = match (only, target) {
        (San::Dns(d), Target::Name(name)) => d.eq_ignore_ascii_case(name),
        (San::Ip(ip), Target::Ip(want)) => super::ranges::canonical(*ip) == *want,
        _ => false,
    };
    if !matches {
        return Err(format!("subjectAltName {only} is not {target}").into());
    }
    let ext = info
        .extensions
        .iter()
        .find(|e| e.oid == ACME_IDENTIFIER_OID)
        .ok_or("no acmeIdentifier extension")?;
    if !ext.critical {
        return Err("the acmeIdentifier extension is not critical".into());
    }
    // Authorization ::= OCTET STRING (SIZE (32)) -- SHA-256 of the key authorization
    let digest = match ext.value.as_slice() {
        [0x04, 0x20, digest @ ..] if digest.len() == 32 => digest,
        _ => return Err("the acmeIdentifier value is not a 32-octet OCTET STRING".into()),
    };
    let expected = signet_x509::sha256(key_authorization.as_bytes());
    aws_lc_rs::constant_time::verify_slices_are_equal(digest, &expected)
        .map_err(|_| CertificateCheck::Mismatch)
}

/// A TLS client configuration with the given ALPN protocols that accepts any certificate
/// chain but still verifies the handshake signature against the presented certificate.
/// tls-alpn-01 certificates are self-signed by design (RFC 8737 §3); the checks that matter
/// are done on the certificate afterwards.
pub(super) fn client_config(
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<rustls::ClientConfig>, ValidationSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = AnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ValidationSetupError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    config.enable_sni = true;
    Ok(Arc::new(config))
}

/// Accepts any server certificate; verifies the handshake signature.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verifies a handshake signature with the public key of `cert`.
///
/// rustls's own helpers parse the certificate with webpki, which refuses the critical
/// acmeIdentifier extension every tls-alpn-01 certificate carries; so the key is taken from
/// the certificate here and checked with the provider's algorithms directly (as webpki does:
/// an algorithm applies when its public-key AlgorithmIdentifier equals the key's).
fn verify_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let bad_encoding = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding);
    let (key_algorithm, public_key) = subject_public_key(cert.as_ref()).ok_or_else(bad_encoding)?;
    let candidates = algorithms
        .mapping
        .iter()
        .filter(|(scheme, _)| *scheme == dss.scheme)
        .flat_map(|(_, algs)| algs.iter());
    for alg in candidates {
        if alg.public_key_alg_id().as_ref() != key_algorithm {
            continue;
        }
        return alg
            .verify_signature(public_key, message, dss.signature())
            .map(|()| HandshakeSignatureValid::assertion())
            .map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
            });
    }
    Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into())
}

/// The content of the SubjectPublicKeyInfo's AlgorithmIdentifier and the subjectPublicKey
/// bits of a certificate.
fn subject_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    // Certificate  ::=  SEQUENCE  { tbsCertificate TBSCertificate, ... }
    // TBSCertificate  ::=  SEQUENCE  {
    //      version         [0]  EXPLICIT Version DEFAULT v1,
    //      serialNumber         CertificateSerialNumber,
    //      signature            AlgorithmIdentifier,
    //      issuer               Name,
    //      validity             Validity,
    //      subject              Name,
    //      subjectPublicKeyInfo SubjectPublicKeyInfo, ... }
    // SubjectPublicKeyInfo  ::=  SEQUENCE  {
    //      algorithm            AlgorithmIdentifier,
    //      subjectPublicKey     BIT STRING  }
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for expected in [0x02, 0x30, 0x30, 0x30, 0x30] {
        let (tag, _, after) = tlv(rest)?;
        if tag != expected {
            return None;
        }
        rest = after;
    }
    let (0x30, spki, _) = tlv(rest)? else {
        return None;
    };
    let (0x30, algorithm, after) = tlv(spki)? else {
        return None;
    };
    let (0x03, bits, _) = tlv(after)? else {
        return None;
    };
    match bits {
        [0, key @ ..] => Some((algorithm, key)),
        _ => None,
    }
}

/// One DER TLV: tag, value, the bytes after it. Single-octet tags; lengths up to 4 octets.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (octets, rest) = rest.split_at(n);
        (
            octets
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
            rest,
        )
    };
    if rest.len() < len {
        return None;
    }
    let (value, after) = rest.split_at(len);
    Some((tag, value, after))
}

#[cfg(test)]
mod tests {
    use super::{subject_public_key, tlv};

    fn t(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    /// A certificate skeleton: only the structure `subject_public_key` walks.
    fn skeleton(version: bool) -> Vec<u8> {
        let algorithm = t(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
        let spki = t(
            0x30,
            &[t(0x30, &algorithm), t(0x03, &[0, 4, 1, 2, 3])].concat(),
        );
        let mut tbs = Vec::new();
        if version {
            tbs.extend(t(0xa0, &t(0x02, &[2])));
        }
        tbs.extend(t(0x02, &[1]));
        for _ in 0..4 {
            tbs.extend(t(0x30, &[0u8; 130])); // long-form lengths too
        }
        tbs.extend(spki);
        t(0x30, &[t(0x30, &tbs), t(0x30, &[]), t(0x03, &[0])].concat())
    }

    #[test]
    fn finds_the_public_key() {
        for version in [true, false] {
            let cert = skeleton(version);
            let (algorithm, key) = subject_public_key(&cert).expect("walks");
            assert_eq!(algorithm[0], 0x06);
            assert_eq!(key, &[4, 1, 2, 3]);
            // Every truncation fails cleanly.
            for n in 0..cert.len() {
                assert!(subject_public_key(&cert[..n]).is_none(), "cut at {n}");
            }
        }
        assert!(
            tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none(),
            "5-octet length"
        );
        assert!(tlv(&[0x30, 0x80]).is_none(), "indefinite length");
        assert!(tlv(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
