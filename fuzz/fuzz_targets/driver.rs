#![no_main]
//! Asserts the invariants of `smtp_fuzz_harness::driver` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_fuzz_harness::driver(data));
