//! The shared real-peer interop suite (smtp-testkit) on tokio. Run by
//! `scripts/interop.sh`, which starts the private Postfix, Cyrus SASL,
//! smtp-sink and SOCKS5 servers; without them each test is skipped.

mod common;

smtp_suites::interop_suite!(common::Tokio);
