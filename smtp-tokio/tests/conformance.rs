//! The shared conformance suite (smtp-testkit) on tokio.

mod common;

smtp_suites::conformance_suite!(common::Tokio);
