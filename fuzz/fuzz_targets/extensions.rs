//! The `extensions` target: see `src/extensions.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::extensions::run(data));
