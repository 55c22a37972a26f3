//! The shared conformance suite (smtp-testkit) on the blocking adapter.

mod common;

smtp_suites::conformance_suite!(common::Blocking);
