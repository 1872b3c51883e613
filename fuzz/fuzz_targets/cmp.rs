//! The `cmp` target: see `src/cmp.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::cmp::run(data));
