#![no_main]
//! `BearerError::parse` (smtp-proto's, re-exported by smtp-auth), the JSON error a server sends in
//! an XOAUTH2 / OAUTHBEARER challenge: never panics on any bytes, and
//! what it parses shows no control character (C0, DEL, C1) to a person.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(error) = smtpkit_auth::BearerError::parse(data) {
        let shown = error.to_string();
        assert!(
            !shown.chars().any(|c| c.is_control()),
            "a control character reaches the text: {shown:?}"
        );
        // What parses came from at most the input's length.
        assert!(error.status.len() <= data.len());
    }
});
