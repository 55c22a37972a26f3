//! OAuth 2.0 against oidc-provider and Dovecot's submission service
//! (smtp-suites' oauth2 module) on the tokio client. Run by
//! `scripts/oauth2-check.sh`, which starts them; without them each test
//! is skipped.

mod common;

smtp_suites::oauth2_interop_suite!(common::Tokio);
