//! The `pem_decode` target: see `src/pem_decode.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::pem_decode::run(data));
