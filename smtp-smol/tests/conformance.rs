//! The shared conformance suite (smtp-testkit) on smol and on async-std.

mod common;

mod smol_executor {
    smtp_suites::conformance_suite!(super::common::Smol);
}

mod async_std_executor {
    smtp_suites::conformance_suite!(super::common::AsyncStd);
}
