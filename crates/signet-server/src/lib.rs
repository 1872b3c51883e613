//! The HTTP face of Signet: the REST API (DESIGN §3), the web pages, CRLs and OCSP, public
//! CA certificate downloads, health and Prometheus metrics.
//!
//! A front end: it depends on the front-end API (`signet-api`), `signet-x509` and the wire
//! types of `signet-client`, never on the engine (the `crate_layout` test in signet-cli
//! checks it). Handlers reach the CA only through the trait objects in [`AppState`]
//! (`Enroll`, `Directory`, `Authenticate`, `Administer`, `PublicRevocation`); `signet serve`
//! wires the engine into them and runs the loops that drive it (exit delivery, CRL
//! maintenance). Errors are mapped to RFC 9457 problems in exactly one place,
//! [`problem::Problem`].
//!
//! # Layout
//! - [`api`]: the router and the enrollment handlers.
//! - [`admin_api`]: the administration handlers (ICertAdmin/ICertView, tokens, audit).
//! - [`auth`]: `Caller`, the authenticated identity of a request (bearer token or TLS client
//!   certificate); authorization happens in the engine.
//! - [`extract`]: the typed path parameters (`CaPath`, `RequestPath`, `SerialPath`) and
//!   their rejection, a problem for the REST API or the HTML error page for the web pages.
//! - [`listener`]: the accept loop of every listener (plain and TLS): connection caps per
//!   server and per client address, a reserve for OCSP and CRLs, header, keep-alive and
//!   idle timeouts, graceful drain.
//! - [`tls`]: the TLS configuration and the client certificates handed to `auth`.
//! - [`untrusted`]: `Untrusted`, how a value from a request is logged (escaped, truncated).
//! - [`problem`]: `Problem`, the RFC 9457 error body, and the `EnrollError` mapping.
//! - [`metrics`]: `Metrics`, rendered as Prometheus text on `/metrics`.
//! - [`routes`]: `Routes`, the REST routes and the table of what they serve (the OpenAPI
//!   test checks `openapi.json` against it).
//! - [`revocation_api`]: `/crl/...`, `/ocsp/{ca}` and the CRL administration routes; the
//!   finished OCSP GET answers and `OcspFront`, which serves them ahead of the router.
//! - [`web`]: the enrollment pages and the administration console (HTML, sessions, CSRF,
//!   and the console's own concepts: who may open it, chart days, session randomness).
//! - [`wire`]: the JSON bodies, re-exported from signet-client (one definition for the
//!   server that writes them and the client that reads them).
//! - `openapi.json`: the OpenAPI 3.1 document served at `/api/v1/openapi.json`.
#![forbid(unsafe_code)]

pub mod admin_api;
pub mod api;
pub mod auth;
pub mod extract;
pub mod health;
pub mod listener;
pub mod metrics;
pub mod problem;
pub mod revocation_api;
pub mod routes;
pub mod tls;
pub mod untrusted;
pub mod web;

pub use api::{AppState, router};
pub use metrics::Metrics;
/// The JSON bodies, defined once in signet-client (the server writes them, the client reads
/// them).
pub use signet_client::wire;
