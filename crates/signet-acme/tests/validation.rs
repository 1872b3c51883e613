//! Challenge validation and CAA against real responders on loopback.
//!
//! `pebble-challtestsrv` (Debian's `pebble` package) is the independent DNS server and the
//! http-01 / tls-alpn-01 responder: each test starts its own instance on free ports and
//! publishes records and responses through its management API. Servers that misbehave in
//! ways challtestsrv cannot (404, slow, no ALPN, a normal certificate) are small servers
//! written here; the normal certificate comes from openssl.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::oracle;
use signet_acme::validate::dns::{self, DnsClient, RData};
use signet_acme::validate::{IpRange, ValidationConfig, Validator, dns01_txt_value};
use signet_acme::{Problem, ProblemType};
use signet_api::acme::{AcmeIdentifier, ChallengeType, IdentifierType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NAME: &str = "a.example.test";
const TOKEN: &str = "tok_-EN1";
const KEY_AUTH: &str = "tok_-EN1.thumbprint-of-the-account-key";

// ---------------------------------------------------------------------------------------
// http-01

#[tokio::test]
async fn http01_valid() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    srv.add_http01(TOKEN, KEY_AUTH).await;
    let v = srv.validator(|_| {});
    v.validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect("valid");
    // One request, with our User-Agent-free history entry for the name.
    let history = srv.history("http-request-history", NAME).await;
    assert!(history.contains(TOKEN), "{history}");
}

#[tokio::test]
async fn http01_wrong_content() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    srv.add_http01(TOKEN, "tok_-EN1.someone-else").await;
    let p = srv
        .validator(|_| {})
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("mismatch");
    assert_problem(
        &p,
        ProblemType::IncorrectResponse,
        "key authorization mismatch",
    );
    assert_problem(&p, ProblemType::IncorrectResponse, "someone-else");
}

#[tokio::test]
async fn http01_404() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let port =
        fixed_server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found".to_vec())
            .await;
    let p = srv
        .validator(|c| c.http01_port = port)
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("404");
    assert_problem(
        &p,
        ProblemType::Unauthorized,
        &format!("got 404 from http://{NAME}:{port}/.well-known/acme-challenge/{TOKEN}"),
    );
}

#[tokio::test]
async fn http01_connection_refused() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let port = free_port();
    let p = srv
        .validator(|c| c.http01_port = port)
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("refused");
    assert_problem(&p, ProblemType::Connection, &format!("127.0.0.1:{port}: "));
}

#[tokio::test]
async fn http01_redirects_within_the_limit() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let base = format!("http://{NAME}:{}", srv.http.port());
    // 10 redirects: the challenge path → /r/1 → … → /r/9 → the path of another token.
    srv.add_redirect(&challenge_path(TOKEN), &format!("{base}/r/1"))
        .await;
    for i in 1..9 {
        srv.add_redirect(&format!("/r/{i}"), &format!("{base}/r/{}", i + 1))
            .await;
    }
    srv.add_redirect("/r/9", &format!("{base}{}", challenge_path("final")))
        .await;
    srv.add_http01("final", KEY_AUTH).await;
    srv.validator(|_| {})
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect("10 redirects are followed");
}

#[tokio::test]
async fn http01_eleven_redirects_are_refused() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let base = format!("http://{NAME}:{}", srv.http.port());
    srv.add_redirect(&challenge_path(TOKEN), &format!("{base}/r/1"))
        .await;
    for i in 1..10 {
        srv.add_redirect(&format!("/r/{i}"), &format!("{base}/r/{}", i + 1))
            .await;
    }
    srv.add_redirect("/r/10", &format!("{base}{}", challenge_path("final")))
        .await;
    srv.add_http01("final", KEY_AUTH).await;
    let p = srv
        .validator(|_| {})
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("11 redirects");
    assert_problem(&p, ProblemType::Connection, "too many redirects");
}

#[tokio::test]
async fn http01_redirect_to_a_denied_address_is_refused() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let port = srv.http.port();
    srv.add_redirect(
        &challenge_path(TOKEN),
        &format!("http://127.0.0.2:{port}{}", challenge_path("final")),
    )
    .await;
    srv.add_http01("final", KEY_AUTH).await;
    let p = srv
        .validator(|c| c.denied = vec![range("127.0.0.2/32")])
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("denied redirect target");
    // challtestsrv listens on 127.0.0.1 only: a connection attempt would have been a
    // `connection` problem, so this type also shows nothing connected.
    assert_problem(&p, ProblemType::RejectedIdentifier, "127.0.0.2");

    // Redirects to other ports and schemes are refused too.
    for target in [
        format!("http://{NAME}:8081/x"),
        format!("ftp://{NAME}/x"),
        format!("http://user:pw@{NAME}:{port}/x"),
    ] {
        srv.add_redirect(&challenge_path(TOKEN), &target).await;
        let p = srv
            .validator(|_| {})
            .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
            .await
            .expect_err(&target);
        assert_problem(&p, ProblemType::Connection, "refusing redirect");
    }
}

/// Validation must not read the CA's network for a client: a target that answers something
/// other than a key authorization for this token is not quoted, and after a redirect how the
/// target failed (its status) is not shown either.
#[tokio::test]
async fn http01_does_not_show_what_an_internal_target_answered() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let secret = b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\nSECRET internal admin page\n";
    let port = fixed_server(secret.to_vec()).await;
    let p = srv
        .validator(|c| c.http01_port = port)
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("not the key authorization");
    assert_problem(
        &p,
        ProblemType::IncorrectResponse,
        "not a key authorization",
    );
    assert!(!p.detail.unwrap_or_default().contains("SECRET"));

    // A redirect to another page (challtestsrv answers unknown paths with an empty body):
    // nothing of it is shown, and neither would its status be.
    let base = format!("http://{NAME}:{}", srv.http.port());
    srv.add_redirect(&challenge_path(TOKEN), &format!("{base}/internal/status"))
        .await;
    let p = srv
        .validator(|_| {})
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("the redirect target is not the key authorization");
    assert_problem(
        &p,
        ProblemType::IncorrectResponse,
        "not a key authorization",
    );
}

#[tokio::test]
async fn http01_body_over_the_limit_is_refused() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let big = format!("{TOKEN}.{}", "x".repeat(9000));
    srv.add_http01(TOKEN, &big).await;
    let p = srv
        .validator(|_| {})
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, &big)
        .await
        .expect_err("too large");
    assert_problem(&p, ProblemType::Unauthorized, "larger than 8192 bytes");
    // The same body without a Content-Length (read until close) is cut off as well.
    let mut response = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    response.extend_from_slice(big.as_bytes());
    let port = fixed_server(response).await;
    let p = srv
        .validator(|c| c.http01_port = port)
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, &big)
        .await
        .expect_err("too large");
    assert_problem(&p, ProblemType::Unauthorized, "larger than 8192 bytes");
}

#[tokio::test]
async fn http01_oversized_headers_are_refused() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nX-Filler: {}\r\nContent-Length: {}\r\n\r\n{KEY_AUTH}",
        "y".repeat(64 * 1024),
        KEY_AUTH.len()
    );
    let port = fixed_server(response.into_bytes()).await;
    let p = srv
        .validator(|c| c.http01_port = port)
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("headers too large");
    assert_problem(&p, ProblemType::Connection, "HTTP request to http://");
}

#[tokio::test]
async fn http01_trailing_whitespace_is_ignored() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let body = format!("{KEY_AUTH}\r\n \n");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let port = fixed_server(response.into_bytes()).await;
    srv.validator(|c| c.http01_port = port)
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect("trailing whitespace ignored");
}

#[tokio::test]
async fn http01_ip_identifier() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    srv.add_http01(TOKEN, KEY_AUTH).await;
    srv.validator(|_| {})
        .validate(ChallengeType::Http01, &ip_id("127.0.0.1"), TOKEN, KEY_AUTH)
        .await
        .expect("valid");
    // The Host header is the IP (challtestsrv keys its history by Host without the port).
    let history = srv.history("http-request-history", "127.0.0.1").await;
    assert!(history.contains(TOKEN), "{history}");
}

#[tokio::test]
async fn default_config_refuses_loopback_without_connecting() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    srv.add_http01(TOKEN, KEY_AUTH).await;
    let config = ValidationConfig {
        http01_port: srv.http.port(),
        tlsalpn01_port: srv.tls.port(),
        dns_resolvers: vec![srv.dns],
        ..ValidationConfig::default()
    };
    let v = Validator::new(config).expect("validator");
    let p = v
        .validate(ChallengeType::Http01, &ip_id("127.0.0.1"), TOKEN, KEY_AUTH)
        .await
        .expect_err("loopback refused");
    assert_problem(&p, ProblemType::RejectedIdentifier, "127.0.0.1");
    let p = v
        .validate(ChallengeType::Http01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("a name resolving to loopback is refused");
    assert_problem(
        &p,
        ProblemType::RejectedIdentifier,
        &format!("{NAME} resolves to 127.0.0.1"),
    );
    let p = v
        .validate(ChallengeType::TlsAlpn01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("tls-alpn-01 too");
    assert_eq!(p.kind, ProblemType::RejectedIdentifier);
    assert_eq!(srv.history("http-request-history", "127.0.0.1").await, "[]");
    assert_eq!(srv.history("http-request-history", NAME).await, "[]");
    assert_eq!(srv.history("tlsalpn01-request-history", NAME).await, "[]");
    // The IPv4-mapped IPv6 form of loopback is loopback.
    let p = v
        .validate(
            ChallengeType::Http01,
            &ip_id("::ffff:127.0.0.1"),
            TOKEN,
            KEY_AUTH,
        )
        .await
        .expect_err("mapped loopback refused");
    assert_eq!(p.kind, ProblemType::RejectedIdentifier);
}

#[tokio::test]
async fn a_slow_server_fails_within_the_timeout() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let v = srv.validator(|c| {
        c.http01_port = port;
        c.tlsalpn01_port = port;
        c.timeout = Duration::from_secs(1);
    });
    for kind in [ChallengeType::Http01, ChallengeType::TlsAlpn01] {
        let start = Instant::now();
        let p = v
            .validate(kind, &dns_id(NAME), TOKEN, KEY_AUTH)
            .await
            .expect_err("slow");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert_problem(&p, ProblemType::Connection, "no answer within 1s");
    }
}

// ---------------------------------------------------------------------------------------
// dns-01

#[tokio::test]
async fn dns01_valid_and_wrong() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let v = srv.validator(|_| {});
    let p = v
        .validate(ChallengeType::Dns01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("no TXT yet");
    assert_problem(
        &p,
        ProblemType::Unauthorized,
        "no TXT record at _acme-challenge.a.example.test",
    );

    srv.set_txt(&format!("_acme-challenge.{NAME}."), "not-the-digest")
        .await;
    let p = v
        .validate(ChallengeType::Dns01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("wrong TXT");
    assert_problem(&p, ProblemType::IncorrectResponse, "not-the-digest");

    // A second TXT record with the right value: any one matching is enough.
    srv.set_txt(
        &format!("_acme-challenge.{NAME}."),
        &dns01_txt_value(KEY_AUTH),
    )
    .await;
    v.validate(ChallengeType::Dns01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect("valid");
    // A wildcard order validates the base name.
    v.validate(
        ChallengeType::Dns01,
        &dns_id(&format!("*.{NAME}")),
        TOKEN,
        KEY_AUTH,
    )
    .await
    .expect("wildcard base name");
    // dns-01 does not apply to IP identifiers (RFC 8738 §7).
    let p = v
        .validate(ChallengeType::Dns01, &ip_id("127.0.0.1"), TOKEN, KEY_AUTH)
        .await
        .expect_err("ip");
    assert_eq!(p.kind, ProblemType::UnsupportedIdentifier);
}

#[tokio::test]
async fn dns01_servfail_is_a_dns_problem() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    srv.post(
        "/set-servfail",
        &format!(r#"{{"host":"_acme-challenge.{NAME}."}}"#),
    )
    .await;
    let p = srv
        .validator(|_| {})
        .validate(ChallengeType::Dns01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("servfail");
    assert_problem(&p, ProblemType::Dns, "SERVFAIL");
}

// ---------------------------------------------------------------------------------------
// tls-alpn-01

#[tokio::test]
async fn tlsalpn01_valid_and_wrong() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    srv.post(
        "/add-tlsalpn01",
        &format!(r#"{{"host":"{NAME}","content":"{KEY_AUTH}"}}"#),
    )
    .await;
    let v = srv.validator(|_| {});
    v.validate(ChallengeType::TlsAlpn01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect("valid");
    let history = srv.history("tlsalpn01-request-history", NAME).await;
    assert!(history.contains("acme-tls/1"), "{history}");
    let p = v
        .validate(
            ChallengeType::TlsAlpn01,
            &dns_id(NAME),
            TOKEN,
            "tok_-EN1.other",
        )
        .await
        .expect_err("other key authorization");
    assert_problem(
        &p,
        ProblemType::IncorrectResponse,
        "key authorization mismatch",
    );
}

#[tokio::test]
async fn tlsalpn01_without_alpn_or_with_a_normal_certificate_is_refused() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let Some((cert, key)) = openssl_certificate(&format!("DNS:{NAME}")) else {
        return;
    };
    // No ALPN at all.
    let port = tls_server(cert.clone(), key.clone_key(), vec![]).await;
    let p = srv
        .validator(|c| c.tlsalpn01_port = port)
        .validate(ChallengeType::TlsAlpn01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("no ALPN");
    assert_problem(
        &p,
        ProblemType::Tls,
        "did not negotiate the acme-tls/1 protocol",
    );
    // acme-tls/1, but an ordinary certificate (no acmeIdentifier extension).
    let port = tls_server(cert, key, vec![b"acme-tls/1".to_vec()]).await;
    let p = srv
        .validator(|c| c.tlsalpn01_port = port)
        .validate(ChallengeType::TlsAlpn01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("normal certificate");
    assert_problem(&p, ProblemType::Unauthorized, "no acmeIdentifier extension");
    // The SAN is checked before the extension: an IP identifier matches an iPAddress SAN
    // (and its SNI is the reverse-DNS name), a name matches only its own dNSName.
    let Some((cert, key)) = openssl_certificate("IP:127.0.0.1") else {
        return;
    };
    let port = tls_server(cert, key, vec![b"acme-tls/1".to_vec()]).await;
    let v = srv.validator(|c| c.tlsalpn01_port = port);
    let p = v
        .validate(
            ChallengeType::TlsAlpn01,
            &ip_id("127.0.0.1"),
            TOKEN,
            KEY_AUTH,
        )
        .await
        .expect_err("no extension");
    assert_problem(&p, ProblemType::Unauthorized, "no acmeIdentifier extension");
    let p = v
        .validate(ChallengeType::TlsAlpn01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("wrong SAN");
    assert_problem(
        &p,
        ProblemType::Unauthorized,
        &format!("subjectAltName IP:127.0.0.1 is not {NAME}"),
    );
    // Two SANs are refused.
    let Some((cert, key)) = openssl_certificate(&format!("DNS:{NAME},DNS:b.example.test")) else {
        return;
    };
    let port = tls_server(cert, key, vec![b"acme-tls/1".to_vec()]).await;
    let p = srv
        .validator(|c| c.tlsalpn01_port = port)
        .validate(ChallengeType::TlsAlpn01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("two SANs");
    assert_problem(
        &p,
        ProblemType::Unauthorized,
        "2 subjectAltNames, not exactly one",
    );
    // Nothing listening: a connection problem.
    let port = free_port();
    let p = srv
        .validator(|c| c.tlsalpn01_port = port)
        .validate(ChallengeType::TlsAlpn01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("refused");
    assert_problem(&p, ProblemType::Connection, &format!("127.0.0.1:{port}"));
}

#[tokio::test]
async fn tlsalpn01_handshake_signature_is_verified() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    // The certificate of one key pair, the handshake signed with another: certificate
    // chains are not verified, but the handshake signature still is.
    let (Some((cert, _)), Some((_, other_key))) = (
        openssl_certificate(&format!("DNS:{NAME}")),
        openssl_certificate(&format!("DNS:{NAME}")),
    ) else {
        return;
    };
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(other_key)
        .expect("key");
    let certified = Arc::new(rustls::sign::CertifiedKey::new(vec![cert], signing));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(FixedCert(certified)));
    config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    let port = tls_listener(config).await;
    let p = srv
        .validator(|c| c.tlsalpn01_port = port)
        .validate(ChallengeType::TlsAlpn01, &dns_id(NAME), TOKEN, KEY_AUTH)
        .await
        .expect_err("bad handshake signature");
    assert_problem(&p, ProblemType::Tls, "BadSignature");
}

/// Serves one certificate and key, without rustls's check that they belong together.
#[derive(Debug)]
struct FixedCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for FixedCert {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

// ---------------------------------------------------------------------------------------
// CAA

#[tokio::test]
async fn caa() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let v = srv.validator(|c| c.caa_identities = vec!["ca.example".to_owned()]);
    // No record anywhere up the tree.
    v.check_caa(&dns_id("none.example.test"), false)
        .await
        .expect("no CAA");
    srv.add_caa("us.example.test", &[("issue", "CA.example; account=1")])
        .await;
    v.check_caa(&dns_id("us.example.test"), false)
        .await
        .expect("names us");
    srv.add_caa("them.example.test", &[("issue", "letsencrypt.org")])
        .await;
    let p = v
        .check_caa(&dns_id("them.example.test"), false)
        .await
        .expect_err("another CA");
    assert_problem(&p, ProblemType::Caa, "letsencrypt.org");
    // The relevant RRset is found climbing: a record at the parent governs the child.
    let p = v
        .check_caa(&dns_id("sub.them.example.test"), false)
        .await
        .expect_err("parent names another CA");
    assert_problem(&p, ProblemType::Caa, "the CAA records at them.example.test");
    // issuewild governs wildcards; issue everything else.
    srv.add_caa(
        "wild.example.test",
        &[("issue", "letsencrypt.org"), ("issuewild", "ca.example")],
    )
    .await;
    v.check_caa(&dns_id("wild.example.test"), true)
        .await
        .expect("issuewild names us");
    v.check_caa(&dns_id("*.wild.example.test"), false)
        .await
        .expect("a *. value is a wildcard too");
    v.check_caa(&dns_id("wild.example.test"), false)
        .await
        .expect_err("issue names another CA");
    // A lookup that fails forbids issuance.
    srv.post("/set-servfail", r#"{"host":"fail.example.test"}"#)
        .await;
    let p = v
        .check_caa(&dns_id("fail.example.test"), false)
        .await
        .expect_err("servfail");
    assert_problem(&p, ProblemType::Caa, "SERVFAIL");
    // Without configured identities CAA is not checked.
    srv.validator(|_| {})
        .check_caa(&dns_id("them.example.test"), false)
        .await
        .expect("not checked");
}

// ---------------------------------------------------------------------------------------
// The DNS client against challtestsrv

#[tokio::test]
async fn dns_client_queries() {
    let Some(srv) = Challtestsrv::start().await else {
        return;
    };
    let client = DnsClient::new(vec![srv.dns], Duration::from_secs(2));
    let a = client.lookup(NAME, dns::TYPE_A).await.expect("A");
    assert_eq!(a.records, vec![RData::A(Ipv4Addr::LOCALHOST)]);
    srv.post(
        "/add-a",
        r#"{"host":"multi.example.test","addresses":["127.0.0.2","127.0.0.3"]}"#,
    )
    .await;
    let a = client
        .lookup("Multi.Example.Test.", dns::TYPE_A)
        .await
        .expect("A");
    assert_eq!(
        a.records,
        vec![
            RData::A(Ipv4Addr::new(127, 0, 0, 2)),
            RData::A(Ipv4Addr::new(127, 0, 0, 3))
        ]
    );
    let aaaa = client.lookup(NAME, dns::TYPE_AAAA).await.expect("AAAA");
    assert!(aaaa.records.is_empty() && !aaaa.nxdomain);

    srv.set_txt("txt.example.test.", "hello world").await;
    let txt = client
        .lookup("txt.example.test", dns::TYPE_TXT)
        .await
        .expect("TXT");
    assert_eq!(txt.records, vec![RData::Txt(b"hello world".to_vec())]);

    srv.add_caa("caa.example.test", &[("issue", "ca.example")])
        .await;
    let caa = client
        .lookup("caa.example.test", dns::TYPE_CAA)
        .await
        .expect("CAA");
    assert_eq!(
        caa.records,
        vec![RData::Caa {
            flags: 0,
            tag: "issue".to_owned(),
            value: b"ca.example".to_vec()
        }]
    );

    // CNAMEs are followed.
    srv.post(
        "/set-cname",
        r#"{"host":"alias.example.test","target":"txt.example.test"}"#,
    )
    .await;
    let via = client
        .lookup("alias.example.test", dns::TYPE_TXT)
        .await
        .expect("CNAME");
    assert_eq!(via.name, "txt.example.test");
    assert_eq!(via.records, vec![RData::Txt(b"hello world".to_vec())]);

    // TCP gives the same answer as UDP.
    let tcp = client
        .query_server_tcp(srv.dns, "txt.example.test", dns::TYPE_TXT)
        .await
        .expect("TCP");
    assert_eq!(tcp.answers.len(), 1);
    assert_eq!(tcp.answers[0].data, RData::Txt(b"hello world".to_vec()));

    // A resolver that does not answer times out; the next one is asked.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let two = DnsClient::new(
        vec![silent.local_addr().expect("addr"), srv.dns],
        Duration::from_millis(300),
    );
    let a = two
        .lookup(NAME, dns::TYPE_A)
        .await
        .expect("second resolver");
    assert_eq!(a.records, vec![RData::A(Ipv4Addr::LOCALHOST)]);
    let err = DnsClient::new(
        vec![silent.local_addr().expect("addr")],
        Duration::from_millis(300),
    )
    .lookup(NAME, dns::TYPE_A)
    .await
    .expect_err("silent");
    assert!(matches!(err, dns::DnsError::Timeout { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------
// Helpers

/// The server spawns validations: the validator is `Clone + Send + Sync` and its futures are
/// `Send` (a compile-time check).
#[allow(dead_code)]
fn validator_futures_are_send(v: Validator, id: AcmeIdentifier) {
    fn send<T: Send>(_: T) {}
    fn shared<T: Clone + Send + Sync + 'static>(_: &T) {}
    shared(&v);
    let w = v.clone();
    let id2 = id.clone();
    send(async move {
        v.validate(ChallengeType::Http01, &id, TOKEN, KEY_AUTH)
            .await
    });
    send(async move { w.check_caa(&id2, false).await });
}

fn dns_id(name: &str) -> AcmeIdentifier {
    AcmeIdentifier {
        kind: IdentifierType::Dns,
        value: name.to_owned(),
    }
}

fn ip_id(ip: &str) -> AcmeIdentifier {
    AcmeIdentifier {
        kind: IdentifierType::Ip,
        value: ip.to_owned(),
    }
}

fn range(s: &str) -> IpRange {
    s.parse().expect("range")
}

fn challenge_path(token: &str) -> String {
    format!("/.well-known/acme-challenge/{token}")
}

#[track_caller]
fn assert_problem(p: &Problem, kind: ProblemType, detail: &str) {
    let got = p.detail.as_deref().unwrap_or_default();
    eprintln!("{:?}: {got}", p.kind);
    assert!(
        p.kind == kind && got.contains(detail),
        "expected {kind:?} containing {detail:?}, got {:?}: {got}",
        p.kind
    );
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A port free for both TCP and UDP (for the DNS server).
fn free_dual_port() -> u16 {
    loop {
        let port = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// An HTTP server on 127.0.0.1 that answers every request with `response` and closes.
async fn fixed_server(response: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

/// A TLS server on 127.0.0.1 with `cert` and the given ALPN protocols.
async fn tls_server(
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    alpn: Vec<Vec<u8>>,
) -> u16 {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server config");
    config.alpn_protocols = alpn;
    tls_listener(config).await
}

/// A TLS server on 127.0.0.1 with `config` that reads a little and closes.
async fn tls_listener(config: rustls::ServerConfig) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    let mut buf = [0u8; 64];
                    let _ = tls.read(&mut buf).await;
                }
            });
        }
    });
    port
}

/// A self-signed P-256 certificate with the subjectAltName `san` (openssl syntax, e.g.
/// `DNS:a.example`), an ordinary one without acmeIdentifier, made by openssl.
fn openssl_certificate(
    san: &str,
) -> Option<(
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
)> {
    let present = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !oracle::available("openssl", present, "apt-get install openssl") {
        return None;
    }
    let dir = temp_dir("cert");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=test"])
        .args(["-addext", &format!("subjectAltName={san}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl req failed");
    let (label, cert_der) =
        signet_x509::pem::decode(&std::fs::read(&cert).expect("cert")).expect("cert PEM");
    assert_eq!(label, "CERTIFICATE");
    let (label, key_der) =
        signet_x509::pem::decode(&std::fs::read(&key).expect("key")).expect("key PEM");
    assert_eq!(label, "PRIVATE KEY");
    let _ = std::fs::remove_dir_all(&dir);
    Some((
        cert_der.into(),
        rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.into()),
    ))
}

fn temp_dir(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "signet-acme-validation-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// One pebble-challtestsrv process on free loopback ports, killed on drop.
struct Challtestsrv {
    child: Child,
    management: SocketAddr,
    dns: SocketAddr,
    http: SocketAddr,
    tls: SocketAddr,
}

impl Drop for Challtestsrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Challtestsrv {
    const BINARY: &str = "pebble-challtestsrv";

    /// Starts an instance, or `None` when the oracle is missing and skipped explicitly.
    async fn start() -> Option<Challtestsrv> {
        let present = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| dir.join(Self::BINARY).is_file())
        }) || Path::new("/usr/bin/pebble-challtestsrv").is_file();
        if !oracle::available(
            Self::BINARY,
            present,
            "apt-get install pebble (Debian's package ships pebble-challtestsrv)",
        ) {
            return None;
        }
        let local = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let management = local(free_port());
        let dns = local(free_dual_port());
        let http = local(free_port());
        let tls = local(free_port());
        let child = Command::new(Self::BINARY)
            .arg("-management")
            .arg(management.to_string())
            .arg("-dns01")
            .arg(dns.to_string())
            .arg("-http01")
            .arg(http.to_string())
            .arg("-tlsalpn01")
            .arg(tls.to_string())
            .args([
                "-https01",
                "",
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv starts");
        let srv = Challtestsrv {
            child,
            management,
            dns,
            http,
            tls,
        };
        srv.wait_ready().await;
        Some(srv)
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in [self.management, self.http, self.tls, self.dns] {
            while TcpStream::connect(addr).await.is_err() {
                assert!(
                    Instant::now() < deadline,
                    "challtestsrv did not listen on {addr}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// A validator that may validate on loopback, talking to this instance.
    fn validator(&self, adjust: impl FnOnce(&mut ValidationConfig)) -> Validator {
        let mut config = ValidationConfig {
            http01_port: self.http.port(),
            tlsalpn01_port: self.tls.port(),
            dns_resolvers: vec![self.dns],
            allowed: vec![range("127.0.0.0/8")],
            denied: vec![],
            caa_identities: vec![],
            timeout: Duration::from_secs(5),
            max_response_bytes: 8192,
        };
        adjust(&mut config);
        Validator::new(config).expect("validator")
    }

    /// POSTs `json` to the management API; panics unless it answers 200. Returns the body.
    async fn post(&self, path: &str, json: &str) -> String {
        let mut stream = TcpStream::connect(self.management)
            .await
            .expect("management");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{json}",
            self.management,
            json.len()
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        let response = String::from_utf8_lossy(&response).into_owned();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "{path} {json}: {response}"
        );
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }

    async fn add_http01(&self, token: &str, content: &str) {
        self.post(
            "/add-http01",
            &format!(r#"{{"token":"{token}","content":"{content}"}}"#),
        )
        .await;
    }

    async fn add_redirect(&self, path: &str, target: &str) {
        self.post(
            "/add-redirect",
            &format!(r#"{{"path":"{path}","targetURL":"{target}"}}"#),
        )
        .await;
    }

    async fn set_txt(&self, host: &str, value: &str) {
        self.post(
            "/set-txt",
            &format!(r#"{{"host":"{host}","value":"{value}"}}"#),
        )
        .await;
    }

    async fn add_caa(&self, host: &str, policies: &[(&str, &str)]) {
        let policies: Vec<String> = policies
            .iter()
            .map(|(tag, value)| format!(r#"{{"tag":"{tag}","value":"{value}"}}"#))
            .collect();
        self.post(
            "/add-caa",
            &format!(r#"{{"host":"{host}","policies":[{}]}}"#, policies.join(",")),
        )
        .await;
    }

    /// A request history (`http-request-history`, `tlsalpn01-request-history`) for `host`,
    /// as challtestsrv's JSON with whitespace removed.
    async fn history(&self, kind: &str, host: &str) -> String {
        let body = self
            .post(&format!("/{kind}"), &format!(r#"{{"host":"{host}"}}"#))
            .await;
        body.split_whitespace().collect()
    }
}
