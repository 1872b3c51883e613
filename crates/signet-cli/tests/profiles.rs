//! Profile options through the running server: a client-authentication profile whose subject
//! comes from the authenticated identity (not from the request) issues without review, and
//! `signet doctor` does not flag it, because the requester cannot choose whom it names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::*;

const VPN: &str = r#"
[ca.policy.profiles.vpn]
description = "VPN client certificates for the authenticated identity, issued at once"
approval = "auto"
validity_days = 30
key_algorithms = ["p256"]
subject_from = "identity"
require_san = false
key_usage = ["digitalSignature"]
extended_key_usage = ["clientAuth"]

"#;

fn with_vpn_profile(server: &Server) {
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).unwrap();
    let exits = "# Exit modules (AD CS ICertExit)";
    assert!(text.contains(exits));
    fs::write(&path, text.replace(exits, &format!("{VPN}{exits}"))).unwrap();
}

#[test]
fn the_subject_comes_from_the_identity_not_the_request() {
    let mut server = Server::init(&["--dev"]);
    with_vpn_profile(&server);
    // Nothing for doctor: the requester cannot name anyone but itself.
    let data = server.data.display().to_string();
    run_signet(&["doctor", "--data", &data], &[], None).expect_code(0);
    server.serve();

    // The request claims to be the administrator; the certificate names the requester.
    let csr = openssl_csr(&server.work, "p256", "/CN=administrator/O=Evil", &[]);
    let answer = server.submit(&csr, Some("vpn"));
    assert_eq!(answer["status"], "issued", "{answer:#}");
    let pem = write_pem(&server.work, "vpn", answer["certificate"].as_str().unwrap());
    let text = cert_text(&pem);
    assert!(text.contains("Subject: CN = tester"), "{text}");
    assert!(!text.contains("administrator"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    openssl_verify(&server.ca_cert_path(), &pem);

    // A name the profile does not allow is still refused.
    let csr = openssl_csr(&server.work, "p256", "/CN=x", &["DNS:www.test"]);
    let answer = server.submit(&csr, Some("vpn"));
    assert_eq!(answer["status"], "denied", "{answer:#}");
}

#[test]
fn subject_from_identity_is_refused_where_it_cannot_work() {
    for (extra, expect) in [
        ("anonymous = true\n", "not with anonymous = true"),
        ("common_name_as_dns = true\n", "not with common_name_as_dns"),
    ] {
        let mut server = Server::init(&["--dev"]);
        let path = server.data.join("signet.toml");
        let text = fs::read_to_string(&path).unwrap();
        let exits = "# Exit modules (AD CS ICertExit)";
        let profile = VPN.replace(
            "require_san = false\n",
            &format!("require_san = false\n{extra}"),
        );
        fs::write(&path, text.replace(exits, &format!("{profile}{exits}"))).unwrap();
        let failure = server.try_serve().expect_err("the load must fail");
        assert!(failure.stderr.contains(expect), "{}", failure.stderr);
    }
}
