//! The shared conformance suite (smtp-testkit) on tokio.

mod common;

smtp_testkit::conformance_suite!(common::Tokio);
