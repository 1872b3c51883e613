//! Revocation end to end against the real binary, judged by oracles we did not write:
//! `openssl crl`, `openssl verify -crl_check [-use_deltas]`, `openssl ocsp`, and pkilint
//! (`lint_crl`, `lint_ocsp_response`, `lint_cabf_serverauth_cert`). Covers full, delta and
//! partitioned CRLs and their HTTP caching, CRL numbers across restarts and crashes, expired
//! certificates leaving the CRL, scheduled publication with its `CrlIssued` events, the OCSP
//! responder (delegated and CA-signed, POST and RFC 5019 GET, its error answers), and who may
//! publish.
//!
//! Every fixture is made here: certificates by Signet itself; certificates the CA key signed
//! outside Signet (expired, or never recorded) by `openssl ca` with the development key; a
//! foreign CA by `openssl req -x509` and `openssl x509 -req`. pkilint is required (as in
//! every test of this crate, `common::pkilint_bin` fails rather than skips).
//!
//! # Layout
//! - Setup: [`start_with`], [`set_toml`].
//! - Certificates: [`Leaf`], [`issue`], [`revoke`], [`unrevoke`], [`sign_outside`],
//!   [`foreign_ca`], [`import`].
//! - CRLs: [`publish`], [`cli_publish`], [`published`], [`list_crls`], [`Crl`],
//!   [`fetch_crl`], [`crl_text`], [`crl_check`].
//! - OCSP: [`ocsp`], [`ocsp_with`], [`ocsp_request`], [`ocsp_get_path`],
//!   [`expect_ocsp_status`], [`expect_ocsp_error`].
//! - Text and time: [`block`], [`first_line_of`], [`cdp_uris`], [`pem_in`],
//!   [`http_date_secs`], [`max_age`].
//! - The tests, one per capability.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{Value, json};
use signet_x509::crl::{CrlInfo, parse_crl};

/// The `[server] public_url` that `signet init` writes (from its default listen address).
/// Tests serve on port 0, so it is never the real address: it is matched only as a string.
const INIT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// issuingDistributionPoint (RFC 5280 §5.2.5).
const OID_IDP: &str = "2.5.29.28";
/// deltaCRLIndicator (RFC 5280 §5.2.4).
const OID_DELTA_CRL_INDICATOR: &str = "2.5.29.27";
/// freshestCRL (RFC 5280 §5.2.6).
const OID_FRESHEST_CRL: &str = "2.5.29.46";
/// id-pe-subjectInfoAccess: what x509-cert 0.3.0 wrongly writes as the IDP's OID.
const OID_SUBJECT_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.11";

/// RFC 5280 CRLReason values, as `CrlInfo` entries carry them.
const KEY_COMPROMISE: u8 = 1;
const CERTIFICATE_HOLD: u8 = 6;
const REMOVE_FROM_CRL: u8 = 8;

/// A past invalidity date, and how `openssl crl -text` prints it.
const INVALIDITY: &str = "2025-06-15T08:30:00Z";
const INVALIDITY_OPENSSL: &str = "Jun 15 08:30:00 2025 GMT";

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

/// `signet init --dev INIT`, then `(section, key, TOML value)` settings in signet.toml, then
/// `signet serve`.
fn start_with(init: &[&str], settings: &[(&str, &str, &str)]) -> Server {
    let mut args = vec!["--dev"];
    args.extend_from_slice(init);
    let mut server = Server::init(&args);
    for (section, key, value) in settings {
        set_toml(&server, section, key, value);
    }
    server.serve();
    server
}

/// Sets `key = value` (`value` is TOML: `"3s"`, `4`) inside `[section]` of signet.toml,
/// replacing the line that sets it or adding one under the header. Editing in place keeps
/// the file valid: a second `[ca.revocation]` table would be a TOML error.
fn set_toml(server: &Server, section: &str, key: &str, value: &str) {
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).expect("reading signet.toml");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = format!("[{section}]");
    let start = lines
        .iter()
        .position(|l| l.trim() == header)
        .unwrap_or_else(|| panic!("no {header} in signet.toml:\n{text}"));
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let sets_key = |l: &str| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let setting = format!("{key} = {value}");
    match (start + 1..end).find(|&i| sets_key(&lines[i])) {
        Some(i) => lines[i] = setting,
        None => lines.insert(start + 1, setting),
    }
    fs::write(&path, lines.join("\n") + "\n").expect("writing signet.toml");
}

// ---------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------

/// A certificate Signet issued: its PEM file and its serial as Signet writes it (lowercase
/// hex; Signet's serials have a non-zero first octet, so this is also the CRL's magnitude).
struct Leaf {
    pem: PathBuf,
    serial: String,
}

impl Leaf {
    /// The serial as openssl prints it.
    fn upper(&self) -> String {
        self.serial.to_uppercase()
    }
}

/// Issues a `server` profile certificate for CN=`cn` (a fresh P-256 key).
fn issue(server: &Server, cn: &str) -> Leaf {
    let v = server.issue(cn);
    let pem = write_pem(
        &server.work,
        cn,
        v["certificate"].as_str().expect("certificate"),
    );
    let serial = v["serial"].as_str().expect("serial").to_string();
    assert_eq!(
        cert_serial(&pem).to_lowercase(),
        serial,
        "the response's serial is the certificate's"
    );
    Leaf { pem, serial }
}

/// `POST .../certificates/{serial}/revoke` as a manager.
fn revoke(server: &Server, manager: &str, serial: &str, reason: &str, invalidity: Option<&str>) {
    let mut body = json!({ "reason": reason });
    if let Some(t) = invalidity {
        body["invalidity_date"] = json!(t);
    }
    let r = server.call(
        Some(manager),
        "POST",
        &format!("/api/v1/cas/{}/certificates/{serial}/revoke", server.ca),
        Some(&body),
    );
    assert_eq!(r.status, 200, "revoking {serial} ({reason}): {r}");
    assert_eq!(r.json()["certificate"]["revocation_reason"], reason, "{r}");
}

/// `POST .../certificates/{serial}/unrevoke` (release from hold) as a manager.
fn unrevoke(server: &Server, manager: &str, serial: &str) {
    let r = server.call(
        Some(manager),
        "POST",
        &format!("/api/v1/cas/{}/certificates/{serial}/unrevoke", server.ca),
        Some(&json!({})),
    );
    assert_eq!(r.status, 200, "releasing {serial}: {r}");
    assert_eq!(r.json()["status"], "issued", "{r}");
}

/// Signs a fresh CSR for CN=`cn` with this CA's own key outside Signet (`openssl ca`, which,
/// unlike `openssl x509` in 3.0, takes an explicit validity), so Signet has no record of it.
/// `serial_hex` has an even number of digits; dates are `YYYYMMDDHHMMSSZ`.
fn sign_outside(
    server: &Server,
    cn: &str,
    serial_hex: &str,
    not_before: &str,
    not_after: &str,
) -> PathBuf {
    let dir = unique(&server.work, &format!("openssl-ca-{cn}"), "d");
    fs::create_dir_all(&dir).unwrap();
    let index = dir.join("index.txt");
    let serial = dir.join("serial");
    fs::write(&index, "").unwrap();
    fs::write(&serial, format!("{serial_hex}\n")).unwrap();
    let config = dir.join("ca.cnf");
    fs::write(
        &config,
        format!(
            "[ca]\ndefault_ca = outside\n\n[outside]\ndatabase = {index}\nnew_certs_dir = {dir}\n\
             serial = {serial}\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
             x509_extensions = leaf\n\n[any]\ncommonName = supplied\n\n[leaf]\n\
             basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
            index = index.display(),
            dir = dir.display(),
            serial = serial.display(),
        ),
    )
    .unwrap();
    let csr = openssl_csr(&server.work, "p256", &format!("/CN={cn}"), &[]);
    let out = dir.join("cert.pem");
    let key = server.data.join("ca").join(&server.ca).join("key.pem");
    let ca = server.ca_cert_path();
    run_program(
        "openssl",
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            p(&config),
            "-cert",
            p(&ca),
            "-keyfile",
            p(&key),
            "-in",
            p(&csr),
            "-out",
            p(&out),
            "-startdate",
            not_before,
            "-enddate",
            not_after,
        ],
    )
    .expect_code(0);
    out
}

/// A CA Signet knows nothing about (made by openssl) and a leaf it signed: (CA, leaf).
fn foreign_ca(server: &Server) -> (PathBuf, PathBuf) {
    let key = server.work_file("foreign-ca.key");
    let ca = server.work_file("foreign-ca.pem");
    run_program(
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
            p(&key),
            "-subj",
            "/CN=Foreign CA",
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            p(&ca),
        ],
    )
    .expect_code(0);
    let csr = openssl_csr(&server.work, "p256", "/CN=foreign.test", &[]);
    let leaf = server.work_file("foreign-leaf.pem");
    run_program(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            p(&csr),
            "-CA",
            p(&ca),
            "-CAkey",
            p(&key),
            "-set_serial",
            "99",
            "-days",
            "1",
            "-out",
            p(&leaf),
        ],
    )
    .expect_code(0);
    (ca, leaf)
}

/// `POST /api/v1/cas/{ca}/certificates` (import, admin role).
fn import(server: &Server, admin: &str, pem: &Path) {
    let r = server.call(
        Some(admin),
        "POST",
        &format!("/api/v1/cas/{}/certificates", server.ca),
        Some(&json!({ "certificate": fs::read_to_string(pem).unwrap() })),
    );
    assert_eq!(r.status, 201, "importing {}: {r}", pem.display());
}

// ---------------------------------------------------------------------------------------
// CRLs
// ---------------------------------------------------------------------------------------

/// `POST /api/v1/cas/{ca}/crls` as `token`: every partition's full CRL and a fresh delta, or
/// only deltas. Returns the 201 body.
fn publish(server: &Server, token: &str, delta: bool) -> Vec<Value> {
    let r = server.call(
        Some(token),
        "POST",
        &format!("/api/v1/cas/{}/crls", server.ca),
        Some(&json!({ "delta": delta })),
    );
    assert_eq!(r.status, 201, "publishing CRLs (delta: {delta}): {r}");
    r.json().as_array().expect("a JSON array").clone()
}

/// `signet crl publish [--delta] --json` with the admin token.
fn cli_publish(server: &Server, delta: bool) -> Vec<Value> {
    let admin = server.admin_token();
    let mut args = vec!["crl", "publish", "--json", "--token", admin.as_str()];
    if delta {
        args.push("--delta");
    }
    let run = server.cli(&args);
    run.expect_code(0);
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("crl publish --json is not JSON ({e}): {run}"));
    v.as_array().expect("a JSON array").clone()
}

/// The publication of `shard`'s full CRL (`delta = false`) or delta in a publish answer.
fn published(list: &[Value], shard: u64, delta: bool) -> &Value {
    list.iter()
        .find(|c| c["shard"] == shard && c.get("delta_base").is_some() == delta)
        .unwrap_or_else(|| panic!("no shard {shard} (delta: {delta}) CRL in {list:#?}"))
}

fn number(v: &Value) -> u64 {
    v["number"]
        .as_u64()
        .unwrap_or_else(|| panic!("no number: {v}"))
}

/// `GET /api/v1/cas/{ca}/crls?limit=1000` as `token`.
fn list_crls(server: &Server, token: &str) -> Vec<Value> {
    let r = server.call(
        Some(token),
        "GET",
        &format!("/api/v1/cas/{}/crls?limit=1000", server.ca),
        None,
    );
    assert_eq!(r.status, 200, "listing CRLs: {r}");
    r.json().as_array().expect("a JSON array").clone()
}

/// A CRL as served: the response, the DER and PEM files, and Signet's own parse of it (the
/// structure; openssl judges the signature and the semantics).
struct Crl {
    response: Response,
    der: PathBuf,
    pem: PathBuf,
    info: CrlInfo,
}

impl Crl {
    fn number(&self) -> u64 {
        self.info.number.expect("every CRL has a cRLNumber")
    }

    fn serials(&self) -> BTreeSet<String> {
        self.info.entries.iter().map(|e| e.0.clone()).collect()
    }

    fn reason(&self, serial: &str) -> Option<u8> {
        self.info
            .entries
            .iter()
            .find(|e| e.0 == serial)
            .unwrap_or_else(|| panic!("{serial} is not on the CRL: {:?}", self.info.entries))
            .2
    }

    fn extension(&self, oid: &str) -> Option<&signet_x509::Extension> {
        self.info.extensions.iter().find(|e| e.oid == oid)
    }

    fn header(&self, name: &str) -> &str {
        self.response
            .header(name)
            .unwrap_or_else(|| panic!("{}: no {name} header", self.response.what))
    }
}

/// `GET path` anonymously, as relying parties fetch CRLs; must be a 200 CRL.
fn fetch_crl(server: &Server, path: &str) -> Crl {
    let response = http(server.addr(), "GET", path, &[], b"");
    assert_eq!(response.status, 200, "{response}");
    assert_eq!(response.content_type, "application/pkix-crl", "{response}");
    let info = parse_crl(&response.body).unwrap_or_else(|e| panic!("{path} is not a CRL: {e}"));
    let der = unique(&server.work, path, "crl.der");
    fs::write(&der, &response.body).unwrap();
    let pem = der.with_extension("pem");
    run_program(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            p(&der),
            "-outform",
            "PEM",
            "-out",
            p(&pem),
        ],
    )
    .expect_code(0);
    Crl {
        response,
        der,
        pem,
        info,
    }
}

/// `openssl crl -inform DER -CAfile CA -noout -text`: the signature must verify. Returns the
/// text (stdout and stderr).
fn crl_text(server: &Server, crl: &Crl) -> String {
    let ca = server.ca_cert_path();
    let run = run_program(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            p(&crl.der),
            "-CAfile",
            p(&ca),
            "-noout",
            "-text",
        ],
    );
    let out = both(&run);
    assert!(
        run.code == 0 && out.contains("verify OK") && !out.contains("verify fail"),
        "openssl does not accept the CRL's signature: {run}"
    );
    out
}

/// `openssl verify -crl_check [-use_deltas] -CAfile CA -CRLfile ... CERT`.
fn crl_check(server: &Server, cert: &Path, crls: &[&Path], use_deltas: bool) -> Run {
    let ca = server.ca_cert_path();
    let mut args = vec!["verify", "-crl_check"];
    if use_deltas {
        args.push("-use_deltas");
    }
    args.extend(["-CAfile", p(&ca)]);
    for crl in crls {
        args.extend(["-CRLfile", p(crl)]);
    }
    args.push(p(cert));
    run_program("openssl", &args)
}

fn expect_verified(run: &Run) {
    assert!(
        run.code == 0 && run.stdout.trim_end().ends_with(": OK"),
        "openssl should accept the certificate: {run}"
    );
}

fn expect_revoked(run: &Run) {
    assert!(
        run.code != 0 && both(run).contains("certificate revoked"),
        "openssl should reject the certificate as revoked: {run}"
    );
}

// ---------------------------------------------------------------------------------------
// OCSP
// ---------------------------------------------------------------------------------------

/// `openssl ocsp` for a certificate of this server's CA, at `/ocsp/{ca}` on the real address.
fn ocsp(server: &Server, cert: &Path, extra: &[&str]) -> Run {
    let path = format!("/ocsp/{}", server.ca);
    ocsp_with(server, &server.ca_cert_path(), &path, cert, extra)
}

/// `openssl ocsp -issuer ISSUER -cert CERT -url URL -CAfile CA -resp_text EXTRA`.
fn ocsp_with(server: &Server, issuer: &Path, path: &str, cert: &Path, extra: &[&str]) -> Run {
    let ca = server.ca_cert_path();
    let url = format!("{}{path}", server.url());
    let mut args = vec![
        "ocsp",
        "-issuer",
        p(issuer),
        "-cert",
        p(cert),
        "-url",
        url.as_str(),
        "-CAfile",
        p(&ca),
        "-resp_text",
    ];
    args.extend_from_slice(extra);
    run_program("openssl", &args)
}

/// An OCSP request file made by openssl (`-reqout`), for the HTTP tests.
fn ocsp_request(server: &Server, cert: &Path, nonce: bool) -> Vec<u8> {
    let out = unique(&server.work, "ocsp-request", "der");
    let ca = server.ca_cert_path();
    let mut args = vec![
        "ocsp",
        "-issuer",
        p(&ca),
        "-cert",
        p(cert),
        "-reqout",
        p(&out),
    ];
    if !nonce {
        args.push("-no_nonce");
    }
    run_program("openssl", &args).expect_code(0);
    fs::read(&out).unwrap()
}

/// The RFC 5019 §5 GET path of a DER request: base64 (by openssl), then URL-encoded.
fn ocsp_get_path(server: &Server, request: &[u8]) -> String {
    let file = unique(&server.work, "ocsp-get", "der");
    fs::write(&file, request).unwrap();
    let run = run_program("openssl", &["base64", "-A", "-in", p(&file)]);
    run.expect_code(0);
    let encoded = run
        .stdout
        .trim()
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("/ocsp/{}/{encoded}", server.ca)
}

/// An HTTP answer that must be an uncacheable OCSP error response: 200,
/// application/ocsp-response, `no-store`, and openssl reads `Responder Error: STATUS`.
fn expect_ocsp_error(server: &Server, r: &Response, status: &str) {
    assert_eq!(r.status, 200, "OCSP errors are OCSP responses: {r}");
    assert_eq!(r.content_type, "application/ocsp-response", "{r}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r}");
    let file = unique(&server.work, "ocsp-error", "der");
    fs::write(&file, &r.body).unwrap();
    let run = run_program(
        "openssl",
        &["ocsp", "-respin", p(&file), "-resp_text", "-noverify"],
    );
    assert!(
        both(&run).contains(&format!("Responder Error: {status}")),
        "{}: expected {status}: {run}",
        r.what
    );
}

fn post_ocsp(server: &Server, path: &str, content_type: &str, body: &[u8]) -> Response {
    http(
        server.addr(),
        "POST",
        path,
        &[("Content-Type", content_type)],
        body,
    )
}

// ---------------------------------------------------------------------------------------
// Text and time
// ---------------------------------------------------------------------------------------

fn p(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// stdout then stderr (openssl writes "verify OK" and "Response verify OK" to stderr).
fn both(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

/// The lines of openssl `-text` output under the first line starting with `head` (trimmed):
/// everything indented deeper than it.
fn block(text: &str, head: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some(i) = lines.iter().position(|l| l.trim().starts_with(head)) else {
        return Vec::new();
    };
    let base = indent(lines[i]);
    lines[i + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > base)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The first line under `head` (e.g. "X509v3 CRL Number:" → "5").
fn first_line_of(text: &str, head: &str) -> String {
    block(text, head)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {head:?} in:\n{text}"))
}

/// The URIs of a certificate's cRLDistributionPoints, from `openssl x509 -text`.
fn cdp_uris(cert_text: &str) -> Vec<String> {
    block(cert_text, "X509v3 CRL Distribution Points:")
        .iter()
        .filter_map(|l| l.strip_prefix("URI:"))
        .map(str::to_string)
        .collect()
}

/// The first PEM certificate in openssl output.
fn pem_in(text: &str) -> String {
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .unwrap_or_else(|| panic!("no certificate in:\n{text}"));
    let end_marker = "-----END CERTIFICATE-----";
    let end = text[begin..].find(end_marker).expect("PEM end") + begin + end_marker.len();
    format!("{}\n", &text[begin..end])
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

/// Seconds since 1970 of an IMF-fixdate (`Tue, 01 Dec 2026 20:30:08 GMT`, RFC 9110 §5.6.7).
fn http_date_secs(s: &str) -> u64 {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = s.split_whitespace().collect();
    assert!(
        parts.len() == 6 && parts[0].ends_with(',') && parts[5] == "GMT",
        "not an IMF-fixdate: {s:?}"
    );
    let day: i64 = parts[1].parse().expect("day");
    let month = MONTHS
        .iter()
        .position(|m| *m == parts[2])
        .unwrap_or_else(|| panic!("month in {s:?}")) as i64
        + 1;
    let year: i64 = parts[3].parse().expect("year");
    let hms: Vec<i64> = parts[4]
        .split(':')
        .map(|v| v.parse().expect("time"))
        .collect();
    // Days from civil (H. Hinnant): March-based years make February the last month.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]).expect("after 1970")
}

/// `max-age=N` of a Cache-Control value.
fn max_age(cache_control: &str) -> u64 {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {cache_control:?}"))
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// A full CRL: the certificate names it (CDP) and the OCSP responder and issuer (AIA); a
/// keyCompromise revocation with an invalidity date appears on it once published (REST and
/// `signet crl publish`), numbers grow, openssl verifies its signature and rejects the
/// revoked certificate under `-crl_check` while accepting another; its IDP is 2.5.29.28,
/// critical, equal to the CDP; and it is served with cache headers and answers 304.
#[test]
fn full_crl_revokes_for_openssl_and_is_cacheable() {
    const PUBLIC: &str = "http://pki.signet.test";
    let server = start_with(
        &[],
        &[("server", "public_url", "\"http://pki.signet.test\"")],
    );
    let admin = server.admin_token();
    let mgr = server.create_token(&["manager"], "mgr");
    let ca = server.ca_cert_path();

    let leaf = issue(&server, "crl.test");
    let kept = issue(&server, "kept.test");
    let text = cert_text(&leaf.pem);
    let cdp = format!("{PUBLIC}/crl/demo.crl");
    assert_eq!(cdp_uris(&text), std::slice::from_ref(&cdp), "{text}");
    let aia = block(&text, "Authority Information Access:");
    assert_eq!(
        aia,
        [
            format!("OCSP - URI:{PUBLIC}/ocsp/demo"),
            format!("CA Issuers - URI:{PUBLIC}/ca/demo.crt"),
        ],
        "{text}"
    );
    // The caIssuers path serves the CA certificate.
    let issuer = http(server.addr(), "GET", "/ca/demo.crt", &[], b"");
    assert_eq!(issuer.status, 200, "{issuer}");
    assert_eq!(
        issuer.body,
        cert_der(&ca),
        "/ca/demo.crt is the CA certificate"
    );

    revoke(
        &server,
        &mgr,
        &leaf.serial,
        "keyCompromise",
        Some(INVALIDITY),
    );
    let first = publish(&server, &admin, false);
    let full = published(&first, 0, false);
    assert_eq!(full["entries"], 1, "{first:#?}");
    assert_eq!(full["url"], cdp.as_str(), "{first:#?}");
    let delta = published(&first, 0, true);
    assert_eq!(delta["delta_base"], full["number"], "{first:#?}");
    assert!(number(delta) > number(full), "{first:#?}");
    let before = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(before.number(), number(full));

    let second = cli_publish(&server, false);
    let full2 = number(published(&second, 0, false));
    assert!(
        full2 > number(delta),
        "CRL numbers only grow: {first:#?} then {second:#?}"
    );
    let crl = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(crl.number(), full2);

    // openssl: signed by the CA; the entry with its reason and invalidity date.
    let text = crl_text(&server, &crl);
    assert_eq!(
        first_line_of(&text, "X509v3 CRL Number:"),
        full2.to_string()
    );
    let entry = block(&text, &format!("Serial Number: {}", leaf.upper())).join("\n");
    assert!(
        entry.contains("Key Compromise") && entry.contains(INVALIDITY_OPENSSL),
        "the entry of {}:\n{text}",
        leaf.serial
    );
    assert!(!text.contains(&kept.upper()), "{text}");
    assert_eq!(
        crl.serials(),
        BTreeSet::from([leaf.serial.clone()]),
        "{:?}",
        crl.info.entries
    );
    assert_eq!(crl.reason(&leaf.serial), Some(KEY_COMPROMISE));

    // The issuingDistributionPoint: its RFC 5280 OID, critical, naming the CDP.
    let idp = crl.extension(OID_IDP).expect("an issuingDistributionPoint");
    assert!(idp.critical, "the IDP is critical");
    assert!(
        crl.extension(OID_SUBJECT_INFO_ACCESS).is_none(),
        "no IDP written under the subjectInfoAccess OID"
    );
    assert_eq!(crl.info.distribution_point().as_deref(), Some(cdp.as_str()));
    assert_eq!(
        block(&text, "X509v3 Issuing Distribution Point: critical"),
        ["Full Name:", &format!("URI:{cdp}")],
        "{text}"
    );

    expect_revoked(&crl_check(&server, &leaf.pem, &[&crl.pem], false));
    expect_verified(&crl_check(&server, &kept.pem, &[&crl.pem], false));

    // OCSP tells the same story: the same revocation time and reason.
    let revoked_at = entry
        .lines()
        .find_map(|l| l.strip_prefix("Revocation Date: "))
        .unwrap_or_else(|| panic!("no revocation date:\n{text}"));
    let run = ocsp(&server, &leaf.pem, &[]);
    let out = expect_ocsp_status(&run, &leaf.pem, "revoked");
    assert!(
        out.contains(&format!("Revocation Time: {revoked_at}"))
            && out.contains("Reason: keyCompromise"),
        "OCSP and the CRL agree (CRL: {revoked_at}): {run}"
    );

    // HTTP: dates from the CRL, max-age at most an hour, conditional GET.
    assert_eq!(
        http_date_secs(crl.header("last-modified")),
        unix(crl.info.this_update)
    );
    assert_eq!(
        http_date_secs(crl.header("expires")),
        unix(crl.info.next_update.expect("nextUpdate"))
    );
    let cache = crl.header("cache-control");
    assert!(
        cache.starts_with("public") && cache.contains("no-transform"),
        "{cache}"
    );
    assert!((1..=3600).contains(&max_age(cache)), "{cache}");
    let etag = crl.header("etag").to_string();
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "{etag}"
    );
    assert_ne!(etag, before.header("etag"), "a new CRL has a new ETag");
    let cached = http(
        server.addr(),
        "GET",
        "/crl/demo.crl",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(cached.status, 304, "{cached}");
    assert!(cached.body.is_empty(), "{cached}");
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    let stale = http(
        server.addr(),
        "GET",
        "/crl/demo.crl",
        &[("If-None-Match", before.header("etag"))],
        b"",
    );
    assert_eq!(stale.status, 200, "an old ETag gets the new CRL: {stale}");
    assert_eq!(stale.body, crl.response.body);

    // Unknown CAs and partitions are 404, and so are non-canonical partition numbers.
    for path in [
        "/crl/nope.crl",
        "/crl/demo/3.crl",
        "/crl/demo/0.crl",
        "/crl/demo/00-delta.crl",
        "/crl/demo/+0.crl",
        "/crl/demo",
    ] {
        let r = http(server.addr(), "GET", path, &[], b"");
        assert_eq!(r.status, 404, "{r}");
    }
}

/// Delta CRLs: after a base, a hold and a keyCompromise appear in `signet crl publish
/// --delta` (deltaCRLIndicator = the base's number, same IDP as the base); releasing the
/// hold lists the serial as removeFromCRL in the next delta; the base (whose freshestCRL names
/// the delta URL) stays the same until a full publication. openssl verifies every delta and
/// applies them with `-use_deltas`.
#[test]
fn delta_crls_follow_holds_revocations_and_releases() {
    let server = Server::start(&[]);
    let admin = server.admin_token();
    let mgr = server.create_token(&["manager"], "mgr");
    let held = issue(&server, "held.test");
    let compromised = issue(&server, "compromised.test");

    let base_number = number(published(&publish(&server, &admin, false), 0, false));
    let base = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(base.number(), base_number);
    assert!(base.serials().is_empty(), "{:?}", base.info.entries);
    let delta_url = format!("{INIT_PUBLIC_URL}/crl/demo/delta.crl");
    let freshest = crl_text(&server, &base);
    assert_eq!(
        block(&freshest, "X509v3 Freshest CRL:"),
        ["Full Name:", &format!("URI:{delta_url}")],
        "{freshest}"
    );
    assert!(
        base.extension(OID_FRESHEST_CRL)
            .is_some_and(|e| !e.critical)
    );

    revoke(&server, &mgr, &held.serial, "certificateHold", None);
    revoke(&server, &mgr, &compromised.serial, "keyCompromise", None);
    let answer = cli_publish(&server, true);
    assert_eq!(
        answer.len(),
        1,
        "only the delta of partition 0: {answer:#?}"
    );
    let d1 = published(&answer, 0, true);
    assert_eq!(d1["delta_base"], base_number, "{answer:#?}");
    assert_eq!(d1["entries"], 2, "{answer:#?}");
    assert_eq!(d1["url"], delta_url.as_str(), "{answer:#?}");

    let delta = fetch_crl(&server, "/crl/demo/delta.crl");
    assert_eq!(delta.number(), number(d1));
    assert_eq!(delta.info.delta_base, Some(base_number));
    assert!(
        delta
            .extension(OID_DELTA_CRL_INDICATOR)
            .is_some_and(|e| e.critical),
        "the deltaCRLIndicator is critical"
    );
    assert!(
        delta.extension(OID_FRESHEST_CRL).is_none(),
        "a delta names no other delta"
    );
    assert_eq!(
        delta.info.distribution_point(),
        base.info.distribution_point(),
        "a delta has its base's scope"
    );
    assert_eq!(delta.reason(&held.serial), Some(CERTIFICATE_HOLD));
    assert_eq!(delta.reason(&compromised.serial), Some(KEY_COMPROMISE));
    let text = crl_text(&server, &delta);
    assert_eq!(
        first_line_of(&text, "X509v3 Delta CRL Indicator: critical"),
        base_number.to_string(),
        "{text}"
    );
    assert!(
        block(&text, &format!("Serial Number: {}", held.upper()))
            .contains(&"Certificate Hold".to_string()),
        "{text}"
    );

    // The base alone does not know; base + delta does.
    expect_verified(&crl_check(&server, &compromised.pem, &[&base.pem], false));
    expect_revoked(&crl_check(
        &server,
        &compromised.pem,
        &[&base.pem, &delta.pem],
        true,
    ));
    expect_revoked(&crl_check(
        &server,
        &held.pem,
        &[&base.pem, &delta.pem],
        true,
    ));

    // Release the hold: the next delta says removeFromCRL.
    unrevoke(&server, &mgr, &held.serial);
    let d2 = number(published(&publish(&server, &admin, true), 0, true));
    assert!(d2 > delta.number());
    let delta2 = fetch_crl(&server, "/crl/demo/delta.crl");
    assert_eq!(delta2.number(), d2);
    assert_eq!(delta2.info.delta_base, Some(base_number));
    assert_eq!(delta2.reason(&held.serial), Some(REMOVE_FROM_CRL));
    assert_eq!(delta2.reason(&compromised.serial), Some(KEY_COMPROMISE));
    let text = crl_text(&server, &delta2);
    assert!(
        block(&text, &format!("Serial Number: {}", held.upper()))
            .contains(&"Remove From CRL".to_string()),
        "{text}"
    );
    expect_verified(&crl_check(
        &server,
        &held.pem,
        &[&base.pem, &delta2.pem],
        true,
    ));
    expect_revoked(&crl_check(
        &server,
        &compromised.pem,
        &[&base.pem, &delta2.pem],
        true,
    ));

    // The base has not moved.
    let same = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(
        same.response.body, base.response.body,
        "delta publication left the base alone"
    );

    // A full publication folds the changes in and starts a new, empty delta.
    let answer = publish(&server, &admin, false);
    let full = published(&answer, 0, false);
    let fresh = published(&answer, 0, true);
    assert_eq!(fresh["delta_base"], full["number"]);
    assert_eq!(fresh["entries"], 0, "{answer:#?}");
    let new_base = fetch_crl(&server, "/crl/demo.crl");
    assert!(new_base.number() > d2);
    assert_eq!(
        new_base.serials(),
        BTreeSet::from([compromised.serial.clone()]),
        "a released hold is not on the new base"
    );
    let new_delta = fetch_crl(&server, "/crl/demo/delta.crl");
    assert_eq!(new_delta.info.delta_base, Some(new_base.number()));
    assert!(new_delta.serials().is_empty());
    crl_text(&server, &new_delta);

    // The classic case: a hold on the base, released in a delta (RFC 5280 §5.3.1), and a
    // hold made final, which the delta lists with its new reason.
    let final_hold = issue(&server, "final.test");
    revoke(&server, &mgr, &held.serial, "certificateHold", None);
    revoke(&server, &mgr, &final_hold.serial, "certificateHold", None);
    publish(&server, &admin, false);
    let held_base = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(held_base.reason(&held.serial), Some(CERTIFICATE_HOLD));
    assert_eq!(held_base.reason(&final_hold.serial), Some(CERTIFICATE_HOLD));
    unrevoke(&server, &mgr, &held.serial);
    revoke(&server, &mgr, &final_hold.serial, "keyCompromise", None);
    publish(&server, &admin, true);
    let release = fetch_crl(&server, "/crl/demo/delta.crl");
    assert_eq!(release.info.delta_base, Some(held_base.number()));
    assert_eq!(
        release.serials(),
        BTreeSet::from([held.serial.clone(), final_hold.serial.clone()]),
        "only the changes since the base"
    );
    assert_eq!(release.reason(&held.serial), Some(REMOVE_FROM_CRL));
    assert_eq!(release.reason(&final_hold.serial), Some(KEY_COMPROMISE));
    crl_text(&server, &release);
    expect_revoked(&crl_check(&server, &held.pem, &[&held_base.pem], false));
    expect_verified(&crl_check(
        &server,
        &held.pem,
        &[&held_base.pem, &release.pem],
        true,
    ));
    expect_revoked(&crl_check(
        &server,
        &final_hold.pem,
        &[&held_base.pem, &release.pem],
        true,
    ));
}

/// With `delta_period = "0s"` there are no deltas: no delta URL, no freshestCRL in the base,
/// and `signet crl publish --delta` is refused.
#[test]
fn delta_crls_can_be_turned_off() {
    let server = start_with(&[], &[("ca.revocation", "delta_period", "\"0s\"")]);
    let admin = server.admin_token();
    let answer = publish(&server, &admin, false);
    assert_eq!(answer.len(), 1, "only the full CRL: {answer:#?}");
    let base = fetch_crl(&server, "/crl/demo.crl");
    assert!(base.extension(OID_FRESHEST_CRL).is_none(), "no freshestCRL");
    assert!(!crl_text(&server, &base).contains("Freshest CRL"));
    let r = http(server.addr(), "GET", "/crl/demo/delta.crl", &[], b"");
    assert_eq!(r.status, 404, "{r}");
    let r = server.call(
        Some(&admin),
        "POST",
        &format!("/api/v1/cas/{}/crls", server.ca),
        Some(&json!({ "delta": true })),
    );
    r.expect_problem(400);
    let url = server.url();
    let run = run_signet(
        &[
            "crl", "publish", "--delta", "--token", &admin, "--server", &url,
        ],
        &[],
        None,
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("delta"), "{run}");
}

/// Partitioned CRLs (`partitions = 4`): each certificate's CDP names one partition
/// `/crl/demo/N.crl` (1 ≤ N ≤ 4); each partition's CRL lists exactly the revoked certificates
/// naming it, its IDP is that URL, and openssl uses the right one: it rejects a revoked
/// certificate with its partition's CRL and finds no CRL in scope in another partition's.
#[test]
fn partitioned_crls_list_their_own_certificates() {
    let server = start_with(&[], &[("ca.revocation", "partitions", "4")]);
    let admin = server.admin_token();
    let mgr = server.create_token(&["manager"], "mgr");

    let mut leaves = Vec::new();
    for i in 0..12 {
        let leaf = issue(&server, &format!("p{i}.test"));
        let uris = cdp_uris(&cert_text(&leaf.pem));
        assert_eq!(uris.len(), 1, "{uris:?}");
        let shard: u64 = uris[0]
            .strip_prefix(&format!("{INIT_PUBLIC_URL}/crl/demo/"))
            .and_then(|s| s.strip_suffix(".crl"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a partition CDP: {}", uris[0]));
        assert!((1..=4).contains(&shard), "{}", uris[0]);
        leaves.push((leaf, shard));
    }
    let revoked: Vec<&(Leaf, u64)> = leaves.iter().step_by(2).collect();
    for (leaf, _) in &revoked {
        revoke(&server, &mgr, &leaf.serial, "superseded", None);
    }

    // A certificate imported from outside names no partition: it is on the main CRL.
    let outside = sign_outside(
        &server,
        "outside.test",
        "7e57",
        "20250101000000Z",
        "20350101000000Z",
    );
    import(&server, &admin, &outside);
    revoke(&server, &mgr, "7e57", "superseded", None);

    let answer = publish(&server, &admin, false);
    assert_eq!(
        answer.len(),
        10,
        "full + delta of partitions 0..=4: {answer:#?}"
    );
    let main = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(
        main.serials(),
        BTreeSet::from(["7e57".to_string()]),
        "only the imported certificate is on the main CRL"
    );
    let mut crls = Vec::new();
    for shard in 1..=4u64 {
        let url = format!("{INIT_PUBLIC_URL}/crl/demo/{shard}.crl");
        let full = published(&answer, shard, false);
        assert_eq!(full["url"], url.as_str(), "{answer:#?}");
        let crl = fetch_crl(&server, &format!("/crl/demo/{shard}.crl"));
        assert_eq!(crl.number(), number(full));
        let want: BTreeSet<String> = revoked
            .iter()
            .filter(|(_, s)| *s == shard)
            .map(|(l, _)| l.serial.clone())
            .collect();
        assert_eq!(crl.serials(), want, "partition {shard}");
        assert_eq!(full["entries"], want.len() as u64, "{answer:#?}");
        assert_eq!(crl.info.distribution_point().as_deref(), Some(url.as_str()));
        let text = crl_text(&server, &crl);
        assert!(text.contains(&format!("URI:{url}")), "{text}");
        let delta = fetch_crl(&server, &format!("/crl/demo/{shard}-delta.crl"));
        assert_eq!(delta.info.delta_base, Some(crl.number()));
        assert_eq!(
            delta.info.distribution_point().as_deref(),
            Some(url.as_str())
        );
        // One URL per CRL: no aliases such as `01.crl` or `+1.crl`.
        for alias in [format!("0{shard}.crl"), format!("+{shard}.crl")] {
            let r = http(
                server.addr(),
                "GET",
                &format!("/crl/demo/{alias}"),
                &[],
                b"",
            );
            assert_eq!(r.status, 404, "{alias}: {r}");
        }
        crl_text(&server, &delta);
        crls.push((shard, crl));
    }
    let crl_of = |shard: u64| &crls.iter().find(|(s, _)| *s == shard).unwrap().1;

    for (leaf, shard) in &leaves {
        let own = crl_check(&server, &leaf.pem, &[&crl_of(*shard).pem], false);
        if revoked.iter().any(|(l, _)| l.serial == leaf.serial) {
            expect_revoked(&own);
        } else {
            expect_verified(&own);
        }
        // Another partition's CRL is out of this certificate's scope (its IDP is not the
        // certificate's CDP), so openssl has no CRL for it.
        let other = shard % 4 + 1;
        let foreign = crl_check(&server, &leaf.pem, &[&crl_of(other).pem], false);
        assert!(
            foreign.code != 0 && both(&foreign).contains("different CRL scope"),
            "partition {other}'s CRL must not cover a partition {shard} certificate: {foreign}"
        );
    }

    // Fewer partitions later: certificates keep theirs, so partitions 3 and 4 are still
    // published while they hold certificates; new certificates go to 1 and 2 only.
    let mut server = server;
    server.stop_ok();
    set_toml(&server, "ca.revocation", "partitions", "2");
    server.serve();
    for (leaf, shard) in leaves.iter().filter(|(_, s)| *s > 2) {
        if !revoked.iter().any(|(l, _)| l.serial == leaf.serial) {
            revoke(&server, &mgr, &leaf.serial, "superseded", None);
        }
        let answer = publish(&server, &admin, false);
        assert!(
            answer.iter().any(|c| c["shard"] == *shard),
            "partition {shard} still holds certificates: {answer:#?}"
        );
        let crl = fetch_crl(&server, &format!("/crl/demo/{shard}.crl"));
        assert!(crl.serials().contains(&leaf.serial), "partition {shard}");
        expect_revoked(&crl_check(&server, &leaf.pem, &[&crl.pem], false));
    }
    for i in 0..6 {
        let uris = cdp_uris(&cert_text(&issue(&server, &format!("q{i}.test")).pem));
        assert!(
            [1, 2]
                .iter()
                .any(|n| uris == [format!("{INIT_PUBLIC_URL}/crl/demo/{n}.crl")]),
            "{uris:?}"
        );
    }

    // More partitions: the new ones have CRLs as soon as the server listens.
    server.stop_ok();
    set_toml(&server, "ca.revocation", "partitions", "6");
    server.serve();
    for shard in [5, 6] {
        let crl = fetch_crl(&server, &format!("/crl/demo/{shard}.crl"));
        assert!(crl.serials().is_empty());
        assert_eq!(
            crl.info.distribution_point(),
            Some(format!("{INIT_PUBLIC_URL}/crl/demo/{shard}.crl"))
        );
        crl_text(&server, &crl);
        fetch_crl(&server, &format!("/crl/demo/{shard}-delta.crl"));
    }
}

/// A fresh CA serves its first CRLs as soon as it listens; CRL numbers continue across a
/// graceful restart and a crash; the stored CRLs are served at once after a start, without a
/// publication; revocations persist.
#[test]
fn crl_numbers_and_revocations_survive_restarts() {
    let mut server = Server::start(&[]);
    // Straight after the first listening line: published during start, not on a timer.
    let initial = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(initial.number(), 1, "the first CRL of a new CA");
    let initial_delta = fetch_crl(&server, "/crl/demo/delta.crl");
    assert_eq!(initial_delta.info.delta_base, Some(1));
    let admin = server.admin_token();
    let mgr = server.create_token(&["manager"], "mgr");
    let leaf = issue(&server, "restart.test");
    revoke(&server, &mgr, &leaf.serial, "keyCompromise", None);
    publish(&server, &admin, false);
    publish(&server, &admin, true);
    let full = fetch_crl(&server, "/crl/demo.crl");
    let delta = fetch_crl(&server, "/crl/demo/delta.crl");
    let highest = |s: &Server| {
        list_crls(s, &admin)
            .iter()
            .map(number)
            .max()
            .expect("CRLs were published")
    };
    let last = highest(&server);

    server.restart();
    // Straight after the listening line, before any publication.
    let served = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(served.response.body, full.response.body);
    assert_eq!(served.header("etag"), full.header("etag"));
    let served_delta = fetch_crl(&server, "/crl/demo/delta.crl");
    assert_eq!(served_delta.response.body, delta.response.body);
    assert_eq!(highest(&server), last, "nothing was due at start");

    // A delta after the restart lists only what changed since its base's snapshot, which
    // was taken before the restart.
    let later = issue(&server, "later.test");
    revoke(&server, &mgr, &later.serial, "superseded", None);
    let answer = publish(&server, &admin, true);
    let d = published(&answer, 0, true);
    assert!(number(d) > last, "{d} after {last}");
    assert_eq!(d["delta_base"], full.number());
    let after_restart = fetch_crl(&server, "/crl/demo/delta.crl");
    assert_eq!(
        after_restart.serials(),
        BTreeSet::from([later.serial.clone()]),
        "the delta of a base from before the restart"
    );

    let next = number(published(&publish(&server, &admin, false), 0, false));
    assert!(next > number(d), "{next} after {d}");
    let crl = fetch_crl(&server, "/crl/demo.crl");
    assert!(
        crl.serials().contains(&leaf.serial),
        "the revocation persisted"
    );
    expect_revoked(&crl_check(&server, &leaf.pem, &[&crl.pem], false));
    let run = ocsp(&server, &leaf.pem, &["-no_nonce"]);
    expect_ocsp_status(&run, &leaf.pem, "revoked");

    // A crash (SIGKILL) loses no number either.
    let last = highest(&server);
    server.kill();
    server.serve();
    assert_eq!(
        fetch_crl(&server, "/crl/demo.crl").response.body,
        crl.response.body
    );
    let next = number(published(&cli_publish(&server, false), 0, false));
    assert!(next > last, "{next} after {last}");

    // The numbers from every run are listed, each once.
    let run = server.cli(&["crl", "list", "--json", "--token", &admin]);
    run.expect_code(0);
    let listed: Vec<u64> = serde_json::from_str::<Value>(&run.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(number)
        .collect();
    let distinct: BTreeSet<u64> = listed.iter().copied().collect();
    assert_eq!(distinct.len(), listed.len(), "{listed:?}");
    assert!(
        distinct.contains(&last) && distinct.contains(&next),
        "{listed:?}"
    );
}

/// A revoked certificate that has expired leaves the CRL with `keep_expired = "0s"`, and
/// stays on it with `keep_expired = "3650d"`. The expired certificate is made with the CA key
/// by `openssl ca` (validity in 2020) and imported.
#[test]
fn expired_certificates_leave_the_crl_unless_kept() {
    let mut server = Server::start(&[]);
    let admin = server.admin_token();
    let mgr = server.create_token(&["manager"], "mgr");
    let expired = sign_outside(
        &server,
        "expired.test",
        "0badc0de",
        "20200101000000Z",
        "20200601000000Z",
    );
    assert!(
        cert_text(&expired).contains("Not After : Jun  1 00:00:00 2020 GMT"),
        "{}",
        cert_text(&expired)
    );
    import(&server, &admin, &expired);
    revoke(&server, &mgr, "0badc0de", "keyCompromise", None);
    let current = issue(&server, "current.test");
    revoke(&server, &mgr, &current.serial, "keyCompromise", None);

    publish(&server, &admin, false);
    let crl = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(
        crl.serials(),
        BTreeSet::from([current.serial.clone()]),
        "an expired certificate is not listed with keep_expired = 0s"
    );
    assert!(!crl_text(&server, &crl).contains("Serial Number: 0BADC0DE"));

    server.stop_ok();
    set_toml(&server, "ca.revocation", "keep_expired", "\"3650d\"");
    server.serve();
    publish(&server, &admin, false);
    let crl = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(
        crl.serials(),
        BTreeSet::from([current.serial.clone(), "0badc0de".to_string()]),
        "keep_expired = 3650d keeps it"
    );
    let text = crl_text(&server, &crl);
    assert!(
        block(&text, "Serial Number: 0BADC0DE").contains(&"Key Compromise".to_string()),
        "{text}"
    );
}

/// With `crl_period = "3s"` and `delta_period = "1s"` the maintenance loop publishes full
/// CRLs and deltas on its own, valid for period + overlap, and a `file` exit asking for
/// `CrlIssued` gets one record per publication.
#[test]
fn crls_are_published_on_schedule_and_announced_to_exits() {
    let mut server = Server::init(&["--dev"]);
    for (key, value) in [
        ("crl_period", "\"3s\""),
        ("crl_overlap", "\"2s\""),
        ("delta_period", "\"1s\""),
        ("delta_overlap", "\"1s\""),
    ] {
        set_toml(&server, "ca.revocation", key, value);
    }
    server.append_config(
        "[[ca.exit]]\nname = \"crls\"\nmodule = \"file\"\ndirectory = \"exits/crls\"\nevents = [\"CrlIssued\"]\n",
    );
    server.serve();
    let admin = server.admin_token();

    let first = fetch_crl(&server, "/crl/demo.crl");
    let validity = |c: &Crl| {
        c.info
            .next_update
            .expect("nextUpdate")
            .duration_since(c.info.this_update)
            .unwrap()
    };
    assert_eq!(
        validity(&first),
        Duration::from_secs(5),
        "crl_period + crl_overlap"
    );
    // Without any publish call: a new full CRL, and a delta published on its own (a delta
    // published with its base is numbered base + 1; a timed one comes later).
    wait_until(
        Duration::from_secs(15),
        "a scheduled full CRL and a scheduled delta",
        || {
            let list = list_crls(&server, &admin);
            let full_again = list
                .iter()
                .any(|c| c.get("delta_base").is_none() && number(c) > first.number());
            let timed_delta = list
                .iter()
                .any(|c| c["delta_base"].as_u64().is_some_and(|b| number(c) > b + 1));
            (full_again && timed_delta).then_some(())
        },
    );
    let newer = fetch_crl(&server, "/crl/demo.crl");
    assert!(newer.number() > first.number());
    assert_eq!(validity(&newer), Duration::from_secs(5));
    crl_text(&server, &newer);
    let delta = fetch_crl(&server, "/crl/demo/delta.crl");
    assert_eq!(
        validity(&delta),
        Duration::from_secs(2),
        "delta_period + delta_overlap"
    );
    crl_text(&server, &delta);

    // One CrlIssued record per publication, numbered as published. Delivery is
    // asynchronous: wait for the record of the newer full CRL.
    let dir = server.data.join("exits/crls");
    let number_of = |f: &EventFile| f.json()["details"]["number"].as_u64();
    let records = wait_until(
        DELIVERY_TIMEOUT,
        &format!("a CrlIssued record of CRL {}", newer.number()),
        || {
            let files = event_files(&dir);
            files
                .iter()
                .any(|f| number_of(f) == Some(newer.number()))
                .then_some(files)
        },
    );
    let mut numbers = Vec::new();
    for f in &records {
        assert_eq!(
            f.event, "CrlIssued",
            "only the asked-for events: {:?}",
            f.path
        );
        let rec = f.json();
        assert_eq!(rec["event"], "CrlIssued", "{rec:#}");
        assert_eq!(rec["ca"], "demo", "{rec:#}");
        assert_eq!(rec["details"]["shard"], 0, "{rec:#}");
        assert!(rec.get("request").is_none(), "{rec:#}");
        numbers.push(number_of(f).unwrap_or_else(|| panic!("{rec:#}")));
    }
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in publication order: {numbers:?}"
    );
    let upto: Vec<u64> = numbers
        .iter()
        .copied()
        .filter(|&n| n <= newer.number())
        .collect();
    assert_eq!(
        upto,
        (1..=newer.number()).collect::<Vec<_>>(),
        "one record per publication since the first, none missing"
    );
    assert!(numbers.contains(&first.number()), "{numbers:?}");
}

/// OCSP with `openssl ocsp` against the delegated responder: good with and without a nonce,
/// revoked at once after a revocation (no CRL publication; the cached answer is dropped),
/// certificateHold then good again after release, unknown for a certificate the CA key signed
/// outside Signet. The responder certificate carries id-kp-OCSPSigning and ocsp-nocheck. RFC
/// 5019 GET answers with cache headers from `ocsp_validity`; nonce requests are `no-store`.
#[test]
fn ocsp_answers_good_revoked_and_unknown() {
    let server = start_with(&[], &[("ca.revocation", "ocsp_validity", "\"2h\"")]);
    let mgr = server.create_token(&["manager"], "mgr");
    let ca = server.ca_cert_path();
    let leaf = issue(&server, "ocsp.test");
    let held = issue(&server, "held.test");

    let run = ocsp(&server, &leaf.pem, &[]);
    let out = expect_ocsp_status(&run, &leaf.pem, "good");
    assert!(
        out.contains("OCSP Nonce") && !out.contains("WARNING: no nonce"),
        "the nonce is echoed: {run}"
    );
    let run = ocsp(&server, &leaf.pem, &["-no_nonce"]);
    let out = expect_ocsp_status(&run, &leaf.pem, "good");
    assert!(!out.contains("OCSP Nonce"), "{run}");
    // A SHA-256 CertID is answered in kind (openssl wants the digest before -cert).
    let url = format!("{}/ocsp/demo", server.url());
    let run = run_program(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            p(&ca),
            "-sha256",
            "-cert",
            p(&leaf.pem),
            "-url",
            &url,
            "-CAfile",
            p(&ca),
            "-resp_text",
        ],
    );
    let out = expect_ocsp_status(&run, &leaf.pem, "good");
    assert!(out.contains("Hash Algorithm: sha256"), "{run}");
    let answered = server
        .metric("signet_ocsp_responses_total")
        .expect("an OCSP counter");
    assert!(answered >= 3.0, "{answered}");

    // The delegated responder.
    let responder = write_pem(&server.work, "responder", &pem_in(&out));
    openssl_verify(&ca, &responder);
    let rtext = cert_text(&responder);
    assert!(
        rtext.contains("Subject: CN = demo OCSP Responder"),
        "{rtext}"
    );
    assert_eq!(
        block(&rtext, "X509v3 Extended Key Usage:"),
        ["OCSP Signing"]
    );
    assert!(rtext.contains("OCSP No Check"), "{rtext}");
    let key_id = first_line_of(&rtext, "X509v3 Subject Key Identifier:").replace(':', "");
    assert!(
        out.contains(&format!("Responder Id: {key_id}")),
        "the ResponderID is the responder's key hash: {out}"
    );
    pkilint(&responder);

    revoke(&server, &mgr, &leaf.serial, "keyCompromise", None);
    let run = ocsp(&server, &leaf.pem, &["-no_nonce"]);
    let out = expect_ocsp_status(&run, &leaf.pem, "revoked");
    assert!(
        out.contains("Reason: keyCompromise") && out.contains("Revocation Time:"),
        "{run}"
    );

    expect_ocsp_status(&ocsp(&server, &held.pem, &["-no_nonce"]), &held.pem, "good");
    revoke(&server, &mgr, &held.serial, "certificateHold", None);
    let run = ocsp(&server, &held.pem, &["-no_nonce"]);
    assert!(
        expect_ocsp_status(&run, &held.pem, "revoked").contains("Reason: certificateHold"),
        "{run}"
    );
    unrevoke(&server, &mgr, &held.serial);
    expect_ocsp_status(&ocsp(&server, &held.pem, &["-no_nonce"]), &held.pem, "good");

    let never = sign_outside(
        &server,
        "never.test",
        "4242",
        "20250101000000Z",
        "20350101000000Z",
    );
    expect_ocsp_status(&ocsp(&server, &never, &[]), &never, "unknown");

    // Several certificates in one request, each answered.
    let run = run_program(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            p(&ca),
            "-cert",
            p(&leaf.pem),
            "-cert",
            p(&held.pem),
            "-cert",
            p(&never),
            "-url",
            &url,
            "-CAfile",
            p(&ca),
        ],
    );
    let out = expect_ocsp_status(&run, &leaf.pem, "revoked");
    assert!(
        out.contains(&format!("{}: good", p(&held.pem)))
            && out.contains(&format!("{}: unknown", p(&never))),
        "{run}"
    );

    // RFC 5019 GET.
    let request = ocsp_request(&server, &held.pem, false);
    let path = ocsp_get_path(&server, &request);
    let get = http(server.addr(), "GET", &path, &[], b"");
    assert_eq!(get.status, 200, "{get}");
    assert_eq!(get.content_type, "application/ocsp-response", "{get}");
    let cache = get.header("cache-control").expect("Cache-Control");
    assert!(
        cache.starts_with("public,")
            && cache.contains("no-transform")
            && cache.contains("must-revalidate"),
        "{cache}"
    );
    assert!(
        (7190..=7200).contains(&max_age(cache)),
        "max-age follows ocsp_validity = 2h: {cache}"
    );
    let last_modified = http_date_secs(get.header("last-modified").expect("Last-Modified"));
    let expires = http_date_secs(get.header("expires").expect("Expires"));
    assert_eq!(expires - last_modified, 7200, "{:?}", get.headers);
    let etag = get.header("etag").expect("ETag").to_string();
    assert!(etag.len() > 2, "{etag}");
    expect_ocsp_body(&server, &get.body, &held.pem, "good");
    // The same request again is the cached response, byte for byte; so is the request
    // with its base64 '/' left unescaped (as many clients send it).
    let again = http(server.addr(), "GET", &path, &[], b"");
    assert_eq!(again.body, get.body);
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let raw = http(server.addr(), "GET", &path.replace("%2F", "/"), &[], b"");
    assert_eq!(raw.status, 200, "{raw}");
    assert_eq!(raw.body, get.body);
    // The repeated GET is served from finished answers, but never past a revocation: the
    // same URL right after the change answers `revoked`, and `good` again once released.
    for (change, status) in [("hold", "revoked"), ("release", "good")] {
        match change {
            "hold" => revoke(&server, &mgr, &held.serial, "certificateHold", None),
            _ => unrevoke(&server, &mgr, &held.serial),
        }
        let after = http(server.addr(), "GET", &path, &[], b"");
        assert_eq!(after.status, 200, "{after}");
        if change == "hold" {
            assert_ne!(after.body, get.body, "a new answer after the hold");
        }
        expect_ocsp_body(&server, &after.body, &held.pem, status);
    }

    // POST: without a nonce cacheable, with a nonce `no-store`.
    let post = post_ocsp(&server, "/ocsp/demo", "application/ocsp-request", &request);
    assert_eq!(post.status, 200, "{post}");
    assert!(
        post.header("cache-control")
            .is_some_and(|c| c.starts_with("public,")),
        "{post}"
    );
    let with_nonce = ocsp_request(&server, &held.pem, true);
    let post = post_ocsp(
        &server,
        "/ocsp/demo",
        "application/ocsp-request",
        &with_nonce,
    );
    assert_eq!(post.status, 200, "{post}");
    assert_eq!(post.header("cache-control"), Some("no-store"), "{post}");
    assert!(post.header("etag").is_none(), "{post}");

    // An `unknown` answer is never kept as finished: once the certificate is imported, the
    // same URL answers `good` at once.
    let path = ocsp_get_path(&server, &ocsp_request(&server, &never, false));
    let before = http(server.addr(), "GET", &path, &[], b"");
    expect_ocsp_body(&server, &before.body, &never, "unknown");
    import(&server, &server.admin_token(), &never);
    let after = http(server.addr(), "GET", &path, &[], b"");
    expect_ocsp_body(&server, &after.body, &never, "good");
}

/// With `ocsp_signer = "ca"` the CA key signs: the response carries no certificate, its
/// ResponderID is the CA's key hash, openssl still verifies it, and no responder certificate
/// was issued.
#[test]
fn ocsp_signed_by_the_ca_key() {
    let server = start_with(&[], &[("ca.revocation", "ocsp_signer", "\"ca\"")]);
    let mgr = server.create_token(&["manager"], "mgr");
    let leaf = issue(&server, "ca-signed.test");
    let run = ocsp(&server, &leaf.pem, &[]);
    let out = expect_ocsp_status(&run, &leaf.pem, "good");
    assert!(!out.contains("BEGIN CERTIFICATE"), "no certificates: {out}");
    let ca_key_id = first_line_of(
        &cert_text(&server.ca_cert_path()),
        "X509v3 Subject Key Identifier:",
    )
    .replace(':', "");
    assert!(out.contains(&format!("Responder Id: {ca_key_id}")), "{out}");
    revoke(&server, &mgr, &leaf.serial, "superseded", None);
    let run = ocsp(&server, &leaf.pem, &[]);
    assert!(
        expect_ocsp_status(&run, &leaf.pem, "revoked").contains("Reason: superseded"),
        "{run}"
    );

    let view = server.call(
        Some(&mgr),
        "GET",
        &format!("/api/v1/cas/{}/requests", server.ca),
        None,
    );
    assert_eq!(view.status, 200, "{view}");
    let formats: Vec<String> = view.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["format"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        !formats.iter().any(|f| f == "ocsp-responder"),
        "no responder certificate in CA mode: {formats:?}"
    );
}

/// OCSP errors are OCSP responses (HTTP 200, `no-store`): garbage and oversize bodies and bad
/// base64 are malformedRequest; another CA's certificate and an unknown CA are unauthorized;
/// a wrong content type is 415. The server keeps answering.
#[test]
fn ocsp_errors_are_ocsp_responses_and_the_server_stays_up() {
    let server = Server::start(&[]);
    let leaf = issue(&server, "errors.test");
    let request = ocsp_request(&server, &leaf.pem, false);

    let r = post_ocsp(
        &server,
        "/ocsp/demo",
        "application/ocsp-request",
        b"garbage",
    );
    expect_ocsp_error(&server, &r, "malformedrequest (1)");
    let r = post_ocsp(&server, "/ocsp/demo", "application/ocsp-request", b"");
    expect_ocsp_error(&server, &r, "malformedrequest (1)");
    // Beyond the 8 KiB OCSP limit, well within max_body_bytes.
    let mut big = request.clone();
    big.resize(9000, 0);
    let r = post_ocsp(&server, "/ocsp/demo", "application/ocsp-request", &big);
    expect_ocsp_error(&server, &r, "malformedrequest (1)");
    for path in [
        "/ocsp/demo/@@not-base64@@",
        "/ocsp/demo/%zz",
        "/ocsp/demo/Z2FyYmFnZQ%3D%3D",
    ] {
        let r = http(server.addr(), "GET", path, &[], b"");
        expect_ocsp_error(&server, &r, "malformedrequest (1)");
    }

    let r = post_ocsp(&server, "/ocsp/demo", "application/json", &request);
    r.expect_problem(415);

    let (foreign, foreign_leaf) = foreign_ca(&server);
    let run = ocsp_with(&server, &foreign, "/ocsp/demo", &foreign_leaf, &[]);
    assert!(
        both(&run).contains("Responder Error: unauthorized (6)"),
        "{run}"
    );
    let run = ocsp_with(
        &server,
        &server.ca_cert_path(),
        "/ocsp/nope",
        &leaf.pem,
        &[],
    );
    assert!(
        both(&run).contains("Responder Error: unauthorized (6)"),
        "{run}"
    );
    let get = ocsp_get_path(&server, &request).replacen("/ocsp/demo/", "/ocsp/nope/", 1);
    let r = http(server.addr(), "GET", &get, &[], b"");
    expect_ocsp_error(&server, &r, "unauthorized (6)");

    assert_eq!(server.get("/healthz").status, 200);
    expect_ocsp_status(&ocsp(&server, &leaf.pem, &[]), &leaf.pem, "good");
}

/// pkilint: `lint_crl` on a full CRL with entries (PKIX; and BR for one whose reasons the
/// Baseline Requirements allow) and on a delta with removeFromCRL; `lint_ocsp_response` on
/// good and revoked responses; `lint_cabf_serverauth_cert -t DV-FINAL-CERTIFICATE` on a
/// `server` certificate with its CDP and AIA. The CA is set up with public names
/// (example.com) so that pkilint's internal-name rules do not fire on test names.
#[test]
fn pkilint_accepts_crls_ocsp_responses_and_server_certificates() {
    let server = start_with(
        &["--domain", "example.com"],
        &[("server", "public_url", "\"http://pki.example.com\"")],
    );
    let admin = server.admin_token();
    let mgr = server.create_token(&["manager"], "mgr");
    let compromised = issue(&server, "www.example.com");
    let held = issue(&server, "api.example.com");
    let good = issue(&server, "app.example.com");
    revoke(
        &server,
        &mgr,
        &compromised.serial,
        "keyCompromise",
        Some(INVALIDITY),
    );
    revoke(&server, &mgr, &held.serial, "certificateHold", None);

    let clean = |tool: &str, args: &[&str], file: &Path| {
        let findings = pkilint_findings(tool, args, file);
        for f in findings.iter().filter(|f| !is_error_finding(f)) {
            if matches!(f.severity.as_str(), "WARNING" | "NOTICE") {
                eprintln!("pkilint {tool} {}: {f}", file.display());
            }
        }
        let bad: Vec<String> = findings
            .iter()
            .filter(|f| is_error_finding(f))
            .map(ToString::to_string)
            .collect();
        assert!(
            bad.is_empty(),
            "pkilint {tool} {args:?} on {}:\n{}",
            file.display(),
            bad.join("\n")
        );
    };
    const PKIX_CRL: &[&str] = &["-t", "CRL", "-p", "PKIX", "--document-format", "DER"];
    const BR_CRL: &[&str] = &["-t", "CRL", "-p", "BR", "--document-format", "DER"];

    publish(&server, &admin, false);
    let full = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(full.info.entries.len(), 2);
    clean("lint_crl", PKIX_CRL, &full.der);

    unrevoke(&server, &mgr, &held.serial);
    publish(&server, &admin, true);
    let delta = fetch_crl(&server, "/crl/demo/delta.crl");
    assert_eq!(delta.reason(&held.serial), Some(REMOVE_FROM_CRL));
    clean("lint_crl", PKIX_CRL, &delta.der);

    // The BR allow only some reasons (no certificateHold): a full CRL with keyCompromise.
    publish(&server, &admin, false);
    let br = fetch_crl(&server, "/crl/demo.crl");
    assert_eq!(br.serials(), BTreeSet::from([compromised.serial.clone()]));
    clean("lint_crl", BR_CRL, &br.der);
    clean("lint_crl", PKIX_CRL, &br.der);

    let unspecified = issue(&server, "old.example.com");
    revoke(&server, &mgr, &unspecified.serial, "unspecified", None);
    for (leaf, status) in [
        (&good, "good"),
        (&compromised, "revoked"),
        (&unspecified, "revoked"),
    ] {
        let out = unique(&server.work, status, "ocsp.der");
        let run = ocsp(&server, &leaf.pem, &["-no_nonce", "-respout", p(&out)]);
        expect_ocsp_status(&run, &leaf.pem, status);
        clean("lint_ocsp_response", &["--document-format", "DER"], &out);
    }

    // CA/B Forum BR profile of a DV certificate. Allowed, and only these: what a
    // publicly-trusted CA's certificate policy would satisfy.
    // - cabf.serverauth.subscriber.certificate_policies_extension_absent (BR 7.1.2.7.6:
    //   subscriber certificates MUST carry certificatePolicies with the CA/B Forum reserved
    //   policy OID, e.g. 2.23.140.1.2.1 for DV). Signet's profiles assert no policy: a
    //   private CA has no CP/CPS registered under the CA/B Forum arc, and claiming the DV
    //   OID would be a false statement.
    const POLICY_ONLY: &[&str] =
        &["cabf.serverauth.subscriber.certificate_policies_extension_absent"];
    let findings = pkilint_findings(
        "lint_cabf_serverauth_cert",
        &["-t", "DV-FINAL-CERTIFICATE"],
        &good.pem,
    );
    let mut unexpected = Vec::new();
    for f in findings.iter().filter(|f| is_error_finding(f)) {
        if POLICY_ONLY.contains(&f.code.as_str()) {
            eprintln!("pkilint CABF (allow-listed: no CA/B Forum policy OID): {f}");
        } else {
            unexpected.push(f.to_string());
        }
    }
    for f in findings
        .iter()
        .filter(|f| matches!(f.severity.as_str(), "WARNING" | "NOTICE"))
    {
        eprintln!("pkilint CABF: {f}");
    }
    assert!(
        unexpected.is_empty(),
        "lint_cabf_serverauth_cert DV findings beyond the policy allow-list:\n{}\n{}",
        unexpected.join("\n"),
        cert_text(&good.pem)
    );
}

/// Publishing needs the admin role (requester, manager and auditor get 403, no token 401,
/// and nothing is published); listing is for admin, manager and auditor; each publication is
/// an audit record `crl-publish` naming its actor and number.
#[test]
fn only_admins_publish_and_every_publication_is_audited() {
    let server = Server::start(&[]);
    let admin = server.admin_token();
    let mgr = server.create_token(&["manager"], "mgr");
    let auditor = server.create_token(&["auditor"], "aud");
    let requester = server.token.clone().unwrap();
    let path = format!("/api/v1/cas/{}/crls", server.ca);

    let before = list_crls(&server, &admin);
    for (who, token, want) in [
        ("requester", Some(requester.as_str()), 403),
        ("manager", Some(mgr.as_str()), 403),
        ("auditor", Some(auditor.as_str()), 403),
        ("anonymous", None, 401),
    ] {
        for body in [json!({}), json!({ "delta": true })] {
            let r = server.call(token, "POST", &path, Some(&body));
            assert_eq!(r.status, want, "{who} publishing: {r}");
        }
    }
    let denied = server.cli(&["crl", "publish", "--token", &mgr]);
    assert_ne!(denied.code, 0, "{denied}");
    assert_eq!(
        list_crls(&server, &admin).len(),
        before.len(),
        "refused publications published nothing"
    );
    let r = server.call(
        Some(&admin),
        "POST",
        "/api/v1/cas/nope/crls",
        Some(&json!({})),
    );
    assert_eq!(r.status, 404, "{r}");

    for (who, token) in [("auditor", &auditor), ("manager", &mgr), ("admin", &admin)] {
        let r = server.call(Some(token), "GET", &path, None);
        assert_eq!(r.status, 200, "{who} listing: {r}");
        assert!(!r.json().as_array().unwrap().is_empty(), "{r}");
    }
    assert_eq!(
        server.call(Some(&requester), "GET", &path, None).status,
        403
    );
    assert_eq!(server.call(None, "GET", &path, None).status, 401);
    let table = server.cli(&["crl", "list", "--token", &auditor]);
    table.expect_code(0);
    assert!(
        table.stdout.contains("full") && table.stdout.contains(INIT_PUBLIC_URL),
        "{table}"
    );

    let answer = publish(&server, &admin, false);
    let full = number(published(&answer, 0, false));
    let delta = number(published(&answer, 0, true));
    let audit = server.call(Some(&auditor), "GET", "/api/v1/audit", None);
    assert_eq!(audit.status, 200, "{audit}");
    let records: Vec<Value> = audit
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["action"] == "crl-publish")
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["actor"] == "system" && r["details"]["number"] == 1),
        "the first publication at start is the system's: {records:#?}"
    );
    for n in [full, delta] {
        let r = records
            .iter()
            .find(|r| r["details"]["number"] == n)
            .unwrap_or_else(|| panic!("no crl-publish record of CRL {n}: {records:#?}"));
        assert_eq!(r["actor"], "bootstrap-admin", "{r:#}");
        assert_eq!(r["ca"], "demo", "{r:#}");
        assert_eq!(r["target"], format!("demo/crl/0/{n}"), "{r:#}");
    }
    assert_eq!(
        records.len(),
        list_crls(&server, &admin).len(),
        "one audit record per stored CRL"
    );
    let verify = server.cli(&["audit", "verify", "--token", &auditor]);
    verify.expect_code(0);
}

/// A profile that asserts the CA/B Forum DV policy (`certificate_policies`) passes
/// `lint_cabf_serverauth_cert -t DV-FINAL-CERTIFICATE` with no error-level finding at all:
/// the only exception the test above allows is exactly that policy.
#[test]
fn a_profile_asserting_the_dv_policy_passes_the_cabf_lint_outright() {
    let server = start_with(
        &["--domain", "example.com"],
        &[
            ("server", "public_url", "\"http://pki.example.com\""),
            (
                "ca.policy.profiles.server",
                "certificate_policies",
                "[\"2.23.140.1.2.1\"]",
            ),
        ],
    );
    let leaf = issue(&server, "shop.example.com");
    let text = cert_text(&leaf.pem);
    assert!(text.contains("Policy: 2.23.140.1.2.1"), "{text}");
    let findings = pkilint_findings(
        "lint_cabf_serverauth_cert",
        &["-t", "DV-FINAL-CERTIFICATE"],
        &leaf.pem,
    );
    let errors: Vec<String> = findings
        .iter()
        .filter(|f| is_error_finding(f))
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{}\n{text}", errors.join("\n"));
}
