//! The `ocsp_request` target: see `src/ocsp_request.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::ocsp_request::run(data));
