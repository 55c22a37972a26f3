#![no_main]
//! Asserts the invariants of `smtp_proto::fuzz_harness::session` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_proto::fuzz_harness::session(data));
