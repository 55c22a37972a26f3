#![no_main]
//! Asserts the invariants of `smtp_fuzz_harness::message` on every input:
//! a message-level send's preparation (envelope, Bcc, Date:/Message-ID:,
//! long lines), in memory and streamed in pieces.

libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_fuzz_harness::message(data));
