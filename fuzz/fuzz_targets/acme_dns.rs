//! The `acme_dns` target: see `src/acme_dns.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::acme_dns::run(data));
