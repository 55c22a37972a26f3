#![no_main]
//! Asserts the invariants of `smtpkit_auth::fuzz_digest_challenge` on every
//! input: the DIGEST-MD5 challenge parser and response builder never panic,
//! parsed fields come from the input, and only a matching rspauth passes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| smtpkit_auth::fuzz_digest_challenge(data));
