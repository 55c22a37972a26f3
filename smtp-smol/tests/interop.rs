//! The shared real-peer interop suite (smtp-testkit) on smol and on
//! async-std. Run by `scripts/interop.sh`, which starts the private
//! Postfix, Cyrus SASL, smtp-sink and SOCKS5 servers; without them each
//! test is skipped.

mod common;

mod smol_executor {
    smtp_suites::interop_suite!(super::common::Smol);
}

mod async_std_executor {
    smtp_suites::interop_suite!(super::common::AsyncStd);
}
