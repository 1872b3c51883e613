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
    let bad = |reason: String| ValidationError::Certificate { addr, reason };
    let certificate = connection
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| bad("no certificate".to_owned()))?;
    check_certificate(certificate.as_ref(), target, key_authorization).map_err(bad)
}

/// The checks of RFC 8737 §3 on the leaf certificate; the error says what is wrong.
fn check_certificate(der: &[u8], target: &Target, key_authorization: &str) -> Result<(), String> {
    let info = signet_x509::parse_certificate(der).map_err(|e| format!("unreadable: {e}"))?;
    let san = info
        .extensions
        .iter()
        .find(|e| e.oid == SAN_OID)
        .ok_or("no subjectAltName")?;
    let sans = signet_x509::ext::parse_subject_alt_name(&san.value)
        .map_err(|e| format!("subjectAltName not understood: {e}"))?;
    let [only] = sans.as_slice() else {
        return Err(format!("{} subjectAltNames, not exactly one", sans.len()));
    };
    let matches = match (only, target) {
        (San::Dns(d), Target::Name(name)) => d.eq_ignore_ascii_case(name),
        (San::Ip(ip), Target::Ip(want)) => super::ranges::canonical(*ip) == *want,
        _ => false,
    };
    if !matches {
        return Err(format!("subjectAltName {only} is not {target}"));
    }
    let ext = info
        .extensions
        .iter()
        .find(|e| e.oid == ACME_IDENTIFIER_OID)
        .ok_or("no acmeIdentifier extension")?;
    if !ext.critical {
        return Err("the acmeIdentifier extension is not critical".to_owned());
    }
    // Authorization ::= OCTET STRING (SIZE (32)) -- SHA-256 of the key authorization
    let digest = match ext.value.as_slice() {
        [0x04, 0x20, digest @ ..] if digest.len() == 32 => digest,
        _ => return Err("the acmeIdentifier value is not a 32-octet OCTET STRING".to_owned()),
    };
    let expected = signet_x509::sha256(key_authorization.as_bytes());
    aws_lc_rs::constant_time::verify_slices_are_equal(digest, &expected)
        .map_err(|_| "key authorization mismatch in the acmeIdentifier extension".to_owned())
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
