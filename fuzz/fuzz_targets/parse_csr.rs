//! The `parse_csr` target: see `src/parse_csr.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::parse_csr::run(data));
