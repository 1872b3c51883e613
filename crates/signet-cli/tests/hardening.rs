//! What an attacker would try against the listeners, the logs and the public endpoints
//! (issue 14): slow and idle connections, connection floods from one address, forged and
//! flooding log lines through the sign-in form, the unauthenticated `/metrics`, a request
//! id oracle, and an `Authorization` scheme in capitals.
//!
//! Timeouts are set to one second through `[server.limits]` so these run fast; the
//! assertions wait for an effect with a generous deadline, never for a speed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// How long a test waits for the server to close a connection whose timeout is one second.
const CLOSE_DEADLINE: Duration = Duration::from_secs(10);

/// A development server with `[server.limits]` set to `limits` (TOML lines).
fn server_with_limits(limits: &str) -> Server {
    let mut server = Server::init(&["--dev"]);
    server.append_config(&format!("[server.limits]\n{limits}"));
    server.serve();
    server
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.addr()).expect("connecting to the server")
}

// ---- listener timeouts ------------------------------------------------------------------

#[test]
fn a_half_sent_request_head_and_a_silent_socket_are_closed() {
    let server = server_with_limits("header_timeout = \"1s\"\nkeepalive_timeout = \"30s\"");
    // Slowloris: a request head that never ends.
    let mut slow = connect(&server);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: signet\r\nX-Slow: a")
        .expect("writing half a head");
    // A socket that never says anything.
    let mut silent = connect(&server);
    assert!(
        closed_within(&mut slow, CLOSE_DEADLINE),
        "a half-sent request head is still open after {CLOSE_DEADLINE:?}"
    );
    assert!(
        closed_within(&mut silent, CLOSE_DEADLINE),
        "a silent connection is still open after {CLOSE_DEADLINE:?}"
    );
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = server_with_limits("keepalive_timeout = \"1s\"\nheader_timeout = \"30s\"");
    let mut conn = connect(&server);
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: signet\r\n\r\n")
        .expect("writing a request");
    conn.set_read_timeout(Some(CLOSE_DEADLINE))
        .expect("set_read_timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"ok\n") {
        let n = conn.read(&mut buf).expect("reading the response");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    // The connection is kept alive for another request, but not for ever.
    assert!(
        closed_within(&mut conn, CLOSE_DEADLINE),
        "an idle keep-alive connection is still open after {CLOSE_DEADLINE:?}"
    );
}

#[test]
fn a_stalled_request_body_is_closed() {
    let server = server_with_limits("idle_timeout = \"1s\"\nheader_timeout = \"30s\"");
    let mut conn = connect(&server);
    let head = format!(
        "POST /api/v1/cas/{}/requests HTTP/1.1\r\nHost: signet\r\nContent-Type: application/json\r\n\
         Content-Length: 4000\r\n\r\n{{\"csr\": \"",
        server.ca
    );
    conn.write_all(head.as_bytes()).expect("writing the head");
    assert!(
        closed_within(&mut conn, CLOSE_DEADLINE),
        "a request whose body stopped arriving is still open after {CLOSE_DEADLINE:?}"
    );
}

#[test]
fn the_https_listener_has_the_same_timeouts() {
    let mut server = server_with_limits("header_timeout = \"1s\"");
    let (pem, key) =
        server.tls_server_certificate("/CN=localhost", &["DNS:localhost", "IP:127.0.0.1"]);
    let port = server.serve_tls(&pem, &key, "");
    // A socket that never starts its handshake.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    assert!(
        closed_within(&mut silent, CLOSE_DEADLINE),
        "a silent HTTPS connection is still open after {CLOSE_DEADLINE:?}"
    );
    // openssl s_client speaks to the listener (and exits when the server closes).
    let s_client = || {
        std::process::Command::new("openssl")
            .args([
                "s_client",
                "-quiet",
                "-connect",
                &format!("127.0.0.1:{port}"),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("running openssl s_client")
    };
    let mut whole = s_client();
    let mut stdin = whole.stdin.take().expect("stdin");
    stdin
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("writing a request");
    let mut answer = String::new();
    let _ = whole
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut answer);
    let _ = whole.wait();
    drop(stdin);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    // A handshake, then half a request head.
    let mut client = s_client();
    let mut stdin = client.stdin.take().expect("stdin");
    stdin
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: a")
        .expect("writing half a head");
    let closed = wait_until(
        CLOSE_DEADLINE,
        "the server to close a slow HTTPS head",
        || client.try_wait().ok().flatten(),
    );
    drop(stdin);
    assert!(
        closed.code().is_some(),
        "s_client ended by a signal: {closed}"
    );
}

#[test]
fn limits_out_of_range_stop_the_start() {
    for (limits, says) in [
        (
            "max_connections = 10\nreserved_connections = 10",
            "reserved_connections (10) must be smaller than max_connections (10)",
        ),
        ("max_connections_per_address = 0", "must be at least 1"),
        ("idle_timeout = \"0s\"", "longer than zero"),
        ("header_timeout = \"soon\"", "header_timeout"),
    ] {
        let mut server = Server::init(&["--dev"]);
        server.append_config(&format!("[server.limits]\n{limits}"));
        let failure = server
            .try_serve()
            .expect_err("signet serve starts with limits out of range");
        assert!(
            failure.stderr.contains(says),
            "{limits}: expected {says:?} in\n{}",
            failure.stderr
        );
    }
}

// ---- connection caps --------------------------------------------------------------------

#[test]
fn one_address_cannot_take_every_connection() {
    let server = server_with_limits("max_connections_per_address = 4\nheader_timeout = \"60s\"");
    let _held: Vec<TcpStream> = (0..4).map(|_| connect(&server)).collect();
    let mut excess = connect(&server);
    assert!(
        closed_within(&mut excess, CLOSE_DEADLINE),
        "a fifth connection from one address is still open"
    );
    // Another machine is still served: health, CRL and the CA certificate.
    for path in [
        "/healthz".to_string(),
        format!("/crl/{}.crl", server.ca),
        format!("/ca/{}.crt", server.ca),
    ] {
        let resp = get_from("127.0.0.2", server.addr(), &path)
            .unwrap_or_else(|| panic!("GET {path} from 127.0.0.2: no answer"));
        assert_eq!(resp.status, 200, "{resp}");
    }
    // The operator sees it.
    let metrics = get_from("127.0.0.2", server.addr(), "/metrics").expect("an answer");
    let value = |name: &str| {
        metrics
            .text()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    assert!(
        value("signet_connections_refused_total ").is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        value("signet_connections_open ").is_some_and(|n| n >= 4.0),
        "{metrics}"
    );
}

#[test]
fn revocation_keeps_answering_when_connections_run_out() {
    let server = server_with_limits(
        "max_connections = 8\nreserved_connections = 3\nmax_connections_per_address = 100\n\
         header_timeout = \"60s\"",
    );
    let mut held: Vec<TcpStream> = (0..8).map(|_| connect(&server)).collect();
    // Every slot is taken: a ninth connection, from anywhere, is closed unanswered.
    let refused = get_from("127.0.0.2", server.addr(), "/healthz");
    assert!(
        refused.is_none(),
        "a connection past max_connections was answered: {}",
        refused.map(|r| r.to_string()).unwrap_or_default()
    );
    // Three slots free up: they are the reserve, for revocation and health only.
    held.truncate(5);
    let crl = format!("/crl/{}.crl", server.ca);
    let resp = wait_until(CLOSE_DEADLINE, "a reserved slot for the CRL", || {
        get_from("127.0.0.2", server.addr(), &crl).filter(|r| r.status == 200)
    });
    assert_eq!(resp.content_type, "application/pkix-crl", "{resp}");
    let health = get_from("127.0.0.2", server.addr(), "/healthz").expect("an answer");
    assert_eq!(health.status, 200, "{health}");
    let api = get_from("127.0.0.2", server.addr(), "/api/v1/cas").expect("an answer");
    assert_eq!(
        api.status, 503,
        "the API is not served from the reserve: {api}"
    );
    assert!(api.header("retry-after").is_some(), "{api}");
}

// ---- logging ----------------------------------------------------------------------------

fn post_signin(addr: &str, body: &str) -> Response {
    http(
        addr,
        "POST",
        "/signin",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

#[test]
fn a_sign_in_cannot_forge_a_log_line() {
    let server = Server::start(&[]);
    let forged = "2026-01-01T00:00:00.000000Z  INFO signet_core::admin: API token created token=9 name=mallory roles=admin by=admin";
    for method in [
        format!("token\n{forged}"),
        format!("certificate\r\n{forged}"),
    ] {
        let body = format!(
            "method={}&token=nope&next=%2F",
            signet_server::web::url_encode(&method)
        );
        let resp = post_signin(server.addr(), &body);
        assert!(
            resp.status == 400 || resp.status == 401,
            "a sign-in with a forged method is refused: {resp}"
        );
    }
    // A refused token sign-in is still logged, on one line.
    let resp = post_signin(server.addr(), "method=token&token=nope&next=%2F");
    assert_eq!(resp.status, 401, "{resp}");
    let log = server.log();
    assert!(
        !log.lines().any(|l| l.starts_with("2026-01-01T00:00:00")),
        "the sign-in form forged a log line:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("web sign-in refused")),
        "refused sign-ins are logged:\n{log}"
    );
}

#[test]
fn a_sign_in_flood_is_answered_429_and_the_log_stays_small() {
    let server = Server::start(&[]);
    let before = server.log().len();
    // Long values, as an attacker filling the disk would send.
    let junk = "A".repeat(30_000);
    let mut statuses = Vec::new();
    for i in 0..60 {
        let body = if i % 2 == 0 {
            format!("method=token&token={junk}&next=%2F")
        } else {
            format!("method={junk}&token=x&next=%2F")
        };
        statuses.push(post_signin(server.addr(), &body).status);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        limited >= 30,
        "a flood of refused sign-ins is rate-limited (429): {statuses:?}"
    );
    let grown = server.log().len() - before;
    assert!(
        grown < 8_000,
        "60 refused sign-ins wrote {grown} bytes of log:\n{}",
        server.log_tail()
    );
    // Another address still signs in.
    let token = server.token.clone().expect("a requester token");
    let mut conn = connect_from("127.0.0.2", server.addr());
    let body = format!("method=token&token={token}&next=%2F");
    let request = format!(
        "POST /signin HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    );
    conn.write_all(request.as_bytes())
        .expect("writing the sign-in");
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 303"), "{text}");
}

// ---- metrics, the request id oracle, the auth scheme ------------------------------------

#[test]
fn metrics_access_is_configurable() {
    let mut server = Server::start(&[]);
    // The default keeps Prometheus scraping without credentials.
    let anonymous = http(server.addr(), "GET", "/metrics", &[], b"");
    assert_eq!(anonymous.status, 200, "{anonymous}");

    server.stop_ok();
    // `signet init` writes the key with its default.
    let path = server.data.join("signet.toml");
    let text = std::fs::read_to_string(&path).expect("signet.toml");
    assert!(text.contains("metrics = \"public\""), "{text}");
    std::fs::write(
        &path,
        text.replacen("metrics = \"public\"", "metrics = \"token\"", 1),
    )
    .expect("signet.toml");
    server.serve();
    let auditor = server.create_token(&["auditor"], "prometheus");
    let anonymous = http(server.addr(), "GET", "/metrics", &[], b"");
    anonymous.expect_problem(401);
    let requester = server.get("/metrics");
    requester.expect_problem(403);
    let bearer = format!("Bearer {auditor}");
    let scraped = http(
        server.addr(),
        "GET",
        "/metrics",
        &[("Authorization", bearer.as_str())],
        b"",
    );
    assert_eq!(scraped.status, 200, "{scraped}");
    assert!(
        scraped.text().contains("signet_requests_total"),
        "{scraped}"
    );

    server.stop_ok();
    let text = std::fs::read_to_string(&path).expect("signet.toml");
    std::fs::write(
        &path,
        text.replacen("metrics = \"token\"", "metrics = \"off\"", 1),
    )
    .expect("signet.toml");
    server.serve();
    let off = http(
        server.addr(),
        "GET",
        "/metrics",
        &[("Authorization", bearer.as_str())],
        b"",
    );
    off.expect_problem(404);
}

#[test]
fn anonymous_retrieval_does_not_tell_which_request_ids_exist() {
    let server = Server::start(&[]);
    let issued = server.issue("oracle.test");
    let id = issued["id"].as_i64().expect("id");
    let ask = |id: i64| {
        http(
            server.addr(),
            "GET",
            &format!("/api/v1/cas/{}/requests/{id}", server.ca),
            &[],
            b"",
        )
    };
    let existing = ask(id);
    let missing = ask(id + 1000);
    assert_eq!(
        existing.status, missing.status,
        "existing: {existing}\nmissing: {missing}"
    );
    // Only the id as the detail names it (a bare `replace` of a one-digit id would also
    // rewrite the status 401 in the body).
    let same = |r: &Response, id: i64| r.text().replace(&format!("request {id}:"), "request ID:");
    assert_eq!(same(&existing, id), same(&missing, id + 1000));
    assert_eq!(
        existing.header("www-authenticate"),
        missing.header("www-authenticate")
    );
    // An unknown CA is still plainly unknown.
    let resp = http(
        server.addr(),
        "GET",
        "/api/v1/cas/nope/requests/1",
        &[],
        b"",
    );
    resp.expect_problem(404);
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let server = Server::start(&[]);
    let issued = server.issue("scheme.test");
    let id = issued["id"].as_i64().expect("id");
    let token = server.token.clone().expect("token");
    for scheme in ["BEARER", "bEaReR", "Bearer "] {
        let value = format!("{scheme} {token}");
        let resp = http(
            server.addr(),
            "GET",
            &format!("/api/v1/cas/{}/requests/{id}", server.ca),
            &[("Authorization", value.as_str())],
            b"",
        );
        assert_eq!(resp.status, 200, "Authorization: {scheme} …: {resp}");
    }
    // Another scheme is still refused.
    let resp = http(
        server.addr(),
        "GET",
        &format!("/api/v1/cas/{}/requests/{id}", server.ca),
        &[("Authorization", "Basic dXNlcjpwYXNz")],
        b"",
    );
    resp.expect_problem(401);
}
