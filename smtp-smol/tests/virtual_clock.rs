//! The virtual-time suite (`smtp_suites::virtual_time`) on smol's and
//! async-std's executors: the client's runtime is the suite's, on its
//! virtual clock, with connections to a server in memory (smol has no
//! virtual clock of its own).

mod smol_executor {
    struct Smol;

    impl smtp_suites::virtual_time::BlockOn for Smol {
        fn block_on<F: std::future::Future>(future: F) -> F::Output {
            smol::block_on(future)
        }
    }

    smtp_suites::async_virtual_time_suite!(Smol);
}

mod async_std_executor {
    struct AsyncStd;

    impl smtp_suites::virtual_time::BlockOn for AsyncStd {
        fn block_on<F: std::future::Future>(future: F) -> F::Output {
            async_std::task::block_on(future)
        }
    }

    smtp_suites::async_virtual_time_suite!(AsyncStd);
}
