//! TLS for the HTTPS listener: the rustls server configuration, with client certificates
//! optional, and the request extensions that carry what the handshake established.
//!
//! Enrollment protocols need the certificate a client authenticated with (EST re-enrollment,
//! admin clients with certificates), which axum's own `serve` hides. The accept loop in
//! [`crate::listener`] therefore does the `tokio_rustls` handshake itself and puts
//! [`PeerCertificates`] and [`OverTls`] into every request's extensions.
//!
//! Client certificates are optional on the same port, so token and password clients can
//! connect without one; a certificate that is presented must chain to one of the configured
//! client roots, or the handshake fails.
//!
//! Cryptography comes from rustls' aws-lc-rs provider, passed explicitly, so the process-wide
//! default provider does not matter and ring is never needed.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::server::{ServerConfig, WebPkiClientVerifier};

pub use signet_api::transport::{OverTls, PeerCertificates, TlsExporter};

/// Why a TLS server configuration could not be built. Each message names the input (the
/// server certificate chain, the server private key, or the client CA certificates) and what
/// was wrong with it; callers reading from files should add the file name.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM input could not be decoded.
    #[error("cannot read the {what} as PEM: {source}")]
    Pem {
        what: &'static str,
        #[source]
        source: signet_x509::Error,
    },
    /// A PEM input holds no `CERTIFICATE` block.
    #[error("the {what} contain no -----BEGIN CERTIFICATE----- block")]
    NoCertificates { what: &'static str },
    /// The key PEM holds no private key block Signet understands.
    #[error(
        "the server private key contains no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block"
    )]
    NoPrivateKey,
    /// The key PEM holds a password-protected key.
    #[error(
        "the server private key is encrypted (ENCRYPTED PRIVATE KEY); the TLS listener needs \
         an unencrypted key, e.g. from `openssl pkey -in key.pem -out plain.pem`"
    )]
    EncryptedPrivateKey,
    /// The key PEM holds more than one private key, so which one to use is ambiguous.
    #[error("the server private key input contains {0} private keys; expected exactly one")]
    MultiplePrivateKeys(usize),
    /// rustls rejected the server certificate chain or private key (unsupported key type,
    /// malformed key, or a key that does not belong to the first certificate).
    #[error("the server certificate and private key are not usable: {0}")]
    ServerKey(#[source] rustls::Error),
    /// A client CA certificate is not a usable trust anchor.
    #[error(
        "client CA certificate #{index} (counting from 1) is not a usable trust anchor: {source}"
    )]
    ClientRoot {
        index: usize,
        #[source]
        source: rustls::Error,
    },
    /// The client certificate verifier could not be built from the client CA certificates.
    #[error("cannot build the client certificate verifier: {0}")]
    ClientVerifier(#[source] rustls::server::VerifierBuilderError),
    /// The crypto provider does not support the requested protocol versions. This is a
    /// build problem (missing rustls features), not a configuration problem.
    #[error("the TLS crypto provider does not support TLS 1.2/1.3: {0}")]
    Provider(#[source] rustls::Error),
}

/// Builds the server configuration from PEM inputs: `cert_chain_pem` is the server
/// certificate followed by its intermediates, `key_pem` its unencrypted private key (PKCS#8
/// `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`; other blocks such as
/// `EC PARAMETERS` are ignored), and `client_roots_pem` one or more CA certificates whose
/// client certificates are accepted.
///
/// Client certificates are optional, so token clients can use the same port; a client
/// certificate that does not chain to a root fails the handshake. TLS 1.3 and 1.2 are
/// offered; ALPN advertises only `http/1.1`, matching the HTTP/1.1-only connections of
/// [`crate::listener::serve`].
pub fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_roots_pem: &[u8],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

    let chain: Vec<CertificateDer<'static>> =
        certificates(cert_chain_pem, "server certificate chain")?
            .into_iter()
            .map(CertificateDer::from)
            .collect();
    let key = private_key(key_pem)?;

    let mut roots = RootCertStore::empty();
    for (i, der) in certificates(client_roots_pem, "client CA certificates")?
        .into_iter()
        .enumerate()
    {
        roots
            .add(CertificateDer::from(der))
            .map_err(|source| TlsError::ClientRoot {
                index: i + 1,
                source,
            })?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(TlsError::ClientVerifier)?;

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Provider)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(TlsError::ServerKey)?;
    // Only HTTP/1.1 is compiled into the connection builder; advertising h2 would make
    // clients speak a protocol the server cannot parse.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Decodes every `CERTIFICATE` block of `pem`, refusing an input without any.
fn certificates(pem: &[u8], what: &'static str) -> Result<Vec<Vec<u8>>, TlsError> {
    let certs = signet_x509::pem::decode_all(pem, "CERTIFICATE")
        .map_err(|source| TlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates { what });
    }
    Ok(certs)
}

/// Finds the single private key in `pem`: PKCS#8, SEC1 (EC) or PKCS#1 (RSA). Other blocks,
/// such as the `EC PARAMETERS` that `openssl ecparam -genkey` writes first, are skipped.
fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = "server private key";
    let decode = |label| {
        signet_x509::pem::decode_all(pem, label).map_err(|source| TlsError::Pem { what, source })
    };
    let mut keys: Vec<PrivateKeyDer<'static>> = Vec::new();
    keys.extend(
        decode("PRIVATE KEY")?
            .into_iter()
            .map(|der| PrivatePkcs8KeyDer::from(der).into()),
    );
    keys.extend(
        decode("EC PRIVATE KEY")?
            .into_iter()
            .map(|der| PrivateSec1KeyDer::from(der).into()),
    );
    keys.extend(
        decode("RSA PRIVATE KEY")?
            .into_iter()
            .map(|der| PrivatePkcs1KeyDer::from(der).into()),
    );
    match keys.len() {
        0 if !decode("ENCRYPTED PRIVATE KEY")?.is_empty() => Err(TlsError::EncryptedPrivateKey),
        0 => Err(TlsError::NoPrivateKey),
        1 => keys.pop().ok_or(TlsError::NoPrivateKey),
        n => Err(TlsError::MultiplePrivateKeys(n)),
    }
}

/// Serves `app` over TLS on `listener` with the default [`crate::listener::Limits`] and its
/// own connection slots, until `shutdown`, draining for at most `drain`: the HTTPS listener
/// alone. `signet serve` calls [`crate::listener::serve`] with the configured limits, shared
/// with the plain listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Arc<ServerConfig>,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    drain: std::time::Duration,
) -> std::io::Result<()> {
    let connections = crate::listener::Connections::new(crate::listener::Limits::default())
        .map_err(std::io::Error::other)?;
    crate::listener::serve(listener, Some(config), app, connections, shutdown, drain).await
}
