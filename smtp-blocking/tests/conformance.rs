//! The shared conformance suite (smtp-testkit) on the blocking adapter.

mod common;

smtpkit_testserver::conformance_suite!(common::Blocking);
