//! The session's diagnostics: `tracing` events with the `tracing` feature,
//! nothing at all without it (the macros expand to no code, and
//! [`debug_enabled!`] to `false`, so the lines that only feed the log are
//! not even formatted).

/// A `tracing::debug!` event, or nothing.
#[cfg(feature = "tracing")]
macro_rules! debug {
    ($($arg:tt)*) => { ::tracing::debug!($($arg)*) };
}

/// A `tracing::debug!` event, or nothing.
#[cfg(not(feature = "tracing"))]
macro_rules! debug {
    ($($arg:tt)*) => {};
}

/// Whether a debug event would be recorded by the current subscriber.
#[cfg(feature = "tracing")]
macro_rules! debug_enabled {
    () => {
        ::tracing::enabled!(::tracing::Level::DEBUG)
    };
}

/// Whether a debug event would be recorded: never without `tracing`.
#[cfg(not(feature = "tracing"))]
macro_rules! debug_enabled {
    () => {
        false
    };
}

pub(crate) use {debug, debug_enabled};
