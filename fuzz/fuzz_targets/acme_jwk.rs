//! The `acme_jwk` target: see `src/acme_jwk.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::acme_jwk::run(data));
