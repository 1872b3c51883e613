//! TLS client certificates as identities, end to end: Signet issues its own HTTPS server
//! certificate and a client certificate (approved by a manager), serves `[server.tls]`, and
//! curl authenticates with the certificate, which `[[identity]]` maps to a manager.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::*;

fn curl(
    port: u16,
    ca: &std::path::Path,
    cert: Option<(&std::path::Path, &std::path::Path)>,
    path: &str,
) -> Run {
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}{path}");
    let mut args = vec![
        "-sS",
        "--resolve",
        resolve.as_str(),
        "--cacert",
        ca.to_str().unwrap(),
        "-w",
        "\n%{http_code}",
    ];
    let (c, k);
    if let Some((cert, key)) = cert {
        c = cert.to_str().unwrap().to_string();
        k = key.to_str().unwrap().to_string();
        args.extend(["--cert", c.as_str(), "--key", k.as_str()]);
    }
    args.push(url.as_str());
    run_program("curl", &args)
}

#[test]
fn a_mapped_client_certificate_authenticates_as_its_identity() {
    let mut server = Server::start(&[]);
    let mgr = server.create_token(&["manager"], "mgr");

    // The HTTPS server certificate, issued by Signet's own `server` profile.
    let (server_pem, server_key) =
        server.tls_server_certificate("/CN=localhost", &["DNS:localhost", "IP:127.0.0.1"]);
    // alice's client certificate: the `manual` profile (clientAuth) needs a manager.
    let (_, alice_pem, alice_key) = server.approved_client_certificate(&mgr, "/CN=alice", "alice");
    assert!(
        server_key.exists() && alice_key.exists(),
        "openssl_csr keeps the key beside the CSR"
    );

    let port = server.serve_tls(
        &server_pem,
        &server_key,
        "[[identity]]\nname = \"alice\"\nsubject = \"CN=alice\"\nroles = [\"manager\"]\n",
    );
    let ca = server.ca_cert_path();

    let who = curl(port, &ca, Some((&alice_pem, &alice_key)), "/api/v1/whoami");
    who.expect_code(0);
    assert!(who.stdout.ends_with("\n200"), "{who}");
    let body: serde_json::Value =
        serde_json::from_str(who.stdout.rsplit_once('\n').unwrap().0).unwrap();
    assert_eq!(body["name"], "alice", "{body:#}");
    assert_eq!(body["roles"], serde_json::json!(["manager"]));
    assert!(
        body["via"].as_str().unwrap().starts_with("certificate:"),
        "{body:#}"
    );
    let view = curl(
        port,
        &ca,
        Some((&alice_pem, &alice_key)),
        &format!("/api/v1/cas/{}/requests", server.ca),
    );
    assert!(view.stdout.ends_with("\n200"), "{view}");

    // No certificate and no token: anonymous, so the admin API says 401.
    let anonymous = curl(port, &ca, None, "/api/v1/whoami");
    assert!(anonymous.stdout.ends_with("\n401"), "{anonymous}");
    // The plain listener never sees client certificates.
    assert_eq!(server.call(None, "GET", "/api/v1/whoami", None).status, 401);

    // A held (revoked) client certificate authenticates nobody; released, it works again.
    let serial = cert_serial(&alice_pem);
    let certificate = format!("/api/v1/cas/{}/certificates/{serial}", server.ca);
    let held = server.call(
        Some(&mgr),
        "POST",
        &format!("{certificate}/revoke"),
        Some(&serde_json::json!({ "reason": "certificateHold" })),
    );
    assert_eq!(held.status, 200, "{held}");
    let refused = curl(port, &ca, Some((&alice_pem, &alice_key)), "/api/v1/whoami");
    assert!(refused.stdout.ends_with("\n401"), "{refused}");
    assert!(refused.stdout.contains("revoked"), "{refused}");
    let released = server.call(Some(&mgr), "POST", &format!("{certificate}/unrevoke"), None);
    assert_eq!(released.status, 200, "{released}");
    let again = curl(port, &ca, Some((&alice_pem, &alice_key)), "/api/v1/whoami");
    assert!(again.stdout.ends_with("\n200"), "{again}");
    let _ = fs::remove_file(server.work_file("unused"));
}
