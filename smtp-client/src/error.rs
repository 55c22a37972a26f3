//! The error of every client call, on every runtime.

use std::io;

use smtp_proto::{SendFailure, SessionError, TranscriptEntry, UsageError};

/// What can go wrong in a client call, on every runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, reading or writing the socket failed.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// Reading the caller's message body failed.
    #[error("reading the message: {0}")]
    Body(io::Error),
    /// The TLS configuration is unusable (a CA file, a client key, a
    /// protocol or cipher name).
    #[error("TLS configuration: {0}")]
    TlsConfig(smtp_proto::TlsError),
    /// The session ended (refused greeting, TLS or AUTH failure, timeout,
    /// malformed reply, connection closed).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The message was not sent to anyone; the report says why for each
    /// recipient, `cause` why the connection ended when it did.
    #[error("{failure}{}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Send {
        /// The failure with every recipient's outcome.
        failure: Box<SendFailure>,
        /// The session error that caused it, when the connection ended.
        cause: Option<SessionError>,
    },
    /// The message cannot be sent as it is (no recipient, no sender, a
    /// bad address in a header): nothing was sent.
    #[error("message: {0}")]
    Message(#[from] crate::message::MessageError),
    /// A request the session could not take.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The SOCKS5 or HTTP CONNECT proxy refused or failed.
    #[error("proxy: {0}")]
    Proxy(#[from] smtp_proto::proxy::ProxyError),
    /// An earlier call on this connection was cancelled (its future
    /// dropped) midway: what the server saw is unknown, so the connection
    /// is not used again.
    #[error(
        "an earlier operation on this connection was cancelled midway; the connection cannot be reused"
    )]
    Poisoned,
}

impl Error {
    /// Whether the connection this error came from may still be used
    /// (the message failed, the session did not).
    pub fn connection_usable(&self) -> bool {
        matches!(
            self,
            Error::Send { cause: None, .. } | Error::Body(_) | Error::Usage(_) | Error::Message(_)
        )
    }
}

/// A callback that receives every transcript line (secrets redacted).
pub type TranscriptHook = Box<dyn FnMut(&TranscriptEntry) + Send>;

/// The error a read or write that gave up at its deadline reports.
pub fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}
