//! The `parse_certificate` target: see `src/parse_certificate.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::parse_certificate::run(data));
