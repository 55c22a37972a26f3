#![no_main]
//! Asserts the invariants of `smtpkit_auth::fuzz_ntlm_challenge` on every
//! input: the NTLM CHALLENGE_MESSAGE parser never panics or reads past the
//! input, and every AUTHENTICATE_MESSAGE built from a parsed challenge has
//! its security buffers inside the message.

libfuzzer_sys::fuzz_target!(|data: &[u8]| smtpkit_auth::fuzz_ntlm_challenge(data));
