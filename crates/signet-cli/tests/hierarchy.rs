//! A CA under an outside parent (issue 20): an offline root made with openssl signs the
//! request `signet ca create` writes; `signet ca install` refuses what does not fit (another
//! key, no CA bit, a chain that does not verify, a domain outside the name constraints) and
//! installs what does; `signet serve` then issues from the new CA, and openssl verifies its
//! leaves up to the root.

mod common;

use std::fs;

use common::{Server, openssl_csr, pkilint, run_program, run_signet, write_pem};

/// `openssl req -x509`: a self-signed P-256 root in `dir` (`NAME.pem`, `NAME.key`).
fn openssl_root(dir: &std::path::Path, name: &str) -> (String, String) {
    let pem = dir.join(format!("{name}.pem")).display().to_string();
    let key = dir.join(format!("{name}.key")).display().to_string();
    let run = run_program(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    (pem, key)
}

/// `openssl x509 -req`: the root signs `csr` with the extensions of `section` in `ext`.
fn openssl_sign(
    dir: &std::path::Path,
    csr: &str,
    root: &(String, String),
    ext: &str,
    out: &str,
) -> String {
    let ext_file = dir.join(format!("{out}.ext"));
    fs::write(&ext_file, ext).expect("extension file");
    let out = dir.join(format!("{out}.pem")).display().to_string();
    let run = run_program(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            &root.0,
            "-CAkey",
            &root.1,
            "-CAcreateserial",
            "-days",
            "20",
            "-extfile",
            ext_file.to_str().expect("utf-8"),
            "-extensions",
            "sub",
            "-out",
            &out,
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    out
}

const SUB_CA: &str = "[sub]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;DNS:example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

#[test]
fn a_ca_under_an_offline_root_is_checked_installed_and_issues() {
    let mut server = Server::init(&["--dev"]);
    let data = server.data.display().to_string();
    let work = server.work.clone();
    let root = openssl_root(&work, "Offline Root");
    let csr = work.join("issuing.csr").display().to_string();
    let create = run_signet(
        &[
            "ca",
            "create",
            "--data",
            &data,
            "--name",
            "issuing",
            "--csr-out",
            &csr,
            "--dev",
            "--subject",
            "O=Example,CN=Example Issuing CA",
        ],
        &[],
        None,
    );
    assert_eq!(create.code, 0, "{create}");
    let verify = run_program("openssl", &["req", "-in", &csr, "-noout", "-verify"]);
    assert_eq!(verify.code, 0, "openssl verifies the request: {verify}");
    let config_before = fs::read_to_string(server.data.join("signet.toml")).expect("toml");
    assert!(
        !config_before.contains("name = \"issuing\""),
        "not served before it is installed"
    );

    let good = openssl_sign(&work, &csr, &root, SUB_CA, "issuing");
    let install = |cert: &str, chain: &str, extra: &[&str]| {
        let mut args = vec![
            "ca",
            "install",
            "--data",
            &data,
            "--name",
            "issuing",
            "--certificate",
            cert,
            "--chain",
            chain,
        ];
        args.extend_from_slice(extra);
        run_signet(&args, &[], None)
    };

    // Refused, each leaving signet.toml as it was:
    // - a certificate for another key;
    let other_csr = openssl_csr(&work, "p256", "/CN=Someone Else", &[]);
    let other = openssl_sign(
        &work,
        other_csr.to_str().expect("utf-8"),
        &root,
        SUB_CA,
        "other",
    );
    let refused = install(&other, &root.0, &[]);
    assert!(
        refused.stderr.contains("not for this CA's key"),
        "{refused}"
    );
    // - a certificate without the CA bit;
    let leafy = openssl_sign(
        &work,
        &csr,
        &root,
        "[sub]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n",
        "leafy",
    );
    let refused = install(&leafy, &root.0, &[]);
    assert!(refused.stderr.contains("not a CA certificate"), "{refused}");
    // - a chain that is not the issuer;
    let stranger = openssl_root(&work, "Stranger Root");
    let refused = install(&good, &stranger.0, &[]);
    assert!(
        refused.stderr.contains("chain does not verify"),
        "{refused}"
    );
    // - a chain that stops short of a root (the CA certificate alone is no chain);
    let refused = install(&good, &good, &[]);
    assert_ne!(refused.code, 0, "{refused}");
    // - a domain that is no DNS name (it would end up in signet.toml);
    let refused = install(&good, &root.0, &["--domain", "x\"]\nevil = true"]);
    assert!(refused.stderr.contains("is not a DNS name"), "{refused}");
    // - a domain outside the name constraints.
    let refused = install(&good, &root.0, &["--domain", "other.test"]);
    assert!(
        refused.stderr.contains("outside the name constraints"),
        "{refused}"
    );
    assert_eq!(
        fs::read_to_string(server.data.join("signet.toml")).expect("toml"),
        config_before,
        "nothing refused changed signet.toml"
    );

    let ok = install(&good, &root.0, &[]);
    assert_eq!(ok.code, 0, "{ok}");
    // Both steps are in the audit log, whose chain still verifies.
    let export = run_signet(&["audit", "export", "--data", &data], &[], None);
    assert_eq!(export.code, 0, "{export}");
    for action in ["\"ca-create\"", "\"ca-install\""] {
        assert!(
            export
                .stdout
                .lines()
                .any(|l| l.contains(action) && l.contains("ca/issuing")),
            "the audit log records {action}:\n{}",
            export.stdout
        );
    }
    assert!(
        ok.stdout.contains("domains: example.test"),
        "the constraint is the default domain: {ok}"
    );

    server.serve();
    let cas = server.get("/api/v1/cas").json();
    assert!(
        cas.as_array()
            .expect("cas")
            .iter()
            .any(|c| c["name"] == "issuing"),
        "the new CA is served: {cas:#}"
    );
    server.ca = "issuing".into();
    let chain = server.get("/api/v1/cas/issuing/chain?format=pem");
    assert_eq!(chain.status, 200, "{chain}");
    assert_eq!(
        chain.text().matches("BEGIN CERTIFICATE").count(),
        2,
        "the chain download carries the path up to the root: {chain}"
    );
    let v = server.issue("host.example.test");
    let leaf = write_pem(
        &work,
        "leaf",
        v["certificate"].as_str().expect("certificate"),
    );
    let sub = work.join("issuing.pem").display().to_string();
    let verify = run_program(
        "openssl",
        &[
            "verify",
            "-CAfile",
            &root.0,
            "-untrusted",
            &sub,
            leaf.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(
        verify.code, 0,
        "openssl verifies the leaf up to the offline root: {verify}"
    );
    pkilint(&leaf);

    // A name outside the constraints is refused by the CA's own profile.
    let outside = openssl_csr(&work, "p256", "/CN=host.other.test", &[]);
    let resp = server.submit_raw(&outside, None);
    assert!(
        resp.status != 201 || resp.json()["status"] != "issued",
        "a name outside the name constraints is not issued: {resp}"
    );
}

/// Three levels: an offline root (openssl) → a policy CA (installed from the root) → an
/// issuing CA whose certificate the policy CA issues through its own sub-CA profile
/// (`signet ca create --parent`), with a certificate manager's approval, name constraints
/// from the profile, installed from the server (`signet ca install`). Leaves verify up to the
/// root; a leaf outside the constraints — forged with the issuing CA's own key, which Signet
/// would never sign — is refused by openssl: the constraints Signet wrote hold.
#[test]
fn a_three_level_hierarchy_honours_its_name_constraints() {
    let mut server = Server::init(&["--dev"]);
    let data = server.data.display().to_string();
    let work = server.work.clone();
    let root = openssl_root(&work, "Offline Root");

    // Level 2: the policy CA, from the offline root, allowed one CA below it.
    let policy_csr = work.join("policy.csr").display().to_string();
    let run = run_signet(
        &[
            "ca",
            "create",
            "--data",
            &data,
            "--name",
            "policy",
            "--csr-out",
            &policy_csr,
            "--dev",
            "--subject",
            "O=Example,CN=Example Policy CA",
        ],
        &[],
        None,
    );
    assert_eq!(run.code, 0, "{run}");
    let policy_cert = openssl_sign(
        &work,
        &policy_csr,
        &root,
        "[sub]\nbasicConstraints = critical,CA:TRUE,pathlen:1\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
        "policy",
    );
    let run = run_signet(
        &[
            "ca",
            "install",
            "--data",
            &data,
            "--name",
            "policy",
            "--certificate",
            &policy_cert,
            "--chain",
            &root.0,
            "--domain",
            "example.test",
        ],
        &[],
        None,
    );
    assert_eq!(run.code, 0, "{run}");
    // Its sub-CA profile: manual approval, no CA below the next one, constrained names.
    server.append_subca_profile(r#"permitted_dns = ["shop.example.test"]"#);

    // Level 3: `signet ca create --parent` sends the issuing CA's request to the policy CA
    // on the running server, like any other request: its sub-CA profile wants a manager.
    server.serve();
    let id = server.create_sub_ca(
        "policy",
        "issuing",
        &["--dev", "--subject", "O=Example,CN=Example Shop Issuing CA"],
        &[],
    );
    let early = server.install_sub_ca("issuing");
    assert!(
        early.code != 0 && early.stderr.contains("nothing to install yet"),
        "nothing is installed before the approval: {early}"
    );
    server.approve_as_manager("policy", &id, "mia");
    let run = server.install_sub_ca("issuing");
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("domains: shop.example.test"), "{run}");
    assert!(
        run.stdout.contains("3 certificates up to CN=Offline Root"),
        "{run}"
    );
    let issuing_cert = server.data.join("ca/issuing/cert.pem");
    server.stop_ok();
    // The records `ca create` and `ca install` appended beside the running server keep the
    // audit chain whole.
    let verify = run_signet(&["audit", "verify", "--data", &data], &[], None);
    assert_eq!(verify.code, 0, "{verify}");

    server.serve();
    server.ca = "issuing".into();
    let v = server.issue("www.shop.example.test");
    let leaf = write_pem(
        &work,
        "shop-leaf",
        v["certificate"].as_str().expect("certificate"),
    );
    let untrusted = work.join("untrusted.pem");
    fs::write(
        &untrusted,
        fs::read_to_string(&issuing_cert).expect("issuing")
            + &fs::read_to_string(&policy_cert).expect("policy"),
    )
    .expect("intermediates");
    let verify = |leaf: &std::path::Path| {
        run_program(
            "openssl",
            &[
                "verify",
                "-CAfile",
                &root.0,
                "-untrusted",
                untrusted.to_str().expect("utf-8"),
                leaf.to_str().expect("utf-8"),
            ],
        )
    };
    let ok = verify(&leaf);
    assert_eq!(ok.code, 0, "a leaf verifies through three levels: {ok}");
    pkilint(&leaf);

    // A leaf outside the constraints, forged with the issuing CA's key.
    let outside_csr = openssl_csr(&work, "p256", "/CN=www.elsewhere.test", &[]);
    let forged = work.join("forged.pem");
    let ext = work.join("forged.ext");
    fs::write(&ext, "[leaf]\nsubjectAltName = DNS:www.elsewhere.test\n").expect("ext");
    let key = server.data.join("ca/issuing/key.pem");
    let run = run_program(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            outside_csr.to_str().expect("utf-8"),
            "-CA",
            issuing_cert.to_str().expect("utf-8"),
            "-CAkey",
            key.to_str().expect("utf-8"),
            "-CAcreateserial",
            "-days",
            "5",
            "-extfile",
            ext.to_str().expect("utf-8"),
            "-extensions",
            "leaf",
            "-out",
            forged.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    let refused = verify(&forged);
    assert_ne!(
        refused.code, 0,
        "openssl refuses a leaf outside the constraints"
    );
    assert!(
        format!("{}{}", refused.stdout, refused.stderr).contains("permitted subtree violation"),
        "{refused}"
    );
}

/// `signet ca create --path-len --permitted-dns`: the request asks its parent for tighter
/// limits; the parent's sub-CA profile grants what lies within its own (pathLen 0 below
/// its 1, a subtree below its permitted one) and refuses what would widen them.
#[test]
fn a_sub_ca_request_narrows_its_parents_constraints() {
    let mut server = Server::init(&["--dev"]);
    server.append_subca_profile(r#"permitted_dns = ["example.test"]"#);
    let toml = fs::read_to_string(server.data.join("signet.toml")).expect("toml");
    fs::write(
        server.data.join("signet.toml"),
        toml.replace("path_len = 0", "path_len = 1"),
    )
    .expect("toml");
    server.serve();
    let id = server.create_sub_ca(
        "demo",
        "shop",
        &[
            "--dev",
            "--path-len",
            "0",
            "--permitted-dns",
            "shop.example.test",
        ],
        &[],
    );
    server.approve_as_manager("demo", &id, "mia");
    let run = server.install_sub_ca("shop");
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("domains: shop.example.test"), "{run}");
    let cert = server.data.join("ca/shop/cert.pem");
    let text = run_program(
        "openssl",
        &[
            "x509",
            "-in",
            cert.to_str().expect("utf-8"),
            "-noout",
            "-text",
        ],
    );
    assert!(text.stdout.contains("pathlen:0"), "{text}");
    assert!(text.stdout.contains("DNS:shop.example.test"), "{text}");
    assert!(!text.stdout.contains("DNS:example.test"), "{text}");
    // cert.pem holds the chain; pkilint reads one certificate.
    let pem = fs::read_to_string(&cert).expect("cert.pem");
    let first = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .expect("a certificate");
    pkilint(&write_pem(&server.work, "shop-ca", first));

    // Asking to permit a name outside the profile's subtree is denied at once.
    let data = server.data.display().to_string();
    let url = server.url();
    let token = server.token.clone().expect("requester token");
    let run = run_signet(
        &[
            "ca",
            "create",
            "--data",
            &data,
            "--name",
            "wide",
            "--parent",
            "demo",
            "--profile",
            "subca",
            "--server",
            &url,
            "--token",
            &token,
            "--dev",
            "--permitted-dns",
            "elsewhere.test",
        ],
        &[],
        None,
    );
    assert!(
        run.stdout.contains("denied") || run.stderr.contains("outside profile"),
        "{run}"
    );
}
