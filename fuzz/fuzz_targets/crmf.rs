//! The `crmf` target: see `src/crmf.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::crmf::run(data));
