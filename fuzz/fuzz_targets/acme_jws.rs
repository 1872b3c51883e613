//! The `acme_jws` target: see `src/acme_jws.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::acme_jws::run(data));
