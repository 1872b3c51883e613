//! The commented `signet.toml` that `signet init` writes, every option shown; `[ca.acme]`,
//! `[ca.scep]`, `[ca.est]` and `[ca.cmp]` enabled with `--dev`, commented out without.

/// What `signet init` puts in the template.
pub struct Template<'a> {
    pub ca: &'a str,
    /// `[ca.acme]`, `[ca.scep]` and `[ca.est]` enabled (`--dev`) or written commented out.
    pub acme: bool,
    pub domains: &'a [String],
    pub listen: &'a str,
    /// `[server] database`: a SQLite file name or a `postgres://` URL.
    pub database: &'a str,
    /// `[server] database_password_file`, written only when given.
    pub database_password_file: Option<&'a str>,
    /// The CA key's PKCS#11 URI, when it is on a token (else the key file is named).
    pub key_uri: Option<&'a str>,
    /// An RSA CA key signs RSASSA-PSS.
    pub rsa_pss: bool,
}

/// The `[ca.acme]` section: enabled for the `server` profile (`--dev`), or commented out.
fn acme_block(enabled: bool) -> String {
    let body = r#"# ACME (RFC 8555) at PUBLIC_URL/acme/CA/directory, for certbot, lego, cert-manager...
# Every order passes this CA's policy: a manual profile keeps it "processing" until a
# certificate manager approves (docs/ACME.md).
[ca.acme]
enabled = true
# Profiles offered over ACME (default: every profile with approval = "auto").
profiles = ["server"]
default_profile = "server"
# Require External Account Binding: `signet admin acme eab create` prints KID HMAC.
eab = false
# Where validation connects (http-01, tls-alpn-01), and the DNS servers it asks (dns-01,
# CAA; default: the system's), e.g. ["10.0.0.53:53"].
http01_port = 80
tlsalpn01_port = 443
dns_resolvers = []
# CAA (RFC 8659) is checked for DNS names; the issuer domain names that mean this CA
# (default: the host of public_url). A name whose CAA records name none of them is refused.
caa = true
caa_identities = []
# Validation targets (CIDR): loopback and link-local are refused unless allowed here.
allowed_ranges = []
# How long a valid authorization is reused by the account's new orders.
authz_reuse = "30d"
# RFC 9773 renewal information: the window opens when this share of the lifetime is left.
renew_before_percent = 33
# Limits (0 = none); a refusal is a rateLimited problem with Retry-After.
orders_per_account_per_hour = 300
pending_authzs_per_account = 1000
orders_per_domain_per_hour = 300"#;
    commented_unless(enabled, body)
}

/// The `[ca.scep]` and `[ca.est]` sections: enabled for the `device` profile (`--dev`), or
/// commented out.
fn device_block(enabled: bool) -> String {
    let body = r#"# SCEP (RFC 8894) at PUBLIC_URL/scep/CA, for routers, phones, MDM and certmonger
# (docs/SCEP-EST.md). Devices prove themselves with a challenge password: one-time ones from
# `signet admin scep challenge` (stored hashed, single use), or the static `challenge` below
# (`signet doctor` flags it). Requests go through this CA's policy like any other.
[ca.scep]
enabled = true
profile = "device"
# challenge = "a-static-secret"
# "signet": Signet checks the challenge; "policy": the policy module gets it as the
# challengePassword attribute and decides (challenges from an external system).
challenge_check = "signet"
# SHA-1 signatures and DES/3DES envelopes (micromdm scepclient, older devices).
legacy_crypto = true
# The RA certificate (RSA, issued by this CA, key encrypted like the CA key), renewed when a
# third of its lifetime is left.
ra_validity = "365d"

# EST (RFC 7030) at PUBLIC_URL/.well-known/est/CA/ on the HTTPS listener ([server.tls]) only.
# Clients authenticate with HTTP Basic (user = a token's name, password = the token) or a
# TLS client certificate (re-enrollment with the current certificate).
[ca.est]
enabled = true
profile = "device"
realm = "signet"
# serverkeygen: the CA makes the device's key and returns it (unencrypted PKCS#8, inside
# TLS) with the certificate (RFC 7030 section 4.4); needs a profile with approval = "auto".
serverkeygen = false
# simplereenroll keeps the subject and SANs of the certificate it renews unless this is true.
reenroll_may_change_names = false
# A request waiting for a manager is answered 202 with this Retry-After; the client repeats
# the same request and gets the certificate once it is approved (docs/EST.md).
retry_after = "60s""#;
    commented_unless(enabled, body)
}

/// The `[ca.cmp]` section: enabled for the `server` profile (`--dev`), or commented out.
fn cmp_block(enabled: bool) -> String {
    let body = r#"# CMP (RFC 9483 Lightweight CMP) at PUBLIC_URL/cmp/CA and /.well-known/cmp/p/CA, on both
# listeners, for `openssl cmp` and industrial devices (docs/CMP.md). A request is protected
# with a MAC (senderKID = the name of a token made with `signet admin token create
# --shared-secret`, secret = the token) or signed with a certificate this CA issued; the
# answer is protected the same way (signatures by the CA's CMP responder certificate).
[ca.cmp]
enabled = true
profile = "server"
# Grant implicitConfirm when the client asks; otherwise it must confirm with certConf.
implicit_confirm = true
# A certificate not confirmed within this time is revoked (cessationOfOperation).
confirm_wait = "300s"
# The checkAfter of a pollRep while a request waits for a certificate manager.
check_after = "10s"
# The CMP responder certificate (P-256, issued by this CA), renewed when a third is left.
responder_validity = "365d""#;
    commented_unless(enabled, body)
}

/// `body` as it is when `enabled`, else with every setting line commented out.
fn commented_unless(enabled: bool, body: &str) -> String {
    if enabled {
        return body.to_owned();
    }
    body.lines()
        .map(|l| {
            if l.starts_with('#') {
                l.to_owned()
            } else {
                format!("# {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
    format!("[{}]", quoted.join(", "))
}

impl Template<'_> {
    /// The commented configuration, every option shown.
    pub fn render(&self) -> String {
        let head = format!(
            r#"# Signet configuration, written by `signet init`. Every option is shown; edit and
# restart `signet serve` to apply. Relative paths are relative to this directory.

[server]
# Address the HTTP API listens on (`signet serve --listen` overrides it).
listen = "{listen}"
# The host part of config strings (`host/CAName`, AD CS ICertConfig::GetConfig).
host = "localhost"
# Where the records live: a SQLite file (WAL, synchronous=FULL), or a PostgreSQL URL that
# several nodes share (docs/HA.md), e.g.
# "postgres://signet@db1:5432,db2:5432/signet?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=/etc/signet/db-ca.pem".
database = {database}
# The PostgreSQL password, in a file (or in SIGNET_DATABASE_PASSWORD); never put it here.
{password_file}
# Largest request body accepted, in bytes; larger bodies get 413.
max_body_bytes = 65536
# /healthz answers 503 (a load balancer sends traffic elsewhere) when the SQLite database's
# disk has less free space than this, in bytes, before a full disk refuses writes.
min_free_disk_bytes = 67108864
# Worker threads for CSR checks, policy and signing; 0 = one per CPU core.
workers = 0
# The public base URL relying parties reach this server at. Certificates carry its CRL
# distribution point (PUBLIC_URL/crl/CA.crl) and AIA (OCSP PUBLIC_URL/ocsp/CA, CA
# certificate PUBLIC_URL/ca/CA.crt); CRLs name it in their issuingDistributionPoint.
# Without it, certificates carry neither (and CRLs no IDP).
public_url = "http://{listen}"
# Sign a checkpoint of the audit log's head (Ed25519, audit-signing.key) this often, or after
# this many records, whichever comes first, and at shutdown. Exit modules whose `events`
# name "AuditCheckpoint" receive each one: keep them outside this machine.
audit_checkpoint = "5m"
audit_checkpoint_records = 1000
# With several nodes on one database: how often this node picks up what the others wrote
# (API tokens, CRLs, OCSP responder certificate, revocations for its OCSP cache): the most
# a node may lag behind (100ms to 60s).
cluster_sync = "1s"
# The CA signs nothing (certificates, CRLs, new OCSP responses) while its clock is behind the
# newest time on record (issuance, CRL thisUpdate, audit records) by more than this, e.g.
# after a dead RTC or a restored VM snapshot; /healthz says why, and signing resumes by
# itself once the clock is corrected. A forward jump that is later corrected leaves that
# time in the future: raise this, or wait for real time to catch up (1s to 3650d).
max_clock_regression = "5m"
# Who may read /metrics (request volumes by CA and disposition, latency, exit delivery):
# "public" (anyone), "token" (a bearer token or client certificate holding the auditor or
# admin role on every CA; Prometheus: `authorization: {{ credentials_file: ... }}`) or "off".
metrics = "public"

# An HTTPS listener beside the plain one; clients may authenticate with a certificate
# (mapped by [[identity]] below) or with an API token. Uncomment to use:
# [server.tls]
# listen = "127.0.0.1:8443"
# certificate = "tls/server.pem"    # chain, PEM
# key = "tls/server.key"            # PKCS#8 PEM
# client_ca = "tls/clients.pem"     # default: this server's CA certificates

# What every listener (plain and HTTPS) allows one connection and one client address
# (docs/LISTENER.md); the defaults are shown. Durations: 10s, 2m. Uncomment to change:
# [server.limits]
# header_timeout = "10s"     # accept (or a request's first byte) to the end of its head; TLS handshake
# keepalive_timeout = "15s"  # a kept-alive connection waiting for its next request
# idle_timeout = "30s"       # a request body that stops arriving, a response left unread
# max_connections = 4096     # all listeners together; lowered to fit `ulimit -n` at start
# max_connections_per_address = 256   # one IPv4 address or one IPv6 /64
# reserved_connections = 64  # the last slots: only OCSP, CRLs, CA certificates, /healthz

# The web pages: enrollment at /, the administration console at /admin (docs/WEB.md). The
# session cookie is Secure, so browsers keep it only over HTTPS or on localhost.
[server.web]
enabled = true
idle_minutes = 30       # signed out after this long without a request
session_hours = 8       # signed out this long after signing in

[security]
# AD CS RoleSeparationEnabled: no identity may hold both the admin and manager roles (an
# identity that does may do nothing). Turn off only for a one-person test installation.
role_separation = true
# Limits per requester (0: no limit). A request past one is refused with 429 and a
# Retry-After, before anything is stored. Names differing only in case are one identity.
#   requests_per_minute            per identity and CA (bursts up to a minute's worth);
#                                  a profile may add its own `requests_per_minute`
#   anonymous_requests_per_minute  all anonymous callers of a CA together
#   pending_per_requester          requests one requester may have waiting for approval
requests_per_minute = 0
anonymous_requests_per_minute = 60
pending_per_requester = 100

# TLS client certificates mapped to identities (by exact subject, or by one SAN written
# dns:, email:, uri: or ip:). Roles: admin, manager, auditor, requester; `cas` limits them.
# [[identity]]
# name = "alice"
# subject = "CN=alice,O=Example"
# roles = ["manager"]
# cas = ["{ca}"]

[logging]
# "text" or "json" (one JSON object per line). Keys and tokens are never logged.
format = "text"
# A tracing filter: "info", "debug", "signet=debug,info", ... (RUST_LOG overrides it).
level = "info"

"#,
            listen = self.listen,
            database = toml_string(self.database),
            password_file = match self.database_password_file {
                Some(f) => format!("database_password_file = {}", toml_string(f)),
                None => "# database_password_file = \"db.password\"".to_string(),
            },
            ca = self.ca,
        );
        head + &self.ca_block()
    }

    /// The `[[ca]]` table of this CA with its revocation, policy, profiles, front ends and
    /// exits: the end of [`render`](Template::render), and what `signet ca install` appends
    /// for a new CA.
    pub fn ca_block(&self) -> String {
        let ca = self.ca;
        let domains = toml_list(self.domains);
        let acme_block = acme_block(self.acme);
        let device_block = device_block(self.acme);
        let cmp_block = cmp_block(self.acme);
        format!(
            r#"[[ca]]
name = "{ca}"
{key}
{rsa_pss}
certificate = "ca/{ca}/cert.pem"

# Revocation (AD CS CRLPeriod, CRLOverlapPeriod, CRLDeltaPeriod, CRL partitioning; the
# Online Responder). Durations: 90s, 30m, 12h, 7d.
[ca.revocation]
# public_url = "http://pki.example.com"   # overrides [server] public_url for this CA
# CRL partitions for new certificates (each its own CRL at /crl/CA/N.crl, named in the
# certificate's CDP); 0 = one CRL (/crl/CA.crl). Set it before issuing: certificates keep
# the partition they were issued in.
partitions = 0
# Full CRLs: published every crl_period, valid for crl_period + crl_overlap.
crl_period = "7d"
crl_overlap = "1d"
# Delta CRLs (/crl/CA/delta.crl): every delta_period, valid delta_period + delta_overlap;
# "0s" turns them off.
delta_period = "1h"
delta_overlap = "10m"
# How long revoked certificates stay on CRLs after they expire.
keep_expired = "0s"
# OCSP (/ocsp/CA): responses valid this long, cached and re-signed at half-life.
ocsp_validity = "1d"
# "delegated": a responder certificate (OCSPSigning, ocsp-nocheck) issued at start to a key
# kept only in memory, renewed when a third of its validity is left; "ca": the CA key signs.
ocsp_signer = "delegated"
ocsp_responder_validity = "7d"

{acme_block}

{device_block}

{cmp_block}

# The policy module (AD CS ICertPolicy). Built in: "profiles".
[ca.policy]
module = "profiles"
# The profile used when a request names none.
default_profile = "server"

# A profile is an AD CS certificate template. Options:
#   approval            "auto" (issue at once) or "manual" (pending until a manager approves)
#   validity_days       certificate lifetime (never beyond the CA certificate's notAfter)
#   key_algorithms      allowed subject keys: "p256", "p384", "ed25519", "rsa", "mldsa65"
#   rsa_min_bits        smallest RSA modulus accepted (default 2048)
#   rsa_min_exponent    smallest RSA public exponent accepted (default 65537, CA/B Forum
#                       BR 6.1.6); the exponent must be odd
#   subject_attributes  subject attribute types copied from the request; any other is refused
#   common_name_as_dns  the CN must be an allowed host name; it is added to the SANs
#   require_san         refuse requests that end up without a subjectAltName
#   dns_suffixes        DNS names allowed: equal to a suffix or below it
#   allow_wildcards     allow "*.name" DNS names
#   ip_ranges           IP addresses allowed, as CIDR ranges
#   email_domains       e-mail SANs allowed by domain
#   uri_prefixes        URI SANs allowed by prefix
#   max_sans            most subjectAltNames in one certificate (default 100)
#   key_usage           digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment,
#                       keyAgreement (the encipherment bits are applied to RSA keys only)
#   extended_key_usage  serverAuth, clientAuth, codeSigning, emailProtection, timeStamping,
#                       OCSPSigning, or dotted OIDs
#   anonymous           allow requests without credentials (default false; never with
#                       approval = "auto" and clientAuth)
#   enroll              identity names / "group:NAME" that may enroll (default: any identity
#                       with the requester role)
#   approvals           with approval = "manual": distinct managers who must approve (M of N)
#   requests_per_minute requests one identity may submit to this profile per minute, on top
#                       of [security] requests_per_minute (default: no profile limit)
#   subject_from        "request" (default: the request's subject, limited as above) or
#                       "identity" (CN=<authenticated requester>; the request's subject is
#                       not used: for client certificates issued without review)
#   certificate_policies  policy OIDs for a certificatePolicies extension (none by default;
#                       2.23.140.1.2.1 = CA/B Forum DV, only for a CA that follows the BRs)
#   subject_forced      attributes the CA sets, e.g. {{ O = "Example Corp", C = "US" }}: a
#                       request may omit them or repeat the value; another value is denied.
#                       The subject is then ordered DC, C, ST, L, street, O, OU, ..., CN
#   subject_required    attribute types the request must carry (also in subject_attributes)
#   unique_key          refuse a key already certified for another requester (any CA here;
#                       anonymous and imported certificates count as another requester)
#   renewal             with approval = "manual": issue at once when the same requester holds
#                       a valid certificate of this profile with the same subject and SANs
#   backdate            notBefore this far back for clock skew ("90s", "5m", or seconds; at
#                       most 24h; default 5m; never before the CA certificate's notBefore)
#   ca                  issue subordinate CA certificates (basicConstraints cA=TRUE,
#                       critical); key_usage must include keyCertSign; extended_key_usage
#                       may be []. With approval = "auto" only if allow_auto_ca = true
#   path_len            with ca: pathLenConstraint (0 = the sub-CA issues only leaves)
#   permitted_dns, excluded_dns, permitted_ip, excluded_ip, permitted_email, excluded_email
#                       with ca: a critical nameConstraints extension (DNS names, CIDR
#                       ranges, and mailbox / host / ".domain" for e-mail)
#   copy_request_extensions  OIDs of request extensions copied when present (none by
#                       default; never SKI, AKI, SAN, KU, EKU, basic or name constraints,
#                       certificatePolicies, CDP or AIA)
#   [[ca.policy.profiles.NAME.extensions]]  static extensions: oid, critical (default
#                       false), value = the extension value's DER in hex (one TLV)
# A request naming anything a profile does not allow is denied with a message naming it, and
# so is a request for the CA's own public key.
[ca.policy.profiles.server]
description = "TLS server certificates, issued at once"
approval = "auto"
validity_days = 90
key_algorithms = ["p256", "p384", "rsa"]
rsa_min_bits = 2048
subject_attributes = ["CN"]
common_name_as_dns = true
require_san = true
dns_suffixes = {domains}
allow_wildcards = false
ip_ranges = ["127.0.0.0/8", "::1/128"]
email_domains = []
uri_prefixes = []
max_sans = 100
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["serverAuth"]

[ca.policy.profiles.manual]
description = "TLS server and client certificates, issued after a certificate manager approves"
approval = "manual"
validity_days = 365
key_algorithms = ["p256", "p384", "ed25519", "rsa"]
rsa_min_bits = 2048
subject_attributes = ["CN", "O", "OU", "C"]
common_name_as_dns = false
require_san = false
dns_suffixes = {domains}
allow_wildcards = false
ip_ranges = ["127.0.0.0/8", "::1/128"]
email_domains = []
uri_prefixes = []
max_sans = 100
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["serverAuth", "clientAuth"]
approvals = 1

[ca.policy.profiles.device]
description = "Device client certificates over SCEP and EST, issued at once to a valid challenge or credential"
approval = "auto"
validity_days = 365
key_algorithms = ["p256", "p384", "rsa"]
rsa_min_bits = 2048
subject_attributes = ["CN", "O", "OU", "C", "ST", "L"]
common_name_as_dns = true
require_san = true
dns_suffixes = {domains}
allow_wildcards = false
ip_ranges = []
email_domains = []
uri_prefixes = []
max_sans = 10
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["clientAuth"]
# Only what SCEP (group scep) and EST (tokens made with --group est, and certificates
# this CA issued) submit: an auto-issued clientAuth profile must not be open to every token.
enroll = ["group:scep", "group:est"]

# Exit modules (AD CS ICertExit), notified of the events they ask for, at least once and
# in order, from a durable outbox. `events` takes: all, Issued, Pending, Denied, Revoked,
# RetrievePending, CrlIssued, Shutdown, Startup, Imported.
[[ca.exit]]
name = "log"
module = "log"
events = ["all"]

# The `file` module writes <serial>.pem for each issued certificate and a JSON record of
# every event it receives under `directory`/events/ (each file fsynced). Uncomment to use:
# [[ca.exit]]
# name = "archive"
# module = "file"
# directory = "exits/{ca}"
# events = ["Issued", "Pending", "Denied", "RetrievePending", "Startup", "Shutdown"]

# The `ldap` module publishes issued certificates to the subject's directory entry
# (userCertificate;binary), removes them on revocation, and publishes CRLs to a CRL
# distribution point entry (docs/exits-ldap.md). Uncomment to use:
# [[ca.exit]]
# name = "directory"
# module = "ldap"
# url = "ldap://ldap.example.com"       # or ldaps://
# starttls = true
# ca_file = "ldap-ca.pem"               # relative to this directory; default: system roots
# bind_dn = "cn=signet,ou=services,dc=example,dc=com"
# password_file = "ldap.password"       # relative to this directory; never logged
# timeout = "10s"
# base = "ou=people,dc=example,dc=com"
# filter = "(&(objectClass=inetOrgPerson)(mail={{email}}))"   # or dn_template = "..."
# missing_entry = "fail"                # or "skip": acknowledge with a warning
# remove_on_revoke = true
# crl_dn = "cn={{ca}},ou=cdp,dc=example,dc=com"

# The `wasm` module runs a third-party exit module, a WebAssembly component, in a sandbox
# with fuel, memory and deadline limits (docs/WASM.md; examples in examples/wasm). A wasm
# policy module takes the same keys as an entry of a `chain` after `profiles`. Uncomment:
# [[ca.exit]]
# name = "hook"
# module = "wasm"
# path = "modules/log-exit.wasm"   # relative to this directory
# fuel = 10000000
# memory_mb = 16
# deadline_ms = 100

# The `webhook` module POSTs each event as JSON, signed with HMAC-SHA256 over
# "<Signet-Timestamp>.<body>" (header Signet-Signature: sha256=<hex>; docs/exits-webhook.md).
# Plain http only to loopback addresses. Uncomment to use:
# [[ca.exit]]
# name = "webhook"
# module = "webhook"
# url = "https://hooks.example.org/signet"
# secret_file = "webhook.secret"   # relative to this directory; at least 16 bytes
# ca_file = "hooks-ca.pem"         # the CAs trusted for the receiver's certificate
# timeout = "10s"
# events = ["Issued", "Denied", "Revoked"]

# The `smtp` module e-mails requesters (e-mail SANs, an attribute, `to`) and, on Pending,
# `managers`, from templates (docs/exits-smtp.md). Uncomment to use:
# [[ca.exit]]
# name = "mail"
# module = "smtp"
# server = "smtp.example.org"
# tls = "starttls"                 # none, starttls or tls
# from = "Signet CA <ca@example.org>"
# managers = ["pki-managers@example.org"]
# recipient_attribute = "notify"
# [ca.exit.templates.Issued]
# subject = "[{{ca}}] certificate {{serial}} for {{subject}}"
"#,
            key = match self.key_uri {
                Some(uri) => format!(
                    "# The CA key, on a PKCS#11 token (RFC 7512 URI): the PIN comes from the file its\n\
                     # pin-source names, or SIGNET_PKCS11_PIN; the key never leaves the token.\n\
                     key = {}",
                    toml_string(uri)
                ),
                None => format!(
                    "# The CA key: an encrypted PKCS#8 PEM (PBES2) unless the CA was made with --dev.\n\
                     # Its passphrase comes from --passphrase-file or SIGNET_PASSPHRASE at `signet serve`.\n\
                     # Or a PKCS#11 URI (\"pkcs11:token=...;object=...?module-path=...&pin-source=file:...\").\n\
                     key = \"ca/{ca}/key.pem\""
                ),
            },
            rsa_pss = if self.rsa_pss {
                "# An RSA key signs RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt), not PKCS#1 v1.5.\nrsa_pss = true"
            } else {
                "# rsa_pss = true   # an RSA key signs RSASSA-PSS instead of PKCS#1 v1.5"
            },
        )
    }
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
