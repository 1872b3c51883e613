//! The `ocsp_get` target: see `src/ocsp_get.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::ocsp_get::run(data));
