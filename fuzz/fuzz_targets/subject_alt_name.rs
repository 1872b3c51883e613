//! The `subject_alt_name` target: see `src/subject_alt_name.rs`. With `--features strict`, also the invariants
//! the library is known to break (README.md, "Known findings").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if cfg!(feature = "strict") {
        signet_fuzz::subject_alt_name::run_strict(data);
    } else {
        signet_fuzz::subject_alt_name::run(data);
    }
});
