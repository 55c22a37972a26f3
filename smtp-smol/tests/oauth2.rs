//! OAuth 2.0 against oidc-provider and Dovecot's submission service
//! (smtp-suites' oauth2 module) on smol and on async-std. Run by
//! `scripts/oauth2-check.sh`, which starts them; without them each test
//! is skipped.

mod common;

mod smol_executor {
    smtp_suites::oauth2_interop_suite!(super::common::Smol);
}

mod async_std_executor {
    smtp_suites::oauth2_interop_suite!(super::common::AsyncStd);
}
