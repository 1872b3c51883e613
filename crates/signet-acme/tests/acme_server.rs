//! The ACME server end to end, in process: the engine (signet-testkit's `TestCa`) and its
//! SQLite store, the ACME router on a loopback port, real http-01 validation against a
//! responder this test runs, names resolved by `pebble-challtestsrv` (an oracle: Debian's
//! `pebble` package), and certificates checked with `openssl verify`.
//!
//! The client here is deliberately small and hand-made: it sends what real clients send
//! (certbot and lego are in crates/signet-cli/tests/acme_clients.rs) and also what they never
//! would — reused nonces, wrong URLs, foreign keys, bad signatures — to see each refused with
//! the right problem and nothing changed.

mod common;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64ct::{Base64UrlUnpadded, Encoding};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use signet_acme::server::{Acme, AcmeCa, AcmeLimits, AcmeParts, ProfileOffer};
use signet_acme::validate::{ValidationConfig, Validator};
use signet_api::Enroll;
use signet_core::Signer;
use signet_keys::SoftwareKey;
use signet_testkit::policies::{AlwaysIssue, AlwaysPending};
use signet_testkit::{Harness, TestCa};
use signet_x509::KeyAlgorithm;

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `pebble-challtestsrv` as the DNS server: every name is 127.0.0.1.
struct Dns {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dns() -> Option<Dns> {
    let present = Command::new("pebble-challtestsrv")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !common::oracle::available("pebble-challtestsrv", present, "apt-get install pebble") {
        return None;
    }
    let dns_port = free_port();
    let child = Command::new("pebble-challtestsrv")
        .args([
            "-management",
            &format!("127.0.0.1:{}", free_port()),
            "-dns01",
            &format!("127.0.0.1:{dns_port}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting pebble-challtestsrv");
    std::thread::sleep(Duration::from_millis(300));
    Some(Dns {
        child,
        addr: format!("127.0.0.1:{dns_port}").parse().expect("addr"),
    })
}

/// A running ACME server over a test CA.
struct Server {
    harness: Harness,
    directory: String,
    http01_port: u16,
    _dns: Dns,
}

fn start(pending: bool, eab: bool) -> Option<(tokio::runtime::Runtime, Server)> {
    let dns = start_dns()?;
    let harness = if pending {
        TestCa::new(AlwaysPending::needing(1)).start()
    } else {
        TestCa::new(AlwaysIssue).start()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let http01_port = free_port();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let validator = Validator::new(ValidationConfig {
        http01_port,
        tlsalpn01_port: free_port(),
        dns_resolvers: vec![dns.addr],
        allowed: vec!["127.0.0.0/8".parse().expect("range")],
        denied: Vec::new(),
        timeout: Duration::from_secs(5),
        ..ValidationConfig::default()
    })
    .expect("validator");
    let authority = Arc::clone(&harness.authority);
    let acme = rt
        .block_on(Acme::new(AcmeParts {
            public_url: format!("http://{addr}"),
            cas: vec![AcmeCa {
                ca: harness.ca.clone(),
                profiles: vec![
                    ProfileOffer {
                        name: "test".into(),
                        description: "what the test policy issues".into(),
                    },
                    ProfileOffer {
                        name: "other".into(),
                        description: "a second profile".into(),
                    },
                ],
                default_profile: "test".into(),
                eab_required: eab,
                caa_identities: Vec::new(),
                terms_of_service: None,
                validator: Arc::new(validator),
                authz_reuse: Duration::from_secs(3600),
                renew_share: 0.33,
                limits: AcmeLimits::default(),
            }],
            enroll: Arc::clone(&authority) as _,
            holder: Arc::clone(&authority) as _,
            authn: Arc::clone(&authority) as _,
            store: Arc::clone(&harness.store.store) as _,
            role_separation: true,
        }))
        .expect("ACME starts");
    let app = signet_acme::server::router(acme);
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let directory = format!("http://{addr}/acme/{}/directory", harness.ca);
    Some((
        rt,
        Server {
            harness,
            directory,
            http01_port,
            _dns: dns,
        },
    ))
}

/// Serves http-01 key authorizations on `port`: `token → key authorization`.
async fn serve_http01(port: u16, answers: Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use axum::extract::Path;
    let app = axum::Router::new().route(
        "/.well-known/acme-challenge/{token}",
        axum::routing::get(move |Path(token): Path<String>| {
            let answers = Arc::clone(&answers);
            async move {
                let found = answers
                    .lock()
                    .expect("lock")
                    .iter()
                    .find(|(t, _)| *t == token)
                    .map(|(_, k)| k.clone());
                match found {
                    Some(k) => (StatusCode::OK, k),
                    None => (StatusCode::NOT_FOUND, String::new()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the http-01 responder");
    let _ = axum::serve(listener, app).await;
}

struct Reply {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn problem(&self) -> String {
        self.json()["type"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("urn:ietf:params:acme:error:")
            .to_owned()
    }
    fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// An ACME client key: ES256 (aws-lc-rs) or EdDSA (a signet-keys Ed25519 key, to sign
/// `revokeCert` with a certificate's own key).
enum ClientKey {
    Es256(EcdsaKeyPair),
    Ed25519(SoftwareKey),
}

impl ClientKey {
    fn es256() -> ClientKey {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("key");
        ClientKey::Es256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .expect("key"),
        )
    }
    fn alg(&self) -> &'static str {
        match self {
            ClientKey::Es256(_) => "ES256",
            ClientKey::Ed25519(_) => "EdDSA",
        }
    }
    fn jwk(&self) -> Value {
        match self {
            ClientKey::Es256(k) => {
                let point = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            ClientKey::Ed25519(k) => {
                let spki = k.public_key_der();
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&spki[spki.len() - 32..])})
            }
        }
    }
    fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = match self {
            ClientKey::Es256(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
                jwk["x"], jwk["y"]
            ),
            ClientKey::Ed25519(_) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":{}}}"#, jwk["x"]),
        };
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            ClientKey::Es256(k) => k
                .sign(&SystemRandom::new(), input)
                .expect("sign")
                .as_ref()
                .to_vec(),
            ClientKey::Ed25519(k) => k.sign(input).expect("sign"),
        }
    }
}

struct Client0 {
    http: Client<HttpConnector, Full<Bytes>>,
    dir: Value,
    key: ClientKey,
    kid: Option<String>,
}

impl Client0 {
    async fn new(directory: &str) -> Client0 {
        let http = Client::builder(TokioExecutor::new()).build_http();
        let mut c = Client0 {
            http,
            dir: Value::Null,
            key: ClientKey::es256(),
            kid: None,
        };
        let reply = c.send(Method::GET, directory, None, Vec::new()).await;
        assert_eq!(reply.status, StatusCode::OK);
        c.dir = reply.json();
        c
    }

    fn url(&self, name: &str) -> String {
        self.dir[name]
            .as_str()
            .expect("directory member")
            .to_owned()
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(url);
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let response = self
            .http
            .request(builder.body(Full::new(Bytes::from(body))).expect("request"))
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn nonce(&self) -> String {
        let reply = self
            .send(Method::HEAD, &self.url("newNonce"), None, Vec::new())
            .await;
        reply.headers["replay-nonce"]
            .to_str()
            .expect("nonce")
            .to_owned()
    }

    /// A signed body: `jwk` when no account yet (or `force_jwk`), `kid` otherwise.
    fn jws(&self, url: &str, nonce: &str, payload: Option<&Value>, force_jwk: bool) -> Vec<u8> {
        let mut protected = json!({"alg": self.key.alg(), "nonce": nonce, "url": url});
        match (&self.kid, force_jwk) {
            (Some(kid), false) => protected["kid"] = json!(kid),
            _ => protected["jwk"] = self.key.jwk(),
        }
        let protected = b64(protected.to_string().as_bytes());
        let payload = payload
            .map(|p| b64(p.to_string().as_bytes()))
            .unwrap_or_default();
        let signature = self.key.sign(format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": b64(&signature)})
            .to_string()
            .into_bytes()
    }

    async fn post(&self, url: &str, payload: Option<&Value>) -> Reply {
        let nonce = self.nonce().await;
        let body = self.jws(url, &nonce, payload, false);
        self.send(Method::POST, url, Some("application/jose+json"), body)
            .await
    }

    async fn register(&mut self, extra: Value) -> Reply {
        let nonce = self.nonce().await;
        let mut payload =
            json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@example.test"]});
        if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let url = self.url("newAccount");
        let body = self.jws(&url, &nonce, Some(&payload), true);
        let reply = self
            .send(Method::POST, &url, Some("application/jose+json"), body)
            .await;
        if reply.status.is_success() {
            self.kid = Some(reply.location());
        }
        reply
    }

    async fn order(&self, names: &[&str], extra: Value) -> Reply {
        let identifiers: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        let mut payload = json!({"identifiers": identifiers});
        if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        self.post(&self.url("newOrder"), Some(&payload)).await
    }

    /// Answers every authorization of `order` with http-01 and waits until they are valid.
    async fn authorize(
        &self,
        order: &Value,
        answers: &Arc<std::sync::Mutex<Vec<(String, String)>>>,
    ) {
        for authz_url in order["authorizations"].as_array().expect("authorizations") {
            let authz_url = authz_url.as_str().expect("url");
            let authz = self.post(authz_url, None).await.json();
            let challenge = authz["challenges"]
                .as_array()
                .expect("challenges")
                .iter()
                .find(|c| c["type"] == "http-01")
                .expect("an http-01 challenge")
                .clone();
            let token = challenge["token"].as_str().expect("token").to_owned();
            answers
                .lock()
                .expect("lock")
                .push((token.clone(), format!("{token}.{}", self.key.thumbprint())));
            let started = self
                .post(challenge["url"].as_str().expect("url"), Some(&json!({})))
                .await;
            assert_eq!(
                started.status,
                StatusCode::OK,
                "{}",
                String::from_utf8_lossy(&started.body)
            );
            let mut status = String::new();
            for _ in 0..100 {
                let authz = self.post(authz_url, None).await.json();
                status = authz["status"].as_str().unwrap_or_default().to_owned();
                if status != "pending" {
                    assert_eq!(status, "valid", "authorization: {authz}");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(status, "valid");
        }
    }
}

/// A CSR for `names` (the first also as CN), signed by a fresh key (returned).
fn csr(names: &[&str], algorithm: KeyAlgorithm) -> (Vec<u8>, SoftwareKey) {
    let key = SoftwareKey::generate(algorithm).expect("key");
    let der = signet_testkit::csr::signed(&key, &format!("CN={}", names[0]), names);
    (der, key)
}

fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    pem.split("-----END CERTIFICATE-----")
        .filter(|b| b.contains("BEGIN CERTIFICATE"))
        .map(|b| {
            signet_x509::pem::decode(format!("{b}-----END CERTIFICATE-----\n").as_bytes())
                .expect("PEM")
                .1
        })
        .collect()
}

#[test]
fn an_order_is_validated_finalized_and_downloaded_and_bad_requests_change_nothing() {
    let Some((rt, server)) = start(false, false) else {
        return;
    };
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    rt.spawn(serve_http01(server.http01_port, Arc::clone(&answers)));
    rt.block_on(async {
        let mut client = Client0::new(&server.directory).await;
        assert_eq!(client.dir["meta"]["profiles"]["other"], "a second profile");
        // A CA that does not serve ACME here: 404 with a problem document.
        let other_ca = server.directory.replace("/acme/demo/", "/acme/nope/");
        let reply = client.send(Method::GET, &other_ca, None, Vec::new()).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.problem(), "malformed");
        assert!(client.dir["renewalInfo"].is_string());

        // Before an account exists: an unknown kid.
        client.kid = Some(format!("{}/acct/nobody", server.directory.trim_end_matches("/directory")));
        let reply = client.order(&["www.example.test"], json!({})).await;
        assert_eq!(reply.problem(), "accountDoesNotExist");
        client.kid = None;

        let created = client.register(json!({})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.body));
        // The same key again: the same account, 200.
        let again = client.register(json!({})).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.location(), created.location());

        // newOrder with jwk instead of kid.
        let nonce = client.nonce().await;
        let url = client.url("newOrder");
        let body = client.jws(&url, &nonce, Some(&json!({"identifiers": [{"type": "dns", "value": "a.example.test"}]})), true);
        let reply = client.send(Method::POST, &url, Some("application/jose+json"), body).await;
        assert_eq!(reply.problem(), "malformed");

        // A nonce used twice.
        let nonce = client.nonce().await;
        let payload = json!({"identifiers": [{"type": "dns", "value": "a.example.test"}]});
        let body = client.jws(&url, &nonce, Some(&payload), false);
        let first = client.send(Method::POST, &url, Some("application/jose+json"), body.clone()).await;
        assert_eq!(first.status, StatusCode::CREATED);
        let replay = client.send(Method::POST, &url, Some("application/jose+json"), body).await;
        assert_eq!(replay.problem(), "badNonce");
        assert!(replay.headers.contains_key("replay-nonce"), "badNonce carries a fresh nonce");
        // The replay created nothing: the account has the one order.
        let orders_url = created.json()["orders"].as_str().expect("orders url").to_owned();
        let listed = client.post(&orders_url, None).await;
        assert_eq!(listed.json()["orders"].as_array().map(Vec::len), Some(1), "{}", String::from_utf8_lossy(&listed.body));
        // A refused request spends its nonce too: it cannot be replayed once the state that
        // refused it changes.
        let nonce = client.nonce().await;
        let body = client.jws(&url, &nonce, Some(&json!({"identifiers": [{"type": "dns", "value": "b.example.test"}], "profile": "nope"})), false);
        let refused = client.send(Method::POST, &url, Some("application/jose+json"), body.clone()).await;
        assert_eq!(refused.problem(), "invalidProfile");
        let replay = client.send(Method::POST, &url, Some("application/jose+json"), body).await;
        assert_eq!(replay.problem(), "badNonce");

        // The url of another resource.
        let nonce = client.nonce().await;
        let body = client.jws(&client.url("revokeCert"), &nonce, Some(&payload), false);
        let reply = client.send(Method::POST, &url, Some("application/jose+json"), body).await;
        assert_eq!(reply.problem(), "unauthorized");

        // A signature that does not verify.
        let nonce = client.nonce().await;
        let mut tampered: Value = serde_json::from_slice(&client.jws(&url, &nonce, Some(&payload), false)).expect("json");
        tampered["payload"] = json!(b64(br#"{"identifiers":[{"type":"dns","value":"evil.example.test"}]}"#));
        let reply = client.send(Method::POST, &url, Some("application/jose+json"), tampered.to_string().into_bytes()).await;
        assert_eq!(reply.problem(), "malformed");

        // alg none.
        let nonce = client.nonce().await;
        let protected = b64(json!({"alg": "none", "nonce": nonce, "url": url, "kid": client.kid}).to_string().as_bytes());
        let body = json!({"protected": protected, "payload": b64(payload.to_string().as_bytes()), "signature": ""});
        let reply = client.send(Method::POST, &url, Some("application/jose+json"), body.to_string().into_bytes()).await;
        assert_eq!(reply.problem(), "badSignatureAlgorithm");
        assert!(reply.json()["algorithms"].as_array().is_some_and(|a| !a.is_empty()));

        // The wrong media type.
        let nonce = client.nonce().await;
        let body = client.jws(&url, &nonce, Some(&payload), false);
        let reply = client.send(Method::POST, &url, Some("application/json"), body).await;
        assert_eq!(reply.status.as_u16(), 415);

        // An unknown profile, an unsupported identifier type.
        assert_eq!(client.order(&["a.example.test"], json!({"profile": "nope"})).await.problem(), "invalidProfile");
        let reply = client.post(&url, Some(&json!({"identifiers": [{"type": "email", "value": "a@b.c"}]}))).await;
        assert_eq!(reply.problem(), "unsupportedIdentifier");

        // An authorization deactivated after the order became ready: finalize refuses, and
        // the order is invalid (nothing is issued on a withdrawn authorization).
        let reply = client.order(&["gone.example.test"], json!({})).await;
        let gone_url = reply.location();
        let gone = reply.json();
        client.authorize(&gone, &answers).await;
        assert_eq!(client.post(&gone_url, None).await.json()["status"], "ready");
        let authz_url = gone["authorizations"][0].as_str().expect("authz").to_owned();
        let reply = client.post(&authz_url, Some(&json!({"status": "deactivated"}))).await;
        assert_eq!(reply.json()["status"], "deactivated");
        let (gone_csr, _) = csr(&["gone.example.test"], KeyAlgorithm::P256);
        let reply = client
            .post(gone["finalize"].as_str().expect("finalize"), Some(&json!({"csr": b64(&gone_csr)})))
            .await;
        assert_eq!(reply.problem(), "orderNotReady");
        assert_eq!(client.post(&gone_url, None).await.json()["status"], "invalid");

        // The real order.
        let names = ["www.example.test", "api.example.test"];
        let reply = client.order(&names, json!({"profile": "test"})).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        let order_url = reply.location();
        let order = reply.json();
        assert_eq!(order["status"], "pending");
        assert_eq!(order["profile"], "test");

        // Finalize before the authorizations are valid.
        let (der, _) = csr(&names, KeyAlgorithm::P256);
        let finalize = order["finalize"].as_str().expect("finalize").to_owned();
        let reply = client.post(&finalize, Some(&json!({"csr": b64(&der)}))).await;
        assert_eq!(reply.problem(), "orderNotReady");

        client.authorize(&order, &answers).await;
        let order = client.post(&order_url, None).await.json();
        assert_eq!(order["status"], "ready");

        // A CSR naming something else: badCSR, and the order stays ready.
        let (other, _) = csr(&["www.example.test", "evil.example.test"], KeyAlgorithm::P256);
        let reply = client.post(&finalize, Some(&json!({"csr": b64(&other)}))).await;
        assert_eq!(reply.problem(), "badCSR");
        assert_eq!(client.post(&order_url, None).await.json()["status"], "ready");

        let reply = client.post(&finalize, Some(&json!({"csr": b64(&der)}))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        let order = reply.json();
        assert_eq!(order["status"], "valid");
        let cert = client.post(order["certificate"].as_str().expect("certificate"), None).await;
        assert_eq!(cert.headers["content-type"], "application/pem-certificate-chain");
        let chain = pem_certificates(&String::from_utf8_lossy(&cert.body));
        assert!(chain.len() >= 2, "leaf and CA");
        server.harness.verify_with_openssl(&chain[0]);

        // The request names the ACME account and order.
        let info = signet_x509::parse_certificate(&chain[0]).expect("parses");
        let serial = info.serial_hex.clone();

        // The account's order list has the three orders.
        let account = client.post(&client.kid.clone().expect("kid"), None).await.json();
        let list = client.post(account["orders"].as_str().expect("orders"), None).await.json();
        assert_eq!(list["orders"].as_array().map(Vec::len), Some(3));

        // A second order for the same names reuses the valid authorizations: ready at once.
        let reuse = client.order(&names, json!({})).await.json();
        assert_eq!(reuse["status"], "ready");

        // Renewal information, and `replaces` once only.
        let aki = info
            .extensions
            .iter()
            .find(|e| e.oid == "2.5.29.35")
            .map(|e| e.value[4..].to_vec())
            .expect("AKI");
        let certid = format!("{}.{}", b64(&aki), b64(&hex::decode(&serial).expect("hex")));
        let ari = client
            .send(Method::GET, &format!("{}/{certid}", client.url("renewalInfo")), None, Vec::new())
            .await;
        assert_eq!(ari.status, StatusCode::OK, "{}", String::from_utf8_lossy(&ari.body));
        assert!(ari.json()["suggestedWindow"]["start"].is_string());
        assert!(ari.headers.contains_key("retry-after"));
        let renewal = client.order(&names, json!({"replaces": certid})).await;
        assert_eq!(renewal.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&renewal.body));
        let twice = client.order(&names, json!({"replaces": certid})).await;
        assert_eq!(twice.problem(), "alreadyReplaced");

        // revokeCert signed by another account: unauthorized, and the certificate stays good.
        let mut stranger = Client0::new(&server.directory).await;
        assert_eq!(stranger.register(json!({})).await.status, StatusCode::CREATED);
        let revoke = json!({"certificate": b64(&chain[0])});
        let reply = stranger.post(&stranger.url("revokeCert"), Some(&revoke)).await;
        assert_eq!(reply.problem(), "unauthorized");
        // By the account that ordered it: revoked; a second time: alreadyRevoked.
        let reply = client.post(&client.url("revokeCert"), Some(&json!({"certificate": b64(&chain[0]), "reason": 4}))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        let reply = client.post(&client.url("revokeCert"), Some(&revoke)).await;
        assert_eq!(reply.problem(), "alreadyRevoked");
        // Renewal information of a revoked certificate says: now.
        let ari = client
            .send(Method::GET, &format!("{}/{certid}", client.url("renewalInfo")), None, Vec::new())
            .await
            .json();
        let start = signet_x509::time::parse_time(ari["suggestedWindow"]["start"].as_str().expect("start")).expect("time");
        assert!(start < std::time::SystemTime::now());

        // Deactivation: the account can do nothing afterwards.
        let kid = client.kid.clone().expect("kid");
        let reply = client.post(&kid, Some(&json!({"status": "deactivated"}))).await;
        assert_eq!(reply.json()["status"], "deactivated");
        let refused = client.order(&names, json!({})).await;
        assert_eq!(refused.problem(), "unauthorized");
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "RFC 8555 §7.3.6");
    });
}

#[test]
fn revoke_cert_signed_with_the_certificate_key_and_key_change() {
    let Some((rt, server)) = start(false, false) else {
        return;
    };
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    rt.spawn(serve_http01(server.http01_port, Arc::clone(&answers)));
    rt.block_on(async {
        let mut client = Client0::new(&server.directory).await;
        assert_eq!(client.register(json!({})).await.status, StatusCode::CREATED);
        let names = ["key.example.test"];
        let reply = client.order(&names, json!({})).await;
        let order_url = reply.location();
        let order = reply.json();
        client.authorize(&order, &answers).await;
        let (der, cert_key) = csr(&names, KeyAlgorithm::Ed25519);
        let order = client
            .post(order["finalize"].as_str().expect("finalize"), Some(&json!({"csr": b64(&der)})))
            .await
            .json();
        assert_eq!(order["status"], "valid", "{order}");
        let pem = client.post(order["certificate"].as_str().expect("cert"), None).await;
        let leaf = pem_certificates(&String::from_utf8_lossy(&pem.body)).remove(0);

        // Key change: the old key stops working, the new one works.
        let new_key = ClientKey::es256();
        let kid = client.kid.clone().expect("kid");
        let url = client.url("keyChange");
        let inner_protected = b64(json!({"alg": "ES256", "jwk": new_key.jwk(), "url": url}).to_string().as_bytes());
        let inner_payload = b64(json!({"account": kid, "oldKey": client.key.jwk()}).to_string().as_bytes());
        let inner_sig = new_key.sign(format!("{inner_protected}.{inner_payload}").as_bytes());
        let inner = json!({"protected": inner_protected, "payload": inner_payload, "signature": b64(&inner_sig)});
        let reply = client.post(&url, Some(&inner)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        assert_eq!(client.post(&order_url, None).await.status, StatusCode::BAD_REQUEST);
        client.key = new_key;
        assert_eq!(client.post(&order_url, None).await.json()["status"], "valid");

        // revokeCert with a jwk that is not the certificate's key: unauthorized.
        let mut other = Client0::new(&server.directory).await;
        other.kid = None;
        let nonce = other.nonce().await;
        let revoke_url = other.url("revokeCert");
        let payload = json!({"certificate": b64(&leaf)});
        let body = other.jws(&revoke_url, &nonce, Some(&payload), true);
        let reply = other.send(Method::POST, &revoke_url, Some("application/jose+json"), body).await;
        assert_eq!(reply.problem(), "unauthorized");
        // Signed with the certificate's own key (EdDSA, jwk): revoked.
        other.key = ClientKey::Ed25519(cert_key);
        let nonce = other.nonce().await;
        let body = other.jws(&revoke_url, &nonce, Some(&payload), true);
        let reply = other.send(Method::POST, &revoke_url, Some("application/jose+json"), body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        // An account whose key is that Ed25519 key: a CSR for the same key is refused
        // (RFC 8555 §11.1), and the order stays ready.
        assert_eq!(other.register(json!({})).await.status, StatusCode::CREATED);
        let reply = other.order(&["same.example.test"], json!({})).await;
        let same = reply.json();
        other.authorize(&same, &answers).await;
        let ClientKey::Ed25519(account_key) = &other.key else {
            unreachable!("the Ed25519 key")
        };
        let same_csr = signet_testkit::csr::signed(account_key, "CN=same.example.test", &["same.example.test"]);
        let reply = other
            .post(same["finalize"].as_str().expect("finalize"), Some(&json!({"csr": b64(&same_csr)})))
            .await;
        assert_eq!(reply.problem(), "badCSR");
        let serial = signet_x509::parse_certificate(&leaf).expect("parses").serial_hex;
        let status = server
            .harness
            .authority
            .retrieve(server.harness.ca.as_str(), order_request(&order_url, &server).await, None)
            .await;
        let _ = (serial, status);
    });
}

/// The engine's request id of an order (through the store).
async fn order_request(order_url: &str, server: &Server) -> signet_api::RequestId {
    use signet_api::acme::AcmeStore;
    let id = order_url.rsplit('/').next().expect("id");
    server
        .harness
        .store
        .store
        .order(&server.harness.ca, id)
        .await
        .expect("store")
        .and_then(|o| o.request)
        .expect("a request")
}

#[test]
fn a_pending_request_keeps_the_order_processing_until_a_manager_approves() {
    let Some((rt, server)) = start(true, false) else {
        return;
    };
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    rt.spawn(serve_http01(server.http01_port, Arc::clone(&answers)));
    rt.block_on(async {
        let mut client = Client0::new(&server.directory).await;
        assert_eq!(client.register(json!({})).await.status, StatusCode::CREATED);
        let names = ["held.example.test"];
        let reply = client.order(&names, json!({})).await;
        let order_url = reply.location();
        let order = reply.json();
        client.authorize(&order, &answers).await;
        let (der, _) = csr(&names, KeyAlgorithm::P256);
        let reply = client
            .post(
                order["finalize"].as_str().expect("finalize"),
                Some(&json!({"csr": b64(&der)})),
            )
            .await;
        assert_eq!(reply.json()["status"], "processing");
        assert!(reply.headers.contains_key("retry-after"));
        assert_eq!(
            client.post(&order_url, None).await.json()["status"],
            "processing"
        );

        // The request shows it came over ACME.
        let request = order_request(&order_url, &server).await;
        let manager = signet_testkit::identity::manager("officer");
        let details = server
            .harness
            .authority
            .request_details(Some(&manager), server.harness.ca.as_str(), request)
            .await
            .expect("details");
        let attributes: Vec<&str> = details
            .record
            .attributes
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert!(
            attributes.contains(&"acme-account") && attributes.contains(&"acme-order"),
            "{attributes:?}"
        );

        server
            .harness
            .authority
            .approve(Some(&manager), server.harness.ca.as_str(), request)
            .await
            .expect("approve");
        let order = client.post(&order_url, None).await.json();
        assert_eq!(order["status"], "valid", "{order}");
        let pem = client
            .post(order["certificate"].as_str().expect("cert"), None)
            .await;
        let leaf = pem_certificates(&String::from_utf8_lossy(&pem.body)).remove(0);
        server.harness.verify_with_openssl(&leaf);

        // An order left `processing` without a CA request (its finalization stopped between
        // the claim and the CA's answer: a crash) does not hang its client: once the claim is
        // CLAIM_TIMEOUT old, reading it answers `invalid` with the reason, and it cannot be
        // finalized.
        use signet_api::acme::{AcmeStore, OrderStatus};
        let store = &server.harness.store.store;
        let mut stuck = store
            .order(
                &server.harness.ca,
                order_url.rsplit('/').next().expect("id"),
            )
            .await
            .expect("store")
            .expect("order");
        let now = std::time::SystemTime::now();
        stuck.id = "stuck-order".into();
        stuck.status = OrderStatus::Processing;
        stuck.request = None;
        stuck.serial = None;
        stuck.created_at =
            now - signet_api::acme::CLAIM_TIMEOUT - std::time::Duration::from_secs(5);
        stuck.expires = now + std::time::Duration::from_secs(3600);
        store.create_order(stuck, Vec::new()).await.expect("create");
        let stuck_url = order_url.replace(order_url.rsplit('/').next().expect("id"), "stuck-order");
        let read = client.post(&stuck_url, None).await.json();
        assert_eq!(read["status"], "invalid", "{read}");
        assert!(
            read["error"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("interrupted")),
            "{read}"
        );
        let (der, _) = csr(&names, KeyAlgorithm::P256);
        let again = client
            .post(
                &format!("{stuck_url}/finalize"),
                Some(&json!({"csr": b64(&der)})),
            )
            .await;
        assert_eq!(again.problem(), "orderNotReady");

        // A challenge whose validation was lost (claimed VALIDATION_TIMEOUT ago by a node that
        // stopped) reads `pending` again, and answering it validates it.
        use signet_api::acme::{AuthzStatus, AuthzUpdate, ChallengeStatus, ChallengeType};
        let lost_order = client.order(&["lost.example.test"], json!({})).await.json();
        let authz_id = lost_order["authorizations"][0]
            .as_str()
            .expect("authz")
            .rsplit('/')
            .next()
            .expect("id")
            .to_owned();
        let authz = store
            .authz(&server.harness.ca, &authz_id)
            .await
            .expect("store")
            .expect("authz");
        let mut lost = authz.challenges.clone();
        let http = lost
            .iter()
            .position(|c| c.kind == ChallengeType::Http01)
            .expect("http-01");
        lost[http].status = ChallengeStatus::Processing;
        lost[http].since =
            Some(now - signet_api::acme::VALIDATION_TIMEOUT - std::time::Duration::from_secs(5));
        let claimed = store
            .update_authz(AuthzUpdate {
                ca: server.harness.ca.clone(),
                id: authz_id.clone(),
                expect: AuthzStatus::Pending,
                status: AuthzStatus::Pending,
                expires: authz.expires,
                challenges: lost,
            })
            .await
            .expect("store");
        assert!(claimed);
        client.authorize(&lost_order, &answers).await;
        let authz = store
            .authz(&server.harness.ca, &authz_id)
            .await
            .expect("store")
            .expect("authz");
        assert_eq!(authz.status, AuthzStatus::Valid, "{authz:?}");
    });
}

#[test]
fn external_account_binding_is_required_checked_and_binds_once() {
    use signet_api::acme::{AcmeAudit, AcmeStore, EabKey};
    let Some((rt, server)) = start(false, true) else {
        return;
    };
    rt.block_on(async {
        let mut client = Client0::new(&server.directory).await;
        assert_eq!(client.dir["meta"]["externalAccountRequired"], true);
        assert_eq!(
            client.register(json!({})).await.problem(),
            "externalAccountRequired"
        );

        let hmac = [7u8; 32];
        server
            .harness
            .store
            .store
            .create_eab(
                EabKey {
                    kid: "kid-1".into(),
                    ca: Some(server.harness.ca.clone()),
                    name: "web-team".into(),
                    hmac: hmac.to_vec(),
                    created_at: std::time::SystemTime::now(),
                    created_by: "admin".into(),
                    revoked_at: None,
                    account: None,
                },
                AcmeAudit {
                    at: std::time::SystemTime::now(),
                    actor: "admin".into(),
                    action: "acme-eab-create".into(),
                    ca: Some(server.harness.ca.clone()),
                    target: "acme-eab/kid-1".into(),
                    details: "{}".into(),
                },
            )
            .await
            .expect("EAB key");
        let binding = |client: &Client0, key: &[u8]| {
            let url = client.url("newAccount");
            let protected = b64(json!({"alg": "HS256", "kid": "kid-1", "url": url})
                .to_string()
                .as_bytes());
            let payload = b64(client.key.jwk().to_string().as_bytes());
            let mac = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key),
                format!("{protected}.{payload}").as_bytes(),
            );
            json!({"protected": protected, "payload": payload, "signature": b64(mac.as_ref())})
        };
        // A wrong HMAC key.
        let wrong = binding(&client, &[8u8; 32]);
        assert_eq!(
            client
                .register(json!({"externalAccountBinding": wrong}))
                .await
                .problem(),
            "unauthorized"
        );
        let good = binding(&client, &hmac);
        let reply = client
            .register(json!({"externalAccountBinding": good}))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        // A second account cannot bind the same key.
        let mut second = Client0::new(&server.directory).await;
        let again = binding(&second, &hmac);
        assert_eq!(
            second
                .register(json!({"externalAccountBinding": again}))
                .await
                .problem(),
            "unauthorized"
        );
        // The account enrolls as the key's name.
        let account = server
            .harness
            .store
            .store
            .account_by_thumbprint(&server.harness.ca, &client.key.thumbprint())
            .await
            .expect("store")
            .expect("account");
        assert_eq!(account.requester, "web-team");
        assert_eq!(account.eab_kid.as_deref(), Some("kid-1"));

        // Revoking the key revokes the account it bound: after the node's account cache
        // (2 s) the account can do nothing.
        let revoked = server
            .harness
            .store
            .store
            .revoke_eab(
                "kid-1",
                std::time::SystemTime::now(),
                AcmeAudit {
                    at: std::time::SystemTime::now(),
                    actor: "admin".into(),
                    action: "acme-eab-revoke".into(),
                    ca: Some(server.harness.ca.clone()),
                    target: "acme-eab/kid-1".into(),
                    details: "{}".into(),
                },
            )
            .await
            .expect("revoke");
        assert!(revoked);
        tokio::time::sleep(signet_acme::server::ACCOUNT_CACHE_TTL + Duration::from_millis(200))
            .await;
        let refused = client.order(&["web.example.test"], json!({})).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            String::from_utf8_lossy(&refused.body)
        );
    });
}
