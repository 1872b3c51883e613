//! The `scep_message` target: see `src/scep_message.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::scep_message::run(data));
