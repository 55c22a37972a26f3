//! The shared conformance suite (smtp-testkit) on tokio.

mod common;

smtpkit_testserver::conformance_suite!(common::Tokio);
