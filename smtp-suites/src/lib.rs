//! The suites every client crate runs (unpublished, as rustls' `rustls-test`
//! and imap-next's integration-test crate): the [conformance suite](conformance)
//! against the in-process test server (`smtpkit-testserver`), and the
//! [interop suite](interop) against real peers (Postfix, Cyrus SASL, Dovecot,
//! Exim, SOCKS5 servers), and the [OAuth 2.0 suite](oauth2) against
//! oidc-provider and Dovecot. An adapter implements
//! [`conformance::Adapter`] in its tests and expands
//! [`conformance_suite!`] and [`interop_suite!`] with it, so every runtime
//! runs the same scenarios.
//!
//! Kept out of the published test server so that a user who only wants a
//! server in their tests does not compile the clients and these suites.

#![forbid(unsafe_code)]

#[allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod conformance;
#[allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod interop;
pub mod oauth2;
pub mod virtual_time;
