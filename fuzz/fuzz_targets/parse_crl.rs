//! The `parse_crl` target: see `src/parse_crl.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::parse_crl::run(data));
