//! Signet as an ACME CA (issue 16), proven with the clients administrators run: certbot
//! (PyPI, in the test venv) and lego (Debian), validated for real on loopback. Each test
//! starts a dev CA with `[ca.acme]` enabled, `pebble-challtestsrv` as the DNS server
//! validation asks (every name resolves to 127.0.0.1), and `signet serve`; runs the client
//! with a deadline; then checks the certificate with `openssl verify` against the CA chain
//! the server hands out, and that the request behind it names its ACME account and order.
//!
//! certbot, lego and pebble-challtestsrv are oracles (tests/common/oracle.rs): a missing
//! one fails the test unless `SIGNET_SKIP_ORACLES` names it.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::acme::{
    APPROVED_PROFILE, AcmeCa, AcmeConfig, CLIENT_TIMEOUT, SHORT_PROFILE, WILDCARD_PROFILE,
    expect_ok, spawn,
};
use common::{Run, cert_serial, first_pem};

/// certbot's files for certificate `name`: (leaf, full chain).
fn certbot_live(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let live = dir.join("config/live").join(name);
    (live.join("cert.pem"), live.join("fullchain.pem"))
}

/// lego's files for the first domain `name`: (leaf, the bundle lego saved).
fn lego_files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let bundle = dir
        .join("certificates")
        .join(format!("{}.crt", name.replace('*', "_")));
    assert!(
        bundle.is_file(),
        "lego saved no {}; files: {:?}",
        bundle.display(),
        std::fs::read_dir(dir.join("certificates"))
            .map(|d| d
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .collect::<Vec<_>>())
            .unwrap_or_default()
    );
    (first_pem(&bundle), bundle)
}

/// The SANs of a certificate as openssl prints them.
fn sans(cert: &Path) -> String {
    let text = common::cert_text(cert);
    text.lines()
        .skip_while(|l| !l.contains("Subject Alternative Name"))
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn run_certbot(ca: &AcmeCa, dir: &Path, subcommand: &str, args: &[&str]) -> Option<Run> {
    let cmd = ca.certbot(dir, subcommand, args)?;
    Some(ca.run_certbot(dir, cmd))
}

fn run_lego(ca: &AcmeCa, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Option<Run> {
    let mut cmd = ca.lego(dir, args)?;
    for (k, v) in env {
        cmd.env(k, v);
    }
    Some(spawn(cmd, dir, "lego").wait(CLIENT_TIMEOUT))
}

/// certbot standalone http-01 on a high port, then `certbot revoke` (the server shows the
/// certificate revoked, and so does its OCSP responder), then `certbot renew
/// --force-renewal` gets a new certificate for the same name.
#[test]
fn certbot_http01_issue_revoke_renew() {
    let Some(ca) = AcmeCa::start(&AcmeConfig::default()) else {
        return;
    };
    let dir = ca.dir("certbot-http");
    let port = ca.http01_port.to_string();
    let name = "certbot-http.example.test";
    let standalone = [
        "--standalone",
        "--preferred-challenges",
        "http",
        "--http-01-port",
        port.as_str(),
        "--http-01-address",
        "127.0.0.1",
    ];
    let mut args = standalone.to_vec();
    args.extend(["-d", name]);
    let Some(run) = run_certbot(&ca, &dir, "certonly", &args) else {
        return;
    };
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, fullchain) = certbot_live(&dir, name);
    ca.verify(&leaf, &fullchain);
    assert!(
        sans(&leaf).contains(&format!("DNS:{name}")),
        "{}",
        sans(&leaf)
    );
    ca.assert_acme_request(&leaf, "server");
    let first_serial = cert_serial(&leaf);
    let first_leaf = ca.server.work_file("certbot-first.pem");
    std::fs::copy(&leaf, &first_leaf).expect("keeping the first certificate");

    // Revocation by the account that ordered it.
    let leaf_arg = leaf.display().to_string();
    let run = run_certbot(
        &ca,
        &dir,
        "revoke",
        &[
            "--cert-path",
            &leaf_arg,
            "--reason",
            "keycompromise",
            "--no-delete-after-revoke",
        ],
    )
    .expect("certbot is there");
    expect_ok(&run, &ca.server.log_tail());
    let item = ca.view_certificate(&first_leaf);
    assert!(
        item["status"] == "revoked" || !item["certificate"]["revoked_at"].is_null(),
        "certbot revoke did not revoke {first_serial}:\n{item:#}"
    );
    let ocsp = ca.ocsp(&first_leaf);
    assert!(
        ocsp.stdout.contains(": revoked"),
        "OCSP does not say revoked: {ocsp}"
    );

    // Renewal: the same lineage gets a new certificate.
    let run = run_certbot(
        &ca,
        &dir,
        "renew",
        &["--force-renewal", "--no-random-sleep-on-renew"],
    )
    .expect("certbot is there");
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, fullchain) = certbot_live(&dir, name);
    assert_ne!(
        cert_serial(&leaf),
        first_serial,
        "certbot renew kept the old certificate: {run}"
    );
    ca.verify(&leaf, &fullchain);
    ca.assert_acme_request(&leaf, "server");
    let ocsp = ca.ocsp(&leaf);
    assert!(ocsp.stdout.contains(": good"), "{ocsp}");
}

/// Renewal driven by renewal information (RFC 9773): a fresh certificate is not due, but
/// once a certificate manager marks it with `signet admin acme renew-early`, its suggested window
/// is in the past and a plain `certbot renew` (certbot asks `renewalInfo`) renews it.
#[test]
fn certbot_renews_when_the_ca_asks_early() {
    let Some(ca) = AcmeCa::start(&AcmeConfig::default()) else {
        return;
    };
    let dir = ca.dir("certbot-ari");
    let port = ca.http01_port.to_string();
    let name = "certbot-ari.example.test";
    let Some(run) = run_certbot(
        &ca,
        &dir,
        "certonly",
        &[
            "--standalone",
            "--preferred-challenges",
            "http",
            "--http-01-port",
            &port,
            "--http-01-address",
            "127.0.0.1",
            "-d",
            name,
        ],
    ) else {
        return;
    };
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, _) = certbot_live(&dir, name);
    let first_serial = cert_serial(&leaf);
    let item = ca.view_certificate(&leaf);
    let serial = item["certificate"]["serial"]
        .as_str()
        .expect("the certificate's serial")
        .to_string();

    // A certificate manager's decision (the administration API's renew-early).
    let early = ca.as_manager(&[
        "admin",
        "acme",
        "renew-early",
        "--ca",
        &ca.server.ca,
        "--serial",
        &serial,
    ]);
    assert_eq!(early.code, 0, "{early}");

    let run = run_certbot(&ca, &dir, "renew", &["--no-random-sleep-on-renew"]).expect("certbot");
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, fullchain) = certbot_live(&dir, name);
    assert_ne!(
        cert_serial(&leaf),
        first_serial,
        "certbot renew did not renew the certificate marked for early renewal: {run}"
    );
    ca.verify(&leaf, &fullchain);
    ca.assert_acme_request(&leaf, "server");
}

/// certbot dns-01 with manual hooks publishing TXT records in challtestsrv: a base name and
/// its wildcard in one certificate.
#[test]
fn certbot_dns01_wildcard() {
    let cfg = AcmeConfig {
        profiles: vec!["server".into(), "wild".into()],
        default_profile: "wild".into(),
        extra_toml: WILDCARD_PROFILE.into(),
        ..AcmeConfig::default()
    };
    let Some(ca) = AcmeCa::start(&cfg) else {
        return;
    };
    let dir = ca.dir("certbot-dns");
    let (auth, cleanup) = ca.certbot_dns_hooks(&dir);
    let (auth, cleanup) = (auth.display().to_string(), cleanup.display().to_string());
    let name = "certbot-dns.example.test";
    let wildcard = "*.certbot-dns.example.test";
    let Some(run) = run_certbot(
        &ca,
        &dir,
        "certonly",
        &[
            "--manual",
            "--preferred-challenges",
            "dns",
            "--manual-auth-hook",
            &auth,
            "--manual-cleanup-hook",
            &cleanup,
            "-d",
            name,
            "-d",
            wildcard,
        ],
    ) else {
        return;
    };
    expect_ok(
        &run,
        &format!(
            "{}\n--- challtestsrv ---\n{}",
            ca.server.log_tail(),
            ca.dns.log()
        ),
    );
    let (leaf, fullchain) = certbot_live(&dir, name);
    ca.verify(&leaf, &fullchain);
    let sans = sans(&leaf);
    assert!(
        sans.contains(&format!("DNS:{name}")) && sans.contains(&format!("DNS:{wildcard}")),
        "{sans}"
    );
    ca.assert_acme_request(&leaf, "wild");
}

/// `certbot --preferred-profile` selects a second profile offered over ACME; an unknown
/// one falls back to the CA's default (certbot drops a profile the directory does not
/// list); `--required-profile` with an unknown one fails with invalidProfile.
#[test]
fn certbot_selects_a_profile() {
    let cfg = AcmeConfig {
        profiles: vec!["server".into(), "short".into()],
        default_profile: "server".into(),
        extra_toml: SHORT_PROFILE.into(),
        ..AcmeConfig::default()
    };
    let Some(ca) = AcmeCa::start(&cfg) else {
        return;
    };
    // The directory lists both profiles.
    let directory = ca.server.get(&format!("/acme/{}/directory", ca.server.ca));
    assert_eq!(directory.status, 200, "{directory}");
    let meta = &directory.json()["meta"]["profiles"];
    assert!(
        meta.get("server").is_some() && meta.get("short").is_some(),
        "meta.profiles lists the offered profiles: {directory}"
    );

    let dir = ca.dir("certbot-profile");
    let port = ca.http01_port.to_string();
    let certonly = |name: &str, profile_args: &[&str]| {
        let mut args = vec![
            "--standalone",
            "--preferred-challenges",
            "http",
            "--http-01-port",
            port.as_str(),
            "--http-01-address",
            "127.0.0.1",
            "-d",
            name,
        ];
        args.extend_from_slice(profile_args);
        run_certbot(&ca, &dir, "certonly", &args)
    };

    let name = "short.example.test";
    let Some(run) = certonly(name, &["--preferred-profile", "short"]) else {
        return;
    };
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, fullchain) = certbot_live(&dir, name);
    ca.verify(&leaf, &fullchain);
    ca.assert_acme_request(&leaf, "short");

    let name = "fallback.example.test";
    let run = certonly(name, &["--preferred-profile", "nosuch"]).expect("certbot");
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, fullchain) = certbot_live(&dir, name);
    ca.verify(&leaf, &fullchain);
    ca.assert_acme_request(&leaf, "server");

    let run = certonly("refused.example.test", &["--required-profile", "nosuch"]).expect("certbot");
    assert_ne!(run.code, 0, "an unknown required profile must fail: {run}");
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("invalidProfile"),
        "certbot names the invalidProfile problem: {run}\n{}",
        ca.server.log_tail()
    );
    assert!(
        !dir.join("config/live/refused.example.test").exists(),
        "no certificate for the refused order"
    );
}

/// lego http-01 with its built-in server on the port validation connects to.
#[test]
fn lego_http01() {
    let Some(ca) = AcmeCa::start(&AcmeConfig::default()) else {
        return;
    };
    let dir = ca.dir("lego-http");
    let listen = format!("127.0.0.1:{}", ca.http01_port);
    let name = "lego-http.example.test";
    let Some(run) = run_lego(
        &ca,
        &dir,
        &["--domains", name, "--http", "--http.port", &listen],
        &[],
    ) else {
        return;
    };
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, bundle) = lego_files(&dir, name);
    ca.verify(&leaf, &bundle);
    assert!(
        sans(&leaf).contains(&format!("DNS:{name}")),
        "{}",
        sans(&leaf)
    );
    ca.assert_acme_request(&leaf, "server");
    // The ACME issuance shows in the metrics as a REST one would.
    let metrics = ca.server.get("/metrics").text();
    assert!(
        metrics.contains(&format!(
            "signet_requests_total{{ca=\"{}\",status=\"issued\"}} 1",
            ca.server.ca
        )),
        "{metrics}"
    );
}

/// lego tls-alpn-01 (RFC 8737) with its built-in responder.
#[test]
fn lego_tlsalpn01() {
    let Some(ca) = AcmeCa::start(&AcmeConfig::default()) else {
        return;
    };
    let dir = ca.dir("lego-tls");
    let listen = format!("127.0.0.1:{}", ca.tlsalpn01_port);
    let name = "lego-tls.example.test";
    let Some(run) = run_lego(
        &ca,
        &dir,
        &["--domains", name, "--tls", "--tls.port", &listen],
        &[],
    ) else {
        return;
    };
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, bundle) = lego_files(&dir, name);
    ca.verify(&leaf, &bundle);
    ca.assert_acme_request(&leaf, "server");
}

/// lego dns-01 for a base name and its wildcard through the `exec` provider, which
/// publishes the TXT records in challtestsrv.
#[test]
fn lego_dns01_wildcard() {
    let cfg = AcmeConfig {
        profiles: vec!["wild".into()],
        default_profile: "wild".into(),
        extra_toml: WILDCARD_PROFILE.into(),
        ..AcmeConfig::default()
    };
    let Some(ca) = AcmeCa::start(&cfg) else {
        return;
    };
    let dir = ca.dir("lego-dns");
    let hook = ca.lego_exec_hook(&dir).display().to_string();
    let resolver = ca.dns.resolver();
    let name = "lego-dns.example.test";
    let wildcard = "*.lego-dns.example.test";
    let Some(run) = run_lego(
        &ca,
        &dir,
        &[
            "--domains",
            name,
            "--domains",
            wildcard,
            "--dns",
            "exec",
            "--dns.resolvers",
            &resolver,
            "--dns.disable-cp",
        ],
        &[
            ("EXEC_PATH", hook.as_str()),
            ("EXEC_POLLING_INTERVAL", "1"),
            ("EXEC_PROPAGATION_TIMEOUT", "30"),
            ("EXEC_SEQUENCE_INTERVAL", "1"),
        ],
    ) else {
        return;
    };
    expect_ok(
        &run,
        &format!(
            "{}\n--- challtestsrv ---\n{}",
            ca.server.log_tail(),
            ca.dns.log()
        ),
    );
    let (leaf, bundle) = lego_files(&dir, name);
    ca.verify(&leaf, &bundle);
    let sans = sans(&leaf);
    assert!(
        sans.contains(&format!("DNS:{name}")) && sans.contains(&format!("DNS:{wildcard}")),
        "{sans}"
    );
    ca.assert_acme_request(&leaf, "wild");
}

/// A CA with `eab = true`: its directory says `externalAccountRequired` and lego without
/// External Account Binding does not get an account; with the KID and HMAC `signet admin acme eab create` printed it
/// registers and gets a certificate, requested in the EAB key's name.
#[test]
fn lego_external_account_binding() {
    let cfg = AcmeConfig {
        eab: true,
        ..AcmeConfig::default()
    };
    let Some(ca) = AcmeCa::start(&cfg) else {
        return;
    };
    let listen = format!("127.0.0.1:{}", ca.http01_port);
    let name = "lego-eab.example.test";
    let http = ["--domains", name, "--http", "--http.port", listen.as_str()];

    let dir = ca.dir("lego-no-eab");
    let Some(run) = run_lego(&ca, &dir, &http, &[]) else {
        return;
    };
    assert_ne!(run.code, 0, "an account without EAB must be refused: {run}");
    // lego reads meta.externalAccountRequired and stops before newAccount (lego 4.9 says
    // "Server requires External Account Binding"); a client that asks anyway gets the
    // externalAccountRequired problem.
    let output = format!("{}{}", run.stdout, run.stderr);
    assert!(
        output.contains("requires External Account Binding")
            || output.contains("externalAccountRequired"),
        "lego refuses to register without EAB: {run}\n{}",
        ca.server.log_tail()
    );
    let directory = ca.server.get(&format!("/acme/{}/directory", ca.server.ca));
    assert_eq!(directory.status, 200, "{directory}");
    assert_eq!(
        directory.json()["meta"]["externalAccountRequired"],
        true,
        "{directory}"
    );

    let (kid, hmac) = ca.eab_create("web-team");
    let dir = ca.dir("lego-eab");
    let mut args = vec!["--eab", "--kid", kid.as_str(), "--hmac", hmac.as_str()];
    args.extend_from_slice(&http);
    let run = run_lego(&ca, &dir, &args, &[]).expect("lego");
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, bundle) = lego_files(&dir, name);
    ca.verify(&leaf, &bundle);
    let details = ca.assert_acme_request(&leaf, "server");
    assert_eq!(
        details["requester"], "web-team",
        "the account bound to EAB key web-team requests in its name: {details:#}"
    );
}

/// The AD CS-style pending flow over ACME, with lego (it polls the order after finalize
/// every `--cert.timeout`/60 s until `--cert.timeout`; certbot polls too, every second until
/// `--issuance-timeout`): on a manual-approval profile the order stays `processing` and the
/// request waits in the queue; a manager approves with `signet admin approve`; lego's poll
/// then gets the certificate.
#[test]
fn lego_waits_for_manager_approval() {
    let cfg = AcmeConfig {
        profiles: vec!["approved".into()],
        default_profile: "approved".into(),
        extra_toml: APPROVED_PROFILE.into(),
        ..AcmeConfig::default()
    };
    let Some(ca) = AcmeCa::start(&cfg) else {
        return;
    };
    let dir = ca.dir("lego-pending");
    let listen = format!("127.0.0.1:{}", ca.http01_port);
    let name = "lego-pending.example.test";
    let Some(cmd) = ca.lego(
        &dir,
        &[
            "--domains",
            name,
            "--http",
            "--http.port",
            &listen,
            "--cert.timeout",
            "80",
        ],
    ) else {
        return;
    };
    let mut running = spawn(cmd, &dir, "lego");

    // The order's request waits in the queue while lego polls.
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        if let Some(id) = ca.pending_ids().into_iter().next() {
            break id;
        }
        if running.exited() || Instant::now() > deadline {
            let run = running.wait(Duration::from_secs(1));
            panic!(
                "no pending request appeared while lego ran: {run}\n{}",
                ca.server.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let details = ca.show(&id);
    assert_eq!(details["status"], "pending", "{details:#}");
    assert_eq!(details["profile"], "approved", "{details:#}");
    for attr in ["acme-account", "acme-order"] {
        assert!(
            common::acme::attribute(&details, attr).is_some(),
            "the pending request shows it came over ACME ({attr}):\n{details:#}"
        );
    }
    let order_id = common::acme::attribute(&details, "acme-order").expect("acme-order");
    let order = ca.acme_order(&order_id);
    assert_eq!(order["status"], "processing", "{order:#}");
    assert_eq!(order["request"], id.as_str(), "{order:#}");

    let approve = ca.as_manager(&["admin", "approve", &id, "--ca", &ca.server.ca]);
    assert_eq!(approve.code, 0, "approving request {id}: {approve}");

    let run = running.wait(CLIENT_TIMEOUT);
    expect_ok(&run, &ca.server.log_tail());
    let (leaf, bundle) = lego_files(&dir, name);
    ca.verify(&leaf, &bundle);
    let details = ca.assert_acme_request(&leaf, "approved");
    assert_eq!(details["status"], "issued", "{details:#}");
    let order = ca.acme_order(&order_id);
    assert_eq!(order["status"], "valid", "{order:#}");
}
