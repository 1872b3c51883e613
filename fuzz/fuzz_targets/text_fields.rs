//! The `text_fields` target: see `src/text_fields.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signet_fuzz::text_fields::run(data));
