//! The `est_body` target: see `src/est_body.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::est_body::run(data));
