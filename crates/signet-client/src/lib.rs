//! A client of Signet's REST API, for a front end or a tool on another host: the JSON bodies
//! the server writes ([`wire`]), and [`RemoteEnroll`], the `Enroll` trait over HTTP (cargo
//! feature `http`, on by default; the server itself uses only the wire types).
//!
//! # Layout
//! - [`wire`]: the JSON bodies of the REST API (one definition for the writer and the
//!   reader), and their conversions from the front-end API's types.
//! - `remote`: `RemoteEnroll` (feature `http`).
#![forbid(unsafe_code)]

#[cfg(feature = "http")]
pub mod remote;
pub mod wire;

#[cfg(feature = "http")]
pub use remote::{RemoteEnroll, path_segment, problem};
