//! The virtual-time suite (`smtp_suites::virtual_time`) on tokio's
//! executor: the client's runtime is the suite's, on its virtual clock,
//! with connections to a server in memory.

/// A current-thread tokio runtime per scenario.
struct Tokio;

impl smtp_suites::virtual_time::BlockOn for Tokio {
    #[allow(clippy::expect_used)]
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(future)
    }
}

smtp_suites::async_virtual_time_suite!(Tokio);
