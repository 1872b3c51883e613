//! The `distinguished_name` target: see `src/distinguished_name.rs`. With `--features strict`, also the invariants
//! the library is known to break (README.md, "Known findings").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if cfg!(feature = "strict") {
        signet_fuzz::distinguished_name::run_strict(data);
    } else {
        signet_fuzz::distinguished_name::run(data);
    }
});
