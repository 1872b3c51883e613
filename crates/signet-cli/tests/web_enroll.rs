//! The enrollment pages in a real browser (Chromium driven by playwright-core,
//! `tests/web/enroll.mjs`): the script signs in, submits CSRs, generates keys in the browser
//! and downloads what the pages offer; this test then checks every file with openssl and
//! pkilint, and the server's records through the REST API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::json;

const PASSPHRASE: &str = "correct horse battery";

/// `openssl ARGS`, which must succeed; its stdout.
fn openssl(args: &[&str]) -> String {
    let run = run_program("openssl", args);
    run.expect_code(0);
    run.stdout
}

fn public_key_of_cert(cert: &Path) -> String {
    openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"])
}

/// The certificate of request `id`, fetched with the requester's token, as a PEM file.
fn certificate_of(server: &Server, token: &str, id: i64, stem: &str) -> std::path::PathBuf {
    let resp = server.call(
        Some(token),
        "GET",
        &format!("/api/v1/cas/{}/requests/{id}", server.ca),
        None,
    );
    assert_eq!(resp.status, 200, "{resp}");
    let v = resp.json();
    assert_eq!(v["status"], "issued", "{v:#}");
    write_pem(&server.work, stem, v["certificate"].as_str().unwrap())
}

#[test]
fn a_requester_enrolls_through_the_web_pages() {
    let mut server = Server::init(&["--dev"]);
    server.serve();
    let requester = server.create_token(&["requester"], "rita");
    let manager = server.create_token(&["manager"], "mona");
    let auditor = server.create_token(&["auditor"], "audrey");
    let ca = server.ca_cert_path();

    let csr = openssl_csr(
        &server.work,
        "p256",
        "/CN=pasted.test",
        &["DNS:pasted.test"],
    );
    let csr_pem = fs::read_to_string(&csr).unwrap();
    let upload = openssl_csr(&server.work, "p256", "/CN=uploaded/O=Signet", &[]);
    let upload_der = server.work.join("uploaded.der");
    openssl(&[
        "req",
        "-in",
        upload.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        upload_der.to_str().unwrap(),
    ]);

    let Some((result, out)) = browser(
        "enroll.mjs",
        &server,
        json!({
            "ca": server.ca,
            "requester": requester,
            "csr_pem": csr_pem,
            "csr_der_file": upload_der.display().to_string(),
            "passphrase": PASSPHRASE,
        }),
    ) else {
        return;
    };
    let id = |k: &str| {
        result[k]
            .as_i64()
            .unwrap_or_else(|| panic!("{k} in {result:#}"))
    };

    // The pasted CSR's certificate, downloaded as PEM, DER, chain and PKCS#7: one
    // certificate, which verifies against the CA.
    let pem = out.join("pasted.pem");
    openssl_verify(&ca, &pem);
    assert!(cert_text(&pem).contains("DNS:pasted.test"));
    let der_as_pem = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        out.join("pasted.der").to_str().unwrap(),
    ]);
    assert_eq!(
        der_as_pem,
        fs::read_to_string(&pem).unwrap(),
        "DER and PEM hold one certificate"
    );
    let chain = fs::read_to_string(out.join("pasted-chain.pem")).unwrap();
    assert_eq!(
        chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf and CA: {chain}"
    );
    assert!(
        chain.starts_with(&fs::read_to_string(&pem).unwrap()),
        "the leaf comes first"
    );
    let p7 = openssl(&[
        "pkcs7",
        "-inform",
        "DER",
        "-in",
        out.join("pasted.p7b").to_str().unwrap(),
        "-print_certs",
    ]);
    assert!(p7.contains("subject=CN = pasted.test"), "{p7}");
    assert_eq!(p7.matches("subject=").count(), 2, "leaf and CA: {p7}");

    // The uploaded DER request waits for a manager, with its attribute recorded.
    let details = server.call(
        Some(&manager),
        "GET",
        &format!(
            "/api/v1/cas/{}/requests/{}/details",
            server.ca,
            id("pending")
        ),
        None,
    );
    assert_eq!(details.status, 200, "{details}");
    let d = details.json();
    assert_eq!(d["status"], "pending", "{d:#}");
    assert_eq!(d["requester"], "rita", "{d:#}");
    assert!(
        d.to_string().contains("CHG-4711"),
        "the attribute is recorded: {d:#}"
    );

    // The key made in the browser: the encrypted PKCS#8 file opens with the passphrase and
    // holds the certificate's key; the PKCS#12 holds the key, the certificate and the chain.
    let generated = certificate_of(&server, &requester, id("generated"), "generated");
    openssl_verify(&ca, &generated);
    let text = cert_text(&generated);
    assert!(
        text.contains("DNS:browser.test") && text.contains("DNS:www.browser.test"),
        "{text}"
    );
    pkilint(&generated); // asserts no error-level finding
    let pass = format!("pass:{PASSPHRASE}");
    let key = out.join("browser.key.pem");
    assert!(
        fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    let from_key = openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        &pass,
        "-pubout",
    ]);
    assert_eq!(
        from_key,
        public_key_of_cert(&generated),
        "the downloaded key is the certificate's"
    );
    let wrong = run_program(
        "openssl",
        &[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-passin",
            "pass:wrong passphrase",
            "-pubout",
        ],
    );
    assert_ne!(wrong.code, 0, "a wrong passphrase does not open the key");
    let p12 = out.join("browser.p12");
    let bundle = openssl(&[
        "pkcs12",
        "-in",
        p12.to_str().unwrap(),
        "-passin",
        &pass,
        "-nodes",
    ]);
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2, "{bundle}");
    let p12_key = write_pem(&server.work, "p12-key", &bundle);
    let from_p12 = openssl(&["pkey", "-in", p12_key.to_str().unwrap(), "-pubout"]);
    assert_eq!(from_p12, from_key, "the PKCS#12 holds the same key");

    // The non-extractable RSA key's certificate.
    let kept = certificate_of(&server, &requester, id("kept"), "kept");
    openssl_verify(&ca, &kept);
    assert!(cert_text(&kept).contains("rsaEncryption"));

    // Signing in and out are audited under the requester's name.
    let audit = server.call(Some(&auditor), "GET", "/api/v1/audit", None);
    let log = audit.text();
    for action in ["web-sign-in", "web-sign-out"] {
        assert!(
            log.contains(action) && log.contains("rita"),
            "{action} in the audit log: {log}"
        );
    }
    // The session secret never reaches the log.
    assert!(
        !server.log().contains("__Host-signet-session="),
        "{}",
        server.log_tail()
    );
}

#[test]
fn a_client_certificate_signs_in_until_it_is_revoked() {
    let mut server = Server::start(&[]);
    let manager = server.create_token(&["manager"], "mona");

    // The HTTPS listener's certificate and carol's client certificate, both from Signet.
    let (tls_pem, tls_key) = server.tls_server_certificate("/CN=localhost", &["DNS:localhost"]);
    let (carol, carol_pem, carol_key) =
        server.approved_client_certificate(&manager, "/CN=carol", "carol");
    let port = server.serve_tls(
        &tls_pem,
        &tls_key,
        "[[identity]]\nname = \"carol\"\nsubject = \"CN=carol\"\nroles = [\"requester\"]\n",
    );

    if browser(
        "signin-cert.mjs",
        &server,
        json!({
            "ca": server.ca,
            "https_url": format!("https://localhost:{port}"),
            "cert": carol_pem.display().to_string(),
            "key": carol_key.display().to_string(),
            "serial": carol["serial"],
            "manager": manager,
        }),
    )
    .is_none()
    {
        return;
    }
    let auditor = server.create_token(&["auditor"], "audrey");
    let log = server
        .call(Some(&auditor), "GET", "/api/v1/audit", None)
        .text();
    assert!(
        log.contains("web-sign-in") && log.contains("certificate:"),
        "{log}"
    );
}

/// A form posted over plain HTTP (no browser), with the session `cookie` if any.
fn post_form(server: &Server, cookie: Option<&str>, path: &str, body: &str) -> Response {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend(cookie.map(|c| ("Cookie", c)));
    http(server.addr(), "POST", path, &headers, body.as_bytes())
}

/// A page fetched over plain HTTP, with the session `cookie` if any.
fn get_page(server: &Server, cookie: Option<&str>, path: &str) -> Response {
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
    http(server.addr(), "GET", path, &headers, b"")
}

/// A form field's value, percent-encoded.
fn enc(s: &str) -> String {
    signet_server::web::url_encode(s)
}

/// Signs in over plain HTTP (no browser); returns the `Cookie` header and the CSRF token.
fn session(server: &Server, token: &str) -> (String, String) {
    let resp = post_form(
        server,
        None,
        "/signin",
        &format!("method=token&next=%2F&token={token}"),
    );
    assert_eq!(resp.status, 303, "{resp}");
    let set = resp
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let page = get_page(server, Some(&cookie), "/enroll");
    assert_eq!(page.status, 200, "{page}");
    let html = page.text();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSRF field")
        .to_string();
    (cookie, csrf)
}

#[test]
fn the_pages_refuse_bad_input_and_escape_what_they_show() {
    let server = Server::start(&[]);
    let requester = server.create_token(&["requester"], "rita");
    let (cookie, csrf) = session(&server, &requester);
    let signed_in = Some(cookie.as_str());
    let ca = server.ca.clone();

    // Over plain HTTP to another machine the browser would drop the Secure cookie: the
    // sign-in page says so; on loopback it does not.
    let remote = http(
        server.addr(),
        "GET",
        "/signin",
        &[("Host", "ca.example.com:8080")],
        b"",
    );
    assert!(remote.text().contains("plain HTTP"), "{remote}");
    let local = get_page(&server, None, "/signin");
    assert!(!local.text().contains("plain HTTP"), "{local}");

    // The sign-in page sends the browser back only to a local path.
    for next in [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
    ] {
        let body = format!("method=token&token={requester}&next={}", enc(next));
        let resp = post_form(&server, None, "/signin", &body);
        assert_eq!(resp.status, 303, "{resp}");
        assert_eq!(resp.header("location"), Some("/"), "next={next}: {resp}");
    }

    // Garbage in the CSR field: a 400 page that says why, and nothing stored.
    let bad = post_form(
        &server,
        signed_in,
        "/enroll",
        &format!(
            "csrf={csrf}&ca={ca}&profile=server&csr=-----BEGIN+CERTIFICATE+REQUEST-----%0AMIIB%0A"
        ),
    );
    assert_eq!(bad.status, 400, "{bad}");
    assert!(bad.content_type.starts_with("text/html"), "{bad}");
    // An unknown CA and an unknown profile.
    let csr = openssl_csr(&server.work, "p256", "/CN=x.test", &["DNS:x.test"]);
    let pem = fs::read_to_string(&csr).unwrap();
    let unknown_ca = post_form(
        &server,
        signed_in,
        "/enroll",
        &format!("csrf={csrf}&ca=nope&profile=server&csr={}", enc(&pem)),
    );
    assert_eq!(unknown_ca.status, 404, "{unknown_ca}");
    let unknown_profile = post_form(
        &server,
        signed_in,
        "/enroll",
        &format!("csrf={csrf}&ca={ca}&profile=nope&csr={}", enc(&pem)),
    );
    assert_eq!(unknown_profile.status, 400, "{unknown_profile}");
    // A body over the limit, a form that is not a form, and an unknown request.
    let huge = vec![b'a'; 200 * 1024];
    let big = post_form(
        &server,
        signed_in,
        "/enroll",
        &String::from_utf8(huge).unwrap(),
    );
    assert!(matches!(big.status, 400 | 413), "{big}");
    let not_found = get_page(&server, Some(&cookie), &format!("/requests/{ca}/999999"));
    assert_eq!(not_found.status, 404, "{not_found}");
    let not_a_number = get_page(&server, Some(&cookie), &format!("/requests/{ca}/abc"));
    assert_eq!(not_a_number.status, 404, "{not_a_number}");
    // A malformed query string gets the HTML error page too.
    let auditor = server.create_token(&["auditor"], "aud");
    let (audit_cookie, _) = session(&server, &auditor);
    let bad_query = get_page(&server, Some(&audit_cookie), "/admin/audit?before=abc");
    assert_eq!(bad_query.status, 400, "{bad_query}");
    assert!(
        bad_query.content_type.starts_with("text/html"),
        "{bad_query}"
    );
    // Without a session, a POST is refused, not redirected.
    let anon = post_form(
        &server,
        None,
        "/enroll",
        &format!("csrf={csrf}&ca={ca}&csr=x"),
    );
    assert_eq!(anon.status, 401, "{anon}");
    let views = server.call(
        Some(&auditor),
        "GET",
        &format!("/api/v1/cas/{ca}/requests"),
        None,
    );
    assert_eq!(
        views.json()["items"].as_array().map(Vec::len),
        Some(3),
        "only the OCSP responder's, the SCEP RA's and the CMP responder's requests are stored: {views}"
    );

    // What a requester typed is shown escaped: markup in an attribute comes back as text.
    let manual = openssl_csr(&server.work, "p256", "/CN=<b>bold<i>", &[]);
    let pem = fs::read_to_string(&manual).unwrap();
    let resp = post_form(
        &server,
        signed_in,
        "/enroll",
        &format!("csrf={csrf}&ca={ca}&profile=manual&csr={}", enc(&pem)),
    );
    assert_eq!(resp.status, 303, "{resp}");
    let mine = get_page(&server, Some(&cookie), "/requests");
    let html = mine.text();
    assert!(
        !html.contains("<b>") && !html.contains("<i>") && html.contains("&#60;b"),
        "{html}"
    );
    // Revoking the token a session was opened with signs its browsers out at once.
    let admin = server.admin_token();
    let tokens = server
        .call(Some(&admin), "GET", "/api/v1/tokens", None)
        .json();
    let rita = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "rita")
        .expect("rita's token")["id"]
        .clone();
    let revoked = server.call(
        Some(&admin),
        "DELETE",
        &format!("/api/v1/tokens/{rita}"),
        None,
    );
    assert_eq!(revoked.status, 204, "{revoked}");
    let after = get_page(&server, signed_in, "/enroll");
    assert_eq!(after.status, 303, "{after}");
    assert!(
        after.header("location").unwrap().starts_with("/signin"),
        "{after}"
    );

    for (k, v) in [
        ("content-security-policy", "script-src 'self'"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert!(
            mine.header(k).is_some_and(|h| h.contains(v)),
            "{k}: {:?}",
            mine.header(k)
        );
    }
}

#[test]
fn a_ca_named_like_a_console_page_is_refused_while_the_pages_are_on() {
    let mut server = Server::init(&["--dev", "--ca", "audit"]);
    let failure = server
        .try_serve()
        .expect_err("a CA named audit must not start");
    assert!(
        failure.stderr.contains("/admin/audit") && failure.stderr.contains("enabled = false"),
        "{}",
        failure.stderr
    );
    let toml = server.data.join("signet.toml");
    let text = fs::read_to_string(&toml).unwrap();
    assert!(
        text.contains("[server.web]\nenabled = true"),
        "the template has [server.web]"
    );
    fs::write(
        &toml,
        text.replace(
            "[server.web]\nenabled = true",
            "[server.web]\nenabled = false",
        ),
    )
    .unwrap();
    server.serve();
    let page = get_page(&server, None, "/");
    assert_eq!(page.status, 404, "no pages when they are off: {page}");
}

#[test]
fn session_limits_out_of_range_stop_the_start() {
    for (key, bad, says) in [
        (
            "idle_minutes = 30",
            "idle_minutes = 0",
            "idle_minutes must be 1 to 1440",
        ),
        (
            "session_hours = 8",
            "session_hours = 1000",
            "session_hours must be 1 to 720",
        ),
    ] {
        let mut server = Server::init(&["--dev"]);
        let toml = server.data.join("signet.toml");
        let text = fs::read_to_string(&toml).unwrap();
        assert!(text.contains(key), "the template sets {key}");
        fs::write(&toml, text.replacen(key, bad, 1)).unwrap();
        let failure = server
            .try_serve()
            .expect_err("an out-of-range limit must not start");
        assert!(failure.stderr.contains(says), "{}", failure.stderr);
    }
}
