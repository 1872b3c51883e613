//! The `cms` target: see `src/cms.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::cms::run(data));
