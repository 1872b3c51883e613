//! The bodies of Signet's fuzz targets, as plain functions over `&[u8]`.
//!
//! Each module holds one target: `pub fn run(data: &[u8])` returns for any input and panics
//! only when a parser panics or an invariant the module states breaks. The binaries in
//! `fuzz_targets/` hand libFuzzer's inputs to these functions (nightly, `cargo fuzz`); the
//! workspace test `crates/signet-testkit/tests/fuzz_corpora.rs` includes this file and replays
//! every committed input of `corpus/<target>/` through the same functions on stable, so a
//! crash once found stays fixed.
//!
//! Layout: one module per target, named as the target; [`TARGETS`] lists them all.
//!
//! Nothing here may use libFuzzer or a nightly feature: the replay builds it with the
//! workspace's stable toolchain.
#![forbid(unsafe_code)]

#[path = "acme_dns.rs"]
pub mod acme_dns;
#[path = "acme_jwk.rs"]
pub mod acme_jwk;
#[path = "acme_jws.rs"]
pub mod acme_jws;
#[path = "cmp.rs"]
pub mod cmp;
#[path = "cms.rs"]
pub mod cms;
#[path = "crmf.rs"]
pub mod crmf;
#[path = "distinguished_name.rs"]
pub mod distinguished_name;
#[path = "est_body.rs"]
pub mod est_body;
#[path = "extensions.rs"]
pub mod extensions;
#[path = "ocsp_get.rs"]
pub mod ocsp_get;
#[path = "ocsp_request.rs"]
pub mod ocsp_request;
#[path = "parse_certificate.rs"]
pub mod parse_certificate;
#[path = "parse_crl.rs"]
pub mod parse_crl;
#[path = "parse_csr.rs"]
pub mod parse_csr;
#[path = "pem_decode.rs"]
pub mod pem_decode;
#[path = "rest_json.rs"]
pub mod rest_json;
#[path = "scep_message.rs"]
pub mod scep_message;
#[path = "subject_alt_name.rs"]
pub mod subject_alt_name;
#[path = "text_fields.rs"]
pub mod text_fields;

/// A target's body: takes one input, panics only on a finding.
pub type Body = fn(&[u8]);

/// Every target: its name (the binary in `fuzz_targets/` and the directory in `corpus/`) and
/// its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("parse_csr", parse_csr::run),
    ("parse_certificate", parse_certificate::run),
    ("parse_crl", parse_crl::run),
    ("pem_decode", pem_decode::run),
    ("distinguished_name", distinguished_name::run),
    ("subject_alt_name", subject_alt_name::run),
    ("extensions", extensions::run),
    ("ocsp_request", ocsp_request::run),
    ("ocsp_get", ocsp_get::run),
    ("text_fields", text_fields::run),
    ("rest_json", rest_json::run),
    ("acme_jws", acme_jws::run),
    ("acme_jwk", acme_jwk::run),
    ("acme_dns", acme_dns::run),
    ("cms", cms::run),
    ("scep_message", scep_message::run),
    ("est_body", est_body::run),
    ("cmp", cmp::run),
    ("crmf", crmf::run),
];
